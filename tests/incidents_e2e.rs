//! Incidents through the real binary: a meeting where three of four
//! participants lose audio at once reaches chat as one incident message,
//! naming the scope, affected of population, who and what they share;
//! the members' own firings are held back while it fires; /metrics counts
//! them as suppressed by an incident.

mod kit;

use kit::config::write_file;
use kit::respond::Recorder;
use kit::zoom::{Participant, QosPage, QosSample, Stream};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// 2026-03-02T15:00:00Z.
const T0: i64 = 1_772_463_600;

const RULES: &str = "rules:
  - name: loss-high
    severity: warning
    when: audio_input.avg_loss > 5%
incidents:
  - name: meeting-audio
    description: Many participants of one meeting lose audio
    scope: meeting
    rules: [loss-*]
    min_participants: 3
    min_fraction: 50%
    severity: critical
";

fn person(id: &str, name: &str, loss: &str) -> Participant {
    Participant::new(id)
        .name(name)
        .set("data_center", "SJC")
        .set("network_type", "Wifi")
        .samples([QosSample::at_unix(T0).stream(
            "audio_input",
            Stream::new().latency("40 ms").avg_loss(loss).max_loss(loss),
        )])
}

#[tokio::test(flavor = "multi_thread")]
async fn three_of_four_losing_audio_is_one_incident_message() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slack"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slack)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let page = QosPage::new()
        .meeting("85746065432", "All hands")
        .participant(person("u1", "Ann", "9%"))
        .participant(person("u2", "Bob", "8%"))
        .participant(person("u3", "Cem", "7%"))
        .participant(person("u4", "Dee", "0.1%"));
    write_file(dir.path(), "samples/0001.json", &page.to_json());
    write_file(dir.path(), "rules/r.yaml", RULES);
    let config = write_file(
        dir.path(),
        "qoswatch.yaml",
        &format!(
            "replay: samples/\nrules: [rules/]\nnotifiers:\n  chat: {{ type: slack, url: \"{0}/slack\" }}\n  tools: {{ type: webhook, url: \"{0}/hook\" }}\n  out: {{ type: console }}\nstate_dir: state\n",
            slack.uri()
        ),
    );
    let out = kit::process::once(&config).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console: one incident line, no member lines.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains("FIRING")
            && lines[0].contains(
                "meeting-audio incident meeting All hands (85746065432): 3 of 4 affected"
            ),
        "{stdout}"
    );
    assert!(lines[0].contains("data_center SJC"), "{stdout}");

    // Slack: one message, the incident, its figures and its people.
    let got = slack.received_requests().await.unwrap();
    assert_eq!(got.len(), 2, "one message per notifier");
    let sent = |p: &str| -> Value {
        let r = got.iter().find(|r| r.url.path() == p).unwrap();
        serde_json::from_slice(&r.body).unwrap()
    };
    // The webhook: an Alertmanager alert named for the incident, with its
    // scope and the shared factors as labels.
    let hook = sent("/hook");
    assert_eq!(hook["alerts"].as_array().unwrap().len(), 1, "{hook:#}");
    let labels = &hook["alerts"][0]["labels"];
    assert_eq!(labels["alertname"], "meeting-audio");
    assert_eq!(labels["kind"], "incident");
    assert_eq!(labels["scope"], "meeting");
    assert_eq!(labels["scope_value"], "85746065432");
    assert_eq!(labels["data_center"], "SJC");
    assert_eq!(hook["alerts"][0]["annotations"]["affected"], "3");
    assert_eq!(hook["alerts"][0]["annotations"]["population"], "4");
    let body = sent("/slack");
    let all = body.to_string();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("FIRING · critical · meeting-audio"),
        "{body:#}"
    );
    for needle in [
        "3 of 4 participants",
        "meeting All hands (85746065432)",
        "data_center SJC",
        "network_type Wifi",
        "Ann: audio_input.avg_loss 9%",
        "Cem: audio_input.avg_loss 7%",
    ] {
        assert!(all.contains(needle), "{needle} missing: {body:#}");
    }
    assert!(
        !all.contains("Dee"),
        "the healthy one is not in it: {body:#}"
    );
    assert!(
        !all.contains("loss-high ("),
        "member alerts are held: {body:#}"
    );
}

/// A site incident across three meetings, in a running service: the three
/// Berlin participants are polled meeting by meeting, so the first two
/// members fire before the incident can form; the incident's `hold` keeps
/// their firings back until it does, and Slack gets one message: the
/// incident, naming the site, 3 of 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_site_incident_across_three_meetings_is_one_message_thanks_to_hold() {
    use kit::config::ServiceConfig;
    use kit::process::Service;
    use kit::zoom::{self, Meeting, MeetingsPage, MockZoom};
    use std::time::Duration;

    let zoom = MockZoom::start().await;
    let meetings = MeetingsPage::new()
        .meeting(Meeting::new("a==", 81000000001).topic("Sales"))
        .meeting(Meeting::new("b==", 81000000002).topic("Design"))
        .meeting(Meeting::new("c==", 81000000003).topic("Support"))
        .to_json();
    zoom.mount(zoom::discovery().respond_with(zoom::json(meetings)))
        .await;
    // One sample a minute ago (Zoom stamps samples on the minute).
    let at = (zoom::now_secs() / 60 - 1) * 60;
    for (uuid, user, internal) in [
        ("a%3D%3D", "Ana", "10.20.1.5"),
        ("b%3D%3D", "Ben", "10.20.7.9"),
        ("c%3D%3D", "Cy", "10.20.3.3"),
    ] {
        let p = Participant::new(&format!("{user}-id"))
            .name(user)
            .set("ip_address", "198.51.100.7")
            .set("internal_ip_addresses", vec![internal])
            .samples([QosSample::at_unix(at).stream(
                "audio_input",
                Stream::new()
                    .latency("40 ms")
                    .avg_loss("9%")
                    .max_loss("12%"),
            )]);
        zoom.mount(
            zoom::bulk_qos(uuid).respond_with(zoom::json(QosPage::new().participant(p).to_json())),
        )
        .await;
    }
    let slack = MockServer::start().await;
    let recorder = Recorder::mounted(&slack, "/slack").await;
    let dir = tempfile::tempdir().unwrap();
    let rules = "rules:
  - name: loss-high
    when: audio_input.avg_loss > 5%
incidents:
  - name: berlin-office
    scope: site
    rules: [loss-high]
    min_participants: 3
    hold: 4s
";
    let service_config = ServiceConfig::new(&zoom)
        .discover_interval("1m")
        .rule_file("rules/r.yaml", rules)
        .slack("chat", &format!("{}/slack", slack.uri()));
    service_config.write(dir.path());
    let mut yaml = service_config.yaml();
    yaml.push_str("sites:\n  berlin: [10.20.0.0/16]\n");
    let config = write_file(dir.path(), "qoswatch.yaml", &yaml);
    let mut service = Service::run(&config, "info", &[]);
    // The incident, once all three are seen; then the hold runs out with
    // nothing left to send.
    assert!(
        kit::eventually(Duration::from_secs(20), || !recorder.bodies().is_empty()),
        "{:#?}",
        service.lines()
    );
    std::thread::sleep(Duration::from_secs(6));
    let got = recorder.bodies();
    assert_eq!(got.len(), 1, "one message: {got:#?}");
    let all = got[0].to_string();
    assert!(all.contains("berlin-office"), "{all}");
    assert!(all.contains("site berlin"), "{all}");
    assert!(all.contains("3 of 3"), "{all}");
    for who in ["Ana", "Ben", "Cy"] {
        assert!(all.contains(who), "{who}: {all}");
    }
    // Each member firing is suppressed once: the two that waited out the
    // hold when the incident took them over, the third at once.
    let url = service.listen_url(Duration::from_secs(5));
    let metrics = kit::metrics(&url).await;
    assert!(
        metrics.contains("qoswatch_notifications_suppressed_total{reason=\"incident\"} 3"),
        "{metrics}"
    );
    service.terminate(Duration::from_secs(15));
}

/// The end-to-end case: a meeting where three of four lose audio
/// gets exactly one incident message naming their shared data centre, then
/// exactly one resolution; a second meeting at the same time, with one
/// degraded participant, gets its ordinary alert and its resolution.
#[tokio::test(flavor = "multi_thread")]
async fn an_incident_and_an_ordinary_alert_side_by_side() {
    let slack = MockServer::start().await;
    let recorder = Recorder::mounted(&slack, "/slack").await;
    let dir = tempfile::tempdir().unwrap();
    let sample = |at: i64, loss: &str| {
        QosSample::at_unix(at).stream(
            "audio_input",
            Stream::new().latency("40 ms").avg_loss(loss).max_loss(loss),
        )
    };
    let who = |id: &str, name: &str, losses: &[(i64, &str)]| {
        Participant::new(id)
            .name(name)
            .set("data_center", "SJC")
            .samples(losses.iter().map(|(at, l)| sample(*at, l)))
    };
    let t1 = T0 + 60;
    // Meeting A: three of four lose audio at T0, recover at T0 + 60.
    let a = |recovered: bool| {
        let bad = |l: &'static str| {
            if recovered {
                vec![(T0, l), (t1, "0.1%")]
            } else {
                vec![(T0, l)]
            }
        };
        QosPage::new()
            .meeting("85746065432", "All hands")
            .participant(who("a1", "Ann", &bad("9%")))
            .participant(who("a2", "Bob", &bad("8%")))
            .participant(who("a3", "Cem", &bad("7%")))
            .participant(who(
                "a4",
                "Dee",
                &if recovered {
                    vec![(T0, "0.1%"), (t1, "0.1%")]
                } else {
                    vec![(T0, "0.1%")]
                },
            ))
            .to_json()
    };
    // Meeting B: one of two.
    let b = |recovered: bool| {
        QosPage::new()
            .meeting("81111111111", "Design review")
            .participant(who(
                "b1",
                "Eve",
                &if recovered {
                    vec![(T0, "9%"), (t1, "0.1%")]
                } else {
                    vec![(T0, "9%")]
                },
            ))
            .participant(who(
                "b2",
                "Fay",
                &if recovered {
                    vec![(T0, "0.1%"), (t1, "0.1%")]
                } else {
                    vec![(T0, "0.1%")]
                },
            ))
            .to_json()
    };
    write_file(dir.path(), "samples/0001-a.json", &a(false));
    write_file(dir.path(), "samples/0002-b.json", &b(false));
    write_file(dir.path(), "samples/0003-a.json", &a(true));
    write_file(dir.path(), "samples/0004-b.json", &b(true));
    write_file(dir.path(), "rules/r.yaml", RULES);
    let config = write_file(
        dir.path(),
        "qoswatch.yaml",
        &format!(
            "replay: samples/\nrules: [rules/]\nnotifiers:\n  chat: {{ type: slack, url: \"{}/slack\" }}\nstate_dir: state\n",
            slack.uri()
        ),
    );
    let out = kit::process::once(&config).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let texts: Vec<String> = recorder
        .bodies()
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "FIRING · critical · meeting-audio · 3 of 4 participants affected in meeting All hands (85746065432); all on data_center SJC",
            "FIRING · warning · Eve · audio_input.avg_loss 9%",
            "RESOLVED · critical · meeting-audio · meeting All hands (85746065432): 0 of 4 affected now, below the incident's threshold (peak 3, for 1m)",
            "RESOLVED · warning · Eve · audio_input.avg_loss 0.1%",
        ],
        "{:#?}",
        recorder.bodies()
    );
    let firing = recorder.bodies()[0].to_string();
    assert!(firing.contains("data_center SJC"), "{firing}");
}
