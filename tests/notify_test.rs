//! `qoswatch notify-test` through the real binary against mock receivers.

mod kit;

use std::process::{Output, Stdio};

use kit::config::write_file as write;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn notify_test(config: &std::path::Path, names: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = kit::process::qoswatch();
    c.arg("notify-test").arg("-c").arg(config).args(names);
    c.env_remove("RUST_LOG").stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn receiver(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status).set_body_string(body))
        .mount(&server)
        .await;
    server
}

/// One notifier answering 200 and one answering 404: both lines, exit 1,
/// and the test message really reached the first one, marked as a test.
#[tokio::test(flavor = "multi_thread")]
async fn reports_each_notifier_and_fails_when_one_fails() {
    let good = receiver(200, "ok").await;
    let dead = receiver(404, "no_service").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "qoswatch.yaml",
        &format!(
            "zoom:\n  account_id: ${{ZOOM_ACCOUNT_ID}}\n  client_id: x\n  client_secret: ${{ZOOM_SECRET}}\n\
             rules: []\nnotifiers:\n  slack-ok:\n    type: slack\n    url: {}/hook\n  \
             slack-dead:\n    type: slack\n    url: {}/hook\n  stdout:\n    type: console\n",
            good.uri(),
            dead.uri()
        ),
    );
    // Zoom's variables are unset: testing a webhook needs no Zoom credentials.
    let out = tokio::task::spawn_blocking(move || notify_test(&config, &[], &[]))
        .await
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("slack-ok: ok (HTTP 200)"), "{stdout}");
    assert!(
        stdout.contains("slack-dead: failed: HTTP 404: no_service"),
        "{stdout}"
    );
    assert!(stdout.contains("stdout: ok (printed)"), "{stdout}");
    let got = good.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body = text(&got[0].body);
    assert!(body.contains("Test message from qoswatch"), "{body}");
}

/// Named notifiers only; all ok exits 0; an unknown name is a usage error
/// with a suggestion; an unset URL variable fails by name, not by crash.
#[tokio::test(flavor = "multi_thread")]
async fn named_notifiers_unknown_names_and_unset_urls() {
    let good = receiver(200, "ok").await;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "qoswatch.yaml",
        &format!(
            "replay: samples/\nrules: []\nnotifiers:\n  slack-warn:\n    type: slack\n    url: {}/hook\n  \
             teams:\n    type: teams\n    url: ${{TEAMS_URL}}\n",
            good.uri()
        ),
    );
    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || notify_test(&c, &["slack-warn"], &[]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout).trim(), "slack-warn: ok (HTTP 200)");

    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || notify_test(&c, &["slack-warm"], &[]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no notifier `slack-warm`"), "{err}");
    assert!(err.contains("did you mean `slack-warn`"), "{err}");

    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || notify_test(&c, &["teams"], &[]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).trim(),
        "teams: failed: its URL uses ${TEAMS_URL}, which is not set"
    );
    // Only the one named notifier was posted to, once.
    assert_eq!(good.received_requests().await.unwrap().len(), 1);
}
