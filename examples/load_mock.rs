//! A mock Zoom for the load run in BENCHMARKS.md: MEETINGS live meetings of
//! PARTICIPANTS participants each, a new sample per participant every minute
//! (visible 5 s after its time stamp), served on 127.0.0.1:PORT.
//!
//!     cargo run --release --example load_mock -- 18080 1000 10
//!
//! It counts requests by endpoint and prints the counts every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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
        let meetings: Vec<serde_json::Value> = (start..end)
            .map(|i| serde_json::json!({"uuid": format!("m{i}=="), "id": 80_000_000_000u64 + i as u64, "topic": format!("Meeting {i}"), "participants": 10}))
            .collect();
        let next = if end < self.meetings {
            (page + 1).to_string()
        } else {
            String::new()
        };
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"next_page_token": next, "meetings": meetings}))
    }
}

struct Qos {
    participants: usize,
    calls: Arc<AtomicU64>,
}

fn stamp(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
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
        let now = chrono::Utc::now().timestamp();
        let newest = (now - DELAY).div_euclid(60) * 60;
        // Written by hand, in the key order of Zoom's responses (`date_time`
        // first in each sample, as in Zoom's published example):
        // serde_json's `json!` sorts keys, which would put `date_time` after
        // the audio streams.
        let mut body = format!(
            r#"{{"page_count":1,"page_size":10,"total_records":{},"next_page_token":"","participants":["#,
            self.participants
        );
        for p in 0..self.participants {
            if p > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"user_id":"{}","user_name":"Participant {p}","device":"Mac","network_type":"Wifi","user_qos":["#,
                16_778_240 + p
            ));
            for k in (0..3).rev() {
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
                let a = |l: i64| {
                    format!(
                        r#"{{"bitrate":"27 kbps","latency":"{l} ms","jitter":"4 ms","avg_loss":"0.1%","max_loss":"0.5%"}}"#
                    )
                };
                let v = |l: i64| {
                    format!(
                        r#"{{"bitrate":"900 kbps","latency":"{l} ms","jitter":"6 ms","avg_loss":"0.2%","max_loss":"1.1%","resolution":"1280*720","frame_rate":"24 fps"}}"#
                    )
                };
                if k < 2 {
                    body.push(',');
                }
                body.push_str(&format!(
                    r#"{{"date_time":"{}","audio_input":{},"audio_output":{},"video_input":{},"video_output":{},"as_input":"","as_output":"","cpu_usage":{{"zoom_min_cpu_usage":"5%","zoom_avg_cpu_usage":"14%","zoom_max_cpu_usage":"25%","system_max_cpu_usage":"41%"}}}}"#,
                    stamp(t),
                    a(lat),
                    a(lat + 4),
                    v(lat + 6),
                    v(lat + 9)
                ));
            }
            body.push_str("]}");
        }
        body.push_str("]}");
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(18080);
    let meetings: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let participants: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(10);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let server = MockServer::builder().listener(listener).start().await;
    let (disc, qos) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "load", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .respond_with(Discovery {
            meetings,
            calls: disc.clone(),
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/v2/metrics/meetings/[^/]+/participants/qos$"))
        .respond_with(Qos {
            participants,
            calls: qos.clone(),
        })
        .mount(&server)
        .await;
    println!(
        "mock Zoom on {} with {meetings} meetings x {participants} participants",
        server.uri()
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
