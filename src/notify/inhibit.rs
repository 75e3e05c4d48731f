//! Rule inhibition (`inhibits`, docs/rules.md): the first stage of the
//! notification policy. While a rule with `inhibits` is pending or firing
//! for a participant, the firing notifications of the rules it names for
//! that same participant (same meeting) are held; when no inhibitor is
//! pending or firing any more, a held alert that still fires is let through
//! once. A held alert that resolves while held sends nothing: its firing
//! was never sent.
//!
//! It is decided per batch, after every rule has seen the batch's samples,
//! from what the lifecycle says is pending or firing ([`Engaged`]); the
//! lifecycle itself is not touched (a held alert is still tracked, listed
//! and resolved). `eval` and `test` use this very stage, so they report what
//! the service would hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alert::{Engine, Reason, State, Transition};
use crate::incident::IncidentEngine;
use crate::qos::MeetingInfo;
use crate::rules::Rule;

/// What the lifecycle says is going on for a participant.
pub trait Engaged {
    /// The rules pending or firing for this participant of this meeting.
    fn engaged(&self, meeting: &MeetingInfo, user_id: &str) -> Vec<&str>;

    /// A rule's alert for this participant as it stands now (latest
    /// figures), if it fires.
    fn firing_now(&self, meeting: &MeetingInfo, user_id: &str, rule: &str) -> Option<Transition>;

    /// The firing incidents with `inhibit` that hold this rule's alerts for
    /// this participant (SPEC 12), sorted.
    fn incidents_holding(
        &self,
        _meeting: &MeetingInfo,
        _user_id: &str,
        _rule: &str,
    ) -> Vec<String> {
        Vec::new()
    }

    /// The rules some incident with `inhibit` names as members.
    fn incident_members(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Until when (unix seconds, wall clock) a firing of this rule for this
    /// participant waits for an incident to form: the largest `hold` of the
    /// incidents naming the rule (SPEC 12). `None`: it does not wait (no
    /// such incident, or `eval` and `test`, which have no wall clock).
    fn hold_until(&self, _meeting: &MeetingInfo, _user_id: &str, _rule: &str) -> Option<i64> {
        None
    }

    /// The wall clock (unix seconds) that `hold_until` is judged against.
    fn now(&self) -> i64 {
        0
    }
}

/// The lifecycle and the incidents together, at a wall-clock `now`: what
/// the service hands the inhibition stage.
pub struct WithIncidents<'a> {
    pub engine: &'a Engine,
    pub incidents: &'a IncidentEngine,
    /// Unix seconds, for `hold`.
    pub now: i64,
}

impl Engaged for WithIncidents<'_> {
    fn engaged(&self, meeting: &MeetingInfo, user_id: &str) -> Vec<&str> {
        self.engine.engaged_rules(meeting, user_id)
    }

    fn firing_now(&self, meeting: &MeetingInfo, user_id: &str, rule: &str) -> Option<Transition> {
        self.engine.firing_now(meeting, user_id, rule)
    }

    fn incidents_holding(&self, meeting: &MeetingInfo, user_id: &str, rule: &str) -> Vec<String> {
        let mut by: Vec<String> = self
            .incidents
            .inhibitors(rule, meeting, user_id)
            .iter()
            .map(|n| n.to_string())
            .collect();
        by.sort();
        by
    }

    fn incident_members(&self) -> Vec<&str> {
        self.incidents
            .defs()
            .iter()
            .filter(|d| d.inhibit || !d.hold.is_zero())
            .flat_map(|d| d.rules.iter().map(|r| &**r))
            .collect()
    }

    fn hold_until(&self, meeting: &MeetingInfo, user_id: &str, rule: &str) -> Option<i64> {
        let hold = self.incidents.hold_for(rule, meeting, user_id)?;
        Some(self.now.saturating_add(hold.as_secs() as i64))
    }

    fn now(&self) -> i64 {
        self.now
    }
}

/// Rule inhibitors first (SPEC 13's order), then incidents.
fn holders(rules: &[Rule], t: &Transition, engaged: &dyn Engaged) -> Vec<String> {
    let mut by = inhibitors(
        rules,
        &t.rule,
        &engaged.engaged(&t.meeting, &t.participant.user_id),
    );
    by.extend(engaged.incidents_holding(&t.meeting, &t.participant.user_id, &t.rule));
    by
}

impl Engaged for Engine {
    fn engaged(&self, meeting: &MeetingInfo, user_id: &str) -> Vec<&str> {
        self.engaged_rules(meeting, user_id)
    }

    fn firing_now(&self, meeting: &MeetingInfo, user_id: &str, rule: &str) -> Option<Transition> {
        Engine::firing_now(self, meeting, user_id, rule)
    }
}

/// The rules among `engaged` whose `inhibits` names `rule`, sorted.
pub fn inhibitors(rules: &[Rule], rule: &str, engaged: &[&str]) -> Vec<String> {
    let mut by: Vec<String> = rules
        .iter()
        .filter(|r| engaged.contains(&r.name.as_str()) && r.inhibits.iter().any(|n| n == rule))
        .map(|r| r.name.clone())
        .collect();
    by.sort();
    by
}

/// A firing held back, and by which rules (or incidents); with `until`,
/// one waiting for an incident to form (`hold`), sent then if none did.
#[derive(Clone, Debug)]
struct Held {
    transition: Transition,
    by: Vec<String>,
    until: Option<i64>,
}

/// What became of a batch's transitions.
#[derive(Debug, Default)]
pub struct Judged {
    /// Per transition given, in order: `None` to send it, or the rules that
    /// hold it (a held firing, a reminder of one, or the resolution of an
    /// alert whose firing was held and so never sent).
    pub verdicts: Vec<Option<Vec<String>>>,
    /// Held firings whose inhibitors stopped, still firing: to send now,
    /// with the figures they have now.
    pub released: Vec<Transition>,
    /// Alerts held or let go by this batch, by fingerprint, with the rules
    /// holding them (empty: no longer held), for `/api/alerts`.
    pub changes: Vec<(String, Vec<String>)>,
    /// Firings that waited out a `hold` and are now held by what formed
    /// meanwhile (its names): suppressed now, counted once.
    pub taken_over: Vec<Vec<String>>,
}

/// A held firing as saved with the alert state, so a restart neither sends
/// it early nor forgets to send it when its inhibitor stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldSnapshot {
    pub rule: String,
    pub meeting_id: Option<String>,
    pub meeting_uuid: Option<String>,
    pub user_id: String,
    pub by: Vec<String>,
}

/// The held firings.
#[derive(Debug, Default)]
pub struct Inhibitor {
    held: BTreeMap<String, Held>,
}

impl Inhibitor {
    /// Judges one batch's transitions, after the lifecycle has seen the
    /// whole batch (`engaged` is its state now), and lets go of held alerts
    /// whose inhibitors are no longer pending or firing.
    pub fn judge(
        &mut self,
        transitions: &[&Transition],
        rules: &[Rule],
        engaged: &dyn Engaged,
    ) -> Judged {
        let mut judged = Judged::default();
        let mut inhibited: Vec<&str> = rules
            .iter()
            .flat_map(|r| r.inhibits.iter().map(String::as_str))
            .collect();
        inhibited.extend(engaged.incident_members());
        if inhibited.is_empty() && self.held.is_empty() {
            // No rule inhibits (the usual case without `inhibits`).
            judged.verdicts = vec![None; transitions.len()];
            return judged;
        }
        for t in transitions {
            let fp = t.fingerprint();
            let verdict = match t.state {
                State::Firing => match self.held.get(&fp) {
                    Some(h) => Some(h.by.clone()),
                    None if t.reason == Reason::Reminder || !inhibited.contains(&&*t.rule) => None,
                    None => {
                        let by = holders(rules, t, engaged);
                        let wait = engaged
                            .hold_until(&t.meeting, &t.participant.user_id, &t.rule)
                            .filter(|until| *until > engaged.now());
                        match (by.is_empty(), wait) {
                            (true, None) => None,
                            (true, Some(until)) => {
                                // Waits for an incident to form: not an
                                // inhibition, not listed as one.
                                self.held.insert(
                                    fp,
                                    Held {
                                        transition: (*t).clone(),
                                        by: Vec::new(),
                                        until: Some(until),
                                    },
                                );
                                Some(Vec::new())
                            }
                            (false, _) => {
                                self.held.insert(
                                    fp.clone(),
                                    Held {
                                        transition: (*t).clone(),
                                        by: by.clone(),
                                        until: None,
                                    },
                                );
                                judged.changes.push((fp, by.clone()));
                                Some(by)
                            }
                        }
                    }
                },
                State::Resolved => self.held.remove(&fp).map(|h| {
                    judged.changes.push((fp, Vec::new()));
                    h.by
                }),
            };
            judged.verdicts.push(verdict);
        }
        let mut gone = Vec::new();
        for (fp, h) in &mut self.held {
            let by = holders(rules, &h.transition, engaged);
            if by.is_empty() {
                // A `hold` not yet over keeps waiting.
                if h.until.is_some_and(|until| engaged.now() < until) {
                    continue;
                }
                gone.push(fp.clone());
            } else if by != h.by {
                // An incident formed while it waited: held by it now.
                if h.by.is_empty() {
                    judged.taken_over.push(by.clone());
                }
                h.until = None;
                h.by = by.clone();
                judged.changes.push((fp.clone(), by));
            }
        }
        for fp in gone {
            if let Some(h) = self.held.remove(&fp) {
                // What it shows now; an alert the lifecycle no longer has
                // firing (it resolved with no transition, as a reload may
                // do) has nothing to send.
                let t = &h.transition;
                judged.released.extend(engaged.firing_now(
                    &t.meeting,
                    &t.participant.user_id,
                    &t.rule,
                ));
                judged.changes.push((fp, Vec::new()));
            }
        }
        judged
    }

    /// Every held firing by fingerprint, with the rules holding it
    /// (firings waiting out a `hold` are not listed).
    pub fn held(&self) -> Vec<(String, Vec<String>)> {
        self.held
            .iter()
            .filter(|(_, h)| !h.by.is_empty())
            .map(|(fp, h)| (fp.clone(), h.by.clone()))
            .collect()
    }

    /// Whether a firing waits out a `hold` (the service then asks again
    /// every second).
    pub fn waiting(&self) -> bool {
        self.held.values().any(|h| h.until.is_some())
    }

    /// The held firings, for the saved state.
    pub fn snapshot(&self) -> Vec<HeldSnapshot> {
        self.held
            .values()
            .map(|h| HeldSnapshot {
                rule: h.transition.rule.to_string(),
                meeting_id: h.transition.meeting.id.as_deref().map(str::to_owned),
                meeting_uuid: h.transition.meeting.uuid.as_deref().map(str::to_owned),
                user_id: h.transition.participant.user_id.to_string(),
                by: h.by.clone(),
            })
            .collect()
    }

    /// Takes back the held firings of a saved state, those the (restored)
    /// lifecycle still has firing; returns them by fingerprint with the
    /// rules holding them.
    pub fn restore(
        &mut self,
        saved: Vec<HeldSnapshot>,
        engaged: &dyn Engaged,
    ) -> Vec<(String, Vec<String>)> {
        let mut restored = Vec::new();
        for h in saved {
            let meeting = MeetingInfo::from_ids(h.meeting_id.as_deref(), h.meeting_uuid.as_deref());
            let Some(transition) = engaged.firing_now(&meeting, &h.user_id, &h.rule) else {
                continue;
            };
            let fp = transition.fingerprint();
            restored.push((fp.clone(), h.by.clone()));
            self.held.insert(
                fp,
                Held {
                    transition,
                    by: h.by,
                    until: None,
                },
            );
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::{Metric, ParticipantInfo, Sample, Timestamp};
    use crate::rules::load_str;
    use std::path::Path;
    use std::sync::Arc;

    const RULES: &str = "rules:
  - name: loss-high
    when: audio_input.avg_loss > 2%
  - name: loss-critical
    severity: critical
    when: audio_input.avg_loss > 5%
    inhibits: [loss-high]
";

    /// Steps one participant through loss values, one batch each; returns
    /// per batch what was sent (rule and state) and what was held.
    fn run(values: &[f64]) -> Vec<(Vec<String>, Vec<String>)> {
        let rules = load_str(Path::new("r.yaml"), RULES).unwrap();
        let mut engine = Engine::new(rules.clone());
        let mut inhibitor = Inhibitor::default();
        let meeting = MeetingInfo {
            id: Some(Arc::from("1")),
            ..MeetingInfo::default()
        };
        let who = ParticipantInfo {
            user_id: Arc::from("u"),
            ..ParticipantInfo::default()
        };
        let metric = Metric::from_path("audio_input.avg_loss").unwrap();
        let mut got = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let mut s = Sample::empty(Timestamp(i as i64 * 60));
            s.set(metric, Some(*v));
            let mut out = Vec::new();
            engine.observe(&meeting, &who, &s, &mut out);
            let refs: Vec<&Transition> = out.iter().collect();
            let j = inhibitor.judge(&refs, &rules.rules, &engine);
            let name = |t: &Transition| format!("{} {}", t.state.as_str(), t.rule);
            let mut sent: Vec<String> = out
                .iter()
                .zip(&j.verdicts)
                .filter(|(_, v)| v.is_none())
                .map(|(t, _)| name(t))
                .collect();
            sent.extend(
                j.released
                    .iter()
                    .map(|t| format!("released {} at {}", t.rule, t.value)),
            );
            let held = out
                .iter()
                .zip(&j.verdicts)
                .filter_map(|(t, v)| {
                    v.as_ref()
                        .map(|by| format!("{} by {}", name(t), by.join(",")))
                })
                .collect();
            got.push((sent, held));
        }
        got
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_critical_holds_its_warning_until_it_clears() {
        // Before: 7.2% loss sent audio-loss-critical and audio-loss-high
        // side by side.
        let got = run(&[7.2, 7.0, 3.0, 1.0]);
        assert_eq!(
            got[0],
            (
                strs(&["firing loss-critical"]),
                strs(&["firing loss-high by loss-critical"])
            )
        );
        assert_eq!(got[1], (vec![], vec![]), "held stays held, nothing new");
        assert_eq!(
            got[2],
            (
                strs(&["resolved loss-critical", "released loss-high at 3"]),
                vec![]
            ),
            "below critical, above warning: the warning is sent then"
        );
        assert_eq!(got[3], (strs(&["resolved loss-high"]), vec![]));
    }

    #[test]
    fn held_firings_survive_a_restart() {
        let rules = load_str(Path::new("r.yaml"), RULES).unwrap();
        let mut engine = Engine::new(rules.clone());
        let mut inhibitor = Inhibitor::default();
        let meeting = MeetingInfo {
            id: Some(Arc::from("1")),
            uuid: Some(Arc::from("u==")),
            topic: None,
        };
        let who = ParticipantInfo {
            user_id: Arc::from("u"),
            ..ParticipantInfo::default()
        };
        let metric = Metric::from_path("audio_input.avg_loss").unwrap();
        let step = |engine: &mut Engine, inhibitor: &mut Inhibitor, at: i64, v: f64| {
            let mut s = Sample::empty(Timestamp(at));
            s.set(metric, Some(v));
            let mut out = Vec::new();
            engine.observe(&meeting, &who, &s, &mut out);
            let refs: Vec<&Transition> = out.iter().collect();
            inhibitor.judge(&refs, &rules.rules, &*engine)
        };
        step(&mut engine, &mut inhibitor, 0, 7.0);
        let saved = inhibitor.snapshot();
        assert_eq!(saved.len(), 1);
        // A new process: the lifecycle and the held firing restored.
        let mut restarted = Engine::new(rules.clone());
        restarted.restore(engine.snapshot());
        let mut inhibitor = Inhibitor::default();
        let restored = inhibitor.restore(saved, &restarted);
        assert_eq!(
            restored,
            [(
                crate::alert::lifecycle::fingerprint("loss-high", Some("u=="), "u"),
                vec!["loss-critical".to_owned()]
            )]
        );
        let j = step(&mut restarted, &mut inhibitor, 60, 3.0);
        assert_eq!(j.released.len(), 1, "sent when the critical clears");
        assert_eq!(&*j.released[0].rule, "loss-high");
    }

    #[test]
    fn a_held_alert_that_resolves_while_held_sends_nothing() {
        let rules = "rules:
  - name: loss-high
    when: audio_input.avg_loss > 2%
  - name: loss-critical
    when: audio_input.avg_loss > 5%
    clear_when: audio_input.avg_loss < 0.5%
    inhibits: [loss-high]
";
        let rules = load_str(Path::new("r.yaml"), rules).unwrap();
        let mut engine = Engine::new(rules.clone());
        let mut inhibitor = Inhibitor::default();
        let meeting = MeetingInfo::default();
        let who = ParticipantInfo {
            user_id: Arc::from("u"),
            ..ParticipantInfo::default()
        };
        let metric = Metric::from_path("audio_input.avg_loss").unwrap();
        let mut verdicts = Vec::new();
        for (i, v) in [7.0, 1.0].iter().enumerate() {
            let mut s = Sample::empty(Timestamp(i as i64 * 60));
            s.set(metric, Some(*v));
            let mut out = Vec::new();
            engine.observe(&meeting, &who, &s, &mut out);
            let refs: Vec<&Transition> = out.iter().collect();
            let j = inhibitor.judge(&refs, &rules.rules, &engine);
            assert!(j.released.is_empty());
            verdicts.extend(
                out.iter()
                    .zip(j.verdicts)
                    .map(|(t, v)| (t.state, t.rule.to_string(), v.is_some())),
            );
        }
        // The critical still fires (hysteresis); the warning resolved while
        // held: neither its firing nor its resolution is sent.
        assert_eq!(
            verdicts,
            [
                (State::Firing, "loss-critical".to_owned(), false),
                (State::Firing, "loss-high".to_owned(), true),
                (State::Resolved, "loss-high".to_owned(), true),
            ]
        );
        assert!(inhibitor.held.is_empty());
    }

    mod incident_properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, BTreeSet};

        /// The lifecycle and an incident as a test sets them: which
        /// participants' `loss` alerts fire, and whether an incident with
        /// `inhibit` that names `loss` fires over all of them.
        struct World {
            firing: BTreeMap<String, Transition>,
            incident: bool,
        }

        impl Engaged for World {
            fn engaged(&self, _: &MeetingInfo, _: &str) -> Vec<&str> {
                Vec::new()
            }

            fn firing_now(&self, _: &MeetingInfo, user_id: &str, _: &str) -> Option<Transition> {
                self.firing.get(user_id).cloned()
            }

            fn incidents_holding(&self, _: &MeetingInfo, _: &str, rule: &str) -> Vec<String> {
                if self.incident && rule == "loss" {
                    vec!["meeting-audio".to_owned()]
                } else {
                    Vec::new()
                }
            }

            fn incident_members(&self) -> Vec<&str> {
                vec!["loss"]
            }
        }

        fn transition(state: State, user: &str, at: i64) -> Transition {
            Transition {
                state,
                reason: Reason::Condition,
                rule: Arc::from("loss"),
                severity: crate::rules::Severity::Warning,
                meeting: MeetingInfo {
                    id: Some(Arc::from("1")),
                    ..MeetingInfo::default()
                },
                participant: ParticipantInfo {
                    user_id: Arc::from(user),
                    ..ParticipantInfo::default()
                },
                at: Timestamp(at),
                since: Timestamp(at),
                metric: Metric::from_path("audio_input.avg_loss").unwrap(),
                value: 9.0,
                threshold: 5.0,
                unit: crate::qos::Unit::Percent,
            }
        }

        proptest! {
            /// Whatever the order of member alerts firing and resolving and
            /// of the incident forming and resolving: no firing is sent
            /// while the incident covers it, none is sent twice, a
            /// resolution is sent only when its firing was, and once the
            /// incident has resolved every member alert still firing has
            /// been sent exactly once.
            #[test]
            fn held_members_are_sent_once_when_the_incident_resolves(
                steps in prop::collection::vec(
                    (prop::collection::vec(any::<bool>(), 4), any::<bool>()),
                    1..12,
                ),
            ) {
                let mut world = World { firing: BTreeMap::new(), incident: false };
                let mut inhibitor = Inhibitor::default();
                let mut sent: BTreeSet<String> = BTreeSet::new();
                for (i, (toggles, incident)) in steps.iter().chain([(vec![false; 4], false)].iter()).enumerate() {
                    let at = i as i64 * 60;
                    let mut out = Vec::new();
                    for (u, toggle) in toggles.iter().enumerate() {
                        let user = format!("u{u}");
                        if !toggle {
                            continue;
                        }
                        match world.firing.remove(&user) {
                            Some(_) => out.push(transition(State::Resolved, &user, at)),
                            None => {
                                let t = transition(State::Firing, &user, at);
                                world.firing.insert(user, t.clone());
                                out.push(t);
                            }
                        }
                    }
                    world.incident = *incident;
                    let refs: Vec<&Transition> = out.iter().collect();
                    let j = inhibitor.judge(&refs, &[], &world);
                    for (t, verdict) in out.iter().zip(&j.verdicts) {
                        let user = t.participant.user_id.to_string();
                        match (t.state, verdict) {
                            (State::Firing, None) => {
                                prop_assert!(!world.incident, "sent while covered");
                                prop_assert!(sent.insert(user), "sent twice");
                            }
                            (State::Resolved, None) => {
                                prop_assert!(sent.remove(&user), "a resolution of a firing never sent");
                            }
                            (State::Resolved, Some(_)) => {
                                prop_assert!(!sent.contains(&user), "a sent firing's resolution held");
                            }
                            (State::Firing, Some(_)) => {}
                        }
                    }
                    for t in &j.released {
                        prop_assert!(!world.incident, "released while covered");
                        prop_assert!(sent.insert(t.participant.user_id.to_string()), "released twice");
                    }
                    if !world.incident {
                        let firing: BTreeSet<String> = world.firing.keys().cloned().collect();
                        prop_assert_eq!(&firing, &sent, "every still-firing member is sent once");
                    }
                }
            }
        }
    }
}
