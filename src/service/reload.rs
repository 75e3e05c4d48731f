//! Live reloads: rule files watched (debounced), SIGHUP for config and
//! rules. A broken set keeps the last good one running and raises
//! `qoswatch-config-invalid`; the next good load resolves it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::pipeline::Pipeline;
use crate::alert::Event;
use crate::alert::system::{CONFIG_INVALID, SystemAlertState};
use crate::config::{Config, EnvMode};
use crate::qos::Timestamp;
use crate::rules::load_paths;
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
}

impl Pipeline {
    /// Reloads; returns the events to deliver (rule changes, the built-in
    /// alert).
    pub fn reload(&mut self, what: Reload, now: Timestamp) -> Vec<Event> {
        let mut events = Vec::new();
        let mut paths = self.config.rules.clone();
        if what == Reload::ConfigAndRules {
            match Config::load(&self.config.path, EnvMode::Strict) {
                Ok(new) => {
                    self.reloads.config_broken = false;
                    paths = new.rules.clone();
                    if new.notifiers.keys().eq(self.config.notifiers.keys()) {
                        self.dispatcher.set_routes(new.routes.clone());
                        self.config.routes = new.routes;
                    } else {
                        tracing::warn!(
                            "notifiers changed: routes and notifiers take effect after a restart"
                        );
                    }
                    // Sources, state and endpoints are set up at start.
                    self.config.rules = new.rules;
                }
                Err(diags) => {
                    self.reloads.config_broken = true;
                    return self.reload_failed("config", &diags, now);
                }
            }
        }
        match load_paths(&paths) {
            Ok(rules) => {
                let n = rules.rules.len();
                let mut out = Vec::new();
                self.engine.replace_rules(rules, now, &mut out);
                tracing::info!(rules = n, "reloaded rules");
                self.metrics.reload_success.set(1);
                self.metrics.reload_time.set(now.0 as f64);
                self.metrics.rules_loaded.set(n as i64);
                events.extend(out.into_iter().map(Event::Alert));
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

    fn reload_failed(&mut self, what: &str, diags: &Diagnostics, now: Timestamp) -> Vec<Event> {
        self.metrics.reload_success.set(0);
        self.metrics.reload_time.set(now.0 as f64);
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
        self.reloads
            .invalid
            .raise(CONFIG_INVALID, message, now)
            .map(Event::System)
            .into_iter()
            .collect()
    }
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
        // The debouncer's thread wakes once per tick whether files change or
        // not; a tick as long as the debounce time, one second (a reload
        // within about 2 s of the last write), keeps that to one a second.
        let debouncer = notify_debouncer_full::new_debouncer(
            Duration::from_secs(1),
            Some(Duration::from_secs(1)),
            move |result: notify_debouncer_full::DebounceEventResult| {
                if let Ok(events) = result
                    && events.iter().any(|e| !e.kind.is_access())
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
