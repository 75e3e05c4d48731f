//! One poll and what its answer does: the request (a meeting in bulk, a
//! webinar, or one participant), then the next poll's time (on the default
//! cadence, the delay learned from whether the expected sample was there),
//! the batch sent, a meeting that ended, a failure backed off or pausing
//! every call.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::cadence::next_cron;
use super::meetings::note_delivered;
use super::steer::{FORGET_AFTER, HOT_FOR, NOT_READY_FOR, PARKED};
use super::{Origin, Poller, Tracked};
use crate::config::Cadence;
use crate::qos::Timestamp;
use crate::source::{Batch, SourceEvent};
use crate::zoom::api::{Cutoff, QosResponse};
use crate::zoom::client::{QosType, ZoomClient, ZoomError};

/// A finished poll: the meeting's key, when it started, its `delivered`
/// map back, and the result.
pub(super) type PollResult = (String, f64, Cutoff, Result<(QosResponse, u32), ZoomError>);

impl Poller {
    /// Takes a finished poll task's result; false when the receiver is gone.
    pub(super) async fn finish_poll(
        &mut self,
        joined: Result<PollResult, tokio::task::JoinError>,
        tx: &mpsc::Sender<SourceEvent>,
    ) -> bool {
        match joined {
            Ok((key, started, delivered, result)) => {
                if let Some(t) = self.tracked.get_mut(&key) {
                    t.delivered = delivered;
                }
                if !self.on_poll(key.clone(), started, result, tx).await {
                    return false;
                }
                self.push_due(&key);
            }
            Err(e) => tracing::error!("a poll task failed: {e}"),
        }
        true
    }

    /// Handles a finished poll; false when the receiver is gone.
    pub(super) async fn on_poll(
        &mut self,
        key: String,
        started: f64,
        result: Result<(QosResponse, u32), ZoomError>,
        tx: &mpsc::Sender<SourceEvent>,
    ) -> bool {
        let now = self.clock.now();
        self.stats.polls.fetch_add(1, Ordering::Relaxed);
        self.metrics.poll_duration.observe((now - started).max(0.0));
        let period = self.tuning.sample_period;
        let Some(t) = self.tracked.get_mut(&key) else {
            return true;
        };
        match result {
            Ok((response, requests)) => {
                t.failures = 0;
                t.requests_per_poll = requests.max(1);
                t.polls = t.polls.saturating_add(1);
                t.answered = true;
                if response.participants.iter().any(|p| !p.samples.is_empty()) {
                    t.last_data = now;
                }
                let first = t.roster.is_empty() && t.polls <= 1;
                for p in &response.participants {
                    if !t.roster.contains(&*p.info.user_id) {
                        t.roster.insert(p.info.user_id.to_string());
                        if !first {
                            // Joined after the meeting was first seen.
                            t.hot_until = now + HOT_FOR;
                        }
                    }
                }
                note_delivered(&mut t.delivered, &response, t.participant.is_none());
                let newest = response
                    .participants
                    .iter()
                    .flat_map(|p| p.samples.iter().map(|s| s.at))
                    .max();
                let found_new = match (newest, t.newest) {
                    (Some(n), Some(old)) => n > old,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if found_new {
                    t.newest = newest;
                }
                t.next_poll = match &self.config.cadence {
                    Cadence::Auto => {
                        let hit = found_new
                            && t.expecting
                                .is_none_or(|e| newest.is_some_and(|n| n.0 as f64 >= e));
                        if let Some(expected) = t.expecting {
                            if hit {
                                if t.misses == 0 {
                                    self.learner.on_time(expected);
                                } else {
                                    self.learner.late(expected, started - expected);
                                }
                                t.misses = 0;
                            } else {
                                t.misses += 1;
                                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                                let next = if now - expected < 3.0 * period {
                                    let factor =
                                        f64::from(1u32 << t.misses.min(6).saturating_sub(1));
                                    now + (self.tuning.miss_retry * factor).min(period)
                                } else {
                                    // No new sample for three periods: the meeting
                                    // sends no data now; look once a period.
                                    t.expecting = None;
                                    t.misses = 0;
                                    now + period * self.stretch
                                };
                                let next = if t.qss { PARKED } else { next };
                                return send_batch(tx, t, response, now, next).await;
                            }
                        }
                        match (found_new, t.newest) {
                            (true, Some(n)) => {
                                let expected = n.0 as f64 + period * self.stretch;
                                t.expecting = Some(expected);
                                (expected + self.learner.estimate()).max(now + 1.0)
                            }
                            _ => {
                                t.expecting = None;
                                now + period * self.stretch
                            }
                        }
                    }
                    Cadence::Interval(d) => started + d.as_secs_f64() * self.stretch,
                    Cadence::Schedule(c) => next_cron(c, now, self.stretch),
                };
                self.metrics.delay.set(self.learner.estimate());
                let next = self.quiet_next(&key, started, now);
                let Some(t) = self.tracked.get_mut(&key) else {
                    return true;
                };
                let expired = t.origin == Origin::Event && now - t.last_data > FORGET_AFTER;
                let ok = send_batch(tx, t, response, now, next).await;
                if expired {
                    tracing::info!(meeting = %key, "no data for 24 h from a meeting learned from events: no longer polled");
                    self.tracked.remove(&key);
                    self.save_tracked();
                }
                self.note_heat(now);
                ok
            }
            Err(e)
                if e.is_meeting_gone()
                    && t.origin == Origin::Event
                    && !t.answered
                    && now - t.learned_at < NOT_READY_FOR =>
            {
                // Just started: its QoS may not be there yet.
                t.next_poll = now + period;
                tx.send(SourceEvent::Healthy).await.is_ok()
            }
            Err(e) if e.is_meeting_gone() => {
                tracing::info!(meeting = %key, "Zoom says the meeting is not live (404/3001): it ended");
                let batch = Batch {
                    meeting: t.info.clone(),
                    ended: true,
                    at: Timestamp(now as i64),
                    ..Batch::default()
                };
                if t.origin != Origin::Target {
                    let learned = t.origin == Origin::Event;
                    self.tracked.remove(&key);
                    if learned {
                        self.save_tracked();
                    }
                } else {
                    // An explicit target may start again later.
                    t.newest = None;
                    t.expecting = None;
                    t.delivered.clear();
                    t.next_poll = now + self.config.discover_interval.as_secs_f64();
                }
                tx.send(SourceEvent::Healthy).await.is_ok()
                    && tx.send(SourceEvent::Batch(batch)).await.is_ok()
            }
            Err(e) => {
                t.failures += 1;
                t.next_poll = now + self.tuning.failure_backoff.delay(t.failures).as_secs_f64();
                let msg = format!("polling meeting {key}: {e}");
                self.on_error(&e, now);
                let failed = SourceEvent::Failed {
                    error: msg,
                    since: started,
                };
                tx.send(failed).await.is_ok()
            }
        }
    }

    pub(super) fn on_error(&mut self, e: &ZoomError, now: f64) {
        match e {
            ZoomError::RateLimited { retry_after, .. } => {
                self.paused_until = self
                    .paused_until
                    .max(now + retry_after.as_secs_f64().max(1.0));
                tracing::warn!(
                    "Zoom rate limit: pausing all calls for {:.0}s",
                    self.paused_until - now
                );
            }
            ZoomError::BudgetExhausted { renews_at, .. } => {
                self.paused_until = self.paused_until.max(renews_at.0 as f64);
                tracing::warn!("daily API budget spent: pausing until {renews_at}");
            }
            ZoomError::MissingScope { .. } | ZoomError::RequestToken { .. } => {
                // Fixing these needs a person; do not hammer Zoom meanwhile.
                self.paused_until = self.paused_until.max(now + 60.0);
            }
            _ => {}
        }
        if self.config.discover && now >= self.next_discovery {
            self.next_discovery = now + self.tuning.failure_backoff.base.as_secs_f64();
        }
    }
}

/// One poll of one tracked meeting (bulk) or participant target.
pub(super) async fn poll(
    client: Arc<ZoomClient>,
    key: String,
    id: String,
    participant: Option<String>,
    webinar: bool,
    delivered: Cutoff,
) -> PollResult {
    let started = client.clock().now();
    let result = match participant {
        Some(p) => client
            .participant_qos(&id, &p, QosType::Live, &delivered)
            .await
            .map(|r| (r, 1)),
        None if webinar => client.webinar_qos(&id, QosType::Live, &delivered).await,
        None => client.meeting_qos(&id, QosType::Live, &delivered).await,
    };
    (key, started, delivered, result)
}

async fn send_batch(
    tx: &mpsc::Sender<SourceEvent>,
    t: &mut Tracked,
    response: QosResponse,
    now: f64,
    next: f64,
) -> bool {
    t.next_poll = next;
    for w in response.warnings.iter().take(5) {
        tracing::warn!(meeting = %t.poll_id, "unreadable value, taken as no data: {w}");
    }
    let batch = Batch {
        meeting: t.info.clone(),
        participants: response.participants,
        complete: t.participant.is_none(),
        ended: false,
        at: Timestamp(now as i64),
    };
    tx.send(SourceEvent::Healthy).await.is_ok() && tx.send(SourceEvent::Batch(batch)).await.is_ok()
}
