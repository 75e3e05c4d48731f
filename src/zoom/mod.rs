//! Zoom's Dashboard API, the side of qoswatch that talks to Zoom:
//!
//! - [`api`]: the one reader of Zoom's QoS JSON, into [`crate::qos`] samples;
//! - [`client`]: the HTTP client (base URL, rate limit, retries) and its
//!   calls, discovery and QoS;
//! - `auth`: the Server-to-Server OAuth token cache;
//! - [`budget`]: the daily request cap, kept on our side.
//!
//! It knows nothing of polling: the poller (`crate::source::poller`) decides
//! when to call and which samples it has already delivered.

pub mod api;
mod auth;
pub mod budget;
pub mod client;

use std::time::Duration;

use serde::Deserialize;

use crate::config::redact_url;
use crate::qos::Timestamp;

/// Why a Zoom call failed (after its retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoomError {
    #[error("requesting a Zoom access token from {url} failed: {message}")]
    RequestToken { url: String, message: String },
    #[error("{endpoint}: request failed: {message}")]
    SendRequest {
        endpoint: &'static str,
        message: String,
    },
    #[error("{endpoint}: HTTP {status}{}: {message}", code.map_or_else(String::new, |c| format!(" (Zoom code {c})")))]
    Status {
        endpoint: &'static str,
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("{endpoint}: unreadable response: {message}")]
    DecodeResponse {
        endpoint: &'static str,
        message: String,
    },
    #[error("{endpoint}: meeting {meeting} not found or not live (HTTP 404, code 3001)")]
    MeetingNotFound {
        endpoint: &'static str,
        meeting: String,
    },
    #[error(
        "{endpoint}: access denied ({message}); the app needs the scope {scope} (or dashboard_meetings:read:admin)"
    )]
    MissingScope {
        endpoint: &'static str,
        scope: &'static str,
        message: String,
    },
    #[error("{endpoint}: rate limited by Zoom; retry after {retry_after:?}: {message}")]
    RateLimited {
        endpoint: &'static str,
        retry_after: Duration,
        message: String,
    },
    #[error("daily API budget of {budget} requests is spent; it renews at {renews_at}")]
    BudgetExhausted { budget: u32, renews_at: Timestamp },
}

impl ZoomError {
    /// Whether the meeting is gone (ended, or never live).
    pub fn is_meeting_gone(&self) -> bool {
        matches!(self, ZoomError::MeetingNotFound { .. })
    }
}

/// Zoom's error body `{"code": 124, "message": "..."}`: the code, and the
/// message (the body's start when it has none).
fn error_body(body: &[u8]) -> (Option<i64>, String) {
    #[derive(Deserialize, Default)]
    struct ErrorBody {
        code: Option<i64>,
        message: Option<String>,
    }
    let e: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let start = || String::from_utf8_lossy(body).chars().take(200).collect();
    (e.code, e.message.unwrap_or_else(start))
}

/// A reqwest error's text without its URL (which may hold ids worth hiding).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), &redact_url(url.as_str()));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
