//! Source health: `qoswatch-source-down` is raised when the source has been
//! failing longer than `poll.source_down_after`, and resolved at its next
//! success. Notifier health: `qoswatch-notifier-failing` is raised for a
//! notifier whose receiver refused a message for good, or that has had no
//! success for a while (5 minutes) with messages waiting, and resolved at
//! its next success. Time is passed in, so the rules are tested without
//! waiting.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::alert::SystemAlert;
use crate::alert::system::{NOTIFIER_FAILING, SOURCE_DOWN, SystemAlertState};
use crate::notify::delivery::Receiver;
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

/// Tracks each notifier's receiver, one `qoswatch-notifier-failing` per
/// notifier.
#[derive(Debug)]
pub struct NotifierHealth {
    failing_after: Duration,
    /// When the service started (unix seconds): messages restored from the
    /// outbox have not waited on this process before it.
    started: f64,
    /// Per notifier: the alert, and when it was raised (unix seconds).
    alerts: BTreeMap<String, (SystemAlertState, f64)>,
}

impl NotifierHealth {
    pub fn new(failing_after: Duration, started: f64) -> NotifierHealth {
        NotifierHealth {
            failing_after,
            started,
            alerts: BTreeMap::new(),
        }
    }

    /// Raises or resolves `notifier`'s alert from what its receiver last
    /// answered, when its oldest waiting message was queued (`oldest`, with
    /// `waiting` messages in all), at `now` (unix seconds, `at` as a
    /// timestamp).
    pub fn check(
        &mut self,
        notifier: &str,
        receiver: &Receiver,
        (oldest, waiting): (Option<f64>, usize),
        now: f64,
        at: Timestamp,
    ) -> Option<SystemAlert> {
        let (alert, raised) = self.alerts.entry(notifier.to_owned()).or_insert_with(|| {
            let labels = BTreeMap::from([("notifier".to_owned(), notifier.to_owned())]);
            (SystemAlertState::labelled(labels), 0.0)
        });
        if alert.is_firing() {
            if receiver.last_success.is_some_and(|t| t >= *raised) {
                tracing::info!(notifier, "notifier delivers again");
                return alert.clear(
                    NOTIFIER_FAILING,
                    format!("notifier `{notifier}` delivers again"),
                    at,
                );
            }
            return None;
        }
        let message = if let Some(reason) = &receiver.refused {
            format!("notifier `{notifier}` refuses messages for good: {reason}; check its URL")
        } else {
            let oldest = oldest?;
            let since = [Some(oldest), Some(self.started), receiver.last_success]
                .into_iter()
                .flatten()
                .fold(f64::MIN, f64::max);
            if now - since < self.failing_after.as_secs_f64() {
                return None;
            }
            let last = receiver
                .last_error
                .as_deref()
                .map_or(String::new(), |e| format!("; last error: {e}"));
            format!(
                "notifier `{notifier}` has delivered nothing for over {} while {waiting} message(s) wait{last}",
                humantime::format_duration(Duration::from_secs(self.failing_after.as_secs()))
            )
        };
        tracing::error!(notifier, "{message}");
        *raised = now;
        alert.raise(NOTIFIER_FAILING, message, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::State;

    #[test]
    fn a_refusing_notifier_fails_at_once_and_recovers_at_its_next_success() {
        let mut h = NotifierHealth::new(Duration::from_secs(300), 1000.0);
        let at = Timestamp(1000);
        let fine = Receiver::default();
        assert!(h.check("slack", &fine, (None, 0), 1001.0, at).is_none());
        let refused = Receiver {
            refused: Some("HTTP 404: no_team".into()),
            ..Receiver::default()
        };
        let fired = h.check("slack", &refused, (None, 0), 1002.0, at).unwrap();
        assert_eq!(fired.state, State::Firing);
        assert_eq!(fired.labels["notifier"], "slack");
        assert!(
            fired.message.contains("HTTP 404: no_team"),
            "{}",
            fired.message
        );
        assert!(
            h.check("slack", &refused, (None, 0), 1003.0, at).is_none(),
            "once"
        );
        // Another notifier is another alert.
        let other = h.check("teams", &refused, (None, 0), 1003.0, at).unwrap();
        assert_ne!(other.fingerprint(), fired.fingerprint());
        let ok = Receiver {
            last_success: Some(1004.0),
            ..Receiver::default()
        };
        let resolved = h.check("slack", &ok, (None, 0), 1005.0, at).unwrap();
        assert_eq!(resolved.state, State::Resolved);
        assert_eq!(resolved.labels, fired.labels);
        assert!(h.check("slack", &ok, (None, 0), 1006.0, at).is_none());
    }

    #[test]
    fn no_success_for_the_threshold_while_messages_wait_fails() {
        let mut h = NotifierHealth::new(Duration::from_secs(300), 1000.0);
        let at = Timestamp(0);
        let erring = Receiver {
            last_success: Some(1100.0),
            last_error: Some("HTTP 503".into()),
            ..Receiver::default()
        };
        // Nothing waits: nothing to fail at.
        assert!(h.check("n", &erring, (None, 0), 9000.0, at).is_none());
        // Waiting since 1200, last success 1100: counted from 1200.
        assert!(
            h.check("n", &erring, (Some(1200.0), 2), 1499.0, at)
                .is_none()
        );
        let fired = h
            .check("n", &erring, (Some(1200.0), 2), 1500.0, at)
            .unwrap();
        assert!(
            fired
                .message
                .contains("over 5m while 2 message(s) wait; last error: HTTP 503"),
            "{}",
            fired.message
        );
        // Restored messages count from the start of this process.
        let mut h = NotifierHealth::new(Duration::from_secs(300), 1000.0);
        assert!(
            h.check("n", &Receiver::default(), (Some(10.0), 1), 1299.0, at)
                .is_none()
        );
        assert!(
            h.check("n", &Receiver::default(), (Some(10.0), 1), 1300.0, at)
                .is_some()
        );
    }

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
