//! A mock Zoom for the load run in BENCHMARKS.md: MEETINGS live meetings of
//! PARTICIPANTS participants each, a new sample per participant every minute
//! (visible 5 s after its time stamp), served on 127.0.0.1:PORT.
//!
//!     cargo run --release --example load_mock -- 18080 1000 10
//!
//! It counts requests by endpoint and prints the counts every second.
//!
//! With `SIM_WEBHOOK` (qoswatch's `zoom.webhook` URL) and `SIM_SECRET` (its
//! secret token) set, it plays the simulated day of `sim_day.sh` instead:
//! every participant healthy, except that `SIM_DEGRADE` percent of the
//! meetings (default 10) degrade once (three participants at 240 ms for 4
//! minutes, four meetings starting per minute from the second minute on);
//! when a degraded sample becomes visible, the mock posts a signed
//! `meeting.alert` for that meeting, as Zoom would. `POST /notify` takes
//! qoswatch's webhook notifications and notes when each degraded meeting's
//! first firing arrived; `GET /sim/report` answers the flags, the
//! detections and each meeting's QoS requests by minute, as JSON.

// The test kit's mock Zoom and body builders (Zoom's key order).
#[path = "../tests/kit/zoom.rs"]
mod zoom;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use wiremock::{Request, Respond, ResponseTemplate};
use zoom::{Meeting, MeetingsPage, MockZoom, Participant, QosPage, QosSample, Stream};

const DELAY: i64 = 5;

struct Discovery {
    meetings: usize,
    calls: Arc<AtomicU64>,
}

impl Respond for Discovery {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let page: usize = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "next_page_token")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let start = page * 300;
        let end = (start + 300).min(self.meetings);
        let meetings = (start..end).map(|i| {
            Meeting::new(&format!("m{i}=="), 80_000_000_000u64 + i as u64)
                .topic(&format!("Meeting {i}"))
                .participants(10)
        });
        let next = if end < self.meetings {
            (page + 1).to_string()
        } else {
            String::new()
        };
        zoom::json(
            MeetingsPage::new()
                .next_page_token(&next)
                .meetings(meetings)
                .to_json(),
        )
    }
}

struct Qos {
    participants: usize,
    calls: Arc<AtomicU64>,
    sim: Option<Arc<Sim>>,
}

/// The simulated day's scenario and what it observed.
struct Sim {
    /// Unix second of the first minute boundary after the start.
    start: i64,
    /// One meeting in `step` degrades.
    step: usize,
    webhook: String,
    secret: String,
    /// Per meeting: QoS requests by minute since `start`.
    requests: Mutex<BTreeMap<usize, BTreeMap<i64, u64>>>,
    /// Per degraded meeting: when its meeting.alert was posted, and when
    /// its first firing notification arrived (unix seconds).
    flags: Mutex<BTreeMap<usize, f64>>,
    detected: Mutex<BTreeMap<usize, f64>>,
}

impl Sim {
    /// The degradation of `meeting`: its first and last degraded sample time.
    fn episode(&self, meeting: usize) -> Option<(i64, i64)> {
        if !meeting.is_multiple_of(self.step) {
            return None;
        }
        let k = (meeting / self.step) as i64;
        let from = self.start + 60 * (1 + k / 4);
        Some((from, from + 3 * 60))
    }

    fn degraded(&self, meeting: usize, participant: usize, t: i64) -> bool {
        participant < 3
            && self
                .episode(meeting)
                .is_some_and(|(from, to)| (from..=to).contains(&t))
    }
}

fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The bulk QoS of meeting number `meeting` whose newest sample is at
/// `newest`: three samples a participant, a minute apart.
fn qos_body(meeting: usize, participants: usize, newest: i64, sim: Option<&Sim>) -> String {
    let audio = |l: i64| {
        Stream::new()
            .bitrate("27 kbps")
            .latency(format!("{l} ms"))
            .jitter("4 ms")
            .avg_loss("0.1%")
            .max_loss("0.5%")
    };
    let video = |l: i64| {
        Stream::new()
            .bitrate("900 kbps")
            .latency(format!("{l} ms"))
            .jitter("6 ms")
            .avg_loss("0.2%")
            .max_loss("1.1%")
            .resolution("1280*720")
            .frame_rate("24 fps")
    };
    let people = (0..participants).map(|p| {
        let samples = (0..3).rev().map(|k| {
            let t = newest - 60 * k;
            // One participant in twenty degrades for 3 minutes in 7,
            // staggered by meeting, so alerts fire and resolve every
            // minute at the same rate.
            let bad = match sim {
                Some(sim) => sim.degraded(meeting, p, t),
                None => (meeting + p).is_multiple_of(20) && (t / 60 + meeting as i64) % 7 < 3,
            };
            let lat = if bad {
                240
            } else {
                60 + (p as i64 * 7 + t / 60) % 50
            };
            QosSample::at_unix(t)
                .stream("audio_input", audio(lat))
                .stream("audio_output", audio(lat + 4))
                .stream("video_input", video(lat + 6))
                .stream("video_output", video(lat + 9))
                .blank("as_input")
                .blank("as_output")
                .cpu_usage("5%", "14%", "25%", "41%")
        });
        Participant::new(&(16_778_240 + p).to_string())
            .name(&format!("Participant {p}"))
            .set("device", "Mac")
            .set("network_type", "Wifi")
            .samples(samples)
    });
    QosPage::new()
        .paging(1, 10, participants as u64)
        .participants(people)
        .to_json()
}

impl Respond for Qos {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let meeting: usize = req
            .url
            .path()
            .split('/')
            .nth(4)
            .and_then(|m| m.trim_start_matches('m').split('%').next()?.parse().ok())
            .unwrap_or(0);
        let now = zoom::now_secs();
        let newest = (now - DELAY).div_euclid(60) * 60;
        if let Some(sim) = &self.sim {
            let minute = (now - sim.start).div_euclid(60);
            let mut r = sim.requests.lock().unwrap();
            *r.entry(meeting).or_default().entry(minute).or_default() += 1;
        }
        zoom::json(qos_body(
            meeting,
            self.participants,
            newest,
            self.sim.as_deref(),
        ))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(18080);
    let meetings: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let participants: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    // The credentials of examples/load_config.sh.
    let zoom = MockZoom::builder()
        .credentials("load", "load", "load")
        .access_token("load")
        .listener(listener)
        .start()
        .await;
    let (disc, qos) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    zoom.mount(zoom::discovery().respond_with(Discovery {
        meetings,
        calls: disc.clone(),
    }))
    .await;
    let sim = std::env::var("SIM_WEBHOOK").ok().map(|webhook| {
        let pct: usize = std::env::var("SIM_DEGRADE")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(10);
        let now = zoom::now_secs();
        Arc::new(Sim {
            start: (now / 60 + 1) * 60,
            step: (100 / pct.max(1)).max(1),
            webhook,
            secret: std::env::var("SIM_SECRET").unwrap_or_default(),
            requests: Mutex::default(),
            flags: Mutex::default(),
            detected: Mutex::default(),
        })
    });
    zoom.mount(zoom::any_bulk_qos().respond_with(Qos {
        participants,
        calls: qos.clone(),
        sim: sim.clone(),
    }))
    .await;
    if let Some(sim) = &sim {
        mount_sim(&zoom, sim.clone(), meetings).await;
    }
    println!(
        "mock Zoom on {} with {meetings} meetings x {participants} participants",
        zoom.uri()
    );
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        println!(
            "requests: discovery {} qos {}",
            disc.load(Ordering::Relaxed),
            qos.load(Ordering::Relaxed)
        );
    }
}

/// The simulated day's flags (`meeting.alert` posts), its notification
/// receiver and its report.
async fn mount_sim(zoom: &MockZoom, sim: Arc<Sim>, meetings: usize) {
    let receiver = sim.clone();
    zoom.mount(
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .and(wiremock::matchers::path("/notify"))
            .respond_with(move |req: &Request| {
                let body = String::from_utf8_lossy(&req.body);
                if body.contains("firing") {
                    let now = now_f64();
                    let mut detected = receiver.detected.lock().unwrap();
                    for m in (0..meetings).filter(|m| receiver.episode(*m).is_some()) {
                        if body.contains(&format!("\"m{m}==\"")) {
                            detected.entry(m).or_insert(now);
                        }
                    }
                }
                ResponseTemplate::new(200)
            }),
    )
    .await;
    let reporter = sim.clone();
    zoom.mount(
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path("/sim/report"))
            .respond_with(move |_: &Request| {
                let requests: BTreeMap<String, BTreeMap<String, u64>> = reporter
                    .requests
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(m, by)| {
                        (
                            m.to_string(),
                            by.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                        )
                    })
                    .collect();
                let flags = reporter.flags.lock().unwrap().clone();
                let detected = reporter.detected.lock().unwrap().clone();
                ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "start": reporter.start,
                    "requests": requests,
                    "flags": flags,
                    "detected": detected,
                }))
            }),
    )
    .await;
    // Zoom's meeting.alert for each degradation, when its first degraded
    // sample is visible.
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut due: Vec<(i64, usize)> = (0..meetings)
            .filter_map(|m| sim.episode(m).map(|(from, _)| (from + DELAY, m)))
            .collect();
        due.sort();
        for (at, m) in due {
            let wait = at as f64 - now_f64();
            if wait > 0.0 {
                tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
            }
            let body = serde_json::json!({
                "event": "meeting.alert",
                "event_ts": (now_f64() * 1000.0) as i64,
                "payload": {"account_id": "load", "object": {
                    "id": 80_000_000_000u64 + m as u64, "uuid": format!("m{m}=="),
                    "topic": format!("Meeting {m}"), "issues": ["Unstable audio quality"],
                }},
            })
            .to_string();
            let ts = zoom::now_secs().to_string();
            let mut mac = Hmac::<Sha256>::new_from_slice(sim.secret.as_bytes()).unwrap();
            mac.update(format!("v0:{ts}:{body}").as_bytes());
            let sig: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            sim.flags.lock().unwrap().insert(m, now_f64());
            let sent = http
                .post(&sim.webhook)
                .header("x-zm-request-timestamp", ts)
                .header("x-zm-signature", format!("v0={sig}"))
                .header("x-zm-request-id", format!("sim-{m}"))
                .body(body)
                .send()
                .await;
            if let Err(e) = sent {
                eprintln!("posting meeting.alert for m{m}==: {e}");
            }
        }
    });
}
