//! What every channel says about a group of alerts, in one place: the
//! title, the state word, the tone (colour) and the facts of each alert.
//! Channels only lay these out and escape them for their markup.

use crate::alert::State;
use crate::notify::view::{AlertView, IncidentFacts};
use crate::rules::Severity;

/// The colour of a message: resolved, ended without a recovery, or the
/// worst firing severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Every alert recovered (green).
    Resolved,
    /// Nothing firing, but not everything recovered: a participant left, a
    /// meeting ended, a rule changed (grey, never the colour of success).
    Ended,
    Info,
    Warning,
    Critical,
}

impl Tone {
    pub fn of(views: &[AlertView]) -> Tone {
        match views
            .iter()
            .filter(|v| v.is_firing())
            .map(|v| v.severity)
            .max()
        {
            None if views
                .iter()
                .all(|v| v.recovered() || v.resolution.is_none()) =>
            {
                Tone::Resolved
            }
            None => Tone::Ended,
            Some(Severity::Critical) => Tone::Critical,
            Some(Severity::Warning) => Tone::Warning,
            Some(Severity::Info) => Tone::Info,
        }
    }
}

/// The state word of one alert ("FIRING", "RESOLVED", "STILL FIRING",
/// and for resolutions not by its conditions "LEFT", "MEETING ENDED",
/// "NO LONGER EVALUATED").
pub fn state_word(v: &AlertView) -> &'static str {
    match (v.state, v.reminder, v.resolution.as_deref()) {
        (State::Firing, true, _) => "STILL FIRING",
        (State::Firing, false, _) => "FIRING",
        (State::Resolved, _, Some("participant_left")) => "LEFT",
        (State::Resolved, _, Some("meeting_ended")) => "MEETING ENDED",
        (State::Resolved, _, Some("rule_changed")) => "NO LONGER EVALUATED",
        (State::Resolved, _, _) => "RESOLVED",
    }
}

/// The notification preview (unescaped): state, severity, participant,
/// metric and value of the first alert, then "+N more".
pub fn preview(views: &[AlertView]) -> String {
    let Some(v) = views.first() else {
        return "no alerts".into();
    };
    let mut parts = vec![state_word(v).to_owned(), v.severity.to_string()];
    match v.who() {
        Some(who) => parts.push(who.to_owned()),
        None => parts.push(v.rule.clone()),
    }
    match (&v.metric, &v.value) {
        (Some(m), Some(val)) => parts.push(format!("{m} {val}")),
        _ => parts.push(v.summary.clone()),
    }
    let mut text = parts.join(" · ");
    if views.len() > 1 {
        text.push_str(&format!(" +{} more", views.len() - 1));
    }
    text
}

/// The one-line title of a group, for headers and previews (unescaped).
pub fn title(views: &[AlertView]) -> String {
    match views {
        [] => "no alerts".into(),
        [v] => format!("{} · {} · {}", state_word(v), v.severity, v.rule),
        _ => {
            let firing = views.iter().filter(|v| v.is_firing()).count();
            let resolved = views.len() - firing;
            let mut parts = Vec::new();
            if firing > 0 {
                parts.push(format!("{firing} firing"));
            }
            if resolved > 0 {
                parts.push(format!("{resolved} resolved"));
            }
            let place = views[0]
                .meeting_text()
                .map_or(String::new(), |m| format!(" · {m}"));
            format!("{} alerts ({}){place}", views.len(), parts.join(", "))
        }
    }
}

/// The facts of one alert, as (label, text) pairs in display order
/// (unescaped): participant, meeting, metric, rule, since or duration,
/// device / network / location, reason.
pub fn facts(v: &AlertView) -> Vec<(&'static str, String)> {
    if let Some(i) = &v.incident {
        return incident_facts(v, i);
    }
    let mut f: Vec<(&'static str, String)> = Vec::new();
    if let Some(who) = v.who() {
        let mut text = who.to_owned();
        if v.user_name.is_some()
            && let Some(id) = &v.participant
        {
            text.push_str(&format!(" ({id})"));
        }
        f.push(("Participant", text));
    }
    if let Some(m) = v.meeting_text() {
        f.push(("Meeting", m));
    }
    if let (Some(metric), Some(value)) = (&v.metric, &v.value) {
        let t = v
            .threshold
            .as_ref()
            .map_or(String::new(), |t| format!(" (threshold {t})"));
        let label = match (v.is_firing(), v.recovered()) {
            (true, _) => "",
            (false, true) => "back to ",
            (false, false) => "last ",
        };
        f.push(("Metric", format!("{metric}: {label}{value}{t}")));
    }
    f.push(("Rule", format!("{} ({})", v.rule, v.severity)));
    push_since(&mut f, v);
    let where_: Vec<&str> = [&v.device, &v.network_type, &v.location]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !where_.is_empty() {
        f.push(("Device / network / location", where_.join(" · ")));
    }
    if let Some(r) = &v.reason {
        f.push(("Reason", r.clone()));
    }
    f
}

/// Affected participants listed in an incident's message before "and N
/// more".
pub const INCIDENT_MEMBERS_LISTED: usize = 10;

/// "Duration: 5m (since 10:04)" once it ended, "Since: 10:04" while it
/// lasts; in the display time zone when one is set.
fn push_since(f: &mut Vec<(&'static str, String)>, v: &AlertView) {
    let since = if v.since_local.is_empty() {
        &v.since
    } else {
        &v.since_local
    };
    match &v.duration {
        Some(d) => f.push(("Duration", format!("{d} (since {since})"))),
        None => f.push(("Since", since.clone())),
    }
}

/// The facts of an incident: scope value, affected of population (the peak
/// too once resolved), shared factors, the affected participants with their
/// worst member metric, since or duration, reason.
fn incident_facts(v: &AlertView, i: &IncidentFacts) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = vec![("Scope", i.scope_text.clone())];
    let affected = if v.is_firing() {
        format!("{} of {} participants", i.affected, i.population)
    } else {
        format!(
            "peak {}; {} of {} at the end",
            i.peak, i.affected, i.population
        )
    };
    f.push(("Affected", affected));
    if !i.shared.is_empty() {
        let shared: Vec<String> = i.shared.iter().map(|(k, v)| format!("{k} {v}")).collect();
        f.push(("Shared by all", shared.join(" · ")));
    }
    if !i.members.is_empty() {
        let mut lines: Vec<String> = i
            .members
            .iter()
            .take(INCIDENT_MEMBERS_LISTED)
            .cloned()
            .collect();
        if i.members.len() > INCIDENT_MEMBERS_LISTED {
            lines.push(format!(
                "and {} more",
                i.members.len() - INCIDENT_MEMBERS_LISTED
            ));
        }
        let label = if v.is_firing() {
            "Participants"
        } else {
            "Participants at the peak"
        };
        f.push((label, lines.join("\n")));
    }
    f.push(("Incident", format!("{} ({})", v.rule, v.severity)));
    push_since(&mut f, v);
    if let Some(r) = &v.reason {
        f.push(("Reason", r.clone()));
    }
    f
}
