//! Rule files to a validated [`RuleSet`].
//!
//! Every problem of every file is collected, rule by rule, so one bad rule
//! never hides the next; only a YAML syntax error ends its file.

mod rule;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use self::rule::parse_rule;
pub(super) use self::rule::{name, parse_labels, repeat_every, severity};
use super::expr::Condition;
use super::incident::{ParsedIncident, parse_incident};
use super::{Rule, RuleSet, RuleSource};
use crate::yaml::{self, Diagnostic, Diagnostics, MapReader, Node, Value, suggest};

/// The rule files a path stands for: the file itself, or the `*.yaml` and
/// `*.yml` files directly inside a directory (dot-files skipped), by name.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::new(path, Default::default(), format!("cannot read rules: {e}"))
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        Diagnostic::new(
            path,
            Default::default(),
            format!("cannot list rule directory: {e}"),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads rule files and directories into one validated set.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<RuleSet, Diagnostics> {
    let mut loaded = Loaded::default();
    let mut seen_files: Vec<PathBuf> = Vec::new();
    for path in paths {
        match rule_files(path.as_ref()) {
            Err(d) => loaded.diags.push(d),
            Ok(files) => {
                for file in files {
                    // The same file named twice (a directory and one of its
                    // files) is loaded once.
                    let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
                    if seen_files.contains(&canonical) {
                        continue;
                    }
                    seen_files.push(canonical);
                    match crate::yaml::read_limited(&file, "rule file") {
                        Err(d) => loaded.diags.push(d),
                        Ok(text) => parse_file(&file, &text, &mut loaded),
                    }
                }
            }
        }
    }
    finish(loaded)
}

/// Loads rules from YAML text as if read from `path` (docs, tests).
pub fn load_str(path: &Path, text: &str) -> Result<RuleSet, Diagnostics> {
    let mut loaded = Loaded::default();
    parse_file(path, text, &mut loaded);
    finish(loaded)
}

/// A rule name as written, valid or not, for duplicate detection, with
/// its `inhibits` entries as written (checked against the whole set).
struct NameSite {
    name: String,
    pos: yaml::Pos,
    source: RuleSource,
    inhibits: Vec<(String, yaml::Pos)>,
}

fn finish(loaded: Loaded) -> Result<RuleSet, Diagnostics> {
    let Loaded {
        mut rules,
        names,
        incidents,
        mut diags,
    } = loaded;
    // Names are unique across rules and incidents, in every file.
    let mut seen: HashMap<&str, (&Path, u32)> = HashMap::new();
    let incident_names = incidents.iter().filter_map(|(path, p)| {
        p.name
            .as_ref()
            .map(|(n, pos)| (n.as_str(), *pos, path.as_path(), p.line, "incident"))
    });
    let sites = names
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.pos,
                s.source.path.as_path(),
                s.source.line,
                "rule",
            )
        })
        .chain(incident_names);
    for (name, pos, path, line, what) in sites {
        if let Some((first_path, first_line)) = seen.get(name) {
            diags.push(Diagnostic::new(
                path,
                pos,
                format!(
                    "duplicate {what} name `{name}`: already defined at {}:{first_line}",
                    first_path.display(),
                ),
            ));
        } else {
            seen.insert(name, (path, line));
        }
    }
    // `inhibits` names other rules, of any file: checked once every file
    // is read, against every rule written (valid or not, so one broken rule
    // does not add a second error to its inhibitor).
    let all: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    let mut resolved: HashMap<&str, Vec<String>> = HashMap::new();
    for site in &names {
        for (pattern, pos) in &site.inhibits {
            let hits: Vec<&str> = all
                .iter()
                .copied()
                .filter(|n| *n != site.name && glob_matches(pattern, n))
                .collect();
            if hits.is_empty() {
                let message = if glob_matches(pattern, &site.name) {
                    format!(
                        "`inhibits` entry `{pattern}` matches only this rule; a rule may not inhibit itself"
                    )
                } else {
                    let hint = suggest(pattern, &all)
                        .map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
                    format!("`inhibits` entry `{pattern}` matches no other rule{hint}")
                };
                diags.push(Diagnostic::new(&site.source.path, *pos, message));
                continue;
            }
            let list = resolved.entry(site.name.as_str()).or_default();
            list.extend(hits.into_iter().map(str::to_owned));
        }
    }
    // Each `rules` entry of an incident must match at least one rule.
    let mut defs = Vec::new();
    for (path, parsed) in incidents {
        let mut members = Vec::new();
        for (pattern, pos) in &parsed.members {
            let hits: Vec<&str> = all
                .iter()
                .copied()
                .filter(|n| glob_matches(pattern, n))
                .collect();
            if hits.is_empty() {
                let hint = suggest(pattern, &all)
                    .map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
                diags.push(Diagnostic::new(
                    &path,
                    *pos,
                    format!("incident `rules` entry `{pattern}` matches no rule{hint}"),
                ));
            }
            members.extend(hits.into_iter().map(Arc::<str>::from));
        }
        if let Some(mut def) = parsed.def {
            members.sort();
            members.dedup();
            def.rules = members;
            defs.push(def);
        }
    }
    diags.sort_by(|a, b| (&a.path, a.line, a.col).cmp(&(&b.path, b.line, b.col)));
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    for rule in &mut rules {
        if let Some(mut list) = resolved.remove(rule.name.as_str()) {
            list.sort();
            list.dedup();
            rule.inhibits = list;
        }
    }
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RuleSet {
        rules,
        incidents: defs,
    })
}

/// Whether a rule name matches an `inhibits` entry: `*` stands for any
/// run of characters, `?` for one; anything else is literal.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// What the files read so far hold.
#[derive(Default)]
struct Loaded {
    rules: Vec<Rule>,
    names: Vec<NameSite>,
    incidents: Vec<(PathBuf, ParsedIncident)>,
    diags: Vec<Diagnostic>,
}

fn parse_file(path: &Path, text: &str, loaded: &mut Loaded) {
    let Loaded {
        rules,
        names,
        incidents,
        diags,
    } = loaded;
    let (root, found) = yaml::parse_all(path, text);
    diags.extend(found);
    let Some(root) = root else {
        return;
    };
    if root.value == Value::Null {
        return; // an empty file holds no rules
    }
    let mut top = match MapReader::new(&root, "a rule file") {
        Ok(m) => m,
        Err(msg) => {
            diags.push(Diagnostic::new(
                path,
                root.pos,
                format!("{msg}; expected `rules:` with a list of rules"),
            ));
            return;
        }
    };
    let list = top.get("rules");
    let incident_list = top.get("incidents");
    for (key, text) in top.unknown() {
        let hint = suggest(&text, &["rules", "incidents"])
            .map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
        diags.push(Diagnostic::new(
            path,
            key.pos,
            format!(
                "unknown key `{text}` at the top of a rule file{hint}; expected `rules` or `incidents`"
            ),
        ));
    }
    if let Some(list) = incident_list {
        match &list.value {
            Value::Seq(items) => {
                for item in items {
                    let mut errs = Errs {
                        path,
                        diags: Vec::new(),
                    };
                    incidents.push((path.to_owned(), parse_incident(item, &mut errs)));
                    diags.extend(errs.diags);
                }
            }
            Value::Null => {}
            _ => diags.push(Diagnostic::new(
                path,
                list.pos,
                format!(
                    "`incidents` must be a list of incidents, not {}",
                    list.kind()
                ),
            )),
        }
    }
    let Some(list) = list else {
        if incident_list.is_none() {
            diags.push(Diagnostic::new(path, root.pos, "missing `rules:` list"));
        }
        return;
    };
    let items = match &list.value {
        Value::Seq(items) => items,
        Value::Null => return,
        _ => {
            diags.push(Diagnostic::new(
                path,
                list.pos,
                format!("`rules` must be a list of rules, not {}", list.kind()),
            ));
            return;
        }
    };
    for item in items {
        let mut errs = Errs {
            path,
            diags: Vec::new(),
        };
        let (rule, name, inhibits) = parse_rule(item, &mut errs);
        if let Some((name, pos)) = name {
            names.push(NameSite {
                name,
                pos,
                source: RuleSource {
                    path: path.to_owned(),
                    line: item.pos.line,
                },
                inhibits,
            });
        }
        if let Some(rule) = rule
            && errs.diags.is_empty()
        {
            rules.push(rule);
        }
        diags.extend(errs.diags);
    }
}

/// Collects diagnostics for one file.
pub(crate) struct Errs<'p> {
    pub path: &'p Path,
    pub diags: Vec<Diagnostic>,
}

impl Errs<'_> {
    /// `node` as a mapping, or an error at it.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<MapReader<'n>> {
        MapReader::new(node, what)
            .map_err(|msg| self.at(node.pos, msg))
            .ok()
    }

    pub fn at(&mut self, pos: yaml::Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(self.path, pos, message));
    }

    pub fn unknown_keys(&mut self, map: &MapReader<'_>, what: &str, known: &[&str]) {
        for (key, text) in map.unknown() {
            let hint =
                suggest(&text, known).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
            self.at(key.pos, format!("unknown key `{text}` in {what}{hint}"));
        }
    }

    /// A string value, or an error.
    pub fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.at(
                    node.pos,
                    format!("`{key}` must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    /// A duration (`2m`, `90s`, `1h30m`).
    pub fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        match &node.value {
            Value::Str(s) => match humantime::parse_duration(s.trim()) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.at(
                        node.pos,
                        format!("bad duration `{s}` for `{key}`: {e}; write e.g. 90s, 2m or 1h"),
                    );
                    None
                }
            },
            Value::Int(0) => Some(Duration::ZERO),
            Value::Int(_) | Value::Float(_) => {
                self.at(
                    node.pos,
                    format!(
                        "bad duration for `{key}`: a number needs a unit; write e.g. 90s, 2m or 1h"
                    ),
                );
                None
            }
            _ => {
                self.at(
                    node.pos,
                    format!("`{key}` must be a duration like 2m, not {}", node.kind()),
                );
                None
            }
        }
    }

    /// A condition, with errors placed inside the string where possible.
    pub fn condition(&mut self, node: &Node, key: &str) -> Option<Condition> {
        let text = match &node.value {
            Value::Str(s) => s,
            Value::Null => {
                self.at(
                    node.pos,
                    format!(
                        "`{key}` is empty; write a condition such as `audio_input.latency > 150ms`"
                    ),
                );
                return None;
            }
            _ => {
                self.at(
                    node.pos,
                    format!("`{key}` must be a condition string, not {}", node.kind()),
                );
                return None;
            }
        };
        match Condition::parse(text) {
            Ok(c) => Some(c),
            Err(e) => {
                self.at(
                    node.pos_in_text(e.offset),
                    format!("in `{key}`: {}", e.message),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Hold, Severity};

    fn errors(text: &str) -> Vec<String> {
        match load_str(Path::new("r.yaml"), text) {
            Ok(_) => vec![],
            Err(d) => d.0.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn a_full_rule_loads() {
        let set = load_str(
            Path::new("r.yaml"),
            r#"
rules:
  - name: room-audio-latency-high
    description: Audio latency above 150 ms in Zoom Rooms
    severity: critical
    when: audio_*.latency > 150ms
    for: 2m
    clear_when: audio_*.latency < 120ms
    keep_firing_for: 1m
    repeat_every: 30m
    match:
      device: [Windows, Mac]
      user_name: "~^Room-"
      meeting: 85746065432
    labels: { team: netops }
    summary: "{{ user_name }}: {{ metric }} {{ value }} {{ unit }} over 150 ms"
    runbook: https://wiki.example.com/zoom/latency
    enabled: true
  - name: by-samples
    when: "*_input.avg_loss > 2%"
    for: 3 samples
"#,
        )
        .unwrap();
        assert_eq!(set.rules.len(), 2);
        let r = set.get("room-audio-latency-high").unwrap();
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.hold, Some(Hold::Time(Duration::from_secs(120))));
        assert_eq!(r.matchers.len(), 3);
        assert_eq!(r.labels["team"], "netops");
        assert_eq!(set.get("by-samples").unwrap().hold, Some(Hold::Samples(3)));
    }

    #[test]
    fn every_error_of_every_rule_is_reported_with_its_position() {
        let errs = errors(
            r#"rules:
  - name: one
    when: audio_input.latency > 2%
    severty: warning
  - name: Two
    when: audio_input.latency > 150ms
    for: 2 minutes please
  - name: three
    when: audio_input.latency > 150ms
    match: { user_name: "~([a-z" }
    summary: "{{ nope }}"
  - name: one
    when: video_input.jitter > 40ms
"#,
        );
        let expect = [
            "r.yaml:3:33: error: in `when`: unit `%` does not fit",
            "r.yaml:4:5: error: unknown key `severty` in a rule (did you mean `severity`?)",
            "r.yaml:5:11: error: bad rule name `Two`",
            "r.yaml:7:10: error: bad duration `2 minutes please` for `for`: write a duration (e.g. 90s, 2m or 1h) or a number of samples (e.g. `3 samples`)",
            "r.yaml:10:25: error: in `match.user_name`: bad regular expression",
            "r.yaml:11:18: error: in `summary`: unknown template variable `nope`",
            "r.yaml:12:11: error: duplicate rule name `one`: already defined at r.yaml:2",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got}\nwant {want}");
        }
    }

    #[test]
    fn a_misspelt_samples_hold_suggests_the_samples_form() {
        let e = errors("rules:\n  - name: x\n    when: a.b > 1ms\n    for: 3 sampels\n");
        assert!(
            e.iter().any(|e| e == "r.yaml:4:10: error: bad `for` value `3 sampels` (did you mean `3 samples`?): write a duration (e.g. 90s, 2m or 1h) or a number of samples (e.g. `3 samples`)"),
            "{e:?}"
        );
        let e =
            errors("rules:\n  - name: x\n    when: audio_input.latency > 1ms\n    for: 2 mins\n");
        assert!(e.is_empty(), "humantime words still work: {e:?}");
    }

    #[test]
    fn resolved_summary_and_runbook_are_checked_templates() {
        let errs = errors(
            "rules:\n  - name: x\n    when: audio_input.latency > 1ms\n    resolved_summary: \"{{ metric }} back after {{ duration }} ({{ reason }}) {{ valeu }}\"\n    runbook: \"https://wiki/{{ rule }}?m={{ meetng | urlencode }}\"\n",
        );
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].starts_with(
                "r.yaml:4:81: error: in `resolved_summary`: unknown template variable `valeu`"
            ),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with(
                "r.yaml:5:44: error: in `runbook`: unknown template variable `meetng`"
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn structural_errors() {
        assert!(
            errors("rules:\n  - when: audio_input.latency > 1ms\n")[0]
                .contains("r.yaml:2:5: error: rule without `name`")
        );
        assert!(errors("rules:\n  - name: x\n")[0].contains("rule without `when`"));
        assert!(errors("rules:\n  - name: x\n    when:\n")[0].contains("`when` is empty"));
        assert!(errors("rules:\n  - name: x\n    when: ''\n")[0].contains("empty condition"));
        assert!(errors("rule:\n  - name: x\n")[0].contains("unknown key `rule`"));
        assert!(
            errors("rules: [\n")[0]
                .starts_with("r.yaml:1:8: error: invalid YAML: unclosed bracket")
        );
        assert!(
            errors("rules:\n  - name: x\n    when: a.b > 1ms\n    severity: high\n")
                .iter()
                .any(|e| e.contains("r.yaml:4:15: error: bad severity `high`"))
        );
        assert!(errors("").is_empty());
    }

    #[test]
    fn inhibits_names_other_rules_of_any_file_by_name_or_glob() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(
            &a,
            "rules:\n  - name: loss-critical\n    when: audio_input.avg_loss > 5%\n    inhibits: [loss-high, \"video-*\"]\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "rules:\n  - name: loss-high\n    when: audio_input.avg_loss > 2%\n  - name: video-loss\n    when: video_input.avg_loss > 2%\n",
        )
        .unwrap();
        let set = load_paths(&[&a, &b]).unwrap();
        assert_eq!(
            set.get("loss-critical").unwrap().inhibits,
            ["loss-high", "video-loss"]
        );
        assert!(set.get("loss-high").unwrap().inhibits.is_empty());
    }

    #[test]
    fn inhibits_entries_must_match_another_rule() {
        let errs = errors(
            r#"rules:
  - name: loss-critical
    when: audio_input.avg_loss > 5%
    inhibits: [loss-hihg, "loss-crit*"]
  - name: loss-high
    when: audio_input.avg_loss > 2%
    inhibits: 3
"#,
        );
        let expect = [
            "r.yaml:4:16: error: `inhibits` entry `loss-hihg` matches no other rule (did you mean `loss-high`?)",
            "r.yaml:4:27: error: `inhibits` entry `loss-crit*` matches only this rule; a rule may not inhibit itself",
            "r.yaml:7:15: error: `inhibits` must be a list of rule names or globs, not",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got}\nwant {want}");
        }
        assert!(glob_matches("audio-*-high", "audio-loss-high"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("audio-*", "video-loss"));
    }

    #[test]
    fn incidents_load_beside_rules_with_their_defaults() {
        let set = load_str(
            Path::new("r.yaml"),
            r#"
rules:
  - name: audio-loss-high
    when: audio_input.avg_loss > 2%
  - name: audio-latency-high
    when: audio_input.latency > 150ms
incidents:
  - name: meeting-audio
    rules: [audio-*]
    min_fraction: 50%
    severity: critical
    summary: "{{ affected }} of {{ population }} in {{ topic }} ({{ shared.data_center }})"
  - name: dc-audio
    scope: data_center
    rules: audio-loss-high
    min_participants: 5
    min_fraction: 0.3
    hold: 30s
    inhibit: false
"#,
        )
        .unwrap();
        let names: Vec<&str> = set.incidents.iter().map(|d| &*d.name).collect();
        assert_eq!(names, ["dc-audio", "meeting-audio"]);
        let m = &set.incidents[1];
        assert_eq!(m.scope, crate::incident::Scope::Meeting);
        assert_eq!(&*m.rules[0], "audio-latency-high");
        assert_eq!(m.rules.len(), 2);
        assert_eq!((m.min_participants, m.min_fraction), (3, 0.5));
        assert!(m.inhibit);
        let d = &set.incidents[0];
        assert_eq!(d.scope.name(), "data_center");
        assert_eq!((d.min_participants, d.min_fraction), (5, 0.3));
        assert_eq!(d.hold, Duration::from_secs(30));
        assert!(!d.inhibit);
        assert_eq!(d.severity, Severity::Warning);
        // A file of incidents only is a rule file too.
        assert!(
            load_str(
                Path::new("i.yaml"),
                "incidents:\n  - name: i\n    rules: ['*']\n"
            )
            .is_err(),
            "its members must exist"
        );
    }

    #[test]
    fn every_incident_error_is_reported_with_its_position() {
        let errs = errors(
            r#"rules:
  - name: audio-loss-high
    when: audio_input.avg_loss > 2%
incidents:
  - name: audio-loss-high
    scope: data_centre
    rules: [audio-loss-hihg, "video-*"]
    min_participants: 0
    min_fraction: 150%
    inhibt: false
    summary: "{{ topic }} {{ user_name }}"
  - name: two
    rules: []
    severity: high
    hold: 3
incident:
  - name: x
"#,
        );
        let expect = [
            "r.yaml:5:11: error: duplicate incident name `audio-loss-high`: already defined at r.yaml:2",
            "r.yaml:6:12: error: unknown incident scope `data_centre` (did you mean `data_center`?)",
            "r.yaml:7:13: error: incident `rules` entry `audio-loss-hihg` matches no rule (did you mean `audio-loss-high`?)",
            "r.yaml:7:30: error: incident `rules` entry `video-*` matches no rule",
            "r.yaml:8:23: error: `min_participants` must be a whole number of 1 or more, not `0`",
            "r.yaml:9:19: error: `min_fraction` must be a percentage from 0% to 100%",
            "r.yaml:10:5: error: unknown key `inhibt` in an incident (did you mean `inhibit`?)",
            "r.yaml:11:30: error: in `summary`: unknown template variable `user_name`",
            "r.yaml:13:12: error: `rules` is empty: an incident needs at least one member rule",
            "r.yaml:14:15: error: bad severity `high`",
            "r.yaml:15:11: error: bad duration for `hold`",
            "r.yaml:16:1: error: unknown key `incident` at the top of a rule file (did you mean `incidents`?)",
        ];
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(expect) {
            assert!(got.starts_with(want), "got {got}\nwant {want}");
        }
        // The meeting variables belong to meeting incidents only.
        let e = errors(
            "rules:\n  - name: a\n    when: audio_input.avg_loss > 2%\nincidents:\n  - name: i\n    scope: all\n    rules: [a]\n    summary: \"{{ topic }}\"\n",
        );
        assert!(
            e[0].contains("unknown template variable `topic`")
                && e[0].contains("only for `scope: meeting`"),
            "{e:?}"
        );
    }
}
