//! QSS ingest: one Zoom `meeting.participant_qos` webhook through signature
//! verification (`source::events::verify`), parsing into samples (the one
//! QoS reader, `source::events::event`), the event processor (redelivery
//! and QSS bookkeeping) and the rule engine with the alert lifecycle
//! (`Engine::observe_poll`, the default rule pack).
//!
//! Target: 20,000 events/s or more on one core, i.e. one process covering
//! 1 million participants at one QSS record a minute.
//!
//! The fixture is 2,000 participants in 20 meetings, 5 minutes of records
//! each (10,000 signed bodies of about 1.5 KB, every stream filled as QSS
//! sends it; a tenth of the participants degrade, so alerts go pending and
//! fire). One iteration ingests all 10,000 in time order into a fresh
//! processor and engine (built untimed).

#[path = "../tests/kit/rng.rs"]
mod rng;

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::alert::Engine;
use qoswatch::metrics::EventMetrics;
use qoswatch::source::SourceEvent;
use qoswatch::source::events::event::parse;
use qoswatch::source::events::verify::{hmac_hex, verify};
use qoswatch::source::events::{Incoming, Processor};
use rng::Rng;

const MEETINGS: usize = 20;
const PARTICIPANTS: usize = 2_000;
const MINUTES: i64 = 5;
/// 2026-03-02T12:00:00Z.
const START: i64 = 1_772_452_800;
const SECRET: &str = "bench-secret-token";

struct Signed {
    timestamp: String,
    signature: String,
    body: String,
}

fn stamp(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn record(at: &str, kind: &str, details: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"date_time": at, "type": kind, "details": details})
}

fn body(meeting: usize, user: usize, minute: i64, rng: &mut Rng) -> String {
    let at = stamp(START + minute * 60);
    let bad = user.is_multiple_of(10) && minute >= 1;
    let lat = if bad {
        220.0 + rng.range(0.0, 80.0)
    } else {
        40.0 + rng.range(0.0, 40.0)
    };
    let stream = |bitrate: &str, lat: f64, video: bool| {
        let mut d = serde_json::json!({
            "bitrate": bitrate,
            "avg_latency": format!("{lat:.0} ms"),
            "jitter": format!("{:.0} ms", 2.0 + lat / 40.0),
            "avg_loss": "0.1%",
            "max_loss": "0.6%",
        });
        if video {
            d["resolution"] = "1280*720".into();
            d["frame_rate"] = "24 fps".into();
        }
        d
    };
    let qos = vec![
        record(&at, "audio_input", stream("27.15 kbps", lat, false)),
        record(&at, "audio_output", stream("31.2 kbps", lat * 0.9, false)),
        record(&at, "video_input", stream("912 kbps", lat, true)),
        record(&at, "video_output", stream("1.2 Mbps", lat * 0.9, true)),
        record(&at, "as_input", stream("", 0.0, false)),
        record(&at, "as_output", stream("", 0.0, false)),
        record(
            &at,
            "cpu_usage",
            serde_json::json!({"zoom_min_cpu_usage": "2%", "zoom_avg_cpu_usage": "11%", "zoom_max_cpu_usage": "19%", "system_max_cpu_usage": "41%"}),
        ),
        record(
            &at,
            "wifi_rssi",
            serde_json::json!({"max_rssi": -48, "avg_rssi": -52, "min_rssi": -58, "rssi_unit": "dBm"}),
        ),
    ];
    serde_json::json!({
        "event": "meeting.participant_qos",
        "event_ts": (START + minute * 60 + 20) * 1000 + user as i64,
        "payload": {"account_id": "acc", "object": {
            "id": 80_000_000_000u64 + meeting as u64,
            "uuid": format!("m{meeting}=="),
            "participant": {
                "user_id": (16_778_240 + user).to_string(),
                "participant_user_id": format!("puid{user}"),
                "user_name": format!("User {user}"),
                "email": "",
                "qos": qos,
            },
        }},
    })
    .to_string()
}

fn fixture() -> Vec<Signed> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    for minute in 0..MINUTES {
        for user in 0..PARTICIPANTS {
            let body = body(user % MEETINGS, user, minute, &mut rng);
            let ts = (START + minute * 60 + 21).to_string();
            let signature = format!(
                "v0={}",
                hmac_hex(SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes())
            );
            out.push(Signed {
                timestamp: ts,
                signature,
                body,
            });
        }
    }
    out
}

fn bench_ingest(c: &mut Criterion) {
    let events = fixture();
    let rules =
        qoswatch::rules::load_paths(&[Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))])
            .unwrap();
    let bytes: usize = events.iter().map(|e| e.body.len()).sum();
    eprintln!(
        "{} events, {} bytes on average",
        events.len(),
        bytes / events.len()
    );
    let mut group = c.benchmark_group("qss_ingest");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("verify_parse_process_engine", |b| {
        b.iter_batched(
            || {
                (
                    Processor::new(EventMetrics::default()),
                    Engine::new(rules.clone()),
                )
            },
            |(mut processor, mut engine)| {
                let mut out = Vec::new();
                let mut fired = 0usize;
                for e in &events {
                    let now: i64 = e.timestamp.parse().unwrap();
                    verify(
                        SECRET.as_bytes(),
                        Some(e.signature.as_bytes()),
                        Some(e.timestamp.as_bytes()),
                        e.body.as_bytes(),
                        now,
                    )
                    .unwrap();
                    let parsed = parse(e.body.as_bytes()).unwrap();
                    let outcome = processor.handle(
                        Incoming {
                            request_id: None,
                            parsed,
                        },
                        now as f64,
                    );
                    for event in outcome.events {
                        if let SourceEvent::Batch(batch) = event {
                            engine.observe_poll(&batch.meeting, &batch.participants, &mut out);
                            fired += out.len();
                            out.clear();
                        }
                    }
                }
                black_box(fired)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
