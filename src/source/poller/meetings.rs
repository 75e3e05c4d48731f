//! What is polled: the configured targets and the meetings discovery finds,
//! merged into one tracked set, and for each meeting the reader's cut-off
//! (the newest sample delivered per participant).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Origin, Poller, Tracked};
use crate::qos::{MeetingInfo, Timestamp};
use crate::source::{Batch, SourceEvent};
use crate::zoom::api::{Cutoff, QosResponse};
use crate::zoom::client::{LiveMeeting, ZoomError};

/// What a configured target names: a meeting id (digits, spaces allowed)
/// or a UUID.
pub(super) fn meeting_info_for(target: &str) -> MeetingInfo {
    let numeric = !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit() || b == b' ');
    let value: Arc<str> = Arc::from(target.replace(' ', "").as_str());
    if numeric {
        MeetingInfo {
            id: Some(value),
            ..MeetingInfo::default()
        }
    } else {
        MeetingInfo {
            uuid: Some(Arc::from(target)),
            ..MeetingInfo::default()
        }
    }
}

impl Poller {
    /// Handles a discovery result; false when the receiver is gone.
    pub(super) async fn on_discovery(
        &mut self,
        found: Result<Vec<LiveMeeting>, ZoomError>,
        now: f64,
        tx: &mpsc::Sender<SourceEvent>,
    ) -> bool {
        self.next_discovery = now + self.config.discover_interval.as_secs_f64() * self.stretch;
        let meetings = match found {
            Ok(m) => m,
            Err(e) => {
                self.on_error(&e, now);
                return tx
                    .send(SourceEvent::Failed {
                        error: format!("discovering live meetings: {e}"),
                        since: now,
                    })
                    .await
                    .is_ok();
            }
        };
        if tx.send(SourceEvent::Healthy).await.is_err() {
            return false;
        }
        for t in self.tracked.values_mut() {
            // Targets stay; so do meetings learned from events, until their end.
            t.seen = t.origin != Origin::Discovered;
        }
        for m in meetings {
            let topic = m.topic.as_deref().map(Arc::from);
            // A target given by id (or UUID) found again is the same meeting.
            let merged = self.tracked.values_mut().find(|t| {
                t.origin == Origin::Target
                    && t.participant.is_none()
                    && (t.poll_id == m.id || t.poll_id == m.uuid)
            });
            if let Some(t) = merged {
                if !m.uuid.is_empty() {
                    t.info.uuid = Some(Arc::from(m.uuid.as_str()));
                }
                if !m.id.is_empty() {
                    t.info.id = Some(Arc::from(m.id.as_str()));
                }
                t.info.topic = topic;
                continue;
            }
            let key = if m.uuid.is_empty() {
                m.id.clone()
            } else {
                m.uuid.clone()
            };
            let entry = self.tracked.entry(key.clone()).or_insert_with(|| {
                tracing::info!(meeting = %key, topic = m.topic.as_deref().unwrap_or(""), "found a live meeting");
                let mut t = Tracked::new(MeetingInfo::default(), key.clone(), Origin::Discovered, now);
                t.requests_per_poll = m.participants.map_or(1, |p| p.div_ceil(10).max(1) as u32);
                t
            });
            entry.seen = true;
            entry.info = MeetingInfo {
                id: (!m.id.is_empty()).then(|| Arc::from(m.id.as_str())),
                uuid: (!m.uuid.is_empty()).then(|| Arc::from(m.uuid.as_str())),
                topic,
            };
        }
        let gone: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| !t.seen)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            if let Some(t) = self.tracked.remove(&key) {
                tracing::info!(meeting = %key, "meeting no longer live: it ended");
                let ended = Batch {
                    meeting: t.info,
                    ended: true,
                    at: Timestamp(now as i64),
                    ..Batch::default()
                };
                if tx.send(SourceEvent::Batch(ended)).await.is_err() {
                    return false;
                }
            }
        }
        self.note_heat(now);
        let keys: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.next_poll.is_finite())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.push_due(&key);
        }
        true
    }
}

/// Records the newest sample of each participant in `response`. A complete
/// response (every participant of the meeting) also forgets those no
/// longer in it. (Public for `benches/parse.rs`, which times a poll's read
/// as the poller does it.)
pub fn note_delivered(delivered: &mut Cutoff, response: &QosResponse, complete: bool) {
    // Whether some listed participant has no entry (one with no samples).
    let mut unrecorded = false;
    for p in &response.participants {
        match p.samples.iter().map(|s| s.at).max() {
            // Looked up by reference first: no key allocated per poll.
            Some(newest) => match delivered.get_mut(&*p.info.user_id) {
                Some(entry) => *entry = (*entry).max(newest),
                None => {
                    delivered.insert(p.info.user_id.to_string(), newest);
                }
            },
            None => unrecorded |= !delivered.contains_key(&*p.info.user_id),
        }
    }
    // Every entry is someone listed now unless there are more entries than
    // participants listed, or some listed participant has no entry. (A
    // participant listed twice can leave an entry behind; it only holds
    // back samples already delivered.)
    let unlisted_possible = unrecorded || delivered.len() > response.participants.len();
    if complete && unlisted_possible {
        let listed: std::collections::HashSet<&str> = response
            .participants
            .iter()
            .map(|p| &*p.info.user_id)
            .collect();
        delivered.retain(|user, _| listed.contains(user.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_by_id_or_uuid() {
        assert_eq!(
            meeting_info_for("85746065432").id.as_deref(),
            Some("85746065432")
        );
        assert_eq!(
            meeting_info_for("/ajXp112QmuoKj4854875==").uuid.as_deref(),
            Some("/ajXp112QmuoKj4854875==")
        );
    }
}
