//! One rule read from its YAML mapping: every key checked (`when`, `for`,
//! `match`, `labels`, the templates, `inhibits`, ...), with the readers of
//! `name`, `severity`, `repeat_every` and `labels` that incidents share.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Errs;
use crate::matcher;
use crate::rules::{Hold, Rule, RuleMatcher, RuleSource, Severity, match_key, template};
use crate::yaml::{self, MapReader, Node, Value, suggest};

const RULE_KEYS: [&str; 15] = [
    "name",
    "description",
    "severity",
    "when",
    "for",
    "clear_when",
    "keep_firing_for",
    "repeat_every",
    "match",
    "labels",
    "summary",
    "runbook",
    "enabled",
    "resolved_summary",
    "inhibits",
];

/// What [`parse_rule`] reads: the rule when valid; its name and position
/// when the name is valid, even if the rule is not, so duplicates are still
/// found; and its `inhibits` entries with their positions (resolved in
/// [`finish`](super::finish), against every file).
pub(super) type ParsedRule = (
    Option<Rule>,
    Option<(String, yaml::Pos)>,
    Vec<(String, yaml::Pos)>,
);

/// Reads one rule.
pub(super) fn parse_rule(node: &Node, errs: &mut Errs<'_>) -> ParsedRule {
    let Some(mut m) = errs.map(node, "a rule") else {
        return (None, None, Vec::new());
    };
    let name_node = m.get("name");
    let name = match name_node {
        None => {
            errs.at(m.pos, "rule without `name`");
            None
        }
        Some(n) => name(n, errs, "rule"),
    };
    let description = m
        .get("description")
        .and_then(|n| errs.string(n, "description"));
    let severity = match m.get("severity") {
        None => Some(Severity::Warning),
        Some(n) => severity(n, errs),
    };
    let when = match m.get("when") {
        None => {
            errs.at(m.pos, "rule without `when` condition");
            None
        }
        Some(n) => errs.condition(n, "when"),
    };
    let hold = m.get("for").and_then(|n| parse_hold(n, errs));
    let clear_when = m
        .get("clear_when")
        .and_then(|n| errs.condition(n, "clear_when"));
    let keep_firing_for = m
        .get("keep_firing_for")
        .and_then(|n| errs.duration(n, "keep_firing_for"));
    let repeat_every = m.get("repeat_every").and_then(|n| repeat_every(n, errs));
    let match_node = m.get("match");
    let matchers = match_node.map(|n| parse_match(n, errs)).unwrap_or_default();
    let site_literals = match_node
        .and_then(|n| MapReader::new(n, "").ok())
        .and_then(|mut mm| mm.get("site"))
        .map(matcher::literal_positions)
        .unwrap_or_default();
    let labels = m
        .get("labels")
        .map(|n| parse_labels(n, errs))
        .unwrap_or_default();
    // Templates, each checked for syntax and variables.
    let mut template_key = |key: &str| {
        m.get(key).and_then(|n| {
            let s = errs.string(n, key)?;
            if let Err((msg, index)) = template::check(&s) {
                let pos = index.map_or(n.pos, |i| n.pos_in_text(i));
                errs.at(pos, format!("in `{key}`: {msg}"));
            }
            Some(s)
        })
    };
    let summary = template_key("summary");
    let resolved_summary = template_key("resolved_summary");
    let runbook = template_key("runbook");
    let enabled = match m.get("enabled") {
        None => true,
        Some(Node {
            value: Value::Bool(b),
            ..
        }) => *b,
        Some(n) => {
            errs.at(
                n.pos,
                format!("`enabled` must be true or false, not {}", n.kind()),
            );
            true
        }
    };
    let inhibits = m
        .get("inhibits")
        .map(|n| parse_inhibits(n, errs))
        .unwrap_or_default();
    errs.unknown_keys(&m, "a rule", &RULE_KEYS);
    let name_site = name.clone().zip(name_node.map(|n| n.pos));
    let rule = || -> Option<Rule> {
        Some(Rule {
            name: name?,
            description,
            severity: severity?,
            when: when?,
            hold,
            clear_when,
            keep_firing_for: keep_firing_for.filter(|d| !d.is_zero()),
            repeat_every,
            matchers,
            labels,
            summary,
            runbook,
            enabled,
            resolved_summary,
            source: RuleSource {
                path: errs.path.to_owned(),
                line: m.pos.line,
            },
            inhibits: Vec::new(),
            site_literals,
        })
    };
    (rule(), name_site, inhibits)
}

/// A rule or incident name: `[a-z0-9_-]+`.
pub(in crate::rules) fn name(n: &Node, errs: &mut Errs<'_>, what: &str) -> Option<String> {
    match n.as_scalar_text() {
        Some(s)
            if !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                }) =>
        {
            Some(s)
        }
        Some(s) => {
            errs.at(
                n.pos,
                format!("bad {what} name `{s}`: use lowercase letters, digits, `-` and `_`"),
            );
            None
        }
        None => {
            errs.at(n.pos, format!("`name` must be a string, not {}", n.kind()));
            None
        }
    }
}

/// `severity: info | warning | critical`.
pub(in crate::rules) fn severity(n: &Node, errs: &mut Errs<'_>) -> Option<Severity> {
    let s = n.as_scalar_text().as_deref().and_then(Severity::parse);
    if s.is_none() {
        errs.at(
            n.pos,
            format!(
                "bad severity `{}`: use info, warning or critical",
                n.as_scalar_text().unwrap_or_else(|| n.kind().to_owned())
            ),
        );
    }
    s
}

/// `repeat_every: 30m`, longer than zero.
pub(in crate::rules) fn repeat_every(n: &Node, errs: &mut Errs<'_>) -> Option<Duration> {
    match errs.duration(n, "repeat_every") {
        Some(d) if d.is_zero() => {
            errs.at(
                n.pos,
                "`repeat_every` must be longer than zero; leave it out for no reminders",
            );
            None
        }
        d => d,
    }
}

/// `inhibits: [audio-loss-high, "video-*"]` (or one name): the entries as
/// written, with their positions.
fn parse_inhibits(node: &Node, errs: &mut Errs<'_>) -> Vec<(String, yaml::Pos)> {
    let Some(items) = node.one_or_list() else {
        errs.at(
            node.pos,
            format!(
                "`inhibits` must be a list of rule names or globs, not {}",
                node.kind()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Str(s) if !s.trim().is_empty() => out.push((s.trim().to_owned(), item.pos)),
            _ => errs.at(
                item.pos,
                format!(
                    "`inhibits` lists rule names or globs such as `audio-loss-high` or `audio-*`, not {}",
                    item.kind()
                ),
            ),
        }
    }
    out
}

/// `for: 2m` or `for: 3 samples`.
fn parse_hold(node: &Node, errs: &mut Errs<'_>) -> Option<Hold> {
    const FORMS: &str =
        "write a duration (e.g. 90s, 2m or 1h) or a number of samples (e.g. `3 samples`)";
    if let Value::Str(s) = &node.value {
        let t = s.trim();
        if let Some(n) = t
            .strip_suffix("samples")
            .or_else(|| t.strip_suffix("sample"))
        {
            return match n.trim().parse::<u32>() {
                Ok(0) => None,
                Ok(n) => Some(Hold::Samples(n)),
                Err(_) => {
                    errs.at(node.pos, format!("bad `for` value `{s}`: write a whole number of samples, e.g. `3 samples`"));
                    None
                }
            };
        }
        if humantime::parse_duration(t).is_err() {
            // `3 sampels`: a count and a misspelt word. humantime's list of
            // time units would not help; the samples form would.
            let hint = t
                .split_once(char::is_whitespace)
                .filter(|(n, _)| n.parse::<u32>().is_ok())
                .and_then(|(n, word)| {
                    suggest(word.trim(), &["samples", "sample"]).map(|_| format!("{n} samples"))
                });
            let message = match hint {
                Some(fix) => format!("bad `for` value `{s}` (did you mean `{fix}`?): {FORMS}"),
                None => format!("bad duration `{s}` for `for`: {FORMS}"),
            };
            errs.at(node.pos, message);
            return None;
        }
    }
    errs.duration(node, "for")
        .filter(|d| !d.is_zero())
        .map(Hold::Time)
}

fn parse_match(node: &Node, errs: &mut Errs<'_>) -> Vec<RuleMatcher> {
    let Some(mut m) = errs.map(node, "`match`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m.entries() {
        let Some(key_text) = k.as_scalar_text() else {
            errs.at(k.pos, "`match` keys must be strings");
            continue;
        };
        let Some(key) = match_key(&key_text) else {
            let mut known: Vec<&str> = crate::qos::ATTRIBUTE_NAMES.to_vec();
            known.extend(matcher::RULE_KEYS);
            let hint = matcher::did_you_mean(&key_text, &known);
            let route_only = if matcher::is_alert_attribute(&key_text) {
                " (it is known once an alert exists: use it in a route `match`)"
            } else {
                ""
            };
            errs.at(k.pos, format!(
                "unknown `match` key `{key_text}`{hint}{route_only}; use a participant attribute ({}), {}",
                crate::qos::ATTRIBUTE_NAMES.join(", "),
                matcher::RULE_KEYS.join(", ")
            ));
            continue;
        };
        match matcher::parse_node(&key_text, v, &format!("`match.{key_text}`")) {
            Ok(matcher) => out.push(RuleMatcher { key, matcher }),
            Err(list) => {
                for (pos, msg) in list {
                    errs.at(pos, msg);
                }
            }
        }
    }
    out
}

pub(in crate::rules) fn parse_labels(node: &Node, errs: &mut Errs<'_>) -> BTreeMap<String, String> {
    let Some(mut m) = errs.map(node, "`labels`") else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (k, v) in m.entries() {
        let Some(name) = k.as_scalar_text() else {
            errs.at(k.pos, "label names must be strings");
            continue;
        };
        if !matcher::is_label_name(&name) {
            errs.at(k.pos, format!("bad label name `{name}`: use letters, digits and `_`, not starting with a digit"));
            continue;
        }
        match v.as_scalar_text() {
            Some(value) => {
                out.insert(name, value);
            }
            None => errs.at(
                v.pos,
                format!("label `{name}` must be a string, not {}", v.kind()),
            ),
        }
    }
    out
}
