//! The source the config names, built: the Zoom poller or a replay.

use std::sync::Arc;

use super::{RunOptions, ServiceError};
use crate::config::{Config, SourceConfig};
use crate::metrics::Metrics;
use crate::source::Source;
use crate::source::poller::Poller;
use crate::source::replay::Replay;
use crate::zoom::client::ZoomClient;

/// Builds the configured source with its metric handles. With
/// `keep_state`, the Zoom client keeps the day's request count in
/// `state_dir`.
pub fn build(
    config: &Config,
    options: &RunOptions,
    metrics: &Metrics,
    keep_state: bool,
) -> Result<Box<dyn Source>, ServiceError> {
    Ok(match &config.source {
        SourceConfig::Replay(path) => Box::new(Replay::open(path)?),
        SourceConfig::Zoom(zoom) => {
            let mut client = ZoomClient::new(zoom, options.retry.clone(), metrics.zoom.clone())?;
            if keep_state {
                client = client.with_budget_file(&config.state_dir);
            }
            let client = Arc::new(client);
            Box::new(Poller::new(
                client,
                config.poll.clone(),
                options.tuning.clone(),
                metrics.poller.clone(),
            ))
        }
    })
}
