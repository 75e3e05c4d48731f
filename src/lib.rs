//! qoswatch watches the call quality of Zoom meeting participants and tells
//! people in chat, within seconds, when it goes bad.
//!
//! # Layout
//!
//! Modules follow the pipeline, and lower stages never import higher ones
//! (ARCHITECTURE.md has the picture and the rules):
//!
//! - [`qos`]: typed, unit-normalised QoS samples.
//! - [`zoom`]: Zoom's wire types, their one reader, and the API client.
//! - [`net`]: the one retry policy (backoff, `Retry-After`, status classes).
//! - [`persist`]: atomic file writes for state and outbox.
//! - [`yaml`]: positioned YAML trees and `PATH:LINE:COL` diagnostics.
//! - [`matcher`]: the one matcher syntax of rule and route `match`,
//!   silences and the CLI.
//! - [`rules`]: the rule model, its loader and the condition language.
//! - [`alert`]: the alert lifecycle, a pure state machine.
//! - [`incident`]: incidents over many participants' alerts, pure too.
//! - [`source`]: where samples come from: the Zoom poller and replay.
//! - [`notify`]: the notification path: dispatcher, channels, outbox, delivery.
//! - [`metrics`]: the Prometheus metrics, handed to each stage at construction.
//! - [`commands`]: `check`, `eval`, `test`, and the API clients `alerts` and
//!   `silence`.
//! - [`http`]: /healthz, /readyz, /metrics, and behind the admin guard the
//!   status page, /api/alerts and /api/silences.
//! - [`silence`]: silences, their store and their JSON (pure; the
//!   shared handle saves them under `state_dir`).
//! - [`service`]: the composition root of `run` and `once`.
//! - [`config`]: the service config.
//! - [`cli`]: command-line definitions.

pub mod alert;
pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod incident;
pub mod matcher;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod page;
pub mod persist;
pub mod qos;
pub mod rules;
pub mod service;
pub mod silence;
pub mod source;
pub mod yaml;
pub mod zoom;

/// Cuts `s` to at most `max` characters, ending with `…` when cut; for
/// echoing untrusted input in messages.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
