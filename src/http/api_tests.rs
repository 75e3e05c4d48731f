//! The admin API and its guard through a real listener (`serve_with`, so
//! the client address, the body cap and the routes are the service's).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::auth::AdminAuth;
use super::{HttpState, Limits, router, serve_with};
use crate::config::Secret;
use crate::silence::SharedSilences;

const TOKEN: &str = "0123456789abcdef-token";

struct Server {
    url: String,
    cancel: CancellationToken,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn start(token: Option<&str>) -> Server {
    let state = HttpState::for_tests()
        .with_silences(Arc::new(SharedSilences::in_memory(Default::default())))
        .with_admin(AdminAuth::new(token.map(Secret::new).as_ref()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(5),
        max_connections: 16,
        max_body_bytes: 64 * 1024,
    };
    tokio::spawn(serve_with(
        listener,
        router(Arc::new(state)),
        limits,
        cancel.clone(),
    ));
    Server {
        url,
        cancel,
        client: reqwest::Client::new(),
    }
}

fn silence() -> Value {
    json!({"matchers": {"rule": "lat", "user_name": "~^Room-"}, "duration": "2h", "comment": "known bad Wi-Fi", "created_by": "alice"})
}

impl Server {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url))
    }
    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/api/silences", self.url))
            .json(body)
    }
    fn delete(&self, id: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}/api/silences/{id}", self.url))
    }
}

#[tokio::test]
async fn with_a_token_silences_are_made_listed_and_expired() {
    let s = start(Some(TOKEN)).await;
    let made = s.post(&silence()).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["state"], "active");
    assert_eq!(
        made["matchers"],
        json!({"rule": "lat", "user_name": "~^Room-"})
    );
    assert_eq!(made["until"], Value::Null);
    assert!(made["ends_at"].as_str().unwrap().ends_with('Z'));
    let id = made["id"].as_str().unwrap();
    // Basic with the token as the password, any user.
    let list: Value = s
        .get("/api/silences")
        .basic_auth("me", Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["silences"][0]["id"], id);
    let gone = s.delete(id).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let list: Value = s
        .get("/api/silences")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["silences"][0]["state"], "expired");
    let unknown = s.delete("nope").bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // A meeting-end silence waits with no end.
    let m = s
        .post(&json!({"matchers": {"meeting": "85746065432"}, "until": "meeting_end", "comment": "all-hands"}))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), StatusCode::CREATED);
    let m: Value = m.json().await.unwrap();
    assert_eq!(
        (m["ends_at"].clone(), m["until"].clone()),
        (Value::Null, json!("meeting_end"))
    );
}

#[tokio::test]
async fn bad_silences_answer_400_with_the_reason() {
    let s = start(Some(TOKEN)).await;
    let cases = [
        (
            json!({"matchers": {"rul": "lat"}, "duration": "1h", "comment": "x"}),
            "did you mean `rule`",
        ),
        (
            json!({"matchers": {"rule": "~("}, "duration": "1h", "comment": "x"}),
            "bad regular expression",
        ),
        (
            json!({"matchers": {"rule": "lat"}, "comment": "x"}),
            "no end",
        ),
        (
            json!({"matchers": {"rule": "lat"}, "duration": "1h"}),
            "`comment` is required",
        ),
        (
            json!({"matchers": {"rule": "lat"}, "until": "meeting_end", "comment": "x"}),
            "`meeting` matcher",
        ),
        (
            json!({"matchers": {}, "duration": "1h", "comment": "x"}),
            "at least one",
        ),
        (
            json!({"matchers": {"rule": "lat"}, "duration": "1h", "comment": "x", "color": 1}),
            "unknown field",
        ),
    ];
    for (body, reason) in cases {
        let r = s.post(&body).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains(reason), "{body}: {e}");
    }
    let not_json = s
        .client
        .post(format!("{}/api/silences", s.url))
        .bearer_auth(TOKEN)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    // Over 64 KiB: 413.
    let mut big = silence();
    big["comment"] = json!("x".repeat(70 * 1024));
    let r = s.post(&big).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_and_health_stays_open() {
    let s = start(Some(TOKEN)).await;
    for path in ["/", "/api/alerts", "/api/silences"] {
        let r = s.get(path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = s
            .get(path)
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = s.get(path).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let page = s.get("/").send().await.unwrap();
    let challenge = page.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    let r = s.post(&silence()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .delete("x")
        .basic_auth("me", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = s.get(path).send().await.unwrap();
        assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_ne!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn without_a_token_every_write_is_refused_naming_the_setting() {
    let s = start(None).await;
    let r = s.post(&silence()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("http.admin_token"));
    let r = s.delete("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("http.admin_token"));
    // Reads stay open to this loopback client.
    for path in ["/", "/api/alerts", "/api/silences"] {
        assert_eq!(
            s.get(path).send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn cross_origin_writes_are_refused() {
    let s = start(Some(TOKEN)).await;
    let host = s.url.trim_start_matches("http://").to_owned();
    let r = s
        .post(&silence())
        .bearer_auth(TOKEN)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("cross-origin"));
    let r = s
        .post(&silence())
        .bearer_auth(TOKEN)
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}
