//! What a notifier shows of one event: every string already formatted, the
//! templates (`summary` or `resolved_summary`, `runbook`, config `links`)
//! rendered, times in `display.time_zone`, nothing escaped yet (escaping
//! belongs to each channel; the summary keeps which parts are values, so a
//! channel escapes only those).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alert::{Event, Reason, State};
use crate::notify::format;
use crate::qos::Timestamp;
use crate::rules::template::{self, Kind};
use crate::rules::{Rule, Severity};

/// What the config says about how alerts are shown: the time zone of
/// times, and the `links:` templates.
#[derive(Clone, Debug)]
pub struct Presentation {
    pub time_zone: jiff::tz::TimeZone,
    /// Name (the text shown) and URL template.
    pub links: Vec<(String, String)>,
}

impl Default for Presentation {
    fn default() -> Self {
        Presentation {
            time_zone: jiff::tz::TimeZone::UTC,
            links: Vec::new(),
        }
    }
}

/// One alert as people see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub rule: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub state: State,
    /// A reminder of an alert still firing.
    #[serde(default)]
    pub reminder: bool,
    /// Announced at first sight of the participant (after a restart or a
    /// late discovery), not at the moment it started firing.
    #[serde(default)]
    pub first_sight: bool,
    /// Why it resolved when not by its conditions ("participant left").
    pub reason: Option<String>,
    /// The rendered summary line.
    pub summary: String,
    pub metric: Option<String>,
    /// The value with its unit (`260 ms`).
    pub value: Option<String>,
    pub threshold: Option<String>,
    /// RFC 3339 times.
    pub at: String,
    pub since: String,
    /// How long it fired (resolved), e.g. `4m`.
    pub duration: Option<String>,
    pub meeting: Option<String>,
    pub topic: Option<String>,
    pub participant: Option<String>,
    pub user_name: Option<String>,
    pub device: Option<String>,
    pub network_type: Option<String>,
    pub location: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub runbook: Option<String>,
    pub fingerprint: String,
    /// The summary split into literal template text (`false`) and
    /// interpolated values (`true`), for channels to escape only the
    /// values; empty when the summary is all values (built-in texts).
    #[serde(default)]
    pub summary_parts: Vec<(bool, String)>,
    /// `at` and `since` in `display.time_zone`, for people.
    #[serde(default)]
    pub at_local: String,
    #[serde(default)]
    pub since_local: String,
    /// Why a resolution happened: `condition`, `participant_left`,
    /// `meeting_ended` or `rule_changed` (none while firing).
    #[serde(default)]
    pub resolution: Option<String>,
    /// `links:` rendered: (name, URL).
    #[serde(default)]
    pub links: Vec<(String, String)>,
    // What routing matches on besides the above (`AlertView::attribute`);
    // defaulted so that outbox entries written before they existed load.
    /// A participant's alert, an incident, or one about qoswatch itself.
    #[serde(default)]
    pub kind: AlertKind,
    /// The meeting number, when known.
    #[serde(default)]
    pub meeting_id: Option<String>,
    /// The meeting instance UUID, when known.
    #[serde(default)]
    pub meeting_uuid: Option<String>,
    /// Every participant attribute Zoom sent, by name; for an incident,
    /// the factors its affected participants share, `scope` and
    /// `scope_value`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The participant's site (config `sites`), when one holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// What an incident adds (kind `incident`).
    #[serde(default)]
    pub incident: Option<IncidentFacts>,
}

/// An incident's figures, formatted (`notify::incident`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// `meeting`, `all`, `site`, `data_center`, ...
    pub scope: String,
    pub scope_value: String,
    /// The scope value as a phrase (`meeting Weekly sync (85746065432)`).
    pub scope_text: String,
    pub affected: u32,
    pub population: u32,
    pub peak: u32,
    /// One line per affected participant (at the peak, for a resolution):
    /// name and worst member metric with its value.
    pub members: Vec<String>,
    pub shared: BTreeMap<String, String>,
}

/// What an alert is about (the `kind` attribute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    #[default]
    Participant,
    Incident,
    System,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Participant => "participant",
            AlertKind::Incident => "incident",
            AlertKind::System => "system",
        }
    }
}

impl AlertView {
    pub fn is_firing(&self) -> bool {
        self.state == State::Firing
    }

    /// The participant's name, or id.
    pub fn who(&self) -> Option<&str> {
        self.user_name.as_deref().or(self.participant.as_deref())
    }

    /// The alert attribute `name` (docs/configuration.md, routes): `None`
    /// when unknown. Anything that is not an attribute is looked up among
    /// the rule's labels. `meeting` has two values (number and UUID): see
    /// [`AlertView::attribute_values`].
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "rule" | "alertname" => Some(&self.rule),
            "severity" => Some(self.severity.as_str()),
            "kind" => Some(self.kind.as_str()),
            "meeting" => self.meeting_id.as_deref().or(self.meeting.as_deref()),
            "meeting_uuid" => self.meeting_uuid.as_deref(),
            "topic" => self.topic.as_deref(),
            "scope" | "scope_value" => self.attributes.get(name).map(String::as_str),
            "participant" => self.participant.as_deref(),
            "site" => self.site.as_deref(),
            _ if crate::qos::ATTRIBUTE_NAMES.contains(&name) => {
                self.attributes.get(name).map(String::as_str)
            }
            label => self.labels.get(label).map(String::as_str),
        }
    }

    /// Every value of attribute `name`: `meeting` is both the meeting
    /// number and the instance UUID; other attributes have at most one.
    pub fn attribute_values(&self, name: &str) -> Vec<&str> {
        match name {
            "meeting" => {
                let mut v: Vec<&str> = [&self.meeting_id, &self.meeting_uuid, &self.meeting]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect();
                v.dedup();
                v
            }
            _ => self.attribute(name).into_iter().collect(),
        }
    }

    /// Resolved by its conditions (a recovery), not by the participant
    /// leaving, the meeting ending or the rule changing.
    pub fn recovered(&self) -> bool {
        self.state == State::Resolved && self.resolution.as_deref() == Some("condition")
    }

    /// The summary with its values escaped by `escape` (the template's
    /// literal text as written).
    pub fn summary_escaped(&self, escape: impl Fn(&str) -> String) -> String {
        if self.summary_parts.is_empty() {
            escape(&self.summary)
        } else {
            template::join_escaped(&self.summary_parts, escape)
        }
    }

    /// Meeting as "topic (number)".
    pub fn meeting_text(&self) -> Option<String> {
        match (&self.topic, &self.meeting) {
            (Some(t), Some(m)) => Some(format!("{t} ({m})")),
            (None, Some(m)) => Some(m.clone()),
            (Some(t), None) => Some(t.clone()),
            (None, None) => None,
        }
    }
}

/// Builds the view of an event with the default presentation (UTC, no
/// links).
pub fn view(event: &Event, rules: &[Rule]) -> AlertView {
    view_with(event, rules, &Presentation::default())
}

/// The code of a resolution's reason (docs/rules.md), `None` while firing.
fn resolution_code(state: State, reason: Reason) -> Option<&'static str> {
    match (state, reason) {
        (State::Firing, _) => None,
        (State::Resolved, Reason::ParticipantLeft) => Some("participant_left"),
        (State::Resolved, Reason::MeetingEnded) => Some("meeting_ended"),
        (State::Resolved, Reason::RuleChanged) => Some("rule_changed"),
        (State::Resolved, _) => Some("condition"),
    }
}

/// The template variable `reason`.
fn reason_code(reason: Reason) -> &'static str {
    match reason {
        Reason::Condition => "condition",
        Reason::FirstSight => "first_sight",
        Reason::ParticipantLeft => "participant_left",
        Reason::MeetingEnded => "meeting_ended",
        Reason::RuleChanged => "rule_changed",
        Reason::Reminder => "reminder",
    }
}

/// Builds the view of an event, rendering the rule's templates.
pub fn view_with(event: &Event, rules: &[Rule], p: &Presentation) -> AlertView {
    let local = |t: Timestamp| format::time(t, &p.time_zone);
    match event {
        Event::System(s) => AlertView {
            rule: s.name.to_owned(),
            description: Some("an alert about qoswatch itself".into()),
            severity: s.severity,
            state: s.state,
            reminder: false,
            first_sight: false,
            reason: None,
            summary: s.message.clone(),
            metric: None,
            value: None,
            threshold: None,
            at: s.at.to_rfc3339(),
            since: s.since.to_rfc3339(),
            duration: (s.state == State::Resolved).then(|| format::secs(s.at.since(s.since))),
            meeting: None,
            topic: None,
            participant: None,
            user_name: None,
            device: None,
            network_type: None,
            location: None,
            labels: s.labels.clone(),
            runbook: None,
            fingerprint: s.fingerprint(),
            kind: AlertKind::System,
            meeting_id: None,
            meeting_uuid: None,
            attributes: BTreeMap::new(),
            summary_parts: Vec::new(),
            at_local: local(s.at),
            since_local: local(s.since),
            resolution: (s.state == State::Resolved).then(|| "condition".to_owned()),
            links: Vec::new(),
            incident: None,
            site: None,
        },
        Event::Incident(t) => crate::notify::incident::incident_view(t, p),
        Event::Alert(t) => {
            let rule = rules.iter().find(|r| *r.name == *t.rule);
            let value = format::value(t.value, t.unit);
            let threshold = format::value(t.threshold, t.unit);
            let duration = format::secs(t.duration_secs());
            let labels = rule.map(|r| r.labels.clone()).unwrap_or_default();
            let attr = |n: &str| t.participant.attribute(n).map(str::to_owned);
            let resolution = resolution_code(t.state, t.reason);
            let reason_text = format::reason_text(t.reason);
            let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
            ctx.insert("rule", t.rule.to_string().into());
            if let Some(d) = rule.and_then(|r| r.description.clone()) {
                ctx.insert("description", d.into());
            }
            ctx.insert("severity", t.severity.as_str().into());
            ctx.insert("state", t.state.as_str().into());
            ctx.insert("reason", reason_code(t.reason).into());
            ctx.insert("metric", t.metric.path().into());
            ctx.insert("value", number(t.value));
            ctx.insert("unit", t.unit.as_str().into());
            ctx.insert("threshold", number(t.threshold));
            ctx.insert("at", local(t.at).into());
            ctx.insert("since", local(t.since).into());
            ctx.insert("duration", duration.clone().into());
            // Values Zoom did not send stay undefined: they render empty.
            if let Some(id) = &t.meeting.id {
                ctx.insert("meeting", id.to_string().into());
                ctx.insert("meeting_id", id.to_string().into());
            }
            if let Some(uuid) = &t.meeting.uuid {
                ctx.insert("meeting_uuid", uuid.to_string().into());
            }
            if let Some(topic) = &t.meeting.topic {
                ctx.insert("topic", topic.to_string().into());
            }
            ctx.insert("participant", t.participant.user_id.to_string().into());
            ctx.insert("labels", minijinja::Value::from_serialize(&labels));
            for name in crate::qos::ATTRIBUTE_NAMES {
                if let Some(v) = attr(name) {
                    ctx.insert(name, v.into());
                }
            }
            if let Some(site) = &t.participant.site {
                ctx.insert("site", site.to_string().into());
            }
            let render = |src: &str, kind: Kind, what: &str| {
                template::render(src, kind, &ctx)
                    .map_err(|e| tracing::warn!(rule = %t.rule, "{what} template failed: {e}"))
                    .ok()
            };
            let who = attr("user_name").unwrap_or_else(|| t.participant.user_id.to_string());
            let template = match t.state {
                State::Firing => rule.and_then(|r| r.summary.as_deref()),
                State::Resolved => rule.and_then(|r| r.resolved_summary.as_deref()),
            };
            let (summary, summary_parts) = match template
                .and_then(|src| render(src, Kind::Text, "summary"))
            {
                Some(marked) => {
                    let mut parts = template::parts(&marked);
                    // A resolution not by its conditions says so, even
                    // when the template does not.
                    if let Some(text) = reason_text
                        && !parts.iter().any(|(_, p)| p.contains(text))
                    {
                        parts.push((false, format!(" ({text})")));
                    }
                    let plain: String = parts.iter().map(|(_, p)| p.as_str()).collect();
                    (plain, parts)
                }
                None => {
                    let metric = t.metric;
                    let text = match (t.state, t.reason) {
                        (State::Firing, _) => {
                            format!("{who}: {metric} {value} (threshold {threshold})")
                        }
                        (State::Resolved, Reason::RuleChanged) => format!(
                            "{who}: {metric} no longer evaluated: rule changed (was {value}, threshold {threshold}, for {duration})"
                        ),
                        (State::Resolved, Reason::ParticipantLeft) => format!(
                            "{who} left: {metric} was {value} (threshold {threshold}) for {duration}"
                        ),
                        (State::Resolved, Reason::MeetingEnded) => format!(
                            "{who}: meeting ended: {metric} was {value} (threshold {threshold}) for {duration}"
                        ),
                        (State::Resolved, _) => format!(
                            "{who}: {metric} back to {value} (threshold {threshold}) after {duration}"
                        ),
                    };
                    (text, Vec::new())
                }
            };
            let runbook = rule
                .and_then(|r| r.runbook.as_deref())
                .and_then(|src| render(src, Kind::Url, "runbook"))
                .filter(|u| !u.is_empty());
            let links = p
                .links
                .iter()
                .filter_map(|(name, src)| {
                    render(src, Kind::Url, "link")
                        .filter(|u| !u.is_empty())
                        .map(|u| (name.clone(), u))
                })
                .collect();
            AlertView {
                rule: t.rule.to_string(),
                description: rule.and_then(|r| r.description.clone()),
                severity: t.severity,
                state: t.state,
                reminder: t.reason == Reason::Reminder,
                first_sight: t.reason == Reason::FirstSight,
                reason: reason_text.map(str::to_owned),
                summary,
                metric: Some(t.metric.path()),
                value: Some(value),
                threshold: Some(threshold),
                at: t.at.to_rfc3339(),
                since: t.since.to_rfc3339(),
                duration: (t.state == State::Resolved).then_some(duration),
                meeting: t.meeting.id.as_deref().map(str::to_owned),
                topic: t.meeting.topic.as_deref().map(str::to_owned),
                participant: Some(t.participant.user_id.to_string()),
                user_name: attr("user_name"),
                device: attr("device"),
                network_type: attr("network_type"),
                location: attr("location"),
                labels,
                runbook,
                fingerprint: t.fingerprint(),
                kind: AlertKind::Participant,
                meeting_id: t.meeting.id.as_deref().map(str::to_owned),
                meeting_uuid: t.meeting.uuid.as_deref().map(str::to_owned),
                attributes: crate::qos::ATTRIBUTE_NAMES
                    .iter()
                    .filter_map(|n| Some((n.to_string(), attr(n)?)))
                    .collect(),
                summary_parts,
                at_local: local(t.at),
                since_local: local(t.since),
                resolution: resolution.map(str::to_owned),
                links,
                incident: None,
                site: t.participant.site.as_deref().map(str::to_owned),
            }
        }
    }
}

/// A number for templates: whole numbers print without `.0`.
fn number(v: f64) -> minijinja::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        minijinja::Value::from(v as i64)
    } else {
        minijinja::Value::from(v)
    }
}

/// Cuts `s` to at most `max` characters (not bytes), ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    crate::shorten(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Transition;
    use crate::notify::facts::{Tone, state_word};
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo};
    use std::path::Path;
    use std::sync::Arc;

    fn rules(extra: &str) -> Vec<Rule> {
        crate::rules::load_str(
            Path::new("r.yaml"),
            &format!("rules:\n  - name: lat\n    when: audio_*.latency > 150ms\n    summary: \"{{{{ user_name }}}}: {{{{ metric }}}} {{{{ value }}}} {{{{ unit }}}} over 150 ms\"\n{extra}"),
        )
        .unwrap()
        .rules
    }

    fn resolved(reason: Reason) -> Event {
        let metric = Metric::from_path("audio_input.latency").unwrap();
        let mut participant = ParticipantInfo {
            user_id: Arc::from("7"),
            ..ParticipantInfo::default()
        };
        participant.set_attribute("user_name", Some(Arc::from("Carol Diaz")));
        Event::Alert(Transition {
            state: State::Resolved,
            reason,
            rule: Arc::from("lat"),
            severity: Severity::Warning,
            meeting: MeetingInfo {
                id: Some(Arc::from("85746065432")),
                uuid: Some(Arc::from("/eXec+UUID==")),
                topic: Some(Arc::from("Exec staff weekly")),
            },
            participant,
            at: Timestamp(1_772_463_840),
            since: Timestamp(1_772_463_600),
            metric,
            value: 98.0,
            threshold: 150.0,
            unit: metric.unit(),
        })
    }

    #[test]
    fn a_resolution_never_reuses_the_firing_summary() {
        // Before: "Carol Diaz: audio_input.latency 98 ms over 150 ms".
        let v = view(&resolved(Reason::Condition), &rules(""));
        assert_eq!(
            v.summary,
            "Carol Diaz: audio_input.latency back to 98 ms (threshold 150 ms) after 4m"
        );
        assert!(v.recovered());
        assert_eq!(Tone::of(std::slice::from_ref(&v)), Tone::Resolved);
        let with = rules(
            "    resolved_summary: \"{{ user_name }} ok: {{ metric }} {{ value }} {{ unit }} after {{ duration }} ({{ reason }})\"\n",
        );
        let v = view(&resolved(Reason::Condition), &with);
        assert_eq!(
            v.summary,
            "Carol Diaz ok: audio_input.latency 98 ms after 4m (condition)"
        );
        assert_eq!(v.summary_parts[1], (false, " ok: ".to_owned()));
    }

    #[test]
    fn a_rule_change_is_not_a_recovery() {
        // Before: a green "resolved, recovered to 62 ms".
        for rules in [
            rules(""),
            rules("    resolved_summary: \"{{ user_name }} back to {{ value }}\"\n"),
        ] {
            let v = view(&resolved(Reason::RuleChanged), &rules);
            assert!(
                v.summary.contains("no longer evaluated: rule changed"),
                "{}",
                v.summary
            );
            assert_eq!(
                v.reason.as_deref(),
                Some("no longer evaluated: rule changed")
            );
            assert_eq!(v.resolution.as_deref(), Some("rule_changed"));
            assert!(!v.recovered());
            assert_eq!(state_word(&v), "NO LONGER EVALUATED");
            assert_eq!(Tone::of(std::slice::from_ref(&v)), Tone::Ended);
            let facts = crate::notify::facts::facts(&v);
            assert!(
                facts
                    .iter()
                    .all(|(_, f)| !f.contains("recover") && !f.contains("back to")),
                "{facts:?}"
            );
        }
        let v = view(&resolved(Reason::ParticipantLeft), &rules(""));
        assert!(v.summary.starts_with("Carol Diaz left:"), "{}", v.summary);
        let v = view(&resolved(Reason::MeetingEnded), &rules(""));
        assert!(v.summary.contains("meeting ended"), "{}", v.summary);
    }

    #[test]
    fn runbook_links_times_and_the_meeting_number() {
        let rules = rules(
            "    runbook: \"https://wiki.example/{{ rule }}?meeting={{ meeting_id }}&who={{ user_name }}\"\n",
        );
        let p = Presentation {
            time_zone: jiff::tz::TimeZone::get("America/New_York").unwrap(),
            links: vec![(
                "Meeting".into(),
                "https://zoom.example/m/{{ meeting_uuid | urlencode }}?at={{ since }}".into(),
            )],
        };
        let v = view_with(&resolved(Reason::Condition), &rules, &p);
        assert_eq!(
            v.runbook.as_deref(),
            Some("https://wiki.example/lat?meeting=85746065432&who=Carol%20Diaz")
        );
        assert_eq!(
            v.links,
            [(
                "Meeting".to_owned(),
                "https://zoom.example/m/%2FeXec%2BUUID%3D%3D?at=2026-03-02%2010%3A00%20EST"
                    .to_owned()
            )]
        );
        assert_eq!(v.since_local, "2026-03-02 10:00 EST");
        assert_eq!(v.meeting.as_deref(), Some("85746065432"));
        assert_eq!(
            v.meeting_text().as_deref(),
            Some("Exec staff weekly (85746065432)")
        );
        assert_eq!(v.meeting_uuid.as_deref(), Some("/eXec+UUID=="));
    }
}
