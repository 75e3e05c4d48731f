//! The Zoom client against a wiremock Zoom: exact call counts for the token
//! flow, pagination, UUID encoding, 429, 5xx, malformed bodies and the end
//! of a meeting. Real time with millisecond settings.

use std::time::{Duration, Instant};

use qoswatch::config::ZoomConfig;
use qoswatch::metrics::ZoomMetrics;
use qoswatch::net::{Backoff, Clock};
use qoswatch::zoom::api::Cutoff;
use qoswatch::zoom::client::{QosType, RetryPolicy, ZoomClient, ZoomError};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

mod kit;

use kit::zoom::MockZoom;

/// The mock's config with a daily budget of `budget`.
fn config(zoom: &MockZoom, budget: u32) -> ZoomConfig {
    ZoomConfig {
        daily_budget: budget,
        ..zoom.config()
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_secs(5)),
        timeout: Duration::from_secs(2),
    }
}

/// 2026-03-02T12:00:00Z: the budget renews at midnight UTC, so its day is
/// pinned.
const NOON: f64 = 1_772_452_800.0;

fn client(config: &ZoomConfig) -> ZoomClient {
    client_with(config, ZoomMetrics::default())
}

fn client_with(config: &ZoomConfig, metrics: ZoomMetrics) -> ZoomClient {
    let client = ZoomClient::new(config, fast(), metrics).unwrap();
    client.with_clock(Clock::starting_at(NOON))
}

fn participant(user_id: &str, latency: &str) -> serde_json::Value {
    serde_json::json!({
        "user_id": user_id, "user_name": format!("user {user_id}"),
        "user_qos": [{"date_time": "2026-03-02T15:00:00Z", "audio_input": {"latency": latency}}]
    })
}

#[tokio::test]
async fn token_is_cached_and_pages_are_followed() {
    let zoom = MockZoom::builder()
        .access_token("tok-1")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/85746065432/participants/qos"))
        .and(query_param("type", "live"))
        .and(query_param("page_size", "10"))
        .and(query_param("next_page_token", "page2"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "page_size": 10, "total_records": 2, "next_page_token": "", "participants": [participant("2", "90 ms")]
        })))
        .expect(2)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/85746065432/participants/qos"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "page_size": 10, "total_records": 2, "next_page_token": "page2", "participants": [participant("1", "80 ms")]
        })))
        .expect(2)
        .mount(server)
        .await;
    let metrics = ZoomMetrics::default();
    let client = client_with(&config(&zoom, 100), metrics.clone());
    assert_eq!(metrics.budget_daily.get(), 100);
    for _ in 0..2 {
        let (r, requests) = client
            .meeting_qos("85746065432", QosType::Live, &Cutoff::new())
            .await
            .unwrap();
        assert_eq!(requests, 2);
        let ids: Vec<&str> = r.participants.iter().map(|p| &*p.info.user_id).collect();
        assert_eq!(ids, ["1", "2"]);
    }
    assert_eq!(client.budget_left(), 96);
    // The client keeps its own metrics as it goes.
    let requests = |endpoint: &str| metrics.requests.with_label_values(&[endpoint, "200"]).get();
    assert_eq!(requests("list_participants_qos"), 4);
    assert_eq!(requests("token"), 1);
    assert_eq!(metrics.budget_remaining.get(), 96);
}

#[tokio::test]
async fn uuids_are_double_encoded_in_the_path() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .and(path(
            "/v2/metrics/meetings/%252FajXp112QmuoKj4854875%253D%253D/participants/16778240/qos",
        ))
        .and(query_param("type", "past"))
        .respond_with(ResponseTemplate::new(200).set_body_json(participant("16778240", "100 ms")))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/v2/metrics/meetings/w7fUhDMLSo25Lfvu%2F3I%2Bcw%3D%3D/participants/qos",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"participants": []})),
        )
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let r = client
        .participant_qos(
            "/ajXp112QmuoKj4854875==",
            "16778240",
            QosType::Past,
            &Cutoff::new(),
        )
        .await
        .unwrap();
    assert_eq!(&*r.participants[0].info.user_id, "16778240");
    client
        .meeting_qos("w7fUhDMLSo25Lfvu/3I+cw==", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_retried() {
    let zoom = MockZoom::builder()
        .access_token("fresh")
        .expires_in(3600)
        .expect_tokens(2)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/1/participants/qos"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                serde_json::json!({"code": 124, "message": "Access token is expired."}),
            ),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/1/participants/qos"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"participants": [participant("1", "1 ms")]})),
        )
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let (r, _) = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    assert_eq!(r.participants.len(), 1);
}

#[tokio::test]
async fn a_token_is_renewed_shortly_before_it_expires() {
    let zoom = MockZoom::builder()
        .access_token("short")
        .expires_in(1)
        .expect_tokens(2)
        .start()
        .await;
    // expires_in 1 s: renewed at 90% of its life.
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"participants": []})),
        )
        .expect(2)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(950)).await;
    client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn rate_limit_429_honours_retry_after() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(serde_json::json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"participants": []})),
        )
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let started = Instant::now();
    client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn daily_limit_429_is_not_retried() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({"code": 429, "message": "You have reached the maximum daily rate limit for this API."})))
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ZoomError::RateLimited { .. }), "{e}");
}

#[tokio::test]
async fn server_errors_and_malformed_bodies_are_retried() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"participants\": [{\"user_id\": \"1\", \"user_qos\": [{"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"participants": [participant("1", "5 ms")]})),
        )
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let (r, _) = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    assert_eq!(r.participants.len(), 1);
}

#[tokio::test]
async fn persistent_failure_gives_up_after_the_attempts() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ZoomError::Status { status: 503, .. }), "{e}");
}

#[tokio::test]
async fn a_meeting_that_ended_is_not_found() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            serde_json::json!({"code": 3001, "message": "Meeting does not exist: 1."}),
        ))
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err();
    assert!(e.is_meeting_gone(), "{e}");
}

#[tokio::test]
async fn a_missing_scope_names_the_scope() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"code": 4700, "message": "Invalid access token, does not contain scopes."})))
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dashboard:read:list_meeting_participants_qos:admin"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_credentials_are_a_clear_error_without_the_secret() {
    let zoom = MockZoom::builder().without_oauth().start().await;
    let server = &zoom.server;
    kit::zoom::oauth_token()
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})))
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("access token") && e.contains("client_secret"),
        "{e}"
    );
    assert!(!e.contains("csecret"), "{e}");
}

#[tokio::test]
async fn the_daily_budget_is_never_exceeded() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"participants": []})),
        )
        .expect(2)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 2));
    client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap();
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err();
    assert!(matches!(e, ZoomError::BudgetExhausted { .. }), "{e}");
}

#[tokio::test]
async fn discovery_follows_pages() {
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .and(query_param("type", "live"))
        .and(query_param("page_size", "300"))
        .and(query_param("next_page_token", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next_page_token": "", "meetings": [{"uuid": "u2==", "id": 222, "topic": "Two", "participants": 25}]
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .and(query_param("type", "live"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next_page_token": "p2", "meetings": [{"uuid": "/u1==", "id": 111, "topic": "One"}]
        })))
        .expect(1)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let m = client.live_meetings().await.unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].uuid.as_str(), m[0].id.as_str()), ("/u1==", "111"));
    assert_eq!(m[1].participants, Some(25));
}

/// Records when each request arrived.
struct Stamped(std::sync::Arc<std::sync::Mutex<Vec<Instant>>>);

impl wiremock::Respond for Stamped {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "page_size": 10, "total_records": 1, "next_page_token": "", "participants": [participant("1", "80 ms")]
        }))
    }
}

#[tokio::test]
async fn requests_per_second_holds_under_concurrent_polls() {
    let zoom = MockZoom::builder()
        .access_token("tok")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    let stamps = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    Mock::given(method("GET"))
        .respond_with(Stamped(stamps.clone()))
        .expect(16)
        .mount(server)
        .await;
    let mut cfg = config(&zoom, 1000);
    cfg.requests_per_second = 4;
    let client = std::sync::Arc::new(client(&cfg));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let client = client.clone();
        set.spawn(async move {
            client
                .meeting_qos(&format!("{i}"), QosType::Live, &Cutoff::new())
                .await
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    // A burst of 4, then 4 a second: the last 12 need at least 3 s.
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    // The most requests in any window of `len` starting at a request.
    let most_within = |stamps: &[Instant], len: Duration| {
        (0..stamps.len())
            .map(|i| {
                stamps[i..]
                    .iter()
                    .take_while(|u| u.duration_since(stamps[i]) < len)
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    // In any one second, at most the burst plus a second's worth.
    let within = most_within(&stamps, Duration::from_secs(1));
    assert!(within <= 8, "{within} requests within 1 s");
    // And not much more than a second's worth once the burst is spent.
    let within = most_within(&stamps[4..], Duration::from_millis(990));
    assert!(within <= 5, "{within} requests within 1 s after the burst");
}

#[tokio::test]
async fn an_oversized_body_fails_like_a_malformed_one() {
    // Before: a 50 MB body was read whole and accepted.
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    let mut huge = String::from("{\"participants\": [");
    huge.push_str(&" ".repeat(33 << 20));
    huge.push_str("]}");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .expect(3)
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let e = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ZoomError::DecodeResponse { .. }) && e.to_string().contains("32 MiB"),
        "{e}"
    );
}

#[tokio::test]
async fn errors_name_zoom_codes_plainly() {
    // Before: `Zoom code Some(124)` and `Zoom code None`.
    let zoom = MockZoom::builder()
        .access_token("t")
        .expires_in(3600)
        .expect_tokens(1)
        .start()
        .await;
    let server = &zoom.server;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"code": 300, "message": "Invalid meeting id."})),
        )
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(418).set_body_string("teapot"))
        .mount(server)
        .await;
    let client = client(&config(&zoom, 100));
    let with_code = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        with_code.contains("HTTP 400 (Zoom code 300): Invalid meeting id."),
        "{with_code}"
    );
    let without = client
        .meeting_qos("1", QosType::Live, &Cutoff::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        without.contains("HTTP 418: teapot") && !without.contains("None"),
        "{without}"
    );
}

#[tokio::test]
async fn the_days_request_count_survives_a_restart_and_a_new_utc_day_starts_at_zero() {
    let zoom = MockZoom::start().await;
    kit::zoom::any_bulk_qos()
        .respond_with(kit::zoom::json(r#"{"total_records":0,"participants":[]}"#))
        .expect(3)
        .mount(&zoom.server)
        .await;
    let state = tempfile::tempdir().unwrap();
    let c = config(&zoom, 100);
    let start = |at: f64| {
        ZoomClient::new(&c, fast(), ZoomMetrics::default())
            .unwrap()
            .with_clock(Clock::starting_at(at))
            .with_budget_file(state.path())
    };
    let first = start(NOON);
    for _ in 0..3 {
        first
            .meeting_qos("1", QosType::Live, &Cutoff::new())
            .await
            .unwrap();
    }
    assert_eq!(first.budget_left(), 97);
    drop(first); // a restart
    // Later the same UTC day: the count goes on.
    let again = start(NOON + 11.0 * 3600.0);
    assert_eq!(again.budget_left(), 97);
    drop(again);
    // The next UTC day: a new budget.
    let tomorrow = start(NOON + 12.0 * 3600.0 + 60.0);
    assert_eq!(tomorrow.budget_left(), 100);
}
