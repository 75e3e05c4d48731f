//! One rule's phase stepped by one sample: the pending -> firing ->
//! resolved rules of docs/rules.md, as pure functions.

use super::*;

pub(super) fn applicability(
    rules: &[Rule],
    meeting: &MeetingInfo,
    participant: &ParticipantInfo,
) -> Vec<bool> {
    rules
        .iter()
        .map(|r| r.enabled && r.matches(meeting, participant))
        .collect()
}

pub(super) fn report_of(rule: &Rule, decider: Decider) -> Report {
    Report {
        metric: decider.metric,
        value: decider.value,
        threshold: rule.when.comparisons[decider.comparison].threshold,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn make_transition(
    rule: &Rule,
    name: &Arc<str>,
    state: &ParticipantState,
    kind: State,
    reason: Reason,
    at: Timestamp,
    since: Timestamp,
    report: Report,
) -> Transition {
    Transition {
        state: kind,
        reason,
        rule: name.clone(),
        severity: rule.severity,
        meeting: state.meeting.clone(),
        participant: state.info.clone(),
        at,
        since,
        metric: report.metric,
        value: report.value,
        threshold: report.threshold,
        unit: report.metric.unit(),
    }
}

pub(super) fn step_sample(
    rules: &[Rule],
    names: &[Arc<str>],
    state: &mut ParticipantState,
    sample: &Sample,
    out: &mut Vec<Transition>,
) {
    if state.last_at.is_some_and(|last| sample.at <= last) {
        return;
    }
    state.last_at = Some(sample.at);
    for i in 0..rules.len() {
        if !state.applies[i] {
            continue;
        }
        let rule = &rules[i];
        let when = rule.when.eval(sample);
        if let Some((kind, since, report)) = step(rule, &mut state.phases[i], sample, when) {
            out.push(make_transition(
                rule,
                &names[i],
                state,
                kind,
                Reason::Condition,
                sample.at,
                since,
                report,
            ));
        }
    }
    state.note_phases();
}

/// One rule, one sample: the phase change and the transition it causes.
pub(super) fn step(
    rule: &Rule,
    phase: &mut Phase,
    sample: &Sample,
    when: Outcome,
) -> Option<(State, Timestamp, Report)> {
    let at = sample.at;
    match *phase {
        Phase::Inactive | Phase::Pending { .. } => {
            let (started, count) = match (*phase, when.truth) {
                (_, Truth::Unknown) => return None,
                (_, Truth::False) => {
                    *phase = Phase::Inactive;
                    return None;
                }
                (Phase::Pending { started, count }, Truth::True) => (started, count + 1),
                (_, Truth::True) => (at, 1),
            };
            let ready = match rule.hold {
                None => true,
                Some(Hold::Time(d)) => at.since(started) as f64 >= d.as_secs_f64(),
                Some(Hold::Samples(n)) => count >= n,
            };
            if ready {
                let report = report_of(rule, when.decider?);
                *phase = Phase::Firing {
                    since: at,
                    clearing_since: None,
                    last: report,
                    fired: report,
                };
                Some((State::Firing, at, report))
            } else {
                *phase = Phase::Pending { started, count };
                None
            }
        }
        Phase::Firing {
            since,
            clearing_since,
            last,
            fired,
        } => {
            if when.truth == Truth::True {
                // Still firing: remember the latest figures, end any clearing run.
                let last = when.decider.map_or(last, |d| report_of(rule, d));
                *phase = Phase::Firing {
                    since,
                    clearing_since: None,
                    last,
                    fired,
                };
                return None;
            }
            if when.truth == Truth::Unknown {
                return None;
            }
            // `when` is false: clearing needs `clear_when` true, if given.
            let clear = match &rule.clear_when {
                None => Truth::True,
                Some(c) => c.eval(sample).truth,
            };
            match clear {
                Truth::Unknown => None,
                Truth::False => {
                    *phase = Phase::Firing {
                        since,
                        clearing_since: None,
                        last,
                        fired,
                    };
                    None
                }
                Truth::True => {
                    let first = clearing_since.unwrap_or(at);
                    let done = match rule.keep_firing_for {
                        None => true,
                        Some(d) => at.since(first) as f64 >= d.as_secs_f64(),
                    };
                    if done {
                        *phase = Phase::Inactive;
                        Some((
                            State::Resolved,
                            since,
                            recovery(rule, fired, last, sample, when),
                        ))
                    } else {
                        *phase = Phase::Firing {
                            since,
                            clearing_since: Some(first),
                            last,
                            fired,
                        };
                        None
                    }
                }
            }
        }
    }
}

/// The recovery value of a resolution: the value at `sample` of the metric
/// (same stream) the firing transition reported, when it has data there;
/// else the `when` decision metric; else the last figures seen.
pub(super) fn recovery(
    rule: &Rule,
    fired: Report,
    last: Report,
    sample: &Sample,
    when: Outcome,
) -> Report {
    match sample.get(fired.metric) {
        Some(value) => Report { value, ..fired },
        None => when.decider.map_or(last, |d| report_of(rule, d)),
    }
}
