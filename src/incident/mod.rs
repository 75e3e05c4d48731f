//! Incidents (SPEC 12): many participants crossing the same rules at once,
//! one alert per scope value instead of one per person.
//!
//! [`IncidentEngine`] is pure, like the alert lifecycle beside it: it is told
//! what the lifecycle saw (participants, their newest sample time, member
//! alerts firing and resolving) and, after every batch, which incidents fire
//! or resolve. Time is sample time; it reads no clock.

mod buckets;
mod engine;
mod evaluate;
mod members;
mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::alert::lifecycle::fingerprint;
use crate::alert::{Reason, State};
use crate::qos::{MeetingInfo, Timestamp, Unit};
use crate::rules::Severity;
pub use crate::rules::incident::{IncidentDef, Scope};

pub use engine::{IncidentEngine, MemberUpdate};
pub use snapshot::IncidentSnapshot;

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
