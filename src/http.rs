//! HTTP endpoints: `/healthz` (alive), `/readyz` (rules loaded and the
//! source succeeded recently), `/metrics` (Prometheus text format 0.0.4),
//! always open; and behind [`auth::guard`] (SPEC 15) the status page `/`,
//! `/api/alerts` (the firing alerts as JSON) and the silences API
//! ([`silences`]).

pub mod auth;
pub mod silences;
pub mod status_page;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
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
    /// The rules whose `inhibits` holds back its notification, while they do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inhibited_by: Vec<String>,
    /// Its firing was dropped by the routes' time intervals on every
    /// notifier it was routed to (shown only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
    /// The silences (ids) matching it, while they are active.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub silenced_by: Vec<String>,
}

/// A firing incident as `/api/alerts` shows it (under `incidents`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiIncident {
    pub kind: &'static str,
    /// The incident's name.
    pub rule: String,
    pub severity: String,
    pub state: &'static str,
    pub scope: String,
    pub scope_value: String,
    /// The meeting, for scope `meeting`.
    pub meeting: Option<String>,
    pub topic: Option<String>,
    /// Affected of population when it fired or last changed (absent after
    /// a restart until its next change).
    pub affected: Option<u32>,
    pub population: Option<u32>,
    /// The affected participants' user ids.
    pub participants: Vec<String>,
    /// What every affected participant shares (`data_center: SJC`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub shared: std::collections::BTreeMap<String, String>,
    pub since: String,
    pub fingerprint: String,
    /// The silences (ids) holding its notification.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub silenced_by: Vec<String>,
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
    /// Firing alerts by fingerprint.
    pub alerts: std::collections::BTreeMap<String, ApiAlert>,
    /// Firing incidents by fingerprint.
    pub incidents: std::collections::BTreeMap<String, ApiIncident>,
    /// The meetings being watched, by meeting key (number, else UUID).
    pub watched: std::collections::BTreeMap<String, Watched>,
    /// Each notifier as the delivery workers last found it.
    pub notifiers: Vec<NotifierStatus>,
    /// `display.time_zone`: times on the status page.
    pub time_zone: Option<jiff::tz::TimeZone>,
    /// The poll cadence in use, as people read it.
    pub cadence: String,
}

/// A notifier on the status page.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NotifierStatus {
    pub name: String,
    pub kind: String,
    /// Why its last attempt failed, if it has not succeeded since.
    pub last_error: Option<String>,
}

/// A meeting being watched and who is in it, for the status page.
#[derive(Debug, Default, Clone)]
pub struct Watched {
    pub topic: Option<String>,
    /// Present participants: user id -> name (the id when it has none).
    pub participants: std::collections::BTreeMap<String, String>,
}

/// Shared with the service.
pub struct HttpState {
    pub status: Mutex<Status>,
    pub metrics: Metrics,
    /// The silences, when the service keeps them (the silences API).
    pub silences: Option<Arc<crate::silence::SharedSilences>>,
    /// Who may use `/` and `/api/*` (`http.admin_token`).
    pub admin: auth::AdminAuth,
}

impl HttpState {
    pub fn new(status: Status, metrics: Metrics) -> HttpState {
        HttpState {
            status: Mutex::new(status),
            metrics,
            silences: None,
            admin: auth::AdminAuth::default(),
        }
    }

    /// An empty status with fresh metrics, no silences and no token.
    pub fn for_tests() -> HttpState {
        HttpState::new(Status::default(), Metrics::new())
    }

    pub fn with_silences(mut self, silences: Arc<crate::silence::SharedSilences>) -> HttpState {
        self.silences = Some(silences);
        self
    }

    pub fn with_admin(mut self, admin: auth::AdminAuth) -> HttpState {
        self.admin = admin;
        self
    }
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
    let alerts: Vec<&ApiAlert> = status.alerts.values().collect();
    let incidents: Vec<&ApiIncident> = status.incidents.values().collect();
    axum::Json(serde_json::json!({ "alerts": alerts, "incidents": incidents })).into_response()
}

/// The router: health, readiness and metrics open; the page and `/api/*`
/// behind [`auth::guard`].
pub fn router(state: Arc<HttpState>) -> Router {
    let guarded = Router::new()
        .route("/", get(status_page::page))
        .route("/silences", post(status_page::create))
        .route("/silences/{id}/expire", post(status_page::expire))
        .route("/api/alerts", get(alerts))
        .route("/api/silences", get(silences::list).post(silences::create))
        .route("/api/silences/{id}", delete(silences::expire))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status.css", get(status_page::stylesheet))
        .merge(guarded)
        .with_state(state)
}

/// What one client may hold of a listener.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request's headers must arrive within this time, and an idle
    /// keep-alive connection is closed after it.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// Request bodies above this get 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: (open_file_limit() / 4).clamp(8, 256),
            max_body_bytes: 64 * 1024,
        }
    }
}

/// The soft limit on open files (Linux `/proc/self/limits`; 1024 when it
/// cannot be read).
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

/// Serves `router` on `listener` until `cancel`, within `limits`: slow or
/// idle clients are cut off, and no client can exhaust the process's file
/// descriptors (which the outbox and state files need).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    cancel: CancellationToken,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let router = router.layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut last_refusal: Option<Instant> = None;
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!("accepting an HTTP connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if last_refusal.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                tracing::warn!(
                    %peer,
                    limit = limits.max_connections,
                    "too many HTTP connections open; closing new ones"
                );
                last_refusal = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        // The client's address, for the loopback rule of `auth::guard`.
        let service = hyper_util::service::TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let timeout = limits.header_read_timeout;
        let cancel = cancel.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
    connections.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.wait()).await;
}

/// Serves the endpoints until `cancel`, with the default [`Limits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
    cancel: CancellationToken,
) {
    serve_with(listener, router(state), Limits::default(), cancel).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn state() -> Arc<HttpState> {
        Arc::new(HttpState::for_tests())
    }

    /// Whether the server closed `s` (EOF or reset) within `within`.
    async fn closed(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(within, s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    #[tokio::test]
    async fn slow_clients_are_cut_off_and_cannot_hold_every_slot() {
        // Before: sockets sending headers without the final blank line were
        // all held open, until the process ran out of file descriptors.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 4,
            max_body_bytes: 1024,
        };
        tokio::spawn(serve_with(
            listener,
            router(state()),
            limits,
            cancel.clone(),
        ));
        let mut slow = Vec::new();
        for _ in 0..6 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            slow.push(s);
        }
        // Over the cap: closed at once.
        let mut over = 0;
        for s in &mut slow[4..] {
            over += usize::from(closed(s, Duration::from_millis(200)).await);
        }
        assert_eq!(over, 2, "connections over the cap are closed");
        // The others: closed once the header timeout passes.
        for s in &mut slow[..4] {
            assert!(
                closed(s, Duration::from_secs(3)).await,
                "a slow client was held"
            );
        }
        // And the slots are free again.
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        cancel.cancel();
    }
}

#[cfg(test)]
mod api_tests;
