//! Formatting of values, durations and transitions for people, shared by
//! the notifiers and `eval`'s text output.

use crate::alert::{Event, Reason, State, Transition};
use crate::qos::{Timestamp, Unit};

/// A value with its unit (`126 ms`, `4.9%`).
pub fn value(value: f64, unit: Unit) -> String {
    let num = if value.fract() == 0.0 && value.abs() < 9.0e15 {
        format!("{}", value as i64)
    } else {
        let s = format!("{value:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    match unit {
        Unit::Percent => format!("{num}%"),
        u => format!("{num} {u}"),
    }
}

/// A duration in seconds for people (`2m`, `1h 5m`).
pub fn secs(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64)).to_string()
}

/// A time for people in `tz` (`2026-03-02 16:05 CET`).
pub fn time(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_second(t.0) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => t.to_rfc3339(),
    }
}

/// What people are told of a resolution not by its conditions (never
/// "recovered": the alert simply stops being tracked).
pub fn reason_text(reason: Reason) -> Option<&'static str> {
    match reason {
        Reason::Condition | Reason::FirstSight | Reason::Reminder => None,
        Reason::ParticipantLeft => Some("left"),
        Reason::MeetingEnded => Some("meeting ended"),
        Reason::RuleChanged => Some("no longer evaluated: rule changed"),
    }
}

/// Why a resolution happened, when not by its conditions.
pub fn reason_note(reason: Reason) -> String {
    match (reason, reason_text(reason)) {
        (Reason::Reminder, _) => " (still firing)".to_owned(),
        (_, Some(text)) => format!(" ({text})"),
        (_, None) => String::new(),
    }
}

/// One readable line for a transition: time, state, severity, rule,
/// participant, meeting, metric and value.
pub fn transition_line(t: &Transition) -> String {
    // The meeting by topic and number; its instance UUID is for
    // fingerprints and webhook labels only.
    let meeting = match (&t.meeting.topic, &t.meeting.id) {
        (Some(topic), Some(k)) => format!("{topic:?} ({k})"),
        (None, Some(k)) => k.to_string(),
        (Some(topic), None) => format!("{topic:?}"),
        (None, None) => "-".to_owned(),
    };
    let who = match t.participant.attribute("user_name") {
        Some(name) => format!("{name:?} ({})", t.participant.user_id),
        None => t.participant.user_id.to_string(),
    };
    let figures = match t.state {
        State::Firing => format!(
            "{} = {} (threshold {})",
            t.metric,
            value(t.value, t.unit),
            value(t.threshold, t.unit)
        ),
        // A resolution not by its conditions reports the last value seen,
        // not a recovery.
        State::Resolved => format!(
            "{} {} {} (threshold {}) after {}{}",
            t.metric,
            if reason_text(t.reason).is_some() {
                "was"
            } else {
                "="
            },
            value(t.value, t.unit),
            value(t.threshold, t.unit),
            secs(t.duration_secs()),
            reason_note(t.reason)
        ),
    };
    format!(
        "{} {:<8} {:<8} {} participant {} meeting {} {}",
        t.at,
        t.state.as_str().to_uppercase(),
        t.severity,
        t.rule,
        who,
        meeting,
        figures
    )
}

/// One readable line for an incident: state, severity, name, scope value,
/// affected of population, shared factors; peak and duration when resolved.
pub fn incident_line(t: &crate::incident::IncidentTransition) -> String {
    use crate::notify::incident::{scope_text, shared_text};
    let mut line = format!(
        "{} {:<8} {:<8} {} incident {}: {} of {} affected",
        t.at,
        t.state.as_str().to_uppercase(),
        t.severity,
        t.name,
        scope_text(t),
        t.affected,
        t.population
    );
    if !t.shared.is_empty() {
        line.push_str(&format!(" (all on {})", shared_text(&t.shared)));
    }
    if t.state == State::Resolved {
        line.push_str(&format!(
            ", peak {} after {}",
            t.peak,
            secs(t.duration_secs())
        ));
        if let Some(why) = reason_text(t.reason) {
            line.push_str(&format!(" ({why})"));
        }
    } else {
        let who: Vec<&str> = t
            .participants
            .iter()
            .map(|a| a.user_name.as_deref().unwrap_or(&a.participant))
            .collect();
        line.push_str(&format!(": {}", who.join(", ")));
    }
    line
}

/// One readable line for any event.
pub fn event_line(e: &Event) -> String {
    match e {
        Event::Alert(t) => transition_line(t),
        Event::Incident(t) => incident_line(t),
        Event::System(s) => format!(
            "{} {:<8} {:<8} {} {}",
            s.at,
            s.state.as_str().to_uppercase(),
            s.severity,
            s.name,
            s.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo};
    use std::sync::Arc;

    #[test]
    fn console_lines_say_why_a_resolution_happened() {
        let metric = Metric::from_path("audio_input.latency").unwrap();
        let mut t = Transition {
            state: State::Resolved,
            reason: Reason::Condition,
            rule: Arc::from("lat"),
            severity: crate::rules::Severity::Warning,
            meeting: MeetingInfo {
                id: Some(Arc::from("85746065432")),
                uuid: Some(Arc::from("eXecUUID==")),
                topic: Some(Arc::from("Exec staff weekly")),
            },
            participant: ParticipantInfo {
                user_id: Arc::from("7"),
                ..ParticipantInfo::default()
            },
            at: Timestamp(1_772_463_840),
            since: Timestamp(1_772_463_600),
            metric,
            value: 98.0,
            threshold: 150.0,
            unit: metric.unit(),
        };
        let line = transition_line(&t);
        assert!(
            line.ends_with("meeting \"Exec staff weekly\" (85746065432) audio_input.latency = 98 ms (threshold 150 ms) after 4m"),
            "{line}"
        );
        t.reason = Reason::RuleChanged;
        let line = transition_line(&t);
        assert!(
            line.ends_with("audio_input.latency was 98 ms (threshold 150 ms) after 4m (no longer evaluated: rule changed)"),
            "{line}"
        );
        assert!(!line.contains("UUID"), "{line}");
        t.reason = Reason::ParticipantLeft;
        assert!(transition_line(&t).ends_with("(left)"));
        t.reason = Reason::MeetingEnded;
        assert!(transition_line(&t).ends_with("(meeting ended)"));
        assert_eq!(
            time(
                Timestamp(1_772_463_600),
                &jiff::tz::TimeZone::get("Europe/Berlin").unwrap()
            ),
            "2026-03-02 16:00 CET"
        );
    }
}
