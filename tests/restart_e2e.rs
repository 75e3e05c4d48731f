//! kill -9 while Slack is down, restart with Slack up: the pending alert is
//! delivered and nothing delivered before the kill is posted again.

mod kit;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit::config::ServiceConfig;
use kit::eventually;
use kit::process::Service;
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Zoom's bulk QoS: Alice is bad from the start, Bob once `bob` is set.
fn qos(bob: &AtomicBool) -> ResponseTemplate {
    let now = zoom::now_secs();
    let person = |id: &str, name: &str| {
        Participant::new(id)
            .name(name)
            .sample(QosSample::at_unix(now).stream("audio_input", Stream::new().latency("300 ms")))
    };
    let mut page = QosPage::new().participant(person("1", "Alice"));
    if bob.load(Ordering::SeqCst) {
        page = page.participant(person("2", "Bob"));
    }
    zoom::json(page.to_json())
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

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_with_slack_down_then_restart_delivers_once() {
    let zoom = MockZoom::start().await;
    let bob = Arc::new(AtomicBool::new(false));
    let bob2 = bob.clone();
    zoom.mount(zoom::bulk_qos("42").respond_with(move |_: &Request| qos(&bob2)))
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
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .latency_rule()
        .slack("oncall", &format!("{}/services/T/B/X", slack.uri()))
        .write(dir.path());
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

    let mut service = Service::run(&config, "warn", &[]);
    assert!(
        eventually(Duration::from_secs(20), || delivered("Alice") == 1),
        "Alice's alert delivered: {:?}",
        log.lock().unwrap()
    );
    // Slack goes down; Bob's alert fires and cannot be delivered.
    up.store(false, Ordering::SeqCst);
    bob.store(true, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(20), || attempted("Bob") >= 1),
        "Bob's alert attempted"
    );
    // Kill before the next state save: after the restart Bob is seen for the
    // first time again, and must not be announced twice.
    std::thread::sleep(Duration::from_millis(200));
    service.kill(); // SIGKILL
    assert_eq!(delivered("Bob"), 0);
    let pending = std::fs::read_dir(dir.path().join("state/outbox"))
        .unwrap()
        .count();
    assert!(pending >= 1, "the undelivered message is on disk");

    // Restart with Slack up: Bob's alert arrives, Alice's is not posted again.
    up.store(true, Ordering::SeqCst);
    let mut service = Service::run(&config, "warn", &[]);
    assert!(
        eventually(Duration::from_secs(20), || delivered("Bob") >= 1),
        "Bob's alert delivered after the restart: {:?}",
        log.lock().unwrap()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    assert_eq!(delivered("Alice"), 1, "{:?}", log.lock().unwrap());
    assert_eq!(delivered("Bob"), 1, "{:?}", log.lock().unwrap());
}
