//! The HTTP endpoints of a running service against a mock Zoom:
//! /healthz, /readyz, /api/alerts, /metrics (clean under `promtool check
//! metrics` where promtool is installed), no secret in any output, and
//! SIGTERM ending the service with exit code 0 within 15 s.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_SECRET: &str = "zoom-client-secret-4711";
const ACCESS_TOKEN: &str = "zoom-access-token-0815";
const SLACK_TOKEN: &str = "xoxb-SLACKWEBHOOKSECRETPATH";

struct Qos;

impl Respond for Qos {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next_page_token": "",
            "participants": [{"user_id": "7", "user_name": "Alice", "user_qos": [{"date_time": stamp, "audio_input": {"latency": "300 ms"}}]}]
        }))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_answer_and_secrets_stay_hidden() {
    let zoom = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"access_token": ACCESS_TOKEN, "expires_in": 3600}),
            ),
        )
        .mount(&zoom)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/42/participants/qos"))
        .respond_with(Qos)
        .mount(&zoom)
        .await;
    let slack = MockServer::start().await;
    // Slack refuses permanently: its reason is logged, the URL must not be.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "rules:\n  - name: latency-high\n    severity: critical\n    when: audio_input.latency > 150ms\n").unwrap();
    let config = dir.path().join("qoswatch.yaml");
    std::fs::write(
        &config,
        format!(
            "zoom:\n  account_id: acc\n  client_id: cid\n  client_secret: ${{SECRET}}\n  api_base: {z}/v2\n  oauth_url: {z}/oauth/token\npoll:\n  interval: 1s\n  discover: false\n  targets: [{{ meeting: \"42\" }}]\nrules: [rules.yaml]\nnotifiers:\n  oncall: {{ type: slack, url: \"${{SLACK_URL}}\" }}\nstate_dir: state\nhttp:\n  listen: 127.0.0.1:0\n",
            z = zoom.uri()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args([
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
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = channel::<String>();
    let tx2 = tx.clone();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send(l)))
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut base = None;
    while base.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(i) = line.find("listening on http://") {
                let rest = &line[i + "listening on ".len()..];
                base = Some(rest.split([' ', '"']).next().unwrap().to_owned());
            }
            printed.push(line);
        }
    }
    let base = base.unwrap_or_else(|| panic!("no listen line: {printed:#?}"));
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
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(
        !text.contains("qoswatch_samples_processed_total 0"),
        "{text}"
    );
    let strict = std::env::var("QOSWATCH_STRICT").is_ok_and(|v| v == "1");
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
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(200));
    printed.extend(rx.try_iter());
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
