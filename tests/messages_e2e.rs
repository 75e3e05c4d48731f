//! What chat messages say, end to end: the real binary polls a mock Zoom and
//! posts to a mock Slack and a mock webhook. A resolution reports the stream
//! that fired and uses `resolved_summary`; the runbook and `links` are
//! rendered templates with values urlencoded; times are in
//! `display.time_zone`; a route's `mention` leads the text of firing
//! messages only; a rule edited while firing resolves as "no longer
//! evaluated: rule changed", never as a recovery.

mod kit;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kit::config::{ServiceConfig, write_file};
use kit::process::Service;
use kit::respond::Recorder;
use kit::zoom::{self, Meeting, MeetingsPage, MockZoom, Participant, QosPage, QosSample, Stream};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// 2026-03-02T15:00:00Z: 16:00 in Europe/Berlin (CET).
const T0: i64 = 1_772_463_600;

/// Carol's samples: poll 0 has the first (audio_input 220 ms: fires), poll
/// 1 adds one 4 minutes later (audio_input 98 ms, audio_output 120 ms:
/// resolves), poll 2 on adds a third (audio_input 300 ms: fires again).
fn carol(poll: usize) -> ResponseTemplate {
    let sample = |at: i64, input: &str, output: &str| {
        QosSample::at_unix(at)
            .stream("audio_input", Stream::new().latency(input))
            .stream("audio_output", Stream::new().latency(output))
    };
    let all = [
        sample(T0, "220 ms", "90 ms"),
        sample(T0 + 240, "98 ms", "120 ms"),
        sample(T0 + 300, "300 ms", "90 ms"),
    ];
    let person = Participant::new("16778240")
        .name("Carol Diaz")
        .samples(all.into_iter().take(poll.min(2) + 1));
    zoom::json(QosPage::new().participant(person).to_json())
}

const RULE: &str = r#"rules:
  - name: latency-high
    severity: critical
    when: audio_*.latency > 150ms
    resolved_summary: "{{ user_name }}: {{ metric }} settled at {{ value }} {{ unit }} after {{ duration }} (since {{ since }})"
    runbook: "https://wiki.example/{{ rule }}?meeting={{ meeting_id }}&topic={{ topic | urlencode }}"
"#;

/// The Slack `text` of a body.
fn text(b: &Value) -> &str {
    b["text"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_say_what_happened_and_lead_somewhere() {
    let zoom = MockZoom::start().await;
    let meetings = MeetingsPage::new()
        .meeting(Meeting::new("abc==", 85746065432).topic("Exec staff weekly"))
        .to_json();
    zoom.mount(zoom::discovery().respond_with(zoom::json(meetings)))
        .await;
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    zoom.mount(
        zoom::bulk_qos("abc%3D%3D")
            .respond_with(move |_: &Request| carol(counter.fetch_add(1, Ordering::SeqCst))),
    )
    .await;
    let receiver = MockServer::start().await;
    let slack = Recorder::mounted(&receiver, "/slack").await;
    let hook = Recorder::mounted(&receiver, "/hook").await;

    let dir = tempfile::tempdir().unwrap();
    let service_config = ServiceConfig::new(&zoom)
        .discover_interval("1m")
        .rule_file("rules/latency.yaml", RULE)
        .slack("chat", &format!("{}/slack", receiver.uri()))
        .notifier(
            "tools",
            &format!("{{ type: webhook, url: \"{}/hook\" }}", receiver.uri()),
        )
        .notifier("out", "{ type: console }");
    // The kit writes the rule file; the config gets the keys under test.
    service_config.write(dir.path());
    let mut yaml = service_config.yaml();
    yaml.push_str(
        "routes:\n  - notify: [chat, tools, out]\n    mention: [\"<!here>\"]\ndisplay:\n  time_zone: Europe/Berlin\nlinks:\n  Zoom dashboard: \"https://zoom.example/m/{{ meeting_uuid | urlencode }}?who={{ user_name }}\"\n",
    );
    let config = write_file(dir.path(), "qoswatch.yaml", &yaml);
    let mut service = Service::run(&config, "info", &[]);

    // Firing (at first sight): the mention leads the preview, which names
    // the alert; the runbook and the link are rendered and urlencoded.
    let firing = slack.wait("firing message", |b| text(b).contains("FIRING"));
    assert_eq!(
        text(&firing),
        "<!here> FIRING · critical · Carol Diaz · audio_input.latency 220 ms"
    );
    let all = firing.to_string();
    assert!(
        all.contains("<https://wiki.example/latency-high?meeting=85746065432&amp;topic=Exec%20staff%20weekly|Runbook>"),
        "{firing:#}"
    );
    assert!(
        all.contains("<https://zoom.example/m/abc%3D%3D?who=Carol%20Diaz|Zoom dashboard>"),
        "{firing:#}"
    );
    // The meeting by topic and number, the time in Europe/Berlin.
    assert!(
        all.contains("Exec staff weekly (85746065432)"),
        "{firing:#}"
    );
    assert!(!all.contains("abc=="), "the UUID is not shown: {firing:#}");
    assert!(all.contains("2026-03-02 16:00 CET"), "{firing:#}");

    // Resolved by its condition: the stream that fired (audio_input, 98 ms,
    // not audio_output's 120 ms), in the rule's resolved_summary; no mention.
    let resolved = slack.wait("resolution", |b| text(b).contains("RESOLVED"));
    assert_eq!(
        text(&resolved),
        "RESOLVED · critical · Carol Diaz · audio_input.latency 98 ms"
    );
    assert!(
        resolved.to_string().contains(
            "Carol Diaz: audio_input.latency settled at 98 ms after 4m (since 2026-03-02 16:00 CET)"
        ),
        "{resolved:#}"
    );
    assert_eq!(resolved["attachments"][0]["color"], "good");

    // Firing again, then the rule is edited: the alert is no longer
    // evaluated, and no message presents that as a recovery.
    let refired = slack.wait("second firing", |b| {
        text(b).contains("FIRING") && text(b).contains("300 ms")
    });
    assert!(text(&refired).starts_with("<!here> "), "{refired:#}");
    write_file(
        dir.path(),
        "rules/latency.yaml",
        &RULE.replace("> 150ms", "> 400ms"),
    );
    let changed = slack.wait("rule-changed resolution", |b| {
        text(b).contains("NO LONGER EVALUATED")
    });
    let all = changed.to_string();
    assert!(
        all.contains("no longer evaluated: rule changed"),
        "{changed:#}"
    );
    assert!(
        !all.contains("recovered") && !all.contains("back to") && !all.contains("<!here>"),
        "{changed:#}"
    );
    assert_ne!(changed["attachments"][0]["color"], "good", "not green");
    let annotated = hook.wait("webhook rule-changed resolution", |b| {
        b["alerts"][0]["annotations"]["resolution"] == "rule_changed"
    });
    let a = &annotated["alerts"][0];
    assert_eq!(
        a["annotations"]["reason"],
        "no longer evaluated: rule changed"
    );
    assert_eq!(
        a["annotations"]["link_Zoom dashboard"],
        "https://zoom.example/m/abc%3D%3D?who=Carol%20Diaz"
    );
    assert_eq!(a["labels"]["meeting_uuid"], "abc==");
    service.expect_line(
        &[
            "OUT",
            "RESOLVED",
            "latency-high",
            "(no longer evaluated: rule changed)",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(service.terminate(Duration::from_secs(15)), Some(0));
}

/// Teams text reads as written (issue 13 item 8): the real binary replays a
/// participant named with markdown and angle brackets, loses 7.2 % of its
/// audio, and posts the card to a mock Workflows endpoint. The name and the
/// figures arrive without the backslashes that used to litter them, while
/// what markdown would turn into formatting or a link is escaped.
#[tokio::test(flavor = "multi_thread")]
async fn teams_cards_carry_names_as_written() {
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/teams"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&teams)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let sample = |at: i64, loss: &str| {
        QosSample::at_unix(at).stream(
            "audio_input",
            Stream::new().latency("40 ms").avg_loss(loss).max_loss(loss),
        )
    };
    let body = Participant::new("16778240")
        .name("Carol <CFO> Diaz *bold* _x_ [link](http://x)")
        .samples([sample(T0, "7.2%")])
        .to_json();
    write_file(dir.path(), "samples/0001.json", &body);
    write_file(
        dir.path(),
        "rules/loss.yaml",
        "rules:\n  - name: loss-critical\n    severity: critical\n    when: audio_input.avg_loss > 5%\n",
    );
    let config = write_file(
        dir.path(),
        "qoswatch.yaml",
        &format!(
            "replay: samples/\nrules: [rules/]\nnotifiers:\n  netops: {{ type: teams, url: \"{}/teams\" }}\nstate_dir: state\n",
            teams.uri()
        ),
    );
    let out = kit::process::once(&config).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = teams.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let card: Value = serde_json::from_slice(&got[0].body).unwrap();
    let content = &card["attachments"][0]["content"];
    // Every text of the card, decoded.
    let mut texts = Vec::new();
    collect_texts(content, &mut texts);
    let summary = r"Carol <CFO> Diaz \*bold\* \_x\_ \[link\](http://x): audio_input.avg_loss 7.2% (threshold 5%)";
    assert!(texts.iter().any(|t| t == summary), "{texts:#?}");
    assert!(
        texts
            .iter()
            .all(|t| !t.contains(r"\<") && !t.contains(r"\(") && !t.contains(r"\.")),
        "{texts:#?}"
    );
    assert!(
        content["fallbackText"]
            .as_str()
            .unwrap()
            .starts_with("FIRING · critical · Carol <CFO> Diaz"),
        "{content:#}"
    );
}

/// The `text` and `value` strings of a card, depth first.
fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("text" | "value", Value::String(s)) => out.push(s.clone()),
                    _ => collect_texts(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_texts(v, out)),
        _ => {}
    }
}
