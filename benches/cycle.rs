//! One end-to-end cycle: a bulk Zoom QoS response (10 participants, 3
//! samples each, as a live poll returns them) parsed, evaluated against the
//! default rule pack with the lifecycle, and every transition rendered into
//! Slack, Teams and webhook payloads.
//!
//!     cargo bench --bench cycle
//!
//! Throughput is in polls (one bulk response of one meeting) per second.

// The test kit's Zoom bodies, written in Zoom's key order.
#[path = "../tests/kit/zoom.rs"]
mod zoom;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::alert::{Engine, Event};
use qoswatch::notify::view::view;
use qoswatch::notify::{slack, teams, webhook};
use qoswatch::rules::load_paths;
use qoswatch::zoom::api::parse_qos_response;
use zoom::{Participant, QosPage, QosSample, Stream};

fn response(minute: i64, bad: bool) -> Vec<u8> {
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
    let participants = (0..10).map(|p| {
        let lat = if bad && p < 3 { 320 } else { 60 + p * 3 };
        let samples = (0..3).map(|k| {
            QosSample::at_unix(1_772_463_600 + (minute - 2 + k) * 60)
                .stream("audio_input", audio(lat))
                .stream("audio_output", audio(lat + 4))
                .stream("video_input", video(lat + 6))
                .stream("video_output", video(lat + 9))
                .blank("as_input")
                .blank("as_output")
                .cpu_usage("5%", "14%", "25%", "41%")
        });
        Participant::new(&format!("{}", 16_778_240 + p))
            .name(&format!("Participant {p}"))
            .set("device", "Mac")
            .samples(samples)
    });
    QosPage::new()
        .meeting("85746065432", "Weekly sync")
        .participants(participants)
        .to_json()
        .into_bytes()
}

fn cycle(c: &mut Criterion) {
    let rules = load_paths(&[Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))]).unwrap();
    let mut group = c.benchmark_group("cycle");
    group.throughput(Throughput::Elements(40)); // polls per iteration
    // Alternating healthy and degraded minutes, so transitions and payloads happen.
    let bodies: Vec<Vec<u8>> = (0..40).map(|m| response(m + 2, (m / 4) % 2 == 1)).collect();
    group.bench_function("poll_to_payloads", |b| {
        b.iter_batched(
            || Engine::new(rules.clone()),
            |mut engine| {
                let mut bytes = 0;
                for body in &bodies {
                    let r = parse_qos_response(body).unwrap();
                    let mut out = Vec::new();
                    engine.observe_poll(&r.meeting, &r.participants, &mut out);
                    if !out.is_empty() {
                        let events: Vec<Event> = out.into_iter().map(Event::Alert).collect();
                        let views: Vec<_> =
                            events.iter().map(|e| view(e, engine.rules())).collect();
                        bytes += slack::payload(&views, 10).to_string().len();
                        bytes += teams::payload(&views, 10).to_string().len();
                        bytes += webhook::payload(&views, 10, "tools").to_string().len();
                    }
                }
                black_box(bytes)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = cycle
}
criterion_main!(benches);
