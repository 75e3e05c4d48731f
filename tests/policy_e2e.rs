//! The notification policy of the real binary, against a mock Zoom and
//! mock Slack/Teams receivers (issue 13): a critical alert inhibits its
//! warning for the same participant (the warning is listed in
//! `/api/alerts` with `inhibited_by` and sent once the critical clears),
//! and a failing notifier raises `qoswatch-notifier-failing` on the other
//! notifier, never on itself, resolved where it fired at its next success.

mod kit;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use kit::config::ServiceConfig;
use kit::process::Service;
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WAIT: Duration = Duration::from_secs(30);

/// A mock Zoom polled as meeting 42, with one participant whose audio
/// stream carries `field` = the value `value` holds now (in tenths), one
/// sample a poll, each a minute of sample time after the last (starting
/// four hours ago, so `for:` durations pass in seconds and no sample is
/// ahead of the clock for the first 240 polls).
async fn mock_zoom(field: &'static str, value: Arc<AtomicI64>) -> MockZoom {
    let zoom = MockZoom::start().await;
    let polls = AtomicUsize::new(0);
    let start = (zoom::now_secs() - 4 * 3600) / 60 * 60;
    zoom.mount(zoom::bulk_qos("42").respond_with(move |_: &Request| {
        let n = polls.fetch_add(1, Ordering::SeqCst) as i64;
        let v = value.load(Ordering::SeqCst) as f64 / 10.0;
        let stream = match field {
            "avg_loss" => Stream::new().avg_loss(format!("{v}%")),
            _ => Stream::new().latency(format!("{v} ms")),
        };
        let sample = QosSample::at_unix(start + 60 * n).stream("audio_input", stream);
        zoom::json(
            QosPage::new()
                .participant(Participant::new("7").name("Alice").sample(sample))
                .to_json(),
        )
    }))
    .await;
    zoom
}

/// The bodies a receiver got, in order.
async fn bodies(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// Waits up to `timeout` for a body holding every needle (ignoring case);
/// returns it.
async fn wait_body(server: &MockServer, needles: &[&str], timeout: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(b) = bodies(server).await.into_iter().find(|b| {
            let b = b.to_lowercase();
            needles.iter().all(|n| b.contains(&n.to_lowercase()))
        }) {
            return Some(b);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A receiver answering 200 `ok`, or `failure` while `failing` is set.
async fn receiver(failing: Arc<AtomicBool>, failure: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            if failing.load(Ordering::SeqCst) {
                failure.clone()
            } else {
                ResponseTemplate::new(200).set_body_string("ok")
            }
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn a_critical_loss_inhibits_its_warning_until_it_clears() {
    // Issue 13: a 7.2% loss sent audio-loss-critical and audio-loss-high
    // side by side. The default pack's audio rules, as shipped.
    let loss = Arc::new(AtomicI64::new(72));
    let zoom = mock_zoom("avg_loss", loss.clone()).await;
    let slack = receiver(Arc::new(AtomicBool::new(false)), ResponseTemplate::new(500)).await;
    let pack = std::fs::read_to_string(kit::root().join("rules/audio.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .rule_file("audio.yaml", &pack)
        .slack("oncall", &format!("{}/slack", slack.uri()))
        .write(dir.path());
    let mut service = Service::run(&config, "info", &[]);
    let base = service.listen_url(WAIT);

    // The critical fires after a minute of sample time, the warning after
    // two: the warning is held, listed with the critical as the reason.
    wait_body(&slack, &["audio-loss-critical"], WAIT)
        .await
        .expect("the critical reaches Slack");
    let http = reqwest::Client::new();
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        let alerts: serde_json::Value = http
            .get(format!("{base}/api/alerts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(a) = alerts["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["rule"] == "audio-loss-high"))
        {
            listed = a.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        listed["inhibited_by"],
        serde_json::json!(["audio-loss-critical"]),
        "{listed:#}"
    );
    // Slack pacing is about a second: give a wrongly sent warning time to
    // arrive before asserting it did not.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent = bodies(&slack).await;
    assert!(
        !sent.iter().any(|b| b.contains("audio-loss-high")),
        "the warning was sent while the critical fired: {sent:#?}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("qoswatch_notifications_suppressed_total{reason=\"inhibited\"} 1"),
        "{metrics}"
    );

    // Below critical (and its 3% clear level), above the warning: the
    // critical resolves and the warning is sent then, once.
    loss.store(25, Ordering::SeqCst);
    let released = wait_body(&slack, &["audio-loss-high"], WAIT)
        .await
        .expect("the held warning is sent once the critical clears");
    // With what it shows now, not when it was held; in the same message as
    // the critical's resolution (one batch, one message).
    assert!(released.contains("2.5%"), "{released}");
    assert!(
        released.to_lowercase().contains("resolved") && released.contains("audio-loss-critical"),
        "{released}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let warnings = bodies(&slack)
        .await
        .iter()
        .filter(|b| b.contains("audio-loss-high"))
        .count();
    assert_eq!(warnings, 1, "sent once");
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
}

/// Two receivers: Slack `broken` fails with `failure` until told otherwise,
/// Teams `other` takes everything; a latency rule fires on both, then the test waits
/// for `qoswatch-notifier-failing` about `broken` on `other`, lets `broken`
/// recover, makes the rule resolve (a message `broken` now takes), and
/// waits for the resolution on `other`.
async fn failing_notifier_is_reported_elsewhere(failure: ResponseTemplate, why: &str) {
    let latency = Arc::new(AtomicI64::new(3000));
    let zoom = mock_zoom("latency", latency.clone()).await;
    let failing = Arc::new(AtomicBool::new(true));
    let broken = receiver(failing.clone(), failure).await;
    let other = receiver(Arc::new(AtomicBool::new(false)), ResponseTemplate::new(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .latency_rule()
        .slack("broken", &format!("{}/broken", broken.uri()))
        .teams("other", &format!("{}/other", other.uri()))
        .write(dir.path());
    let mut service = Service::run(
        &config,
        "info",
        &[("QOSWATCH_TEST_NOTIFIER_FAILING_AFTER", "3s")],
    );
    wait_body(&other, &["latency-high"], WAIT)
        .await
        .expect("the rule alert reaches the working notifier");
    let fired = wait_body(&other, &["FIRING", "qoswatch-notifier-failing"], WAIT)
        .await
        .expect("the failing notifier is reported on the other one");
    assert!(fired.contains("broken"), "names the notifier: {fired}");
    assert!(fired.contains(why), "says why: {fired}");

    failing.store(false, Ordering::SeqCst);
    latency.store(800, Ordering::SeqCst);
    let resolved = wait_body(
        &other,
        &["RESOLVED", "qoswatch-notifier-failing"],
        Duration::from_secs(60),
    )
    .await
    .expect("its resolution reaches where the firing went");
    assert!(resolved.contains("broken"), "{resolved}");
    wait_body(&broken, &["latency-high"], WAIT)
        .await
        .expect("the recovered notifier took a message");
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let to_broken = bodies(&broken).await;
    assert!(
        !to_broken
            .iter()
            .any(|b| b.contains("qoswatch-notifier-failing")),
        "an alert about a notifier is never sent to it: {to_broken:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notifier_answering_404_is_reported_on_the_other_notifier() {
    failing_notifier_is_reported_elsewhere(
        ResponseTemplate::new(404).set_body_string("no_service"),
        "refuses messages for good: HTTP 404",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notifier_without_success_while_messages_wait_is_reported() {
    // 503 is retried, never permanent: what counts is no success for the
    // (shortened) time while the message waits.
    failing_notifier_is_reported_elsewhere(
        ResponseTemplate::new(503),
        "has delivered nothing for over 3s",
    )
    .await;
}
