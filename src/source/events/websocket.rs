//! Zoom's events over a WebSocket qoswatch opens (no inbound port):
//! `wss://ws.zoom.us/ws?subscriptionId=ID&access_token=TOKEN` with the
//! Server-to-Server OAuth token, Zoom's heartbeat (`{"module":"heartbeat"}`)
//! every 30 s, events as `{"module":"message","content":"<envelope>"}`.
//! A dropped connection is reopened with the one backoff of `net` and a
//! fresh token after a failed attempt. Zoom replays nothing that happened
//! while disconnected, so after every reconnect the poller polls each
//! tracked meeting once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{Incoming, count_event, event};
use crate::config::{WebSocketConfig, redact_url};
use crate::metrics::EventMetrics;
use crate::net::Backoff;
use crate::source::poller::PollerCommand;
use crate::zoom::client::ZoomClient;

/// WebSocket timings; tests shrink them.
#[derive(Clone, Debug)]
pub struct WsTuning {
    /// Zoom's heartbeat period (30 s).
    pub heartbeat: Duration,
    /// The wait before reconnecting (attempt = failures in a row).
    pub backoff: Backoff,
    /// Opening the connection, TLS and upgrade included.
    pub connect_timeout: Duration,
}

impl Default for WsTuning {
    fn default() -> Self {
        WsTuning {
            heartbeat: Duration::from_secs(30),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The heartbeat Zoom expects.
pub const HEARTBEAT: &str = r#"{"module":"heartbeat"}"#;

#[derive(serde::Deserialize)]
struct Frame {
    #[serde(default)]
    module: String,
    #[serde(default)]
    content: Option<String>,
}

/// Keeps the connection open until `cancel`, handing events to `queue`.
pub async fn run(
    config: WebSocketConfig,
    client: Arc<ZoomClient>,
    queue: mpsc::Sender<Incoming>,
    steer: mpsc::Sender<PollerCommand>,
    metrics: EventMetrics,
    tuning: WsTuning,
    cancel: CancellationToken,
) {
    let shown = redact_url(&config.url);
    let mut failures: u32 = 0;
    let mut connected_before = false;
    while !cancel.is_cancelled() {
        if failures > 0 || connected_before {
            let wait = tuning.backoff.delay(failures.max(1));
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // A failed attempt may be an expired or revoked token: ask anew.
        let token = match client.access_token(failures > 0).await {
            Ok(t) => t,
            Err(e) => {
                failures += 1;
                metrics
                    .websocket_connects
                    .with_label_values(&["failed"])
                    .inc();
                tracing::warn!("Zoom event WebSocket: no access token: {e}");
                continue;
            }
        };
        let mut url = match url::Url::parse(&config.url) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("Zoom event WebSocket: invalid url {shown}: {e}");
                return;
            }
        };
        url.query_pairs_mut()
            .append_pair("subscriptionId", &config.subscription_id)
            .append_pair("access_token", token.expose());
        let opened = tokio::select! {
            _ = cancel.cancelled() => break,
            r = tokio::time::timeout(tuning.connect_timeout, tokio_tungstenite::connect_async(url.as_str())) => r,
        };
        let mut socket = match opened {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(e)) => {
                failures += 1;
                metrics
                    .websocket_connects
                    .with_label_values(&["failed"])
                    .inc();
                // The error never holds the URL (and so the token); redact anyway.
                let message = e.to_string().replace(token.expose(), "***");
                tracing::warn!(url = %shown, failures, "Zoom event WebSocket: cannot connect: {message}");
                continue;
            }
            Err(_) => {
                failures += 1;
                metrics
                    .websocket_connects
                    .with_label_values(&["failed"])
                    .inc();
                tracing::warn!(url = %shown, failures, "Zoom event WebSocket: connecting timed out");
                continue;
            }
        };
        metrics
            .websocket_connects
            .with_label_values(&["connected"])
            .inc();
        metrics.websocket_up.set(1);
        failures = 0;
        if connected_before {
            tracing::info!(url = %shown, "Zoom event WebSocket reconnected; polling every tracked meeting once (Zoom replays nothing)");
            if steer.try_send(PollerCommand::CatchUp).is_err() {
                tracing::warn!("the poller's command queue is full; the catch-up poll was dropped");
            }
        } else {
            tracing::info!(url = %shown, "Zoom event WebSocket connected");
        }
        connected_before = true;
        let mut heartbeat = tokio::time::interval(tuning.heartbeat);
        heartbeat.tick().await;
        let why = loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = socket.close(None).await;
                    metrics.websocket_up.set(0);
                    return;
                }
                _ = heartbeat.tick() => {
                    if let Err(e) = socket.send(Message::text(HEARTBEAT)).await {
                        break format!("sending the heartbeat: {e}");
                    }
                }
                next = socket.next() => match next {
                    None => break "closed".to_owned(),
                    Some(Err(e)) => break e.to_string(),
                    Some(Ok(Message::Close(frame))) => {
                        break frame.map_or_else(|| "closed by Zoom".to_owned(), |f| format!("closed by Zoom: {} {}", f.code, f.reason));
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Some(incoming) = read_frame(text.as_bytes(), &metrics)
                            && queue.send(incoming).await.is_err()
                        {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        };
        metrics.websocket_up.set(0);
        tracing::warn!(url = %shown, "Zoom event WebSocket dropped ({why}); reconnecting");
    }
    metrics.websocket_up.set(0);
}

/// One text frame: an event for the processor, or nothing (a heartbeat
/// answer, another module, or a malformed event, which is logged and
/// counted).
fn read_frame(text: &[u8], metrics: &EventMetrics) -> Option<Incoming> {
    let frame: Frame = match serde_json::from_slice(text) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("Zoom event WebSocket: unreadable frame: {e}");
            count_event(metrics, None, "malformed");
            return None;
        }
    };
    if frame.module != "message" {
        tracing::debug!(module = %frame.module, "Zoom event WebSocket frame");
        return None;
    }
    let content = frame.content.unwrap_or_default();
    match event::parse(content.as_bytes()) {
        Ok(parsed) => Some(Incoming {
            request_id: None,
            parsed,
        }),
        Err(e) => {
            tracing::warn!("malformed Zoom event over the WebSocket: {e}");
            count_event(metrics, None, "malformed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_events_as_strings() {
        let m = EventMetrics::default();
        let frame = serde_json::json!({
            "module": "message",
            "content": r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":1,"uuid":"u=="}}}"#,
        })
        .to_string();
        let got = read_frame(frame.as_bytes(), &m).unwrap();
        assert_eq!(got.parsed.name, "meeting.started");
        assert!(read_frame(br#"{"module":"heartbeat","success":true}"#, &m).is_none());
        assert!(read_frame(br#"{"module":"message","content":"{oops"}"#, &m).is_none());
        assert_eq!(m.events.with_label_values(&["other", "malformed"]).get(), 1);
    }
}
