//! The source the config names, built: the Zoom poller (with Zoom's event
//! receiver beside it when `zoom.webhook` or `zoom.websocket` is set) or a
//! replay.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{RunOptions, ServiceError};
use crate::config::{Config, SourceConfig};
use crate::metrics::Metrics;
use crate::source::events::EventSource;
use crate::source::poller::{Poller, PollerCommand};
use crate::source::replay::Replay;
use crate::source::{Many, Source};
use crate::zoom::client::ZoomClient;

/// The built source, and the poller's command channel when the pipeline
/// should steer it (the quiet cadence needs to hear which meetings have
/// alerts pending or firing).
pub struct Built {
    pub source: Box<dyn Source>,
    pub steer: Option<mpsc::Sender<PollerCommand>>,
}

/// How the source is to run.
#[derive(Clone, Copy, Debug)]
pub struct BuildFor {
    /// The Zoom client keeps the day's request count, and the poller the
    /// meetings learned from events, in `state_dir`.
    pub keep_state: bool,
    /// Zoom's events are received (`run`; `once` takes none).
    pub events: bool,
}

/// Builds the configured source with its metric handles.
pub fn build(
    config: &Config,
    options: &RunOptions,
    metrics: &Metrics,
    mode: BuildFor,
) -> Result<Built, ServiceError> {
    let zoom = match &config.source {
        SourceConfig::Replay(path) => {
            return Ok(Built {
                source: Box::new(Replay::open(path)?),
                steer: None,
            });
        }
        SourceConfig::Zoom(zoom) => zoom,
    };
    let mut client = ZoomClient::new(zoom, options.retry.clone(), metrics.zoom.clone())?;
    if mode.keep_state {
        client = client.with_budget_file(&config.state_dir);
    }
    let client = Arc::new(client);
    let poller = Poller::new(
        client.clone(),
        config.poll.clone(),
        options.tuning.clone(),
        metrics.poller.clone(),
    );
    let events = mode.events && zoom.has_events();
    if !events && config.poll.quiet_every.is_none() {
        return Ok(Built {
            source: Box::new(poller),
            steer: None,
        });
    }
    let (steer, commands) = mpsc::channel::<PollerCommand>(4096);
    let state_dir = (events && mode.keep_state).then(|| config.state_dir.clone());
    let poller = poller.with_commands(commands, state_dir);
    let quiet = config.poll.quiet_every.is_some().then(|| steer.clone());
    if !events {
        return Ok(Built {
            source: Box::new(poller),
            steer: quiet,
        });
    }
    let webhook = match &zoom.webhook {
        Some(hook) => {
            let listener = std::net::TcpListener::bind(hook.listen)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|source| ServiceError::BindEvents {
                    addr: hook.listen,
                    source,
                })?;
            Some((listener, (**hook).clone()))
        }
        None => None,
    };
    let websocket = zoom.websocket.clone().map(|ws| (*ws, client.clone()));
    let sole = !config.poll.discover && config.poll.targets.is_empty();
    let receiver =
        EventSource::new(webhook, websocket, steer, metrics.events.clone()).sole_source(sole);
    Ok(Built {
        source: Box::new(Many(vec![Box::new(poller), Box::new(receiver)])),
        steer: quiet,
    })
}
