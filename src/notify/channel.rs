//! The one interface every chat channel implements: render a group of
//! alerts, say where it goes, classify the receiver's answer, and pace.
//!
//! Adding a channel: a file beside this one implementing [`Channel`], its
//! `type:` in `config` ([`NotifierKind`]), and one line in [`build`].

use std::sync::Arc;
use std::time::Duration;

use crate::alert::Event;
use crate::config::{NotifierConfig, NotifierKind, SecretUrl};
use crate::net::StatusClass;
use crate::notify::view::AlertView;
use crate::notify::{console, messagecard, slack, teams, webhook};

/// One message's worth of alerts for one notifier: the transitions of one
/// poll of one meeting (or one replayed file), as routed to it.
pub struct Group<'a> {
    /// The notifier's name.
    pub notifier: &'a str,
    pub views: &'a [AlertView],
    pub events: &'a [&'a Event],
    /// Alerts listed before "and N more".
    pub limit: usize,
    /// The `mention` strings of the routes that reached the notifier
    /// (Slack only).
    pub mention: &'a [String],
}

/// What a channel makes of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A JSON body to POST to the notifier's URL, through the outbox.
    Post(serde_json::Value),
    /// Text written to stdout at once.
    Print(String),
}

/// What a receiver's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Permanent {
        reason: String,
    },
}

/// Minimum gaps between two posts to one receiver; tests shrink them.
#[derive(Clone, Debug)]
pub struct Pacing {
    /// Slack: about one message a second per webhook.
    pub slack: Duration,
    /// Teams: under 4 a second.
    pub teams: Duration,
    /// Generic webhooks.
    pub webhook: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            slack: Duration::from_millis(1100),
            teams: Duration::from_millis(300),
            webhook: Duration::from_millis(100),
        }
    }
}

/// A chat channel.
pub trait Channel: Send + Sync {
    /// The kind as the config names it (`slack`, `teams`, ...).
    fn kind(&self) -> &'static str;

    /// The message for a group.
    fn render(&self, group: &Group<'_>) -> Message;

    /// Where posts go; `None` for a channel that prints.
    fn url(&self) -> Option<&SecretUrl> {
        None
    }

    /// Headers a body needs besides `content-type` (a signature).
    fn headers(&self, _body: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// What the receiver's answer means.
    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
        by_status(status, retry_after, body)
    }

    /// The minimum gap between two posts.
    fn gap(&self, pacing: &Pacing) -> Duration {
        pacing.webhook
    }
}

/// `HTTP 404: no_team`, or `HTTP 404` when the body is empty.
pub fn reason(status: u16, body: &str) -> String {
    if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    }
}

/// The plain HTTP reading of an answer: 2xx delivered; 408, 429 and 5xx
/// retried; everything else permanent.
pub fn by_status(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    match StatusClass::of(status) {
        StatusClass::Success => Outcome::Delivered,
        StatusClass::Retryable => Outcome::Retry {
            after: retry_after,
            reason: reason(status, body),
        },
        StatusClass::Redirect | StatusClass::Permanent => Outcome::Permanent {
            reason: reason(status, body),
        },
    }
}

/// The channel for a configured notifier: the one place that maps config
/// kinds to channels.
pub fn build(config: &NotifierConfig) -> Arc<dyn Channel> {
    match &config.kind {
        NotifierKind::Console => Arc::new(console::Console),
        NotifierKind::Slack { url } => Arc::new(slack::Slack { url: url.clone() }),
        NotifierKind::Teams {
            url,
            message_card: false,
        } => Arc::new(teams::Teams { url: url.clone() }),
        NotifierKind::Teams {
            url,
            message_card: true,
        } => Arc::new(messagecard::MessageCard { url: url.clone() }),
        NotifierKind::Webhook { url, secret } => Arc::new(webhook::Webhook {
            url: url.clone(),
            secret: secret.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_classes() {
        assert_eq!(by_status(202, None, ""), Outcome::Delivered);
        assert!(matches!(by_status(503, None, ""), Outcome::Retry { .. }));
        assert!(matches!(
            by_status(429, Some(Duration::from_secs(3)), ""),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert_eq!(
            by_status(404, None, "no_team"),
            Outcome::Permanent {
                reason: "HTTP 404: no_team".into()
            }
        );
        assert!(matches!(
            by_status(301, None, ""),
            Outcome::Permanent { .. }
        ));
    }
}
