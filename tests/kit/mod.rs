//! The shared test kit: mocks, builders and process helpers in one place,
//! used by the integration tests (`mod kit;`) and, in parts, by the benches
//! and the load mock (`#[path = "../tests/kit/zoom.rs"] mod zoom;`).
//!
//! - [`zoom`]: a mock Zoom ([`zoom::MockZoom`]: wiremock with the S2S OAuth
//!   token endpoint, credentials checked, optional exact token count), the
//!   endpoint matchers [`zoom::discovery`], [`zoom::bulk_qos`],
//!   [`zoom::any_bulk_qos`], [`zoom::participant_qos`], [`zoom::oauth_token`],
//!   the library's `ZoomConfig` for the mock ([`zoom::MockZoom::config`]) and
//!   its `zoom:` YAML ([`zoom::MockZoom::yaml_section`]); body builders that
//!   write Zoom's key order ([`zoom::QosPage`], [`zoom::Participant`],
//!   [`zoom::QosSample`], [`zoom::Stream`], [`zoom::MeetingsPage`],
//!   [`zoom::Meeting`]) with [`zoom::json`] to answer with one, and
//!   [`zoom::stamp`] / [`zoom::now_secs`] for `date_time`. Self-contained.
//! - [`config`]: [`config::write_file`] and [`config::ServiceConfig`], a
//!   qoswatch.yaml plus rule files for a mock Zoom, written into a temp dir
//!   (with `http.admin_token` when [`config::ServiceConfig::admin_token`]).
//! - [`process`]: the real binary: [`process::qoswatch`] for one-shot commands
//!   ([`process::run_in_root`], [`process::once`], [`process::stdout`]),
//!   and [`process::Service`] for a running service with stdout and
//!   stderr read line by line (`OUT `/`ERR ` prefixes),
//!   [`process::Service::wait_for`] / [`process::Service::expect_line`] with
//!   a timeout, [`process::Service::listen_url`],
//!   [`process::Service::terminate`] (SIGTERM) and [`process::Service::kill`]
//!   (SIGKILL). A dropped `Service` kills its process.
//! - [`respond`]: [`respond::Script`], a responder answering from a script
//!   (fail N times, then succeed) and recording when each request came;
//!   [`respond::Recorder`], a chat receiver keeping every JSON body posted
//!   ([`respond::Recorder::mounted`] mounts one at a path of a mock server).
//! - [`events`]: Zoom's event notifications: [`events::Hook`] posts signed
//!   webhook requests ([`events::sign`], [`events::Signing`] for wrong
//!   secrets, missing headers and old timestamps) to the service's
//!   receiver; body builders [`events::meeting_event`],
//!   [`events::participant_event`], [`events::qss_event`],
//!   [`events::url_validation`].
//! - [`rng`]: [`rng::Rng`], the seeded SplitMix64 of the benches.
//!   Self-contained.
//! - Here: [`fixture`], [`strict`] (`QOSWATCH_STRICT=1`), [`eventually`],
//!   [`metrics`] (a service's `/metrics` text) and [`promtool_check`].
//!
//! Tests stay in real time with millisecond settings: the kit never pauses
//! tokio's clock (reqwest's timeouts misbehave under paused time).
//!
//! # Adopting the kit in the files not yet converted
//!
//! - `tests/zoom_client.rs`: `config(&server, budget)` becomes
//!   `let zoom = MockZoom::builder().access_token(v).expires_in(s).expect_tokens(n).start().await;`
//!   then `let mut c = zoom.config(); c.daily_budget = budget;` (the kit's
//!   credentials are acc/cid/csecret, the ones its `token()` checks, and it
//!   also answers `token_type` and `scope`). `participant(...)` and the
//!   `serde_json::json!` bodies become [`zoom::Participant`] /
//!   [`zoom::QosPage`] with [`zoom::json`]; the paths become
//!   [`zoom::bulk_qos`], [`zoom::participant_qos`] and [`zoom::discovery`]
//!   (the pagination matchers are added with `.and(query_param(...))`).
//!   `bad_credentials_...` uses `MockZoom::builder().without_oauth()` and
//!   mounts [`zoom::oauth_token`] with its 400. `Stamped` is
//!   [`respond::Script`] with one answer.
//! - `tests/poller.rs`: `oauth` + `zoom` become `MockZoom::start()` and
//!   `zoom.config()` with `requests_per_second = 100` (what it uses today);
//!   `LiveMeeting` builds its body with [`zoom::QosPage`] (`paging(1, 10, 1)`),
//!   [`zoom::Participant`] and [`zoom::QosSample::at_unix`] instead of
//!   `json!`, `stamp` is [`zoom::stamp`]; `Discovery` writes
//!   [`zoom::MeetingsPage`] and mounts on [`zoom::discovery`].
//! - `benches/parse.rs`: `#[path = "../tests/kit/rng.rs"] mod rng;` and
//!   `#[path = "../tests/kit/zoom.rs"] mod zoom;`; its `Rng` is [`rng::Rng`]
//!   (same seed, same `range`/`int`, so the same numbers); `list_body`
//!   builds [`zoom::QosPage`] / [`zoom::Participant`] / [`zoom::QosSample`] /
//!   [`zoom::Stream`] instead of `serde_json::Map` and `json!`, whose
//!   alphabetical order puts `date_time` after the audio streams. The body
//!   then changes byte order (not size or content), so rerun the parse bench
//!   for a new baseline.

#![allow(dead_code)]

pub mod config;
pub mod events;
pub mod process;
pub mod respond;
pub mod rng;
pub mod zoom;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// `QOSWATCH_STRICT=1`: checks that need an outside tool (promtool, node)
/// fail instead of being skipped when the tool is missing.
pub fn strict() -> bool {
    std::env::var("QOSWATCH_STRICT").is_ok_and(|v| v == "1")
}

/// Polls `cond` every 100 ms for up to `timeout`; true once it holds.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The `/metrics` text of the service at `url`.
pub async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics has a body")
}

/// GET `path` of the service's admin API at `url` with a bearer `token`;
/// the JSON body.
pub async fn api_get(url: &str, path: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

/// Checks a `/metrics` text with `promtool check metrics` (no output, exit
/// 0); skipped when promtool is missing unless [`strict`].
pub fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    match spawned {
        Ok(mut p) => {
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let o = p.wait_with_output().unwrap();
            assert!(
                o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
                "promtool: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Err(e) => assert!(!strict(), "promtool is needed (QOSWATCH_STRICT=1): {e}"),
    }
}
