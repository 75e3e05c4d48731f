//! What every HTTP peer of qoswatch shares: one retry policy (backoff with
//! full jitter, `Retry-After` parsed and bounded, status classes), used by
//! the Zoom client, the poller and delivery alike.

pub mod retry;

pub use retry::{Backoff, StatusClass, parse_retry_after};
