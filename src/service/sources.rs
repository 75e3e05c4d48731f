//! The source the config names, built: the Zoom poller or a replay.

use std::sync::Arc;

use super::{RunOptions, ServiceError};
use crate::config::{Config, SourceConfig};
use crate::metrics::Metrics;
use crate::source::Source;
use crate::source::poller::Poller;
use crate::source::replay::Replay;
use crate::zoom::client::ZoomClient;

/// Builds the configured source with its metric handles.
pub fn build(
    config: &Config,
    options: &RunOptions,
    metrics: &Metrics,
) -> Result<Box<dyn Source>, ServiceError> {
    Ok(match &config.source {
        SourceConfig::Replay(path) => Box::new(Replay::open(path)?),
        SourceConfig::Zoom(zoom) => {
            let client = Arc::new(ZoomClient::new(
                zoom,
                options.retry.clone(),
                metrics.zoom.clone(),
            )?);
            Box::new(Poller::new(
                client,
                config.poll.clone(),
                options.tuning.clone(),
                metrics.poller.clone(),
            ))
        }
    })
}
