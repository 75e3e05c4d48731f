//! End-to-end tests of the one-shot commands through the real binary.

mod kit;

use kit::process::{in_root as bin, run_in_root as run, stdout};

use std::process::Stdio;

use kit::config::write_file as write;
use kit::fixture;

#[test]
fn default_rule_pack_is_valid() {
    let o = run(&["check", "rules/"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn default_rule_pack_tests_pass() {
    let mut files: Vec<String> = std::fs::read_dir(kit::root().join("rules/tests"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut args = vec!["test"];
    args.extend(files.iter().map(String::as_str));
    let o = run(&args);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert!(!last.starts_with("0 passed"), "{last}");
}

/// Each kind of broken rule file gives its error at the right place.
#[test]
fn broken_rule_files_point_at_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "syntax",
            "rules:\n  - name: a\n    when: \"audio_input.latency > 1ms\n",
            "3:11: error: invalid YAML",
        ),
        (
            "unknown-key",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms\n    severity: info\n    sumary: x\n",
            "5:5: error: unknown key `sumary` in a rule (did you mean `summary`?)",
        ),
        (
            "unknown-metric",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms or audio_input.lag > 2ms\n",
            "3:40: error: in `when`: unknown metric `audio_input.lag`",
        ),
        (
            "unit",
            "rules:\n  - name: a\n    when: 'audio_input.latency > 2%'\n",
            "3:34: error: in `when`: unit `%` does not fit",
        ),
        (
            "regex",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms\n    match:\n      user_name: \"~(unclosed\"\n",
            "5:18: error: in `match.user_name`: bad regular expression",
        ),
        (
            "duration",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms\n    for: 5 parsecs\n",
            "4:10: error: bad duration `5 parsecs`",
        ),
        (
            "template",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms\n    summary: \"{{ user_name }} {{ latency }}\"\n",
            "4:34: error: in `summary`: unknown template variable `latency`",
        ),
        (
            "empty-when",
            "rules:\n  - name: a\n    when: \"\"\n",
            "3:11: error: in `when`: empty condition",
        ),
        (
            "unparsable-when",
            "rules:\n  - name: a\n    when: audio_input.latency >> 1ms\n",
            "3:32: error: in `when`: expected a number with a unit",
        ),
        (
            "missing-when",
            "rules:\n  - name: a\n    severity: info\n",
            "2:5: error: rule without `when`",
        ),
        (
            "inhibits-nothing",
            "rules:\n  - name: a\n    when: audio_input.latency > 1ms\n    inhibits: [a, \"b*\"]\n",
            "4:16: error: `inhibits` entry `a` matches only this rule; a rule may not inhibit itself",
        ),
    ];
    for (name, text, want) in cases {
        let path = write(dir.path(), &format!("{name}.yaml"), text);
        let o = run(&["check", path.to_str().unwrap()]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        let expected = format!("{}:{want}", path.display());
        assert!(
            out.lines().any(|l| l.starts_with(&expected)),
            "{name}:\n got: {out}\nwant: {expected}"
        );
    }
}

#[test]
fn every_error_of_every_file_is_reported_and_duplicates_span_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yaml",
        "rules:\n  - name: dup\n    when: audio_input.latency > 1ms\n  - name: bad-unit\n    when: audio_input.jitter > 3kbps\n",
    );
    write(
        dir.path(),
        "b.yml",
        "rules:\n  - name: other\n    when: video_input.frame_rate < 5\n  - name: dup\n    when: audio_input.latency > 1ms\n",
    );
    write(dir.path(), ".hidden.yaml", "this is not: [valid");
    write(dir.path(), "notes.txt", "ignored");
    let o = run(&["check", dir.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    let a = dir.path().join("a.yaml").display().to_string();
    let b = dir.path().join("b.yml").display().to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{a}:5:32: error: in `when`: unit `kbps` does not fit"
        )),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("{b}:3:36: error: in `when`: `5` needs a unit")),
        "{out}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{b}:4:11: error: duplicate rule name `dup`: already defined at {a}:2"
        )),
        "{out}"
    );
}

#[test]
fn check_reports_a_missing_path() {
    let o = run(&["check", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("no/such/dir:1:1: error: cannot read rules"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["eval"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(&["eval", "--rules", "rules/", "--format", "xml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn eval_json_on_zoom_example_fires_once_with_the_worst_value() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: video-loss\n    when: video_input.max_loss > 4%\n",
    );
    let o = run(&[
        "eval",
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        fixture("zoom-participant-qos-example.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "state": "firing", "rule": "video-loss", "severity": "warning", "meeting": null,
            "participant": "1670000000", "user_name": "User", "metric": "video_input.max_loss",
            "value": 4.9, "unit": "%", "at": "2021-06-24T20:00:00Z"
        })
    );
    // Key order as documented in docs/operations.md.
    assert!(lines[0].starts_with("{\"state\":\"firing\",\"rule\":\"video-loss\",\"severity\":\"warning\",\"meeting\":null,\"participant\""));
}

#[test]
fn eval_meeting_flag_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: lat\n    when: '*.latency > 130ms'\n",
    );
    let body = std::fs::read(fixture("zoom-participant-qos-example.json")).unwrap();
    let mut child = bin()
        .args([
            "eval",
            "--format",
            "json",
            "--meeting",
            "85746065432",
            "--rules",
            rules.to_str().unwrap(),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let o = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["meeting"], "85746065432");
    // The worst stream of the wildcard: the largest latency (135 ms, the
    // first stream in stream order that has it: video_output).
    assert_eq!(v["metric"], "video_output.latency");
    assert_eq!(v["value"], 135);
    assert_eq!(v["unit"], "ms");
}

#[test]
fn default_pack_fires_nothing_on_the_zoom_example() {
    let o = run(&[
        "eval",
        "--format",
        "json",
        "--rules",
        "rules/",
        fixture("zoom-participant-qos-example.json")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
}

#[test]
fn a_participant_with_no_data_never_fires() {
    let dir = tempfile::tempdir().unwrap();
    // Rules that would fire on any value at all, even zero.
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: any-latency\n    when: '*.latency >= 0ms'\n  - name: any-low\n    when: '*.bitrate < 1000000kbps or *.avg_loss <= 100% or *.frame_rate < 1000fps'\n  - name: cpu\n    when: cpu_usage.zoom_avg_cpu_usage >= 0% or wifi_rssi.min_rssi < 0dBm or video_input.resolution.width >= 0\n  - name: negated\n    when: not audio_input.latency > 0ms\n",
    );
    for rules_path in [rules.to_str().unwrap(), "rules/"] {
        let o = run(&[
            "eval",
            "--format",
            "json",
            "--rules",
            rules_path,
            fixture("all-no-data.json").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(stdout(&o), "", "{rules_path}");
    }
}

#[test]
fn eval_merges_files_in_sample_time_order() {
    let out = stdout(&run(&[
        "eval",
        "--format",
        "json",
        "--rules",
        "rules/",
        "examples/samples/",
    ]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 4, "{out}");
    // Participant lines by (at, meeting, participant, rule); an incident
    // line after the participant lines of its time.
    let keys: Vec<(String, bool, String, String, String)> = lines
        .iter()
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            let incident = v["kind"] == "incident";
            (
                text("at"),
                incident,
                text("meeting"),
                text("participant"),
                text("rule"),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // The all-hands recording: one incident over its six participants,
    // each member transition held by it.
    let incidents: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["kind"] == "incident").collect();
    assert_eq!(incidents.len(), 2, "{out}");
    assert_eq!(incidents[0]["state"], "firing");
    assert_eq!(incidents[0]["affected"], 6);
    assert_eq!(incidents[1]["state"], "resolved");
    assert!(
        lines
            .iter()
            .filter(|v| v["meeting"] == "91234567890" && v["kind"] != "incident")
            .all(|v| v["inhibited_by"].is_string()),
        "{out}"
    );
    // Every firing resolves exactly once in the recording.
    let firing = lines.iter().filter(|v| v["state"] == "firing").count();
    let resolved = lines.iter().filter(|v| v["state"] == "resolved").count();
    assert_eq!(firing, resolved);
    // Feeding the same files twice changes nothing (dedup by date_time).
    let twice = stdout(&run(&[
        "eval",
        "--format",
        "json",
        "--rules",
        "rules/",
        "examples/samples/",
        "examples/samples/",
    ]));
    assert_eq!(out, twice);
}

#[test]
fn eval_rejects_broken_input_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        "{\"user_id\": \"1\",\n \"user_qos\": [ {\"date_time\": ",
    );
    let o = run(&["eval", "--rules", "rules/", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{}:2:", bad.display())), "{err}");
    let o = run(&["eval", "--rules", "no-such-rules/", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn eval_garbled_values_warn_and_count_as_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let body = write(
        dir.path(),
        "g.json",
        r#"{"user_id": "7", "user_qos": [{"date_time": "2022-03-01T10:16:00Z", "audio_input": {"latency": "fast ms"}}]}"#,
    );
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: lat\n    when: not audio_input.latency > 1ms\n",
    );
    let o = run(&[
        "eval",
        "--rules",
        rules.to_str().unwrap(),
        body.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("audio_input.latency") && err.contains("fast ms"),
        "{err}"
    );
}

#[test]
fn failing_rule_tests_print_the_case_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: audio-latency-high\n    when: audio_input.latency > 150ms\n    for: 2m\n    clear_when: audio_input.latency < 120ms\n",
    );
    let t = write(
        dir.path(),
        "t.yaml",
        "rule_files: [rules.yaml]\ntests:\n  - name: passes\n    interval: 1m\n    samples:\n      - { audio_input.latency: 100ms }\n      - { audio_input.latency: 180ms }\n      - { audio_input.latency: 190ms }\n      - { audio_input.latency: 200ms }\n      - { audio_input.latency: 90ms }\n    expect:\n      - { at: 3, firing: [audio-latency-high] }\n      - { at: 4, resolved: [audio-latency-high] }\n  - name: wrong on purpose\n    interval: 1m\n    samples:\n      - { audio_input.latency: 200ms }\n    expect:\n      - { at: 0, firing: [audio-latency-high] }\n  - name: nothing at all\n    samples: [{ audio_input.latency: 100ms }]\n    expect: []\n",
    );
    let o = run(&["test", t.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL wrong on purpose"), "{out}");
    assert!(out.contains("at 0: firing audio-latency-high"), "{out}");
    assert!(out.contains("got: no alerts"), "{out}");
    assert_eq!(out.lines().last(), Some("2 passed, 1 failed"));
}

#[test]
fn broken_rule_test_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: r\n    when: audio_input.latency > 150ms\n",
    );
    let t = write(
        dir.path(),
        "t.yaml",
        "rule_files: [rules.yaml]\ntests:\n  - name: x\n    samples:\n      - { audio_input.latncy: 100ms }\n      - { audio_input.latency: 100 }\n    expect:\n      - { at: 5, firing: [r] }\n      - { at: 0, firing: [nope] }\n",
    );
    let o = run(&["test", t.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let p = t.display().to_string();
    for want in [
        ":5:11: error: unknown metric `audio_input.latncy`",
        ":6:32: error: bad value",
        ":8:15: error: `at` must be",
        ":9:27: error: unknown rule `nope`",
    ] {
        assert!(
            out.contains(&format!("{p}{want}")),
            "missing {want} in\n{out}"
        );
    }
}

/// A QoS list response: one participant whose received audio loses
/// `losses[i]` percent at minute `i`.
fn loss_response(losses: &[f64]) -> String {
    use kit::zoom::{Participant, QosPage, QosSample, Stream};
    let start = 1_700_000_040; // on the minute
    let alice = Participant::new("16778240")
        .name("Alice")
        .samples(losses.iter().enumerate().map(|(i, loss)| {
            QosSample::at_unix(start + 60 * i as i64)
                .stream("audio_output", Stream::new().avg_loss(format!("{loss}%")))
        }));
    QosPage::new()
        .meeting("85746065432", "Weekly sync")
        .participant(alice)
        .to_json()
}

#[test]
fn inhibits_may_name_a_rule_of_another_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules/critical.yaml",
        "rules:\n  - name: loss-critical\n    when: audio_input.avg_loss > 5%\n    inhibits: [loss-high]\n",
    );
    let rules = dir.path().join("rules");
    let o = run(&["check", rules.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "critical.yaml:4:16: error: `inhibits` entry `loss-high` matches no other rule"
        ),
        "{out}"
    );
    write(
        dir.path(),
        "rules/warning.yaml",
        "rules:\n  - name: loss-high\n    when: audio_input.avg_loss > 2%\n",
    );
    let o = run(&["check", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn eval_marks_the_warning_a_critical_inhibits_and_still_prints_it() {
    // Issue 13: a 7.2% loss produced audio-loss-critical and audio-loss-high
    // side by side; the pack's critical now inhibits its warning.
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "loss.json",
        &loss_response(&[7.2, 7.2, 7.2, 2.5, 0.5]),
    );
    let input = input.to_str().unwrap();
    let o = run(&["eval", "--format", "json", "--rules", "rules/", input]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str, Option<&str>)> = lines
        .iter()
        .map(|v| {
            (
                v["state"].as_str().unwrap(),
                v["rule"].as_str().unwrap(),
                v.get("inhibited_by").map(|b| b.as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("firing", "audio-loss-critical", None),
            ("firing", "audio-loss-high", Some("audio-loss-critical")),
            ("resolved", "audio-loss-critical", None),
            // Released when the critical cleared: sent, so its resolution is.
            ("resolved", "audio-loss-high", None),
        ],
        "{lines:#?}"
    );
    let text = stdout(&run(&["eval", "--rules", "rules/", input]));
    let held: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("inhibited by audio-loss-critical"))
        .collect();
    assert_eq!(held.len(), 1, "{text}");
    assert!(held[0].contains("audio-loss-high"), "{text}");
}

#[test]
fn rule_tests_compare_what_inhibition_holds() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: loss-high\n    when: audio_input.avg_loss > 2%\n  - name: loss-critical\n    when: audio_input.avg_loss > 5%\n    inhibits: [\"loss-h*\"]\n",
    );
    let tests = write(
        dir.path(),
        "t.yaml",
        "rule_files: [rules.yaml]\ntests:\n  - name: held\n    samples: [{ audio_input.avg_loss: 7% }]\n    expect:\n      - { at: 0, firing: [loss-critical, loss-high], inhibited: [loss-high] }\n  - name: forgot the inhibition\n    samples: [{ audio_input.avg_loss: 7% }]\n    expect:\n      - { at: 0, firing: [loss-critical, loss-high] }\n",
    );
    let o = run(&["test", tests.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL forgot the inhibition"), "{out}");
    assert!(out.contains("at 0: inhibited loss-high"), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn eval_six_of_eight_losing_audio_is_one_incident_holding_their_alerts() {
    // Issue 14: six of eight participants of one meeting lose audio at
    // once. One incident fires (6 of 8); the six member alerts still print,
    // each marked as held by it; the two healthy participants print nothing.
    use kit::zoom::{Participant, QosPage, QosSample, Stream};
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: audio-loss-high\n    when: audio_*.avg_loss > 2%\nincidents:\n  - name: meeting-audio\n    scope: meeting\n    rules: [audio-*]\n    min_participants: 3\n    min_fraction: 50%\n    severity: critical\n",
    );
    let start = 1_700_000_040;
    let mut page = QosPage::new().meeting("85746065432", "All hands");
    for i in 1..=8 {
        let lost = i <= 6;
        page = page.participant(
            Participant::new(&format!("u{i}"))
                .name(&format!("User {i}"))
                .samples((0..3).map(|minute| {
                    let loss = if lost && minute == 1 { "7%" } else { "0.1%" };
                    QosSample::at_unix(start + 60 * minute)
                        .stream("audio_output", Stream::new().avg_loss(loss))
                })),
        );
    }
    let input = write(dir.path(), "bulk.json", &page.to_json());
    let o = run(&[
        "eval",
        "--format",
        "json",
        "--rules",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |m: i64| kit::zoom::stamp(start + 60 * m);
    let firing: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["at"] == at(1).as_str()).collect();
    assert_eq!(firing.len(), 7, "{out}");
    for (i, v) in firing[..6].iter().enumerate() {
        assert_eq!(v["state"], "firing", "{out}");
        assert_eq!(v["rule"], "audio-loss-high");
        assert_eq!(v["participant"], format!("u{}", i + 1));
        assert_eq!(v["inhibited_by"], "meeting-audio", "{out}");
    }
    assert_eq!(
        *firing[6],
        serde_json::json!({
            "kind": "incident", "state": "firing", "rule": "meeting-audio",
            "severity": "critical", "scope": "meeting", "scope_value": "85746065432",
            "meeting": "85746065432", "participant": null, "affected": 6,
            "population": 8, "participants": ["u1", "u2", "u3", "u4", "u5", "u6"],
            "at": at(1)
        })
    );
    // The incident line comes after the participant lines, in SPEC 2's key order.
    let raw: Vec<&str> = out.lines().collect();
    assert!(
        raw[6]
            .starts_with("{\"kind\":\"incident\",\"state\":\"firing\",\"rule\":\"meeting-audio\"")
    );
    // The two healthy participants are untouched.
    assert!(
        !lines
            .iter()
            .any(|v| v["participant"] == "u7" || v["participant"] == "u8"),
        "{out}"
    );
    // Recovery: the six resolve (their firing was never sent, so neither is
    // their resolution), then the incident, with its peak.
    let resolved: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["at"] == at(2).as_str()).collect();
    assert_eq!(resolved.len(), 7, "{out}");
    assert!(
        resolved[..6]
            .iter()
            .all(|v| v["state"] == "resolved" && v["inhibited_by"] == "meeting-audio")
    );
    assert_eq!(resolved[6]["kind"], "incident");
    assert_eq!(resolved[6]["state"], "resolved");
    assert_eq!(resolved[6]["affected"], 0);
    assert_eq!(resolved[6]["peak"], 6);
    // The text format shows it readably.
    let text = stdout(&run(&[
        "eval",
        "--rules",
        rules.to_str().unwrap(),
        input.to_str().unwrap(),
    ]));
    let incident: Vec<&str> = text.lines().filter(|l| l.contains(" incident ")).collect();
    assert_eq!(incident.len(), 2, "{text}");
    assert!(
        incident[0].contains("FIRING")
            && incident[0].contains(
                "meeting-audio incident meeting=85746065432 6 of 8 affected: u1, u2, u3, u4, u5, u6"
            ),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with("(inhibited by meeting-audio)"))
            .count(),
        12,
        "{text}"
    );
}

#[test]
fn rule_tests_with_participants_check_incidents_and_name_who() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yaml",
        "rules:\n  - name: loss-high\n    when: audio_input.avg_loss > 2%\nincidents:\n  - name: many-lose\n    rules: [loss-high]\n    min_participants: 2\n",
    );
    let tests = write(
        dir.path(),
        "t.yaml",
        r#"rule_files: [rules.yaml]
tests:
  - name: two of three
    participants:
      - { user_id: a, samples: [{ audio_input.avg_loss: 7% }] }
      - { user_id: b, samples: [{ audio_input.avg_loss: 7% }] }
      - { user_id: c, samples: [{ audio_input.avg_loss: 0% }] }
    expect:
      - { at: 0, participant: a, firing: [loss-high], inhibited: [loss-high] }
      - { at: 0, participant: b, firing: [loss-high], inhibited: [loss-high] }
      - { at: 0, firing: [many-lose] }
  - name: forgot the incident
    participants:
      - { user_id: a, samples: [{ audio_input.avg_loss: 7% }] }
      - { user_id: b, samples: [{ audio_input.avg_loss: 7% }] }
    expect:
      - { at: 0, participant: a, firing: [loss-high] }
      - { at: 0, participant: b, firing: [loss-high] }
"#,
    );
    let o = run(&["test", tests.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL forgot the incident"), "{out}");
    assert!(out.contains("at 0: firing many-lose\n"), "{out}");
    assert!(out.contains("at 0: inhibited loss-high for a"), "{out}");
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    // Participant rules need their participant; incidents take none.
    let bad = write(
        dir.path(),
        "bad.yaml",
        r#"rule_files: [rules.yaml]
tests:
  - name: bad
    samples: [{}]
    participants:
      - { user_id: a, samples: [{}] }
    expect:
      - { at: 0, firing: [loss-high] }
      - { at: 0, participant: z, firing: [many-lose] }
"#,
    );
    let out = stdout(&run(&["test", bad.to_str().unwrap()]));
    for want in [
        "bad.yaml:4:5: error: a test case gives `participants:` or `participant`/`samples`, not both; move `samples` into the `participants` entries\n",
        "bad.yaml:8:27: error: `loss-high` is a participant rule: its entry needs `participant: USER_ID`",
        "bad.yaml:9:31: error: `participant` must be the user_id of one of the case's participants (a), not `z`",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
}
