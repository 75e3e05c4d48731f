//! What every HTTP peer of qoswatch shares: one retry policy (backoff with
//! full jitter, `Retry-After` parsed and bounded, status classes), used by
//! the Zoom client, the poller and delivery alike; and the wall clock as an
//! input, for what depends on the time of day.

pub mod clock;
pub mod retry;

pub use clock::Clock;
pub use retry::{Backoff, StatusClass, parse_retry_after};
