//! Chat payloads: snapshots of every kind (firing, resolved, grouped,
//! truncated), escaping of hostile names, and Teams cards checked by
//! Microsoft's own `adaptivecards` parser when Node is available.

mod kit;

use std::path::Path;
use std::sync::Arc;

use qoswatch::alert::{Event, Reason, State, Transition};
use qoswatch::notify::view::{AlertView, view};
use qoswatch::notify::{messagecard, slack, teams, webhook};
use qoswatch::qos::{MeetingInfo, Metric, ParticipantInfo, Timestamp};
use qoswatch::rules::{Rule, Severity, load_str};

const T0: i64 = 1_772_463_600; // 2026-03-02T15:00:00Z

fn rules() -> Vec<Rule> {
    load_str(
        Path::new("r.yaml"),
        "rules:\n  - name: audio-latency-high\n    description: Audio latency above 150 ms\n    severity: critical\n    when: audio_*.latency > 150ms\n    labels: { team: netops }\n    summary: \"{{ user_name }}: {{ metric }} {{ value }} {{ unit }} over {{ threshold }} {{ unit }}\"\n    runbook: https://wiki.example.com/zoom/latency\n  - name: video-loss-high\n    when: video_*.avg_loss > 2%\n",
    )
    .unwrap()
    .rules
}

fn transition(rule: &str, state: State, user: &str, name: &str, value: f64) -> Transition {
    let mut participant = ParticipantInfo {
        user_id: Arc::from(user),
        ..ParticipantInfo::default()
    };
    participant.set_attribute("user_name", Some(Arc::from(name)));
    participant.set_attribute("device", Some(Arc::from("Mac")));
    participant.set_attribute("network_type", Some(Arc::from("Wifi")));
    participant.set_attribute("location", Some(Arc::from("San Jose (US)")));
    let metric = if rule.starts_with("audio") {
        "audio_output.latency"
    } else {
        "video_input.avg_loss"
    };
    let metric = Metric::from_path(metric).unwrap();
    Transition {
        state,
        reason: Reason::Condition,
        rule: Arc::from(rule),
        severity: if rule.starts_with("audio") {
            Severity::Critical
        } else {
            Severity::Warning
        },
        meeting: MeetingInfo {
            id: Some(Arc::from("85746065432")),
            uuid: None,
            topic: Some(Arc::from("Weekly sync")),
        },
        participant,
        at: Timestamp(T0 + if state == State::Firing { 300 } else { 540 }),
        since: Timestamp(T0 + 300),
        metric,
        value,
        threshold: if rule.starts_with("audio") {
            150.0
        } else {
            2.0
        },
        unit: metric.unit(),
    }
}

fn views(ts: Vec<Transition>) -> Vec<AlertView> {
    let rules = rules();
    ts.into_iter()
        .map(|t| view(&Event::Alert(t), &rules))
        .collect()
}

fn firing() -> Vec<AlertView> {
    views(vec![transition(
        "audio-latency-high",
        State::Firing,
        "16778240",
        "Alice Ng",
        260.0,
    )])
}

fn resolved() -> Vec<AlertView> {
    views(vec![transition(
        "audio-latency-high",
        State::Resolved,
        "16778240",
        "Alice Ng",
        76.0,
    )])
}

fn grouped(n: usize) -> Vec<AlertView> {
    views(
        (0..n)
            .map(|i| {
                let rule = if i % 2 == 0 {
                    "audio-latency-high"
                } else {
                    "video-loss-high"
                };
                let state = if i % 3 == 2 {
                    State::Resolved
                } else {
                    State::Firing
                };
                transition(
                    rule,
                    state,
                    &format!("{}", 16_778_240 + i),
                    &format!("Participant {i}"),
                    200.0 + i as f64,
                )
            })
            .collect(),
    )
}

#[test]
fn slack_payloads() {
    insta::assert_json_snapshot!("slack_firing", slack::payload(&firing(), 10));
    insta::assert_json_snapshot!("slack_resolved", slack::payload(&resolved(), 10));
    insta::assert_json_snapshot!("slack_grouped_and_more", slack::payload(&grouped(5), 3));
}

#[test]
fn teams_payloads() {
    insta::assert_json_snapshot!("teams_firing", teams::payload(&firing(), 10));
    insta::assert_json_snapshot!("teams_resolved", teams::payload(&resolved(), 10));
    insta::assert_json_snapshot!("teams_grouped_and_more", teams::payload(&grouped(5), 3));
    insta::assert_json_snapshot!(
        "teams_messagecard_firing",
        messagecard::message_card(&firing(), 10)
    );
}

/// A rule edited while firing: "no longer evaluated: rule changed", grey,
/// never "recovered" or "back to" (before: a green "recovered to 62 ms").
#[test]
fn rule_changed_resolutions_are_not_recoveries() {
    let mut t = transition(
        "audio-latency-high",
        State::Resolved,
        "16778240",
        "Alice Ng",
        62.0,
    );
    t.reason = Reason::RuleChanged;
    let v = views(vec![t]);
    let slack = slack::payload(&v, 10);
    let teams = teams::payload(&v, 10);
    let hook = webhook::payload(&v, 10, "tools");
    insta::assert_json_snapshot!("slack_rule_changed", slack);
    for body in [&slack, &teams, &hook] {
        let text = body.to_string();
        assert!(
            text.contains("no longer evaluated: rule changed"),
            "{body:#}"
        );
        assert!(
            !text.contains("recovered") && !text.contains("back to"),
            "{body:#}"
        );
    }
    assert_ne!(slack["attachments"][0]["color"], "good");
    assert_ne!(
        teams["attachments"][0]["content"]["body"][0]["color"],
        "Good"
    );
    assert_eq!(
        hook["alerts"][0]["annotations"]["resolution"],
        "rule_changed"
    );
}

#[test]
fn webhook_payloads() {
    insta::assert_json_snapshot!("webhook_firing", webhook::payload(&firing(), 10, "tools"));
    insta::assert_json_snapshot!("webhook_grouped", webhook::payload(&grouped(4), 3, "tools"));
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

const HOSTILE: &str = "<!channel> & <@U123>";

#[test]
fn hostile_names_are_escaped_in_every_slack_string() {
    let mut ts = vec![transition(
        "audio-latency-high",
        State::Firing,
        "1",
        HOSTILE,
        300.0,
    )];
    ts[0].meeting.topic = Some(Arc::from("<https://evil.example|click> & <!here>"));
    let payload = slack::payload(&views(ts), 10);
    let mut all = Vec::new();
    strings(&payload, &mut all);
    let mut seen = false;
    for s in &all {
        for raw in ["<!channel>", "<@U123>", "<!here>", "<https://evil"] {
            assert!(!s.contains(raw), "unescaped {raw} in {s:?}");
        }
        seen |= s.contains("&lt;!channel&gt; &amp; &lt;@U123&gt;");
    }
    assert!(seen, "the escaped name appears: {payload:#}");
    // Slack's limits hold even for absurd names.
    let long = "x".repeat(5000);
    let payload = slack::payload(
        &views(vec![transition(
            "audio-latency-high",
            State::Firing,
            "1",
            &long,
            300.0,
        )]),
        10,
    );
    let mut all = Vec::new();
    strings(&payload, &mut all);
    assert!(all.iter().all(|s| s.chars().count() <= 3000));
    let header = &payload["attachments"][0]["blocks"][0]["text"]["text"];
    assert!(header.as_str().unwrap().chars().count() <= 150);
}

#[test]
fn slack_groups_stay_within_fifty_blocks() {
    let payload = slack::payload(&grouped(40), 40);
    let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{}", blocks.len());
    assert!(payload.to_string().contains("more"));
    for b in blocks {
        if let Some(f) = b.get("fields") {
            assert!(f.as_array().unwrap().len() <= 10);
        }
    }
}

#[test]
fn teams_cards_stay_under_20_kb_and_escape_markdown() {
    let mut ts: Vec<Transition> = (0..60)
        .map(|i| {
            transition(
                "audio-latency-high",
                State::Firing,
                &i.to_string(),
                &"[click](https://evil.example) **bold** ".repeat(20),
                300.0,
            )
        })
        .collect();
    ts[0]
        .participant
        .set_attribute("user_name", Some(Arc::from("[x](https://evil.example)")));
    let payload = teams::payload(&views(ts), 60);
    assert!(
        payload.to_string().len() <= teams::MAX_BYTES,
        "{}",
        payload.to_string().len()
    );
    // The body is markdown; `fallbackText` is plain text, shown as is.
    let text = payload["attachments"][0]["content"]["body"].to_string();
    assert!(!text.contains("[x](https://evil.example)"), "link planted");
    assert!(text.contains("more"));
    let card = &payload["attachments"][0]["content"];
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        payload["attachments"][0]["contentUrl"],
        serde_json::Value::Null
    );
    fn wraps(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(o) => {
                (o.get("type") != Some(&serde_json::json!("TextBlock"))
                    || o.get("wrap") == Some(&serde_json::json!(true)))
                    && o.values().all(wraps)
            }
            serde_json::Value::Array(a) => a.iter().all(wraps),
            _ => true,
        }
    }
    assert!(wraps(card), "every TextBlock wraps");
}

/// Runs Microsoft's adaptivecards parser (Node 20) on our Teams cards.
#[test]
fn teams_cards_parse_in_microsofts_adaptivecards_library() {
    let strict = kit::strict();
    let dir = std::env::var("QOSWATCH_ADAPTIVECARDS_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/npm/node_modules").to_owned()
    });
    let have_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let have_lib = Path::new(&dir)
        .join("adaptivecards/dist/adaptivecards.js")
        .exists();
    if !(have_node && have_lib) {
        assert!(
            !strict,
            "QOSWATCH_STRICT=1 but node or the adaptivecards package is missing (dir {dir})"
        );
        eprintln!(
            "notice: skipping the adaptivecards check: node or {dir}/adaptivecards missing (npm install --prefix target/npm adaptivecards@3)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut hostile = vec![transition(
        "audio-latency-high",
        State::Firing,
        "1",
        HOSTILE,
        300.0,
    )];
    hostile.push(transition(
        "video-loss-high",
        State::Resolved,
        "2",
        "Bob",
        0.5,
    ));
    for (name, payload) in [
        ("firing", teams::payload(&firing(), 10)),
        ("resolved", teams::payload(&resolved(), 10)),
        ("grouped", teams::payload(&grouped(12), 5)),
        ("hostile", teams::payload(&views(hostile), 10)),
    ] {
        let file = tmp.path().join(format!("{name}.json"));
        std::fs::write(&file, payload.to_string()).unwrap();
        let out = std::process::Command::new("node")
            .arg(kit::fixture("validate-adaptive-card.js"))
            .arg(&file)
            .env("QOSWATCH_ADAPTIVECARDS_DIR", &dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Markdown in names and topics reads as written in a Teams card: rendered
/// by the adaptivecards library's markdown step (markdown-it), no text
/// gains backslashes, formatting or links. Before: `Carol \\<CFO\\> Diaz:
/// audio\\_input.avg\\_loss 7.2% \\(threshold 5%\\)`.
#[test]
fn teams_text_renders_as_written() {
    let mut t = transition(
        "video-loss-high",
        State::Firing,
        "7",
        "Carol <CFO> Diaz *bold* _x_ [link](http://x)",
        7.2,
    );
    t.metric = Metric::from_path("audio_input.avg_loss").unwrap();
    t.threshold = 5.0;
    t.meeting.topic = Some(Arc::from("Exec *staff* _weekly_ [link](http://x)"));
    let payload = teams::payload(&views(vec![t]), 10);
    insta::assert_json_snapshot!("teams_markdown_in_names", payload);
    let strict = kit::strict();
    let dir = std::env::var("QOSWATCH_ADAPTIVECARDS_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/npm/node_modules").to_owned()
    });
    let have_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let have_libs = Path::new(&dir)
        .join("adaptivecards/dist/adaptivecards.js")
        .exists()
        && Path::new(&dir).join("markdown-it").exists();
    if !(have_node && have_libs) {
        assert!(
            !strict,
            "QOSWATCH_STRICT=1 but node, adaptivecards or markdown-it is missing (dir {dir})"
        );
        eprintln!(
            "notice: skipping the markdown rendering check (npm install --prefix target/npm adaptivecards@3 markdown-it@14)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("card.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let out = std::process::Command::new("node")
        .arg(kit::fixture("render-adaptive-card-text.js"))
        .arg(&file)
        .env("QOSWATCH_ADAPTIVECARDS_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let html = v["html"].as_str().unwrap();
            assert!(!html.contains("<a "), "a link was planted: {html}");
            assert!(
                !html.contains("<em>") && !html.contains("<strong>"),
                "formatted: {html}"
            );
            plain_text(html)
        })
        .collect();
    let all = rendered.join("\n");
    assert!(!all.contains('\\'), "backslashes show: {all}");
    for written in [
        "Carol <CFO> Diaz *bold* _x_ [link](http://x)",
        "Exec *staff* _weekly_ [link](http://x) (85746065432)",
        "audio_input.avg_loss: 7.2% (threshold 5%)",
    ] {
        assert!(all.contains(written), "{written:?} not in {all}");
    }
}

/// The text of rendered HTML: tags dropped, entities decoded.
fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}
