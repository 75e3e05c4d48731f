//! Source health: `qoswatch-source-down` is raised when the source has been
//! failing longer than `poll.source_down_after`, and resolved at its next
//! success. Time is passed in, so the rule is tested without waiting.

use std::time::{Duration, Instant};

use crate::alert::SystemAlert;
use crate::alert::system::{SOURCE_DOWN, SystemAlertState};
use crate::qos::Timestamp;

/// Tracks failures of the source.
#[derive(Debug)]
pub struct SourceHealth {
    down_after: Duration,
    alert: SystemAlertState,
    failing_since: Option<Instant>,
    last_error: String,
}

impl SourceHealth {
    pub fn new(down_after: Duration) -> SourceHealth {
        SourceHealth {
            down_after,
            alert: SystemAlertState::default(),
            failing_since: None,
            last_error: String::new(),
        }
    }

    /// A success: resolves the alert if it fired.
    pub fn ok(&mut self, at: Timestamp) -> Option<SystemAlert> {
        self.failing_since = None;
        let resolved = self
            .alert
            .clear(SOURCE_DOWN, "the Zoom API answers again".into(), at);
        if resolved.is_some() {
            tracing::info!("source recovered");
        }
        resolved
    }

    /// A failure of a call that started at `since`, reported at `now`:
    /// raises the alert once failures have lasted long enough, counted from
    /// the first failed call's start.
    pub fn failed(
        &mut self,
        error: String,
        since: Instant,
        now: Instant,
        at: Timestamp,
    ) -> Option<SystemAlert> {
        tracing::warn!("{error}");
        self.last_error = error;
        let first = self.failing_since.get_or_insert(since);
        *first = (*first).min(since);
        self.check(now, at)
    }

    /// Raises the alert if the source has been failing long enough by `now`.
    pub fn check(&mut self, now: Instant, at: Timestamp) -> Option<SystemAlert> {
        let since = self.failing_since?;
        if now.saturating_duration_since(since) < self.down_after {
            return None;
        }
        let message = format!(
            "the Zoom API has been failing for over {}: {}",
            humantime::format_duration(Duration::from_secs(self.down_after.as_secs())),
            self.last_error
        );
        self.alert.raise(SOURCE_DOWN, message, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::State;

    #[test]
    fn failing_counts_from_the_start_of_the_first_failed_call() {
        // Before: a call that failed after its whole retry chain (three
        // 10 s token timeouts) started the clock only then.
        let t0 = Instant::now();
        let mut h = SourceHealth::new(Duration::from_secs(30));
        let fired = h.failed(
            "token timeout".into(),
            t0,
            t0 + Duration::from_secs(31),
            Timestamp(0),
        );
        assert!(fired.is_some(), "failing since the call started, 31 s ago");
    }

    #[test]
    fn raises_after_the_threshold_and_resolves_once() {
        let t0 = Instant::now();
        let mut h = SourceHealth::new(Duration::from_secs(60));
        let at = Timestamp(0);
        assert!(
            h.failed("HTTP 500".into(), t0, t0, at).is_none(),
            "too early"
        );
        assert!(h.check(t0 + Duration::from_secs(59), at).is_none());
        let fired = h
            .failed(
                "polling meeting 1: HTTP 500".into(),
                t0 + Duration::from_secs(30),
                t0 + Duration::from_secs(61),
                at,
            )
            .unwrap();
        assert_eq!(fired.state, State::Firing);
        assert!(fired.message.contains("HTTP 500"), "{}", fired.message);
        assert!(
            h.failed("again".into(), t0, t0 + Duration::from_secs(90), at)
                .is_none(),
            "raised once"
        );
        assert_eq!(h.ok(at).unwrap().state, State::Resolved);
        assert!(h.ok(at).is_none());
    }
}
