//! Route time intervals through the real binary, against a mock Zoom, a
//! mock Slack and a mock Teams (issue 15): a route muted by an interval
//! that covers the current time sends nothing, neither the firing nor its
//! resolution, counts `muted` on `/metrics` and lists the alert `muted` on
//! `/api/alerts`; a route outside its `active_time_intervals` counts
//! `inactive`; the same config with the intervals moved out of (or into)
//! the current time sends both.
//!
//! Nothing depends on the time of day: "covers now" is every weekday from
//! 00:00 to 24:00, "never" is the year 2001.

mod kit;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use kit::config::ServiceConfig;
use kit::process::Service;
use kit::respond::Recorder;
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use serde_json::Value;
use wiremock::{MockServer, Request};

const WAIT: Duration = Duration::from_secs(30);

/// Every instant, on UTC's wall clock.
const ALWAYS: &str =
    "[{weekdays: ['sunday:saturday'], times: [{start_time: '00:00', end_time: '24:00'}]}]";
/// No instant from now on.
const NEVER: &str = "[{years: [2001]}]";

/// Meeting 42 with Alice, whose audio latency is what `latency` holds (ms)
/// at each poll, one sample a poll, a minute of sample time apart.
async fn mock_zoom(latency: Arc<AtomicI64>) -> MockZoom {
    let zoom = MockZoom::start().await;
    let polls = AtomicUsize::new(0);
    let start = (zoom::now_secs() - 4 * 3600) / 60 * 60;
    zoom.mount(zoom::bulk_qos("42").respond_with(move |_: &Request| {
        let n = polls.fetch_add(1, Ordering::SeqCst) as i64;
        let ms = latency.load(Ordering::SeqCst);
        let sample = QosSample::at_unix(start + 60 * n)
            .stream("audio_input", Stream::new().latency(format!("{ms} ms")));
        zoom::json(
            QosPage::new()
                .participant(Participant::new("7").name("Alice").sample(sample))
                .to_json(),
        )
    }))
    .await;
    zoom
}

/// The service with Slack `oncall` on a route muted by `quiet` and Teams
/// `netops` on a route active only during `office`; the two definitions
/// are the only difference between the tests.
struct Setup {
    latency: Arc<AtomicI64>,
    slack: Recorder,
    teams: Recorder,
    service: Service,
    base: String,
    _zoom: MockZoom,
    _chat: MockServer,
    _dir: tempfile::TempDir,
}

async fn start(quiet: &str, office: &str) -> Setup {
    let latency = Arc::new(AtomicI64::new(300));
    let zoom = mock_zoom(latency.clone()).await;
    let chat = MockServer::start().await;
    let slack = Recorder::mounted(&chat, "/slack").await;
    let teams = Recorder::mounted(&chat, "/teams").await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .latency_rule()
        .slack("oncall", &format!("{}/slack", chat.uri()))
        .teams("netops", &format!("{}/teams", chat.uri()))
        .section(&format!(
            "time_intervals:\n  - name: quiet\n    time_intervals: {quiet}\n  - name: office\n    time_intervals: {office}\n"
        ))
        .route("  - notify: [oncall]\n    mute_time_intervals: [quiet]\n    continue: true\n")
        .route("  - notify: [netops]\n    active_time_intervals: [office]\n")
        .write(dir.path());
    let mut service = Service::run(&config, "info", &[]);
    let base = service.listen_url(WAIT);
    Setup {
        latency,
        slack,
        teams,
        service,
        base,
        _zoom: zoom,
        _chat: chat,
        _dir: dir,
    }
}

async fn get(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The `/api/alerts` entry of `latency-high` once it is listed (with
/// `ready` holding), or `None` after the wait.
async fn listed(base: &str, ready: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let alerts: Value = serde_json::from_str(&get(format!("{base}/api/alerts")).await).unwrap();
        if let Some(a) = alerts["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["rule"] == "latency-high"))
            .filter(|a| ready(a))
        {
            return Some(a.clone());
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `/api/alerts` lists nothing firing.
async fn none_listed(base: &str) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let alerts: Value = serde_json::from_str(&get(format!("{base}/api/alerts")).await).unwrap();
        if alerts["alerts"].as_array().is_some_and(|a| a.is_empty()) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn suppressed(metrics: &str, reason: &str) -> Option<u64> {
    let prefix = format!("qoswatch_notifications_suppressed_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_muted_now_sends_nothing_and_counts_it() {
    let mut s = start(ALWAYS, NEVER).await;
    let alert = listed(&s.base, |a| a["muted"] == true)
        .await
        .unwrap_or_else(|| panic!("latency-high listed as muted\n{:#?}", s.service.lines()));
    assert_eq!(alert["user_name"], "Alice", "{alert:#}");
    let metrics = get(format!("{}/metrics", s.base)).await;
    assert_eq!(suppressed(&metrics, "muted"), Some(1), "{metrics}");
    assert_eq!(suppressed(&metrics, "inactive"), Some(1), "{metrics}");
    // The alert resolves: its resolution follows the firing, nowhere.
    s.latency.store(40, Ordering::SeqCst);
    assert!(none_listed(&s.base).await, "{:#?}", s.service.lines());
    // Slack pacing is about a second: give a wrongly sent message time to
    // arrive before asserting none did.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.slack.bodies(), Vec::<Value>::new());
    assert_eq!(s.teams.bodies(), Vec::<Value>::new());
    let metrics = get(format!("{}/metrics", s.base)).await;
    assert_eq!(suppressed(&metrics, "muted"), Some(1), "{metrics}");
    assert_eq!(s.service.terminate(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_routes_with_the_intervals_moved_send_the_firing_and_the_resolution() {
    let mut s = start(NEVER, ALWAYS).await;
    let (slack, teams) = (s.slack.clone(), s.teams.clone());
    let firing = |b: &Value| {
        let t = b.to_string().to_lowercase();
        t.contains("latency-high") && t.contains("firing")
    };
    let resolved = |b: &Value| {
        let t = b.to_string().to_lowercase();
        t.contains("latency-high") && t.contains("resolved")
    };
    tokio::task::spawn_blocking(move || {
        slack.wait("the firing on Slack", firing);
        teams.wait("the firing on Teams", firing);
    })
    .await
    .unwrap();
    let alert = listed(&s.base, |_| true).await.expect("listed");
    assert!(alert.get("muted").is_none(), "{alert:#}");
    let metrics = get(format!("{}/metrics", s.base)).await;
    // Listed from the start, at zero.
    assert_eq!(suppressed(&metrics, "muted"), Some(0), "{metrics}");
    assert_eq!(suppressed(&metrics, "inactive"), Some(0), "{metrics}");
    s.latency.store(40, Ordering::SeqCst);
    let (slack, teams) = (s.slack.clone(), s.teams.clone());
    tokio::task::spawn_blocking(move || {
        slack.wait("the resolution on Slack", resolved);
        teams.wait("the resolution on Teams", resolved);
    })
    .await
    .unwrap();
    assert_eq!(s.slack.bodies().len(), 2, "{:#?}", s.slack.bodies());
    assert_eq!(s.teams.bodies().len(), 2, "{:#?}", s.teams.bodies());
    assert_eq!(s.service.terminate(Duration::from_secs(15)), Some(0));
}
