//! Sites (config `sites`) through the real binary: `eval -c` and `test -c`
//! place participants by `ip_address` and `internal_ip_addresses`, `check
//! -c` refuses a site the config lacks, and `once` routes by site.

mod kit;

use kit::process::{run_in_root as run, stdout};

use std::time::Duration;

use kit::config::{ServiceConfig, write_file as write};
use kit::zoom::{self, MockZoom, Participant, QosPage, QosSample, Stream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fixed sample time: nothing here depends on the wall clock.
const AT: i64 = 1_780_000_000;

/// One participant at 300 ms latency with these addresses.
fn participant(user_id: &str, ip: Option<&str>, internal: &[&str]) -> Participant {
    let sample =
        QosSample::at_unix(AT).stream("audio_input", Stream::new().latency("300 ms".to_owned()));
    let mut p = Participant::new(user_id).name(&format!("User {user_id}"));
    if let Some(ip) = ip {
        p = p.set("ip_address", ip);
    }
    p.set("internal_ip_addresses", internal.to_vec())
        .sample(sample)
}

/// The participants a rule on `site` fired for, by `eval -c --format json`.
fn fired_for(config: &str, site_rule: &str, people: Vec<Participant>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "qoswatch.yaml", config);
    let rules = write(
        dir.path(),
        "rules.yaml",
        &format!(
            "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n    match: {{ site: {site_rule} }}\n"
        ),
    );
    let mut page = QosPage::new();
    for p in people {
        page = page.participant(p);
    }
    let input = write(dir.path(), "qos.json", &page.to_json());
    let o = run(&[
        "eval",
        "-c",
        config.to_str().unwrap(),
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["state"], "firing", "{l}");
            v["participant"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// A config whose `${VAR}`s are unset: `eval -c` reads it anyway.
const CONFIG: &str = "zoom:\n  account_id: ${ZOOM_ACCOUNT_ID}\n  client_id: ${ZOOM_CLIENT_ID}\n  client_secret: ${ZOOM_CLIENT_SECRET}\nsites:\n  berlin-office: [10.20.0.0/16]\n  lab:\n    - 2001:db8:20::/48\n  hq:\n    public: [203.0.113.0/28]\n    internal: [192.168.0.0/16]\n";

#[test]
fn eval_c_fires_a_site_rule_only_for_the_participant_inside_the_site() {
    let fired = fired_for(
        CONFIG,
        "berlin-office",
        vec![
            participant(
                "in-berlin",
                Some("81.2.69.142"),
                &["172.16.0.3", "10.20.7.9"],
            ),
            participant("elsewhere", Some("81.2.69.143"), &["10.21.7.9"]),
            participant("no-addresses", None, &[]),
        ],
    );
    assert_eq!(fired, ["in-berlin"]);
}

#[test]
fn eval_c_needs_only_the_sites_of_the_config() {
    let people = || vec![participant("in-berlin", None, &["10.20.7.9"])];
    let minimal = "sites:\n  berlin-office: [10.20.0.0/16]\n";
    assert_eq!(fired_for(minimal, "berlin-office", people()), ["in-berlin"]);
    // A misspelt top-level key is still pointed out.
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "q.yaml",
        "site:\n  berlin-office: [10.20.0.0/16]\n",
    );
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n",
    );
    let o = run(&[
        "eval",
        "-c",
        config.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}:1:1: error: unknown key `site` in the config (did you mean `sites`?)",
            config.display()
        )),
        "{err}"
    );
}

#[test]
fn eval_c_places_ipv6_addresses() {
    let fired = fired_for(
        CONFIG,
        "lab",
        vec![
            participant("v6-public", Some("2001:db8:20:1::5"), &[]),
            participant("v6-internal", Some("81.2.69.142"), &["2001:db8:20::9"]),
            participant("v6-outside", Some("2001:db8:21::5"), &["fe80::1"]),
        ],
    );
    assert_eq!(fired, ["v6-internal", "v6-public"]);
}

#[test]
fn eval_c_counts_an_internal_address_only_behind_the_sites_public_one() {
    let fired = fired_for(
        CONFIG,
        "hq",
        vec![
            participant("at-hq", Some("203.0.113.5"), &["192.168.1.5"]),
            participant("at-home", Some("81.2.69.142"), &["192.168.1.5"]),
        ],
    );
    assert_eq!(fired, ["at-hq"]);
}

#[test]
fn without_c_a_site_rule_never_fires_and_a_misspelt_site_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n    match: { site: berlin-ofice }\n",
    );
    let page = QosPage::new().participant(participant("in-berlin", None, &["10.20.7.9"]));
    let input = write(dir.path(), "qos.json", &page.to_json());
    let o = run(&[
        "eval",
        "--rules",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "", "no config, no sites: the site is unknown");
    // `check` of the rules alone accepts any site; with the config, not.
    assert_eq!(
        run(&["check", rules.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let config = write(dir.path(), "qoswatch.yaml", CONFIG);
    for args in [
        vec![
            "check",
            "-c",
            config.to_str().unwrap(),
            rules.to_str().unwrap(),
        ],
        vec![
            "eval",
            "-c",
            config.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
    ] {
        let o = run(&args);
        let said = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{said}");
        assert!(
            said.contains(&format!(
                "{}:4:20: error: rule `latency-high` `match.site` names unknown site `berlin-ofice` (did you mean `berlin-office`?); the config's sites: berlin-office, lab, hq",
                rules.display()
            )),
            "{said}"
        );
    }
}

#[test]
fn eval_c_prints_text_times_in_the_configs_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "qoswatch.yaml",
        &format!("{CONFIG}display:\n  time_zone: Europe/Berlin\n"),
    );
    let page = QosPage::new().participant(participant("in-berlin", None, &["10.20.7.9"]));
    let input = write(dir.path(), "qos.json", &page.to_json());
    let rules = write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n",
    );
    let eval = |with_config: bool| {
        let mut args = vec![
            "eval",
            "--rules",
            rules.to_str().unwrap(),
            input.to_str().unwrap(),
        ];
        if with_config {
            args.extend(["-c", config.to_str().unwrap()]);
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        stdout(&o)
    };
    // 1_780_000_000 is 2026-05-28 20:26:40 UTC.
    let utc = eval(false);
    assert!(utc.starts_with("2026-05-28T20:26:40Z FIRING"), "{utc}");
    let local = eval(true);
    assert!(local.starts_with("2026-05-28 22:26 CEST FIRING"), "{local}");
}

#[test]
fn test_c_places_the_case_participant_by_its_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "qoswatch.yaml", CONFIG);
    write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: berlin-latency\n    when: audio_input.latency > 150ms\n    match: { site: berlin-office }\n",
    );
    let tests = write(
        dir.path(),
        "rules_test.yaml",
        "rule_files: [rules.yaml]\ntests:\n  - name: in berlin\n    participant: { ip_address: 81.2.69.142, internal_ip_addresses: [10.20.1.5] }\n    samples:\n      - { audio_input.latency: 300ms }\n    expect:\n      - { at: 0, firing: [berlin-latency] }\n  - name: at home\n    participant: { internal_ip_addresses: 192.168.1.5 }\n    samples:\n      - { audio_input.latency: 300ms }\n    expect: []\n",
    );
    let o = run(&[
        "test",
        "-c",
        config.to_str().unwrap(),
        tests.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).ends_with("2 passed, 0 failed\n"),
        "{}",
        stdout(&o)
    );
    // Without the config there are no sites: the Berlin case fails.
    let o = run(&["test", tests.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAIL in berlin"), "{}", stdout(&o));
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
async fn a_site_route_sends_the_berlin_participant_to_its_own_notifier() {
    let zoom = MockZoom::start().await;
    let page = QosPage::new()
        .participant(
            participant("16778240", Some("81.2.69.142"), &["10.20.3.4"]).name("Bea Berlin"),
        )
        .participant(
            participant("16778241", Some("81.2.69.143"), &["10.99.3.4"]).name("Otto Other"),
        );
    zoom.mount(zoom::bulk_qos("42").respond_with(zoom::json(page.to_json())))
        .await;
    let teams = receiver("/workflows/berlin", "", 1).await;
    let slack = receiver("/services/T/B/X", "ok", 1).await;

    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig::new(&zoom)
        .targets(&["42"])
        .rule_file(
            "rules.yaml",
            "rules:\n  - name: latency-high\n    when: audio_input.latency > 150ms\n    summary: \"{{ user_name }} at {{ site }}\"\n",
        )
        .teams("berlin", &format!("{}/workflows/berlin", teams.uri()))
        .slack("oncall", &format!("{}/services/T/B/X", slack.uri()))
        .route_matching("{ site: berlin-office }", &["berlin"])
        .route_to(&["oncall"])
        .write(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("sites:\n  berlin-office: [10.20.0.0/16]\n");
    std::fs::write(&config, text).unwrap();
    let output = kit::process::once(&config).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");

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
    assert!(
        to_teams[0].contains("Bea Berlin at berlin-office"),
        "{}",
        to_teams[0]
    );
    assert!(!to_teams[0].contains("Otto Other"), "{}", to_teams[0]);
    assert!(to_slack[0].contains("Otto Other"), "{}", to_slack[0]);
    assert!(!to_slack[0].contains("Bea Berlin"), "{}", to_slack[0]);
}
