//! `routes:`: each route's `match` (alert attributes, rule labels, sites),
//! the notifiers it names and its time intervals, read and checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{NamedInterval, NotifierConfig, RouteConfig, Sites};
use crate::matcher;
use crate::rules::load::Errs;
use crate::yaml::{MapReader, Node, Value};

pub(super) fn parse_routes(
    node: &Node,
    notifiers: &BTreeMap<String, NotifierConfig>,
    broken: &[String],
    sites: &Sites,
    time_intervals: &[Arc<NamedInterval>],
    errs: &mut Errs<'_>,
) -> Vec<RouteConfig> {
    let Value::Seq(items) = &node.value else {
        errs.at(node.pos, "`routes` must be a list");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(mut m) = errs.map(item, "a route") else {
            continue;
        };
        let mut matchers = Vec::new();
        let mut label_keys = Vec::new();
        if let Some(mn) = m.get("match") {
            match MapReader::new(mn, "`match`") {
                Err(msg) => errs.at(mn.pos, msg),
                Ok(mut mm) => {
                    for (k, v) in mm.entries() {
                        let Some(key) = k.as_scalar_text() else {
                            errs.at(k.pos, "route `match` keys must be strings");
                            continue;
                        };
                        if !matcher::is_alert_attribute(&key) {
                            if matcher::is_label_name(&key) {
                                // A label: checked against the rules' labels
                                // once they are loaded (`Config::check_labels`).
                                label_keys.push((key.clone(), k.pos));
                            } else {
                                errs.at(k.pos, unknown_route_key(&key, &[]));
                                continue;
                            }
                        }
                        match matcher::parse_node(&key, v, &format!("route `match.{key}`")) {
                            Ok(m) if key == "site" => {
                                // A site the config lacks could never match.
                                for (name, pos) in matcher::literal_positions(v) {
                                    if !sites.names().any(|n| n == name) {
                                        errs.at(
                                            pos,
                                            crate::config::sites::unknown_site(
                                                &name,
                                                sites,
                                                "route `match.site`",
                                            ),
                                        );
                                    }
                                }
                                matchers.push(m)
                            }
                            Ok(m) => matchers.push(m),
                            Err(list) => {
                                for (pos, msg) in list {
                                    errs.at(pos, msg);
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut notify = Vec::new();
        match m.get("notify") {
            None => errs.at(m.pos, "route without `notify`"),
            Some(nn) => {
                let names: Vec<&Node> = match &nn.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![nn],
                };
                for n in names {
                    match n.as_scalar_text() {
                        Some(name) if notifiers.contains_key(&name) => notify.push(name),
                        Some(name) if broken.contains(&name) => {}
                        Some(name) => {
                            let known: Vec<&str> = notifiers.keys().map(String::as_str).collect();
                            let hint = matcher::did_you_mean(&name, &known);
                            errs.at(
                                n.pos,
                                format!("route names unknown notifier `{name}`{hint}"),
                            )
                        }
                        None => errs.at(n.pos, "`notify` lists notifier names"),
                    }
                }
            }
        }
        let continue_matching = match m.get("continue") {
            None => false,
            Some(Node {
                value: Value::Bool(b),
                ..
            }) => *b,
            Some(n) => {
                errs.at(n.pos, "`continue` must be true or false");
                false
            }
        };
        let group_limit = match m.get("group_limit") {
            None => 10,
            Some(Node {
                value: Value::Int(i),
                ..
            }) if *i >= 1 => *i as usize,
            Some(n) => {
                errs.at(n.pos, "`group_limit` must be a whole number of at least 1");
                10
            }
        };
        let mention = match m.get("mention") {
            None => Vec::new(),
            Some(n) => match &n.value {
                Value::Seq(items) => items
                    .iter()
                    .filter_map(|i| errs.string(i, "mention"))
                    .collect(),
                _ => errs.string(n, "mention").into_iter().collect(),
            },
        };
        let mute_time_intervals = m
            .get("mute_time_intervals")
            .map(|n| interval_names(n, "mute_time_intervals", time_intervals, errs))
            .unwrap_or_default();
        let active_time_intervals = m
            .get("active_time_intervals")
            .map(|n| interval_names(n, "active_time_intervals", time_intervals, errs))
            .unwrap_or_default();
        errs.unknown_keys(&m, "a route", &ROUTE_KEYS);
        out.push(RouteConfig {
            matchers,
            label_keys,
            notify,
            continue_matching,
            group_limit,
            mention,
            mute_time_intervals,
            active_time_intervals,
        });
    }
    out
}

const ROUTE_KEYS: [&str; 7] = [
    "match",
    "notify",
    "continue",
    "group_limit",
    "mention",
    "mute_time_intervals",
    "active_time_intervals",
];

/// A route's `mute_time_intervals` / `active_time_intervals`: names of
/// `time_intervals` entries (one name alone is a list of one).
fn interval_names(
    node: &Node,
    key: &str,
    defined: &[Arc<NamedInterval>],
    errs: &mut Errs<'_>,
) -> Vec<Arc<NamedInterval>> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for n in items {
        let Some(name) = n
            .as_scalar_text()
            .filter(|_| matches!(n.value, Value::Str(_)))
        else {
            errs.at(n.pos, format!("`{key}` lists names of `time_intervals`"));
            continue;
        };
        match defined.iter().find(|i| i.name == name) {
            Some(i) => out.push(i.clone()),
            None if defined.is_empty() => errs.at(
                n.pos,
                format!(
                    "route names unknown time interval `{name}`: no `time_intervals` are defined"
                ),
            ),
            None => {
                let known: Vec<&str> = defined.iter().map(|i| i.name.as_str()).collect();
                errs.at(
                    n.pos,
                    format!(
                        "route names unknown time interval `{name}`{}; defined: {}",
                        matcher::did_you_mean(&name, &known),
                        known.join(", ")
                    ),
                )
            }
        }
    }
    out
}

/// The message for a route `match` key that is no alert attribute and no
/// label of the loaded rules (`labels`).
pub(in crate::config) fn unknown_route_key(key: &str, labels: &[&str]) -> String {
    let mut known: Vec<&str> = matcher::ALERT_KEYS.to_vec();
    known.extend(crate::qos::ATTRIBUTE_NAMES);
    known.extend(labels);
    let hint = matcher::did_you_mean(key, &known);
    let labels = if labels.is_empty() {
        "no rule has labels".to_owned()
    } else {
        format!("rule labels: {}", labels.join(", "))
    };
    format!(
        "unknown route `match` key `{key}`{hint}: not an alert attribute ({}, {}) nor a label of a loaded rule ({labels})",
        matcher::ALERT_KEYS.join(", "),
        crate::qos::ATTRIBUTE_NAMES.join(", ")
    )
}
