//! The webhook receiver: Zoom POSTs each event to `zoom.webhook.path` on
//! a listener of its own (never the admin one), served with the same
//! connection limits (`http::serve_with`) and a 1 MiB body cap (413).
//! Every request is verified before anything in it is read (401 and
//! nothing processed otherwise); `endpoint.url_validation` is answered at
//! once; any other verified event is queued for the processor in arrival
//! order and answered 200 at once (Zoom wants an answer within 3 s).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::mpsc;

use super::event::{ZoomEvent, parse};
use super::verify::{hmac_hex, verify};
use super::{Incoming, count_event};
use crate::config::Secret;
use crate::metrics::EventMetrics;
use crate::net::Clock;

/// Request bodies above this get 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What the handler needs.
pub struct Hook {
    pub secret: Secret,
    pub queue: mpsc::Sender<Incoming>,
    pub metrics: EventMetrics,
    pub clock: Clock,
}

/// The receiver's routes: `POST path`.
pub fn router(path: &str, hook: Arc<Hook>) -> Router {
    Router::new().route(path, post(receive)).with_state(hook)
}

fn answer(hook: &Hook, status: StatusCode, body: impl IntoResponse) -> Response {
    hook.metrics
        .webhook_requests
        .with_label_values(&[status.as_str()])
        .inc();
    (status, body).into_response()
}

async fn receive(
    State(hook): State<Arc<Hook>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            tracing::warn!(
                status = status.as_u16(),
                "Zoom event refused: {}",
                rejection.body_text()
            );
            return answer(&hook, status, rejection.body_text());
        }
    };
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let now = hook.clock.now().floor() as i64;
    if let Err(why) = verify(
        hook.secret.expose().as_bytes(),
        header("x-zm-signature"),
        header("x-zm-request-timestamp"),
        &body,
        now,
    ) {
        tracing::warn!(reason = why.as_str(), "Zoom event refused (401): {why}");
        return answer(&hook, StatusCode::UNAUTHORIZED, "signature check failed\n");
    }
    let parsed = match parse(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("malformed Zoom event (verified, not processed): {e}");
            count_event(&hook.metrics, None, "malformed");
            return answer(&hook, StatusCode::BAD_REQUEST, "malformed event\n");
        }
    };
    if let ZoomEvent::UrlValidation { plain_token } = &parsed.event {
        let encrypted = hmac_hex(hook.secret.expose().as_bytes(), plain_token.as_bytes());
        count_event(&hook.metrics, Some(&parsed.name), "processed");
        tracing::info!("answered Zoom's endpoint.url_validation");
        let body = axum::Json(serde_json::json!({
            "plainToken": plain_token,
            "encryptedToken": encrypted,
        }));
        return answer(&hook, StatusCode::OK, body);
    }
    let request_id = headers
        .get("x-zm-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match hook.queue.try_send(Incoming { request_id, parsed }) {
        Ok(()) => answer(&hook, StatusCode::OK, ""),
        Err(_) => {
            // Zoom retries after a 5xx: nothing is lost.
            tracing::warn!("the Zoom event queue is full; answering 503 so that Zoom retries");
            answer(&hook, StatusCode::SERVICE_UNAVAILABLE, "busy\n")
        }
    }
}
