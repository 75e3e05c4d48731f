//! The persisted outbox: one queue per notifier, each message a file under
//! `state_dir/outbox/` written atomically before anything is sent, so it
//! survives kill -9. Delivered transition keys go to `delivered.log`, so a
//! restart that re-evaluates the same samples queues nothing twice.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::metrics::DeliveryMetrics;

/// How long delivered keys are remembered.
const KEY_MEMORY_SECS: f64 = 2.0 * 86_400.0;

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
    #[error("cannot use the delivery journal {path}: {source}")]
    OpenJournal {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the outbox entry {path}: {source}")]
    WriteEntry {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct Inner {
    queues: BTreeMap<String, VecDeque<Entry>>,
    next_id: u64,
    known: HashSet<String>,
    /// `notifier|fingerprint` of alerts announced firing and not resolved
    /// since, from the queue and the delivery journal.
    open: HashSet<String>,
    journal: Option<std::fs::File>,
    /// Entries queued in memory whose file could not be written yet.
    unwritten: std::collections::BTreeSet<u64>,
    /// Why the last write failed, while any entry is unwritten.
    write_error: Option<String>,
}

/// The persisted outbox.
pub struct Outbox {
    dir: PathBuf,
    inner: Mutex<Inner>,
    wakers: Mutex<BTreeMap<String, Arc<Notify>>>,
    metrics: DeliveryMetrics,
}

/// Unix time in seconds.
pub(crate) fn now() -> f64 {
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
    pub fn open(state_dir: &Path, metrics: DeliveryMetrics) -> Result<Outbox, OutboxError> {
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
        let journal_err = |source| OutboxError::OpenJournal {
            path: journal_path.clone(),
            source,
        };
        crate::persist::write_atomic(&journal_path, kept.as_bytes()).map_err(journal_err)?;
        let journal = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal_path)
            .map_err(journal_err)?;
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
        for (notifier, q) in &queues {
            metrics
                .outbox
                .with_label_values(&[notifier.as_str()])
                .set(q.len() as i64);
        }
        Ok(Outbox {
            dir,
            inner: Mutex::new(Inner {
                queues,
                next_id,
                known,
                open,
                journal: Some(journal),
                unwritten: Default::default(),
                write_error: None,
            }),
            wakers: Mutex::new(BTreeMap::new()),
            metrics,
        })
    }

    fn path_of(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.json"))
    }

    pub(crate) fn waker(&self, notifier: &str) -> Arc<Notify> {
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

    /// Whether a transition key was already queued or delivered.
    pub fn is_known(&self, key: &str) -> bool {
        let inner = self.inner.lock().expect("outbox lock");
        inner.known.contains(key)
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
        // A write that fails (disk full, no file descriptors left) must not
        // lose the message: it is queued in memory, sent, and its write
        // retried (`retry_writes`); `write_error` tells the service to raise
        // an alert meanwhile.
        let written = crate::persist::write_atomic(&path, &bytes)
            .map_err(|source| OutboxError::WriteEntry { path, source });
        {
            let mut inner = self.inner.lock().expect("outbox lock");
            if let Err(e) = &written {
                tracing::error!(
                    notifier,
                    "{e}; the message is kept in memory and the write retried"
                );
                inner.unwritten.insert(entry.id);
                inner.write_error = Some(e.to_string());
            }
            for k in &entry.keys {
                track_open(&mut inner.open, k);
            }
            inner.known.extend(entry.keys.iter().cloned());
            inner
                .queues
                .entry(notifier.to_owned())
                .or_default()
                .push_back(entry);
            self.publish_depth(&inner, notifier);
        }
        self.waker(notifier).notify_one();
        Ok(true)
    }

    fn publish_depth(&self, inner: &Inner, notifier: &str) {
        let depth = inner.queues.get(notifier).map_or(0, VecDeque::len);
        self.metrics
            .outbox
            .with_label_values(&[notifier])
            .set(depth as i64);
    }

    /// Counts an outcome (delivered, retried, failed, dropped) for `notifier`.
    pub fn count_outcome(&self, notifier: &str, outcome: &'static str) {
        self.metrics
            .notifications
            .with_label_values(&[notifier, outcome])
            .inc();
    }

    /// How many messages to `notifier` had `outcome` so far.
    pub fn outcomes(&self, notifier: &str, outcome: &str) -> u64 {
        self.metrics
            .notifications
            .with_label_values(&[notifier, outcome])
            .get()
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
    /// When the oldest message waiting for `notifier` was queued (unix
    /// seconds), if any waits.
    pub fn oldest_waiting(&self, notifier: &str) -> Option<f64> {
        let inner = self.inner.lock().expect("outbox lock");
        inner
            .queues
            .get(notifier)?
            .iter()
            .map(|e| e.created_at)
            .min_by(f64::total_cmp)
    }

    pub fn pending(&self) -> usize {
        self.depth().values().sum()
    }

    pub(crate) fn front(&self, notifier: &str) -> Option<Entry> {
        let inner = self.inner.lock().expect("outbox lock");
        inner.queues.get(notifier).and_then(|q| q.front().cloned())
    }

    /// Removes the front entry; records its keys when delivered.
    pub(crate) fn finish(&self, notifier: &str, id: u64, delivered: bool) {
        let mut inner = self.inner.lock().expect("outbox lock");
        let Some(q) = inner.queues.get_mut(notifier) else {
            return;
        };
        if q.front().map(|e| e.id) != Some(id) {
            return;
        }
        let entry = q.pop_front().expect("front exists");
        self.publish_depth(&inner, notifier);
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

    /// Removes and returns every entry of `notifier` older than `max_age`
    /// seconds at `now`.
    pub(crate) fn expire(&self, notifier: &str, max_age: f64, now: f64) -> Vec<Entry> {
        let mut inner = self.inner.lock().expect("outbox lock");
        let Some(q) = inner.queues.get_mut(notifier) else {
            return Vec::new();
        };
        if !q.iter().any(|e| now - e.created_at > max_age) {
            return Vec::new();
        }
        let (expired, kept): (VecDeque<Entry>, VecDeque<Entry>) =
            q.drain(..).partition(|e| now - e.created_at > max_age);
        *q = kept;
        self.publish_depth(&inner, notifier);
        drop(inner);
        for e in &expired {
            if let Err(err) = std::fs::remove_file(self.path_of(e.id))
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!("cannot remove expired outbox entry {}: {err}", e.id);
            }
        }
        expired.into()
    }

    /// Writes the entries that could not be written before; returns
    /// whether every queued entry is now on disk.
    pub fn retry_writes(&self) -> bool {
        let pending: Vec<Entry> = {
            let inner = self.inner.lock().expect("outbox lock");
            if inner.unwritten.is_empty() {
                return true;
            }
            inner
                .queues
                .values()
                .flatten()
                .filter(|e| inner.unwritten.contains(&e.id))
                .cloned()
                .collect()
        };
        let mut inner_errors = Vec::new();
        let mut written = Vec::new();
        for e in &pending {
            let path = self.path_of(e.id);
            match crate::persist::write_atomic(
                &path,
                &serde_json::to_vec(e).expect("entries serialise"),
            ) {
                Ok(()) => written.push(e.id),
                Err(source) => {
                    inner_errors.push(OutboxError::WriteEntry { path, source }.to_string())
                }
            }
        }
        let mut inner = self.inner.lock().expect("outbox lock");
        let still_queued: std::collections::BTreeSet<u64> =
            inner.queues.values().flatten().map(|e| e.id).collect();
        inner
            .unwritten
            .retain(|id| !written.contains(id) && still_queued.contains(id));
        if inner.unwritten.is_empty() {
            if inner.write_error.take().is_some() {
                tracing::info!("outbox entries written again");
            }
            true
        } else {
            if let Some(e) = inner_errors.pop() {
                inner.write_error = Some(e);
            }
            false
        }
    }

    /// Why writing the outbox fails, while some message lives only in memory.
    pub fn write_error(&self) -> Option<String> {
        let inner = self.inner.lock().expect("outbox lock");
        if inner.unwritten.is_empty() {
            None
        } else {
            inner.write_error.clone()
        }
    }

    /// Persists a rescheduled front entry.
    pub(crate) fn reschedule(&self, entry: &Entry) {
        let path = self.path_of(entry.id);
        if let Err(e) = crate::persist::write_atomic(
            &path,
            &serde_json::to_vec(entry).expect("entries serialise"),
        ) {
            tracing::error!(
                "cannot update the outbox entry {}: {e}; kept in memory",
                path.display()
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_that_failed() {
        // Before: a delivered.log that is a directory was blamed on the
        // outbox directory.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("delivered.log")).unwrap();
        let e = Outbox::open(dir.path(), DeliveryMetrics::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("delivery journal") && e.contains("delivered.log"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_message_and_is_retried() {
        // Before: a write that failed (too many open files, disk full)
        // dropped the notification for good.
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap();
        let entries = dir.path().join("outbox");
        std::fs::remove_dir_all(&entries).unwrap();
        std::fs::write(&entries, b"not a directory").unwrap();
        assert!(
            outbox
                .enqueue("slack", "{}".into(), vec!["k1".into()], "s".into())
                .unwrap()
        );
        assert_eq!(outbox.pending(), 1, "queued in memory");
        assert!(outbox.write_error().unwrap().contains("outbox"));
        assert!(!outbox.retry_writes(), "the disk still refuses");
        std::fs::remove_file(&entries).unwrap();
        std::fs::create_dir(&entries).unwrap();
        assert!(outbox.retry_writes());
        assert!(outbox.write_error().is_none());
        drop(outbox);
        let reopened = Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap();
        assert_eq!(reopened.pending(), 1, "and on disk now");
    }

    #[tokio::test]
    async fn entries_survive_reopening_and_known_keys_are_not_requeued() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = DeliveryMetrics::default();
        let outbox = Outbox::open(dir.path(), metrics.clone()).unwrap();
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
        assert_eq!(metrics.outbox.with_label_values(&["slack"]).get(), 2);
        let first = outbox.front("slack").unwrap();
        outbox.finish("slack", first.id, true);
        assert_eq!(metrics.outbox.with_label_values(&["slack"]).get(), 1);
        drop(outbox);
        let reopened = Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap();
        assert_eq!(reopened.pending(), 1);
        assert_eq!(reopened.front("slack").unwrap().keys, ["k2"]);
        assert!(
            !reopened
                .enqueue("slack", "{}".into(), vec!["k1".into()], "s".into())
                .unwrap(),
            "delivered keys are remembered"
        );
    }
}
