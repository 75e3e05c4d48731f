//! Incidents (SPEC 12): many participants crossing the same rules at once,
//! one alert per scope value instead of one per person.
//!
//! [`IncidentEngine`] is pure, like the alert lifecycle beside it: it is told
//! what the lifecycle saw (participants, their newest sample time, member
//! alerts firing and resolving) and, after every batch, which incidents fire
//! or resolve. Time is sample time; it reads no clock.

mod engine;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::lifecycle::fingerprint;
use crate::alert::{Reason, State};
use crate::qos::{ATTRIBUTE_NAMES, MeetingInfo, Timestamp, Unit};
use crate::rules::Severity;

pub use engine::{IncidentEngine, MemberUpdate};
pub use snapshot::IncidentSnapshot;

/// What an incident groups participants by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One meeting instance.
    Meeting,
    /// Everyone watched.
    All,
    /// The participant's site (config `sites`).
    Site,
    /// A participant attribute, by [`ATTRIBUTE_NAMES`] index.
    Attribute(usize),
}

impl Scope {
    /// The scope as written (`meeting`, `data_center`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Scope::Meeting => "meeting",
            Scope::All => "all",
            Scope::Site => "site",
            Scope::Attribute(i) => ATTRIBUTE_NAMES[*i],
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        match name {
            "meeting" => Some(Scope::Meeting),
            "all" => Some(Scope::All),
            "site" => Some(Scope::Site),
            _ => ATTRIBUTE_NAMES
                .iter()
                .position(|n| *n == name)
                .map(Scope::Attribute),
        }
    }
}

/// A validated `incidents:` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentDef {
    /// Unique across rules and incidents.
    pub name: Arc<str>,
    pub description: Option<String>,
    pub scope: Scope,
    /// Member rules, the globs already expanded to names.
    pub rules: Vec<Arc<str>>,
    /// Fires at this many affected participants or more (default 3).
    pub min_participants: u32,
    /// ... and at this fraction of the population or more (0..=1).
    pub min_fraction: f64,
    pub severity: Severity,
    /// How long a member's firing notification waits for an incident to form.
    pub hold: Duration,
    /// Sample time the condition must stay false before it resolves.
    pub keep_firing_for: Duration,
    /// Whether member notifications are held back while it fires.
    pub inhibit: bool,
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub repeat_every: Option<Duration>,
}

impl IncidentDef {
    /// Whether `rule` is one of its members.
    pub fn has_member(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| &**r == rule)
    }

    /// Whether `affected` of `population` makes an incident.
    pub fn holds(&self, affected: u32, population: u32) -> bool {
        affected > 0
            && affected >= self.min_participants
            && f64::from(affected) >= self.min_fraction * f64::from(population) - 1e-9
    }
}

/// A participant counted in an incident, with its worst member alert.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Affected {
    pub participant: String,
    pub user_name: Option<String>,
    /// The meeting's number (or UUID when the number is unknown).
    pub meeting: Option<String>,
    pub rule: String,
    pub metric: String,
    pub value: f64,
    pub unit: Unit,
}

/// An incident firing or resolving.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentTransition {
    pub state: State,
    /// `Condition`, `MeetingEnded` or `RuleChanged`.
    pub reason: Reason,
    pub name: Arc<str>,
    pub severity: Severity,
    pub scope: Scope,
    /// As people read it: the meeting number for scope `meeting` when known.
    pub scope_value: String,
    /// As the fingerprint holds it: the instance UUID for scope `meeting`.
    pub scope_key: String,
    /// The meeting, for scope `meeting`.
    pub meeting: Option<MeetingInfo>,
    /// Affected participants at `at`.
    pub affected: u32,
    pub population: u32,
    /// The largest `affected` while it fired.
    pub peak: u32,
    /// Firing: those affected now; resolved: those affected at the peak.
    /// Sorted by participant id.
    pub participants: Vec<Affected>,
    /// Factors every affected participant shares (`data_center: SJC`).
    pub shared: BTreeMap<String, String>,
    /// The newest sample time of the batch that changed it.
    pub at: Timestamp,
    /// When it fired.
    pub since: Timestamp,
    /// The definition's words, for messages.
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
}

impl IncidentTransition {
    /// Incident identity: name + scope value.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.name, Some(&self.scope_key), "")
    }

    /// How long it fired, for resolutions.
    pub fn duration_secs(&self) -> i64 {
        self.at.since(self.since)
    }
}

/// The attributes whose shared values an incident message names.
pub const SHARED_FACTORS: [&str; 6] = [
    "site",
    "data_center",
    "location",
    "network_type",
    "device",
    "connection_type",
];
