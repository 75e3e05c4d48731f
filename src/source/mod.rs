//! Sources of QoS samples: the Zoom poller and the replay of recorded
//! responses (later: the QSS push receiver). A source sends
//! [`SourceEvent`]s; it knows nothing of rules or alerts.

pub mod poller;
pub mod replay;

use crate::qos::{MeetingInfo, ParticipantSamples, Timestamp};

/// What one poll of one meeting (or one replayed file) brought.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub meeting: MeetingInfo,
    pub participants: Vec<ParticipantSamples>,
    /// Whether `participants` is the meeting's whole live roster, so that a
    /// known participant missing from it has left.
    pub complete: bool,
    /// The meeting has ended: its alerts resolve.
    pub ended: bool,
    /// Wall-clock time of the poll, for resolutions without a sample.
    pub at: Timestamp,
}

/// What a source reports.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    Batch(Batch),
    /// A poll succeeded.
    Healthy,
    /// A poll failed (after retries); the message is safe to log.
    Failed(String),
    /// A replay has played everything.
    Finished,
}
