//! Slack incoming webhooks: Block Kit inside a coloured attachment, a
//! fallback `text`, every participant-controlled string escaped, Slack's
//! limits respected by cutting characters, not bytes.

use serde_json::{Value, json};

use crate::notify::view::{AlertView, truncate};

/// Slack's limits.
const MAX_BLOCKS: usize = 50;
const MAX_TEXT: usize = 3000;
const MAX_FIELD: usize = 2000;
const MAX_HEADER: usize = 150;
const MAX_FIELDS: usize = 10;

/// Escapes `&`, `<` and `>` (in that order), so `<!channel>` pings nobody
/// and `<https://x|label>` plants no link.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn color(views: &[AlertView]) -> &'static str {
    if views.iter().all(|v| !v.is_firing()) {
        return "good";
    }
    let firing = views.iter().filter(|v| v.is_firing());
    match firing
        .map(|v| v.severity.as_str())
        .max_by_key(|s| match *s {
            "critical" => 2,
            "warning" => 1,
            _ => 0,
        }) {
        Some("critical") => "danger",
        Some("warning") => "warning",
        _ => "#439FE0",
    }
}

/// The state word of a message ("FIRING", "RESOLVED", "STILL FIRING").
pub fn state_word(v: &AlertView) -> &'static str {
    match (v.is_firing(), v.reminder) {
        (true, true) => "STILL FIRING",
        (true, false) => "FIRING",
        (false, _) => "RESOLVED",
    }
}

/// The one-line title of a group, for headers and fallbacks (unescaped).
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

fn fields(v: &AlertView) -> Vec<Value> {
    let mut f: Vec<(&str, String)> = Vec::new();
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
        let label = if v.is_firing() { "" } else { "recovered to " };
        f.push(("Metric", format!("{metric}: {label}{value}{t}")));
    }
    f.push(("Rule", format!("{} ({})", v.rule, v.severity)));
    match &v.duration {
        Some(d) => f.push(("Duration", format!("{d} (since {})", v.since))),
        None => f.push(("Since", v.since.clone())),
    }
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
    f.truncate(MAX_FIELDS);
    f.into_iter()
        .map(|(k, val)| json!({"type": "mrkdwn", "text": truncate(&format!("*{k}*\n{}", escape(&val)), MAX_FIELD)}))
        .collect()
}

fn alert_blocks(v: &AlertView) -> Vec<Value> {
    let mut text = format!("*{}*", escape(&v.summary));
    if let Some(d) = &v.description {
        text.push_str(&format!("\n{}", escape(d)));
    }
    let mut context = vec![
        json!({"type": "mrkdwn", "text": format!("fingerprint `{}` · at {}", escape(&v.fingerprint), escape(&v.at))}),
    ];
    if let Some(url) = &v.runbook {
        context.insert(0, json!({"type": "mrkdwn", "text": truncate(&format!("<{}|Runbook>", escape(url).replace('|', "%7C")), MAX_TEXT)}));
    }
    vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_TEXT)}, "fields": fields(v)}),
        json!({"type": "context", "elements": context}),
    ]
}

/// The webhook body for a group of alerts from one poll of one meeting.
pub fn payload(views: &[AlertView], group_limit: usize) -> Value {
    let title = title(views);
    // Each listed alert takes two blocks and a divider; the header and the
    // "and N more" line take two more.
    let max_listed = group_limit.clamp(1, (MAX_BLOCKS - 2) / 3);
    let listed = &views[..views.len().min(max_listed)];
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&escape(&title), MAX_HEADER), "emoji": true}}),
    ];
    for (i, v) in listed.iter().enumerate() {
        if i > 0 {
            blocks.push(json!({"type": "divider"}));
        }
        blocks.extend(alert_blocks(v));
    }
    let more = views.len() - listed.len();
    if more > 0 {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("and {more} more")}]}));
    }
    let mut fallback = escape(&title);
    if let [v] = views {
        fallback.push_str(&format!(": {}", escape(&v.summary)));
    } else if more > 0 {
        fallback.push_str(&format!(" (and {more} more)"));
    }
    json!({
        "text": truncate(&fallback, MAX_TEXT),
        "attachments": [{"color": color(views), "fallback": truncate(&fallback, MAX_TEXT), "blocks": blocks}]
    })
}
