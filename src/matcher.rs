//! Matchers (docs/rules.md, "Matchers"): the one syntax and implementation
//! behind rule `match`, route `match`, and later silences and the CLI.
//!
//! A matcher is a key (an alert attribute or a rule label) and an operation
//! on its value: equality, any of a list, `~regex`, `!literal`, `!~regex`.
//! A value that is unknown (Zoom did not send it, or the key does not apply)
//! fails every positive operation and passes every negative one, so `!Wifi`
//! also holds for a participant whose network type is not known.
//!
//! Parsing is in two forms: the YAML map value ([`Op::parse`],
//! [`parse_node`]) and the amtool command line ([`Matcher::parse_cli`]:
//! `KEY=V`, `KEY!=V`, `KEY=~RE`, `KEY!~RE`).

use std::fmt;

/// A compiled regular expression; two are equal when written the same (a
/// reload compares rules by what they say).
#[derive(Clone, Debug)]
pub struct Regex(regex::Regex);

impl Regex {
    pub fn new(re: &str) -> Result<Regex, regex::Error> {
        regex::Regex::new(re).map(Regex)
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.as_str() == other.as_str()
    }
}

use crate::qos::ATTRIBUTE_NAMES;
use crate::yaml::{Node, Pos, Value, suggest};

/// Alert attributes besides the participant's ([`ATTRIBUTE_NAMES`]): what a
/// route `match` (and later a silence) may name, with rule labels.
/// `notifier` is the label of the built-in alerts about one notifier.
pub const ALERT_KEYS: [&str; 12] = [
    "rule",
    "alertname",
    "severity",
    "kind",
    "meeting",
    "meeting_uuid",
    "topic",
    "participant",
    "site",
    "notifier",
    "scope",
    "scope_value",
];

/// Keys a rule `match` may name besides the participant attributes: what is
/// known of a participant before any rule fires.
pub const RULE_KEYS: [&str; 4] = ["meeting", "meeting_uuid", "topic", "site"];

/// The values an attribute can take, for those with a fixed set: a literal
/// outside it could never match.
pub fn known_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "network_type" => Some(&["Wired", "Wifi", "PPP", "Cellular", "Others"]),
        "severity" => Some(&["info", "warning", "critical"]),
        "kind" => Some(&["participant", "incident", "system"]),
        _ => None,
    }
}

/// Whether `key` is an alert attribute (not a label).
pub fn is_alert_attribute(key: &str) -> bool {
    ALERT_KEYS.contains(&key) || ATTRIBUTE_NAMES.contains(&key)
}

/// Whether `name` is a valid label name: letters, digits and `_`, not
/// starting with a digit.
pub fn is_label_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One item of a list: a literal or a `~regex`.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Literal(String),
    Regex(Regex),
}

impl Item {
    fn matches(&self, value: &str) -> bool {
        match self {
            Item::Literal(s) => s == value,
            Item::Regex(r) => r.is_match(value),
        }
    }
}

/// What a matcher asks of its attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `Wifi`: equals (case-sensitive).
    Equal(String),
    /// `[Windows, Mac, "~^i"]`: equals or matches any item.
    AnyOf(Vec<Item>),
    /// `~^Room-`: matches (unanchored).
    Regex(Regex),
    /// `!Town hall`: unknown or differs.
    NotEqual(String),
    /// `!~(?i)all.?hands`: unknown or does not match.
    NotRegex(Regex),
}

impl Op {
    /// Parses one written value: `~re`, `!lit`, `!~re`, `\~lit`, `\!lit`, or
    /// a literal.
    pub fn parse(text: &str) -> Result<Op, String> {
        if let Some(rest) = text.strip_prefix('!') {
            return match rest.strip_prefix('~') {
                Some(re) => compile(re).map(Op::NotRegex),
                None => Ok(Op::NotEqual(unescape(rest).to_owned())),
            };
        }
        match text.strip_prefix('~') {
            Some(re) => compile(re).map(Op::Regex),
            None => Ok(Op::Equal(unescape(text).to_owned())),
        }
    }

    /// Parses a list's item: a literal or `~re` (a negation has no meaning
    /// inside an any-of list).
    pub fn parse_item(text: &str) -> Result<Item, String> {
        match Op::parse(text)? {
            Op::Equal(s) => Ok(Item::Literal(s)),
            Op::Regex(r) => Ok(Item::Regex(r)),
            _ => Err(format!(
                "`{text}`: a list item cannot be negated (`!`); use a separate matcher such as `\"!~^(a|b)$\"`, or write `\\!` for a literal `!`"
            )),
        }
    }

    /// The literals this operation compares with (for value-set checks).
    pub fn literals(&self) -> Vec<&str> {
        match self {
            Op::Equal(s) | Op::NotEqual(s) => vec![s.as_str()],
            Op::AnyOf(items) => items
                .iter()
                .filter_map(|i| match i {
                    Item::Literal(s) => Some(s.as_str()),
                    Item::Regex(_) => None,
                })
                .collect(),
            Op::Regex(_) | Op::NotRegex(_) => Vec::new(),
        }
    }

    /// Whether the attribute, known by `values` (none: unknown; several: an
    /// attribute with more than one name, like a meeting's number and UUID),
    /// passes. A positive operation needs one value to match; a negative one
    /// needs none to match its positive form.
    pub fn matches_values(&self, values: &[&str]) -> bool {
        match self {
            Op::Equal(s) => values.iter().any(|v| v == s),
            Op::AnyOf(items) => values.iter().any(|v| items.iter().any(|i| i.matches(v))),
            Op::Regex(r) => values.iter().any(|v| r.is_match(v)),
            Op::NotEqual(s) => !values.iter().any(|v| v == s),
            Op::NotRegex(r) => !values.iter().any(|v| r.is_match(v)),
        }
    }

    /// Whether one value (`None`: unknown) passes.
    pub fn matches(&self, value: Option<&str>) -> bool {
        self.matches_values(value.as_slice())
    }
}

/// A key and what its value must be.
#[derive(Clone, Debug, PartialEq)]
pub struct Matcher {
    pub key: String,
    pub op: Op,
}

impl Matcher {
    /// Whether one value (`None`: unknown) passes.
    pub fn matches(&self, value: Option<&str>) -> bool {
        self.op.matches(value)
    }

    /// Parses the command-line form: `KEY=V`, `KEY!=V`, `KEY=~RE`,
    /// `KEY!~RE` (amtool's); the value may be wrapped in double quotes. The
    /// key is not checked against the attributes here: the caller knows
    /// which keys it accepts.
    pub fn parse_cli(arg: &str) -> Result<Matcher, String> {
        let key_len = arg
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(arg.len());
        let (key, rest) = arg.split_at(key_len);
        if key.is_empty() {
            return Err(format!(
                "bad matcher `{arg}`: expected KEY=VALUE, KEY!=VALUE, KEY=~REGEX or KEY!~REGEX"
            ));
        }
        let (kind, value) = if let Some(v) = rest.strip_prefix("!~") {
            ("!~", v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            ("!=", v)
        } else if let Some(v) = rest.strip_prefix("=~") {
            ("=~", v)
        } else if let Some(v) = rest.strip_prefix('=') {
            ("=", v)
        } else {
            return Err(format!(
                "bad matcher `{arg}`: after `{key}` expected `=`, `!=`, `=~` or `!~`"
            ));
        };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let op = match kind {
            "=" => Op::Equal(value.to_owned()),
            "!=" => Op::NotEqual(value.to_owned()),
            "=~" => Op::Regex(compile(value)?),
            _ => Op::NotRegex(compile(value)?),
        };
        Ok(Matcher {
            key: key.to_owned(),
            op,
        })
    }
}

impl fmt::Display for Matcher {
    /// The command-line form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match &self.op {
            Op::Equal(s) => write!(f, "{key}={s}"),
            Op::NotEqual(s) => write!(f, "{key}!={s}"),
            Op::Regex(r) => write!(f, "{key}=~{}", r.as_str()),
            Op::NotRegex(r) => write!(f, "{key}!~{}", r.as_str()),
            Op::AnyOf(items) => {
                let alts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Item::Literal(s) => regex::escape(s),
                        Item::Regex(r) => format!("(?:{})", r.as_str()),
                    })
                    .collect();
                write!(f, "{key}=~^(?:{})$", alts.join("|"))
            }
        }
    }
}

/// `\~x` and `\!x` stand for the literals `~x` and `!x`.
fn unescape(text: &str) -> &str {
    match text.strip_prefix('\\') {
        Some(rest) if rest.starts_with('~') || rest.starts_with('!') => rest,
        _ => text,
    }
}

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        let reason = e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        format!("bad regular expression `{re}`: {reason}")
    })
}

/// Checks a literal against the attribute's value set, if it has one:
/// `network_type: WiFi` could never match.
pub fn check_literal(key: &str, literal: &str) -> Result<(), String> {
    let Some(allowed) = known_values(key) else {
        return Ok(());
    };
    if allowed.contains(&literal) {
        return Ok(());
    }
    let hint = allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(literal))
        .copied()
        .or_else(|| suggest(literal, allowed))
        .map_or(String::new(), |a| format!(" (did you mean `{a}`?)"));
    Err(format!(
        "`{literal}` is never the value of `{key}`{hint}; allowed: {}",
        allowed.join(", ")
    ))
}

/// Reads one `KEY: VALUE` entry of a YAML matcher map: the value is a
/// scalar (see [`Op::parse`]) or a list of literals and `~regex`es; values
/// with a known set are checked. Errors carry the position of the value at
/// fault. `section` names the entry in messages (`` `match.device` ``,
/// ``route `match.topic` ``).
pub fn parse_node(key: &str, value: &Node, section: &str) -> Result<Matcher, Vec<(Pos, String)>> {
    let prefix = |msg: String| format!("in {section}: {msg}");
    let mut errors = Vec::new();
    let op = match &value.value {
        Value::Seq(items) if items.is_empty() => {
            return Err(vec![(
                value.pos,
                format!("{section} is an empty list, which matches nothing"),
            )]);
        }
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                match item.as_scalar_text() {
                    None => errors.push((
                        item.pos,
                        prefix(format!("list items must be strings, not {}", item.kind())),
                    )),
                    Some(text) => match Op::parse_item(&text) {
                        Ok(i) => out.push(i),
                        Err(msg) => errors.push((item.pos, prefix(msg))),
                    },
                }
            }
            Op::AnyOf(out)
        }
        _ => match value.as_scalar_text() {
            None => {
                return Err(vec![(
                    value.pos,
                    prefix(format!(
                        "expected a string or a list of strings, not {}",
                        value.kind()
                    )),
                )]);
            }
            Some(text) => match Op::parse(&text) {
                Ok(op) => op,
                Err(msg) => return Err(vec![(value.pos, prefix(msg))]),
            },
        },
    };
    // Point a value-set error at the list item that holds the literal.
    let nodes: Vec<&Node> = match &value.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![value],
    };
    for literal in op.literals() {
        if let Err(msg) = check_literal(key, literal) {
            let pos = nodes
                .iter()
                .find(|n| {
                    n.as_scalar_text()
                        .is_some_and(|t| unescape(t.trim_start_matches('!')) == literal)
                })
                .map_or(value.pos, |n| n.pos);
            errors.push((pos, prefix(msg)));
        }
    }
    if errors.is_empty() {
        Ok(Matcher {
            key: key.to_owned(),
            op,
        })
    } else {
        Err(errors)
    }
}

/// The literals of a matcher value as written, with their positions (a
/// scalar's, or each list item's): what a site check judges.
pub fn literal_positions(value: &Node) -> Vec<(String, Pos)> {
    match &value.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| {
                let text = i.as_scalar_text()?;
                match Op::parse_item(&text) {
                    Ok(Item::Literal(s)) => Some((s, i.pos)),
                    _ => None,
                }
            })
            .collect(),
        _ => value
            .as_scalar_text()
            .and_then(|t| Op::parse(&t).ok())
            .map(|op| {
                op.literals()
                    .into_iter()
                    .map(|s| (s.to_owned(), value.pos))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// "did you mean" for an unknown key, among `known`.
pub fn did_you_mean(key: &str, known: &[&str]) -> String {
    suggest(key, known).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(text: &str) -> Op {
        Op::parse(text).unwrap()
    }

    #[test]
    fn the_five_forms_and_unknown_values() {
        let eq = op("Wifi");
        assert!(eq.matches(Some("Wifi")));
        assert!(!eq.matches(Some("wifi")), "case-sensitive");
        assert!(!eq.matches(None), "unknown fails a positive matcher");

        let re = op("~^Room-");
        assert!(re.matches(Some("Room-4")));
        assert!(!re.matches(Some("My Room-4")));
        assert!(op("~oom").matches(Some("Room-4")), "unanchored");
        assert!(!re.matches(None));

        let ne = op("!Town hall");
        assert!(ne.matches(Some("Board")));
        assert!(!ne.matches(Some("Town hall")));
        assert!(ne.matches(None), "unknown passes a negative matcher");

        let nre = op("!~(?i)all.?hands");
        assert!(nre.matches(Some("Board")));
        assert!(!nre.matches(Some("All Hands")));
        assert!(nre.matches(None));

        let list = Op::AnyOf(vec![
            Op::parse_item("Windows").unwrap(),
            Op::parse_item("~^Mac").unwrap(),
        ]);
        assert!(list.matches(Some("Windows")));
        assert!(list.matches(Some("MacOS")));
        assert!(!list.matches(Some("Linux")));
        assert!(!list.matches(None));
        assert!(Op::parse_item("!x").is_err());
    }

    #[test]
    fn escapes_make_leading_tilde_and_bang_literal() {
        assert!(matches!(op("\\~home"), Op::Equal(s) if s == "~home"));
        assert!(matches!(op("\\!important"), Op::Equal(s) if s == "!important"));
        assert!(matches!(op("!\\~home"), Op::NotEqual(s) if s == "~home"));
        assert!(matches!(op("a\\~b"), Op::Equal(s) if s == "a\\~b"));
        assert!(
            Op::parse("~([a-z")
                .unwrap_err()
                .starts_with("bad regular expression `([a-z`")
        );
    }

    #[test]
    fn several_values_match_by_any_and_negations_by_none() {
        // A meeting is known by its number and its UUID.
        let values = ["85746065432", "/ajXp112=="];
        assert!(op("85746065432").matches_values(&values));
        assert!(op("/ajXp112==").matches_values(&values));
        assert!(!op("!85746065432").matches_values(&values));
        assert!(op("!1").matches_values(&values));
    }

    #[test]
    fn command_line_forms() {
        let m = Matcher::parse_cli("network_type=Wifi").unwrap();
        assert_eq!(m.key, "network_type");
        assert!(matches!(&m.op, Op::Equal(s) if s == "Wifi"));
        let m = Matcher::parse_cli("topic!=Town hall").unwrap();
        assert!(matches!(&m.op, Op::NotEqual(s) if s == "Town hall"));
        let m = Matcher::parse_cli("user_name=~^Room-").unwrap();
        assert!(m.matches(Some("Room-1")) && !m.matches(None));
        let m = Matcher::parse_cli("topic!~(?i)exec").unwrap();
        assert!(m.matches(None) && !m.matches(Some("EXEC sync")));
        // A literal is taken as written: no `~`/`!` meaning after `=`.
        let m = Matcher::parse_cli("pc_name=~x").unwrap();
        assert!(matches!(m.op, Op::Regex(_)));
        let m = Matcher::parse_cli("pc_name=!x").unwrap();
        assert!(matches!(&m.op, Op::Equal(s) if s == "!x"));
        let m = Matcher::parse_cli("topic=\"Town hall\"").unwrap();
        assert!(matches!(&m.op, Op::Equal(s) if s == "Town hall"));
        assert!(Matcher::parse_cli("=x").is_err());
        assert!(Matcher::parse_cli("topic").is_err());
        assert!(Matcher::parse_cli("topic<x").is_err());
        assert!(Matcher::parse_cli("topic=~(").is_err());
        assert_eq!(
            Matcher::parse_cli("topic!~a").unwrap().to_string(),
            "topic!~a"
        );
    }

    #[test]
    fn literals_outside_a_known_value_set_are_refused() {
        let e = check_literal("network_type", "WiFi").unwrap_err();
        assert_eq!(
            e,
            "`WiFi` is never the value of `network_type` (did you mean `Wifi`?); allowed: Wired, Wifi, PPP, Cellular, Others"
        );
        assert!(check_literal("network_type", "Wifi").is_ok());
        assert!(
            check_literal("severity", "critcal")
                .unwrap_err()
                .contains("`critical`")
        );
        assert!(check_literal("kind", "system").is_ok());
        assert!(check_literal("topic", "anything").is_ok());
    }

    #[test]
    fn yaml_values() {
        let root = crate::yaml::parse(
            std::path::Path::new("m.yaml"),
            "a: [Wired, WiFi]\nb: '!Wifi'\nc: []\nd: {x: 1}\ne: 85746065432\n",
        )
        .unwrap();
        let Value::Map(entries) = &root.value else {
            panic!()
        };
        let e = parse_node("network_type", &entries[0].1, "`match.network_type`").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0.line, e[0].0.col), (1, 12));
        assert!(
            e[0].1
                .starts_with("in `match.network_type`: `WiFi` is never"),
            "{}",
            e[0].1
        );
        assert!(parse_node("network_type", &entries[1].1, "`match.x`").is_ok());
        assert!(
            parse_node("network_type", &entries[2].1, "`match.x`").unwrap_err()[0]
                .1
                .contains("empty list")
        );
        assert!(parse_node("topic", &entries[3].1, "`match.x`").is_err());
        let m = parse_node("meeting", &entries[4].1, "`match.x`").unwrap();
        assert!(m.matches(Some("85746065432")));
    }
}
