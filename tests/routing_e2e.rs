//! Routes on alert attributes through the real binary: `qoswatch once`
//! against a mock Zoom with two live meetings, a mock Teams and a mock Slack.

mod kit;

use std::time::Duration;

use kit::config::ServiceConfig;
use kit::zoom::{self, Meeting, MeetingsPage, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fixed sample time: nothing here depends on the wall clock.
const AT: i64 = 1_780_000_000;

/// Answers the meeting's bulk QoS with one participant at 300 ms latency.
async fn mount_meeting(zoom: &MockZoom, encoded_uuid: &str, user_id: &str, name: &str) {
    let sample =
        QosSample::at_unix(AT).stream("audio_input", Stream::new().latency("300 ms".to_owned()));
    let page = QosPage::new().participant(Participant::new(user_id).name(name).sample(sample));
    zoom.mount(zoom::bulk_qos(encoded_uuid).respond_with(zoom::json(page.to_json())))
        .await;
}

/// A receiver that takes exactly `n` POSTs on `route`.
async fn receiver(route: &str, body: &str, n: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .expect(n)
        .mount(&server)
        .await;
    server
}

async fn bodies(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_route_sends_the_exec_meeting_to_teams_and_the_rest_to_the_catch_all() {
    let zoom = MockZoom::start().await;
    let meetings = MeetingsPage::new()
        .meeting(Meeting::new("exec==", 11111111111).topic("EXEC staff meeting"))
        .meeting(Meeting::new("weekly==", 22222222222).topic("Weekly sync"))
        .to_json();
    zoom.mount(zoom::discovery().respond_with(zoom::json(meetings)))
        .await;
    mount_meeting(&zoom, "exec%3D%3D", "16778240", "Erin Exec").await;
    mount_meeting(&zoom, "weekly%3D%3D", "16778241", "Walt Weekly").await;
    let teams = receiver("/workflows/netops", "", 1).await;
    let slack = receiver("/services/T/B/X", "ok", 1).await;

    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .latency_rule()
        .teams("netops", &format!("{}/workflows/netops", teams.uri()))
        .slack("oncall", &format!("{}/services/T/B/X", slack.uri()))
        .route_matching("{ topic: \"~(?i)exec\" }", &["netops"])
        .route_to(&["oncall"])
        .write(dir.path());
    let output = kit::process::once(&config).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    // `once` delivers before it exits; allow the receivers a moment anyway.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (bodies(&teams).await.is_empty() || bodies(&slack).await.is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_teams = bodies(&teams).await;
    let to_slack = bodies(&slack).await;
    assert_eq!(to_teams.len(), 1, "{to_teams:#?}\n{stderr}");
    assert_eq!(to_slack.len(), 1, "{to_slack:#?}\n{stderr}");
    assert!(to_teams[0].contains("Erin Exec"), "{}", to_teams[0]);
    assert!(!to_teams[0].contains("Walt Weekly"), "{}", to_teams[0]);
    assert!(to_slack[0].contains("Walt Weekly"), "{}", to_slack[0]);
    assert!(!to_slack[0].contains("Erin Exec"), "{}", to_slack[0]);
    // The `.expect(1)` of each receiver is checked when it drops.
}
