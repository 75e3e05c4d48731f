//! The alert lifecycle (docs/rules.md) as a pure state machine.
//!
//! [`Engine`] keeps, per participant (meeting key + `user_id`), the newest
//! sample time seen and each rule's phase: inactive, pending or firing. It
//! reads no clock: time is the samples' `date_time`, or passed in. Each call
//! appends the [`Transition`]s it causes to a caller's vector.

use std::collections::HashMap;
use std::sync::Arc;

use crate::qos::{
    MeetingInfo, Metric, ParticipantInfo, ParticipantSamples, Sample, Timestamp, Unit, same_text,
    same_texts,
};
use crate::rules::expr::{Decider, Outcome, Truth};
use crate::rules::{Hold, Rule, RuleSet, Severity};

mod snapshot;
mod step;

pub use snapshot::{ParticipantSnapshot, PhaseSnapshot, Snapshot};
use step::{applicability, make_transition, step_sample};

/// Firing or resolved.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The rule's conditions.
    Condition,
    /// Announced at first sight of a participant: it was already firing at
    /// the newest sample (history builds state silently).
    FirstSight,
    /// The participant left the meeting.
    ParticipantLeft,
    /// The meeting ended.
    MeetingEnded,
    /// The rule was removed or changed by a reload.
    RuleChanged,
    /// A `repeat_every` reminder of an alert still firing.
    Reminder,
}

/// One alert transition.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub state: State,
    pub reason: Reason,
    /// The rule's name.
    pub rule: Arc<str>,
    pub severity: Severity,
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
    /// The sample time of the transition.
    pub at: Timestamp,
    /// When the alert fired.
    pub since: Timestamp,
    /// The deciding metric (the worst stream of a wildcard).
    pub metric: Metric,
    /// Its value at `at` (for a resolution, the recovery value).
    pub value: f64,
    /// The deciding comparison's threshold, in `unit`.
    pub threshold: f64,
    pub unit: Unit,
}

impl Transition {
    /// How long the alert fired, for resolutions.
    pub fn duration_secs(&self) -> i64 {
        self.at.since(self.since)
    }

    /// Alert identity: rule + meeting + participant.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.rule,
            self.meeting.key().map(|k| &**k),
            &self.participant.user_id,
        )
    }
}

/// Orders transitions by (at, meeting, participant, rule): the order of
/// `eval`'s output and of a batch's notifications.
pub fn sort_transitions(ts: &mut [Transition]) {
    ts.sort_by(|a, b| {
        (a.at, a.meeting.key(), &a.participant.user_id, &a.rule).cmp(&(
            b.at,
            b.meeting.key(),
            &b.participant.user_id,
            &b.rule,
        ))
    });
}

/// A stable fingerprint (FNV-1a, hex) of rule + meeting key + participant.
pub fn fingerprint(rule: &str, meeting: Option<&str>, participant: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [rule, meeting.unwrap_or(""), participant] {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What a firing alert last reported.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Report {
    metric: Metric,
    value: f64,
    threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
enum Phase {
    #[default]
    Inactive,
    Pending {
        started: Timestamp,
        count: u32,
    },
    Firing {
        since: Timestamp,
        /// First sample of the current clearing run (keep_firing_for).
        clearing_since: Option<Timestamp>,
        last: Report,
        /// What the firing transition reported: its stream gives the
        /// recovery value, so a resolution speaks of the stream that fired.
        fired: Report,
    },
}

/// Participants by meeting key, then by user_id: a meeting's roster is one lookup.
type Roster = HashMap<Option<Arc<str>>, HashMap<Arc<str>, ParticipantState>>;

struct ParticipantState {
    meeting: MeetingInfo,
    info: ParticipantInfo,
    last_at: Option<Timestamp>,
    /// Whether each rule applies (enabled and matching), by rule index.
    applies: Vec<bool>,
    phases: Vec<Phase>,
    /// Whether any phase is pending or firing, kept with `phases` (see
    /// [`ParticipantState::note_phases`]): the state save and `/api/alerts`
    /// pass over the many participants with nothing going on without
    /// reading their phases.
    engaged: bool,
}

impl ParticipantState {
    /// Recomputes [`ParticipantState::engaged`]; called wherever `phases`
    /// changes.
    fn note_phases(&mut self) {
        self.engaged = self.phases.iter().any(|p| !matches!(p, Phase::Inactive));
    }
}

/// A currently firing alert.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    pub rule: Arc<str>,
    pub severity: Severity,
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
    pub since: Timestamp,
    pub metric: Metric,
    pub value: f64,
    pub threshold: f64,
}

impl ActiveAlert {
    /// The alert as a firing transition at `at` (what policy stages judge).
    pub fn firing(&self, at: Timestamp) -> Transition {
        Transition {
            state: State::Firing,
            reason: Reason::Condition,
            rule: self.rule.clone(),
            severity: self.severity,
            meeting: self.meeting.clone(),
            participant: self.participant.clone(),
            at,
            since: self.since,
            metric: self.metric,
            value: self.value,
            threshold: self.threshold,
            unit: self.metric.unit(),
        }
    }
}

/// The lifecycle of every alert of a rule set.
pub struct Engine {
    rules: Vec<Rule>,
    names: Vec<Arc<str>>,
    participants: Roster,
}

impl Engine {
    pub fn new(rules: RuleSet) -> Engine {
        let names = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        Engine {
            rules: rules.rules,
            names,
            participants: HashMap::new(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Feeds one sample of one participant. Samples at or before the
    /// participant's newest seen sample are ignored (deduplication).
    pub fn observe(
        &mut self,
        meeting: &MeetingInfo,
        participant: &ParticipantInfo,
        sample: &Sample,
        out: &mut Vec<Transition>,
    ) {
        let rules = &self.rules;
        let names = &self.names;
        let state = Self::state_for(&mut self.participants, rules, meeting, participant);
        step_sample(rules, names, state, sample, out);
    }

    /// Feeds one poll of a meeting, each participant's samples in time
    /// order, and returns each participant's newest sample time seen, in the
    /// order given.
    ///
    /// A participant seen before steps its alerts. At first sight (startup,
    /// late discovery) its history builds state without transitions, then
    /// every alert firing at its newest sample is announced once, with
    /// [`Reason::FirstSight`]. A participant first seen without samples is
    /// not recorded. The meeting is looked up once, each participant once.
    pub fn observe_poll(
        &mut self,
        meeting: &MeetingInfo,
        participants: &[ParticipantSamples],
        out: &mut Vec<Transition>,
    ) -> Vec<Option<Timestamp>> {
        let rules = &self.rules;
        let names = &self.names;
        let roster = match self.participants.get_mut(meeting.key_field()) {
            Some(roster) => roster,
            None if participants.iter().all(|p| p.samples.is_empty()) => {
                return vec![None; participants.len()];
            }
            None => self.participants.entry(meeting.key().cloned()).or_default(),
        };
        let mut newest = Vec::with_capacity(participants.len());
        for p in participants {
            if let Some(state) = roster.get_mut(&*p.info.user_id) {
                refresh_attributes(state, rules, meeting, &p.info);
                for sample in &p.samples {
                    step_sample(rules, names, state, sample, out);
                }
                newest.push(state.last_at);
                continue;
            }
            if p.samples.is_empty() {
                newest.push(None);
                continue;
            }
            let state = roster
                .entry(p.info.user_id.clone())
                .or_insert_with(|| new_state(rules, meeting, &p.info));
            let mut silent = Vec::new();
            for sample in &p.samples {
                step_sample(rules, names, state, sample, &mut silent);
            }
            let at = state.last_at.unwrap_or_default();
            for (i, phase) in state.phases.iter().enumerate() {
                if let Phase::Firing { since, last, .. } = phase {
                    out.push(make_transition(
                        &rules[i],
                        &names[i],
                        state,
                        State::Firing,
                        Reason::FirstSight,
                        at,
                        *since,
                        *last,
                    ));
                }
            }
            newest.push(state.last_at);
        }
        newest
    }

    /// Resolves a participant's firing alerts (it left) and forgets it.
    pub fn participant_left(
        &mut self,
        meeting: &MeetingInfo,
        user_id: &str,
        at: Timestamp,
        out: &mut Vec<Transition>,
    ) {
        let mk = meeting.key().cloned();
        let Some(roster) = self.participants.get_mut(&mk) else {
            return;
        };
        let removed = roster.remove(user_id);
        if roster.is_empty() {
            self.participants.remove(&mk);
        }
        if let Some(state) = removed {
            self.resolve_all(&state, at, Reason::ParticipantLeft, out);
        }
    }

    /// Resolves every alert of a meeting (it ended) and forgets its participants.
    pub fn meeting_ended(
        &mut self,
        meeting: &MeetingInfo,
        at: Timestamp,
        out: &mut Vec<Transition>,
    ) {
        let Some(roster) = self.participants.remove(meeting.key_field()) else {
            return;
        };
        let mut states: Vec<&ParticipantState> = roster.values().collect();
        states.sort_by(|a, b| a.info.user_id.cmp(&b.info.user_id));
        for state in states {
            self.resolve_all(state, at, Reason::MeetingEnded, out);
        }
    }

    /// Whether any participant of the meeting has an alert pending or
    /// firing (the quiet cadence polls such a meeting on every sample).
    pub fn meeting_engaged(&self, meeting: &MeetingInfo) -> bool {
        self.participants
            .get(meeting.key_field())
            .is_some_and(|roster| roster.values().any(|p| p.engaged))
    }

    /// The participants known in a meeting for whom `present` is false.
    pub fn participants_absent(
        &self,
        meeting: &MeetingInfo,
        present: impl Fn(&str) -> bool,
    ) -> Vec<Arc<str>> {
        self.participants
            .get(meeting.key_field())
            .map(|m| m.keys().filter(|u| !present(u)).cloned().collect())
            .unwrap_or_default()
    }

    /// Replaces the rule set (a reload). Alerts of rules whose name,
    /// conditions, `for`, `keep_firing_for`, `match` and severity are
    /// unchanged keep their state (other keys apply in place); alerts of
    /// removed or changed rules that were firing resolve with
    /// [`Reason::RuleChanged`].
    pub fn replace_rules(&mut self, rules: RuleSet, at: Timestamp, out: &mut Vec<Transition>) {
        let new_rules = rules.rules;
        let mapping: Vec<Option<usize>> = new_rules
            .iter()
            .map(|nr| {
                self.rules.iter().position(|or| {
                    or.name == nr.name
                        && or.when.source == nr.when.source
                        && or.clear_when.as_ref().map(|c| &c.source)
                            == nr.clear_when.as_ref().map(|c| &c.source)
                        && or.hold == nr.hold
                        && or.keep_firing_for == nr.keep_firing_for
                        && or.severity == nr.severity
                        && or.matchers == nr.matchers
                })
            })
            .collect();
        for state in self.participants.values().flat_map(HashMap::values) {
            for (i, phase) in state.phases.iter().enumerate() {
                if let Phase::Firing { since, last, .. } = phase
                    && !mapping.contains(&Some(i))
                {
                    out.push(make_transition(
                        &self.rules[i],
                        &self.names[i],
                        state,
                        State::Resolved,
                        Reason::RuleChanged,
                        at,
                        *since,
                        *last,
                    ));
                }
            }
        }
        let new_names: Vec<Arc<str>> = new_rules
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        for state in self.participants.values_mut().flat_map(HashMap::values_mut) {
            state.phases = mapping
                .iter()
                .map(|m| m.map_or(Phase::Inactive, |old| state.phases[old]))
                .collect();
            state.applies = applicability(&new_rules, &state.meeting, &state.info);
            // A rule now disabled, or whose `match` no longer selects this
            // participant, resolves what it had firing.
            for i in 0..state.phases.len() {
                if state.applies[i] {
                    continue;
                }
                if let Phase::Firing { since, last, .. } = state.phases[i] {
                    out.push(make_transition(
                        &new_rules[i],
                        &new_names[i],
                        state,
                        State::Resolved,
                        Reason::RuleChanged,
                        at.max(since),
                        since,
                        last,
                    ));
                }
                state.phases[i] = Phase::Inactive;
            }
            state.note_phases();
        }
        self.names = new_names;
        self.rules = new_rules;
    }

    /// The rules pending or firing for one participant of one meeting, by
    /// name, in rule order: what notification policy (rule inhibition) asks
    /// after a batch. Empty for a participant not known.
    pub fn engaged_rules(&self, meeting: &MeetingInfo, user_id: &str) -> Vec<&str> {
        let Some(state) = self
            .participants
            .get(meeting.key_field())
            .and_then(|r| r.get(user_id))
        else {
            return Vec::new();
        };
        if !state.engaged {
            return Vec::new();
        }
        state
            .phases
            .iter()
            .zip(&self.names)
            .filter(|(p, _)| !matches!(p, Phase::Inactive))
            .map(|(_, n)| &**n)
            .collect()
    }

    /// A rule's alert for one participant as it stands now, if it fires: a
    /// firing transition with its latest figures, at the participant's
    /// newest sample. For notifying an alert whose firing was held back.
    pub fn firing_now(
        &self,
        meeting: &MeetingInfo,
        user_id: &str,
        rule: &str,
    ) -> Option<Transition> {
        let state = self
            .participants
            .get(meeting.key_field())
            .and_then(|r| r.get(user_id))?;
        let i = self.names.iter().position(|n| &**n == rule)?;
        let Phase::Firing { since, last, .. } = state.phases[i] else {
            return None;
        };
        let at = state.last_at.unwrap_or(since);
        Some(make_transition(
            &self.rules[i],
            &self.names[i],
            state,
            State::Firing,
            Reason::Condition,
            at,
            since,
            last,
        ))
    }

    /// Every firing alert.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let mut out = Vec::new();
        for state in self.participants.values().flat_map(HashMap::values) {
            if !state.engaged {
                continue;
            }
            for (i, phase) in state.phases.iter().enumerate() {
                if let Phase::Firing { since, last, .. } = phase {
                    out.push(ActiveAlert {
                        rule: self.names[i].clone(),
                        severity: self.rules[i].severity,
                        meeting: state.meeting.clone(),
                        participant: state.info.clone(),
                        since: *since,
                        metric: last.metric,
                        value: last.value,
                        threshold: last.threshold,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.since, &a.meeting.key(), &a.participant.user_id, &a.rule).cmp(&(
                b.since,
                &b.meeting.key(),
                &b.participant.user_id,
                &b.rule,
            ))
        });
        out
    }

    fn resolve_all(
        &self,
        state: &ParticipantState,
        at: Timestamp,
        reason: Reason,
        out: &mut Vec<Transition>,
    ) {
        for (i, phase) in state.phases.iter().enumerate() {
            if let Phase::Firing { since, last, .. } = phase {
                out.push(make_transition(
                    &self.rules[i],
                    &self.names[i],
                    state,
                    State::Resolved,
                    reason,
                    at.max(*since),
                    *since,
                    *last,
                ));
            }
        }
    }

    fn state_for<'s>(
        participants: &'s mut Roster,
        rules: &[Rule],
        meeting: &MeetingInfo,
        participant: &ParticipantInfo,
    ) -> &'s mut ParticipantState {
        // Look up by reference first: the common case clones no `Arc`.
        let known = participants
            .get(meeting.key_field())
            .is_some_and(|r| r.contains_key(&*participant.user_id));
        let roster = if known {
            participants
                .get_mut(meeting.key_field())
                .expect("just found")
        } else {
            participants.entry(meeting.key().cloned()).or_default()
        };
        let state = if known {
            roster.get_mut(&*participant.user_id).expect("just found")
        } else {
            roster
                .entry(participant.user_id.clone())
                .or_insert_with(|| new_state(rules, meeting, participant))
        };
        refresh_attributes(state, rules, meeting, participant);
        state
    }
}

fn new_state(
    rules: &[Rule],
    meeting: &MeetingInfo,
    participant: &ParticipantInfo,
) -> ParticipantState {
    ParticipantState {
        meeting: meeting.clone(),
        info: participant.clone(),
        last_at: None,
        applies: applicability(rules, meeting, participant),
        phases: vec![Phase::Inactive; rules.len()],
        engaged: false,
    }
}

/// Attributes can arrive later (a topic from discovery, a name): when they
/// changed, the state takes them and the rules' matchers are run again.
fn refresh_attributes(
    state: &mut ParticipantState,
    rules: &[Rule],
    meeting: &MeetingInfo,
    participant: &ParticipantInfo,
) {
    if !state.meeting.same_as(meeting)
        || !same_texts(&state.info.attributes, &participant.attributes)
        || !same_text(&state.info.site, &participant.site)
    {
        state.info.attributes = participant.attributes.clone();
        state.info.site = participant.site.clone();
        state.info.internal_ip_addresses = participant.internal_ip_addresses.clone();
        state.meeting = meeting.clone();
        state.applies = applicability(rules, meeting, participant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load_str;
    use proptest::prelude::*;
    use std::path::Path;

    const MIN: i64 = 60;

    fn engine(rules: &str) -> Engine {
        Engine::new(load_str(Path::new("t.yaml"), rules).unwrap())
    }

    fn who() -> (MeetingInfo, ParticipantInfo) {
        let meeting = MeetingInfo {
            id: Some(Arc::from("123")),
            ..Default::default()
        };
        let p = ParticipantInfo {
            user_id: Arc::from("u1"),
            ..Default::default()
        };
        (meeting, p)
    }

    /// Runs latency values (None = no data) one minute apart; returns
    /// (index, state) of each transition.
    fn run(e: &mut Engine, values: &[Option<f64>]) -> Vec<(usize, State)> {
        let (m, p) = who();
        let metric = Metric::from_path("audio_input.latency").unwrap();
        let mut got = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let mut s = Sample::empty(Timestamp(i as i64 * MIN));
            s.set(metric, *v);
            let mut out = Vec::new();
            e.observe(&m, &p, &s, &mut out);
            got.extend(out.into_iter().map(|t| (i, t.state)));
        }
        got
    }

    const SPEC_RULE: &str = "rules:\n  - name: audio-latency-high\n    when: audio_input.latency > 150ms\n    for: 2m\n    clear_when: audio_input.latency < 120ms\n";

    #[test]
    fn spec_example() {
        let mut e = engine(SPEC_RULE);
        let got = run(
            &mut e,
            &[
                Some(100.0),
                Some(180.0),
                Some(190.0),
                Some(200.0),
                Some(90.0),
            ],
        );
        assert_eq!(got, [(3, State::Firing), (4, State::Resolved)]);
    }

    #[test]
    fn hysteresis_holds_between_thresholds() {
        let mut e = engine(SPEC_RULE);
        let got = run(
            &mut e,
            &[
                Some(200.0),
                Some(200.0),
                Some(200.0),
                Some(130.0),
                Some(140.0),
                Some(110.0),
            ],
        );
        assert_eq!(got, [(2, State::Firing), (5, State::Resolved)]);
    }

    #[test]
    fn unknown_neither_advances_nor_resets() {
        let mut e = engine(
            "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    for: 3 samples\n",
        );
        let got = run(
            &mut e,
            &[
                Some(200.0),
                None,
                Some(200.0),
                None,
                None,
                Some(200.0),
                None,
                Some(10.0),
            ],
        );
        assert_eq!(got, [(5, State::Firing), (7, State::Resolved)]);
        // A false sample breaks the run.
        let mut e = engine(
            "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    for: 3 samples\n",
        );
        let got = run(
            &mut e,
            &[
                Some(200.0),
                Some(200.0),
                Some(10.0),
                Some(200.0),
                Some(200.0),
            ],
        );
        assert!(got.is_empty());
    }

    #[test]
    fn for_time_counts_from_the_pending_sample() {
        let mut e =
            engine("rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    for: 2m\n");
        // Pending at 0, unknown at 1, true at 2 (= 2m after) fires.
        let got = run(&mut e, &[Some(200.0), None, Some(200.0)]);
        assert_eq!(got, [(2, State::Firing)]);
    }

    #[test]
    fn keep_firing_for_delays_resolution() {
        let mut e = engine(
            "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    keep_firing_for: 2m\n",
        );
        let got = run(&mut e, &[Some(200.0), Some(10.0), Some(10.0), Some(10.0)]);
        assert_eq!(got, [(0, State::Firing), (3, State::Resolved)]);
        // Going bad again during the wait restarts it.
        let mut e = engine(
            "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    keep_firing_for: 2m\n",
        );
        let got = run(
            &mut e,
            &[
                Some(200.0),
                Some(10.0),
                Some(200.0),
                Some(10.0),
                Some(10.0),
                Some(10.0),
            ],
        );
        assert_eq!(got, [(0, State::Firing), (5, State::Resolved)]);
    }

    #[test]
    fn resolution_carries_recovery_value_and_duration() {
        let mut e = engine(SPEC_RULE);
        let (m, p) = who();
        let metric = Metric::from_path("audio_input.latency").unwrap();
        let mut out = Vec::new();
        for (i, v) in [200.0, 200.0, 200.0, 200.0, 90.0].iter().enumerate() {
            let mut s = Sample::empty(Timestamp(i as i64 * MIN));
            s.set(metric, Some(*v));
            e.observe(&m, &p, &s, &mut out);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].value, 200.0);
        assert_eq!(out[0].threshold, 150.0);
        assert_eq!(out[1].state, State::Resolved);
        assert_eq!(out[1].value, 90.0);
        assert_eq!(out[1].since, Timestamp(2 * MIN));
        assert_eq!(out[1].duration_secs(), 2 * MIN);
    }

    #[test]
    fn resolution_reports_the_stream_that_fired() {
        // Before: fired on audio_input (220 ms), resolved reporting
        // audio_output (98 ms), the decision metric of the clearing sample.
        let mut e = engine("rules:\n  - name: lat\n    when: audio_*.latency > 150ms\n");
        let (m, p) = who();
        let input = Metric::from_path("audio_input.latency").unwrap();
        let output = Metric::from_path("audio_output.latency").unwrap();
        let mut out = Vec::new();
        let mut s = Sample::empty(Timestamp(0));
        s.set(input, Some(220.0));
        s.set(output, Some(90.0));
        e.observe(&m, &p, &s, &mut out);
        // Still firing, now worst on the other stream.
        let mut s = Sample::empty(Timestamp(MIN));
        s.set(input, Some(100.0));
        s.set(output, Some(300.0));
        e.observe(&m, &p, &s, &mut out);
        let mut s = Sample::empty(Timestamp(2 * MIN));
        s.set(input, Some(98.0));
        s.set(output, Some(120.0));
        e.observe(&m, &p, &s, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].metric, out[0].value), (input, 220.0));
        assert_eq!(out[1].state, State::Resolved);
        assert_eq!(
            (out[1].metric, out[1].value, out[1].threshold),
            (input, 98.0, 150.0)
        );
        // Without data on the firing stream, the decision metric stands in.
        let mut s = Sample::empty(Timestamp(3 * MIN));
        s.set(input, Some(200.0));
        e.observe(&m, &p, &s, &mut out);
        let mut s = Sample::empty(Timestamp(4 * MIN));
        s.set(output, Some(80.0));
        e.observe(&m, &p, &s, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!((out[3].metric, out[3].value), (output, 80.0));
    }

    #[test]
    fn old_state_files_without_the_firing_metric_restore() {
        let rules = "rules:\n  - name: a\n    when: audio_*.latency > 150ms\n";
        let old = r#"{"participants":[{"meeting_id":"1","meeting_uuid":null,"topic":null,"user_id":"u","attributes":{},"last_at":60,"phases":{"a":{"phase":"firing","since":60,"clearing_since":null,"metric":"audio_output.latency","value":200.0,"threshold":150.0}}}]}"#;
        let mut e = engine(rules);
        e.restore(serde_json::from_str(old).unwrap());
        assert_eq!(e.active().len(), 1);
        let snap = serde_json::to_value(e.snapshot()).unwrap();
        assert_eq!(
            snap["participants"][0]["phases"]["a"]["fired_metric"],
            "audio_output.latency"
        );
        // The firing metric survives a save and a restore.
        let mut restored = engine(rules);
        restored.restore(serde_json::from_value(snap).unwrap());
        let m = MeetingInfo {
            id: Some(Arc::from("1")),
            uuid: None,
            topic: None,
        };
        let p = ParticipantInfo {
            user_id: Arc::from("u"),
            ..ParticipantInfo::default()
        };
        let mut s = Sample::empty(Timestamp(120));
        s.set(
            Metric::from_path("audio_output.latency").unwrap(),
            Some(70.0),
        );
        s.set(
            Metric::from_path("audio_input.latency").unwrap(),
            Some(90.0),
        );
        let mut out = Vec::new();
        restored.observe(&m, &p, &s, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].metric.path(), out[0].value),
            ("audio_output.latency".to_owned(), 70.0)
        );
    }

    #[test]
    fn first_sight_announces_only_what_fires_now() {
        let rules = "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n  - name: b\n    when: audio_input.jitter > 40ms\n";
        let mut e = engine(rules);
        let (m, p) = who();
        let lat = Metric::from_path("audio_input.latency").unwrap();
        let jit = Metric::from_path("audio_input.jitter").unwrap();
        let mut samples = Vec::new();
        for i in 0..5 {
            let mut s = Sample::empty(Timestamp(i * MIN));
            s.set(lat, Some(if i % 2 == 0 { 200.0 } else { 10.0 }));
            s.set(jit, Some(if i == 1 { 80.0 } else { 1.0 }));
            samples.push(s);
        }
        let ps = ParticipantSamples {
            info: p.clone(),
            samples,
        };
        let mut out = Vec::new();
        let newest = e.observe_poll(&m, std::slice::from_ref(&ps), &mut out);
        assert_eq!(newest, vec![Some(Timestamp(4 * MIN))]);
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].rule, "a");
        assert_eq!(out[0].reason, Reason::FirstSight);
        assert_eq!(out[0].since, Timestamp(4 * MIN));
        // Polling the same samples again changes nothing.
        let mut again = Vec::new();
        e.observe_poll(&m, std::slice::from_ref(&ps), &mut again);
        assert!(again.is_empty());
        // Leaving resolves.
        e.participant_left(&m, "u1", Timestamp(5 * MIN), &mut again);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reason, Reason::ParticipantLeft);
        assert!(e.active().is_empty());
    }

    #[test]
    fn snapshots_restore_firing_and_pending_state() {
        let rules = "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n  - name: b\n    when: audio_input.latency > 100ms\n    for: 5m\n";
        let mut e = engine(rules);
        run(&mut e, &[Some(200.0), Some(200.0)]);
        let snap = e.snapshot();
        let json = serde_json::to_string(&snap).unwrap();
        let mut restored = engine(rules);
        restored.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(restored.snapshot(), snap);
        assert_eq!(restored.active().len(), 1);
        // The restored engine goes on where the first left off: the next
        // samples resolve `a` and repeated ones change nothing.
        let got = run(&mut restored, &[Some(200.0), Some(200.0), Some(10.0)]);
        assert_eq!(got, [(2, State::Resolved)]);
    }

    #[test]
    fn matchers_select_participants() {
        let mut e = engine(
            "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n    match: { device: [Mac], user_name: \"~^Room-\" }\n",
        );
        let (m, mut p) = who();
        let lat = Metric::from_path("audio_input.latency").unwrap();
        let mut s = Sample::empty(Timestamp(0));
        s.set(lat, Some(500.0));
        let mut out = Vec::new();
        e.observe(&m, &p, &s, &mut out);
        assert!(out.is_empty(), "unknown attributes do not match");
        p.set_attribute("device", Some(Arc::from("Mac")));
        p.set_attribute("user_name", Some(Arc::from("Room-4")));
        s.at = Timestamp(60);
        e.observe(&m, &p, &s, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn reload_keeps_unchanged_rules_firing() {
        let mut e = engine(
            "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n  - name: b\n    when: audio_input.latency > 100ms\n",
        );
        run(&mut e, &[Some(200.0)]);
        assert_eq!(e.active().len(), 2);
        let mut out = Vec::new();
        // `a` changes only its summary (applied in place); `b` its condition.
        let new = load_str(Path::new("t.yaml"), "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    summary: edited\n  - name: b\n    when: audio_input.latency > 300ms\n").unwrap();
        e.replace_rules(new, Timestamp(30), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((&*out[0].rule, out[0].reason), ("b", Reason::RuleChanged));
        assert_eq!(e.active().len(), 1);
        // A new severity (or `for`, `keep_firing_for`, `match`) is a changed
        // rule: its alert resolves as such (SPEC 6).
        for edit in [
            "    severity: critical\n",
            "    for: 2m\n",
            "    keep_firing_for: 1m\n",
            "    match: { device: Mac }\n",
        ] {
            let mut e = engine(
                "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    match: { device: \"!Mac\" }\n",
            );
            run(&mut e, &[Some(200.0)]);
            assert_eq!(e.active().len(), 1);
            let text =
                format!("rules:\n  - name: a\n    when: audio_input.latency > 150ms\n{edit}");
            let text = if edit.contains("match") {
                text
            } else {
                format!("{text}    match: {{ device: \"!Mac\" }}\n")
            };
            let mut out = Vec::new();
            e.replace_rules(
                load_str(Path::new("t.yaml"), &text).unwrap(),
                Timestamp(30),
                &mut out,
            );
            assert_eq!(out.len(), 1, "{edit}");
            assert_eq!(out[0].reason, Reason::RuleChanged, "{edit}");
        }
        // Disabling a rule resolves its firing alerts.
        let mut out = Vec::new();
        let disabled = load_str(Path::new("t.yaml"), "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    summary: edited\n    enabled: false\n").unwrap();
        e.replace_rules(disabled, Timestamp(40), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (&*out[0].rule, out[0].state, out[0].reason),
            ("a", State::Resolved, Reason::RuleChanged)
        );
        assert!(e.active().is_empty());
    }

    #[test]
    fn engaged_rules_are_those_pending_or_firing() {
        let mut e = engine(
            "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n  - name: b\n    when: audio_input.latency > 100ms\n    for: 5m\n  - name: c\n    when: audio_input.latency > 900ms\n",
        );
        let (m, p) = who();
        assert!(
            e.engaged_rules(&m, &p.user_id).is_empty(),
            "unknown participant"
        );
        let metric = Metric::from_path("audio_input.latency").unwrap();
        let mut s = Sample::empty(Timestamp(0));
        s.set(metric, Some(200.0));
        let mut out = Vec::new();
        e.observe(&m, &p, &s, &mut out);
        // a fires, b is pending, c stays inactive.
        assert_eq!(e.engaged_rules(&m, &p.user_id), ["a", "b"]);
        assert!(e.engaged_rules(&m, "someone-else").is_empty());
        let mut s = Sample::empty(Timestamp(60));
        s.set(metric, Some(260.0));
        e.observe(&m, &p, &s, &mut out);
        let now = e.firing_now(&m, &p.user_id, "a").unwrap();
        assert_eq!(
            (now.state, now.at, now.since, now.value),
            (State::Firing, Timestamp(60), Timestamp(0), 260.0),
            "the latest figures"
        );
        assert!(e.firing_now(&m, &p.user_id, "b").is_none(), "pending");
    }

    fn arb_values() -> impl Strategy<Value = Vec<Option<f64>>> {
        prop::collection::vec(prop::option::weighted(0.8, 0.0f64..300.0), 0..40)
    }

    const PROP_RULES: &str = "rules:\n  - name: t\n    when: audio_input.latency > 150ms\n    for: 2m\n    clear_when: audio_input.latency < 120ms\n  - name: n\n    when: audio_input.latency > 150ms\n    for: 2 samples\n    keep_firing_for: 1m\n";

    proptest! {
        #[test]
        fn repeated_samples_are_idempotent(values in arb_values()) {
            let mut once = engine(PROP_RULES);
            let mut twice = engine(PROP_RULES);
            let (m, p) = who();
            let metric = Metric::from_path("audio_input.latency").unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (i, v) in values.iter().enumerate() {
                let mut s = Sample::empty(Timestamp(i as i64 * MIN));
                s.set(metric, *v);
                once.observe(&m, &p, &s, &mut a);
                twice.observe(&m, &p, &s, &mut b);
                twice.observe(&m, &p, &s, &mut b);
                // An older sample changes nothing either.
                let old = Sample { at: Timestamp(i as i64 * MIN - 30), ..s.clone() };
                twice.observe(&m, &p, &old, &mut b);
            }
            prop_assert_eq!(a, b);
        }

        #[test]
        fn unknown_samples_change_nothing(values in arb_values(), gaps in prop::collection::vec(0usize..3, 40)) {
            // Inserting no-data samples between samples gives the same
            // transitions, except that `for: D` and keep_firing_for count sample time;
            // so check the sample-count rule only.
            let rules = "rules:\n  - name: n\n    when: audio_input.latency > 150ms\n    for: 2 samples\n";
            let (m, p) = who();
            let metric = Metric::from_path("audio_input.latency").unwrap();
            let mut plain = engine(rules);
            let mut gapped = engine(rules);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut t = 0;
            for (i, v) in values.iter().enumerate() {
                let mut s = Sample::empty(Timestamp(t));
                s.set(metric, *v);
                plain.observe(&m, &p, &s, &mut a);
                for _ in 0..gaps[i] {
                    gapped.observe(&m, &p, &Sample::empty(Timestamp(t)), &mut b);
                    t += MIN;
                }
                let mut s = Sample::empty(Timestamp(t));
                s.set(metric, *v);
                gapped.observe(&m, &p, &s, &mut b);
                t += MIN;
            }
            let strip = |v: Vec<Transition>| v.into_iter().map(|t| (t.state, t.value)).collect::<Vec<_>>();
            prop_assert_eq!(strip(a), strip(b));
        }

        #[test]
        fn firing_and_resolving_alternate_and_for_never_fires_early(values in arb_values()) {
            let mut e = engine(PROP_RULES);
            let (m, p) = who();
            let metric = Metric::from_path("audio_input.latency").unwrap();
            let mut out = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let mut s = Sample::empty(Timestamp(i as i64 * MIN));
                s.set(metric, *v);
                e.observe(&m, &p, &s, &mut out);
            }
            for rule in ["t", "n"] {
                let mine: Vec<&Transition> = out.iter().filter(|t| &*t.rule == rule).collect();
                for (k, t) in mine.iter().enumerate() {
                    let expect = if k % 2 == 0 { State::Firing } else { State::Resolved };
                    prop_assert_eq!(t.state, expect);
                }
            }
            // `for: 2m`: the alert fires only after 2 minutes of true samples
            // with no false sample between.
            for t in out.iter().filter(|t| &*t.rule == "t" && t.state == State::Firing) {
                let idx = (t.at.0 / MIN) as usize;
                prop_assert!(idx >= 2);
                let window = &values[idx - 2..=idx];
                prop_assert!(window.iter().all(|v| v.is_none_or(|x| x > 150.0)));
            }
        }
    }
}
