//! Silences (SPEC 13, docs/quiet.md): "not now" for the alerts some
//! matchers select, from a start to an end: a time (`ends_at`, or
//! `duration` from the start), or the end of one meeting instance
//! (`until: meeting_end`, at most 24 h).
//!
//! [`Silences`] is the pure store: every question takes the wall clock as
//! an argument and nothing here reads it, does I/O or draws random ids (the
//! caller gives each new silence its id). [`wire`] reads requests and
//! writes the JSON the API and the state file share; [`shared`] is the
//! handle the HTTP API and the dispatcher hold, which saves the store
//! atomically under `state_dir` after every change.
//!
//! A silence is *pending* before its start, *active* until its end and
//! *expired* after; an expired silence stays listed for 24 h, then is
//! dropped.

pub mod shared;
pub mod wire;

use std::collections::BTreeMap;

use crate::matcher::Matcher;
use crate::qos::MeetingInfo;

pub use shared::SharedSilences;
pub use wire::{NewSilence, SilenceJson};

/// How long an expired silence stays listed, and the longest an
/// `until: meeting_end` silence lasts (seconds).
pub const DAY: i64 = 24 * 3600;

/// Where a silence stands at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// How a silence ends.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// At this time (unix seconds).
    At(i64),
    /// When the instance of `meeting` (its number or UUID, the silence's
    /// one equality `meeting` matcher) live when the silence started, or
    /// else the next one to start, ends; at `starts_at` + 24 h at the
    /// latest. `instance` is that instance (its UUID, else its number) once
    /// the pipeline has seen it.
    MeetingEnd {
        meeting: String,
        instance: Option<String>,
    },
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    /// At least one; every one must match (and).
    pub matchers: Vec<Matcher>,
    /// Unix seconds.
    pub starts_at: i64,
    pub end: End,
    pub comment: String,
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it ended before its planned end: expired through the API, or
    /// its meeting ended (unix seconds).
    pub ended_at: Option<i64>,
}

impl Silence {
    /// Its end as it stands: the planned end or the early one, whichever
    /// comes first; `None` while it waits for a meeting end.
    pub fn ends_at(&self) -> Option<i64> {
        let planned = match &self.end {
            End::At(t) => Some(*t),
            End::MeetingEnd { .. } => None,
        };
        match (planned, self.ended_at) {
            (Some(p), Some(e)) => Some(p.min(e)),
            (p, e) => p.or(e),
        }
    }

    /// The latest it can last until (unix seconds).
    fn deadline(&self) -> i64 {
        let planned = match &self.end {
            End::At(t) => *t,
            End::MeetingEnd { .. } => self.starts_at.saturating_add(DAY),
        };
        self.ended_at.map_or(planned, |e| e.min(planned))
    }

    pub fn state(&self, now: i64) -> SilenceState {
        if now >= self.deadline() {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether its matchers all hold for an alert whose attributes
    /// `values` gives (every value of a key; none: unknown).
    pub fn matches<'a>(&self, values: impl Fn(&str) -> Vec<&'a str>) -> bool {
        self.matchers
            .iter()
            .all(|m| m.op.matches_values(&values(&m.key)))
    }

    /// Whether this `until: meeting_end` silence is about `meeting` (by
    /// its number or its UUID).
    fn names(&self, meeting: &MeetingInfo) -> bool {
        let End::MeetingEnd { meeting: m, .. } = &self.end else {
            return false;
        };
        [&meeting.id, &meeting.uuid]
            .into_iter()
            .flatten()
            .any(|v| **v == **m)
    }
}

/// The labels of the loaded rules and incidents: the matcher keys a
/// silence may name besides the alert attributes.
pub fn rule_labels(rules: &crate::rules::RuleSet) -> Vec<String> {
    let mut labels: Vec<String> = rules
        .rules
        .iter()
        .flat_map(|r| r.labels.keys().cloned())
        .chain(
            rules
                .incidents
                .iter()
                .flat_map(|i| i.labels.keys().cloned()),
        )
        .collect();
    labels.sort_unstable();
    labels.dedup();
    labels
}

/// The instance a meeting is known by: its UUID, else its number.
fn instance_of(meeting: &MeetingInfo) -> Option<String> {
    meeting
        .uuid
        .as_deref()
        .or(meeting.id.as_deref())
        .map(str::to_owned)
}

/// The silences, in the order they were made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Silences {
    list: Vec<Silence>,
}

/// No silence has this id.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownSilence;

impl Silences {
    pub fn new(list: Vec<Silence>) -> Silences {
        Silences { list }
    }

    pub fn all(&self) -> &[Silence] {
        &self.list
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.list.iter().find(|s| s.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds a checked new silence as `id`, made at `now`.
    pub fn add(&mut self, new: NewSilence, id: String, now: i64) -> &Silence {
        let starts_at = new.starts_at.unwrap_or(now);
        self.list.push(Silence {
            id,
            matchers: new.matchers,
            starts_at,
            end: new.end.resolve(starts_at),
            comment: new.comment,
            created_by: new.created_by,
            created_at: now,
            ended_at: None,
        });
        self.list.last().expect("just pushed")
    }

    /// Ends a silence at `now` (one already over stays as it is).
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), UnknownSilence> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(UnknownSilence)?;
        if s.state(now) != SilenceState::Expired {
            s.ended_at = Some(now);
        }
        Ok(())
    }

    /// The ids of the silences active at `now` that match an alert whose
    /// attributes `values` gives.
    pub fn silencing<'a>(&self, values: impl Fn(&str) -> Vec<&'a str>, now: i64) -> Vec<String> {
        self.list
            .iter()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(&values))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Each silence's state at `now`, by id: when it changes, what is
    /// silenced may have changed.
    pub fn states(&self, now: i64) -> BTreeMap<String, SilenceState> {
        self.list
            .iter()
            .map(|s| (s.id.clone(), s.state(now)))
            .collect()
    }

    /// A batch of `meeting` came in at `now`: the `until: meeting_end`
    /// silences about it that have started and know no instance yet take
    /// this one. Returns whether anything changed.
    pub fn meeting_seen(&mut self, meeting: &MeetingInfo, now: i64) -> bool {
        let Some(instance) = instance_of(meeting) else {
            return false;
        };
        let mut changed = false;
        for s in &mut self.list {
            if s.state(now) != SilenceState::Active || !s.names(meeting) {
                continue;
            }
            if let End::MeetingEnd {
                instance: i @ None, ..
            } = &mut s.end
            {
                *i = Some(instance.clone());
                changed = true;
            }
        }
        changed
    }

    /// `meeting` ended at `now`: the active `until: meeting_end` silences
    /// about this instance (or about none yet: the one live when they were
    /// made, which the pipeline had not polled since) end. Returns whether
    /// anything changed.
    pub fn meeting_ended(&mut self, meeting: &MeetingInfo, now: i64) -> bool {
        let instance = instance_of(meeting);
        let mut changed = false;
        for s in &mut self.list {
            if s.state(now) != SilenceState::Active || !s.names(meeting) {
                continue;
            }
            if let End::MeetingEnd { instance: i, .. } = &s.end
                && (i.is_none() || *i == instance)
            {
                s.ended_at = Some(now);
                changed = true;
            }
        }
        changed
    }

    /// Drops the silences expired for more than 24 h at `now`. Returns
    /// whether any was.
    pub fn drop_old(&mut self, now: i64) -> bool {
        let before = self.list.len();
        self.list
            .retain(|s| !(s.state(now) == SilenceState::Expired && now - s.deadline() >= DAY));
        self.list.len() != before
    }
}

#[cfg(test)]
mod tests;
