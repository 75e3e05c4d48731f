//! The incident engine: population and affected counts per scope value,
//! kept incrementally so a batch costs what it touches, not the whole fleet.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::buckets::{Buckets, Change, Counted, Tallies, recount};
use super::evaluate::{of_def, resolution};
use super::members::{Firing, Member, Members, meeting_key};
use super::{Affected, IncidentDef, IncidentTransition, Scope};
use crate::alert::{Reason, State, Transition};
use crate::qos::{MeetingInfo, ParticipantInfo, Timestamp, same_texts};

/// The per-definition counts of an engine, borrowed beside its members.
macro_rules! tallies {
    ($e:expr) => {
        Tallies {
            buckets: &mut $e.buckets,
            touched: &mut $e.touched,
            hot: &mut $e.hot,
        }
    };
}

/// A participant as the lifecycle last saw it.
#[derive(Clone, Copy, Debug)]
pub struct MemberUpdate<'a> {
    pub meeting: &'a MeetingInfo,
    pub participant: &'a ParticipantInfo,
    /// Its site (config `sites`), when one holds its addresses.
    pub site: Option<&'a str>,
    /// Its newest sample time.
    pub newest: Timestamp,
    /// False once it left the meeting.
    pub present: bool,
}

/// An incident that fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Open {
    pub(super) since: i64,
    /// First batch at which the condition no longer held (keep_firing_for).
    pub(super) clearing_since: Option<i64>,
    pub(super) peak: u32,
    pub(super) peak_participants: Vec<Affected>,
    /// The shared factors at the peak.
    #[serde(default)]
    pub(super) peak_shared: BTreeMap<String, String>,
    pub(super) scope_value: String,
    #[serde(skip)]
    pub(super) meeting: Option<MeetingInfo>,
}

/// Incidents over the participants the lifecycle tracks (SPEC 12).
#[derive(Debug, Default)]
pub struct IncidentEngine {
    pub(super) defs: Vec<IncidentDef>,
    /// A member counts in a population while its newest sample is at most
    /// this many seconds older than the scope value's newest.
    pub(super) window: i64,
    pub(super) members: Members,
    /// Per definition: scope key -> bucket.
    pub(super) buckets: Vec<Buckets>,
    /// Per definition: the bucket slots changed since the last evaluation.
    pub(super) touched: Vec<Vec<usize>>,
    /// Per definition: whether any scope value has a member alert firing or
    /// an open incident; if not, a new sample touches nothing.
    pub(super) hot: Vec<bool>,
    /// (incident name, scope key) -> open incident.
    pub(super) open: HashMap<(Arc<str>, String), Open>,
}

impl IncidentEngine {
    /// An engine for `defs`; `quiet_every` is the poll's quiet cadence
    /// (a member stays in its population max(3 min, quiet_every + 2 min)).
    pub fn new(defs: Vec<IncidentDef>, quiet_every: Option<std::time::Duration>) -> Self {
        let window = quiet_every.map_or(180, |q| (q.as_secs() as i64 + 120).max(180));
        let n = defs.len();
        IncidentEngine {
            defs,
            window,
            members: Members::default(),
            buckets: vec![Buckets::default(); n],
            touched: vec![Vec::new(); n],
            hot: vec![false; n],
            open: HashMap::default(),
        }
    }

    /// The definitions in force.
    pub fn defs(&self) -> &[IncidentDef] {
        &self.defs
    }

    /// Records what the lifecycle saw of a participant in this batch.
    pub fn observe(&mut self, u: MemberUpdate<'_>) {
        let (member, new) = match self
            .members
            .get_mut(meeting_key(u.meeting), &u.participant.user_id)
        {
            Some(m) => (m, false),
            None => (self.members.insert_new(u.meeting, u.participant), true),
        };
        // Cloned only when changed: most polls repeat what is known, in
        // the very same strings.
        let mut moved = new || member.present != u.present;
        if !member.meeting.same_as(u.meeting) {
            member.meeting = u.meeting.clone();
            moved = true;
        }
        // Found by its user id; what else it holds that counts here is
        // its attributes (scope values, shared factors, its name).
        if !same_texts(&member.info.attributes, &u.participant.attributes) {
            member.info = u.participant.clone();
            moved = true;
        }
        if member.site.as_deref() != u.site {
            member.site = u.site.map(Arc::from);
            moved = true;
        }
        member.newest = member.newest.max(u.newest.0);
        member.present = u.present;
        let change = if moved { Change::Moved } else { Change::Sample };
        recount(&self.defs, tallies!(self), member, change);
    }

    /// A participant left its meeting: out of every population.
    pub fn leave(&mut self, meeting: &MeetingInfo, user_id: &str) {
        if let Some(m) = self.members.get_mut(meeting_key(meeting), user_id) {
            m.present = false;
            recount(&self.defs, tallies!(self), m, Change::Moved);
        }
    }

    /// Applies a member alert's firing or resolution.
    pub fn on_alert(&mut self, t: &Transition) {
        if !self.defs.iter().any(|d| d.has_member(&t.rule)) {
            return;
        }
        if self
            .members
            .get(meeting_key(&t.meeting), &t.participant.user_id)
            .is_none()
        {
            self.observe(MemberUpdate {
                meeting: &t.meeting,
                participant: &t.participant,
                site: None,
                newest: t.at,
                present: true,
            });
        }
        let Some(member) = self
            .members
            .get_mut(meeting_key(&t.meeting), &t.participant.user_id)
        else {
            return;
        };
        match t.state {
            State::Firing => {
                member.firing.insert(
                    t.rule.clone(),
                    Firing {
                        severity: t.severity,
                        metric: t.metric.path(),
                        value: t.value,
                        unit: t.unit,
                    },
                );
            }
            State::Resolved => {
                member.firing.remove(&t.rule);
            }
        }
        recount(&self.defs, tallies!(self), member, Change::Firing);
    }

    /// A meeting ended: its participants leave every population, and its
    /// meeting-scope incidents resolve with reason `meeting_ended`.
    pub fn end_meeting(&mut self, meeting: &MeetingInfo, at: Timestamp) -> Vec<IncidentTransition> {
        let Some(meeting_key) = meeting.key().cloned() else {
            return Vec::new();
        };
        for mut m in self.members.remove_meeting(&meeting_key) {
            m.present = false;
            recount(&self.defs, tallies!(self), &mut m, Change::Moved);
        }
        let mut out = Vec::new();
        for (d, def) in self.defs.iter().enumerate() {
            if def.scope != Scope::Meeting {
                continue;
            }
            if let Some(i) = self.buckets[d].index.get(&*meeting_key).copied() {
                self.touched[d].retain(|t| *t != i);
            }
            self.buckets[d].remove(&meeting_key);
            if let Some(open) = self
                .open
                .remove(&(def.name.clone(), meeting_key.to_string()))
            {
                out.push(resolution(
                    def,
                    meeting_key.to_string(),
                    open,
                    0,
                    0,
                    at,
                    Reason::MeetingEnded,
                ));
            }
        }
        self.refresh_hot();
        out
    }

    /// Evaluates every scope value changed since the last call; `at` is the
    /// newest sample time of the batch.
    pub fn evaluate(&mut self, at: Timestamp) -> Vec<IncidentTransition> {
        let mut out = Vec::new();
        for d in 0..self.defs.len() {
            let touched = std::mem::take(&mut self.touched[d]);
            let mut keys: Vec<String> = touched
                .into_iter()
                .map(|i| {
                    let b = &mut self.buckets[d].slots[i];
                    b.dirty = false;
                    b.key.clone()
                })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                if let Some(t) = self.evaluate_one(d, &key, at) {
                    out.push(t);
                }
            }
        }
        self.refresh_hot();
        out
    }

    /// Forgets what changed since the last evaluation (a restore: nothing
    /// is new).
    pub(super) fn forget_touched(&mut self) {
        for (d, touched) in self.touched.iter_mut().enumerate() {
            for i in touched.drain(..) {
                self.buckets[d].slots[i].dirty = false;
            }
        }
    }

    /// Recomputes [`IncidentEngine::hot`].
    pub(super) fn refresh_hot(&mut self) {
        let n = self.defs.len();
        self.hot = vec![false; n];
        for (d, buckets) in self.buckets.iter().enumerate() {
            self.hot[d] = buckets.values().any(|b| b.affected_any > 0);
        }
        for (name, _) in self.open.keys() {
            if let Some(d) = self.defs.iter().position(|def| def.name == *name) {
                self.hot[d] = true;
            }
        }
    }

    /// Population, affected and the cut-off of the time window of a scope
    /// value now.
    pub(super) fn counts(&self, d: usize, key: &str) -> (u32, u32, i64) {
        let Some(b) = self.buckets[d].get(key) else {
            return (0, 0, i64::MAX);
        };
        let cutoff = b.newest.saturating_sub(self.window);
        (
            b.present.sum_from(cutoff),
            b.affected.sum_from(cutoff),
            cutoff,
        )
    }

    /// Replaces the definitions (a reload). Open incidents whose definition
    /// is gone or changed resolve with reason `rule_changed`; the rest keep
    /// firing.
    pub fn set_defs(&mut self, defs: Vec<IncidentDef>, at: Timestamp) -> Vec<IncidentTransition> {
        let mut out = Vec::new();
        let mut open: Vec<_> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for ((name, key), o) in open {
            let old = self.defs.iter().find(|d| d.name == name).cloned();
            let same = old.as_ref().is_some_and(|o| defs.iter().any(|n| n == o));
            if same {
                self.open.insert((name, key), o);
            } else if let Some(old) = old {
                out.push(resolution(&old, key, o, 0, 0, at, Reason::RuleChanged));
            }
        }
        self.defs = defs;
        self.rebuild();
        out
    }

    /// The open incidents: (definition, scope value as shown, since).
    pub fn firing(&self) -> Vec<(&IncidentDef, &str, Timestamp)> {
        let mut v: Vec<_> = self
            .open
            .iter()
            .filter_map(|((name, _), o)| {
                let def = self.defs.iter().find(|d| d.name == *name)?;
                Some((def, o.scope_value.as_str(), Timestamp(o.since)))
            })
            .collect();
        v.sort_by(|a, b| (&a.0.name, a.1).cmp(&(&b.0.name, b.1)));
        v
    }

    /// The largest `hold` of the incidents naming `rule` whose scope value
    /// holds this participant (known and present); `None` when there is
    /// none, or it is zero.
    pub fn hold_for(
        &self,
        rule: &str,
        meeting: &MeetingInfo,
        user_id: &str,
    ) -> Option<std::time::Duration> {
        let member = self.members.get(meeting_key(meeting), user_id)?;
        if !member.present {
            return None;
        }
        self.defs
            .iter()
            .filter(|d| d.has_member(rule) && scope_key(d, member).is_some())
            .map(|d| d.hold)
            .max()
            .filter(|h| !h.is_zero())
    }

    /// The open incidents as firing transitions with their figures now
    /// (affected, population and who of the newest batch; `at` is the
    /// scope value's newest sample), for status, reminders and restarts.
    pub fn open_incidents(&self) -> Vec<IncidentTransition> {
        let mut out: Vec<IncidentTransition> = self
            .open
            .iter()
            .filter_map(|((name, key), o)| {
                let d = self.defs.iter().position(|d| d.name == *name)?;
                let def = &self.defs[d];
                let (population, affected, cutoff) = self.counts(d, key);
                let newest = if cutoff == i64::MAX {
                    o.since
                } else {
                    cutoff.saturating_add(self.window).max(o.since)
                };
                let (participants, shared) = if affected > 0 {
                    (
                        self.affected_members(d, key, cutoff),
                        self.shared(d, key, cutoff),
                    )
                } else {
                    (o.peak_participants.clone(), o.peak_shared.clone())
                };
                Some(IncidentTransition {
                    scope_value: o.scope_value.clone(),
                    scope_key: key.clone(),
                    meeting: o.meeting.clone(),
                    affected,
                    population,
                    peak: o.peak,
                    participants,
                    shared,
                    at: Timestamp(newest),
                    since: Timestamp(o.since),
                    ..of_def(def, State::Firing, Reason::Condition)
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.scope_key).cmp(&(&b.name, &b.scope_key)));
        out
    }

    /// The firing incidents with `inhibit` whose scope value holds this
    /// participant and that name `rule` as a member.
    pub fn inhibitors(&self, rule: &str, meeting: &MeetingInfo, user_id: &str) -> Vec<Arc<str>> {
        let Some(member) = self.members.get(meeting_key(meeting), user_id) else {
            return Vec::new();
        };
        // Someone who left is in no scope value's population.
        if !member.present {
            return Vec::new();
        }
        let mut names = Vec::new();
        for def in &self.defs {
            if !def.inhibit || !def.has_member(rule) {
                continue;
            }
            let Some(key) = scope_key(def, member) else {
                continue;
            };
            if self.open.contains_key(&(def.name.clone(), key.to_owned())) {
                names.push(def.name.clone());
            }
        }
        names
    }

    /// Recomputes every bucket from the members.
    pub(super) fn rebuild(&mut self) {
        let n = self.defs.len();
        self.buckets = vec![Buckets::default(); n];
        self.touched = vec![Vec::new(); n];
        self.hot = vec![false; n];
        for m in self.members.values_mut() {
            m.counted = Counted::default();
            recount(&self.defs, tallies!(self), m, Change::Moved);
        }
        // Meeting-scope incidents keep their meeting for messages.
        for ((name, key), o) in &mut self.open {
            if o.meeting.is_none() {
                o.meeting = self
                    .defs
                    .iter()
                    .find(|d| d.name == *name && d.scope == Scope::Meeting)
                    .and_then(|_| self.members.any_of(key).map(|m| m.meeting.clone()));
            }
        }
        self.refresh_hot();
    }
}

/// Where a member is counted for `def`; `None` when its value is unknown.
fn scope_key<'m>(def: &IncidentDef, m: &'m Member) -> Option<&'m str> {
    scope_key_of(def, &m.meeting, m.site.as_deref(), &m.info)
}

/// [`scope_key`] from a member's parts.
pub(super) fn scope_key_of<'m>(
    def: &IncidentDef,
    meeting: &'m MeetingInfo,
    site: Option<&'m str>,
    info: &'m ParticipantInfo,
) -> Option<&'m str> {
    let v = match &def.scope {
        // A meeting known by neither number nor UUID (`eval` input without
        // a meeting id) is still one meeting: the unnamed one.
        Scope::Meeting => return Some(meeting.key().map_or("", |k| &**k)),
        Scope::All => Some("all"),
        Scope::Site => site,
        Scope::Attribute(i) => info.attributes[*i].as_deref(),
    };
    v.filter(|v| !v.is_empty())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
