//! Rules: the model operators write in YAML, its loader, and the condition
//! language.
//!
//! [`load::load_paths`] turns files and directories into a validated
//! [`RuleSet`]; `qoswatch check`, `eval`, `test` and the service all use it,
//! so everyone sees the same errors.

pub mod expr;
pub mod incident;
pub mod load;
pub mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::matcher::Matcher;
use crate::qos::{ATTRIBUTE_NAMES, MeetingInfo, ParticipantInfo};
pub use expr::Condition;
pub use load::{load_paths, load_str};

/// How bad an alert is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long `when` must hold before an alert fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Sample time from the sample that started pending.
    Time(Duration),
    /// The Nth consecutive true sample (unknown samples do not count and do
    /// not break the run).
    Samples(u32),
}

/// What a rule `match` key looks at (resolved once at load, so the engine
/// compares no key names per sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKey {
    /// A participant attribute, by [`ATTRIBUTE_NAMES`] index.
    Attribute(usize),
    /// The meeting number or the instance UUID.
    Meeting,
    /// The meeting instance UUID.
    MeetingUuid,
    /// The meeting topic.
    Topic,
    /// The participant's site (config `sites`; unknown without them).
    Site,
}

/// A rule `match` entry: which value it looks at, and the matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMatcher {
    pub key: MatchKey,
    pub matcher: Matcher,
}

/// Where a rule was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    pub path: PathBuf,
    pub line: u32,
}

/// A validated rule (docs/rules.md).
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique across all files, `[a-z0-9_-]+`.
    pub name: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// The firing condition.
    pub when: Condition,
    /// `for`: how long `when` must hold; `None` fires at once.
    pub hold: Option<Hold>,
    /// Optional hysteresis: the alert resolves when this is true and `when`
    /// is false.
    pub clear_when: Option<Condition>,
    /// Sample time the clearing must last before the alert resolves.
    pub keep_firing_for: Option<Duration>,
    /// Wall-clock reminder interval while firing.
    pub repeat_every: Option<Duration>,
    /// Filters on the participant and meeting; all must match.
    pub matchers: Vec<RuleMatcher>,
    pub labels: BTreeMap<String, String>,
    /// A minijinja template for the message's summary line.
    pub summary: Option<String>,
    /// A template for the link to the runbook.
    pub runbook: Option<String>,
    pub enabled: bool,
    pub source: RuleSource,
    /// A minijinja template for a resolution's summary line (without it, a
    /// built-in text that never reuses `summary`).
    pub resolved_summary: Option<String>,
    /// `inhibits`: the rules (names, globs resolved at load) whose firing
    /// notifications for a participant are held while this rule is pending
    /// or firing for that participant. Sorted, never this rule itself.
    pub inhibits: Vec<String>,
    /// The sites `match.site` names as literals, where written: checked
    /// against the config's `sites` once one is known
    /// (`Config::check_labels`).
    pub site_literals: Vec<(String, crate::yaml::Pos)>,
}

impl Rule {
    /// Whether the rule applies to this participant of this meeting. A key
    /// whose value is unknown (a topic before discovery) does not match a
    /// positive matcher and does match a negative one.
    pub fn matches(&self, meeting: &MeetingInfo, participant: &ParticipantInfo) -> bool {
        self.matchers.iter().all(|m| {
            let op = &m.matcher.op;
            match m.key {
                MatchKey::Attribute(i) => op.matches(participant.attributes[i].as_deref()),
                MatchKey::Meeting => match (meeting.id.as_deref(), meeting.uuid.as_deref()) {
                    (Some(id), Some(uuid)) => op.matches_values(&[id, uuid]),
                    (id, uuid) => op.matches(id.or(uuid)),
                },
                MatchKey::MeetingUuid => op.matches(meeting.uuid.as_deref()),
                MatchKey::Topic => op.matches(meeting.topic.as_deref()),
                MatchKey::Site => op.matches(participant.site.as_deref()),
            }
        })
    }
}

/// The names a rule `match` key may take (`crate::matcher::RULE_KEYS` and
/// the participant attributes).
pub fn match_key(name: &str) -> Option<MatchKey> {
    match name {
        "meeting" => Some(MatchKey::Meeting),
        "meeting_uuid" => Some(MatchKey::MeetingUuid),
        "topic" => Some(MatchKey::Topic),
        "site" => Some(MatchKey::Site),
        _ => ATTRIBUTE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(MatchKey::Attribute),
    }
}

/// A loaded, validated set of rules and incidents, each ordered by name.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// `incidents:` (SPEC 12), member globs resolved to rule names.
    pub incidents: Vec<incident::IncidentDef>,
}

impl RuleSet {
    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    fn rule(matchers: &str) -> Rule {
        let text = format!(
            "rules:\n  - name: r\n    when: audio_input.latency > 1ms\n    match: {matchers}\n"
        );
        load_str(Path::new("r.yaml"), &text)
            .unwrap()
            .rules
            .remove(0)
    }

    #[test]
    fn rule_matchers_positive_negative_and_unknown() {
        let meeting = MeetingInfo {
            id: Some(Arc::from("85746065432")),
            uuid: Some(Arc::from("/ajXp112==")),
            topic: None,
        };
        let mut p = ParticipantInfo::default();
        p.set_attribute("network_type", Some(Arc::from("Wifi")));
        p.set_attribute("user_name", Some(Arc::from("Room-4")));
        let applies = |m: &str| rule(m).matches(&meeting, &p);
        assert!(applies("{ network_type: Wifi, user_name: '~^Room-' }"));
        assert!(!applies("{ network_type: '!Wifi' }"));
        assert!(applies("{ network_type: '!Wired' }"));
        assert!(!applies("{ user_name: '!~^Room' }"));
        // Unknown: the topic is not known yet, the device not sent.
        assert!(!applies("{ topic: '~.' }"));
        assert!(applies("{ topic: '!~(?i)all.?hands', device: '!Mac' }"));
        assert!(!applies("{ device: [Mac, '~^Win'] }"));
        assert!(applies(
            "{ meeting: 85746065432, meeting_uuid: '/ajXp112==' }"
        ));
        assert!(applies("{ meeting: '/ajXp112==' }"));
        assert!(!applies("{ meeting: '!85746065432' }"));
        assert!(!applies("{ site: hq }"), "no site: unknown");
        assert!(applies("{ site: '!hq' }"));
        p.site = Some(Arc::from("hq"));
        let applies = |m: &str| rule(m).matches(&meeting, &p);
        assert!(applies("{ site: hq }"));
        assert!(applies("{ site: [berlin, hq] }"));
        assert!(!applies("{ site: '!hq' }"));
        let written: Vec<(String, u32, u32)> = rule("{ site: [berlin, '~^b', hq] }")
            .site_literals
            .into_iter()
            .map(|(s, p)| (s, p.line, p.col))
            .collect();
        assert_eq!(
            written,
            [("berlin".to_owned(), 4, 21), ("hq".to_owned(), 4, 36)]
        );
    }

    #[test]
    fn rule_match_keys_and_values_are_checked() {
        let errs = |m: &str| {
            let text = format!(
                "rules:\n  - name: r\n    when: audio_input.latency > 1ms\n    match: {m}\n"
            );
            load_str(Path::new("r.yaml"), &text)
                .unwrap_err()
                .to_string()
        };
        let e = errs("{ network_type: WiFi }");
        assert!(e.starts_with("r.yaml:4:28: error: in `match.network_type`: `WiFi` is never the value of `network_type` (did you mean `Wifi`?); allowed: Wired, Wifi, PPP, Cellular, Others"), "{e}");
        let e = errs("{ topc: x }");
        assert!(
            e.contains("unknown `match` key `topc` (did you mean `topic`?)"),
            "{e}"
        );
        let e = errs("{ severity: critical }");
        assert!(e.contains("use it in a route `match`"), "{e}");
        let e = errs("{ device: ['!Mac'] }");
        assert!(e.contains("cannot be negated"), "{e}");
    }
}
