//! The replay source: recorded Zoom QoS responses played in file-name order,
//! as fast as possible. Each file is one poll of one meeting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::qos::{MeetingInfo, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::source::{Batch, Source, SourceEvent, SourceTask};
use crate::zoom::api::parse_qos_response;

/// Why a recording could not be played.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("cannot list replay directory {path}: {source}")]
    ListDirectory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    ParseFile { path: PathBuf, message: String },
}

/// The `*.json` files of a replay directory, by name; a file stands for itself.
pub fn replay_files(path: &Path) -> Result<Vec<PathBuf>, ReplayError> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    json_files(path).map_err(|source| ReplayError::ListDirectory {
        path: path.to_owned(),
        source,
    })
}

/// The `*.json` files directly inside `dir` (dot-files skipped), by name.
pub fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name.ends_with(".json") && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Recorded responses played in file-name order, as fast as they can be
/// read; a file that cannot be read is reported and skipped.
pub struct Replay {
    files: Vec<PathBuf>,
}

impl Replay {
    /// The recording in `path` (a directory of `*.json` files, or one file).
    pub fn open(path: &Path) -> Result<Replay, ReplayError> {
        let files = replay_files(path)?;
        tracing::info!(files = files.len(), dir = %path.display(), "replaying recorded samples");
        Ok(Replay { files })
    }

    async fn play(self, tx: mpsc::Sender<SourceEvent>, cancel: CancellationToken) {
        for file in self.files {
            if cancel.is_cancelled() {
                return;
            }
            let event = match read_batch(&file) {
                Ok(b) => SourceEvent::Batch(b),
                Err(e) => SourceEvent::Failed {
                    error: e.to_string(),
                    since: chrono::Utc::now().timestamp() as f64,
                },
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
        let _ = tx.send(SourceEvent::Finished).await;
    }
}

impl Source for Replay {
    fn cadence(&self) -> String {
        "replay".into()
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> SourceTask {
        Box::pin(self.play(tx, cancel))
    }

    fn run_once(self: Box<Self>, tx: mpsc::Sender<SourceEvent>) -> SourceTask {
        Box::pin(self.play(tx, CancellationToken::new()))
    }
}

/// Reads one recorded response into a batch. The meeting is the one the file
/// names (`meeting_id` / `meeting_uuid` / `topic` beside Zoom's fields), else
/// the file's parent directory name.
pub fn read_batch(path: &Path) -> Result<Batch, ReplayError> {
    let body = std::fs::read(path).map_err(|source| ReplayError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let response = parse_qos_response(&body).map_err(|e| ReplayError::ParseFile {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    for w in &response.warnings {
        tracing::warn!(file = %path.display(), "unreadable value, taken as no data: {w}");
    }
    let mut meeting = response.meeting;
    if meeting.key().is_none() {
        let dir = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("replay");
        meeting = MeetingInfo {
            id: Some(Arc::from(dir)),
            ..meeting
        };
    }
    let at = response
        .participants
        .iter()
        .flat_map(|p| p.samples.iter().map(|s| s.at))
        .max()
        .unwrap_or(Timestamp(0));
    Ok(Batch {
        meeting,
        participants: response.participants,
        complete: false,
        ended: false,
        at,
    })
}
