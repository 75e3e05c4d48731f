//! Rule evaluation plus alert lifecycle on already-parsed samples.
//!
//! Target: 1,000,000 samples/s or more on one core against the default rule
//! pack (`rules/`).
//!
//! The fixture is 1,000 participants in 10 meetings, one sample per
//! participant per minute, for a 60-minute cycle. Every participant has all
//! six main streams populated the way Zoom fills them (see
//! `tests/fixtures/zoom-participant-qos-example.json`: screen-share streams
//! carry bitrate, latency, jitter and loss but `0*0` and `""` for resolution
//! and frame rate unless the participant shares), CPU figures, and for most a
//! Wi-Fi signal. Values are mostly healthy with per-minute noise; some
//! participants have one-minute blips (an alert goes pending and back) and a
//! fifth of them have a degradation episode of a few minutes per cycle, so
//! alerts fire and resolve every cycle.
//!
//! One benchmark iteration feeds one minute of the whole fleet (1,000
//! samples) to a long-lived [`Engine`] with [`Engine::observe`], reusing and
//! clearing one output vector. Samples are fed in time order; after the last
//! minute of the cycle every sample is moved one cycle later (untimed), so
//! each participant always sees strictly newer samples and deduplication
//! never skips one.
//!
//! A second benchmark does the same with the default pack's incidents
//! (`rules/incidents.yaml`) as the service runs them: per meeting and
//! minute (one batch), every participant's sample through the engine and
//! into the incident engine, the batch's transitions to it, then one
//! evaluation. The two are measured in one run, so their ratio is what
//! incidents add.

// The seeded RNG of the test kit, so that the fixture is the same on every run.
#[path = "../tests/kit/rng.rs"]
mod rng;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::alert::{Engine, State, Transition};
use qoswatch::incident::{IncidentEngine, IncidentTransition, MemberUpdate};
use qoswatch::qos::{
    CpuPressure, Field, MeetingInfo, Metric, ParticipantInfo, Sample, Stream, Timestamp,
};
use rng::Rng;

const MEETINGS: usize = 10;
const PARTICIPANTS: usize = 1_000;
const MINUTES: usize = 60;
const MIN: i64 = 60;
/// 2025-06-15T12:00:00Z.
const START: i64 = 1_749_988_800;

/// What goes wrong during a participant's degradation episode.
#[derive(Clone, Copy)]
enum Trouble {
    Latency,
    LatencyCritical,
    Jitter,
    Loss,
    LossCritical,
    FrameRate,
    Cpu,
    /// A bad network: latency, jitter, loss and frame rate together.
    Network,
}

const TROUBLES: [Trouble; 8] = [
    Trouble::Latency,
    Trouble::LatencyCritical,
    Trouble::Jitter,
    Trouble::Loss,
    Trouble::LossCritical,
    Trouble::FrameRate,
    Trouble::Cpu,
    Trouble::Network,
];

/// A participant's healthy baseline and optional episode.
struct Profile {
    latency: f64,
    jitter: f64,
    loss: f64,
    audio_kbps: f64,
    video_in_kbps: f64,
    video_out_kbps: f64,
    fps_in: f64,
    fps_out: f64,
    res_in: (f64, f64),
    res_out: (f64, f64),
    shares: bool,
    cpu: f64,
    system_cpu: f64,
    /// Average RSSI in dBm, for participants on Wi-Fi.
    rssi: Option<f64>,
    pressure: Option<CpuPressure>,
    /// `(first minute, minutes, what)`.
    episode: Option<(usize, usize, Trouble)>,
}

impl Profile {
    fn new(rng: &mut Rng) -> Profile {
        const RESOLUTIONS: [(f64, f64); 3] = [(1280.0, 720.0), (640.0, 360.0), (960.0, 540.0)];
        let episode = rng.chance(0.2).then(|| {
            let start = 2 + rng.pick(MINUTES - 18);
            let len = 3 + rng.pick(10);
            (start, len, TROUBLES[rng.pick(TROUBLES.len())])
        });
        Profile {
            latency: rng.range(25.0, 105.0),
            jitter: rng.range(1.0, 12.0),
            loss: rng.range(0.0, 0.4),
            audio_kbps: rng.range(20.0, 70.0),
            video_in_kbps: rng.range(600.0, 1800.0),
            video_out_kbps: rng.range(300.0, 1200.0),
            fps_in: rng.range(12.0, 30.0).round(),
            fps_out: rng.range(15.0, 30.0).round(),
            res_in: RESOLUTIONS[rng.pick(RESOLUTIONS.len())],
            res_out: RESOLUTIONS[rng.pick(RESOLUTIONS.len())],
            shares: rng.chance(0.03),
            cpu: rng.range(8.0, 35.0),
            system_cpu: rng.range(25.0, 70.0),
            rssi: rng.chance(0.6).then(|| rng.range(-70.0, -40.0)),
            pressure: rng.chance(0.5).then_some(CpuPressure::Normal),
            episode,
        }
    }

    fn trouble_at(&self, minute: usize) -> Option<Trouble> {
        self.episode
            .filter(|(start, len, _)| (*start..start + len).contains(&minute))
            .map(|(_, _, t)| t)
    }
}

fn metric(stream: &str, field: Field) -> Metric {
    Metric::stream(Stream::from_name(stream).expect("stream name"), field)
}

/// One stream's figures, written the way Zoom's strings normalise.
struct StreamValues {
    kbps: f64,
    latency: f64,
    jitter: f64,
    avg_loss: f64,
    max_loss: f64,
    /// Frame rate and resolution, for video and sharing streams.
    video: Option<(f64, (f64, f64))>,
}

fn set_stream(s: &mut Sample, stream: &str, v: StreamValues) {
    s.set(metric(stream, Field::Bitrate), Some(v.kbps.round()));
    s.set(metric(stream, Field::Latency), Some(v.latency.round()));
    s.set(metric(stream, Field::Jitter), Some(v.jitter.round()));
    s.set(
        metric(stream, Field::AvgLoss),
        Some((v.avg_loss * 10.0).round() / 10.0),
    );
    s.set(
        metric(stream, Field::MaxLoss),
        Some((v.max_loss * 10.0).round() / 10.0),
    );
    if let Some((fps, (w, h))) = v.video {
        s.set(metric(stream, Field::FrameRate), Some(fps.round()));
        s.set(metric(stream, Field::Width), Some(w));
        s.set(metric(stream, Field::Height), Some(h));
    }
}

fn sample(p: &Profile, minute: usize, rng: &mut Rng) -> Sample {
    let at = Timestamp(START + minute as i64 * MIN);
    let trouble = p.trouble_at(minute);
    // A one-minute blip now and then: a rule goes pending, then back.
    let blip = trouble.is_none() && rng.chance(0.04);

    let mut latency = rng.noisy(p.latency, 0.15);
    let mut jitter = rng.noisy(p.jitter, 0.3);
    let mut loss = rng.noisy(p.loss, 0.5);
    let mut fps_in = rng.noisy(p.fps_in, 0.1);
    let mut cpu = rng.noisy(p.cpu, 0.2);
    let mut system_cpu = rng.noisy(p.system_cpu, 0.15);
    if blip {
        latency = rng.range(155.0, 260.0);
    }
    match trouble {
        None => {}
        Some(Trouble::Latency) => latency = rng.range(165.0, 280.0),
        Some(Trouble::LatencyCritical) => latency = rng.range(420.0, 650.0),
        Some(Trouble::Jitter) => jitter = rng.range(45.0, 90.0),
        Some(Trouble::Loss) => loss = rng.range(2.3, 4.5),
        Some(Trouble::LossCritical) => loss = rng.range(5.5, 12.0),
        Some(Trouble::FrameRate) => fps_in = rng.range(1.0, 4.0),
        Some(Trouble::Cpu) => {
            cpu = rng.range(82.0, 97.0);
            system_cpu = rng.range(92.0, 100.0);
        }
        Some(Trouble::Network) => {
            latency = rng.range(180.0, 350.0);
            jitter = rng.range(40.0, 80.0);
            loss = rng.range(2.5, 7.0);
            fps_in = rng.range(2.0, 6.0);
        }
    }

    let mut s = Sample::empty(at);
    let max_loss = |rng: &mut Rng, avg: f64| avg * rng.range(1.5, 4.0) + rng.range(0.0, 2.0);
    let v = StreamValues {
        kbps: rng.noisy(p.audio_kbps, 0.2),
        latency,
        jitter,
        avg_loss: loss,
        max_loss: max_loss(rng, loss),
        video: None,
    };
    set_stream(&mut s, "audio_input", v);
    let v = StreamValues {
        kbps: rng.noisy(p.audio_kbps * 1.5, 0.2),
        latency: latency + rng.range(0.0, 15.0),
        jitter: rng.noisy(jitter, 0.2),
        avg_loss: rng.noisy(loss, 0.3) * 0.5,
        max_loss: max_loss(rng, loss * 0.5),
        video: None,
    };
    set_stream(&mut s, "audio_output", v);
    let v = StreamValues {
        kbps: rng.noisy(p.video_in_kbps, 0.2),
        latency: latency + rng.range(0.0, 10.0),
        jitter: rng.noisy(jitter, 0.2) + 3.0,
        avg_loss: rng.noisy(loss, 0.3),
        max_loss: max_loss(rng, loss),
        video: Some((fps_in, p.res_in)),
    };
    set_stream(&mut s, "video_input", v);
    let v = StreamValues {
        kbps: rng.noisy(p.video_out_kbps, 0.2),
        latency: latency + rng.range(0.0, 12.0),
        jitter: rng.noisy(jitter, 0.2) + 3.0,
        avg_loss: rng.noisy(loss, 0.3) * 0.5,
        max_loss: max_loss(rng, loss * 0.5),
        video: Some((rng.noisy(p.fps_out, 0.1), p.res_out)),
    };
    set_stream(&mut s, "video_output", v);
    for stream in ["as_input", "as_output"] {
        // Not sharing: Zoom still reports the channel, with `0*0` and `""`.
        let video = p.shares.then(|| (rng.range(4.0, 10.0), (1920.0, 1080.0)));
        let v = StreamValues {
            kbps: if p.shares {
                rng.range(150.0, 900.0)
            } else {
                70.0
            },
            latency: latency + rng.range(0.0, 12.0),
            jitter: rng.noisy(jitter, 0.2),
            avg_loss: rng.noisy(loss, 0.3) * 0.2,
            max_loss: max_loss(rng, loss * 0.2),
            video,
        };
        set_stream(&mut s, stream, v);
    }
    let cpu_values = [
        (cpu * rng.range(0.3, 0.7)).round(),
        cpu.round(),
        (cpu * rng.range(1.1, 1.6)).min(100.0).round(),
        system_cpu.max(cpu).min(100.0).round(),
    ];
    for (i, v) in cpu_values.into_iter().enumerate() {
        s.set(Metric::cpu(i), Some(v));
    }
    if let Some(rssi) = p.rssi {
        let avg = rng.noisy(rssi, 0.05).round();
        s.set(Metric::rssi(0), Some(avg + 6.0));
        s.set(Metric::rssi(1), Some(avg));
        s.set(Metric::rssi(2), Some(avg - 7.0));
    }
    s.cpu_pressure = if trouble.is_some_and(|t| matches!(t, Trouble::Cpu)) {
        Some(CpuPressure::Serious)
    } else {
        p.pressure
    };
    s
}

struct Fleet {
    meetings: Vec<MeetingInfo>,
    /// `(meeting index, participant)`, grouped by meeting.
    people: Vec<(usize, ParticipantInfo)>,
    /// `rounds[minute][participant]`.
    rounds: Vec<Vec<Sample>>,
}

fn fleet() -> Fleet {
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let meetings: Vec<MeetingInfo> = (0..MEETINGS)
        .map(|m| MeetingInfo {
            id: Some(Arc::from(format!("8574606{m:04}"))),
            uuid: Some(Arc::from(format!("4444AAAiAAAAAiAiAiiAii{m:02}=="))),
            topic: Some(Arc::from(format!("Team sync {m}"))),
        })
        .collect();
    const DEVICES: [(&str, &str, &str); 4] = [
        ("Mac", "Mac OS X 14.5", "macOS"),
        ("Windows", "Windows 11", "Windows"),
        ("Android", "Android 14", "Android"),
        ("iOS", "iOS 17.5", "iOS"),
    ];
    let people: Vec<(usize, ParticipantInfo)> = (0..PARTICIPANTS)
        .map(|i| {
            let mut info = ParticipantInfo {
                user_id: Arc::from(format!("{}", 16_778_240 + i)),
                join_time: Some(Timestamp(START - 120)),
                ..ParticipantInfo::default()
            };
            let (device, os, client) = DEVICES[i % DEVICES.len()];
            let attrs = [
                ("user_name", format!("Participant {i}")),
                ("email", format!("user{i}@example.com")),
                ("device", device.to_owned()),
                ("os", os.to_owned()),
                ("client", client.to_owned()),
                (
                    "network_type",
                    ["Wifi", "Wired", "Cellular"][i % 3].to_owned(),
                ),
                ("location", "San Jose (US)".to_owned()),
                ("data_center", "United States (SC Top)".to_owned()),
                ("connection_type", "UDP".to_owned()),
                ("domain", format!("host-{i}")),
                ("pc_name", format!("PC-{i}")),
                ("version", "6.1.0.52590".to_owned()),
            ];
            for (name, value) in attrs {
                assert!(info.set_attribute(name, Some(Arc::from(value))));
            }
            (i * MEETINGS / PARTICIPANTS, info)
        })
        .collect();
    let profiles: Vec<Profile> = (0..PARTICIPANTS).map(|_| Profile::new(&mut rng)).collect();
    let rounds = (0..MINUTES)
        .map(|minute| {
            profiles
                .iter()
                .map(|p| sample(p, minute, &mut rng))
                .collect()
        })
        .collect();
    Fleet {
        meetings,
        people,
        rounds,
    }
}

fn engine() -> Engine {
    Engine::new(default_pack())
}

fn default_pack() -> qoswatch::rules::RuleSet {
    qoswatch::rules::load_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/rules")])
        .unwrap_or_else(|e| panic!("default rules do not load: {e}"))
}

/// The default pack's incidents.
fn incident_engine() -> IncidentEngine {
    let defs = default_pack().incidents;
    assert!(!defs.is_empty(), "the default pack has incidents");
    IncidentEngine::new(defs, None)
}

/// Feeds one minute of the fleet as the service does with incidents: one
/// batch per meeting (samples through the engine and into the incident
/// engine, the batch's transitions to it, one evaluation).
fn feed_with_incidents(
    engine: &mut Engine,
    incidents: &mut IncidentEngine,
    fleet: &Fleet,
    round: &[Sample],
    out: &mut Vec<Transition>,
    incident_out: &mut Vec<IncidentTransition>,
) {
    let mut start = 0;
    while start < fleet.people.len() {
        let m = fleet.people[start].0;
        let end = fleet.people[start..]
            .iter()
            .position(|(i, _)| *i != m)
            .map_or(fleet.people.len(), |n| start + n);
        let meeting = &fleet.meetings[m];
        let first = out.len();
        for ((_, participant), sample) in fleet.people[start..end].iter().zip(&round[start..end]) {
            engine.observe(meeting, participant, sample, out);
            incidents.observe(MemberUpdate {
                meeting,
                participant,
                site: None,
                newest: sample.at,
                present: true,
            });
        }
        for t in &out[first..] {
            incidents.on_alert(t);
        }
        incident_out.extend(incidents.evaluate(round[start].at));
        start = end;
    }
}

/// Feeds one minute of the fleet.
fn feed(engine: &mut Engine, fleet: &Fleet, round: &[Sample], out: &mut Vec<Transition>) {
    for ((meeting, participant), sample) in fleet.people.iter().zip(round) {
        engine.observe(&fleet.meetings[*meeting], participant, sample, out);
    }
}

/// Moves every sample one cycle later, so the next cycle is new data.
fn next_cycle(fleet: &mut Fleet) {
    for round in &mut fleet.rounds {
        for s in round {
            s.at = s.at.plus_secs(MINUTES as i64 * MIN);
        }
    }
}

/// Runs two cycles through `e` and prints what the second did, so that the
/// figures can be judged. Afterwards every participant is known to `e` (no
/// first-sight insertions are timed) and its alerts are in their steady
/// cycle.
fn warm_up_and_describe(e: &mut Engine, fleet: &mut Fleet) {
    let mut out = Vec::new();
    for cycle in 0..2 {
        out.clear();
        for minute in 0..MINUTES {
            feed(e, fleet, &fleet.rounds[minute], &mut out);
        }
        next_cycle(fleet);
        if cycle == 1 {
            let firing = out.iter().filter(|t| t.state == State::Firing).count();
            let mut rules: Vec<&str> = out.iter().map(|t| &*t.rule).collect();
            rules.sort_unstable();
            rules.dedup();
            eprintln!(
                "engine fixture: {} rules, {PARTICIPANTS} participants in {MEETINGS} meetings x \
                 {MINUTES} min = {} samples per cycle; a cycle causes {firing} firing and {} \
                 resolved transitions over {} rules",
                e.rules().len(),
                PARTICIPANTS * MINUTES,
                out.len() - firing,
                rules.len(),
            );
        }
    }
    // Sanity: the fixture is what the module docs promise.
    let s = &fleet.rounds[0][0];
    for stream in [
        "audio_input",
        "audio_output",
        "video_input",
        "video_output",
        "as_input",
    ] {
        assert!(s.get(metric(stream, Field::Latency)).is_some(), "{stream}");
    }
}

/// Times `iters` minutes of the fleet fed by `feed_one`, from `minute` on
/// (a new cycle, untimed, after the last minute), so every call of the
/// closure sees newer samples than the one before.
fn timed_minutes(
    iters: u64,
    fleet: &mut Fleet,
    minute: &mut usize,
    mut feed_one: impl FnMut(&Fleet, &[Sample]),
) -> Duration {
    let mut measured = Duration::ZERO;
    for _ in 0..iters {
        if *minute == MINUTES {
            next_cycle(fleet);
            *minute = 0;
        }
        let start = Instant::now();
        feed_one(fleet, black_box(&fleet.rounds[*minute]));
        measured += start.elapsed();
        *minute += 1;
    }
    measured
}

fn bench_observe(c: &mut Criterion) {
    let mut fleet = fleet();
    // Criterion calls the closure below once per sample: the engine, the
    // output vector and the position in the cycle live out here so that
    // state carries on from call to call and every call sees newer samples.
    let mut e = engine();
    warm_up_and_describe(&mut e, &mut fleet);
    let mut out = Vec::new();
    let mut minute = 0;

    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(PARTICIPANTS as u64));
    group.bench_function("observe_default_rules/1000_participants", |b| {
        b.iter_custom(|iters| {
            timed_minutes(iters, &mut fleet, &mut minute, |fleet, round| {
                feed(&mut e, fleet, round, &mut out);
                black_box(&out);
                out.clear();
            })
        });
    });

    // The same fleet and engine again, with the default pack's incidents.
    let mut fleet = self::fleet();
    let mut e = engine();
    let mut incidents = incident_engine();
    warm_up_and_describe(&mut e, &mut fleet);
    let mut incident_out = Vec::new();
    let mut fired = 0usize;
    for _ in 0..2 {
        for minute in 0..MINUTES {
            feed_with_incidents(
                &mut e,
                &mut incidents,
                &fleet,
                &fleet.rounds[minute],
                &mut out,
                &mut incident_out,
            );
            out.clear();
        }
        next_cycle(&mut fleet);
        fired += incident_out.len();
        incident_out.clear();
    }
    eprintln!("incident fixture: {fired} incident transitions over two warm-up cycles");
    let mut minute = 0;
    group.bench_function(
        "observe_default_rules_and_incidents/1000_participants",
        |b| {
            b.iter_custom(|iters| {
                timed_minutes(iters, &mut fleet, &mut minute, |fleet, round| {
                    feed_with_incidents(
                        &mut e,
                        &mut incidents,
                        fleet,
                        round,
                        &mut out,
                        &mut incident_out,
                    );
                    black_box(&out);
                    black_box(&incident_out);
                    out.clear();
                    incident_out.clear();
                })
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench_observe);
criterion_main!(benches);
