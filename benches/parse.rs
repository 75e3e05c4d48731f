//! Reading Zoom QoS JSON into samples, with the one reader the service uses.
//!
//! Target: 100 MB/s or more of response body on one core.
//!
//! The body is a list response of `GET /metrics/meetings/{id}/participants/qos`
//! as Zoom sends it (compact JSON, `{page_count, page_size, total_records,
//! next_page_token, participants: [...]}`, keys of a sample in Zoom's order,
//! `date_time` first): one full page of 10 participants, each with Zoom's
//! participant fields and 60 one-minute `user_qos` samples. Every sample has
//! the six main streams with all values as unit strings (`"126 ms"`,
//! `"0.3%"`, `"1055 kbps"`, `"1280*720"`, `"12 fps"`), screen share reported
//! as `"0*0"` and `""` when not sharing, `cpu_usage`, and for participants on
//! Wi-Fi `wifi_rssi`, just like `tests/fixtures/zoom-participant-qos-example.json`.
//!
//! Two benchmarks:
//! - `parse_qos_response/list_10x60`: every sample read (a replayed file,
//!   or the first poll of a meeting).
//! - `poll/list_10x60_one_new`: a poll in the steady state, exactly as the
//!   poller does it: the reader with the meeting's cut-off
//!   (`parse_qos_response_since`, the call the client makes for the poller)
//!   passes over the 59 samples of each participant already delivered and
//!   reads the new one, then `note_delivered` moves the cut-off.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::qos::Timestamp;
use qoswatch::source::poller::note_delivered;
use qoswatch::zoom::api::{Cutoff, parse_qos_response, parse_qos_response_since};
use serde_json::{Map, Value, json};

const PARTICIPANTS: usize = 10;
const SAMPLES: usize = 60;
/// 2025-06-15T12:00:00Z.
const START: i64 = 1_749_988_800;

/// A small deterministic PRNG (SplitMix64), so the body is the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + unit * (hi - lo)
    }

    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo)) as u32
    }
}

fn ms(v: u32) -> String {
    format!("{v} ms")
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

fn kbps(v: u32) -> String {
    format!("{v} kbps")
}

/// A stream object as Zoom writes it.
fn stream(rng: &mut Rng, base_latency: u32, bitrate: u32, video: Option<(&str, String)>) -> Value {
    let loss = rng.range(0.0, 0.6);
    let mut s = Map::new();
    s.insert("bitrate".into(), kbps(bitrate).into());
    s.insert("latency".into(), ms(base_latency + rng.int(0, 20)).into());
    s.insert("jitter".into(), ms(rng.int(1, 14)).into());
    s.insert("avg_loss".into(), pct(loss).into());
    s.insert(
        "max_loss".into(),
        pct(loss * 3.0 + rng.range(0.0, 3.0)).into(),
    );
    if let Some((resolution, frame_rate)) = video {
        s.insert("resolution".into(), resolution.into());
        s.insert("frame_rate".into(), frame_rate.into());
    }
    Value::Object(s)
}

/// One sample as JSON text, `date_time` first as Zoom sends it (a
/// `serde_json` map would sort it after the audio streams).
fn sample(rng: &mut Rng, minute: usize, wifi: bool) -> String {
    let at = Timestamp(START + minute as i64 * 60).to_rfc3339();
    let latency = rng.int(20, 130);
    let mut s = Map::new();
    let audio_in = rng.int(20, 70);
    let audio_out = rng.int(30, 90);
    let video_in = rng.int(600, 1800);
    let video_out = rng.int(300, 1200);
    s.insert("audio_input".into(), stream(rng, latency, audio_in, None));
    s.insert("audio_output".into(), stream(rng, latency, audio_out, None));
    let fps = format!("{} fps", rng.int(10, 30));
    s.insert(
        "video_input".into(),
        stream(rng, latency, video_in, Some(("1280*720", fps))),
    );
    let fps = format!("{} fps", rng.int(15, 30));
    s.insert(
        "video_output".into(),
        stream(rng, latency, video_out, Some(("640*360", fps))),
    );
    // Not sharing: Zoom still sends the channel, with `0*0` and `""`.
    s.insert(
        "as_input".into(),
        stream(rng, latency, 70, Some(("0*0", String::new()))),
    );
    s.insert(
        "as_output".into(),
        stream(rng, latency, 70, Some(("0*0", String::new()))),
    );
    let cpu = rng.int(8, 40);
    s.insert(
        "cpu_usage".into(),
        json!({
            "zoom_min_cpu_usage": format!("{}%", cpu / 2),
            "zoom_avg_cpu_usage": format!("{cpu}%"),
            "zoom_max_cpu_usage": format!("{}%", cpu + rng.int(3, 20)),
            "system_max_cpu_usage": format!("{}%", cpu + rng.int(10, 50)),
        }),
    );
    if wifi {
        let avg = -(rng.int(40, 70) as i64);
        s.insert(
            "wifi_rssi".into(),
            json!({
                "max_rssi": avg + 6,
                "avg_rssi": avg,
                "min_rssi": avg - 7,
                "rssi_unit": "dBm",
            }),
        );
    }
    let rest = serde_json::to_string(&Value::Object(s)).expect("serialise a sample");
    format!(r#"{{"date_time":"{at}",{}"#, &rest[1..])
}

/// One page of the participant list response, as compact JSON.
fn list_body() -> Vec<u8> {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let participants: Vec<String> = (0..PARTICIPANTS)
        .map(|i| {
            let wifi = i % 3 != 0;
            let samples: Vec<String> = (0..SAMPLES).map(|m| sample(&mut rng, m, wifi)).collect();
            let device = ["Mac", "Windows", "Android", "iOS"][i % 4];
            let fields = json!({
                "id": format!("30R7kT7bTIKSNUFEuH_Qlg{i:02}"),
                "user_id": format!("{}", 16_778_240 + i),
                "user_name": format!("Participant {i}"),
                "device": device,
                "ip_address": format!("192.0.2.{i}"),
                "location": "San Jose (US)",
                "network_type": if wifi { "Wifi" } else { "Wired" },
                "data_center": "United States (SC Top)",
                "connection_type": "UDP",
                "join_time": Timestamp(START - 120).to_rfc3339(),
                "leave_time": "",
                "share_application": false,
                "share_desktop": false,
                "share_whiteboard": false,
                "recording": false,
                "pc_name": format!("PC-{i}"),
                "domain": format!("host-{i}.example.com"),
                "mac_addr": "",
                "harddisk_id": "",
                "version": "6.1.0.52590",
                "email": format!("user{i}@example.com"),
                "participant_user_id": format!("DQ2Ldw5wTpGRgx0YVlvWdQ{i:02}"),
            });
            // `user_qos` last, after `user_id`, as Zoom sends it.
            let fields = serde_json::to_string(&fields).expect("serialise a participant");
            let fields = &fields[..fields.len() - 1];
            format!(r#"{fields},"user_qos":[{}]}}"#, samples.join(","))
        })
        .collect();
    format!(
        r#"{{"page_count":1,"page_size":{PARTICIPANTS},"total_records":{PARTICIPANTS},"next_page_token":"","participants":[{}]}}"#,
        participants.join(",")
    )
    .into_bytes()
}

fn bench_parse(c: &mut Criterion) {
    let body = list_body();
    // Sanity: everything in the body is read, and read cleanly.
    let parsed = parse_qos_response(&body).expect("the body parses");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.participants.len(), PARTICIPANTS);
    assert!(
        parsed
            .participants
            .iter()
            .all(|p| p.samples.len() == SAMPLES)
    );
    eprintln!(
        "parse fixture: list response, {PARTICIPANTS} participants x {SAMPLES} samples, {} bytes \
         ({} bytes per sample)",
        body.len(),
        body.len() / (PARTICIPANTS * SAMPLES)
    );

    // The poller's cut-off after the previous poll: every participant's
    // samples up to the one before the newest.
    let mut cutoff = Cutoff::new();
    let before_newest = Timestamp(START + (SAMPLES as i64 - 2) * 60);
    for p in &parsed.participants {
        cutoff.insert(p.info.user_id.to_string(), before_newest);
    }
    let poll = |mut cutoff: Cutoff| {
        let response = parse_qos_response_since(black_box(&body), &cutoff).expect("parses");
        note_delivered(&mut cutoff, &response, true);
        (response, cutoff)
    };
    let (response, after) = poll(cutoff.clone());
    assert!(response.participants.iter().all(|p| p.samples.len() == 1));
    assert!(
        after
            .values()
            .all(|t| t.0 == START + (SAMPLES as i64 - 1) * 60)
    );

    let mut group = c.benchmark_group("parse");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse_qos_response/list_10x60", |b| {
        b.iter(|| parse_qos_response(black_box(&body)).expect("parses"));
    });
    group.bench_function("poll/list_10x60_one_new", |b| {
        b.iter_batched(|| cutoff.clone(), poll, BatchSize::SmallInput);
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
