//! The service: the composition root. It builds the stages from the config
//! and wires them, left to right:
//!
//! ```text
//! source (sources.rs) -> Pipeline: engine -> dispatcher (notify::dispatch)
//!                                         -> outbox -> delivery workers
//! ```
//!
//! `run` and `once` share one start and one stop; what differs is how the
//! source runs (until cancelled, or one cycle). Reloads, saved state, source
//! health and the published status each have a file here. Signals are not
//! handled here: `main.rs` turns them into the cancellation token and the
//! reload requests it hands in.

mod health;
mod pipeline;
mod reload;
mod sources;
mod state;
mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use pipeline::Pipeline;
pub use reload::Reload;

use crate::config::{Config, EnvMode};
use crate::metrics::Metrics;
use crate::notify::delivery::{DeliveryTuning, ReceiverHealth, Sender, run_worker};
use crate::notify::dispatch::{DeliveryMode, Dispatcher};
use crate::notify::outbox::{Outbox, OutboxError};
use crate::rules::load_paths;
use crate::silence::SharedSilences;
use crate::source::SourceEvent;
use crate::source::poller::PollerTuning;
use crate::zoom::client::RetryPolicy;

/// Why the service could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("{0}")]
    LoadConfig(crate::yaml::Diagnostics),
    #[error("{0}")]
    LoadRules(crate::yaml::Diagnostics),
    #[error("{0}")]
    Replay(#[from] crate::source::replay::ReplayError),
    #[error("{0}")]
    Zoom(#[from] crate::zoom::client::ZoomError),
    #[error("{0}")]
    Outbox(#[from] OutboxError),
    #[error("cannot listen on {addr} (http.listen): {source}")]
    BindHttp {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} (zoom.webhook.listen): {source}")]
    BindEvents {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use state_dir {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state_dir {path} is in use by another qoswatch{holder}; stop it or give this one its own state_dir"
    )]
    StateDirLocked { path: PathBuf, holder: String },
}

/// Knobs the binary leaves at their defaults and tests shrink.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub tuning: PollerTuning,
    pub retry: RetryPolicy,
    pub delivery: DeliveryTuning,
}

/// How a started service delivers and keeps state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `run`: delivers; keeps alert state unless replaying a recording
    /// (which is played from its start).
    Run,
    /// `once`: delivers and keeps state.
    Once,
    /// `once --dry-run`: prints, writes nothing.
    DryRun,
}

/// The delivery workers and their outbox.
struct Delivery {
    outbox: Arc<Outbox>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    cancel: CancellationToken,
}

/// A started service: everything but its source.
struct Started {
    /// Held until the process ends: one process per `state_dir`.
    _lock: Option<std::fs::File>,
    pipeline: Pipeline,
    metrics: Metrics,
    delivery: Option<Delivery>,
    keep_state: bool,
}

/// Loads config and rules, opens the outbox and starts its workers (unless
/// dry), and restores the alert state.
fn start(config_path: &Path, options: &RunOptions, mode: Mode) -> Result<Started, ServiceError> {
    let config = Config::load(config_path, EnvMode::Strict).map_err(ServiceError::LoadConfig)?;
    let rules = load_paths(&config.rules).map_err(ServiceError::LoadRules)?;
    config
        .check_labels(&rules)
        .map_err(ServiceError::LoadConfig)?;
    tracing::info!(rules = rules.rules.len(), config = %config_path.display(), "loaded rules");
    let metrics = Metrics::new();
    let mut lock = None;
    let (delivery_mode, delivery) = match mode {
        Mode::DryRun => (DeliveryMode::DryRun, None),
        Mode::Run | Mode::Once => {
            lock = Some(lock_state_dir(&config.state_dir)?);
            let outbox = Arc::new(Outbox::open(&config.state_dir, metrics.delivery.clone())?);
            (DeliveryMode::Outbox(outbox.clone()), Some(outbox))
        }
    };
    // Silences (SPEC 13) come back from state_dir; a dry run writes none.
    let silences = Arc::new(SharedSilences::load(
        &config.state_dir,
        mode != Mode::DryRun,
    ));
    silences.set_labels(crate::silence::rule_labels(&rules));
    let dispatcher = Dispatcher::new(&config, delivery_mode)
        .with_silences(silences.clone())
        .with_metrics(&metrics.delivery);
    let receivers = Arc::new(ReceiverHealth::default());
    let delivery = delivery.map(|outbox| {
        let cancel = CancellationToken::new();
        let workers = dispatcher
            .remote()
            .map(|n| {
                tokio::spawn(run_worker(
                    outbox.clone(),
                    Sender::new(n.config.clone(), &options.delivery),
                    options.delivery.clone(),
                    receivers.clone(),
                    cancel.clone(),
                ))
            })
            .collect();
        Delivery {
            outbox,
            workers,
            cancel,
        }
    });
    let keep_state = match mode {
        Mode::Run => !config.source.is_replay(),
        Mode::Once => true,
        Mode::DryRun => false,
    };
    let restore = keep_state || mode == Mode::DryRun;
    // `hold` waits on the wall clock for an incident to form: only a
    // running service polling live meetings has one to wait on (a replay
    // or `once` would end before the wait does).
    let holds = mode == Mode::Run && !config.source.is_replay();
    let mut pipeline = Pipeline::new(config, rules, dispatcher, metrics.service.clone());
    pipeline.holds = holds;
    if delivery.is_some() {
        pipeline.watch_notifiers(receivers, options.delivery.failing_after);
    }
    if restore {
        pipeline.load_state();
    }
    Ok(Started {
        _lock: lock,
        pipeline,
        metrics,
        delivery,
        keep_state,
    })
}

/// Takes `state_dir/lock` for this process (released when it exits, even by
/// kill -9) and writes its pid there for the next one's message.
fn lock_state_dir(dir: &Path) -> Result<std::fs::File, ServiceError> {
    let fail = |source| ServiceError::StateDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let path = dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(fail)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .map_or_else(String::new, |pid| format!(" (pid {pid})"));
            return Err(ServiceError::StateDirLocked {
                path: dir.to_owned(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
    }
    use std::io::{Seek, Write};
    let pid = std::process::id();
    let written = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{pid}"))
        .and_then(|_| file.flush());
    if let Err(e) = written {
        tracing::warn!(file = %path.display(), "cannot record the pid in the lock file: {e}");
    }
    Ok(file)
}

/// Saves state, flushes deliveries for up to 10 s (what is left stays in
/// the outbox) and stops the workers. Returns whether everything was sent.
async fn stop(mut started: Started) -> bool {
    if started.keep_state {
        started.pipeline.save_state();
    }
    let Some(delivery) = started.delivery else {
        return true;
    };
    let flushed = flush(&delivery.outbox, Duration::from_secs(10)).await;
    delivery.cancel.cancel();
    for w in delivery.workers {
        let _ = w.await;
    }
    flushed
}

/// Waits up to `limit` for the outbox to empty.
async fn flush(outbox: &Outbox, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while outbox.pending() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = outbox.pending();
    if left > 0 {
        tracing::warn!(
            pending = left,
            "stopping with undelivered messages; they are kept in the outbox and sent after the restart"
        );
    }
    left == 0
}

/// `qoswatch run`: until `cancel` (or the end of a replay). `reloads`
/// brings SIGHUP's requests; rule files are watched here.
pub async fn run(
    config_path: PathBuf,
    options: RunOptions,
    cancel: CancellationToken,
    mut reloads: mpsc::Receiver<Reload>,
) -> Result<(), ServiceError> {
    let mut started = start(&config_path, &options, Mode::Run)?;
    let config = started.pipeline.config().clone();
    let built = sources::build(
        &config,
        &options,
        &started.metrics,
        sources::BuildFor {
            keep_state: started.keep_state,
            events: true,
        },
    )?;
    let source = built.source;
    if let Some(steer) = built.steer {
        started.pipeline.steer_poller(steer);
    }
    let http_cancel = CancellationToken::new();
    let http = status::serve(
        &config,
        &started.metrics,
        &source.cadence(),
        started.pipeline.engine().rules().len(),
        started
            .pipeline
            .dispatcher
            .silences()
            .map(|s| s.silences().clone()),
        http_cancel.clone(),
    )
    .await?;
    started.pipeline.serve_status(http);

    let (tx, mut rx) = mpsc::channel::<SourceEvent>(256);
    let source_cancel = cancel.child_token();
    let source_task = tokio::spawn(source.run(tx, source_cancel.clone()));

    let (watch_tx, mut watch_rx) = mpsc::channel::<Reload>(8);
    let mut watcher = reload::RuleWatcher::new(&config.rules, watch_tx.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_save = tokio::time::Instant::now();
    let mut ticks: u64 = 0;
    let pipeline = &mut started.pipeline;
    loop {
        let what = tokio::select! {
            _ = cancel.cancelled() => break,
            event = rx.recv() => {
                let Some(event) = event else { break };
                if pipeline.on_source_event(event) {
                    continue;
                }
                break;
            }
            Some(what) = reloads.recv() => what,
            Some(what) = watch_rx.recv() => what,
            _ = tick.tick() => {
                ticks += 1;
                pipeline.tick(std::time::Instant::now(), ticks.is_multiple_of(10));
                if pipeline.save_due(last_save.elapsed()) && started.keep_state {
                    pipeline.save_state();
                    last_save = tokio::time::Instant::now();
                }
                continue;
            }
        };
        let events = pipeline.reload(what, pipeline::now_ts());
        if pipeline.config().rules != watcher.paths() {
            watcher = reload::RuleWatcher::new(&pipeline.config().rules.clone(), watch_tx.clone());
        }
        pipeline.deliver(&events);
    }
    source_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), source_task).await;
    stop(started).await;
    http_cancel.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// `qoswatch once`: one cycle; with `dry_run`, prints the payloads that
/// would be posted and writes nothing. Returns whether every poll
/// succeeded and every message was delivered.
pub async fn once(
    config_path: PathBuf,
    dry_run: bool,
    options: RunOptions,
) -> Result<bool, ServiceError> {
    let mode = if dry_run { Mode::DryRun } else { Mode::Once };
    let mut started = start(&config_path, &options, mode)?;
    let source = sources::build(
        started.pipeline.config(),
        &options,
        &started.metrics,
        sources::BuildFor {
            keep_state: started.keep_state,
            events: false,
        },
    )?
    .source;
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(256);
    let source_task = tokio::spawn(source.run_once(tx));
    let mut ok = true;
    while let Some(event) = rx.recv().await {
        match event {
            SourceEvent::Failed { error, .. } => {
                tracing::error!("{error}");
                ok = false;
            }
            SourceEvent::Healthy | SourceEvent::Finished => {}
            event @ (SourceEvent::Batch(_) | SourceEvent::ParticipantLeft { .. }) => {
                started.pipeline.on_source_event(event);
            }
        }
    }
    let _ = source_task.await;
    if dry_run && started.pipeline.messages() == 0 {
        println!("nothing to send: no alert changed state");
    }
    ok &= stop(started).await;
    Ok(ok)
}
