//! How the poller is steered from outside: Zoom's events (track a meeting
//! now, poll it now on `meeting.alert`, stop at its end, leave its QoS to
//! QSS, catch up after a WebSocket reconnect) and the pipeline (which
//! meetings have alerts pending or firing). A command channel, not shared
//! state: the poller stays the only owner of its tracked meetings.
//!
//! Also the quiet cadence (SPEC 14): a meeting is *hot* while any of its
//! participants has an alert pending or firing, it had a `meeting.alert`
//! or a participant who joined after it was first seen in the last 10
//! minutes, or it was found less than 2 polls ago; hot meetings keep the
//! full cadence, the others are polled every `poll.quiet_every`. And the
//! event-learned meetings kept in `state_dir/tracked-meetings.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Origin, Poller, Tracked};
use crate::config::Cadence;
use crate::qos::MeetingInfo;
use crate::source::events::EventMeeting;
use crate::zoom::api::Cutoff;

/// How long a `meeting.alert` or a late joiner keeps a meeting hot.
pub const HOT_FOR: f64 = 600.0;

/// A meeting learned from an event is dropped after this long without
/// data.
pub const FORGET_AFTER: f64 = 86_400.0;

/// A meeting learned from an event whose QoS is still 404 this long after
/// it was learned is taken as gone.
pub const NOT_READY_FOR: f64 = 600.0;

/// Meetings' states are reported at most this often (seconds).
pub(super) const HEAT_EVERY: f64 = 1.0;

/// The `next_poll` of a meeting not polled on a schedule (QoS by QSS).
pub(super) const PARKED: f64 = 1e15;

/// What the event receiver and the pipeline tell the poller.
#[derive(Debug, Clone, PartialEq)]
pub enum PollerCommand {
    /// Track the meeting now (`meeting.started`).
    Track(EventMeeting),
    /// A participant joined: track it; a joiner after it was first seen
    /// makes it hot for 10 minutes.
    Joined(EventMeeting),
    /// `meeting.alert`: track it, poll its QoS now (within the budget),
    /// keep it hot for 10 minutes.
    Alert(EventMeeting),
    /// `meeting.ended`: stop polling it.
    Ended(EventMeeting),
    /// Its QoS arrives by QSS: no scheduled QoS polls.
    Qss(EventMeeting),
    /// After a WebSocket reconnect (Zoom replays nothing): poll every
    /// tracked meeting once.
    CatchUp,
    /// From the pipeline: whether the meeting (by key) has an alert
    /// pending or firing.
    Engaged { meeting: String, engaged: bool },
}

/// A meeting's state for the quiet cadence, `/metrics` and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Heat {
    #[default]
    Hot,
    Quiet,
    Qss,
}

impl Heat {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Heat::Hot => "hot",
            Heat::Quiet => "quiet",
            Heat::Qss => "qss",
        }
    }
}

/// An event-learned meeting as kept in `state_dir`.
#[derive(Serialize, Deserialize)]
struct Saved {
    key: String,
    id: Option<String>,
    uuid: Option<String>,
    topic: Option<String>,
    #[serde(default)]
    webinar: bool,
    #[serde(default)]
    qss: bool,
    learned_at: f64,
    last_data: f64,
}

/// Where the event-learned meetings are kept.
pub(super) fn tracked_file(state_dir: &Path) -> PathBuf {
    state_dir.join("tracked-meetings.json")
}

impl Poller {
    /// Whether the meeting is hot now (see the module docs).
    pub(super) fn is_hot(&self, key: &str, t: &Tracked, now: f64) -> bool {
        t.polls < 2 || t.hot_until > now || self.engaged.contains(key)
    }

    /// The meeting's state now.
    pub(super) fn heat(&self, key: &str, t: &Tracked, now: f64) -> Heat {
        if t.qss {
            Heat::Qss
        } else if self.config.quiet_every.is_none() || self.is_hot(key, t, now) {
            Heat::Hot
        } else {
            Heat::Quiet
        }
    }

    /// Recomputes each meeting's state; logs changes and sets the gauge.
    /// It walks every meeting, so it runs at most once every
    /// [`HEAT_EVERY`] seconds: a call sooner leaves it pending for the
    /// poller's loop (at 1,000 meetings, once per poll was a fifth of the
    /// service's CPU).
    pub(super) fn note_heat(&mut self, now: f64) {
        if now - self.heat_noted_at < HEAT_EVERY {
            self.heat_pending = true;
            return;
        }
        self.heat_noted_at = now;
        self.heat_pending = false;
        let mut counts = [0i64; 3];
        let heats: Vec<(String, Heat)> = self
            .tracked
            .iter()
            .map(|(k, t)| (k.clone(), self.heat(k, t, now)))
            .collect();
        for (key, heat) in heats {
            counts[heat as usize] += 1;
            if let Some(t) = self.tracked.get_mut(&key)
                && t.heat != heat
            {
                if self.config.quiet_every.is_some() || heat == Heat::Qss {
                    tracing::info!(meeting = %key, state = heat.as_str(), "meeting is now {}", heat.as_str());
                }
                t.heat = heat;
            }
        }
        for (i, heat) in [Heat::Hot, Heat::Quiet, Heat::Qss].iter().enumerate() {
            self.metrics
                .meetings_by_state
                .with_label_values(&[heat.as_str()])
                .set(counts[i]);
        }
        self.metrics.meetings.set(self.tracked.len() as i64);
    }

    /// Applies one command at wall-clock `now`.
    pub(super) fn on_command(&mut self, command: PollerCommand, now: f64) {
        match command {
            PollerCommand::Track(m) => {
                self.learn(&m, now, "meeting.started");
            }
            PollerCommand::Joined(m) => {
                let known = self.learn(&m, now, "a participant joined");
                if let Some(t) = self.tracked.get_mut(&known)
                    && t.polls > 0
                {
                    t.hot_until = now + HOT_FOR;
                    self.wake(&known, now);
                }
            }
            PollerCommand::Alert(m) => {
                let key = self.learn(&m, now, "meeting.alert");
                if let Some(t) = self.tracked.get_mut(&key) {
                    t.hot_until = now + HOT_FOR;
                    tracing::info!(meeting = %key, "Zoom flagged the meeting's quality (meeting.alert): polling it now");
                    self.poll_now(&key, now);
                }
            }
            PollerCommand::Ended(m) => {
                let key = self.key_of(&m);
                if let Some(t) = self.tracked.get_mut(&key) {
                    if t.origin == Origin::Target {
                        t.newest = None;
                        t.expecting = None;
                        t.delivered.clear();
                    } else {
                        self.tracked.remove(&key);
                        tracing::info!(meeting = %key, "meeting ended (meeting.ended): no longer polled");
                        self.save_tracked();
                    }
                }
            }
            PollerCommand::Qss(m) => {
                let key = self.learn(&m, now, "QSS");
                if let Some(t) = self.tracked.get_mut(&key)
                    && !t.qss
                {
                    t.qss = true;
                    if t.next_poll.is_finite() {
                        t.next_poll = PARKED;
                    }
                    tracing::info!(meeting = %key, "the meeting's QoS arrives by QSS: not polled for QoS");
                    self.save_tracked();
                }
            }
            PollerCommand::CatchUp => {
                let keys: Vec<String> = self.tracked.keys().cloned().collect();
                tracing::info!(
                    meetings = keys.len(),
                    "polling every tracked meeting once after the reconnect"
                );
                for key in keys {
                    self.poll_now(&key, now);
                }
            }
            PollerCommand::Engaged { meeting, engaged } => {
                if engaged {
                    self.engaged.insert(meeting.clone());
                    self.wake(&meeting, now);
                } else {
                    self.engaged.remove(&meeting);
                }
            }
        }
        self.note_heat(now);
    }

    /// The tracked key an event's meeting has: an existing entry with its
    /// UUID or id, else its UUID (or id).
    fn key_of(&self, m: &EventMeeting) -> String {
        let key = m.key();
        if self.tracked.contains_key(key) {
            return key.to_owned();
        }
        self.tracked
            .iter()
            .find(|(_, t)| {
                t.participant.is_none()
                    && ((m.id.is_some() && t.info.id.as_deref() == m.id.as_deref())
                        || (m.uuid.is_some() && t.info.uuid.as_deref() == m.uuid.as_deref()))
            })
            .map_or_else(|| key.to_owned(), |(k, _)| k.clone())
    }

    /// Tracks the meeting if it is not yet; returns its key.
    pub(super) fn learn(&mut self, m: &EventMeeting, now: f64, why: &str) -> String {
        let key = self.key_of(m);
        if key.is_empty() {
            return key;
        }
        if let Some(t) = self.tracked.get_mut(&key) {
            // What the event adds (a UUID for a target given by id).
            if t.info.uuid.is_none() && m.uuid.is_some() && t.origin != Origin::Target {
                t.info.uuid = m.uuid.as_deref().map(Arc::from);
            }
            if t.info.topic.is_none() {
                t.info.topic = m.topic.as_deref().map(Arc::from);
            }
            t.webinar |= m.webinar;
            return key;
        }
        tracing::info!(meeting = %key, topic = m.topic.as_deref().unwrap_or(""), "tracking a meeting learned from Zoom's events ({why})");
        let mut t = Tracked::new(m.info(), key.clone(), Origin::Event, now);
        t.webinar = m.webinar;
        self.tracked.insert(key.clone(), t);
        self.push_due(&key);
        self.save_tracked();
        key
    }

    /// Polls the meeting as soon as a slot is free (unless a poll is in
    /// flight, which reads the newest data anyway).
    pub(super) fn poll_now(&mut self, key: &str, now: f64) {
        if let Some(t) = self.tracked.get_mut(key)
            && t.next_poll.is_finite()
        {
            t.next_poll = now;
            self.push_due(key);
        }
    }

    /// A meeting that turned hot is polled at the full cadence again: one
    /// waiting for its quiet turn gets its cadence's next time instead.
    fn wake(&mut self, key: &str, now: f64) {
        let period = self.tuning.sample_period * self.stretch;
        let estimate = self.learner.estimate();
        let Some(t) = self.tracked.get_mut(key) else {
            return;
        };
        if !t.next_poll.is_finite() || t.qss {
            return;
        }
        let soon = match &self.config.cadence {
            Cadence::Auto => match t.newest {
                Some(n) => {
                    let expected = n.0 as f64 + period;
                    t.expecting = Some(expected);
                    (expected + estimate).max(now)
                }
                None => now,
            },
            Cadence::Interval(d) => now + d.as_secs_f64() * self.stretch,
            Cadence::Schedule(c) => super::cadence::next_cron(c, now, self.stretch),
        };
        if t.next_poll > soon {
            t.next_poll = soon;
            self.push_due(key);
        }
    }

    /// Writes the event-learned meetings to `state_dir` (when kept).
    pub(super) fn save_tracked(&self) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        let saved: Vec<Saved> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.origin == Origin::Event)
            .map(|(k, t)| Saved {
                key: k.clone(),
                id: t.info.id.as_deref().map(str::to_owned),
                uuid: t.info.uuid.as_deref().map(str::to_owned),
                topic: t.info.topic.as_deref().map(str::to_owned),
                webinar: t.webinar,
                qss: t.qss,
                learned_at: t.learned_at,
                last_data: t.last_data,
            })
            .collect();
        let path = tracked_file(dir);
        let body = serde_json::to_vec_pretty(&saved).unwrap_or_default();
        if let Err(e) = crate::persist::write_atomic(&path, &body) {
            tracing::warn!(file = %path.display(), "cannot save the tracked meetings: {e}");
        }
    }

    /// Reads the event-learned meetings kept in `state_dir`, forgetting
    /// those without data for a day.
    pub(super) fn load_tracked(&mut self, now: f64) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        let path = tracked_file(dir);
        let Ok(text) = std::fs::read(&path) else {
            return;
        };
        let saved: Vec<Saved> = match serde_json::from_slice(&text) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(file = %path.display(), "unreadable tracked meetings, starting without them: {e}");
                return;
            }
        };
        let mut n = 0;
        for s in saved {
            if now - s.last_data > FORGET_AFTER || self.tracked.contains_key(&s.key) {
                continue;
            }
            let info = MeetingInfo {
                id: s.id.as_deref().map(Arc::from),
                uuid: s.uuid.as_deref().map(Arc::from),
                topic: s.topic.as_deref().map(Arc::from),
            };
            let mut t = Tracked::new(info, s.key.clone(), Origin::Event, s.learned_at);
            t.webinar = s.webinar;
            t.qss = s.qss;
            t.last_data = s.last_data;
            // Polled once after the restart either way (nothing was
            // replayed meanwhile).
            t.next_poll = now;
            self.tracked.insert(s.key, t);
            n += 1;
        }
        if n > 0 {
            tracing::info!(meetings = n, "restored meetings learned from Zoom's events");
        }
    }
}

impl Tracked {
    pub(super) fn new(info: MeetingInfo, poll_id: String, origin: Origin, now: f64) -> Tracked {
        Tracked {
            info,
            poll_id,
            participant: None,
            origin,
            next_poll: now,
            newest: None,
            expecting: None,
            misses: 0,
            failures: 0,
            requests_per_poll: 1,
            seen: true,
            delivered: Cutoff::new(),
            webinar: false,
            qss: false,
            polls: 0,
            hot_until: 0.0,
            learned_at: now,
            last_data: now,
            answered: false,
            roster: std::collections::HashSet::new(),
            heat: Heat::Hot,
        }
    }
}
