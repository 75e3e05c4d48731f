//! The poller and the service against a live-like wiremock Zoom whose samples
//! appear on a (shortened) sample clock. Real time, short periods; the time
//! of day is pinned (the daily budget depends on it), at noon UTC unless a
//! test says otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use qoswatch::config::{Cadence, PollConfig, Target, ZoomConfig};
use qoswatch::metrics::{PollerMetrics, ZoomMetrics};
use qoswatch::net::{Backoff, Clock};
use qoswatch::source::SourceEvent;
use qoswatch::source::poller::{Poller, PollerTuning};
use qoswatch::zoom::client::{RetryPolicy, ZoomClient};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

mod kit;

use kit::zoom::MockZoom;

const PERIOD: f64 = 2.0;
const PUBLISH_DELAY: f64 = 0.6;
/// 2026-03-02T12:00:00Z.
const NOON: f64 = 1_772_452_800.0;
/// 2026-03-02T23:30:00Z.
const HALF_PAST_ELEVEN: f64 = 1_772_494_200.0;

fn stamp(t: f64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A live meeting whose participants get a new sample every PERIOD seconds,
/// visible PUBLISH_DELAY after its time stamp. Latency is `latency(n)` for
/// the nth response.
struct LiveMeeting {
    calls: Arc<AtomicUsize>,
    latency: fn(usize) -> u32,
    clock: Clock,
}

impl Respond for LiveMeeting {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let newest = ((self.clock.now() - PUBLISH_DELAY) / PERIOD).floor() * PERIOD;
        let samples: Vec<serde_json::Value> = (0..3)
            .rev()
            .map(|k| {
                serde_json::json!({
                    "date_time": stamp(newest - k as f64 * PERIOD),
                    "audio_input": {"latency": format!("{} ms", (self.latency)(n)), "jitter": "3 ms", "avg_loss": "0.1%"}
                })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "page_size": 10, "total_records": 1, "next_page_token": "",
            "participants": [{"user_id": "16778240", "user_name": "Alice", "device": "Mac", "user_qos": samples}]
        }))
    }
}

/// The mock's config, at 100 requests a second.
fn zoom(mock: &MockZoom) -> ZoomConfig {
    ZoomConfig {
        requests_per_second: 100,
        ..mock.config()
    }
}

/// A client whose budget renews by `clock`.
fn client(zoom: &ZoomConfig, clock: Clock) -> Arc<ZoomClient> {
    let client = ZoomClient::new(zoom, retry(), ZoomMetrics::default()).unwrap();
    Arc::new(client.with_clock(clock))
}

fn tuning() -> PollerTuning {
    PollerTuning {
        sample_period: PERIOD,
        initial_delay: 1.2,
        min_delay: 0.1,
        probe_step: 0.05,
        miss_retry: 0.25,
        failure_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(1)),
        max_in_flight: 8,
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(3)),
        timeout: Duration::from_secs(2),
    }
}

async fn collect(mut rx: mpsc::Receiver<SourceEvent>, secs: f64) -> Vec<SourceEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn default_cadence_polls_once_per_new_sample() {
    let clock = Clock::starting_at(NOON);
    let mock = MockZoom::start().await;
    let server = &mock.server;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/85746065432/participants/qos"))
        .respond_with(LiveMeeting {
            calls: calls.clone(),
            latency: |_| 80,
            clock,
        })
        .mount(server)
        .await;
    let client = client(&zoom(&mock), clock);
    let config = PollConfig {
        cadence: Cadence::Auto,
        discover: false,
        targets: vec![Target {
            meeting: "85746065432".into(),
            participant: None,
        }],
        ..PollConfig::default()
    };
    let metrics = PollerMetrics::default();
    let poller = Poller::new(client, config, tuning(), metrics.clone());
    let stats = poller.stats.clone();
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(poller.run(tx, cancel.clone()));
    let run_for = 8.0 * PERIOD;
    let events = collect(rx, run_for).await;
    cancel.cancel();
    task.await.unwrap();
    let batches: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Batch(b) => Some(b),
            _ => None,
        })
        .collect();
    let newest: Vec<i64> = batches
        .iter()
        .map(|b| {
            b.participants[0]
                .samples
                .iter()
                .map(|s| s.at.0)
                .max()
                .unwrap()
        })
        .collect();
    let distinct = {
        let mut d = newest.clone();
        d.dedup();
        d.len()
    };
    let polls = calls.load(Ordering::SeqCst);
    let misses = stats.misses.load(Ordering::SeqCst) as usize;
    // About one sample per period: the first poll plus one per new sample.
    assert!(
        distinct >= 7,
        "saw {distinct} distinct samples in {run_for}s: {newest:?}"
    );
    // Polls that found nothing new (re-reads) are rare: the learner probes
    // earlier a little at a time.
    assert_eq!(polls, batches.len());
    assert!(
        polls - distinct <= 2,
        "{polls} polls for {distinct} new samples ({misses} misses): {newest:?}"
    );
    let delay = metrics.delay.get();
    assert!(delay <= 1.3, "learned delay {delay} s");
    assert_eq!(metrics.poll_duration.get_sample_count() as usize, polls);
}

#[tokio::test]
async fn faults_mid_run_do_not_stop_polling() {
    let clock = Clock::starting_at(NOON);
    let mock = MockZoom::start().await;
    let server = &mock.server;
    let calls = Arc::new(AtomicUsize::new(0));
    // Fault phase: two 500s, a 429 with Retry-After, an expired token, a
    // malformed body; then healthy.
    for response in [
        ResponseTemplate::new(500),
        ResponseTemplate::new(500),
        ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(serde_json::json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API."})),
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"code": 124, "message": "Invalid access token."})),
        ResponseTemplate::new(200).set_body_string("{\"participants\": [{\"user_id"),
    ] {
        Mock::given(method("GET"))
            .and(path_regex("^/v2/metrics/meetings/1/participants/qos$"))
            .respond_with(response)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/1/participants/qos"))
        .respond_with(LiveMeeting {
            calls: calls.clone(),
            latency: |_| 300,
            clock,
        })
        .with_priority(2)
        .mount(server)
        .await;
    let client = client(&zoom(&mock), clock);
    let config = PollConfig {
        cadence: Cadence::Interval(Duration::from_secs(1)),
        discover: false,
        targets: vec![Target {
            meeting: "1".into(),
            participant: None,
        }],
        ..PollConfig::default()
    };
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        Poller::new(client, config, tuning(), PollerMetrics::default()).run(tx, cancel.clone()),
    );
    let events = collect(rx, 7.0).await;
    cancel.cancel();
    task.await.unwrap();
    let failures = events
        .iter()
        .filter(|e| matches!(e, SourceEvent::Failed { .. }))
        .count();
    let batches = events
        .iter()
        .filter(|e| matches!(e, SourceEvent::Batch(_)))
        .count();
    assert!(failures >= 1, "{events:?}");
    assert!(batches >= 2, "polling went on after the faults: {events:?}");
    // No burst: five faults and about 7 one-second polls fit in well under 20 requests.
    let total = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method == wiremock::http::Method::GET)
        .count();
    assert!(total <= 20, "{total} requests");
}

#[tokio::test]
async fn discovery_adds_and_ends_meetings_and_merges_targets() {
    let clock = Clock::starting_at(NOON);
    let mock = MockZoom::start().await;
    let server = &mock.server;
    let discovery_calls = Arc::new(AtomicUsize::new(0));
    struct Discovery(Arc<AtomicUsize>);
    impl Respond for Discovery {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let mut meetings =
                vec![serde_json::json!({"uuid": "uuid-A==", "id": 111, "topic": "Target meeting"})];
            if n == 0 {
                meetings.push(serde_json::json!({"uuid": "uuid-B==", "id": 222, "topic": "Short meeting", "participants": 3}));
            }
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"next_page_token": "", "meetings": meetings}))
        }
    }
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .respond_with(Discovery(discovery_calls.clone()))
        .mount(server)
        .await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path_regex("^/v2/metrics/meetings/[^/]+/participants/qos$"))
        .respond_with(LiveMeeting {
            calls: calls.clone(),
            latency: |_| 80,
            clock,
        })
        .mount(server)
        .await;
    let client = client(&zoom(&mock), clock);
    let config = PollConfig {
        cadence: Cadence::Interval(Duration::from_secs(1)),
        discover: true,
        discover_interval: Duration::from_secs(2),
        targets: vec![Target {
            meeting: "111".into(),
            participant: None,
        }],
        ..PollConfig::default()
    };
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(
        Poller::new(client, config, tuning(), PollerMetrics::default()).run(tx, cancel.clone()),
    );
    let events = collect(rx, 3.5).await;
    cancel.cancel();
    task.await.unwrap();
    let batches: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Batch(b) => Some(b),
            _ => None,
        })
        .collect();
    // The target by id is one meeting with discovery's UUID and topic.
    let a: Vec<_> = batches
        .iter()
        .filter(|b| b.meeting.id.as_deref() == Some("111"))
        .collect();
    assert!(!a.is_empty());
    assert!(
        a.iter()
            .all(|b| b.meeting.uuid.as_deref() == Some("uuid-A==")
                && b.meeting.topic.as_deref() == Some("Target meeting"))
    );
    let requested: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(
        !requested.iter().any(|p| p.contains("uuid-A")),
        "the merged target is polled once, by its id: {requested:?}"
    );
    // Meeting B was discovered, polled, then ended when discovery lost it.
    let b: Vec<_> = batches
        .iter()
        .filter(|b| b.meeting.id.as_deref() == Some("222"))
        .collect();
    assert!(b.iter().any(|b| !b.ended && !b.participants.is_empty()));
    assert!(b.last().unwrap().ended, "{b:?}");
}

/// One meeting polled once a second with 1,000 requests a day, the time of
/// day pinned at `at`: the budget stretch and the polls made in 4 s.
async fn budget_run(at: f64) -> (f64, usize) {
    let clock = Clock::starting_at(at);
    let mock = MockZoom::start().await;
    let server = &mock.server;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/1/participants/qos"))
        .respond_with(LiveMeeting {
            calls: calls.clone(),
            latency: |_| 80,
            clock,
        })
        .mount(server)
        .await;
    let mut zoom = zoom(&mock);
    zoom.daily_budget = 1000;
    let config = PollConfig {
        cadence: Cadence::Interval(Duration::from_secs(1)),
        discover: false,
        targets: vec![Target {
            meeting: "1".into(),
            participant: None,
        }],
        ..PollConfig::default()
    };
    let metrics = PollerMetrics::default();
    let poller = Poller::new(client(&zoom, clock), config, tuning(), metrics.clone());
    let (tx, rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(poller.run(tx, cancel.clone()));
    collect(rx, 4.0).await;
    cancel.cancel();
    task.await.unwrap();
    (metrics.stretch.get(), calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn the_daily_budget_stretches_the_cadence() {
    // 1,000 requests for the 43,200 s left of the day cannot pay for one
    // poll a second: 43.2 times less often.
    let (stretch, calls) = budget_run(NOON).await;
    assert!((stretch - 43.2).abs() < 0.5, "stretch {stretch}");
    assert_eq!(calls, 1, "one poll, then the next one is stretched far out");
}

#[tokio::test]
async fn late_in_the_day_the_budget_left_is_spread_over_what_is_left() {
    // At 23:30 UTC the same 1,000 requests cover the 1,800 s left before
    // the budget renews: polls 1.8 s apart. (Before the clock was injected
    // the stretch read the real time of day, so this failed at other hours
    // and the test above failed between 23:00 and 24:00 UTC.)
    let (stretch, calls) = budget_run(HALF_PAST_ELEVEN).await;
    assert!((stretch - 1.8).abs() < 0.05, "stretch {stretch}");
    assert!((2..=3).contains(&calls), "{calls} polls in 4 s");
}

#[tokio::test]
async fn quiet_meetings_wait_for_quiet_every_and_hot_ones_keep_the_cadence() {
    use qoswatch::source::poller::PollerCommand;
    let clock = Clock::starting_at(NOON);
    let mock = MockZoom::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings/77/participants/qos"))
        .respond_with(LiveMeeting {
            calls: calls.clone(),
            latency: |_| 80,
            clock,
        })
        .mount(&mock.server)
        .await;
    let config = PollConfig {
        cadence: Cadence::Interval(Duration::from_millis(200)),
        discover: false,
        targets: vec![Target {
            meeting: "77".into(),
            participant: None,
        }],
        quiet_every: Some(Duration::from_millis(1500)),
        ..PollConfig::default()
    };
    let metrics = PollerMetrics::default();
    let (steer, commands) = mpsc::channel(16);
    // A budget that needs no stretch at 5 polls a second.
    let budget = ZoomConfig {
        daily_budget: 1_000_000,
        ..zoom(&mock)
    };
    let poller = Poller::new(client(&budget, clock), config, tuning(), metrics.clone())
        .with_commands(commands, None);
    let (tx, rx) = mpsc::channel(256);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(poller.run(tx, cancel.clone()));
    let state = |s: &str| metrics.meetings_by_state.with_label_values(&[s]).get();
    // Hot for its first two polls, then quiet: one poll per 1.5 s instead
    // of one per 200 ms.
    let quiet = collect_for(rx, 2.4).await;
    let (mut rx, quiet) = (quiet.0, calls.load(Ordering::SeqCst));
    assert!(
        (3..=4).contains(&quiet),
        "{quiet} polls in 2.4 s while quiet"
    );
    assert_eq!((state("hot"), state("quiet")), (0, 1));
    // An alert pending (the pipeline says so): hot, every 200 ms again.
    steer
        .send(PollerCommand::Engaged {
            meeting: "77".into(),
            engaged: true,
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::timeout_at(deadline, rx.recv()).await.is_ok() {}
    let hot = calls.load(Ordering::SeqCst) - quiet;
    assert!(hot >= 4, "{hot} polls in 1.2 s while hot");
    assert_eq!((state("hot"), state("quiet")), (1, 0));
    // Resolved: quiet again after its next poll; a late joiner (an event
    // says so) makes it hot again at once.
    steer
        .send(PollerCommand::Engaged {
            meeting: "77".into(),
            engaged: false,
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(600);
    while tokio::time::timeout_at(deadline, rx.recv()).await.is_ok() {}
    assert_eq!((state("hot"), state("quiet")), (0, 1));
    let joined = qoswatch::source::events::EventMeeting {
        id: Some("77".into()),
        ..Default::default()
    };
    steer.send(PollerCommand::Joined(joined)).await.unwrap();
    let before = calls.load(Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::timeout_at(deadline, rx.recv()).await.is_ok() {}
    assert!(
        calls.load(Ordering::SeqCst) - before >= 4,
        "a late joiner did not make it hot"
    );
    assert_eq!((state("hot"), state("quiet")), (1, 0));
    cancel.cancel();
    task.await.unwrap();
}

/// Receives for `secs`; gives the receiver back.
async fn collect_for(
    mut rx: mpsc::Receiver<SourceEvent>,
    secs: f64,
) -> (mpsc::Receiver<SourceEvent>, usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    let mut n = 0;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        n += 1;
    }
    (rx, n)
}
