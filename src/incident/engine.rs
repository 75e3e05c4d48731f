//! The incident engine: population and affected counts per scope value,
//! kept incrementally so a batch costs what it touches, not the whole fleet.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Affected, IncidentDef, IncidentTransition, SHARED_FACTORS, Scope};
use crate::alert::{Reason, State, Transition};
use crate::qos::{MeetingInfo, ParticipantInfo, Timestamp};
use crate::rules::Severity;

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

/// Participant identity: meeting key + user_id.
pub(super) type MemberKey = (Arc<str>, Arc<str>);

/// A member alert firing for a participant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Firing {
    pub(super) severity: Severity,
    pub(super) metric: String,
    pub(super) value: f64,
    pub(super) unit: crate::qos::Unit,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    pub(super) meeting: MeetingInfo,
    pub(super) info: ParticipantInfo,
    pub(super) site: Option<Arc<str>>,
    pub(super) newest: i64,
    pub(super) present: bool,
    /// Rule name -> what it reported when it fired.
    pub(super) firing: BTreeMap<Arc<str>, Firing>,
    /// Per incident definition: where this member is counted.
    pub(super) counted: Vec<Option<Count>>,
}

/// One member's contribution to a bucket.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Count {
    /// The bucket's slot in its definition's [`Buckets`].
    slot: usize,
    at: i64,
    affected: bool,
}

/// One definition's buckets, by scope key, in slots that stay put while
/// members point at them (a member's count finds its bucket without
/// hashing its scope key; a removed bucket's slot is reused).
#[derive(Clone, Debug, Default)]
pub(super) struct Buckets {
    index: HashMap<String, usize>,
    slots: Vec<Bucket>,
    free: Vec<usize>,
}

impl Buckets {
    fn get(&self, key: &str) -> Option<&Bucket> {
        self.index.get(key).map(|i| &self.slots[*i])
    }

    /// The slot of `key`'s bucket, made when there is none.
    fn slot(&mut self, key: &str) -> usize {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        let bucket = Bucket {
            key: key.to_owned(),
            ..Bucket::default()
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = bucket;
                i
            }
            None => {
                self.slots.push(bucket);
                self.slots.len() - 1
            }
        };
        self.index.insert(key.to_owned(), i);
        i
    }

    fn remove(&mut self, key: &str) {
        if let Some(i) = self.index.remove(key) {
            self.slots[i] = Bucket::default();
            self.free.push(i);
        }
    }

    fn values(&self) -> impl Iterator<Item = &Bucket> {
        self.index.values().map(|i| &self.slots[*i])
    }
}

/// The members of one scope value of one incident definition.
#[derive(Clone, Debug, Default)]
pub(super) struct Bucket {
    /// Its scope key.
    key: String,
    /// Listed in `touched` since the last evaluation.
    dirty: bool,
    members: FxHashSet<MemberKey>,
    /// Present members by newest sample time (a handful of distinct times:
    /// small maps, one node).
    present: BTreeMap<i64, u32>,
    /// Affected members by newest sample time.
    affected: BTreeMap<i64, u32>,
    /// Members with a member alert firing, whatever their sample time: an
    /// upper bound of `affected`, so most scope values need no evaluation.
    affected_any: u32,
    /// The newest sample seen in this scope value.
    newest: i64,
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
    pub(super) members: HashMap<MemberKey, Member>,
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
            members: HashMap::default(),
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
        let meeting_key = u.meeting.key().cloned().unwrap_or_else(|| Arc::from(""));
        let key: MemberKey = (meeting_key, u.participant.user_id.clone());
        let n = self.defs.len();
        let member = self.members.entry(key.clone()).or_insert_with(|| Member {
            meeting: u.meeting.clone(),
            info: u.participant.clone(),
            site: None,
            newest: i64::MIN,
            present: true,
            firing: BTreeMap::new(),
            counted: vec![None; n],
        });
        // Cloned only when changed: most polls repeat what is known.
        if member.meeting != *u.meeting {
            member.meeting = u.meeting.clone();
        }
        if member.info != *u.participant {
            member.info = u.participant.clone();
        }
        if member.site.as_deref() != u.site {
            member.site = u.site.map(Arc::from);
        }
        member.newest = member.newest.max(u.newest.0);
        member.present = u.present;
        self.recount(&key);
    }

    /// A participant left its meeting: out of every population.
    pub fn leave(&mut self, meeting: &MeetingInfo, user_id: &str) {
        let meeting_key = meeting.key().cloned().unwrap_or_else(|| Arc::from(""));
        let key: MemberKey = (meeting_key, Arc::from(user_id));
        if let Some(m) = self.members.get_mut(&key) {
            m.present = false;
            self.recount(&key);
        }
    }

    /// Applies a member alert's firing or resolution.
    pub fn on_alert(&mut self, t: &Transition) {
        if !self.defs.iter().any(|d| d.has_member(&t.rule)) {
            return;
        }
        let meeting_key = t.meeting.key().cloned().unwrap_or_else(|| Arc::from(""));
        let key: MemberKey = (meeting_key, t.participant.user_id.clone());
        if !self.members.contains_key(&key) {
            self.observe(MemberUpdate {
                meeting: &t.meeting,
                participant: &t.participant,
                site: None,
                newest: t.at,
                present: true,
            });
        }
        let Some(member) = self.members.get_mut(&key) else {
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
        self.recount(&key);
    }

    /// A meeting ended: its participants leave every population, and its
    /// meeting-scope incidents resolve with reason `meeting_ended`.
    pub fn end_meeting(&mut self, meeting: &MeetingInfo, at: Timestamp) -> Vec<IncidentTransition> {
        let Some(meeting_key) = meeting.key().cloned() else {
            return Vec::new();
        };
        let keys: Vec<MemberKey> = self
            .members
            .keys()
            .filter(|(m, _)| *m == meeting_key)
            .cloned()
            .collect();
        for key in &keys {
            self.uncount(key);
            self.members.remove(key);
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
    fn counts(&self, d: usize, key: &str) -> (u32, u32, i64) {
        let Some(b) = self.buckets[d].get(key) else {
            return (0, 0, i64::MAX);
        };
        let cutoff = b.newest.saturating_sub(self.window);
        (
            sum_from(&b.present, cutoff),
            sum_from(&b.affected, cutoff),
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
        let meeting_key = meeting.key().cloned().unwrap_or_else(|| Arc::from(""));
        let member = self.members.get(&(meeting_key, Arc::from(user_id)))?;
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
                    state: State::Firing,
                    reason: Reason::Condition,
                    name: def.name.clone(),
                    severity: def.severity,
                    scope: def.scope.clone(),
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
                    description: def.description.clone(),
                    labels: def.labels.clone(),
                    summary: def.summary.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.scope_key).cmp(&(&b.name, &b.scope_key)));
        out
    }

    /// The firing incidents with `inhibit` whose scope value holds this
    /// participant and that name `rule` as a member.
    pub fn inhibitors(&self, rule: &str, meeting: &MeetingInfo, user_id: &str) -> Vec<Arc<str>> {
        let meeting_key = meeting.key().cloned().unwrap_or_else(|| Arc::from(""));
        let Some(member) = self.members.get(&(meeting_key, Arc::from(user_id))) else {
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
        let keys: Vec<MemberKey> = self.members.keys().cloned().collect();
        for key in keys {
            if let Some(m) = self.members.get_mut(&key) {
                m.counted = vec![None; n];
            }
            self.recount(&key);
        }
        // Meeting-scope incidents keep their meeting for messages.
        for ((name, key), o) in &mut self.open {
            if o.meeting.is_none() {
                o.meeting = self
                    .defs
                    .iter()
                    .find(|d| d.name == *name && d.scope == Scope::Meeting)
                    .and_then(|_| {
                        self.members
                            .iter()
                            .find(|((m, _), _)| **m == **key)
                            .map(|(_, m)| m.meeting.clone())
                    });
            }
        }
        self.refresh_hot();
    }

    /// Moves a member's counts to where it belongs now. A newer sample in
    /// the same scope value only moves its counts by time (no allocation,
    /// the member set untouched), and marks the scope value for evaluation
    /// only when some alert or incident of that definition could change.
    fn recount(&mut self, key: &MemberKey) {
        let IncidentEngine {
            defs,
            members,
            buckets,
            touched,
            hot,
            ..
        } = self;
        let Some(Member {
            meeting,
            info,
            site,
            newest,
            present,
            firing,
            counted,
        }) = members.get_mut(key)
        else {
            return;
        };
        counted.resize(defs.len(), None);
        for (d, def) in defs.iter().enumerate() {
            let new_key = scope_key_of(def, meeting, site.as_deref(), info).filter(|_| *present);
            let at = *newest;
            let affected = new_key.is_some() && firing.keys().any(|r| def.has_member(r));
            let buckets = &mut buckets[d];
            let touched = &mut touched[d];
            if let (Some(old), Some(k)) = (counted[d].as_mut(), new_key)
                && buckets.slots[old.slot].key == k
            {
                if old.at == at && old.affected == affected {
                    continue;
                }
                let changed = old.affected != affected;
                let b = &mut buckets.slots[old.slot];
                dec(&mut b.present, old.at);
                *b.present.entry(at).or_default() += 1;
                if old.affected {
                    dec(&mut b.affected, old.at);
                    b.affected_any -= 1;
                }
                if affected {
                    *b.affected.entry(at).or_default() += 1;
                    b.affected_any += 1;
                    hot[d] = true;
                }
                b.newest = b.newest.max(at);
                old.at = at;
                old.affected = affected;
                // With nothing of this definition firing anywhere, a newer
                // sample cannot make an incident: no evaluation needed.
                if (changed || hot[d]) && !b.dirty {
                    b.dirty = true;
                    touched.push(old.slot);
                }
                continue;
            }
            if let Some(old) = counted[d].take() {
                let b = &mut buckets.slots[old.slot];
                b.members.remove(key);
                dec(&mut b.present, old.at);
                if old.affected {
                    dec(&mut b.affected, old.at);
                    b.affected_any -= 1;
                }
                if !b.dirty {
                    b.dirty = true;
                    touched.push(old.slot);
                }
            }
            counted[d] = new_key.map(|k| {
                let slot = buckets.slot(k);
                let b = &mut buckets.slots[slot];
                b.members.insert(key.clone());
                *b.present.entry(at).or_default() += 1;
                if affected {
                    *b.affected.entry(at).or_default() += 1;
                    b.affected_any += 1;
                    hot[d] = true;
                }
                b.newest = b.newest.max(at);
                if !b.dirty {
                    b.dirty = true;
                    touched.push(slot);
                }
                Count { slot, at, affected }
            });
        }
    }

    /// Takes a member out of every bucket.
    fn uncount(&mut self, key: &MemberKey) {
        if let Some(m) = self.members.get_mut(key) {
            m.present = false;
        }
        self.recount(key);
    }

    fn evaluate_one(&mut self, d: usize, key: &str, at: Timestamp) -> Option<IncidentTransition> {
        let def = &self.defs[d];
        let id = (def.name.clone(), key.to_owned());
        let bound = self.buckets[d].get(key).map_or(0, |b| b.affected_any);
        if !self.open.contains_key(&id) && !def.holds(bound, bound) {
            // Too few affected to fire, whoever counts in the population.
            return None;
        }
        let (population, affected, cutoff) = self.counts(d, key);
        let holds = def.holds(affected, population);
        match (self.open.get_mut(&id), holds) {
            (None, false) => None,
            (None, true) => {
                let members = self.affected_members(d, key, cutoff);
                let meeting = self.meeting_of(d, key);
                let scope_value = shown_value(def, key, meeting.as_ref());
                let shared = self.shared(d, key, cutoff);
                let open = Open {
                    since: at.0,
                    clearing_since: None,
                    peak: affected,
                    peak_participants: members.clone(),
                    peak_shared: shared.clone(),
                    scope_value: scope_value.clone(),
                    meeting: meeting.clone(),
                };
                self.open.insert(id, open);
                Some(IncidentTransition {
                    state: State::Firing,
                    reason: Reason::Condition,
                    name: def.name.clone(),
                    severity: def.severity,
                    scope: def.scope.clone(),
                    scope_value,
                    scope_key: key.to_owned(),
                    meeting,
                    affected,
                    population,
                    peak: affected,
                    participants: members,
                    shared,
                    at,
                    since: at,
                    description: def.description.clone(),
                    labels: def.labels.clone(),
                    summary: def.summary.clone(),
                })
            }
            (Some(open), true) => {
                open.clearing_since = None;
                let grew = affected > open.peak;
                if grew {
                    open.peak = affected;
                    let members = self.affected_members(d, key, cutoff);
                    let shared = self.shared(d, key, cutoff);
                    if let Some(open) = self.open.get_mut(&id) {
                        open.peak_participants = members;
                        open.peak_shared = shared;
                    }
                }
                None
            }
            (Some(open), false) => {
                let clearing = *open.clearing_since.get_or_insert(at.0);
                if at.0 - clearing < def.keep_firing_for.as_secs() as i64 {
                    return None;
                }
                let open = self.open.remove(&id)?;
                Some(resolution(
                    def,
                    key.to_owned(),
                    open,
                    affected,
                    population,
                    at,
                    Reason::Condition,
                ))
            }
        }
    }

    /// The affected members of a scope value, sorted by participant id.
    fn affected_members(&self, d: usize, key: &str, cutoff: i64) -> Vec<Affected> {
        let def = &self.defs[d];
        let Some(b) = self.buckets[d].get(key) else {
            return Vec::new();
        };
        let mut out: Vec<Affected> = b
            .members
            .iter()
            .filter_map(|k| self.members.get(k))
            .filter(|m| m.present && m.newest >= cutoff)
            .filter_map(|m| {
                // The worst member alert: highest severity, then rule name.
                let (rule, f) = m
                    .firing
                    .iter()
                    .filter(|(r, _)| def.has_member(r))
                    .max_by(|a, b| a.1.severity.cmp(&b.1.severity).then(b.0.cmp(a.0)))?;
                Some(Affected {
                    participant: m.info.user_id.to_string(),
                    user_name: m.info.attribute("user_name").map(str::to_owned),
                    meeting: m
                        .meeting
                        .id
                        .as_deref()
                        .or(m.meeting.uuid.as_deref())
                        .map(str::to_owned),
                    rule: rule.to_string(),
                    metric: f.metric.clone(),
                    value: f.value,
                    unit: f.unit,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.participant, &a.meeting).cmp(&(&b.participant, &b.meeting)));
        out
    }

    /// Factors all affected members share, each known for all of them.
    fn shared(&self, d: usize, key: &str, cutoff: i64) -> BTreeMap<String, String> {
        let def = &self.defs[d];
        let Some(b) = self.buckets[d].get(key) else {
            return BTreeMap::new();
        };
        let affected: Vec<&Member> = b
            .members
            .iter()
            .filter_map(|k| self.members.get(k))
            .filter(|m| {
                m.present && m.newest >= cutoff && m.firing.keys().any(|r| def.has_member(r))
            })
            .collect();
        let mut factors: Vec<&str> = SHARED_FACTORS.to_vec();
        if def.scope != Scope::Meeting {
            factors.push("meeting");
        }
        let mut out = BTreeMap::new();
        for f in factors {
            if def.scope.name() == f {
                continue;
            }
            let mut values = affected.iter().map(|m| factor(m, f));
            let Some(Some(first)) = values.next() else {
                continue;
            };
            if values.all(|v| v.as_deref() == Some(first.as_str())) {
                out.insert(f.to_owned(), first);
            }
        }
        out
    }

    fn meeting_of(&self, d: usize, key: &str) -> Option<MeetingInfo> {
        if self.defs[d].scope != Scope::Meeting {
            return None;
        }
        let b = self.buckets[d].get(key)?;
        b.members
            .iter()
            .find_map(|k| self.members.get(k))
            .map(|m| m.meeting.clone())
    }
}

/// The resolution of an open incident.
fn resolution(
    def: &IncidentDef,
    key: String,
    open: Open,
    affected: u32,
    population: u32,
    at: Timestamp,
    reason: Reason,
) -> IncidentTransition {
    let shared = open.peak_shared;
    IncidentTransition {
        state: State::Resolved,
        reason,
        name: def.name.clone(),
        severity: def.severity,
        scope: def.scope.clone(),
        scope_value: open.scope_value,
        scope_key: key,
        meeting: open.meeting,
        affected,
        population,
        peak: open.peak,
        participants: open.peak_participants,
        shared,
        at,
        since: Timestamp(open.since),
        description: def.description.clone(),
        labels: def.labels.clone(),
        summary: def.summary.clone(),
    }
}

/// Where a member is counted for `def`; `None` when its value is unknown.
fn scope_key<'m>(def: &IncidentDef, m: &'m Member) -> Option<&'m str> {
    scope_key_of(def, &m.meeting, m.site.as_deref(), &m.info)
}

/// [`scope_key`] from a member's parts.
fn scope_key_of<'m>(
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

/// A scope value as people read it: the meeting number when known.
fn shown_value(def: &IncidentDef, key: &str, meeting: Option<&MeetingInfo>) -> String {
    match (&def.scope, meeting.and_then(|m| m.id.as_deref())) {
        (Scope::Meeting, Some(id)) => id.to_owned(),
        _ => key.to_owned(),
    }
}

/// A member's value of a shared factor.
fn factor(m: &Member, name: &str) -> Option<String> {
    let v = match name {
        "site" => m.site.as_deref().map(str::to_owned),
        "meeting" => m
            .meeting
            .id
            .as_deref()
            .or(m.meeting.uuid.as_deref())
            .map(str::to_owned),
        _ => m.info.attribute(name).map(str::to_owned),
    };
    v.filter(|v| !v.is_empty())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

fn dec(map: &mut BTreeMap<i64, u32>, at: i64) {
    if let Some(n) = map.get_mut(&at) {
        *n -= 1;
        if *n == 0 {
            map.remove(&at);
        }
    }
}

/// The count of entries at `from` or later.
fn sum_from(map: &BTreeMap<i64, u32>, from: i64) -> u32 {
    map.range(from..).map(|(_, n)| n).sum()
}
