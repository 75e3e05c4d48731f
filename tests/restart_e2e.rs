//! kill -9 while Slack is down, restart with Slack up: the pending alert is
//! delivered and nothing delivered before the kill is posted again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Zoom's bulk QoS: Alice is bad from the start, Bob once `bob` is set.
struct Qos {
    bob: Arc<AtomicBool>,
}

impl Respond for Qos {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = chrono::Utc::now().timestamp();
        let stamp = chrono::DateTime::from_timestamp(now, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let person = |id: &str, name: &str| serde_json::json!({"user_id": id, "user_name": name, "user_qos": [{"date_time": stamp, "audio_input": {"latency": "300 ms"}}]});
        let mut participants = vec![person("1", "Alice")];
        if self.bob.load(Ordering::SeqCst) {
            participants.push(person("2", "Bob"));
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"next_page_token": "", "participants": participants}))
    }
}

/// Slack: up or down; records (body, status) of every post.
struct Slack {
    up: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Respond for Slack {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let status = if self.up.load(Ordering::SeqCst) {
            200
        } else {
            503
        };
        self.log
            .lock()
            .unwrap()
            .push((String::from_utf8_lossy(&req.body).into_owned(), status));
        if status == 200 {
            ResponseTemplate::new(200).set_body_string("ok")
        } else {
            ResponseTemplate::new(503)
        }
    }
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args(["run", "-c", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_with_slack_down_then_restart_delivers_once() {
    let zoom = MockServer::start().await;
    let bob = Arc::new(AtomicBool::new(false));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "t", "expires_in": 3600})),
        )
        .mount(&zoom)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/42/participants/qos"))
        .respond_with(Qos { bob: bob.clone() })
        .mount(&zoom)
        .await;
    let slack = MockServer::start().await;
    let up = Arc::new(AtomicBool::new(true));
    let log = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(Slack {
            up: up.clone(),
            log: log.clone(),
        })
        .mount(&slack)
        .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n",
    )
    .unwrap();
    let config = dir.path().join("qoswatch.yaml");
    std::fs::write(
        &config,
        format!(
            "zoom:\n  account_id: a\n  client_id: b\n  client_secret: c\n  api_base: {z}/v2\n  oauth_url: {z}/oauth/token\npoll:\n  interval: 1s\n  discover: false\n  targets: [{{ meeting: \"42\" }}]\nrules: [rules.yaml]\nnotifiers:\n  oncall: {{ type: slack, url: \"{s}/services/T/B/X\" }}\nstate_dir: state\nhttp: {{ listen: \"127.0.0.1:0\" }}\n",
            z = zoom.uri(),
            s = slack.uri()
        ),
    )
    .unwrap();
    let delivered = |name: &str| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(b, s)| *s == 200 && b.contains(name))
            .count()
    };
    let attempted = |name: &str| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(b, _)| b.contains(name))
            .count()
    };

    let mut child = spawn(&config);
    assert!(
        wait(20, || delivered("Alice") == 1),
        "Alice's alert delivered: {:?}",
        log.lock().unwrap()
    );
    // Slack goes down; Bob's alert fires and cannot be delivered.
    up.store(false, Ordering::SeqCst);
    bob.store(true, Ordering::SeqCst);
    assert!(wait(20, || attempted("Bob") >= 1), "Bob's alert attempted");
    // Kill before the next state save: after the restart Bob is seen for the
    // first time again, and must not be announced twice.
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(delivered("Bob"), 0);
    let pending = std::fs::read_dir(dir.path().join("state/outbox"))
        .unwrap()
        .count();
    assert!(pending >= 1, "the undelivered message is on disk");

    // Restart with Slack up: Bob's alert arrives, Alice's is not posted again.
    up.store(true, Ordering::SeqCst);
    let mut child = spawn(&config);
    assert!(
        wait(20, || delivered("Bob") >= 1),
        "Bob's alert delivered after the restart: {:?}",
        log.lock().unwrap()
    );
    std::thread::sleep(Duration::from_secs(4));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(delivered("Alice"), 1, "{:?}", log.lock().unwrap());
    assert_eq!(delivered("Bob"), 1, "{:?}", log.lock().unwrap());
}
