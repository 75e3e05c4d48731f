//! The HTTP endpoints of a running service against a mock Zoom:
//! /healthz, /readyz, /api/alerts, /metrics (clean under `promtool check
//! metrics` where promtool is installed), no secret in any output, and
//! SIGTERM ending the service with exit code 0 within 15 s.

mod kit;

use std::process::{Command, Stdio};
use std::time::Duration;

use kit::config::ServiceConfig;
use kit::process::{Service, qoswatch};
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CLIENT_SECRET: &str = "zoom-client-secret-4711";
const ACCESS_TOKEN: &str = "zoom-access-token-0815";
const SLACK_TOKEN: &str = "xoxb-SLACKWEBHOOKSECRETPATH";

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_answer_and_secrets_stay_hidden() {
    let zoom = MockZoom::builder()
        .client_secret(CLIENT_SECRET)
        .access_token(ACCESS_TOKEN)
        .start()
        .await;
    zoom.mount(zoom::bulk_qos("42").respond_with(|_: &Request| {
        let sample = QosSample::at_unix(zoom::now_secs())
            .stream("audio_input", Stream::new().latency("300 ms"));
        zoom::json(
            QosPage::new()
                .participant(Participant::new("7").name("Alice").sample(sample))
                .to_json(),
        )
    }))
    .await;
    let slack = MockServer::start().await;
    // Slack refuses permanently: its reason is logged, the URL must not be.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::secret_from_env(&zoom, "SECRET")
        .targets(&["42"])
        .rule_file(
            "rules.yaml",
            "rules:\n  - name: latency-high\n    severity: critical\n    when: audio_input.latency > 150ms\n",
        )
        .notifier("oncall", "{ type: slack, url: \"${SLACK_URL}\" }")
        .write(dir.path());
    let mut cmd = qoswatch();
    cmd.args([
        "--log-format",
        "json",
        "run",
        "-c",
        config.to_str().unwrap(),
    ])
    .env("SECRET", CLIENT_SECRET)
    .env(
        "SLACK_URL",
        format!("{}/services/{SLACK_TOKEN}", slack.uri()),
    )
    .env("RUST_LOG", "debug");
    let mut service = Service::spawn(cmd);
    let base = service.listen_url(Duration::from_secs(20));
    let http = reqwest::Client::new();
    let get = |p: &str| http.get(format!("{base}{p}")).send();
    let r = get("/healthz").await.unwrap();
    assert_eq!(r.status(), 200);
    // Ready once the first poll succeeded; alerts listed once firing.
    let mut ready = false;
    let mut alerts = serde_json::Value::Null;
    for _ in 0..100 {
        ready = get("/readyz").await.unwrap().status() == 200;
        alerts = get("/api/alerts").await.unwrap().json().await.unwrap();
        if ready && alerts["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready);
    let a = &alerts["alerts"][0];
    assert_eq!(
        (
            a["rule"].as_str(),
            a["severity"].as_str(),
            a["participant"].as_str()
        ),
        (Some("latency-high"), Some("critical"), Some("7"))
    );
    assert_eq!(a["value"], 300.0);
    // Let the Slack attempt happen and be counted.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = get("/metrics").await.unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text().await.unwrap();
    for needle in [
        "qoswatch_zoom_requests_total{endpoint=\"list_participants_qos\",status=\"200\"}",
        "qoswatch_zoom_budget_remaining_requests",
        "qoswatch_samples_processed_total",
        "qoswatch_alerts_firing{rule=\"latency-high\",severity=\"critical\"} 1",
        "qoswatch_notifications_total{notifier=\"oncall\",outcome=\"failed\"} 1",
        "qoswatch_rules_last_reload_success 1",
        "qoswatch_poll_duration_seconds_bucket",
        "qoswatch_outbox_messages",
        "qoswatch_notifications_suppressed_total{reason=\"inhibited\"} 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(
        !text.contains("qoswatch_samples_processed_total 0"),
        "{text}"
    );
    let strict = kit::strict();
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let o = p.wait_with_output().unwrap();
            assert!(
                o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
                "promtool: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Err(_) => {
            assert!(!strict, "QOSWATCH_STRICT=1 but promtool is missing");
            eprintln!(
                "notice: promtool not found; skipping `promtool check metrics` (apt-get install prometheus)"
            );
        }
    }
    // SIGTERM: exit 0 within 15 s.
    assert_eq!(
        service.terminate(Duration::from_secs(15)),
        Some(0),
        "exit code 0 within 15 s of SIGTERM"
    );
    let mut printed = service.lines().to_vec();
    printed.push(text);
    printed.push(alerts.to_string());
    for secret in [CLIENT_SECRET, ACCESS_TOKEN, SLACK_TOKEN] {
        assert!(
            !printed.iter().any(|l| l.contains(secret)),
            "{secret} leaked: {:#?}",
            printed
                .iter()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        printed.iter().any(|l| l.contains("no_service")),
        "the receiver's reason is logged: {printed:#?}"
    );
}
