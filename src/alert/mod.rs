//! Alerts: the lifecycle state machine (pure), and alerts about qoswatch itself.

pub mod lifecycle;
pub mod system;

pub use lifecycle::{Engine, Reason, State, Transition};
pub use system::SystemAlert;

/// Something to tell people: a rule alert's transition, an incident's (many
/// participants' alerts at once, `crate::incident`) or a built-in alert's.
#[allow(clippy::large_enum_variant)] // events are few; boxing buys nothing
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Alert(Transition),
    Incident(crate::incident::IncidentTransition),
    System(SystemAlert),
}
