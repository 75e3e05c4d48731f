//! Delivery: each notifier's outbox queue sent in order by a worker, paced,
//! retried, at least once.
//!
//! Success removes the entry and records its transition keys; network
//! errors, timeouts, 408, 429 and 5xx are retried with the one backoff of
//! `net::retry`, never sooner than `Retry-After` and never longer than its
//! cap; other answers are permanent (logged with the receiver's reason,
//! counted, dropped); a message older than the notifier's `max_age` is given
//! up and counted as dropped. What an answer means is the channel's call
//! (`Channel::classify`). What each receiver last answered is kept in
//! [`ReceiverHealth`], from which the service raises
//! `qoswatch-notifier-failing`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{NotifierConfig, redact_url};
use crate::net::{Backoff, parse_retry_after};
use crate::notify::channel::{self, Channel, Outcome, Pacing};
use crate::notify::outbox::{Outbox, now};

/// Timing knobs; tests shrink them.
#[derive(Clone, Debug)]
pub struct DeliveryTuning {
    /// Minimum gaps between posts, per channel.
    pub pacing: Pacing,
    /// Retry backoff (full jitter) when the receiver asks for no wait.
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured (5 minutes).
    pub max_retry_after: Duration,
    /// Whole-request timeout; connecting has a shorter one.
    pub timeout: Duration,
    /// How long a notifier may go without a success while messages wait
    /// before `qoswatch-notifier-failing` is raised (5 minutes).
    pub failing_after: Duration,
}

impl Default for DeliveryTuning {
    fn default() -> Self {
        DeliveryTuning {
            pacing: Pacing::default(),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
            max_retry_after: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            failing_after: Duration::from_secs(300),
        }
    }
}

/// What one notifier's receiver last answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Receiver {
    /// When it last took a message (unix seconds).
    pub last_success: Option<f64>,
    /// Why it last refused a message for good (a 4xx other than 408/429,
    /// a redirect), if it has not taken one since.
    pub refused: Option<String>,
    /// Why the last attempt failed, if it has not succeeded since.
    pub last_error: Option<String>,
}

/// What every notifier's receiver last answered: written by the delivery
/// workers, read by the service once a second.
#[derive(Debug, Default)]
pub struct ReceiverHealth {
    receivers: Mutex<BTreeMap<String, Receiver>>,
}

impl ReceiverHealth {
    /// The receiver of `notifier` as last heard from.
    pub fn get(&self, notifier: &str) -> Receiver {
        self.lock().get(notifier).cloned().unwrap_or_default()
    }

    fn note(&self, notifier: &str, outcome: &Outcome, at: f64) {
        let mut receivers = self.lock();
        let r = receivers.entry(notifier.to_owned()).or_default();
        match outcome {
            Outcome::Delivered => {
                *r = Receiver {
                    last_success: Some(at),
                    refused: None,
                    last_error: None,
                }
            }
            Outcome::Permanent { reason } => {
                r.refused = Some(reason.clone());
                r.last_error = Some(reason.clone());
            }
            Outcome::Retry { reason, .. } => r.last_error = Some(reason.clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Receiver>> {
        self.receivers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Posts to one notifier's endpoint and classifies the answer.
pub struct Sender {
    pub config: NotifierConfig,
    channel: Arc<dyn Channel>,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(config: NotifierConfig, tuning: &DeliveryTuning) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(tuning.timeout)
            .connect_timeout(tuning.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the body (and, as Referer, the secret
            // URL) to another host, around the https-only rule: refused.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .expect("HTTP client builds");
        let channel = channel::build(&config);
        Sender {
            config,
            channel,
            http,
        }
    }

    /// Posts `body` once.
    pub async fn post(&self, body: &str) -> Outcome {
        self.post_answer(body).await.1
    }

    /// Posts `body` once; the receiver's HTTP status too, when it answered.
    pub async fn post_answer(&self, body: &str) -> (Option<u16>, Outcome) {
        let Some(url) = self.channel.url() else {
            return (None, Outcome::Delivered);
        };
        let mut req = self
            .http
            .post(url.expose())
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in self.channel.headers(body) {
            req = req.header(name, value);
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                let reason = format!("{what} ({})", url.redacted());
                return (
                    None,
                    Outcome::Retry {
                        after: None,
                        reason,
                    },
                );
            }
        };
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| "nowhere".to_owned(), redact_url);
            let reason = format!(
                "HTTP {status}: redirect to {to} refused (notifier redirects are never followed; fix the URL)"
            );
            return (Some(status), Outcome::Permanent { reason });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let text = match response.text().await {
            Ok(t) => crate::shorten(t.trim(), 300),
            Err(e) => {
                let reason = format!("reading the answer failed: {}", e.without_url());
                return (
                    Some(status),
                    Outcome::Retry {
                        after: None,
                        reason,
                    },
                );
            }
        };
        (
            Some(status),
            self.channel.classify(status, retry_after, &text),
        )
    }
}

/// Sends one notifier's queue until `cancel`, noting each answer in
/// `health`.
pub async fn run_worker(
    outbox: Arc<Outbox>,
    sender: Sender,
    tuning: DeliveryTuning,
    health: Arc<ReceiverHealth>,
    cancel: CancellationToken,
) {
    let name = sender.config.name.clone();
    let waker = outbox.waker(&name);
    let gap = sender.channel.gap(&tuning.pacing);
    let max_age = sender.config.max_age.as_secs_f64();
    let mut last_sent: Option<tokio::time::Instant> = None;
    // Until when the receiver asked us to wait (unix seconds).
    let mut hold_until = 0.0_f64;
    loop {
        let Some(mut entry) = outbox.front(&name) else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = waker.notified() => continue,
            }
        };
        let t = now();
        // Every entry past max_age goes, not only the front one: a queue
        // held up by a long Retry-After must not keep stale messages.
        let expired = outbox.expire(&name, max_age, t);
        if !expired.is_empty() {
            for e in &expired {
                tracing::error!(notifier = %name, attempts = e.attempts, "giving up on a message older than max_age ({}): {}", humantime::format_duration(sender.config.max_age), e.summary);
                outbox.count_outcome(&name, "dropped");
            }
            continue;
        }
        // A receiver's Retry-After holds the whole queue, not one entry.
        let ready_at = entry.next_attempt_at.max(hold_until);
        if ready_at > t {
            // Wake when ready or when the front entry expires, whichever is
            // first.
            let until = ready_at.min(entry.created_at + max_age + 0.001);
            let wait = Duration::from_secs_f64((until - t).clamp(0.0, 3600.0));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        if let Some(last) = last_sent {
            let ready = last + gap;
            if ready > tokio::time::Instant::now() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep_until(ready) => {}
                }
            }
        }
        last_sent = Some(tokio::time::Instant::now());
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            o = sender.post(&entry.body) => o,
        };
        health.note(&name, &outcome, now());
        match outcome {
            Outcome::Delivered => {
                if entry.attempts > 0 {
                    tracing::info!(notifier = %name, attempts = entry.attempts + 1, "delivered after retrying: {}", entry.summary);
                }
                outbox.count_outcome(&name, "delivered");
                outbox.finish(&name, entry.id, true);
            }
            Outcome::Permanent { reason } => {
                tracing::error!(notifier = %name, "the receiver refused a message, not retrying ({reason}): {}", entry.summary);
                outbox.count_outcome(&name, "failed");
                outbox.finish(&name, entry.id, false);
            }
            Outcome::Retry { after, reason } => {
                entry.attempts += 1;
                // Never sooner than the receiver asked, never longer than the cap.
                let wait = match after {
                    Some(asked) => asked.min(tuning.max_retry_after),
                    None => tuning.backoff.delay(entry.attempts),
                };
                // Never past the entry's own expiry: it is dropped then.
                let left = (entry.created_at + max_age - now()).max(0.0);
                let wait = wait.min(Duration::from_secs_f64(left));
                if let Some(asked) = after {
                    hold_until = now() + asked.min(tuning.max_retry_after).as_secs_f64();
                }
                entry.next_attempt_at = now() + wait.as_secs_f64();
                tracing::warn!(notifier = %name, attempt = entry.attempts, retry_in_ms = wait.as_millis() as u64, "delivery failed, will retry ({reason})");
                outbox.count_outcome(&name, "retried");
                outbox.reschedule(&entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NotifierKind, SecretUrl};

    fn sender(kind: NotifierKind) -> Sender {
        Sender::new(
            NotifierConfig {
                name: "n".into(),
                kind,
                max_age: Duration::from_secs(60),
            },
            &DeliveryTuning::default(),
        )
    }

    #[test]
    fn answers_are_classified_per_channel() {
        let url = SecretUrl::new("https://x");
        let slack = sender(NotifierKind::Slack { url: url.clone() }).channel;
        let teams = sender(NotifierKind::Teams {
            url: url.clone(),
            message_card: false,
        })
        .channel;
        let card = sender(NotifierKind::Teams {
            url: url.clone(),
            message_card: true,
        })
        .channel;
        assert_eq!(slack.classify(200, None, "ok"), Outcome::Delivered);
        assert!(matches!(
            slack.classify(429, Some(Duration::from_secs(2)), ""),
            Outcome::Retry { after: Some(_), .. }
        ));
        assert!(
            matches!(slack.classify(400, None, "invalid_payload"), Outcome::Permanent { reason } if reason.contains("invalid_payload"))
        );
        assert!(matches!(
            slack.classify(404, None, "channel_not_found"),
            Outcome::Permanent { .. }
        ));
        assert!(matches!(
            slack.classify(503, None, ""),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            slack.classify(408, None, ""),
            Outcome::Retry { .. }
        ));
        assert_eq!(teams.classify(202, None, ""), Outcome::Delivered);
        assert_eq!(card.classify(200, None, "1"), Outcome::Delivered);
        assert!(matches!(
            card.classify(
                200,
                None,
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429"
            ),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            card.classify(200, None, "Summary or Text is required."),
            Outcome::Permanent { .. }
        ));
    }
}
