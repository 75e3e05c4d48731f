//! Slack incoming webhooks: Block Kit inside a coloured attachment, a
//! fallback `text`, every participant-controlled string escaped, Slack's
//! limits respected by cutting characters, not bytes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::SecretUrl;
use crate::notify::channel::{self, Channel, Group, Message, Outcome, Pacing};
use crate::notify::facts::{Tone, facts, preview, title};
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

/// A mrkdwn link; the URL's `|` is encoded so it cannot end the URL.
fn link(url: &str, label: &str) -> String {
    format!("<{}|{}>", escape(url).replace('|', "%7C"), escape(label))
}

fn alert_blocks(v: &AlertView) -> Vec<Value> {
    let mut text = format!("*{}*", v.summary_escaped(escape));
    if let Some(d) = &v.description {
        text.push_str(&format!("\n{}", escape(d)));
    }
    let at = if v.at_local.is_empty() {
        &v.at
    } else {
        &v.at_local
    };
    let mut context = vec![
        json!({"type": "mrkdwn", "text": format!("fingerprint `{}` · at {}", escape(&v.fingerprint), escape(at))}),
    ];
    let links: Vec<String> = v
        .runbook
        .iter()
        .map(|url| link(url, "Runbook"))
        .chain(v.links.iter().map(|(name, url)| link(url, name)))
        .collect();
    if !links.is_empty() {
        context.insert(
            0,
            json!({"type": "mrkdwn", "text": truncate(&links.join(" · "), MAX_TEXT)}),
        );
    }
    vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_TEXT)}, "fields": fields(v)}),
        json!({"type": "context", "elements": context}),
    ]
}

/// The webhook body for a group of alerts from one poll of one meeting.
pub fn payload(views: &[AlertView], group_limit: usize) -> Value {
    payload_mentioning(views, group_limit, &[])
}

/// As [`payload`], with a route's `mention` strings (`<!here>`) leading the
/// text when the group holds a firing alert.
pub fn payload_mentioning(views: &[AlertView], group_limit: usize, mention: &[String]) -> Value {
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
    // The notification preview names the first alert; mentions are the
    // config's own markup, not escaped.
    let fallback = escape(&preview(views));
    let text = if !mention.is_empty() && views.iter().any(AlertView::is_firing) {
        format!("{} {fallback}", mention.join(" "))
    } else {
        fallback.clone()
    };
    json!({
        "text": truncate(&text, MAX_TEXT),
        "attachments": [{"color": color(Tone::of(views)), "fallback": truncate(&fallback, MAX_TEXT), "blocks": blocks}]
    })
}

/// Slack's attachment colour for a tone.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Resolved => "good",
        Tone::Ended => "#9E9E9E",
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
        Message::Post(payload_mentioning(group.views, group.limit, group.mention))
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
