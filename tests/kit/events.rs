//! Zoom's event notifications for a running service: signed webhook
//! requests ([`Hook`], [`sign`]) and event bodies ([`meeting_event`],
//! [`participant_event`], [`qss_event`], [`url_validation`]), written the
//! way Zoom sends them.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret token the kit's configs use.
pub const SECRET_TOKEN: &str = "zoom-webhook-secret-token-1234";

/// `hex(HMAC-SHA256(secret, message))`.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Zoom's `x-zm-signature` for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    format!("v0={}", hmac_hex(secret, &format!("v0:{timestamp}:{body}")))
}

/// How one request is signed.
#[derive(Clone, Debug)]
pub struct Signing {
    /// Seconds added to now for `x-zm-request-timestamp`.
    pub skew: i64,
    /// The secret it is signed with.
    pub secret: String,
    /// Leave out `x-zm-signature`.
    pub unsigned: bool,
    /// `x-zm-request-id`.
    pub request_id: Option<String>,
}

impl Default for Signing {
    fn default() -> Self {
        Signing {
            skew: 0,
            secret: SECRET_TOKEN.into(),
            unsigned: false,
            request_id: None,
        }
    }
}

/// The service's webhook receiver.
pub struct Hook {
    pub url: String,
    http: reqwest::Client,
}

impl Hook {
    /// `url`: `http://127.0.0.1:PORT/zoom/events` (see
    /// `process::Service::events_url`).
    pub fn new(url: String) -> Hook {
        Hook {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// POSTs `body` signed as `signing` says; returns status and body.
    pub async fn post_with(&self, body: &str, signing: &Signing) -> (u16, String) {
        let ts = chrono::Utc::now().timestamp() + signing.skew;
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-zm-request-timestamp", ts.to_string());
        if !signing.unsigned {
            req = req.header("x-zm-signature", sign(&signing.secret, ts, body));
        }
        if let Some(id) = &signing.request_id {
            req = req.header("x-zm-request-id", id);
        }
        let r = req.body(body.to_owned()).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// POSTs `body` signed correctly, with a fresh request id.
    pub async fn post(&self, body: &str) -> (u16, String) {
        let id = format!("req-{}", rand_id());
        self.post_with(
            body,
            &Signing {
                request_id: Some(id),
                ..Signing::default()
            },
        )
        .await
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u64) << 32
}

/// Milliseconds now, for `event_ts`.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `{"event":"endpoint.url_validation","payload":{"plainToken":P},...}`.
pub fn url_validation(plain_token: &str) -> String {
    serde_json::json!({
        "event": "endpoint.url_validation",
        "payload": {"plainToken": plain_token},
        "event_ts": now_ms(),
    })
    .to_string()
}

/// A meeting-level event (`meeting.started`, `meeting.ended`,
/// `meeting.alert` with `issues`).
pub fn meeting_event(event: &str, id: u64, uuid: &str, issues: &[&str]) -> String {
    let mut object =
        serde_json::json!({"id": id, "uuid": uuid, "topic": "Kit meeting", "host_id": "h1"});
    if !issues.is_empty() {
        object["issues"] = serde_json::json!(issues);
    }
    serde_json::json!({
        "event": event,
        "event_ts": now_ms(),
        "payload": {"account_id": "acc", "object": object},
    })
    .to_string()
}

/// `meeting.participant_joined` / `_left` of `user_id`.
pub fn participant_event(event: &str, id: u64, uuid: &str, user_id: &str) -> String {
    serde_json::json!({
        "event": event,
        "event_ts": now_ms(),
        "payload": {"account_id": "acc", "object": {
            "id": id, "uuid": uuid, "topic": "Kit meeting",
            "participant": {"user_id": user_id, "user_name": format!("user {user_id}"), "id": "p", "leave_reason": "left the meeting"},
        }},
    })
    .to_string()
}

/// QSS `meeting.participant_qos`: one record of `audio_input` latency at
/// `date_time`.
pub fn qss_event(id: u64, uuid: &str, user_id: &str, date_time: &str, latency: &str) -> String {
    serde_json::json!({
        "event": "meeting.participant_qos",
        "event_ts": now_ms(),
        "payload": {"account_id": "acc", "object": {
            "id": id, "uuid": uuid,
            "participant": {
                "user_id": user_id, "participant_user_id": "puid", "user_name": format!("user {user_id}"),
                "qos": [{"date_time": date_time, "type": "audio_input",
                         "details": {"bitrate": "27 kbps", "avg_latency": latency, "jitter": "2 ms", "avg_loss": "0.1%", "max_loss": "0.2%"}}],
            },
        }},
    })
    .to_string()
}
