//! Sources of QoS samples: the Zoom poller, Zoom's event receiver
//! (webhook, WebSocket, QSS) and the replay of recorded responses. A
//! source sends [`SourceEvent`]s; it knows nothing of rules or alerts. The
//! event receiver steers the poller through a command channel
//! ([`poller::PollerCommand`]) rather than shared state; [`Many`] runs
//! both as one source.
//!
//! Adding a source: implement [`Source`] in a file of its own here, and
//! build it in `service::sources`.

pub mod events;
pub mod poller;
pub mod replay;

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    /// A poll failed (after retries); the message is safe to log. `since`
    /// is when the failing call started (unix seconds): a source is failing
    /// from its first failed request, not from the end of its retries.
    Failed {
        error: String,
        since: f64,
    },
    /// A participant left (Zoom's `participant_left` event, or a QSS
    /// participant gone quiet): its alerts resolve.
    ParticipantLeft {
        meeting: MeetingInfo,
        user_id: String,
        at: Timestamp,
    },
    /// A replay has played everything.
    Finished,
}

/// A future a source runs as.
pub type SourceTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where samples come from. A source sends its events on `tx` and returns
/// when it has nothing more to send (a replay at its end, one cycle for
/// `once`) or when `cancel` fires; dropping `tx` tells the service it ended.
pub trait Source: Send + 'static {
    /// How it paces itself, for logs and `qoswatch_build_info`
    /// (`zoom-sample-clock`, `interval 1m`, `replay`).
    fn cadence(&self) -> String;

    /// Runs until the end of its input or `cancel`.
    fn run(self: Box<Self>, tx: mpsc::Sender<SourceEvent>, cancel: CancellationToken)
    -> SourceTask;

    /// One cycle, for `qoswatch once`: everything there is to read now.
    fn run_once(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> SourceTask;
}

impl Source for poller::Poller {
    fn cadence(&self) -> String {
        self.describe_cadence()
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> SourceTask {
        Box::pin((*self).run(tx, cancel))
    }

    fn run_once(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> SourceTask {
        Box::pin(async move {
            for event in (*self).poll_once().await {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// Several sources run as one (the poller and the event receiver): each
/// sends on the same channel; it ends when all have ended.
pub struct Many(pub Vec<Box<dyn Source>>);

impl Source for Many {
    fn cadence(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|s| s.cadence()).collect();
        parts.join("; ")
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> SourceTask {
        Box::pin(async move {
            let mut set = tokio::task::JoinSet::new();
            for source in self.0 {
                set.spawn(source.run(tx.clone(), cancel.clone()));
            }
            drop(tx);
            while set.join_next().await.is_some() {}
        })
    }

    fn run_once(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> SourceTask {
        Box::pin(async move {
            for source in self.0 {
                source.run_once(tx.clone()).await;
            }
        })
    }
}
