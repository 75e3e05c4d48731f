//! HTTP endpoints: `/healthz` (alive), `/readyz` (rules loaded and the
//! source succeeded recently), `/metrics` (Prometheus text format 0.0.4) and
//! `/api/alerts` (the firing alerts as JSON).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// A firing alert as `/api/alerts` shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ApiAlert {
    pub rule: String,
    pub severity: String,
    pub state: &'static str,
    pub meeting: Option<String>,
    pub topic: Option<String>,
    pub participant: String,
    pub user_name: Option<String>,
    pub metric: String,
    pub value: f64,
    pub unit: &'static str,
    pub threshold: f64,
    pub since: String,
    pub fingerprint: String,
}

/// What readiness and `/api/alerts` need, updated by the service.
#[derive(Debug, Default)]
pub struct Status {
    pub rules_loaded: bool,
    /// A replay source is always ready once rules are loaded.
    pub source_is_replay: bool,
    pub last_source_ok: Option<Instant>,
    /// How recent a success must be to be ready.
    pub ready_window: Duration,
    pub alerts: Vec<ApiAlert>,
}

/// The service's Prometheus metrics (base units, `qoswatch_` prefix).
pub struct Metrics {
    pub registry: Registry,
    pub zoom_requests: IntCounterVec,
    pub budget_remaining: IntGauge,
    pub budget_daily: IntGauge,
    pub samples: IntCounter,
    pub alerts_firing: IntGaugeVec,
    pub notifications: IntCounterVec,
    pub outbox: IntGaugeVec,
    pub reload_success: IntGauge,
    pub reload_time: Gauge,
    pub rules_loaded: IntGauge,
    pub poll_duration: Histogram,
    pub stretch: Gauge,
    pub delay: Gauge,
    pub meetings: IntGauge,
    pub source_up: IntGauge,
    pub info: GaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("valid metric");
                registry
                    .register(Box::new(m.clone()))
                    .expect("unique metric");
                m
            }};
        }
        let o = |n: &str, h: &str| Opts::new(n, h);
        Metrics {
            zoom_requests: reg!(IntCounterVec::new(
                o(
                    "qoswatch_zoom_requests_total",
                    "Zoom API requests by endpoint and HTTP status (error or timeout when none came back)."
                ),
                &["endpoint", "status"]
            )),
            budget_remaining: reg!(IntGauge::with_opts(o(
                "qoswatch_zoom_budget_remaining_requests",
                "Requests left in today's Zoom API budget (renews at midnight UTC)."
            ))),
            budget_daily: reg!(IntGauge::with_opts(o(
                "qoswatch_zoom_budget_daily_requests",
                "The configured daily Zoom API budget."
            ))),
            samples: reg!(IntCounter::with_opts(o(
                "qoswatch_samples_processed_total",
                "QoS samples evaluated against the rules."
            ))),
            alerts_firing: reg!(IntGaugeVec::new(
                o(
                    "qoswatch_alerts_firing",
                    "Alerts firing now, by rule and severity."
                ),
                &["rule", "severity"]
            )),
            notifications: reg!(IntCounterVec::new(
                o(
                    "qoswatch_notifications_total",
                    "Notification attempts by notifier and outcome (delivered, retried, failed, dropped)."
                ),
                &["notifier", "outcome"]
            )),
            outbox: reg!(IntGaugeVec::new(
                o(
                    "qoswatch_outbox_messages",
                    "Messages waiting in the outbox, by notifier."
                ),
                &["notifier"]
            )),
            reload_success: reg!(IntGauge::with_opts(o(
                "qoswatch_rules_last_reload_success",
                "Whether the last rule reload succeeded (1) or kept the previous rules (0)."
            ))),
            reload_time: reg!(Gauge::with_opts(o(
                "qoswatch_rules_last_reload_timestamp_seconds",
                "Unix time of the last rule load or reload attempt."
            ))),
            rules_loaded: reg!(IntGauge::with_opts(o(
                "qoswatch_rules_loaded",
                "Rules in force."
            ))),
            poll_duration: reg!(Histogram::with_opts(
                HistogramOpts::new(
                    "qoswatch_poll_duration_seconds",
                    "Time to poll one meeting's QoS, all pages and retries."
                )
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
            )),
            stretch: reg!(Gauge::with_opts(o(
                "qoswatch_poll_cadence_stretch_ratio",
                "How much the cadence is stretched to stay within the daily budget (1 = not at all)."
            ))),
            delay: reg!(Gauge::with_opts(o(
                "qoswatch_zoom_publication_delay_seconds",
                "The learned delay between a QoS sample's time stamp and its appearance in the API."
            ))),
            meetings: reg!(IntGauge::with_opts(o(
                "qoswatch_meetings_polled",
                "Meetings being polled."
            ))),
            source_up: reg!(IntGauge::with_opts(o(
                "qoswatch_source_up",
                "Whether the last poll or discovery succeeded (1) or failed (0)."
            ))),
            info: reg!(GaugeVec::new(
                o("qoswatch_build_info", "Build information; the value is 1."),
                &["version", "cadence"]
            )),
            registry,
        }
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!("encoding metrics failed: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Sets a counter to `value` (our own stats are the source of truth).
    pub fn mirror(counter: &prometheus::IntCounter, value: u64) {
        let current = counter.get();
        if value > current {
            counter.inc_by(value - current);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Shared with the service.
pub struct HttpState {
    pub status: Mutex<Status>,
    pub metrics: Metrics,
    /// Called before `/metrics` renders, to refresh gauges from live state.
    pub refresh: Box<dyn Fn(&Metrics) + Send + Sync>,
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Arc<HttpState>>) -> Response {
    let status = s.status.lock().expect("status lock");
    let reason = if !status.rules_loaded {
        Some("rules not loaded".to_owned())
    } else if status.source_is_replay {
        None
    } else {
        match status.last_source_ok {
            Some(t) if t.elapsed() <= status.ready_window => None,
            Some(t) => Some(format!(
                "no successful Zoom call for {}s",
                t.elapsed().as_secs()
            )),
            None => Some("no successful Zoom call yet".to_owned()),
        }
    };
    match reason {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(r) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {r}\n")).into_response(),
    }
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    (s.refresh)(&s.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn alerts(State(s): State<Arc<HttpState>>) -> Response {
    let status = s.status.lock().expect("status lock");
    axum::Json(serde_json::json!({"alerts": status.alerts})).into_response()
}

/// The router.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/alerts", get(alerts))
        .with_state(state)
}

/// Serves until `cancel`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
    cancel: CancellationToken,
) {
    let app = router(state);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
    {
        tracing::error!("HTTP server failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_text_format() {
        let m = Metrics::new();
        m.zoom_requests
            .with_label_values(&["list_participants_qos", "200"])
            .inc();
        m.alerts_firing
            .with_label_values(&["lat\"ency", "critical"])
            .set(2);
        Metrics::mirror(&m.samples, 5);
        Metrics::mirror(&m.samples, 7);
        let text = m.render();
        assert!(
            text.contains("# TYPE qoswatch_zoom_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "qoswatch_zoom_requests_total{endpoint=\"list_participants_qos\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("qoswatch_samples_processed_total 7"),
            "{text}"
        );
        assert!(text.contains("rule=\"lat\\\"ency\""), "{text}");
    }
}
