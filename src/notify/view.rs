//! What a notifier shows of one event: every string already formatted, the
//! `summary` template rendered, nothing escaped yet (escaping belongs to each
//! channel).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alert::{Event, Reason, State};
use crate::notify::format;
use crate::rules::{Rule, Severity, template};

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
}

impl AlertView {
    pub fn is_firing(&self) -> bool {
        self.state == State::Firing
    }

    /// The participant's name, or id.
    pub fn who(&self) -> Option<&str> {
        self.user_name.as_deref().or(self.participant.as_deref())
    }

    /// Meeting as "topic (id)".
    pub fn meeting_text(&self) -> Option<String> {
        match (&self.topic, &self.meeting) {
            (Some(t), Some(m)) => Some(format!("{t} ({m})")),
            (None, Some(m)) => Some(m.clone()),
            (Some(t), None) => Some(t.clone()),
            (None, None) => None,
        }
    }
}

/// Builds the view of an event, rendering the rule's summary template.
pub fn view(event: &Event, rules: &[Rule]) -> AlertView {
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
        },
        Event::Alert(t) => {
            let rule = rules.iter().find(|r| *r.name == *t.rule);
            let value = format::value(t.value, t.unit);
            let threshold = format::value(t.threshold, t.unit);
            let labels = rule.map(|r| r.labels.clone()).unwrap_or_default();
            let attr = |n: &str| t.participant.attribute(n).map(str::to_owned);
            let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
            ctx.insert("rule", t.rule.to_string().into());
            if let Some(d) = rule.and_then(|r| r.description.clone()) {
                ctx.insert("description", d.into());
            }
            ctx.insert("severity", t.severity.as_str().into());
            ctx.insert("state", t.state.as_str().into());
            ctx.insert("metric", t.metric.path().into());
            ctx.insert("value", number(t.value));
            ctx.insert("unit", t.unit.as_str().into());
            ctx.insert("threshold", number(t.threshold));
            ctx.insert("at", t.at.to_rfc3339().into());
            ctx.insert("since", t.since.to_rfc3339().into());
            // Values Zoom did not send stay undefined: they render empty.
            if let Some(k) = t.meeting.key() {
                ctx.insert("meeting", k.to_string().into());
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
            let summary = rule
                .and_then(|r| r.summary.as_deref())
                .and_then(|src| {
                    render_summary(src, &ctx)
                        .map_err(|e| tracing::warn!(rule = %t.rule, "summary template failed: {e}"))
                        .ok()
                })
                .unwrap_or_else(|| {
                    let who =
                        attr("user_name").unwrap_or_else(|| t.participant.user_id.to_string());
                    match t.state {
                        State::Firing => {
                            format!("{who}: {} {value} (threshold {threshold})", t.metric)
                        }
                        State::Resolved => format!("{who}: {} back to {value}", t.metric),
                    }
                });
            AlertView {
                rule: t.rule.to_string(),
                description: rule.and_then(|r| r.description.clone()),
                severity: t.severity,
                state: t.state,
                reminder: t.reason == Reason::Reminder,
                first_sight: t.reason == Reason::FirstSight,
                reason: match t.reason {
                    Reason::ParticipantLeft => Some("participant left".into()),
                    Reason::MeetingEnded => Some("meeting ended".into()),
                    Reason::RuleChanged => Some("rule changed or removed".into()),
                    _ => None,
                },
                summary,
                metric: Some(t.metric.path()),
                value: Some(value),
                threshold: Some(threshold),
                at: t.at.to_rfc3339(),
                since: t.since.to_rfc3339(),
                duration: (t.state == State::Resolved).then(|| format::secs(t.duration_secs())),
                meeting: t.meeting.key().map(|k| k.to_string()),
                topic: t.meeting.topic.as_deref().map(str::to_owned),
                participant: Some(t.participant.user_id.to_string()),
                user_name: attr("user_name"),
                device: attr("device"),
                network_type: attr("network_type"),
                location: attr("location"),
                labels,
                runbook: rule.and_then(|r| r.runbook.clone()),
                fingerprint: t.fingerprint(),
            }
        }
    }
}

/// Renders a summary template, compiled once per distinct source (a rule
/// pack renders the same few templates for every alert).
fn render_summary(
    src: &str,
    ctx: &BTreeMap<&str, minijinja::Value>,
) -> Result<String, minijinja::Error> {
    struct Cache {
        env: minijinja::Environment<'static>,
        names: std::collections::HashMap<String, String>,
    }
    static CACHE: std::sync::LazyLock<std::sync::Mutex<Cache>> = std::sync::LazyLock::new(|| {
        std::sync::Mutex::new(Cache {
            env: template::environment(),
            names: std::collections::HashMap::new(),
        })
    });
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = match cache.names.get(src) {
        Some(name) => name.clone(),
        None => {
            // Reloads can bring new sources; start afresh now and then.
            if cache.names.len() >= 1000 {
                cache.env = template::environment();
                cache.names.clear();
            }
            let name = format!("summary#{}", cache.names.len() + 1);
            cache.env.add_template_owned(name.clone(), src.to_owned())?;
            cache.names.insert(src.to_owned(), name.clone());
            name
        }
    };
    cache.env.get_template(&name)?.render(ctx)
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
