//! The silences API (SPEC 13): `GET /api/silences`, `POST /api/silences`
//! (201 with the silence), `DELETE /api/silences/{id}` (204; 404 for an
//! unknown id). Bad input answers 400 `{"error": REASON}`. Behind
//! [`super::auth::guard`], like every `/api/*` route.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::HttpState;
use crate::silence::shared::{SharedSilences, SilenceError};
use crate::silence::wire::{SilenceJson, SilenceRequest};

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": reason.into() }))).into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "this process keeps no silences",
    )
}

/// A new silence id: a random UUID (version 4).
fn new_id() -> String {
    let n: u128 = rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub async fn list(State(s): State<Arc<HttpState>>) -> Response {
    let Some(silences) = &s.silences else {
        return unavailable();
    };
    axum::Json(json!({ "silences": silences.list(now()) })).into_response()
}

pub async fn create(State(s): State<Arc<HttpState>>, body: Bytes) -> Response {
    let Some(silences) = &s.silences else {
        return unavailable();
    };
    let request: SilenceRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a silence: {e}"),
            );
        }
    };
    match add(silences, request) {
        Ok(made) => (StatusCode::CREATED, axum::Json(made)).into_response(),
        Err((status, reason)) => error(status, reason),
    }
}

/// Checks a silence request and adds it: the API's and the status page's
/// one way in.
pub fn add(
    silences: &SharedSilences,
    request: SilenceRequest,
) -> Result<SilenceJson, (StatusCode, String)> {
    let now = now();
    let labels = silences.labels();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let new = request
        .check(&labels, now)
        .map_err(|reason| (StatusCode::BAD_REQUEST, reason))?;
    match silences.add(new, new_id(), now) {
        Ok(made) => {
            tracing::info!(id = %made.id, created_by = %made.created_by, comment = %made.comment, "silence created");
            Ok(made)
        }
        Err(e) => {
            tracing::error!("{e}");
            Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
    }
}

pub async fn expire(State(s): State<Arc<HttpState>>, Path(id): Path<String>) -> Response {
    let Some(silences) = &s.silences else {
        return unavailable();
    };
    match silences.expire(&id, now()) {
        Ok(()) => {
            tracing::info!(%id, "silence expired");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e @ SilenceError::Unknown(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => {
            tracing::error!("{e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_version_4_uuids() {
        let id = super::new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, super::new_id());
    }
}
