//! Rules: the model operators write in YAML, its loader, and the condition
//! language.
//!
//! [`load::load_paths`] turns files and directories into a validated
//! [`RuleSet`]; `qoswatch check`, `eval`, `test` and the service all use it,
//! so everyone sees the same errors.

pub mod expr;
pub mod load;
pub mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

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

/// What a `match` key looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKey {
    /// A participant attribute, by [`ATTRIBUTE_NAMES`] index.
    Attribute(usize),
    /// The meeting id or UUID.
    Meeting,
    /// The meeting topic.
    Topic,
}

/// One accepted value of a `match` key.
#[derive(Clone, Debug)]
pub enum Pattern {
    Exact(String),
    /// Written with a leading `~`; unanchored unless the regex says so.
    Regex(Regex),
}

impl Pattern {
    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == text,
            Pattern::Regex(r) => r.is_match(text),
        }
    }
}

/// A `match` entry: the key's value must match one of the patterns.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub key: MatchKey,
    pub patterns: Vec<Pattern>,
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
    pub matchers: Vec<Matcher>,
    pub labels: BTreeMap<String, String>,
    /// A minijinja template for the message's summary line.
    pub summary: Option<String>,
    pub runbook: Option<String>,
    pub enabled: bool,
    pub source: RuleSource,
    /// `inhibits`: the rules (names, globs resolved at load) whose firing
    /// notifications for a participant are held while this rule is pending
    /// or firing for that participant. Sorted, never this rule itself.
    pub inhibits: Vec<String>,
}

impl Rule {
    /// Whether the rule applies to this participant of this meeting. A key
    /// whose value is unknown (a topic before discovery) does not match.
    pub fn matches(&self, meeting: &MeetingInfo, participant: &ParticipantInfo) -> bool {
        self.matchers.iter().all(|m| {
            let values: [Option<&str>; 2] = match m.key {
                MatchKey::Attribute(i) => [participant.attributes[i].as_deref(), None],
                MatchKey::Meeting => [meeting.id.as_deref(), meeting.uuid.as_deref()],
                MatchKey::Topic => [meeting.topic.as_deref(), None],
            };
            values
                .iter()
                .flatten()
                .any(|v| m.patterns.iter().any(|p| p.matches(v)))
        })
    }
}

/// The names a `match` key may take.
pub fn match_key(name: &str) -> Option<MatchKey> {
    match name {
        "meeting" => Some(MatchKey::Meeting),
        "topic" => Some(MatchKey::Topic),
        _ => ATTRIBUTE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(MatchKey::Attribute),
    }
}

/// A loaded, validated set of rules, ordered by name.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
}
