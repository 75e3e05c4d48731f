//! What people see of an incident (SPEC 12): the scope value, affected of
//! population, the affected participants with each one's worst member
//! metric, the factors they share, and on resolution the peak and the
//! duration. Built as an [`AlertView`] of kind `incident`, so every channel
//! lays it out with the facts of `facts.rs` and routes match it like any
//! alert (`scope`, `scope_value` and the shared factors are attributes).

use std::collections::BTreeMap;

use crate::alert::{Reason, State};
use crate::incident::{IncidentTransition, Scope};
use crate::notify::format;
use crate::notify::view::{AlertKind, AlertView, IncidentFacts, Presentation};
use crate::qos::Timestamp;
use crate::rules::template::{self, Kind};

/// The scope value as a phrase: `meeting Weekly sync (85746065432)`,
/// `data_center SJC`, `everyone watched`.
pub fn scope_text(t: &IncidentTransition) -> String {
    match (&t.scope, &t.meeting) {
        (Scope::Meeting, Some(m)) => match &m.topic {
            Some(topic) => format!("meeting {topic} ({})", t.scope_value),
            None => format!("meeting {}", t.scope_value),
        },
        (Scope::All, _) => "everyone watched".to_owned(),
        (scope, _) => format!("{} {}", scope.name(), t.scope_value),
    }
}

/// Shared factors as `data_center SJC · network_type Wifi`.
pub fn shared_text(shared: &BTreeMap<String, String>) -> String {
    shared
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The view of an incident's transition.
pub fn incident_view(t: &IncidentTransition, p: &Presentation) -> AlertView {
    let local = |at: Timestamp| format::time(at, &p.time_zone);
    let duration = format::secs(t.duration_secs());
    let scope = scope_text(t);
    let resolution = match (t.state, t.reason) {
        (State::Firing, _) => None,
        (State::Resolved, Reason::MeetingEnded) => Some("meeting_ended"),
        (State::Resolved, Reason::RuleChanged) => Some("rule_changed"),
        (State::Resolved, _) => Some("condition"),
    };
    let built_in = || {
        let shared = if t.shared.is_empty() {
            String::new()
        } else {
            format!("; all on {}", shared_text(&t.shared))
        };
        match (t.state, t.reason) {
            (State::Firing, _) => format!(
                "{} of {} participants affected in {scope}{shared}",
                t.affected, t.population
            ),
            (State::Resolved, Reason::MeetingEnded) => format!(
                "{scope}: meeting ended (peak {} affected, for {duration})",
                t.peak
            ),
            (State::Resolved, Reason::RuleChanged) => format!(
                "{scope}: no longer evaluated: incident changed (peak {} affected, for {duration})",
                t.peak
            ),
            (State::Resolved, _) => format!(
                "{scope}: {} of {} affected now, below the incident's threshold (peak {}, for {duration})",
                t.affected, t.population, t.peak
            ),
        }
    };
    let (summary, summary_parts) = match t.summary.as_deref().and_then(|src| {
        template::render(src, Kind::Text, &context(t, &duration, p))
            .map_err(|e| tracing::warn!(incident = %t.name, "summary template failed: {e}"))
            .ok()
    }) {
        Some(marked) => {
            let parts = template::parts(&marked);
            let plain: String = parts.iter().map(|(_, p)| p.as_str()).collect();
            (plain, parts)
        }
        None => (built_in(), Vec::new()),
    };
    let members: Vec<String> = t
        .participants
        .iter()
        .map(|a| {
            let who = a.user_name.as_deref().unwrap_or(&a.participant);
            let value = format::value(a.value, a.unit);
            match (&t.scope, &a.meeting) {
                (Scope::Meeting, _) | (_, None) => format!("{who}: {} {value}", a.metric),
                (_, Some(m)) => format!("{who} (meeting {m}): {} {value}", a.metric),
            }
        })
        .collect();
    let mut attributes = t.shared.clone();
    attributes.insert("scope".into(), t.scope.name().to_owned());
    attributes.insert("scope_value".into(), t.scope_value.clone());
    let meeting = t.meeting.as_ref();
    AlertView {
        rule: t.name.to_string(),
        description: t.description.clone(),
        severity: t.severity,
        state: t.state,
        reminder: t.reason == Reason::Reminder,
        first_sight: false,
        reason: format::reason_text(t.reason).map(str::to_owned),
        summary,
        metric: None,
        value: None,
        threshold: None,
        at: t.at.to_rfc3339(),
        since: t.since.to_rfc3339(),
        duration: (t.state == State::Resolved).then_some(duration),
        meeting: meeting.and_then(|m| m.id.as_deref().or(m.uuid.as_deref()).map(str::to_owned)),
        topic: meeting.and_then(|m| m.topic.as_deref().map(str::to_owned)),
        participant: None,
        user_name: None,
        device: None,
        network_type: None,
        location: None,
        labels: t.labels.clone(),
        runbook: None,
        fingerprint: t.fingerprint(),
        kind: AlertKind::Incident,
        meeting_id: meeting.and_then(|m| m.id.as_deref().map(str::to_owned)),
        meeting_uuid: meeting.and_then(|m| m.uuid.as_deref().map(str::to_owned)),
        attributes,
        summary_parts,
        at_local: local(t.at),
        since_local: local(t.since),
        resolution: resolution.map(str::to_owned),
        links: Vec::new(),
        site: match t.scope {
            Scope::Site => Some(t.scope_value.clone()),
            _ => t.shared.get("site").cloned(),
        },
        incident: Some(IncidentFacts {
            scope: t.scope.name().to_owned(),
            scope_value: t.scope_value.clone(),
            scope_text: scope,
            affected: t.affected,
            population: t.population,
            peak: t.peak,
            members,
            shared: t.shared.clone(),
        }),
    }
}

/// The incident template variables (SPEC 12).
fn context<'a>(
    t: &IncidentTransition,
    duration: &str,
    p: &Presentation,
) -> BTreeMap<&'a str, minijinja::Value> {
    let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
    ctx.insert("rule", t.name.to_string().into());
    if let Some(d) = &t.description {
        ctx.insert("description", d.clone().into());
    }
    ctx.insert("severity", t.severity.as_str().into());
    ctx.insert("state", t.state.as_str().into());
    ctx.insert("scope", t.scope.name().into());
    ctx.insert("scope_value", t.scope_value.clone().into());
    ctx.insert("affected", t.affected.into());
    ctx.insert("population", t.population.into());
    ctx.insert("peak", t.peak.into());
    ctx.insert("duration", duration.to_owned().into());
    ctx.insert("since", format::time(t.since, &p.time_zone).into());
    ctx.insert("labels", minijinja::Value::from_serialize(&t.labels));
    ctx.insert("shared", minijinja::Value::from_serialize(&t.shared));
    if let Some(m) = &t.meeting {
        if let Some(id) = m.id.as_deref().or(m.uuid.as_deref()) {
            ctx.insert("meeting", id.to_owned().into());
        }
        if let Some(id) = &m.id {
            ctx.insert("meeting_id", id.to_string().into());
        }
        if let Some(uuid) = &m.uuid {
            ctx.insert("meeting_uuid", uuid.to_string().into());
        }
        if let Some(topic) = &m.topic {
            ctx.insert("topic", topic.to_string().into());
        }
    }
    ctx
}
