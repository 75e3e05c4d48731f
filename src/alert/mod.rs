//! Alerts: the lifecycle state machine (pure) and, later, its persisted store.

pub mod lifecycle;

pub use lifecycle::{Engine, Reason, State, Transition};
