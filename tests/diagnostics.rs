//! The errors of `qoswatch check` and `eval` for mistakes people make, through
//! the real binary: each names the file, line and column, and says what to
//! write instead.

mod kit;

use kit::process::run_in_root as run;

use std::path::Path;

use kit::config::write_file as write;

/// `qoswatch check FILE` (rules) or `check -c FILE` (config): the exit code
/// must be 1; returns stdout's lines.
fn check(args: &[&str]) -> Vec<String> {
    let o = run(&[&["check"], args].concat());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}");
    out.lines().map(str::to_owned).collect()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_misspelt_samples_hold_suggests_the_samples_form() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    for: 3 sampels\n",
    );
    let lines = check(&[path(&f)]);
    assert_eq!(
        lines,
        [format!(
            "{}:4:10: error: bad `for` value `3 sampels` (did you mean `3 samples`?): write a duration (e.g. 90s, 2m or 1h) or a number of samples (e.g. `3 samples`)",
            f.display()
        )]
    );
}

#[test]
fn backwards_comparisons_suggest_the_operator_meant() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency => 150ms\n  - name: b\n    when: audio_input.latency =< 150ms\n",
    );
    let lines = check(&[path(&f)]);
    let d = f.display();
    assert_eq!(
        lines,
        [
            format!("{d}:3:31: error: in `when`: `=>` is not an operator; use `>=`"),
            format!("{d}:5:31: error: in `when`: `=<` is not an operator; use `<=`"),
        ]
    );
}

/// An unquoted `*` value is a YAML alias: said so, and the file's other
/// errors are still reported.
#[test]
fn an_unquoted_wildcard_condition_says_to_quote_it_and_hides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: *_input.latency > 150ms\n  - name: b\n    when: audio_input.latency > 150ms\n    severty: warning\n",
    );
    let lines = check(&[path(&f)]);
    let d = f.display();
    assert_eq!(
        lines,
        [
            format!(
                "{d}:3:11: error: a value starting with `*` must be quoted: write `when: \"*_input.latency > 150ms\"` (unquoted, `*` starts a YAML alias)"
            ),
            format!("{d}:6:5: error: unknown key `severty` in a rule (did you mean `severity`?)"),
        ]
    );
}

#[test]
fn an_unquoted_negative_matcher_says_to_quote_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    match: { topic: !Town hall }\n",
    );
    let lines = check(&[path(&f)]);
    assert_eq!(
        lines,
        [format!(
            "{}:4:21: error: a value starting with `!` must be quoted: write `topic: \"!Town hall\"` (unquoted, `!` starts a YAML tag)",
            f.display()
        )]
    );
}

#[test]
fn a_value_outside_an_attributes_value_set_names_the_allowed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    match: { network_type: WiFi }\n",
    );
    let lines = check(&[path(&rules)]);
    assert_eq!(
        lines,
        [format!(
            "{}:4:28: error: in `match.network_type`: `WiFi` is never the value of `network_type` (did you mean `Wifi`?); allowed: Wired, Wifi, PPP, Cellular, Others",
            rules.display()
        )]
    );
    write(
        dir.path(),
        "ok.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n",
    );
    let config = write(
        dir.path(),
        "q.yaml",
        "replay: x\nrules: [ok.yaml]\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { network_type: [Wired, WiFi], severity: critcal }\n    notify: [a]\n",
    );
    let lines = check(&["-c", path(&config)]);
    let d = config.display();
    assert_eq!(
        lines,
        [
            format!(
                "{d}:6:36: error: in route `match.network_type`: `WiFi` is never the value of `network_type` (did you mean `Wifi`?); allowed: Wired, Wifi, PPP, Cellular, Others"
            ),
            format!(
                "{d}:6:53: error: in route `match.severity`: `critcal` is never the value of `severity` (did you mean `critical`?); allowed: info, warning, critical"
            ),
        ]
    );
}

/// A misspelt notifier type is one error with a did-you-mean: its other keys
/// and the routes naming it add none.
#[test]
fn an_unknown_notifier_type_is_one_error_and_unknown_notifiers_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "q.yaml",
        "replay: x\nnotifiers:\n  netops:\n    type: team\n    url: https://example.com/teams\n  slack-warn: { type: slack, url: \"https://example.com/slack\" }\nroutes:\n  - notify: [netops]\n  - notify: [slack-warm]\n",
    );
    let lines = check(&["-c", path(&config)]);
    let d = config.display();
    assert_eq!(
        lines,
        [
            format!(
                "{d}:4:11: error: unknown notifier type `team` (did you mean `teams`?); use slack, teams, webhook, console"
            ),
            format!(
                "{d}:9:14: error: route names unknown notifier `slack-warm` (did you mean `slack-warn`?)"
            ),
        ]
    );
}

/// Route keys: any alert attribute, or a label of a loaded rule.
#[test]
fn route_keys_must_be_attributes_or_rule_labels() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r.yaml",
        "rules:\n  - name: a\n    when: audio_input.latency > 150ms\n    labels: { team: netops }\n",
    );
    let config = write(
        dir.path(),
        "q.yaml",
        "replay: x\nrules: [r.yaml]\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { topic: \"~(?i)exec\", meeting: \"!1\", kind: participant, team: netops, site: hq, ip_address: \"~^10\\\\.\" }\n    notify: [a]\n  - match: { teem: netops }\n    notify: [a]\nsites:\n  hq: [10.0.0.0/8]\n",
    );
    let lines = check(&["-c", path(&config)]);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "{}:8:14: error: unknown route `match` key `teem` (did you mean `team`?): not an alert attribute (rule, alertname, severity, kind, meeting,",
            config.display()
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with("nor a label of a loaded rule (rule labels: team)"),
        "{}",
        lines[0]
    );
}

#[test]
fn eval_on_a_file_that_is_not_json_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "notes.json", "nope, not JSON\n");
    let o = run(&["eval", "--rules", "rules/", path(&f)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let d = f.display();
    assert_eq!(
        err.trim_end(),
        format!(
            "{d}:1:2: error: {d} is not a Zoom QoS JSON response: invalid JSON at line 1, column 2: expected ident"
        )
    );
}
