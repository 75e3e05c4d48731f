//! Silences end to end, against mock Zoom and mock Slack with the real
//! binary and its CLI: a silence made with `qoswatch silence add` keeps a
//! participant's alert from Slack while `/api/alerts` lists it
//! `silenced_by` that silence; `silence expire` sends it; an
//! `until: meeting_end` silence expires when the meeting ends (its QoS
//! answers 404/3001), and the alert it held resolves without a word; all
//! of it survives SIGTERM and kill -9. And the guard: with a token, `/`
//! asks for it (Basic) while health, readiness and metrics stay open;
//! without one, every write is refused naming `http.admin_token`.

mod kit;

use kit::process::{stderr, stdout};

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kit::config::ServiceConfig;
use kit::eventually;
use kit::process::{Service, qoswatch};
use kit::respond::Recorder;
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use serde_json::Value;
use wiremock::{MockServer, Request, ResponseTemplate};

const TOKEN: &str = "e2e-admin-token-0123456789";

/// A participant with one bad (300 ms) or good (20 ms) sample now.
fn person(id: &str, name: &str, bad: bool) -> Participant {
    let latency = if bad { "300 ms" } else { "20 ms" };
    Participant::new(id).name(name).sample(
        QosSample::at_unix(zoom::now_secs()).stream("audio_input", Stream::new().latency(latency)),
    )
}

/// `qoswatch ARGS --url URL`, with the token in the environment or not.
fn cli(dir: &Path, args: &[&str], url: &str, token: Option<&str>) -> Output {
    let mut cmd = qoswatch();
    cmd.args(args)
        .args(["--url", url])
        .current_dir(dir)
        .env_remove("QOSWATCH_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("QOSWATCH_ADMIN_TOKEN", t);
    }
    cmd.output().expect("qoswatch runs")
}

/// Both silences survived a restart, active and still holding Alice's and
/// Carol's alerts (not Bob's).
async fn still_silenced(url: &str, alice_silence: &str, meeting_silence: &str, when: &str) {
    assert_eq!(silence_state(url, alice_silence).await, "active", "{when}");
    assert_eq!(
        silence_state(url, meeting_silence).await,
        "active",
        "{when}"
    );
    wait_listed(
        url,
        &[
            ("Alice", &[alice_silence]),
            ("Bob", &[]),
            ("Carol", &[meeting_silence]),
        ],
        when,
    )
    .await;
}

/// GET `path` with the token; the JSON body.
async fn get(url: &str, path: &str) -> Value {
    kit::api_get(url, path, TOKEN).await
}

/// `/api/alerts`: (participant, silenced_by) of each firing alert, sorted.
async fn listed(url: &str) -> Vec<(String, Vec<String>)> {
    let body = get(url, "/api/alerts").await;
    let mut out: Vec<(String, Vec<String>)> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let by = a["silenced_by"].as_array().map_or_else(Vec::new, |l| {
                l.iter().map(|s| s.as_str().unwrap().to_owned()).collect()
            });
            (a["user_name"].as_str().unwrap_or("").to_owned(), by)
        })
        .collect();
    out.sort();
    out
}

async fn wait_listed(url: &str, want: &[(&str, &[&str])], what: &str) {
    let want: Vec<(String, Vec<String>)> = want
        .iter()
        .map(|(n, by)| (n.to_string(), by.iter().map(|s| s.to_string()).collect()))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = listed(url).await;
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: /api/alerts lists {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The state of silence `id` in `/api/silences`.
async fn silence_state(url: &str, id: &str) -> String {
    let body = get(url, "/api/silences").await;
    body["silences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .map_or_else(
            || "absent".to_owned(),
            |s| s["state"].as_str().unwrap().to_owned(),
        )
}

/// Messages in Slack that name `who`.
fn messages_about(slack: &Recorder, who: &str) -> usize {
    slack
        .bodies()
        .iter()
        .filter(|b| b.to_string().contains(who))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_silence_holds_an_alert_until_expired_and_a_meeting_end_silence_ends_with_it() {
    let zoom = MockZoom::start().await;
    // Meeting 42: Bob is bad from the start, Alice once `alice` is set.
    let alice = Arc::new(AtomicBool::new(false));
    let a = alice.clone();
    zoom.mount(zoom::bulk_qos("42").respond_with(move |_: &Request| {
        let mut page = QosPage::new().participant(person("2", "Bob", true));
        if a.load(Ordering::SeqCst) {
            page = page.participant(person("1", "Alice", true));
        }
        zoom::json(page.to_json())
    }))
    .await;
    // Meeting 43: Dave is fine; Carol is bad once `carol` is set; the
    // meeting ends (404/3001) once `ended` is.
    let carol = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicBool::new(false));
    let (c, e) = (carol.clone(), ended.clone());
    zoom.mount(zoom::bulk_qos("43").respond_with(move |_: &Request| {
        if e.load(Ordering::SeqCst) {
            return ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"code": 3001, "message": "Meeting does not exist: 43."}),
            );
        }
        let mut page = QosPage::new().participant(person("4", "Dave", false));
        if c.load(Ordering::SeqCst) {
            page = page.participant(person("3", "Carol", true));
        }
        zoom::json(page.to_json())
    }))
    .await;
    let slack_server = MockServer::start().await;
    let slack = Recorder::mounted(&slack_server, "/services/T/B/X").await;

    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42", "43"])
        .latency_rule()
        .slack("oncall", &format!("{}/services/T/B/X", slack_server.uri()))
        .admin_token("${QOSWATCH_ADMIN_TOKEN}")
        .write(dir.path());
    let env = [("QOSWATCH_ADMIN_TOKEN", TOKEN)];
    let mut service = Service::run(&config, "info", &env);
    let url = service.listen_url(Duration::from_secs(10));

    // Delivery works: Bob's alert reaches Slack.
    slack.wait("Bob's alert", |b| b.to_string().contains("Bob"));

    // A silence for Alice (participant 1), made with the CLI.
    let made = cli(
        dir.path(),
        &[
            "silence",
            "add",
            "participant=1",
            "rule=latency-high",
            "--for",
            "2h",
            "--comment",
            "Alice's Wi-Fi is known bad",
            "--author",
            "ops",
        ],
        &url,
        Some(TOKEN),
    );
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let alice_silence = stdout(&made).trim().to_owned();
    assert_eq!(alice_silence.len(), 36, "prints the id: {alice_silence:?}");
    // One until the end of meeting 43.
    let made = cli(
        dir.path(),
        &[
            "silence",
            "add",
            "meeting=43",
            "--until-meeting-end",
            "--comment",
            "all-hands",
        ],
        &url,
        Some(TOKEN),
    );
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let meeting_silence = stdout(&made).trim().to_owned();

    // Alice and Carol go bad: listed, silenced, not sent.
    alice.store(true, Ordering::SeqCst);
    carol.store(true, Ordering::SeqCst);
    wait_listed(
        &url,
        &[
            ("Alice", &[alice_silence.as_str()]),
            ("Bob", &[]),
            ("Carol", &[meeting_silence.as_str()]),
        ],
        "silenced alerts",
    )
    .await;
    let alerts = cli(dir.path(), &["alerts"], &url, Some(TOKEN));
    assert_eq!(alerts.status.code(), Some(0), "{}", stderr(&alerts));
    let lines = stdout(&alerts);
    assert!(
        lines
            .lines()
            .any(|l| l.contains("Alice") && l.contains(&format!("[silenced by {alice_silence}]"))),
        "{lines}"
    );
    assert!(
        lines
            .lines()
            .any(|l| l.contains("Bob") && !l.contains("silenced")),
        "{lines}"
    );
    let list = cli(dir.path(), &["silence", "list"], &url, Some(TOKEN));
    assert!(
        stdout(&list).contains(&alice_silence) && stdout(&list).contains("until meeting_end"),
        "{}",
        stdout(&list)
    );
    let metrics = kit::metrics(&url).await;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("qoswatch_notifications_suppressed_total{reason=\"silenced\"}")
            && !l.ends_with(" 0")),
        "{metrics}"
    );

    // SIGTERM and again: the silences and what they hold are still there.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    let mut service = Service::run(&config, "info", &env);
    let url = service.listen_url(Duration::from_secs(10));
    still_silenced(
        &url,
        &alice_silence,
        &meeting_silence,
        "after SIGTERM and a restart",
    )
    .await;
    // kill -9 and again.
    std::thread::sleep(Duration::from_secs(6));
    service.kill();
    let mut service = Service::run(&config, "info", &env);
    let url = service.listen_url(Duration::from_secs(10));
    still_silenced(
        &url,
        &alice_silence,
        &meeting_silence,
        "after kill -9 and a restart",
    )
    .await;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(messages_about(&slack, "Alice"), 0, "{:#?}", slack.bodies());
    assert_eq!(messages_about(&slack, "Carol"), 0, "{:#?}", slack.bodies());

    // Expired with the CLI: Alice's alert is sent, once, and no longer marked.
    let expired = cli(
        dir.path(),
        &["silence", "expire", &alice_silence],
        &url,
        Some(TOKEN),
    );
    assert_eq!(expired.status.code(), Some(0), "{}", stderr(&expired));
    assert_eq!(stdout(&expired).trim(), format!("{alice_silence}: expired"));
    slack.wait("Alice's alert after the expiry", |b| {
        b.to_string().contains("Alice")
    });
    wait_listed(
        &url,
        &[
            ("Alice", &[]),
            ("Bob", &[]),
            ("Carol", &[meeting_silence.as_str()]),
        ],
        "after the expiry",
    )
    .await;
    assert_eq!(silence_state(&url, &alice_silence).await, "expired");

    // Meeting 43 ends: its silence expires; Carol's alert resolves, and as
    // its firing was never sent, nothing is.
    ended.store(true, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(20), || {
            let list = cli(dir.path(), &["silence", "list"], &url, Some(TOKEN));
            stdout(&list)
                .lines()
                .any(|l| l.starts_with(&meeting_silence) && l.contains(" expired "))
        }),
        "the meeting-end silence expires when the meeting ends"
    );
    wait_listed(
        &url,
        &[("Alice", &[]), ("Bob", &[])],
        "after the meeting ended",
    )
    .await;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(messages_about(&slack, "Alice"), 1, "{:#?}", slack.bodies());
    assert_eq!(messages_about(&slack, "Carol"), 0, "{:#?}", slack.bodies());

    // With the token configured: the page asks for it; health stays open.
    let client = reqwest::Client::new();
    let page = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(
        page.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic "),
        "{:?}",
        page.headers()
    );
    let page = client
        .get(format!("{url}/"))
        .basic_auth("me", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    for open in ["/healthz", "/readyz", "/metrics"] {
        let r = client.get(format!("{url}{open}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{open}");
    }
    // A wrong token is refused, by the CLI too.
    let refused = cli(
        dir.path(),
        &["alerts"],
        &url,
        Some("wrong-token-0123456789"),
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_token_every_write_is_refused_naming_the_setting() {
    let zoom = MockZoom::start().await;
    zoom.mount(zoom::bulk_qos("42").respond_with(move |_: &Request| {
        zoom::json(
            QosPage::new()
                .participant(person("2", "Bob", false))
                .to_json(),
        )
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .latency_rule()
        .notifier("out", "{ type: console }")
        .write(dir.path());
    let mut service = Service::run(&config, "info", &[]);
    let url = service.listen_url(Duration::from_secs(10));
    // Even with a token in hand.
    for token in [None, Some(TOKEN)] {
        let add = cli(
            dir.path(),
            &[
                "silence",
                "add",
                "rule=latency-high",
                "--for",
                "1h",
                "--comment",
                "x",
            ],
            &url,
            token,
        );
        assert_eq!(add.status.code(), Some(1));
        assert!(
            stderr(&add).contains("403") && stderr(&add).contains("http.admin_token"),
            "{}",
            stderr(&add)
        );
        let expire = cli(dir.path(), &["silence", "expire", "some-id"], &url, token);
        assert_eq!(expire.status.code(), Some(1));
        assert!(
            stderr(&expire).contains("http.admin_token"),
            "{}",
            stderr(&expire)
        );
    }
    let client = reqwest::Client::new();
    let post = client
        .post(format!("{url}/api/silences"))
        .json(&serde_json::json!({"matchers": {"rule": "latency-high"}, "duration": "1h", "comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    assert!(post.text().await.unwrap().contains("http.admin_token"));
    // Reads stay open on loopback.
    let list = cli(dir.path(), &["silence", "list"], &url, None);
    assert_eq!(
        (list.status.code(), stdout(&list).trim()),
        (Some(0), "no silences")
    );
    let alerts = cli(dir.path(), &["alerts"], &url, None);
    assert_eq!(alerts.status.code(), Some(0), "{}", stderr(&alerts));
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
    // And a stopped service is unreachable: exit 1.
    let gone = cli(dir.path(), &["alerts"], &url, None);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stderr(&gone).contains("cannot reach"), "{}", stderr(&gone));
}
