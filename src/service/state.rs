//! Alert state kept across restarts: `state_dir/alerts.json`, the engine's
//! snapshot and when each firing alert was last notified, written
//! atomically. A restart neither re-announces nor forgets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alert::lifecycle::Snapshot;
use crate::incident::IncidentSnapshot;
use crate::notify::inhibit::HeldSnapshot;

/// What `state_dir/alerts.json` holds.
#[derive(Serialize, Deserialize, Default)]
pub struct SavedState {
    pub version: u32,
    pub engine: Snapshot,
    /// When each firing alert was last notified (unix seconds), for reminders.
    pub notified: BTreeMap<String, i64>,
    /// Firings held back by rule inhibition (absent in older files).
    #[serde(default)]
    pub held: Vec<HeldSnapshot>,
    /// Open incidents and their members (absent in older files).
    #[serde(default)]
    pub incidents: IncidentSnapshot,
    /// The notifiers each firing alert's firing went to, by fingerprint
    /// (empty: dropped by time intervals everywhere), so its resolution
    /// goes there after a restart too (absent in older files).
    #[serde(default)]
    pub sent_to: BTreeMap<String, Vec<String>>,
    /// The firing alerts whose firing time intervals dropped on every
    /// notifier (`muted` on `/api/alerts`; absent in older files).
    #[serde(default)]
    pub muted: Vec<String>,
    /// Firings held back by silences, never sent (absent in older files).
    #[serde(default)]
    pub silenced: Vec<HeldSnapshot>,
}

/// Where the state lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("alerts.json")
}

/// The saved state, if there is a readable one; an unreadable file is
/// reported and ignored (a fresh start beats no start).
pub fn load(state_dir: &Path) -> Option<SavedState> {
    let path = path(state_dir);
    let bytes = std::fs::read(&path).ok()?;
    match serde_json::from_slice::<SavedState>(&bytes) {
        Ok(saved) => Some(saved),
        Err(e) => {
            tracing::error!(file = %path.display(), "unreadable alert state, starting fresh: {e}");
            None
        }
    }
}

/// Saves the state atomically.
pub fn save(state_dir: &Path, state: &SavedState) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    crate::persist::write_atomic(
        &path(state_dir),
        &serde_json::to_vec(state).expect("state serialises"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_none());
        let mut notified = BTreeMap::new();
        notified.insert("fp".to_owned(), 42);
        save(
            dir.path(),
            &SavedState {
                version: 1,
                engine: Snapshot::default(),
                notified,
                held: Vec::new(),
                incidents: Default::default(),
                sent_to: BTreeMap::new(),
                muted: Vec::new(),
                silenced: Vec::new(),
            },
        )
        .unwrap();
        assert_eq!(load(dir.path()).unwrap().notified["fp"], 42);
        std::fs::write(path(dir.path()), b"{not json").unwrap();
        assert!(load(dir.path()).is_none());
    }
}
