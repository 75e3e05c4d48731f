//! The real binary against a mock Zoom: alerts reach the console, faults do
//! not stop the service, a broken rule reload keeps the last good rules, and
//! SIGTERM stops it with exit code 0.

mod kit;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kit::config::{ServiceConfig, write_file};
use kit::process::{Service, qoswatch};
use kit::zoom::{self, Meeting, MeetingsPage, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::{Request, ResponseTemplate};

const ZOOM_SECRET: &str = "zoom-secret-value";
const ACCESS_TOKEN: &str = "tok-SECRET-123";

/// A mock Zoom with one live meeting: its first QoS poll answers 500, then
/// Alice's latency is 300 ms for `bad_until` polls, 80 ms afterwards.
async fn mock_zoom(bad_until: usize) -> (MockZoom, Arc<AtomicUsize>) {
    let zoom = MockZoom::builder()
        .client_secret(ZOOM_SECRET)
        .access_token(ACCESS_TOKEN)
        .start()
        .await;
    let meetings = MeetingsPage::new()
        .meeting(Meeting::new("abc==", 85746065432).topic("Weekly sync"))
        .to_json();
    zoom.mount(zoom::discovery().respond_with(zoom::json(meetings)))
        .await;
    // One 500 first: the service must carry on.
    zoom.mount(
        zoom::bulk_qos("abc%3D%3D")
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(1)
            .with_priority(1),
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    zoom.mount(
        zoom::bulk_qos("abc%3D%3D")
            .respond_with(move |_: &Request| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let latency = if n < bad_until { 300 } else { 80 };
                let sample = QosSample::at_unix(zoom::now_secs()).stream(
                    "audio_input",
                    Stream::new().latency(format!("{latency} ms")),
                );
                let alice = Participant::new("16778240")
                    .name("<!channel> Alice")
                    .set("device", "Mac")
                    .sample(sample);
                zoom::json(QosPage::new().participant(alice).to_json())
            })
            .with_priority(2),
    )
    .await;
    (zoom, calls)
}

const LATENCY_RULE: &str = "rules:\n  - name: latency-high\n    severity: critical\n    when: audio_input.latency > 150ms\n";

fn write_config(dir: &Path, zoom: &MockZoom) -> PathBuf {
    ServiceConfig::secret_from_env(zoom, "TEST_ZOOM_SECRET")
        .discover_interval("1m")
        .rule_file("rules/latency.yaml", LATENCY_RULE)
        .notifier("out", "{ type: console }")
        .route_to(&["out"])
        .write(dir)
}

fn spawn(config: &Path) -> Service {
    Service::run(config, "info", &[("TEST_ZOOM_SECRET", ZOOM_SECRET)])
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_the_console_and_sigterm_stops_cleanly() {
    let (zoom, _calls) = mock_zoom(3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &zoom);
    let mut service = spawn(&config);
    service.expect_line(
        &[
            "OUT",
            "FIRING",
            "latency-high",
            "Weekly sync",
            "audio_input.latency = 300 ms",
        ],
        WAIT,
    );
    service.expect_line(&["OUT", "RESOLVED", "latency-high", "80 ms"], WAIT);
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let seen = service.lines();
    // The 500 was logged and survived; the secret never printed.
    assert!(
        seen.iter()
            .any(|l| l.starts_with("ERR") && l.contains("500")),
        "{seen:#?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.contains(ZOOM_SECRET) || l.contains(ACCESS_TOKEN)),
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
    let (zoom, calls) = mock_zoom(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &zoom);
    let mut service = spawn(&config);
    service.expect_line(&["OUT", "FIRING", "latency-high"], WAIT);
    // Break the rule file: the service keeps running with the last good set.
    write_file(
        dir.path(),
        "rules/latency.yaml",
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 2%\n",
    );
    service.expect_line(
        &[
            "OUT",
            "FIRING",
            "qoswatch-config-invalid",
            "latency.yaml:3:",
        ],
        WAIT,
    );
    // The log line comes on stderr, read by another thread: wait for it too.
    service.expect_line(&["ERR", "reload failed"], Duration::from_secs(10));
    let before = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(calls.load(Ordering::SeqCst) > before, "still polling");
    // The firing alert of the unchanged rule was not reset (no second firing).
    assert_eq!(
        service
            .lines()
            .iter()
            .filter(|l| l.starts_with("OUT") && l.contains("FIRING") && l.contains("latency-high"))
            .count(),
        1
    );
    // Fix it: the built-in alert resolves; the alert keeps firing.
    write_file(dir.path(), "rules/latency.yaml", LATENCY_RULE);
    service.expect_line(&["OUT", "RESOLVED", "qoswatch-config-invalid"], WAIT);
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let seen = service.lines();
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("RESOLVED") && l.contains("latency-high")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_dry_run_prints_what_would_be_sent() {
    let (zoom, _calls) = mock_zoom(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &zoom);
    let config_arg = config.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        qoswatch()
            .args(["once", "--dry-run", "-c", &config_arg])
            .env("TEST_ZOOM_SECRET", ZOOM_SECRET)
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
    let p = write_file(
        dir.path(),
        "q.yaml",
        "zoom:\n  account_id: a\n  client_id: b\n  client_secret: ${QOSWATCH_TEST_UNSET_SECRET}\n",
    );
    let o = qoswatch()
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
    let o = qoswatch()
        .args(["check", "-c", p.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("cannot read rules"), "{out}");
}

#[test]
fn once_dry_run_with_nothing_to_send_says_so() {
    // Before: it printed nothing at all.
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "q.yaml",
        &format!(
            "replay: {}\nrules: [{}]\n",
            kit::fixture("all-no-data.json").display(),
            kit::root().join("rules").display()
        ),
    );
    let o = qoswatch()
        .args(["once", "--dry-run", "-c", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "nothing to send: no alert changed state\n"
    );
}
