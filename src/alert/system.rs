//! Alerts about qoswatch itself (`qoswatch-source-down`,
//! `qoswatch-config-invalid`): raised and resolved by the service, delivered
//! like rule alerts.

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
}

/// A built-in alert's current state, raised and resolved edge-triggered.
#[derive(Debug, Default)]
pub struct SystemAlertState {
    since: Option<Timestamp>,
}

impl SystemAlertState {
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
        })
    }
}
