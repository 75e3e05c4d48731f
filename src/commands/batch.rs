//! One batch of `eval` and `test`: the samples of one distinct sample time
//! through the lifecycle, rule inhibition and the incident engine, in the
//! order the service applies them (SPEC 13: rule `inhibits`, then
//! incidents), so both commands report what the service would hold.

use crate::alert::{Engine, Transition};
use crate::incident::{IncidentEngine, IncidentTransition, MemberUpdate};
use crate::notify::inhibit::Inhibitor;
use crate::qos::{MeetingInfo, ParticipantInfo, Sample};
use crate::rules::RuleSet;

/// The lifecycle, the rule inhibition stage and the incidents, stepped one
/// batch at a time.
pub struct Stepper {
    rules: RuleSet,
    engine: Engine,
    inhibitor: Inhibitor,
    incidents: IncidentEngine,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct Step {
    /// Participant transitions, sorted, each with the rule or incident
    /// that holds its notification back (rule inhibition first).
    pub transitions: Vec<(Transition, Option<String>)>,
    /// Incident transitions, by name then scope value.
    pub incidents: Vec<IncidentTransition>,
}

impl Stepper {
    pub fn new(rules: RuleSet) -> Self {
        Stepper {
            engine: Engine::new(rules.clone()),
            inhibitor: Inhibitor::default(),
            incidents: IncidentEngine::new(rules.incidents.clone(), None),
            rules,
        }
    }

    /// Feeds one batch: samples sharing one sample time.
    pub fn step(&mut self, batch: &[(&MeetingInfo, &ParticipantInfo, &Sample)]) -> Step {
        let mut transitions = Vec::new();
        for (meeting, participant, sample) in batch {
            self.engine
                .observe(meeting, participant, sample, &mut transitions);
            self.incidents.observe(MemberUpdate {
                meeting,
                participant,
                site: participant.site.as_deref(),
                newest: sample.at,
                present: true,
            });
        }
        crate::alert::lifecycle::sort_transitions(&mut transitions);
        // Incidents firing before this batch hold its member transitions
        // too: a resolution whose firing was held is not sent either.
        let before: Vec<Vec<std::sync::Arc<str>>> = transitions
            .iter()
            .map(|t| {
                self.incidents
                    .inhibitors(&t.rule, &t.meeting, &t.participant.user_id)
            })
            .collect();
        for t in &transitions {
            self.incidents.on_alert(t);
        }
        let at = batch.iter().map(|b| b.2.at).max().unwrap_or_default();
        let mut incidents = self.incidents.evaluate(at);
        incidents.sort_by(|a, b| (&a.name, &a.scope_value).cmp(&(&b.name, &b.scope_value)));
        let refs: Vec<&Transition> = transitions.iter().collect();
        let judged = self.inhibitor.judge(&refs, &self.rules.rules, &self.engine);
        let transitions = transitions
            .into_iter()
            .zip(judged.verdicts)
            .zip(before)
            .map(|((t, held), before)| {
                // Several inhibitors: the first rule by name, else the
                // first incident by name.
                let by = held.and_then(|by| by.into_iter().next()).or_else(|| {
                    let mut names = before;
                    names.extend(self.incidents.inhibitors(
                        &t.rule,
                        &t.meeting,
                        &t.participant.user_id,
                    ));
                    names.into_iter().min().map(|n| n.to_string())
                });
                (t, by)
            })
            .collect();
        Step {
            transitions,
            incidents,
        }
    }
}
