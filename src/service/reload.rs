//! Live reloads: rule files watched (debounced), SIGHUP for config and
//! rules. A broken set keeps the last good one running and raises
//! `qoswatch-config-invalid`; the next good load resolves it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use crate::alert::Event;
use crate::alert::system::{CONFIG_INVALID, SystemAlertState};
use crate::config::{Config, EnvMode};
use crate::qos::Timestamp;
use crate::rules::{Rule, RuleSet, load_paths};
use crate::yaml::Diagnostics;

/// What to reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// A rule file changed.
    Rules,
    /// SIGHUP: the config (routes and rule paths) and the rules.
    ConfigAndRules,
}

/// The state of reloads: the built-in alert and whether the config itself
/// is broken (a rule-file reload must not clear the alert then).
#[derive(Debug, Default)]
pub struct ReloadState {
    invalid: SystemAlertState,
    config_broken: bool,
    /// A rule file turned empty: look again at this time before applying.
    recheck_at: Option<Instant>,
}

/// How long an emptied rule file gets to settle (an editor saving, a
/// ConfigMap update) before it counts as emptied.
const SETTLE: Duration = Duration::from_secs(1);

/// Rule files that held rules and are now empty (whitespace only), while
/// still there: most likely caught mid-save.
fn emptied_files(old: &[Rule], new: &RuleSet) -> Vec<(PathBuf, usize)> {
    let mut out: Vec<(PathBuf, usize)> = Vec::new();
    for r in old {
        let path = &r.source.path;
        if new.rules.iter().any(|n| n.source.path == *path) {
            continue;
        }
        match out.iter_mut().find(|(p, _)| p == path) {
            Some((_, n)) => *n += 1,
            None => {
                let empty =
                    std::fs::read(path).is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace));
                if empty {
                    out.push((path.clone(), 1));
                }
            }
        }
    }
    out
}

impl Pipeline {
    /// Reloads; returns the events to deliver (rule changes, the built-in
    /// alert).
    pub fn reload(&mut self, what: Reload, now: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        let mut paths = self.config.rules.clone();
        let mut new_config = None;
        if what == Reload::ConfigAndRules {
            match Config::load(&self.config.path, EnvMode::Strict) {
                Ok(new) => {
                    paths = new.rules.clone();
                    new_config = Some(new);
                }
                Err(diags) => {
                    self.reloads.config_broken = true;
                    return self.reload_failed("config", &diags, now);
                }
            }
        }
        match load_paths(&paths) {
            Ok(rules) => {
                // Route keys naming labels are judged against the rules they
                // will route (the new config's, or the running one's).
                let routes = new_config.as_ref().unwrap_or(&self.config);
                if let Err(diags) = routes.check_labels(&rules) {
                    // A new config that does not fit the rules is a broken
                    // config until SIGHUP brings a good one; new rules that
                    // drop a label the running routes use are broken rules.
                    if new_config.is_some() {
                        self.reloads.config_broken = true;
                        return self.reload_failed("config", &diags, now);
                    }
                    return self.reload_failed("rules", &diags, now);
                }
                if let Some(new) = new_config {
                    self.reloads.config_broken = false;
                    self.dispatcher.set_presentation(&new);
                    if new.notifiers.keys().eq(self.config.notifiers.keys()) {
                        self.dispatcher.set_routes(new.routes.clone());
                        self.config.routes = new.routes;
                    } else {
                        tracing::warn!(
                            "notifiers changed: routes and notifiers take effect after a restart"
                        );
                    }
                    // Sources, state and endpoints are set up at start;
                    // sites apply from the next batch on.
                    self.config.rules = new.rules;
                    self.config.sites = new.sites;
                }
                let emptied = emptied_files(self.engine.rules(), &rules);
                if what == Reload::Rules && !emptied.is_empty() {
                    return self.hold_emptied(&emptied, now);
                }
                self.reloads.recheck_at = None;
                let n = rules.rules.len();
                let mut out = Vec::new();
                let incidents = rules.incidents.clone();
                if let Some(stage) = self.dispatcher.silences() {
                    stage
                        .silences()
                        .set_labels(crate::silence::rule_labels(&rules));
                }
                self.engine.replace_rules(rules, now, &mut out);
                for t in &out {
                    self.incidents.on_alert(t);
                }
                let mut changed = self.incidents.set_defs(incidents, now);
                changed.extend(self.incidents.evaluate(now));
                self.publish();
                tracing::info!(rules = n, "reloaded rules");
                self.metrics.reload_success.set(1);
                self.metrics.reload_time.set(now.0 as f64);
                self.metrics.rules_loaded.set(n as i64);
                events.extend(out.into_iter().map(Event::Alert));
                events.extend(changed.into_iter().map(Event::Incident));
                if !self.reloads.config_broken
                    && let Some(e) = self.reloads.invalid.clear(
                        CONFIG_INVALID,
                        "rules and config load again".into(),
                        now,
                    )
                {
                    events.push(Event::System(e));
                }
            }
            Err(diags) => return self.reload_failed("rules", &diags, now),
        }
        events
    }

    /// An emptied rule file: look again after [`SETTLE`]; if it is still
    /// empty then, keep the last good rules and say so. SIGHUP, or deleting
    /// the file, applies it.
    fn hold_emptied(&mut self, emptied: &[(PathBuf, usize)], now: Timestamp) -> Vec<Event> {
        if self.reloads.recheck_at.is_none() {
            tracing::info!(file = %emptied[0].0.display(), "a rule file turned empty; reading it again in a moment");
            self.reloads.recheck_at = Some(Instant::now() + SETTLE);
            return Vec::new();
        }
        self.reloads.recheck_at = None;
        let (path, n) = &emptied[0];
        let message = format!(
            "{}: the rule file became empty; keeping its {n} rule(s) until it has rules again, is deleted, or qoswatch gets SIGHUP",
            path.display()
        );
        tracing::error!("{message}");
        self.keep_last_good(message, now)
    }

    /// The second look at an emptied rule file, when due.
    pub fn recheck_due(&self, now: Instant) -> bool {
        self.reloads.recheck_at.is_some_and(|t| now >= t)
    }

    fn reload_failed(&mut self, what: &str, diags: &Diagnostics, now: Timestamp) -> Vec<Event> {
        for d in &diags.0 {
            tracing::error!("reload failed, keeping the last good {what}: {d}");
        }
        let first = diags.0.first().map(|d| d.to_string()).unwrap_or_default();
        let more = diags.0.len().saturating_sub(1);
        let message = if more > 0 {
            format!("{first} (and {more} more)")
        } else {
            first
        };
        self.keep_last_good(message, now)
    }

    /// A reload not applied: counted, and `qoswatch-config-invalid` raised.
    fn keep_last_good(&mut self, message: String, now: Timestamp) -> Vec<Event> {
        self.metrics.reload_success.set(0);
        self.metrics.reload_time.set(now.0 as f64);
        self.reloads
            .invalid
            .raise(CONFIG_INVALID, message, now)
            .map(Event::System)
            .into_iter()
            .collect()
    }
}

/// Which paths are rule files: a named file, or a `*.yaml`/`*.yml` file
/// (not a dot-file) directly inside a named directory. Anything else in a
/// watched directory (a log, notes) triggers no reload.
struct RuleFiles {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl RuleFiles {
    fn new(paths: &[PathBuf]) -> RuleFiles {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for p in paths {
            if p.is_dir() {
                dirs.push(canonical(p));
            } else if let Some(name) = p.file_name() {
                let parent = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                };
                files.push(canonical(&parent).join(name));
            }
        }
        RuleFiles { files, dirs }
    }

    fn is_rule_file(&self, path: &std::path::Path) -> bool {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return false;
        };
        let parent = canonical(parent);
        if self.files.iter().any(|f| *f == parent.join(name)) {
            return true;
        }
        let name = name.to_string_lossy();
        !name.starts_with('.')
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
            && self.dirs.contains(&parent)
    }
}

/// The canonical form of a directory that exists, else the path as given.
fn canonical(p: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

type Debouncer = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Watches rule files and directories; a change (debounced) sends
/// [`Reload::Rules`].
pub struct RuleWatcher {
    _debouncer: Option<Debouncer>,
    paths: Vec<PathBuf>,
}

impl RuleWatcher {
    pub fn new(paths: &[PathBuf], tx: mpsc::Sender<Reload>) -> RuleWatcher {
        use notify::RecursiveMode;
        let filter = RuleFiles::new(paths);
        // The debouncer's thread wakes once per tick whether files change or
        // not; a tick as long as the debounce time, one second (a reload
        // within about 2 s of the last write), keeps that to one a second.
        let debouncer = notify_debouncer_full::new_debouncer(
            Duration::from_secs(1),
            Some(Duration::from_secs(1)),
            move |result: notify_debouncer_full::DebounceEventResult| {
                if let Ok(events) = result
                    && events.iter().any(|e| {
                        !e.kind.is_access() && e.paths.iter().any(|p| filter.is_rule_file(p))
                    })
                {
                    let _ = tx.try_send(Reload::Rules);
                }
            },
        );
        let mut debouncer = match debouncer {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot watch rule files ({e}); reload with SIGHUP");
                return RuleWatcher {
                    _debouncer: None,
                    paths: paths.to_vec(),
                };
            }
        };
        for p in paths {
            // Watch directories, and a file's directory: editors and
            // Kubernetes ConfigMaps replace files by renaming.
            let target = if p.is_dir() {
                p.clone()
            } else {
                match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
                    _ => PathBuf::from("."),
                }
            };
            if let Err(e) = debouncer.watch(&target, RecursiveMode::NonRecursive) {
                tracing::warn!(path = %target.display(), "cannot watch for rule changes ({e}); reload with SIGHUP");
            }
        }
        RuleWatcher {
            _debouncer: Some(debouncer),
            paths: paths.to_vec(),
        }
    }

    /// The paths watched.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rule_files_trigger_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        let single = dir.path().join("extra.yaml");
        let f = RuleFiles::new(&[rules.clone(), single.clone()]);
        assert!(f.is_rule_file(&rules.join("latency.yaml")));
        assert!(f.is_rule_file(&rules.join("loss.yml")));
        assert!(f.is_rule_file(&single));
        // Before: any write in a watched folder reloaded the rules.
        assert!(!f.is_rule_file(&rules.join("notes.txt")));
        assert!(!f.is_rule_file(&rules.join(".latency.yaml.swp")));
        assert!(!f.is_rule_file(&rules.join(".hidden.yaml")));
        assert!(!f.is_rule_file(&dir.path().join("qoswatch.log")));
        assert!(!f.is_rule_file(&dir.path().join("other.yaml")));
        assert!(!f.is_rule_file(&rules.join("sub").join("x.yaml")));
    }
}
