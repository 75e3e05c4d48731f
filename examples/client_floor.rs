//! The floor under the load run's CPU figure: what one cycle of bulk QoS
//! requests costs in the HTTP client alone, and with parsing, without the
//! rest of qoswatch. Run against `load_mock` (see BENCHMARKS.md):
//!
//!     cargo run --release --example load_mock -- 18080 1000 10 &
//!     cargo run --release --example client_floor -- 18080 1000 [RPS]
//!
//! For REQUESTS requests (one per meeting), 32 at a time (and paced at RPS
//! requests a second when given), on a one-thread
//! runtime like `qoswatch run`, it prints the process CPU time of each
//! round: reqwest with the body read, then the same plus
//! `parse_qos_response_since` skipping the samples a poll already
//! delivered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qoswatch::qos::Timestamp;
use qoswatch::zoom::api::{Cutoff, parse_qos_response_since};

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the file; 12 and 13 after the command name.
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    ticks / 100.0
}

async fn round(
    client: &reqwest::Client,
    port: u16,
    requests: usize,
    rps: u64,
    parse: bool,
) -> (f64, f64) {
    let now = chrono::Utc::now().timestamp();
    // The newest sample delivered: everything up to the last minute.
    let newest = Timestamp((now - 5).div_euclid(60) * 60 - 60);
    // The mock's participants are 16778240 and up, as in Zoom's examples.
    let cutoff: Arc<Cutoff> = Arc::new(
        (0..10)
            .map(|p| ((16_778_240 + p).to_string(), newest))
            .collect(),
    );
    let started_cpu = cpu_seconds();
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(32));
    let mut set = tokio::task::JoinSet::new();
    let mut pace =
        (rps > 0).then(|| tokio::time::interval(Duration::from_micros(1_000_000 / rps.max(1))));
    for meeting in 0..requests {
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        let permit = semaphore.clone().acquire_owned().await.expect("open");
        let client = client.clone();
        let cutoff = cutoff.clone();
        set.spawn(async move {
            let url = format!(
                "http://127.0.0.1:{port}/v2/metrics/meetings/m{meeting}%3D%3D/participants/qos?type=live&page_size=10"
            );
            let body = client
                .get(url)
                .bearer_auth("load")
                .send()
                .await
                .expect("request")
                .bytes()
                .await
                .expect("body");
            if parse {
                let r = parse_qos_response_since(&body, &cutoff).expect("parses");
                assert_eq!(r.participants.len(), 10);
            }
            drop(permit);
            body.len()
        });
    }
    let mut bytes = 0;
    while let Some(n) = set.join_next().await {
        bytes += n.expect("task");
    }
    let cpu = cpu_seconds() - started_cpu;
    println!(
        "{requests} requests{} at {}: {:.0} ms CPU ({:.0} us each), {:.1} s wall, {} KB per body",
        if parse { " + parse" } else { "" },
        if rps > 0 {
            format!("{rps}/s")
        } else {
            "full speed".into()
        },
        cpu * 1000.0,
        cpu * 1e6 / requests as f64,
        started.elapsed().as_secs_f64(),
        bytes / requests / 1024
    );
    (cpu, started.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(18080);
    let requests: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rps: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        for _ in 0..3 {
            round(&client, port, requests, rps, false).await;
            round(&client, port, requests, rps, true).await;
        }
    });
}
