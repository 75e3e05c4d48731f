//! `qoswatch test`: rule unit tests in the spirit of `promtool test rules`
//! (docs/testing-rules.md). Each case feeds samples, one `interval` apart, through
//! the rules and the lifecycle and compares every transition with `expect`,
//! and which of them rule inhibition or an incident holds back
//! (`inhibited:`). A case may give several `participants:` of one meeting on
//! one clock, and then expects incident transitions too (SPEC 12).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::batch::Stepper;
use super::{EXIT_FAIL, EXIT_OK};
use crate::alert::State;
use crate::qos::{self, MeetingInfo, Metric, ParticipantInfo, Sample, Timestamp};
use crate::rules::load::Errs;
use crate::rules::{RuleSet, load_paths};
use crate::yaml::{self, Diagnostic, MapReader, Node, Value};

/// Default start time of a case's first sample.
const DEFAULT_START: &str = "2024-01-01T00:00:00Z";

/// What an `expect` entry lists: a transition, or that a transition's
/// notification is held back by another rule's `inhibits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Firing,
    Resolved,
    Inhibited,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Firing => "firing",
            Kind::Resolved => "resolved",
            Kind::Inhibited => "inhibited",
        }
    }
}

/// One expected or observed event: (sample index, kind, rule or incident,
/// participant). The participant is named only in cases with
/// `participants:`, and never for an incident.
type Event = (usize, Kind, String, Option<String>);

struct Case {
    name: String,
    line: u32,
    meeting: MeetingInfo,
    /// Each participant with its samples, all on one clock.
    participants: Vec<(ParticipantInfo, Vec<Sample>)>,
    /// Written with `participants:`: events name their participant.
    several: bool,
    expect: BTreeSet<Event>,
}

/// Runs the test files; prints failures and `N passed, N failed`. With
/// `config` (`-c`), its `sites` place each case's participant by its
/// `ip_address` and `internal_ip_addresses`.
pub fn run(files: &[PathBuf], config: Option<&Path>, out: &mut dyn Write) -> std::io::Result<i32> {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut broken = false;
    for file in files {
        match load_test_file(file) {
            Err(diags) => {
                broken = true;
                for d in diags {
                    writeln!(out, "{d}")?;
                }
            }
            Ok((rules, cases)) => {
                let sites = match super::offline_config(config, &rules) {
                    Ok(c) => c.sites,
                    Err(diags) => {
                        broken = true;
                        writeln!(out, "{diags}")?;
                        continue;
                    }
                };
                for mut case in cases {
                    for (p, _) in &mut case.participants {
                        p.site = sites.site_for(p);
                    }
                    let got = run_case(&rules, &case);
                    if got == case.expect {
                        passed += 1;
                    } else {
                        failed += 1;
                        writeln!(out, "FAIL {} ({}:{})", case.name, file.display(), case.line)?;
                        writeln!(out, "  expected:{}", describe(&case.expect))?;
                        writeln!(out, "  got:{}", describe(&got))?;
                    }
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 && !broken {
        EXIT_OK
    } else {
        EXIT_FAIL
    })
}

fn describe(events: &BTreeSet<Event>) -> String {
    if events.is_empty() {
        return " no alerts".into();
    }
    events
        .iter()
        .map(|(at, kind, rule, who)| match who {
            Some(who) => format!("\n    at {at}: {} {rule} for {who}", kind.as_str()),
            None => format!("\n    at {at}: {} {rule}", kind.as_str()),
        })
        .collect()
}

fn run_case(rules: &RuleSet, case: &Case) -> BTreeSet<Event> {
    let mut stepper = Stepper::new(rules.clone());
    let mut got = BTreeSet::new();
    let len = case
        .participants
        .iter()
        .map(|p| p.1.len())
        .max()
        .unwrap_or(0);
    // Sample i of every participant is one batch (one distinct sample time).
    for i in 0..len {
        let batch: Vec<_> = case
            .participants
            .iter()
            .filter_map(|(p, samples)| samples.get(i).map(|s| (&case.meeting, p, s)))
            .collect();
        let step = stepper.step(&batch);
        for (t, held) in &step.transitions {
            let kind = match t.state {
                State::Firing => Kind::Firing,
                State::Resolved => Kind::Resolved,
            };
            let who = case.several.then(|| t.participant.user_id.to_string());
            got.insert((i, kind, t.rule.to_string(), who.clone()));
            if held.is_some() {
                got.insert((i, Kind::Inhibited, t.rule.to_string(), who));
            }
        }
        for t in &step.incidents {
            let kind = match t.state {
                State::Firing => Kind::Firing,
                State::Resolved => Kind::Resolved,
            };
            got.insert((i, kind, t.name.to_string(), None));
        }
    }
    got
}

fn load_test_file(path: &Path) -> Result<(RuleSet, Vec<Case>), Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::new(
            path,
            Default::default(),
            format!("cannot read test file: {e}"),
        )]
    })?;
    let root = yaml::parse(path, &text).map_err(|d| vec![d])?;
    let mut errs = Errs {
        path,
        diags: Vec::new(),
    };
    let mut top = MapReader::new(&root, "a rule test file")
        .map_err(|m| vec![Diagnostic::new(path, root.pos, m)])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rule_paths = Vec::new();
    match top.get("rule_files") {
        None => errs.at(
            top.pos,
            "missing `rule_files`: the rule files or directories to test, relative to this file",
        ),
        Some(n) => match &n.value {
            Value::Seq(items) => {
                for item in items {
                    if let Some(s) = errs.string(item, "rule_files") {
                        rule_paths.push((base.join(s), item.pos));
                    }
                }
            }
            Value::Str(s) => rule_paths.push((base.join(s), n.pos)),
            _ => errs.at(n.pos, "`rule_files` must be a list of paths"),
        },
    }
    let tests = top.get("tests");
    errs.unknown_keys(&top, "a rule test file", &["rule_files", "tests"]);
    for (p, pos) in &rule_paths {
        if !p.exists() {
            errs.at(
                *pos,
                format!("rule file or directory {} does not exist", p.display()),
            );
        }
    }
    let rule_paths: Vec<PathBuf> = rule_paths.into_iter().map(|(p, _)| p).collect();
    let rules = if rule_paths.is_empty() || !errs.diags.is_empty() {
        None
    } else {
        match load_paths(&rule_paths) {
            Ok(r) => Some(r),
            Err(d) => {
                errs.diags.extend(d.0);
                None
            }
        }
    };
    let mut cases = Vec::new();
    match tests.map(|n| (n, &n.value)) {
        None => errs.at(top.pos, "missing `tests` list"),
        Some((_, Value::Seq(items))) => {
            for item in items {
                if let Some(case) = parse_case(item, rules.as_ref(), &mut errs) {
                    cases.push(case);
                }
            }
        }
        Some((n, _)) => errs.at(n.pos, "`tests` must be a list of test cases"),
    }
    match rules {
        Some(rules) if errs.diags.is_empty() => Ok((rules, cases)),
        _ => Err(errs.diags),
    }
}

const CASE_KEYS: [&str; 8] = [
    "name",
    "participant",
    "participants",
    "meeting",
    "interval",
    "start",
    "samples",
    "expect",
];

fn parse_case(node: &Node, rules: Option<&RuleSet>, errs: &mut Errs<'_>) -> Option<Case> {
    let mut m = errs.map(node, "a test case")?;
    let name = m
        .get("name")
        .and_then(|n| errs.string(n, "name"))
        .unwrap_or_else(|| format!("case at line {}", node.pos.line));
    let mut participant = ParticipantInfo {
        user_id: Arc::from("test-participant"),
        ..ParticipantInfo::default()
    };
    let mut meeting = MeetingInfo::default();
    if let Some(p) = m.get("participant") {
        match MapReader::new(p, "`participant`") {
            Err(msg) => errs.at(p.pos, msg),
            Ok(mut pm) => read_participant(&mut pm, &mut participant, &mut meeting, false, errs),
        }
    }
    if let Some(n) = m.get("meeting") {
        meeting.id = n.as_scalar_text().map(|s| Arc::from(s.as_str()));
    }
    let interval = m
        .get("interval")
        .and_then(|n| errs.duration(n, "interval"))
        .unwrap_or(Duration::from_secs(60));
    let start = match m.get("start") {
        None => Timestamp::parse_rfc3339(DEFAULT_START),
        Some(n) => {
            let t = n
                .as_scalar_text()
                .as_deref()
                .and_then(Timestamp::parse_rfc3339);
            if t.is_none() {
                errs.at(
                    n.pos,
                    "`start` must be an RFC 3339 date-time like 2024-01-01T00:00:00Z",
                );
            }
            t
        }
    }
    .unwrap_or_default();
    let step = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
    let mut participants = Vec::new();
    let several = match m.get("participants") {
        None => {
            match m.get("samples") {
                None => errs.at(m.pos, "test case without `samples`"),
                Some(n) => participants.push((participant, parse_samples(n, start, step, errs))),
            }
            false
        }
        Some(list) => {
            for key in ["participant", "samples"] {
                if let Some(k) = m.key_node(key) {
                    m.get(key); // reported here, not again as unknown
                    errs.at(k.pos, format!("a test case gives `participants:` or `participant`/`samples`, not both; move `{key}` into the `participants` entries"));
                }
            }
            participants = parse_participants(list, &mut meeting, start, step, errs);
            true
        }
    };
    let samples = participants.iter().map(|p| p.1.len()).max().unwrap_or(0);
    let mut expect = BTreeSet::new();
    match m.get("expect") {
        None => errs.at(
            m.pos,
            "test case without `expect` (write `expect: []` for no alerts)",
        ),
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for item in items {
                let ids: Vec<&str> = participants.iter().map(|p| &*p.0.user_id).collect();
                let who = several.then_some(ids.as_slice());
                parse_expect(item, samples, rules, who, &mut expect, errs);
            }
        }
        Some(n) => errs.at(n.pos, "`expect` must be a list"),
    }
    errs.unknown_keys(&m, "a test case", &CASE_KEYS);
    Some(Case {
        name,
        line: node.pos.line,
        meeting,
        participants,
        several,
        expect,
    })
}

/// A participant's keys: `user_id`, `meeting`, `topic` and attributes
/// (`samples` is read by the caller where it is allowed).
fn read_participant(
    pm: &mut MapReader<'_>,
    participant: &mut ParticipantInfo,
    meeting: &mut MeetingInfo,
    several: bool,
    errs: &mut Errs<'_>,
) {
    for (k, v) in pm.entries() {
        let key = k.as_scalar_text().unwrap_or_default();
        if key == "samples" && several {
            continue;
        }
        if key == "internal_ip_addresses" {
            participant.internal_ip_addresses = addresses(v, errs);
            continue;
        }
        let Some(value) = v.as_scalar_text() else {
            errs.at(v.pos, format!("participant `{key}` must be a string"));
            continue;
        };
        match key.as_str() {
            "user_id" => participant.user_id = Arc::from(value.as_str()),
            "meeting" => meeting.id = Some(Arc::from(value.as_str())),
            "topic" => meeting.topic = Some(Arc::from(value.as_str())),
            _ => {
                if !participant.set_attribute(&key, Some(Arc::from(value.as_str()))) {
                    errs.at(
                        k.pos,
                        format!(
                            "unknown participant attribute `{key}`; use user_id, meeting, topic, internal_ip_addresses or {}",
                            qos::ATTRIBUTE_NAMES.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// `participants: [{ user_id: u1, data_center: SJC, samples: [...] }, ...]`:
/// one meeting, one clock.
fn parse_participants(
    list: &Node,
    meeting: &mut MeetingInfo,
    start: Timestamp,
    step: i64,
    errs: &mut Errs<'_>,
) -> Vec<(ParticipantInfo, Vec<Sample>)> {
    let Value::Seq(items) = &list.value else {
        errs.at(
            list.pos,
            "`participants` must be a list of `{ user_id, <attributes>, samples: [...] }`",
        );
        return Vec::new();
    };
    let mut out: Vec<(ParticipantInfo, Vec<Sample>)> = Vec::new();
    for item in items {
        let Some(mut pm) = errs.map(item, "a `participants` entry") else {
            continue;
        };
        let mut participant = ParticipantInfo::default();
        let id = pm.get("user_id");
        let samples = pm.get("samples");
        read_participant(&mut pm, &mut participant, meeting, true, errs);
        let Some(id) = id else {
            errs.at(item.pos, "`participants` entry without `user_id`");
            continue;
        };
        if out.iter().any(|(p, _)| p.user_id == participant.user_id) {
            errs.at(
                id.pos,
                format!("duplicate participant `{}`", participant.user_id),
            );
            continue;
        }
        let samples = match samples {
            None => {
                errs.at(item.pos, "`participants` entry without `samples`");
                Vec::new()
            }
            Some(n) => parse_samples(n, start, step, errs),
        };
        out.push((participant, samples));
    }
    if out.is_empty() && errs.diags.is_empty() {
        errs.at(list.pos, "`participants` is empty");
    }
    out
}

/// A `samples` list, one `step` seconds apart from `start`.
fn parse_samples(n: &Node, start: Timestamp, step: i64, errs: &mut Errs<'_>) -> Vec<Sample> {
    match &n.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                parse_sample(item, start.plus_secs(step.saturating_mul(i as i64)), errs)
            })
            .collect(),
        _ => {
            errs.at(n.pos, "`samples` must be a list of samples");
            Vec::new()
        }
    }
}

/// A participant's `internal_ip_addresses`: a list of strings, or one.
fn addresses(node: &Node, errs: &mut Errs<'_>) -> Arc<[Box<str>]> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    items
        .into_iter()
        .filter_map(|i| errs.string(i, "internal_ip_addresses"))
        .map(Box::from)
        .collect()
}

fn parse_sample(node: &Node, at: Timestamp, errs: &mut Errs<'_>) -> Sample {
    let mut sample = Sample::empty(at);
    let mut m = match MapReader::new(node, "a sample") {
        Ok(m) => m,
        Err(_) if node.value == Value::Null => return sample,
        Err(msg) => {
            errs.at(node.pos, msg);
            return sample;
        }
    };
    for (k, v) in m.entries() {
        let key = k.as_scalar_text().unwrap_or_default();
        if let Some(stream) = key.strip_suffix(".resolution") {
            let width = Metric::from_path(&format!("{stream}.resolution.width"));
            let height = Metric::from_path(&format!("{stream}.resolution.height"));
            let (Some(w), Some(h)) = (width, height) else {
                errs.at(k.pos, format!("unknown metric `{key}`"));
                continue;
            };
            match v.as_scalar_text().map(|t| qos::parse_resolution(&t)) {
                _ if is_no_data(v) => {}
                Some(Ok(Some((wv, hv)))) => {
                    sample.set(w, Some(wv));
                    sample.set(h, Some(hv));
                }
                Some(Ok(None)) => {}
                _ => errs.at(
                    v.pos,
                    format!("bad resolution for `{key}`; write e.g. 1280*720"),
                ),
            }
            continue;
        }
        let Some(metric) = Metric::from_path(&key) else {
            let message = match crate::rules::expr::resolve_metric(&key) {
                Ok(_) => format!("`{key}` is a wildcard; samples name concrete streams"),
                Err(e) => e,
            };
            errs.at(k.pos, message);
            continue;
        };
        if is_no_data(v) {
            continue;
        }
        let unit = metric.unit();
        let text = v.as_scalar_text().unwrap_or_default();
        // Quantities as in conditions (`180ms`); numbers only where the
        // rule language takes bare numbers, or for dBm as Zoom sends them.
        let required =
            !matches!(v.value, Value::Int(_) | Value::Float(_)) || unit != qos::Unit::Dbm;
        match qos::parse_quantity(&text, unit, required) {
            Ok(value) => sample.set(metric, Some(value)),
            Err(e) => errs.at(v.pos, format!("bad value for `{key}`: {e}")),
        }
    }
    sample
}

fn is_no_data(v: &Node) -> bool {
    match &v.value {
        Value::Null => true,
        Value::Str(s) => qos::is_no_data(s),
        _ => false,
    }
}

/// One `expect` entry; `who` lists the case's participants when it has
/// `participants:` (participant rules then name theirs).
fn parse_expect(
    node: &Node,
    samples: usize,
    rules: Option<&RuleSet>,
    who: Option<&[&str]>,
    out: &mut BTreeSet<Event>,
    errs: &mut Errs<'_>,
) {
    let Some(mut m) = errs.map(node, "an `expect` entry") else {
        return;
    };
    let at = match m.get("at") {
        Some(Node {
            value: Value::Int(i),
            ..
        }) if *i >= 0 && (*i as usize) < samples => Some(*i as usize),
        Some(n) => {
            errs.at(
                n.pos,
                format!(
                    "`at` must be a sample index from 0 to {}",
                    samples.saturating_sub(1)
                ),
            );
            None
        }
        None => {
            errs.at(
                m.pos,
                "`expect` entry without `at` (the 0-based sample index)",
            );
            None
        }
    };
    let participant = match (m.get("participant"), who) {
        (None, _) => None,
        (Some(n), None) => {
            errs.at(
                n.pos,
                "`participant` in `expect` is for cases with `participants:`",
            );
            None
        }
        (Some(n), Some(ids)) => match n.as_scalar_text() {
            Some(id) if ids.contains(&id.as_str()) => Some(id),
            other => {
                errs.at(
                    n.pos,
                    format!(
                        "`participant` must be the user_id of one of the case's participants ({}), not `{}`",
                        ids.join(", "),
                        other.unwrap_or_default()
                    ),
                );
                None
            }
        },
    };
    let is_incident =
        |name: &str| rules.is_some_and(|r| r.incidents.iter().any(|d| &*d.name == name));
    for (key, kind) in [
        ("firing", Kind::Firing),
        ("resolved", Kind::Resolved),
        ("inhibited", Kind::Inhibited),
    ] {
        let Some(list) = m.get(key) else { continue };
        let items: Vec<&Node> = match &list.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![list],
        };
        for item in items {
            let Some(rule) = item.as_scalar_text() else {
                errs.at(item.pos, format!("`{key}` lists rule names"));
                continue;
            };
            let incident = is_incident(&rule);
            if rules.is_some_and(|r| r.get(&rule).is_none()) && !incident {
                errs.at(
                    item.pos,
                    format!("unknown rule `{rule}` in `{key}` (no rule or incident has that name)"),
                );
                continue;
            }
            let owner = if incident {
                if kind == Kind::Inhibited {
                    errs.at(
                        item.pos,
                        format!("`inhibited` lists participant rules; `{rule}` is an incident"),
                    );
                    continue;
                }
                if participant.is_some() {
                    errs.at(
                        item.pos,
                        format!(
                            "`{rule}` is an incident: list it in an entry without `participant`"
                        ),
                    );
                    continue;
                }
                None
            } else if who.is_some() {
                if participant.is_none() {
                    errs.at(item.pos, format!("`{rule}` is a participant rule: its entry needs `participant: USER_ID` in a case with `participants:`"));
                    continue;
                }
                participant.clone()
            } else {
                None
            };
            if let Some(at) = at {
                out.insert((at, kind, rule, owner));
            }
        }
    }
    errs.unknown_keys(
        &m,
        "an `expect` entry",
        &["at", "participant", "firing", "resolved", "inhibited"],
    );
}
