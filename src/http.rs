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
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

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

/// Shared with the service.
pub struct HttpState {
    pub status: Mutex<Status>,
    pub metrics: Metrics,
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
