//! Zoom's event notifications, end to end: the real binary with
//! `zoom.webhook` (and `zoom.websocket`) against a mock Zoom, a mock Slack
//! and a loopback WebSocket. URL validation; refused requests (wrong
//! signature, missing header, a timestamp 6 minutes old, an oversized
//! body) change nothing; a redelivery acts once; `meeting.alert` polls
//! that meeting within 2 s; a QSS sample reaches Slack with no QoS poll;
//! `participant_left` resolves within 2 s; a dropped WebSocket reconnects
//! and catches up with a poll, and sends Zoom's heartbeat; webinars poll
//! `/metrics/webinars/...`; a QSS meeting is polled only on `meeting.alert`;
//! event-learned meetings and the day's request count survive a restart.

mod kit;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use kit::config::ServiceConfig;
use kit::events::{self, Hook, SECRET_TOKEN, Signing};
use kit::process::Service;
use kit::respond::Recorder;
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request};

const RULES: &str = r#"rules:
  - name: latency-high
    severity: critical
    when: audio_input.latency > 150ms
    resolved_summary: "{{ user_name }} done ({{ reason }})"
"#;

/// A mock Slack and its recorder.
async fn slack() -> (MockServer, Recorder) {
    let server = MockServer::start().await;
    let recorder = Recorder::mounted(&server, "/slack").await;
    (server, recorder)
}

/// A service receiving events and polling nothing on its own (no
/// discovery, no targets, an hour between polls of a meeting).
fn config(zoom: &MockZoom, slack: &MockServer) -> ServiceConfig {
    ServiceConfig::new(zoom)
        .interval("1h")
        .events_only()
        .webhook()
        .rule_file("rules.yaml", RULES)
        .slack("oncall", &format!("{}/slack", slack.uri()))
        .route_to(&["oncall"])
}

/// The QoS GETs Zoom has seen for the meeting whose path segment is `seg`.
async fn qos_polls(zoom: &MockZoom, seg: &str) -> usize {
    let want = format!("/v2/metrics/meetings/{seg}/participants/qos");
    zoom.server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == want)
        .count()
}

/// Waits up to `within` for `n` QoS polls of `seg`; returns how long it took.
async fn wait_polls(zoom: &MockZoom, seg: &str, n: usize, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if qos_polls(zoom, seg).await >= n {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A participant with one degraded sample this minute.
fn degraded(user_id: &str) -> Participant {
    let minute = zoom::now_secs() / 60 * 60;
    Participant::new(user_id)
        .name(&format!("user {user_id}"))
        .sample(QosSample::at_unix(minute).stream("audio_input", Stream::new().latency("300 ms")))
}

fn text(b: &Value) -> String {
    b.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_change_nothing_and_verified_ones_act_once() {
    let zoom = MockZoom::start().await;
    zoom.mount(zoom::any_bulk_qos().respond_with(zoom::json(QosPage::new().to_json())))
        .await;
    let (slack, _) = slack().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&zoom, &slack).write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let admin = service.listen_url(Duration::from_secs(20));
    let hook = Hook::new(service.events_url(Duration::from_secs(20)));

    // Ready with nothing to poll: the receiver is the source (a readiness
    // probe must not keep Zoom's URL validation out).
    let mut ready = false;
    for _ in 0..50 {
        let r = reqwest::get(format!("{admin}/readyz")).await.unwrap();
        if r.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "an events-only service never got ready");

    // Zoom's URL validation.
    let (status, body) = hook
        .post(&events::url_validation("qgg8vlvZRS6UYooatFL8Aw"))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        events::hmac_hex(SECRET_TOKEN, "qgg8vlvZRS6UYooatFL8Aw")
    );

    // Refused: wrong secret, no signature, a timestamp 6 minutes old, a
    // body over 1 MiB. None of them polls the meeting.
    let alert = events::meeting_event("meeting.alert", 42, "al1==", &["Unstable audio quality"]);
    let wrong = Signing {
        secret: "not-the-secret".into(),
        ..Signing::default()
    };
    let unsigned = Signing {
        unsigned: true,
        ..Signing::default()
    };
    let old = Signing {
        skew: -360,
        ..Signing::default()
    };
    for signing in [&wrong, &unsigned, &old] {
        let (status, _) = hook.post_with(&alert, signing).await;
        assert_eq!(status, 401, "{signing:?}");
    }
    // Verified but not an event: 400, counted, nothing else.
    assert_eq!(hook.post("{oops").await.0, 400);
    let huge = format!(
        "{{\"event\":\"meeting.alert\",\"pad\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    assert_eq!(hook.post(&huge).await.0, 413);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        qos_polls(&zoom, "al1%3D%3D").await,
        0,
        "a refused event was acted on"
    );

    // Verified: meeting.alert polls that meeting's QoS within 2 s.
    assert_eq!(hook.post(&alert).await.0, 200);
    let took = wait_polls(&zoom, "al1%3D%3D", 1, Duration::from_secs(2)).await;
    assert!(took.is_some(), "no QoS poll within 2 s of meeting.alert");

    // A redelivery (same request id, or same event, time and object) acts once.
    let again = events::meeting_event("meeting.alert", 43, "re1==", &["High CPU occupation"]);
    let first = Signing {
        request_id: Some("dup-1".into()),
        ..Signing::default()
    };
    let other_id = Signing {
        request_id: Some("dup-2".into()),
        ..Signing::default()
    };
    for signing in [&first, &first, &other_id] {
        assert_eq!(hook.post_with(&again, signing).await.0, 200);
    }
    assert!(
        wait_polls(&zoom, "re1%3D%3D", 1, Duration::from_secs(2))
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        qos_polls(&zoom, "re1%3D%3D").await,
        1,
        "a redelivered event acted twice"
    );

    // Counted, and the secret shows nowhere.
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("qoswatch_zoom_webhook_requests_total{status=\"401\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qoswatch_zoom_webhook_requests_total{status=\"413\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "qoswatch_zoom_events_total{event=\"meeting.alert\",outcome=\"duplicate\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("qoswatch_meetings{state=\"hot\"} 2"),
        "{metrics}"
    );
    kit::promtool_check(&metrics);
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let lines = service.lines().join("\n");
    assert!(!lines.contains(SECRET_TOKEN) && !metrics.contains(SECRET_TOKEN));
    assert!(lines.contains("Zoom event refused (401)"), "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_qss_sample_reaches_slack_without_a_qos_poll() {
    let zoom = MockZoom::start().await;
    zoom.mount(
        zoom::any_bulk_qos()
            .respond_with(zoom::json(QosPage::new().to_json()))
            .expect(0),
    )
    .await;
    let (slack, messages) = slack().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&zoom, &slack).write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let hook = Hook::new(service.events_url(Duration::from_secs(20)));
    let minute = zoom::stamp(zoom::now_secs() / 60 * 60);
    let qos = events::qss_event(44, "qss1==", "7", &minute, "300 ms");
    assert_eq!(hook.post(&qos).await.0, 200);
    let fired = messages.wait("a firing message", |b| text(b).contains("latency-high"));
    assert!(text(&fired).contains("user 7"), "{fired}");
    // Still no poll a while later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    drop(zoom); // verifies .expect(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn participant_left_resolves_that_participants_alert_at_once() {
    let zoom = MockZoom::start().await;
    zoom.mount(zoom::bulk_qos("pl1%3D%3D").respond_with(|_: &Request| {
        zoom::json(QosPage::new().participant(degraded("7")).to_json())
    }))
    .await;
    let (slack, messages) = slack().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&zoom, &slack).write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let hook = Hook::new(service.events_url(Duration::from_secs(20)));
    // Learned from meeting.started, polled once, fires.
    assert_eq!(
        hook.post(&events::meeting_event("meeting.started", 45, "pl1==", &[]))
            .await
            .0,
        200
    );
    messages.wait("a firing message", |b| text(b).contains("latency-high"));
    let before = messages.bodies().len();
    let sent = Instant::now();
    assert_eq!(
        hook.post(&events::participant_event(
            "meeting.participant_left",
            45,
            "pl1==",
            "7"
        ))
        .await
        .0,
        200
    );
    let resolved = messages.wait("a resolution", |b| text(b).contains("participant_left"));
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "resolved after {:?}",
        sent.elapsed()
    );
    assert!(text(&resolved).contains("user 7 done"), "{resolved}");
    assert_eq!(messages.bodies().len(), before + 1);
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_websocket_reconnects_and_catches_up_with_a_poll() {
    let zoom = MockZoom::start().await;
    zoom.mount(zoom::bulk_qos("ws1%3D%3D").respond_with(zoom::json(QosPage::new().to_json())))
        .await;
    let (slack, _) = slack().await;
    // Zoom's WebSocket on loopback: the first connection sends
    // meeting.started and drops; later ones stay open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            n += 1;
            let seen_tx = seen_tx.clone();
            let query = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let q = query.clone();
            // The handshake's callback type is tungstenite's.
            #[allow(clippy::result_large_err)]
            let callback =
                move |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                    *q.lock().unwrap() = req.uri().query().unwrap_or("").to_owned();
                    Ok(resp)
                };
            let mut ws = tokio_tungstenite::accept_hdr_async(stream, callback)
                .await
                .unwrap();
            seen_tx.send(query.lock().unwrap().clone()).unwrap();
            if n == 1 {
                let started = events::meeting_event("meeting.started", 46, "ws1==", &[]);
                let frame =
                    serde_json::json!({"module": "message", "content": started}).to_string();
                ws.send(tokio_tungstenite::tungstenite::Message::text(frame))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(800)).await;
                drop(ws); // dropped, not closed
            } else {
                tokio::spawn(async move { while ws.next().await.is_some() {} });
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = ServiceConfig::new(&zoom)
        .interval("1h")
        .events_only()
        .websocket(&ws_url, "sub-1")
        .rule_file("rules.yaml", RULES)
        .slack("oncall", &format!("{}/slack", slack.uri()))
        .route_to(&["oncall"])
        .write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let first = tokio::time::timeout(Duration::from_secs(20), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.contains("subscriptionId=sub-1") && first.contains("access_token=tok"),
        "{first}"
    );
    // meeting.started over the socket: polled once.
    assert!(
        wait_polls(&zoom, "ws1%3D%3D", 1, Duration::from_secs(5))
            .await
            .is_some()
    );
    // The drop: a reconnect, then one catch-up poll.
    let second = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
    assert!(second.is_ok(), "no reconnect");
    assert!(
        wait_polls(&zoom, "ws1%3D%3D", 2, Duration::from_secs(5))
            .await
            .is_some(),
        "no catch-up poll after the reconnect"
    );
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let lines = service.lines().join("\n");
    assert!(lines.contains("reconnected"), "{lines}");
    assert!(
        !lines.contains("access_token=tok"),
        "the token was logged: {lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn meetings_learned_from_events_and_the_days_requests_survive_a_restart() {
    let zoom = MockZoom::start().await;
    zoom.mount(zoom::bulk_qos("rs1%3D%3D").respond_with(zoom::json(QosPage::new().to_json())))
        .await;
    let (slack, _) = slack().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&zoom, &slack).write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let hook = Hook::new(service.events_url(Duration::from_secs(20)));
    let started = events::meeting_event("meeting.started", 47, "rs1==", &[]);
    assert_eq!(hook.post(&started).await.0, 200);
    assert!(
        wait_polls(&zoom, "rs1%3D%3D", 1, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let budget: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/zoom-budget.json")).unwrap())
            .unwrap();
    assert_eq!(budget["requests"], 1, "{budget}");
    // Restarted: the meeting is polled again without a new event.
    let mut again = Service::run(&path, "info", &[]);
    again.expect_line(
        &["restored meetings learned from Zoom's events"],
        Duration::from_secs(20),
    );
    assert!(
        wait_polls(&zoom, "rs1%3D%3D", 2, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_eq!(again.terminate(Duration::from_secs(15)), Some(0));
    let budget: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/zoom-budget.json")).unwrap())
            .unwrap();
    assert_eq!(
        budget["requests"], 2,
        "the count went on from the first run: {budget}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_websocket_sends_zoom_heartbeats_and_hands_events_on() {
    use qoswatch::config::WebSocketConfig;
    use qoswatch::metrics::EventMetrics;
    use qoswatch::source::events::websocket::{WsTuning, run};
    use std::sync::Arc;
    let zoom = MockZoom::start().await;
    let client = Arc::new(
        qoswatch::zoom::client::ZoomClient::new(
            &zoom.config(),
            qoswatch::zoom::client::RetryPolicy::default(),
            qoswatch::metrics::ZoomMetrics::default(),
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let (frames_tx, mut frames) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let ended = events::meeting_event("meeting.ended", 48, "hb1==", &[]);
        let frame = serde_json::json!({"module": "message", "content": ended}).to_string();
        ws.send(tokio_tungstenite::tungstenite::Message::text(frame))
            .await
            .unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                frames_tx.send(t.to_string()).unwrap();
            }
        }
    });
    let (queue, mut incoming) = tokio::sync::mpsc::channel(16);
    let (steer, _commands) = tokio::sync::mpsc::channel(16);
    let metrics = EventMetrics::default();
    let cancel = tokio_util::sync::CancellationToken::new();
    let tuning = WsTuning {
        heartbeat: Duration::from_millis(200),
        ..WsTuning::default()
    };
    let config = WebSocketConfig {
        subscription_id: "sub".into(),
        url,
    };
    let task = tokio::spawn(run(
        config,
        client,
        queue,
        steer,
        metrics.clone(),
        tuning,
        cancel.clone(),
    ));
    let event = tokio::time::timeout(Duration::from_secs(5), incoming.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.parsed.name, "meeting.ended");
    for _ in 0..3 {
        let frame = tokio::time::timeout(Duration::from_secs(2), frames.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame, r#"{"module":"heartbeat"}"#);
    }
    assert_eq!(metrics.websocket_up.get(), 1);
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(metrics.websocket_up.get(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn webinars_poll_their_own_endpoint_and_a_qss_meeting_is_polled_only_on_alert() {
    let zoom = MockZoom::start().await;
    zoom.mount(
        Mock::given(method("GET"))
            .and(path("/v2/metrics/webinars/wb1%3D%3D/participants/qos"))
            .respond_with(zoom::json(QosPage::new().to_json())),
    )
    .await;
    zoom.mount(zoom::any_bulk_qos().respond_with(zoom::json(QosPage::new().to_json())))
        .await;
    let (slack, _) = slack().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&zoom, &slack).write(dir.path());
    let mut service = Service::run(&path, "info", &[]);
    let hook = Hook::new(service.events_url(Duration::from_secs(20)));
    let webinar = events::meeting_event("webinar.alert", 49, "wb1==", &["Unstable video quality"]);
    assert_eq!(hook.post(&webinar).await.0, 200);
    let webinar_polls = || async {
        zoom.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == "/v2/metrics/webinars/wb1%3D%3D/participants/qos")
            .count()
    };
    let mut polled = false;
    for _ in 0..20 {
        if webinar_polls().await == 1 {
            polled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(polled, "webinar.alert did not poll /metrics/webinars/...");
    // A meeting whose QoS comes by QSS: no poll, until Zoom flags it.
    let minute = zoom::stamp(zoom::now_secs() / 60 * 60);
    assert_eq!(
        hook.post(&events::qss_event(50, "q2==", "8", &minute, "90 ms"))
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        qos_polls(&zoom, "q2%3D%3D").await,
        0,
        "a QSS meeting was polled"
    );
    let alert = events::meeting_event("meeting.alert", 50, "q2==", &["Unstable audio quality"]);
    assert_eq!(hook.post(&alert).await.0, 200);
    assert!(
        wait_polls(&zoom, "q2%3D%3D", 1, Duration::from_secs(2))
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        qos_polls(&zoom, "q2%3D%3D").await,
        1,
        "polled again after the alert poll"
    );
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let lines = service.lines().join("\n");
    assert!(lines.contains("arrives by QSS"), "{lines}");
}
