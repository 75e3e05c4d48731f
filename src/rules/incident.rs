//! The incident definitions of rule files (`incidents:`, SPEC 12), as the
//! loader validates them. They live with the rules because the loader builds
//! them and checks their member names against the rules; the incident
//! engine (`crate::incident`) re-exports them and does the counting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::load::Errs;
use super::{Severity, template};
use crate::qos::ATTRIBUTE_NAMES;
use crate::yaml::{Node, Pos, Value, suggest};

/// What an incident groups participants by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One meeting instance.
    Meeting,
    /// Everyone watched.
    All,
    /// The participant's site (config `sites`).
    Site,
    /// A participant attribute, by [`ATTRIBUTE_NAMES`] index.
    Attribute(usize),
}

impl Scope {
    /// The scope as written (`meeting`, `data_center`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Scope::Meeting => "meeting",
            Scope::All => "all",
            Scope::Site => "site",
            Scope::Attribute(i) => ATTRIBUTE_NAMES[*i],
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        match name {
            "meeting" => Some(Scope::Meeting),
            "all" => Some(Scope::All),
            "site" => Some(Scope::Site),
            _ => ATTRIBUTE_NAMES
                .iter()
                .position(|n| *n == name)
                .map(Scope::Attribute),
        }
    }
}

/// A validated `incidents:` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentDef {
    /// Unique across rules and incidents.
    pub name: Arc<str>,
    pub description: Option<String>,
    pub scope: Scope,
    /// Member rules, the globs already expanded to names.
    pub rules: Vec<Arc<str>>,
    /// Fires at this many affected participants or more (default 3).
    pub min_participants: u32,
    /// ... and at this fraction of the population or more (0..=1).
    pub min_fraction: f64,
    pub severity: Severity,
    /// How long a member's firing notification waits for an incident to form.
    pub hold: Duration,
    /// Sample time the condition must stay false before it resolves.
    pub keep_firing_for: Duration,
    /// Whether member notifications are held back while it fires.
    pub inhibit: bool,
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub repeat_every: Option<Duration>,
}

impl IncidentDef {
    /// Whether `rule` is one of its members.
    pub fn has_member(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| &**r == rule)
    }

    /// Whether `affected` of `population` makes an incident.
    pub fn holds(&self, affected: u32, population: u32) -> bool {
        affected > 0
            && affected >= self.min_participants
            && f64::from(affected) >= self.min_fraction * f64::from(population) - 1e-9
    }
}

/// The keys of an `incidents:` entry.
pub(super) const INCIDENT_KEYS: [&str; 13] = [
    "name",
    "description",
    "scope",
    "rules",
    "min_participants",
    "min_fraction",
    "severity",
    "hold",
    "keep_firing_for",
    "inhibit",
    "labels",
    "summary",
    "repeat_every",
];

/// What [`parse_incident`] reads: the definition when valid (its member
/// list still empty: the entries are resolved against every file's rules
/// once all are read), its name and position when the name is valid, and
/// its `rules` entries as written with their positions.
pub(super) struct ParsedIncident {
    pub def: Option<IncidentDef>,
    pub name: Option<(String, Pos)>,
    pub members: Vec<(String, Pos)>,
    pub line: u32,
}

/// Reads one `incidents:` entry.
pub(super) fn parse_incident(node: &Node, errs: &mut Errs<'_>) -> ParsedIncident {
    let before = errs.diags.len();
    let mut out = ParsedIncident {
        def: None,
        name: None,
        members: Vec::new(),
        line: node.pos.line,
    };
    let Some(mut m) = errs.map(node, "an incident") else {
        return out;
    };
    let name_node = m.get("name");
    let name = match name_node {
        None => {
            errs.at(m.pos, "incident without `name`");
            None
        }
        Some(n) => super::load::name(n, errs, "incident"),
    };
    out.name = name.clone().zip(name_node.map(|n| n.pos));
    let description = m
        .get("description")
        .and_then(|n| errs.string(n, "description"));
    let scope = match m.get("scope") {
        None => Some(Scope::Meeting),
        Some(n) => {
            let text = n.as_scalar_text().unwrap_or_default();
            let scope = Scope::parse(&text);
            if scope.is_none() {
                let mut known = vec!["meeting", "all", "site"];
                known.extend(ATTRIBUTE_NAMES);
                let hint = suggest(&text, &known)
                    .map_or(String::new(), |k| format!(" (did you mean `{k}`?)"));
                errs.at(
                    n.pos,
                    format!(
                        "unknown incident scope `{text}`{hint}; use meeting, all, site or a participant attribute ({})",
                        ATTRIBUTE_NAMES.join(", ")
                    ),
                );
            }
            scope
        }
    };
    match m.get("rules") {
        None => errs.at(
            m.pos,
            "incident without `rules`: list its member rules, by name or glob",
        ),
        Some(n) => {
            let items: Vec<&Node> = match n.one_or_list() {
                Some(items) => items,
                None => {
                    errs.at(
                        n.pos,
                        format!(
                            "`rules` must be a list of rule names or globs, not {}",
                            n.kind()
                        ),
                    );
                    Vec::new()
                }
            };
            if items.is_empty() && matches!(n.value, Value::Seq(_) | Value::Null) {
                errs.at(
                    n.pos,
                    "`rules` is empty: an incident needs at least one member rule",
                );
            }
            for item in items {
                match &item.value {
                    Value::Str(s) if !s.trim().is_empty() => {
                        out.members.push((s.trim().to_owned(), item.pos))
                    }
                    _ => errs.at(
                        item.pos,
                        format!(
                            "`rules` lists rule names or globs such as `audio-loss-high` or `audio-*`, not {}",
                            item.kind()
                        ),
                    ),
                }
            }
        }
    }
    let min_participants = match m.get("min_participants") {
        None => Some(3),
        Some(n) => match &n.value {
            Value::Int(i) if *i >= 1 && *i <= i64::from(u32::MAX) => Some(*i as u32),
            _ => {
                errs.at(
                    n.pos,
                    format!(
                        "`min_participants` must be a whole number of 1 or more, not `{}`",
                        n.as_scalar_text().unwrap_or_else(|| n.kind().to_owned())
                    ),
                );
                None
            }
        },
    };
    let min_fraction = match m.get("min_fraction") {
        None => Some(0.0),
        Some(n) => parse_fraction(n, errs),
    };
    let severity = match m.get("severity") {
        None => Some(Severity::Warning),
        Some(n) => super::load::severity(n, errs),
    };
    let hold = m.get("hold").and_then(|n| errs.duration(n, "hold"));
    let keep_firing_for = m
        .get("keep_firing_for")
        .and_then(|n| errs.duration(n, "keep_firing_for"));
    let inhibit = m
        .get("inhibit")
        .map_or(Some(true), |n| bool_key(n, "inhibit", errs));
    let labels = m
        .get("labels")
        .map(|n| super::load::parse_labels(n, errs))
        .unwrap_or_default();
    let summary = m.get("summary").and_then(|n| {
        let s = errs.string(n, "summary")?;
        // A scope that did not parse is reported already: no second error.
        let meeting_scope = matches!(scope, None | Some(Scope::Meeting));
        if let Err((msg, index)) = template::check_incident(&s, meeting_scope) {
            let pos = index.map_or(n.pos, |i| n.pos_in_text(i));
            errs.at(pos, format!("in `summary`: {msg}"));
        }
        Some(s)
    });
    let repeat_every = m
        .get("repeat_every")
        .and_then(|n| super::load::repeat_every(n, errs));
    errs.unknown_keys(&m, "an incident", &INCIDENT_KEYS);
    if errs.diags.len() > before {
        return out;
    }
    out.def = match (
        name,
        scope,
        min_participants,
        min_fraction,
        severity,
        inhibit,
    ) {
        (
            Some(name),
            Some(scope),
            Some(min_participants),
            Some(min_fraction),
            Some(severity),
            Some(inhibit),
        ) => Some(IncidentDef {
            name: Arc::from(name.as_str()),
            description,
            scope,
            rules: Vec::new(),
            min_participants,
            min_fraction,
            severity,
            hold: hold.unwrap_or_default(),
            keep_firing_for: keep_firing_for.unwrap_or_default(),
            inhibit,
            labels,
            summary,
            repeat_every,
        }),
        _ => None,
    };
    out
}

/// `min_fraction: 50%` or `0.5`.
fn parse_fraction(n: &Node, errs: &mut Errs<'_>) -> Option<f64> {
    let value = match &n.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => match s.trim().strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
            None => s.trim().parse::<f64>().ok(),
        },
        _ => None,
    };
    match value {
        Some(v) if (0.0..=1.0).contains(&v) => Some(v),
        _ => {
            errs.at(
                n.pos,
                format!(
                    "`min_fraction` must be a percentage from 0% to 100% (e.g. `50%`) or a number from 0 to 1, not `{}`",
                    n.as_scalar_text().unwrap_or_else(|| n.kind().to_owned())
                ),
            );
            None
        }
    }
}

fn bool_key(n: &Node, key: &str, errs: &mut Errs<'_>) -> Option<bool> {
    match n.value {
        Value::Bool(b) => Some(b),
        _ => {
            errs.at(
                n.pos,
                format!("`{key}` must be true or false, not {}", n.kind()),
            );
            None
        }
    }
}
