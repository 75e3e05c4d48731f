//! Microsoft Teams: the Workflows webhook payload with an Adaptive Card 1.4
//! (the legacy MessageCard is in `messagecard`). Any 2xx is success
//! (Workflows answers 202).

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::SecretUrl;
use crate::notify::channel::{Channel, Group, Message, Pacing};
use crate::notify::facts::{Tone, facts, title};
use crate::notify::view::{AlertView, truncate};

/// Workflows fail from about 21 KB; stay under 20 KB.
pub const MAX_BYTES: usize = 20_000;

/// Escapes Teams markdown in untrusted text, so a name cannot plant a link
/// or formatting.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '`' | '~' | '#' | '<' | '>' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The Adaptive Card colour of a title for a tone.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Resolved => "Good",
        Tone::Critical => "Attention",
        Tone::Warning => "Warning",
        Tone::Info => "Accent",
    }
}

/// The facts Teams shows: the shared ones and the fingerprint (Slack has
/// it in a context line; a card has none).
pub(crate) fn card_facts(v: &AlertView) -> Vec<(&'static str, String)> {
    let mut f = facts(v);
    f.push(("Fingerprint", v.fingerprint.clone()));
    f
}

fn text_block(text: String, extra: Value) -> Value {
    let mut b = json!({"type": "TextBlock", "text": text, "wrap": true});
    if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
        b.extend(extra.clone());
    }
    b
}

fn card(views: &[AlertView], listed: usize) -> Value {
    let mut body = vec![text_block(
        truncate(&escape(&title(views)), 300),
        json!({"weight": "Bolder", "size": "Medium", "color": color(Tone::of(views))}),
    )];
    for v in &views[..listed] {
        let mut items = vec![text_block(
            truncate(&escape(&v.summary), 2000),
            json!({"weight": "Bolder"}),
        )];
        if let Some(d) = &v.description {
            items.push(text_block(
                truncate(&escape(d), 2000),
                json!({"isSubtle": true}),
            ));
        }
        let facts: Vec<Value> = card_facts(v)
            .into_iter()
            .map(|(t, val)| json!({"title": t, "value": truncate(&escape(&val), 1000)}))
            .collect();
        items.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(url) = &v.runbook
            && url::Url::parse(url).is_ok()
        {
            items.push(json!({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "Runbook", "url": url}]}));
        }
        body.push(json!({"type": "Container", "separator": true, "items": items}));
    }
    let more = views.len() - listed;
    if more > 0 {
        body.push(text_block(
            format!("and {more} more"),
            json!({"isSubtle": true}),
        ));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body
    })
}

/// The Workflows body: a message with one Adaptive Card, at most 20 KB
/// (alerts beyond what fits move into "and N more").
pub fn payload(views: &[AlertView], group_limit: usize) -> Value {
    let mut listed = views.len().min(group_limit.max(1));
    loop {
        let body = json!({
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card(views, listed)}]
        });
        if listed <= 1 || body.to_string().len() <= MAX_BYTES {
            return body;
        }
        listed -= 1;
    }
}

/// A Teams Workflows webhook.
pub struct Teams {
    pub url: SecretUrl,
}

impl Channel for Teams {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        Message::Post(payload(group.views, group.limit))
    }

    fn url(&self) -> Option<&SecretUrl> {
        Some(&self.url)
    }

    fn gap(&self, pacing: &Pacing) -> Duration {
        pacing.teams
    }
}
