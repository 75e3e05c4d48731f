//! Delivery: a persisted outbox per notifier, paced, retried with backoff,
//! at least once.
//!
//! Each message is a file under `state_dir/outbox/` written atomically
//! (temporary file, fsync, rename) before anything is sent, so it survives
//! kill -9. A worker per notifier sends its queue in order: success removes
//! the file and records the message's transition keys in `delivered.log`;
//! network errors, timeouts, 408, 429 and 5xx are retried with full-jitter
//! exponential backoff, never sooner than `Retry-After`; other 4xx are
//! permanent (logged with the receiver's reason, counted, dropped); a message
//! older than the notifier's `max_age` is given up and counted as dropped.
//! A message whose transitions were all enqueued or delivered before (a
//! restart re-evaluating the same samples) is not enqueued again.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{NotifierConfig, NotifierKind, Secret, SecretUrl};
use crate::net::parse_retry_after;
use crate::notify::webhook::signature;

/// How long delivered keys are remembered.
const KEY_MEMORY_SECS: f64 = 2.0 * 86_400.0;

/// Timing knobs; tests shrink them.
#[derive(Clone, Debug)]
pub struct DeliveryTuning {
    /// Minimum gap between two posts to one Slack webhook (about 1/s).
    pub slack_gap: Duration,
    /// Minimum gap for Teams (under 4/s).
    pub teams_gap: Duration,
    /// Minimum gap for generic webhooks.
    pub webhook_gap: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Whole-request timeout; connecting has a shorter one.
    pub timeout: Duration,
}

impl Default for DeliveryTuning {
    fn default() -> Self {
        DeliveryTuning {
            slack_gap: Duration::from_millis(1100),
            teams_gap: Duration::from_millis(300),
            webhook_gap: Duration::from_millis(100),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A message waiting for delivery.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub notifier: String,
    /// Unix seconds.
    pub created_at: f64,
    pub attempts: u32,
    /// Unix seconds.
    pub next_attempt_at: f64,
    /// The JSON body to post.
    pub body: String,
    /// Keys of the transitions it carries (notifier, fingerprint, state, since).
    pub keys: Vec<String>,
    /// A short description for logs.
    pub summary: String,
}

/// Why the outbox could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error("cannot use the outbox directory {path}: {source}")]
    OpenDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the outbox entry {path}: {source}")]
    WriteEntry {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Outcome counts by notifier: delivered, retried, failed (permanent), dropped (too old).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl DeliveryStats {
    fn add(&self, notifier: &str, outcome: &'static str) {
        if let Ok(mut m) = self.counts.lock() {
            *m.entry((notifier.to_owned(), outcome)).or_default() += 1;
        }
    }

    /// The count for a notifier and outcome.
    pub fn get(&self, notifier: &str, outcome: &'static str) -> u64 {
        self.counts
            .lock()
            .map(|m| m.get(&(notifier.to_owned(), outcome)).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

struct Inner {
    queues: BTreeMap<String, VecDeque<Entry>>,
    next_id: u64,
    known: HashSet<String>,
    /// `notifier|fingerprint` of alerts announced firing and not resolved
    /// since, from the queue and the delivery journal.
    open: HashSet<String>,
    journal: Option<std::fs::File>,
}

/// The persisted outbox.
pub struct Outbox {
    dir: PathBuf,
    inner: Mutex<Inner>,
    wakers: Mutex<BTreeMap<String, Arc<Notify>>>,
    pub stats: Arc<DeliveryStats>,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Updates the set of open (announced firing) alerts with a transition key
/// `notifier|fingerprint|state|since...`.
fn track_open(open: &mut HashSet<String>, key: &str) {
    let mut parts = key.splitn(4, '|');
    let (Some(notifier), Some(fp), Some(state)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let id = format!("{notifier}|{fp}");
    match state {
        "firing" => {
            open.insert(id);
        }
        "resolved" => {
            open.remove(&id);
        }
        _ => {}
    }
}

impl Outbox {
    /// Opens (creating) `state_dir/outbox`, loading pending entries and the
    /// keys of recent deliveries.
    pub fn open(state_dir: &Path) -> Result<Outbox, OutboxError> {
        let dir = state_dir.join("outbox");
        let open_err = |source| OutboxError::OpenDirectory {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(open_err)?;
        let mut entries = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(open_err)?.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            {
                Some(entry) => entries.push(entry),
                None => {
                    tracing::warn!(file = %p.display(), "unreadable outbox entry set aside as .corrupt");
                    let _ = std::fs::rename(&p, p.with_extension("corrupt"));
                }
            }
        }
        entries.sort_by_key(|e| e.id);
        let mut known = HashSet::new();
        let mut open = HashSet::new();
        let journal_path = state_dir.join("delivered.log");
        let cutoff = now() - KEY_MEMORY_SECS;
        let mut kept = String::new();
        if let Ok(text) = std::fs::read_to_string(&journal_path) {
            for line in text.lines() {
                if let Some((ts, key)) = line.split_once('\t')
                    && ts.parse::<f64>().is_ok_and(|t| t >= cutoff)
                {
                    known.insert(key.to_owned());
                    track_open(&mut open, key);
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        // Compact the journal to what is still remembered.
        crate::persist::write_atomic(&journal_path, kept.as_bytes()).map_err(open_err)?;
        let journal = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal_path)
            .map_err(open_err)?;
        let mut queues: BTreeMap<String, VecDeque<Entry>> = BTreeMap::new();
        let next_id = entries.iter().map(|e| e.id + 1).max().unwrap_or(1);
        for e in entries {
            for k in &e.keys {
                track_open(&mut open, k);
            }
            known.extend(e.keys.iter().cloned());
            queues.entry(e.notifier.clone()).or_default().push_back(e);
        }
        let pending: usize = queues.values().map(VecDeque::len).sum();
        if pending > 0 {
            tracing::info!(
                pending,
                "outbox has undelivered messages from before the restart"
            );
        }
        Ok(Outbox {
            dir,
            inner: Mutex::new(Inner {
                queues,
                next_id,
                known,
                open,
                journal: Some(journal),
            }),
            wakers: Mutex::new(BTreeMap::new()),
            stats: Arc::new(DeliveryStats::default()),
        })
    }

    fn path_of(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.json"))
    }

    fn waker(&self, notifier: &str) -> Arc<Notify> {
        let mut w = self.wakers.lock().expect("waker lock");
        w.entry(notifier.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Whether the alert was announced firing to `notifier` (queued or
    /// delivered) and not resolved since.
    pub fn is_open(&self, notifier: &str, fingerprint: &str) -> bool {
        let inner = self.inner.lock().expect("outbox lock");
        inner.open.contains(&format!("{notifier}|{fingerprint}"))
    }

    /// Whether every key was already enqueued or delivered.
    pub fn all_known(&self, keys: &[String]) -> bool {
        let inner = self.inner.lock().expect("outbox lock");
        !keys.is_empty() && keys.iter().all(|k| inner.known.contains(k))
    }

    /// Persists and queues a message; `Ok(false)` when all its transitions
    /// were already enqueued or delivered.
    pub fn enqueue(
        &self,
        notifier: &str,
        body: String,
        keys: Vec<String>,
        summary: String,
    ) -> Result<bool, OutboxError> {
        let entry = {
            let mut inner = self.inner.lock().expect("outbox lock");
            if !keys.is_empty() && keys.iter().all(|k| inner.known.contains(k)) {
                return Ok(false);
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let t = now();
            Entry {
                id,
                notifier: notifier.to_owned(),
                created_at: t,
                attempts: 0,
                next_attempt_at: t,
                body,
                keys,
                summary,
            }
        };
        let path = self.path_of(entry.id);
        let bytes = serde_json::to_vec(&entry).expect("entries serialise");
        crate::persist::write_atomic(&path, &bytes)
            .map_err(|source| OutboxError::WriteEntry { path, source })?;
        {
            let mut inner = self.inner.lock().expect("outbox lock");
            for k in &entry.keys {
                track_open(&mut inner.open, k);
            }
            inner.known.extend(entry.keys.iter().cloned());
            inner
                .queues
                .entry(notifier.to_owned())
                .or_default()
                .push_back(entry);
        }
        self.waker(notifier).notify_one();
        Ok(true)
    }

    /// Messages waiting, by notifier.
    pub fn depth(&self) -> BTreeMap<String, usize> {
        let inner = self.inner.lock().expect("outbox lock");
        inner
            .queues
            .iter()
            .map(|(k, q)| (k.clone(), q.len()))
            .collect()
    }

    /// Messages waiting in all queues.
    pub fn pending(&self) -> usize {
        self.depth().values().sum()
    }

    fn front(&self, notifier: &str) -> Option<Entry> {
        let inner = self.inner.lock().expect("outbox lock");
        inner.queues.get(notifier).and_then(|q| q.front().cloned())
    }

    /// Removes the front entry; records its keys when delivered.
    fn finish(&self, notifier: &str, id: u64, delivered: bool) {
        let mut inner = self.inner.lock().expect("outbox lock");
        let Some(q) = inner.queues.get_mut(notifier) else {
            return;
        };
        if q.front().map(|e| e.id) != Some(id) {
            return;
        }
        let entry = q.pop_front().expect("front exists");
        if delivered && let Some(j) = inner.journal.as_mut() {
            let t = now();
            let lines: String = entry
                .keys
                .iter()
                .map(|k| format!("{t:.0}\t{k}\n"))
                .collect();
            if let Err(e) = j.write_all(lines.as_bytes()).and_then(|_| j.sync_data()) {
                tracing::error!("cannot record a delivery in delivered.log: {e}");
            }
        }
        drop(inner);
        if let Err(e) = std::fs::remove_file(self.path_of(id))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!("cannot remove delivered outbox entry {id}: {e}");
        }
    }

    /// Persists a rescheduled front entry.
    fn reschedule(&self, entry: &Entry) {
        let path = self.path_of(entry.id);
        if let Err(e) = crate::persist::write_atomic(
            &path,
            &serde_json::to_vec(entry).expect("entries serialise"),
        ) {
            tracing::error!("cannot update outbox entry {}: {e}", entry.id);
        }
        let mut inner = self.inner.lock().expect("outbox lock");
        if let Some(front) = inner
            .queues
            .get_mut(&entry.notifier)
            .and_then(|q| q.front_mut())
            && front.id == entry.id
        {
            *front = entry.clone();
        }
    }
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

/// Posts to one notifier's endpoint and classifies the answer.
pub struct Sender {
    pub config: NotifierConfig,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(config: NotifierConfig, tuning: &DeliveryTuning) -> Sender {
        let http = reqwest::Client::builder()
            .timeout(tuning.timeout)
            .connect_timeout(tuning.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds");
        Sender { config, http }
    }

    fn url(&self) -> Option<&SecretUrl> {
        match &self.config.kind {
            NotifierKind::Slack { url }
            | NotifierKind::Teams { url, .. }
            | NotifierKind::Webhook { url, .. } => Some(url),
            NotifierKind::Console => None,
        }
    }

    fn gap(&self, t: &DeliveryTuning) -> Duration {
        match self.config.kind {
            NotifierKind::Slack { .. } => t.slack_gap,
            NotifierKind::Teams { .. } => t.teams_gap,
            _ => t.webhook_gap,
        }
    }

    /// Posts `body` once.
    pub async fn post(&self, body: &str) -> Outcome {
        let Some(url) = self.url() else {
            return Outcome::Delivered;
        };
        let mut req = self
            .http
            .post(url.expose())
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let NotifierKind::Webhook {
            secret: Some(secret),
            ..
        } = &self.config.kind
        {
            req = req.header(
                "X-Qoswatch-Signature",
                signature(Secret::expose(secret), body.as_bytes()),
            );
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
                return Outcome::Retry {
                    after: None,
                    reason: format!("{what} ({})", url.redacted()),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let text = match response.text().await {
            Ok(t) => crate::shorten(t.trim(), 300),
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    reason: format!("reading the answer failed: {}", e.without_url()),
                };
            }
        };
        classify(&self.config.kind, status, retry_after, &text)
    }
}

/// Classifies a receiver's answer for a notifier kind.
pub fn classify(
    kind: &NotifierKind,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Outcome {
    let reason = || {
        if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        }
    };
    match (kind, status) {
        (NotifierKind::Slack { .. }, 200) if body == "ok" || body.is_empty() => Outcome::Delivered,
        (NotifierKind::Slack { .. }, 200) => Outcome::Permanent { reason: reason() },
        (
            NotifierKind::Teams {
                message_card: true, ..
            },
            200,
        ) => {
            if body == "1" || body.is_empty() {
                Outcome::Delivered
            } else if body.contains("429")
                || body.contains("HTTP error 5")
                || (500..600).any(|c| body.contains(&c.to_string()))
            {
                Outcome::Retry {
                    after: retry_after,
                    reason: reason(),
                }
            } else {
                Outcome::Permanent { reason: reason() }
            }
        }
        (_, 200..=299) => Outcome::Delivered,
        (_, 408 | 429 | 500..=599) => Outcome::Retry {
            after: retry_after,
            reason: reason(),
        },
        _ => Outcome::Permanent { reason: reason() },
    }
}

/// Sends one notifier's queue until `cancel`.
pub async fn run_worker(
    outbox: Arc<Outbox>,
    sender: Sender,
    tuning: DeliveryTuning,
    cancel: CancellationToken,
) {
    let name = sender.config.name.clone();
    let waker = outbox.waker(&name);
    let gap = sender.gap(&tuning);
    let max_age = sender.config.max_age.as_secs_f64();
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        let Some(mut entry) = outbox.front(&name) else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = waker.notified() => continue,
            }
        };
        let t = now();
        if t - entry.created_at > max_age {
            tracing::error!(notifier = %name, attempts = entry.attempts, "giving up on a message older than max_age ({}): {}", humantime::format_duration(sender.config.max_age), entry.summary);
            outbox.stats.add(&name, "dropped");
            outbox.finish(&name, entry.id, false);
            continue;
        }
        if entry.next_attempt_at > t {
            let wait = Duration::from_secs_f64((entry.next_attempt_at - t).min(3600.0));
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
        match outcome {
            Outcome::Delivered => {
                if entry.attempts > 0 {
                    tracing::info!(notifier = %name, attempts = entry.attempts + 1, "delivered after retrying: {}", entry.summary);
                }
                outbox.stats.add(&name, "delivered");
                outbox.finish(&name, entry.id, true);
            }
            Outcome::Permanent { reason } => {
                tracing::error!(notifier = %name, "the receiver refused a message, not retrying ({reason}): {}", entry.summary);
                outbox.stats.add(&name, "failed");
                outbox.finish(&name, entry.id, false);
            }
            Outcome::Retry { after, reason } => {
                entry.attempts += 1;
                let exp = tuning
                    .base_backoff
                    .saturating_mul(1 << entry.attempts.min(16))
                    .min(tuning.max_backoff);
                let jitter = Duration::from_secs_f64(rand::random_range(0.0..=exp.as_secs_f64()));
                // Full jitter, but never sooner than the receiver asked.
                let wait = match after {
                    Some(a) => a.max(jitter.min(tuning.base_backoff)),
                    None => jitter.max(tuning.base_backoff / 4),
                };
                entry.next_attempt_at = now() + wait.as_secs_f64();
                tracing::warn!(notifier = %name, attempt = entry.attempts, retry_in_ms = wait.as_millis() as u64, "delivery failed, will retry ({reason})");
                outbox.stats.add(&name, "retried");
                outbox.reschedule(&entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_per_channel() {
        let url = SecretUrl::new("https://x");
        let slack = NotifierKind::Slack { url: url.clone() };
        let teams = NotifierKind::Teams {
            url: url.clone(),
            message_card: false,
        };
        let card = NotifierKind::Teams {
            url: url.clone(),
            message_card: true,
        };
        assert_eq!(classify(&slack, 200, None, "ok"), Outcome::Delivered);
        assert!(matches!(
            classify(&slack, 429, Some(Duration::from_secs(2)), ""),
            Outcome::Retry { after: Some(_), .. }
        ));
        assert!(
            matches!(classify(&slack, 400, None, "invalid_payload"), Outcome::Permanent { reason } if reason.contains("invalid_payload"))
        );
        assert!(matches!(
            classify(&slack, 404, None, "channel_not_found"),
            Outcome::Permanent { .. }
        ));
        assert!(matches!(
            classify(&slack, 503, None, ""),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(&slack, 408, None, ""),
            Outcome::Retry { .. }
        ));
        assert_eq!(classify(&teams, 202, None, ""), Outcome::Delivered);
        assert_eq!(classify(&card, 200, None, "1"), Outcome::Delivered);
        assert!(matches!(
            classify(
                &card,
                200,
                None,
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429"
            ),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(&card, 200, None, "Summary or Text is required."),
            Outcome::Permanent { .. }
        ));
    }

    #[tokio::test]
    async fn entries_survive_reopening_and_known_keys_are_not_requeued() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        assert!(
            outbox
                .enqueue("slack", "{}".into(), vec!["k1".into()], "s".into())
                .unwrap()
        );
        assert!(
            !outbox
                .enqueue("slack", "{}".into(), vec!["k1".into()], "s".into())
                .unwrap()
        );
        assert!(
            outbox
                .enqueue("slack", "{}".into(), vec!["k2".into()], "s".into())
                .unwrap()
        );
        let first = outbox.front("slack").unwrap();
        outbox.finish("slack", first.id, true);
        drop(outbox);
        let reopened = Outbox::open(dir.path()).unwrap();
        assert_eq!(reopened.pending(), 1);
        assert_eq!(reopened.front("slack").unwrap().keys, ["k2"]);
        assert!(
            reopened.all_known(&["k1".into()]),
            "delivered keys are remembered"
        );
        assert!(
            !reopened
                .enqueue("slack", "{}".into(), vec!["k1".into()], "s".into())
                .unwrap()
        );
    }
}
