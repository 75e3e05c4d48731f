//! Judging one scope value after a batch: whether its incident fires,
//! grows or resolves, and what the message tells (who, shared factors).

use std::collections::BTreeMap;

use super::engine::Open;
use super::members::Member;
use super::{Affected, IncidentDef, IncidentEngine, IncidentTransition, SHARED_FACTORS, Scope};
use crate::alert::{Reason, State};
use crate::qos::{MeetingInfo, Timestamp};

impl IncidentEngine {
    pub(super) fn evaluate_one(
        &mut self,
        d: usize,
        key: &str,
        at: Timestamp,
    ) -> Option<IncidentTransition> {
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
                    ..of_def(def, State::Firing, Reason::Condition)
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
    pub(super) fn affected_members(&self, d: usize, key: &str, cutoff: i64) -> Vec<Affected> {
        let def = &self.defs[d];
        let Some(b) = self.buckets[d].get(key) else {
            return Vec::new();
        };
        let mut out: Vec<Affected> = b
            .members
            .iter()
            .filter_map(|k| self.members.by_key(k))
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
    pub(super) fn shared(&self, d: usize, key: &str, cutoff: i64) -> BTreeMap<String, String> {
        let def = &self.defs[d];
        let Some(b) = self.buckets[d].get(key) else {
            return BTreeMap::new();
        };
        let affected: Vec<&Member> = b
            .members
            .iter()
            .filter_map(|k| self.members.by_key(k))
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
            .find_map(|k| self.members.by_key(k))
            .map(|m| m.meeting.clone())
    }
}

/// The resolution of an open incident.
pub(super) fn resolution(
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
        ..of_def(def, State::Resolved, reason)
    }
}

/// A transition of `def` with what the definition gives (name, severity,
/// scope, words, labels); the caller sets the scope value and the figures.
pub(super) fn of_def(def: &IncidentDef, state: State, reason: Reason) -> IncidentTransition {
    IncidentTransition {
        state,
        reason,
        name: def.name.clone(),
        severity: def.severity,
        scope: def.scope.clone(),
        scope_value: String::new(),
        scope_key: String::new(),
        meeting: None,
        affected: 0,
        population: 0,
        peak: 0,
        participants: Vec::new(),
        shared: BTreeMap::new(),
        at: Timestamp(0),
        since: Timestamp(0),
        description: def.description.clone(),
        labels: def.labels.clone(),
        summary: def.summary.clone(),
    }
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
