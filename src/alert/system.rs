//! Alerts about qoswatch itself (`qoswatch-source-down`,
//! `qoswatch-config-invalid`, `qoswatch-notifier-failing`, ...): raised and
//! resolved by the service, delivered like rule alerts. One that is about a
//! part of qoswatch (a notifier) names it in its labels, which are part of
//! its fingerprint: one alert per failing notifier.

use std::collections::BTreeMap;

use super::State;
use crate::qos::Timestamp;
use crate::rules::Severity;

/// The built-in alert raised when the source fails longer than `source_down_after`.
pub const SOURCE_DOWN: &str = "qoswatch-source-down";
/// The built-in alert raised when `state_dir` refuses writes (outbox
/// entries or alert state): nothing is lost while the process lives, but a
/// crash now would lose what is only in memory.
pub const STATE_UNWRITABLE: &str = "qoswatch-state-unwritable";
/// The built-in alert raised when a reload finds broken rules or config.
pub const CONFIG_INVALID: &str = "qoswatch-config-invalid";
/// The built-in alert raised when a notifier refuses a message for good
/// (a 4xx other than 408/429) or has had no success for a while with
/// messages waiting; label `notifier`. Never sent to that notifier.
pub const NOTIFIER_FAILING: &str = "qoswatch-notifier-failing";

/// A transition of a built-in alert.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemAlert {
    pub name: &'static str,
    pub state: State,
    pub severity: Severity,
    /// What is wrong (firing) or that it recovered (resolved).
    pub message: String,
    pub at: Timestamp,
    pub since: Timestamp,
    /// What the alert is about (`notifier: NAME`); empty for an alert
    /// about the whole service.
    pub labels: BTreeMap<String, String>,
}

impl SystemAlert {
    /// Alert identity: the name, and the labels when there are any.
    pub fn fingerprint(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        super::lifecycle::fingerprint(self.name, None, &labels.join(","))
    }
}

/// A built-in alert's current state, raised and resolved edge-triggered.
#[derive(Debug, Default)]
pub struct SystemAlertState {
    since: Option<Timestamp>,
    labels: BTreeMap<String, String>,
}

impl SystemAlertState {
    /// The state of an alert about one part of qoswatch, with these labels
    /// (`notifier: NAME`).
    pub fn labelled(labels: BTreeMap<String, String>) -> SystemAlertState {
        SystemAlertState {
            since: None,
            labels,
        }
    }

    /// Whether it fires.
    pub fn is_firing(&self) -> bool {
        self.since.is_some()
    }

    /// Fires if not already firing.
    pub fn raise(
        &mut self,
        name: &'static str,
        message: String,
        at: Timestamp,
    ) -> Option<SystemAlert> {
        if self.since.is_some() {
            return None;
        }
        self.since = Some(at);
        Some(SystemAlert {
            name,
            state: State::Firing,
            severity: Severity::Critical,
            message,
            at,
            since: at,
            labels: self.labels.clone(),
        })
    }

    /// Resolves if firing.
    pub fn clear(
        &mut self,
        name: &'static str,
        message: String,
        at: Timestamp,
    ) -> Option<SystemAlert> {
        let since = self.since.take()?;
        Some(SystemAlert {
            name,
            state: State::Resolved,
            severity: Severity::Critical,
            message,
            at,
            since,
            labels: self.labels.clone(),
        })
    }
}
