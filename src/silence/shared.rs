//! The silences as the running service shares them: the HTTP API adds and
//! expires, the pipeline asks what is silenced and tells of meetings seen
//! and ended. Every change is saved to `state_dir/silences.json` (written
//! atomically, so kill -9 leaves the last whole version) before it is
//! acknowledged; a change that cannot be saved is not made.
//!
//! The wall clock is still passed in by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::wire::{Stored, StoredFile};
use super::{NewSilence, Silence, SilenceJson, SilenceState, Silences, UnknownSilence};
use crate::qos::MeetingInfo;

/// Why a change to the silences failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SilenceError {
    #[error("no silence has id `{0}`")]
    Unknown(String),
    #[error("cannot save the silences to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The store and where it is kept.
pub struct SharedSilences {
    store: Mutex<Silences>,
    /// `state_dir/silences.json`; `None`: kept in memory only (a dry run).
    path: Option<PathBuf>,
    /// The loaded rules' labels: matcher keys besides the attributes.
    labels: Mutex<Vec<String>>,
}

/// Where the silences live.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("silences.json")
}

impl SharedSilences {
    /// The silences saved under `state_dir` (none when there is no file; an
    /// unreadable file or silence is reported and skipped); with `persist`,
    /// changes are saved there.
    pub fn load(state_dir: &Path, persist: bool) -> SharedSilences {
        let file = path(state_dir);
        let mut list = Vec::new();
        if let Ok(bytes) = std::fs::read(&file) {
            match serde_json::from_slice::<StoredFile>(&bytes) {
                Ok(saved) => {
                    for s in saved.silences {
                        match s.into_silence() {
                            Ok(s) => list.push(s),
                            Err(e) => {
                                tracing::error!(file = %file.display(), "skipping a saved silence: {e}")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(file = %file.display(), "unreadable silences, starting without: {e}")
                }
            }
        }
        if !list.is_empty() {
            tracing::info!(silences = list.len(), "restored silences");
        }
        SharedSilences {
            store: Mutex::new(Silences::new(list)),
            path: persist.then_some(file),
            labels: Mutex::new(Vec::new()),
        }
    }

    /// In memory only, starting with `silences` (tests).
    pub fn in_memory(silences: Silences) -> SharedSilences {
        SharedSilences {
            store: Mutex::new(silences),
            path: None,
            labels: Mutex::new(Vec::new()),
        }
    }

    /// The loaded rules' labels (at start and after each reload).
    pub fn set_labels(&self, labels: Vec<String>) {
        *self.labels.lock().expect("labels lock") = labels;
    }

    pub fn labels(&self) -> Vec<String> {
        self.labels.lock().expect("labels lock").clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Silences> {
        self.store.lock().expect("silences lock")
    }

    /// Applies `change` to a copy, saves the copy, and keeps it only when
    /// saved.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Silences) -> Result<T, SilenceError>,
    ) -> Result<T, SilenceError> {
        let mut store = self.lock();
        let mut next = store.clone();
        let out = change(&mut next)?;
        if next != *store {
            self.save(&next)?;
            *store = next;
        }
        Ok(out)
    }

    fn save(&self, silences: &Silences) -> Result<(), SilenceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = StoredFile {
            version: 1,
            silences: silences.all().iter().map(Stored::of).collect(),
        };
        let fail = |source| SilenceError::Save {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        crate::persist::write_atomic(
            path,
            &serde_json::to_vec_pretty(&file).expect("silences serialise"),
        )
        .map_err(fail)
    }

    /// Adds a checked silence as `id` at `now`; returns it as shown.
    pub fn add(&self, new: NewSilence, id: String, now: i64) -> Result<SilenceJson, SilenceError> {
        self.change(|s| Ok(SilenceJson::of(s.add(new, id, now), now)))
    }

    /// Ends a silence now.
    pub fn expire(&self, id: &str, now: i64) -> Result<(), SilenceError> {
        self.change(|s| {
            s.expire(id, now)
                .map_err(|UnknownSilence| SilenceError::Unknown(id.to_owned()))
        })
    }

    /// Every silence as shown at `now`, newest first.
    pub fn list(&self, now: i64) -> Vec<SilenceJson> {
        let store = self.lock();
        let mut list: Vec<SilenceJson> = store
            .all()
            .iter()
            .map(|s| SilenceJson::of(s, now))
            .collect();
        list.reverse();
        list
    }

    /// Whether there is no silence at all (nothing to judge).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// One silence as stored.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.lock().get(id).cloned()
    }

    /// The active silences matching an alert (see [`Silences::silencing`]).
    pub fn silencing<'a>(&self, values: impl Fn(&str) -> Vec<&'a str>, now: i64) -> Vec<String> {
        let store = self.lock();
        if store.is_empty() {
            return Vec::new();
        }
        store.silencing(values, now)
    }

    /// Each silence's state at `now`.
    pub fn states(&self, now: i64) -> BTreeMap<String, SilenceState> {
        self.lock().states(now)
    }

    /// Applies what the pipeline saw (it holds whether or not it can be
    /// saved: a meeting that ended has ended), then saves.
    fn observe(&self, change: impl FnOnce(&mut Silences) -> bool) {
        let mut store = self.lock();
        if store.is_empty() || !change(&mut store) {
            return;
        }
        if let Err(e) = self.save(&store) {
            tracing::error!("{e}");
        }
    }

    /// Tells the `until: meeting_end` silences of a batch: `ended` or seen.
    pub fn meeting(&self, meeting: &MeetingInfo, ended: bool, now: i64) {
        self.observe(|s| {
            if ended {
                s.meeting_ended(meeting, now)
            } else {
                s.meeting_seen(meeting, now)
            }
        });
    }

    /// Drops what expired more than 24 h ago.
    pub fn drop_old(&self, now: i64) {
        self.observe(|s| s.drop_old(now));
    }
}
