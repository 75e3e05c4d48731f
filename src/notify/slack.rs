//! Slack incoming webhooks: Block Kit inside a coloured attachment, a
//! fallback `text`, every participant-controlled string escaped, Slack's
//! limits respected by cutting characters, not bytes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::SecretUrl;
use crate::notify::channel::{self, Channel, Group, Message, Outcome, Pacing};
use crate::notify::facts::{Tone, facts, title};
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

fn fields(v: &AlertView) -> Vec<Value> {
    let mut f = facts(v);
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
        "attachments": [{"color": color(Tone::of(views)), "fallback": truncate(&fallback, MAX_TEXT), "blocks": blocks}]
    })
}

/// Slack's attachment colour for a tone.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Resolved => "good",
        Tone::Critical => "danger",
        Tone::Warning => "warning",
        Tone::Info => "#439FE0",
    }
}

/// A Slack incoming webhook.
pub struct Slack {
    pub url: SecretUrl,
}

impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        Message::Post(payload(group.views, group.limit))
    }

    fn url(&self) -> Option<&SecretUrl> {
        Some(&self.url)
    }

    /// Slack answers 200 `ok`; a 200 with another body is an error it
    /// reports in the body.
    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
        match status {
            200 if body == "ok" || body.is_empty() => Outcome::Delivered,
            200 => Outcome::Permanent {
                reason: channel::reason(status, body),
            },
            _ => channel::by_status(status, retry_after, body),
        }
    }

    fn gap(&self, pacing: &Pacing) -> Duration {
        pacing.slack
    }
}
