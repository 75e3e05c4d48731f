//! A mock Zoom for the load run in BENCHMARKS.md: MEETINGS live meetings of
//! PARTICIPANTS participants each, a new sample per participant every minute
//! (visible 5 s after its time stamp), served on 127.0.0.1:PORT.
//!
//!     cargo run --release --example load_mock -- 18080 1000 10
//!
//! It counts requests by endpoint and prints the counts every second.

// The test kit's mock Zoom and body builders (Zoom's key order).
#[path = "../tests/kit/zoom.rs"]
mod zoom;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

/// The bulk QoS of meeting number `meeting` whose newest sample is at
/// `newest`: three samples a participant, a minute apart.
fn qos_body(meeting: usize, participants: usize, newest: i64) -> String {
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
            let bad = (meeting + p).is_multiple_of(20) && (t / 60 + meeting as i64) % 7 < 3;
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
        let newest = (zoom::now_secs() - DELAY).div_euclid(60) * 60;
        zoom::json(qos_body(meeting, self.participants, newest))
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
    zoom.mount(zoom::any_bulk_qos().respond_with(Qos {
        participants,
        calls: qos.clone(),
    }))
    .await;
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
