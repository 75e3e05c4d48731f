//! Delivery against wiremock receivers: Retry-After is honoured, retries
//! end in exactly one delivery, permanent errors are not retried, timeouts
//! are retried, old messages are dropped, webhooks are signed. Real time,
//! millisecond settings.

mod kit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::respond::Script;

use qoswatch::config::{NotifierConfig, NotifierKind, Secret, SecretUrl};
use qoswatch::metrics::DeliveryMetrics;
use qoswatch::net::Backoff;
use qoswatch::notify::channel::Pacing;
use qoswatch::notify::delivery::{DeliveryTuning, ReceiverHealth, Sender, run_worker};
use qoswatch::notify::outbox::Outbox;
use qoswatch::notify::webhook::signature;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn tuning() -> DeliveryTuning {
    DeliveryTuning {
        pacing: Pacing {
            slack: Duration::from_millis(10),
            teams: Duration::from_millis(10),
            webhook: Duration::from_millis(10),
        },
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        max_retry_after: Duration::from_secs(300),
        timeout: Duration::from_millis(300),
        failing_after: Duration::from_secs(300),
    }
}

fn notifier(name: &str, kind: NotifierKind, max_age: Duration) -> NotifierConfig {
    NotifierConfig {
        name: name.into(),
        kind,
        max_age,
    }
}

async fn deliver(cfg: NotifierConfig, body: &str, secs: u64) -> (Arc<Outbox>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap());
    outbox
        .enqueue(
            &cfg.name,
            body.to_owned(),
            vec!["k".into()],
            "test message".into(),
        )
        .unwrap();
    let cancel = CancellationToken::new();
    let worker = tokio::spawn(run_worker(
        outbox.clone(),
        Sender::new(cfg, &tuning()),
        tuning(),
        Arc::new(ReceiverHealth::default()),
        cancel.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(secs);
    while outbox.pending() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    worker.await.unwrap();
    (outbox, dir)
}

#[tokio::test]
async fn slack_429s_then_500s_deliver_exactly_once_respecting_retry_after() {
    let server = MockServer::start().await;
    let too_many = ResponseTemplate::new(429)
        .insert_header("Retry-After", "2")
        .set_body_string("rate_limited");
    let script = Script::new(vec![
        too_many.clone(),
        too_many.clone(),
        too_many,
        ResponseTemplate::new(500),
        ResponseTemplate::new(500),
        ResponseTemplate::new(200).set_body_string("ok"),
    ]);
    let times = script.times();
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(script)
        .expect(6)
        .mount(&server)
        .await;
    let cfg = notifier(
        "oncall",
        NotifierKind::Slack {
            url: SecretUrl::new(format!("{}/services/T/B/X", server.uri())),
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, r#"{"text":"hi"}"#, 20).await;
    assert_eq!(outbox.pending(), 0);
    assert_eq!(outbox.outcomes("oncall", "delivered"), 1);
    let t = times.lock().unwrap();
    // The attempt after each 429 waited at least the 2 s asked for.
    for i in 0..3 {
        let gap = t[i + 1] - t[i];
        assert!(
            gap >= Duration::from_secs(2),
            "attempt {} came {gap:?} after a 429",
            i + 2
        );
    }
}

#[tokio::test]
async fn server_errors_then_success_post_exactly_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(502),
            ResponseTemplate::new(503),
            ResponseTemplate::new(202),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let cfg = notifier(
        "netops",
        NotifierKind::Teams {
            url: SecretUrl::new(server.uri()),
            message_card: false,
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, "{}", 10).await;
    assert_eq!(outbox.outcomes("netops", "delivered"), 1);
    assert_eq!(outbox.outcomes("netops", "retried"), 2);
}

#[tokio::test]
async fn a_permanent_400_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = notifier(
        "oncall",
        NotifierKind::Slack {
            url: SecretUrl::new(server.uri()),
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, "{}", 5).await;
    assert_eq!(outbox.pending(), 0);
    assert_eq!(outbox.outcomes("oncall", "failed"), 1);
    assert_eq!(outbox.outcomes("oncall", "delivered"), 0);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(800)),
            ResponseTemplate::new(200).set_body_string("ok"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let cfg = notifier(
        "oncall",
        NotifierKind::Slack {
            url: SecretUrl::new(server.uri()),
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, "{}", 10).await;
    assert_eq!(outbox.outcomes("oncall", "delivered"), 1);
    assert_eq!(outbox.outcomes("oncall", "retried"), 1);
}

#[tokio::test]
async fn messages_older_than_max_age_are_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let cfg = notifier(
        "oncall",
        NotifierKind::Slack {
            url: SecretUrl::new(server.uri()),
        },
        Duration::from_millis(300),
    );
    let (outbox, _dir) = deliver(cfg, "{}", 5).await;
    assert_eq!(outbox.pending(), 0);
    assert_eq!(outbox.outcomes("oncall", "dropped"), 1);
}

#[tokio::test]
async fn webhooks_are_signed() {
    let server = MockServer::start().await;
    let body = r#"{"version":"4","status":"firing"}"#;
    Mock::given(method("POST"))
        .and(header(
            "X-Qoswatch-Signature",
            signature("s3cret", body.as_bytes()).as_str(),
        ))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let cfg = notifier(
        "tools",
        NotifierKind::Webhook {
            url: SecretUrl::new(server.uri()),
            secret: Some(Secret::new("s3cret")),
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, body, 5).await;
    assert_eq!(outbox.outcomes("tools", "delivered"), 1);
}

#[tokio::test]
async fn legacy_messagecard_errors_in_a_200_body_are_failures() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
                ResponseTemplate::new(200).set_body_string("Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId x"),
                ResponseTemplate::new(200).set_body_string("1"),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let cfg = notifier(
        "legacy",
        NotifierKind::Teams {
            url: SecretUrl::new(server.uri()),
            message_card: true,
        },
        Duration::from_secs(3600),
    );
    let (outbox, _dir) = deliver(cfg, "{}", 5).await;
    assert_eq!(outbox.outcomes("legacy", "delivered"), 1);
}
