//! The legacy Office 365 connector card (MessageCard), for Teams channels
//! still on an incoming-webhook connector (`format: messagecard`). Success
//! is 200 with body `1`; a 200 whose body names an HTTP error is a failure,
//! retried when it names 429 or a 5xx.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::SecretUrl;
use crate::notify::channel::{self, Channel, Group, Message, Outcome, Pacing};
use crate::notify::facts::{Tone, preview, title};
use crate::notify::teams::{card_facts, escape};
use crate::notify::view::{AlertView, truncate};

/// The legacy Office 365 connector body (MessageCard).
pub fn message_card(views: &[AlertView], group_limit: usize) -> Value {
    let listed = &views[..views.len().min(group_limit.max(1))];
    let theme = match Tone::of(views) {
        Tone::Resolved => "2EB67D",
        Tone::Ended => "9E9E9E",
        Tone::Critical => "D00000",
        Tone::Warning => "FFA500",
        Tone::Info => "439FE0",
    };
    let mut sections: Vec<Value> = listed
        .iter()
        .map(|v| {
            let facts: Vec<Value> = card_facts(v).into_iter().map(|(t, val)| json!({"name": t, "value": truncate(&escape(&val), 1000)})).collect();
            json!({"activityTitle": truncate(&v.summary_escaped(escape), 1000), "facts": facts, "markdown": true})
        })
        .collect();
    let more = views.len() - listed.len();
    if more > 0 {
        sections.push(json!({"text": format!("and {more} more"), "markdown": true}));
    }
    let title = truncate(&escape(&title(views)), 300);
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": theme,
        "summary": truncate(&preview(views), 300),
        "title": title,
        "sections": sections
    });
    // The runbook and `links` of the listed alerts, each URL once (a
    // MessageCard takes at most 4 actions).
    let mut actions: Vec<(&str, &str)> = Vec::new();
    for v in listed {
        let named = v
            .runbook
            .iter()
            .map(|url| ("Runbook", url.as_str()))
            .chain(v.links.iter().map(|(n, url)| (n.as_str(), url.as_str())));
        for (name, url) in named {
            if url::Url::parse(url).is_ok() && !actions.iter().any(|(_, u)| *u == url) {
                actions.push((name, url));
            }
        }
    }
    actions.truncate(4);
    if !actions.is_empty() {
        card["potentialAction"] = actions
            .iter()
            .map(|(name, url)| json!({"@type": "OpenUri", "name": name, "targets": [{"os": "default", "uri": url}]}))
            .collect();
    }
    card
}

/// A legacy Office 365 connector.
pub struct MessageCard {
    pub url: SecretUrl,
}

impl Channel for MessageCard {
    fn kind(&self) -> &'static str {
        "teams messagecard"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        Message::Post(message_card(group.views, group.limit))
    }

    fn url(&self) -> Option<&SecretUrl> {
        Some(&self.url)
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
        if status != 200 {
            return channel::by_status(status, retry_after, body);
        }
        if body == "1" || body.is_empty() {
            Outcome::Delivered
        } else if body.contains("429")
            || body.contains("HTTP error 5")
            || (500..600).any(|c| body.contains(&c.to_string()))
        {
            Outcome::Retry {
                after: retry_after,
                reason: channel::reason(status, body),
            }
        } else {
            Outcome::Permanent {
                reason: channel::reason(status, body),
            }
        }
    }

    fn gap(&self, pacing: &Pacing) -> Duration {
        pacing.teams
    }
}
