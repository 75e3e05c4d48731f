//! The real binary against a mock Zoom: alerts reach the console, faults do
//! not stop the service, a broken rule reload keeps the last good rules, and
//! SIGTERM stops it with exit code 0.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Meeting {
    calls: Arc<AtomicUsize>,
    bad_until: usize,
}

impl Respond for Meeting {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let now = chrono::Utc::now().timestamp();
        let latency = if n < self.bad_until { 300 } else { 80 };
        let stamp = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next_page_token": "",
            "participants": [{
                "user_id": "16778240", "user_name": "<!channel> Alice", "device": "Mac",
                "user_qos": [{"date_time": stamp(now), "audio_input": {"latency": format!("{latency} ms")}}]
            }]
        }))
    }
}

async fn mock_zoom(bad_until: usize) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "tok-SECRET-123", "expires_in": 3600}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next_page_token": "", "meetings": [{"uuid": "abc==", "id": 85746065432u64, "topic": "Weekly sync"}]
        })))
        .mount(&server)
        .await;
    // One 500 first: the service must carry on.
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/abc%3D%3D/participants/qos"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/abc%3D%3D/participants/qos"))
        .respond_with(Meeting {
            calls: calls.clone(),
            bad_until,
        })
        .with_priority(2)
        .mount(&server)
        .await;
    (server, calls)
}

fn write_config(dir: &Path, server: &MockServer) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/latency.yaml"), "rules:\n  - name: latency-high\n    severity: critical\n    when: audio_input.latency > 150ms\n").unwrap();
    let config = format!(
        "zoom:\n  account_id: acc\n  client_id: cid\n  client_secret: ${{TEST_ZOOM_SECRET}}\n  api_base: {uri}/v2\n  oauth_url: {uri}/oauth/token\npoll:\n  interval: 1s\n  discover_interval: 1m\nrules: [rules/]\nnotifiers:\n  out: {{ type: console }}\nroutes:\n  - notify: [out]\nstate_dir: state\nhttp:\n  listen: 127.0.0.1:0\n",
        uri = server.uri()
    );
    let p = dir.join("qoswatch.yaml");
    std::fs::write(&p, config).unwrap();
    p
}

fn spawn(config: &Path) -> (Child, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args(["run", "-c", config.to_str().unwrap()])
        .env("TEST_ZOOM_SECRET", "zoom-secret-value")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = channel();
    let stdout = child.stdout.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("OUT {line}"));
        }
    });
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("ERR {line}"));
        }
    });
    (child, rx)
}

/// Waits for a line containing all of `needles`; returns everything seen.
fn wait_for(rx: &Receiver<String>, seen: &mut Vec<String>, needles: &[&str], secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    if seen.iter().any(|l| needles.iter().all(|n| l.contains(n))) {
        return true;
    }
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let hit = needles.iter().all(|n| line.contains(n));
        seen.push(line);
        if hit {
            return true;
        }
    }
    false
}

fn terminate(child: &mut Child) -> Option<i32> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_the_console_and_sigterm_stops_cleanly() {
    let (server, _calls) = mock_zoom(3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server);
    let (mut child, rx) = spawn(&config);
    let mut seen = Vec::new();
    assert!(
        wait_for(
            &rx,
            &mut seen,
            &[
                "OUT",
                "FIRING",
                "latency-high",
                "Weekly sync",
                "audio_input.latency = 300 ms"
            ],
            20
        ),
        "{seen:#?}"
    );
    assert!(
        wait_for(
            &rx,
            &mut seen,
            &["OUT", "RESOLVED", "latency-high", "80 ms"],
            20
        ),
        "{seen:#?}"
    );
    assert_eq!(terminate(&mut child), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(l) = rx.try_recv() {
        seen.push(l);
    }
    // The 500 was logged and survived; the secret never printed.
    assert!(
        seen.iter()
            .any(|l| l.starts_with("ERR") && l.contains("500")),
        "{seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("zoom-secret-value") || l.contains("tok-SECRET-123")),
        "{seen:#?}"
    );
    let firing = seen
        .iter()
        .filter(|l| l.starts_with("OUT") && l.contains("FIRING"))
        .count();
    assert_eq!(firing, 1, "one firing, not one per poll: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_rule_reload_keeps_the_last_good_rules() {
    let (server, calls) = mock_zoom(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server);
    let (mut child, rx) = spawn(&config);
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, &mut seen, &["OUT", "FIRING", "latency-high"], 20),
        "{seen:#?}"
    );
    // Break the rule file: the service keeps running with the last good set.
    std::fs::write(
        dir.path().join("rules/latency.yaml"),
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 2%\n",
    )
    .unwrap();
    assert!(
        wait_for(
            &rx,
            &mut seen,
            &[
                "OUT",
                "FIRING",
                "qoswatch-config-invalid",
                "latency.yaml:3:"
            ],
            20
        ),
        "{seen:#?}"
    );
    // The log line comes on stderr, read by another thread: wait for it too.
    assert!(
        wait_for(&rx, &mut seen, &["ERR", "reload failed"], 10),
        "{seen:#?}"
    );
    let before = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(calls.load(Ordering::SeqCst) > before, "still polling");
    // The firing alert of the unchanged rule was not reset (no second firing).
    assert_eq!(
        seen.iter()
            .filter(|l| l.starts_with("OUT") && l.contains("FIRING") && l.contains("latency-high"))
            .count(),
        1
    );
    // Fix it: the built-in alert resolves; the alert keeps firing.
    std::fs::write(dir.path().join("rules/latency.yaml"), "rules:\n  - name: latency-high\n    severity: critical\n    when: audio_input.latency > 150ms\n").unwrap();
    assert!(
        wait_for(
            &rx,
            &mut seen,
            &["OUT", "RESOLVED", "qoswatch-config-invalid"],
            20
        ),
        "{seen:#?}"
    );
    assert_eq!(terminate(&mut child), Some(0));
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("RESOLVED") && l.contains("latency-high")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_dry_run_prints_what_would_be_sent() {
    let (server, _calls) = mock_zoom(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server);
    let config_arg = config.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qoswatch"))
            .args(["once", "--dry-run", "-c", &config_arg])
            .env("TEST_ZOOM_SECRET", "zoom-secret-value")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    // The first GET answers 500 and is retried within the call.
    assert_eq!(
        output.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("--- out (console)") && out.contains("FIRING") && out.contains("latency-high"),
        "{out}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn run_without_credentials_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.yaml");
    std::fs::write(
        &p,
        "zoom:\n  account_id: a\n  client_id: b\n  client_secret: ${QOSWATCH_TEST_UNSET_SECRET}\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args(["run", "-c", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "q.yaml:4:18: error: environment variable `QOSWATCH_TEST_UNSET_SECRET` is not set"
        ),
        "{err}"
    );
    // check does not need the variable.
    let o = Command::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args(["check", "-c", p.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cannot read rules"), "{out}");
}
