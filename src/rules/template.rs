//! Templates (`summary`, `resolved_summary`, `runbook`, config `links`):
//! checked at load against the variables docs/rules.md allows, so that a
//! typo fails `qoswatch check` instead of a message; rendered with every
//! interpolated value marked, so each channel escapes the values (and only
//! them) for its markup, and a value enters a URL only percent-encoded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Template variables (plus `labels.NAME` and the participant attributes).
pub const VARIABLES: [&str; 19] = [
    "rule",
    "description",
    "severity",
    "state",
    "reason",
    "metric",
    "value",
    "unit",
    "threshold",
    "at",
    "since",
    "duration",
    "meeting",
    "meeting_id",
    "meeting_uuid",
    "topic",
    "participant",
    "site",
    "labels",
];

/// Marks the start and the end of an interpolated value in rendered text
/// (private-use characters, removed from the values themselves).
pub const VALUE_START: char = '\u{E000}';
pub const VALUE_END: char = '\u{E001}';

/// What `urlencode` leaves as is: RFC 3986's unreserved characters.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `s` for any part of a URL.
pub fn urlencode(s: &str) -> String {
    utf8_percent_encode(s, URL_KEEP).to_string()
}

/// How a template's output is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Text in a message: values are marked ([`VALUE_START`], [`VALUE_END`]).
    Text,
    /// A URL: values are percent-encoded unless they came through
    /// `urlencode`.
    Url,
}

/// The environment templates are compiled and rendered in: undefined
/// values render empty, `urlencode` is a filter, and values are marked or
/// encoded by the template's [`Kind`] (its name starts with `url#` for a URL).
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_filter("urlencode", |v: minijinja::Value| {
        let text = match v.as_str() {
            Some(s) => s.to_owned(),
            None if v.is_undefined() || v.is_none() => String::new(),
            None => v.to_string(),
        };
        minijinja::Value::from_safe_string(urlencode(&text))
    });
    env.set_formatter(|out, state, value| {
        if value.is_undefined() || value.is_none() {
            return Ok(());
        }
        let text = value.to_string();
        if state.name().starts_with("url#") {
            if value.is_safe() {
                out.write_str(&text)?;
            } else {
                out.write_str(&urlencode(&text))?;
            }
        } else {
            let clean: String = text
                .chars()
                .filter(|c| *c != VALUE_START && *c != VALUE_END)
                .collect();
            write!(out, "{VALUE_START}{clean}{VALUE_END}")?;
        }
        Ok(())
    });
    env
}

/// Renders `source` with `ctx`, compiled once per distinct source (a rule
/// pack renders the same few templates for every alert).
pub fn render(
    source: &str,
    kind: Kind,
    ctx: &BTreeMap<&str, minijinja::Value>,
) -> Result<String, minijinja::Error> {
    struct Cache {
        env: minijinja::Environment<'static>,
        names: HashMap<(String, Kind), String>,
    }
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| {
        Mutex::new(Cache {
            env: environment(),
            names: HashMap::new(),
        })
    });
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (source.to_owned(), kind);
    let name = match cache.names.get(&key) {
        Some(name) => name.clone(),
        None => {
            // Reloads can bring new sources; start afresh now and then.
            if cache.names.len() >= 1000 {
                cache.env = environment();
                cache.names.clear();
            }
            let prefix = match kind {
                Kind::Text => "text",
                Kind::Url => "url",
            };
            let name = format!("{prefix}#{}", cache.names.len() + 1);
            cache
                .env
                .add_template_owned(name.clone(), source.to_owned())?;
            cache.names.insert(key, name.clone());
            name
        }
    };
    cache.env.get_template(&name)?.render(ctx)
}

/// Rendered text split into literal parts (`false`) and interpolated
/// values (`true`).
pub fn parts(marked: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = marked;
    while let Some(i) = rest.find(VALUE_START) {
        if i > 0 {
            out.push((false, rest[..i].to_owned()));
        }
        let after = &rest[i + VALUE_START.len_utf8()..];
        let end = after.find(VALUE_END).unwrap_or(after.len());
        out.push((true, after[..end].to_owned()));
        rest = after.get(end + VALUE_END.len_utf8()..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push((false, rest.to_owned()));
    }
    out
}

/// Joins parts, escaping the values with `escape` and leaving the literal
/// text as the template's author wrote it.
pub fn join_escaped(parts: &[(bool, String)], escape: impl Fn(&str) -> String) -> String {
    parts
        .iter()
        .map(|(value, text)| if *value { escape(text) } else { text.clone() })
        .collect()
}

/// Checks a template's syntax and variables. The error is a message and the
/// character index in the template where the problem is, when known.
pub fn check(source: &str) -> Result<(), (String, Option<usize>)> {
    check_names(
        source,
        &is_allowed,
        &format!(
            "{}, labels.NAME and the participant attributes",
            VARIABLES.join(", ")
        ),
    )
}

/// Variables of an incident's templates (SPEC 12); the meeting ones only
/// for scope `meeting`.
pub const INCIDENT_VARIABLES: [&str; 13] = [
    "rule",
    "description",
    "severity",
    "state",
    "scope",
    "scope_value",
    "affected",
    "population",
    "peak",
    "duration",
    "since",
    "labels",
    "shared",
];

/// The meeting variables an incident of scope `meeting` adds.
pub const INCIDENT_MEETING_VARIABLES: [&str; 4] =
    ["meeting", "meeting_id", "meeting_uuid", "topic"];

/// Checks an incident template: syntax, and only the incident variables
/// (the meeting ones when `meeting_scope`).
pub fn check_incident(source: &str, meeting_scope: bool) -> Result<(), (String, Option<usize>)> {
    let mut known: Vec<&str> = INCIDENT_VARIABLES.to_vec();
    if meeting_scope {
        known.extend(INCIDENT_MEETING_VARIABLES);
    }
    let list = format!("{}, labels.NAME and shared.NAME", known.join(", "));
    let note = if meeting_scope {
        String::new()
    } else {
        " (meeting, meeting_id, meeting_uuid and topic only for `scope: meeting`)".to_owned()
    };
    check_names(source, &|v| known.contains(&v), &format!("{list}{note}"))
}

fn check_names(
    source: &str,
    allowed: &dyn Fn(&str) -> bool,
    known: &str,
) -> Result<(), (String, Option<usize>)> {
    let env = environment();
    let template = env.template_from_str(source).map_err(|e| {
        (
            format!("invalid template: {}", e.detail().unwrap_or(&e.to_string())),
            e.line().map(|l| line_start(source, l)),
        )
    })?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !allowed(v))
        .collect();
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        let at = find_variable(source, &unknown[0]);
        Err((
            format!(
                "unknown template variable{} {}; known: {known}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            at,
        ))
    }
}

/// Character index of the start of 1-based `line`.
fn line_start(source: &str, line: usize) -> usize {
    source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count())
        .sum()
}

/// Character index of the first use of variable `name` inside `{{ }}` or
/// `{% %}`, as a whole word.
fn find_variable(source: &str, name: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(i) = source[from..].find(name).map(|i| i + from) {
        let end = i + name.len();
        let before_ok = i == 0 || !is_word(bytes[i - 1]) && bytes[i - 1] != b'.';
        let after_ok = end >= bytes.len() || !is_word(bytes[end]);
        let inside = source[..i].rfind("{{").max(source[..i].rfind("{%"))
            > source[..i].rfind("}}").max(source[..i].rfind("%}"));
        if before_ok && after_ok && inside {
            return Some(source[..i].chars().count());
        }
        from = end;
    }
    None
}

fn is_allowed(name: &str) -> bool {
    VARIABLES.contains(&name) || crate::qos::ATTRIBUTE_NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_checked() {
        assert!(
            check(
                "{{ user_name }}: {{ metric }} {{ value | round(1) }} {{ unit }} {{ labels.team }}"
            )
            .is_ok()
        );
        let (msg, _) = check("{{ user }} {{ valeu }}").unwrap_err();
        assert!(msg.contains("`user`, `valeu`"), "{msg}");
        assert!(check("{{ unclosed").is_err());
        assert!(check("{% for x in labels %}{{ x }}{% endfor %}").is_ok());
        assert!(check("{{ reason }} {{ duration }} {{ meeting_id }} {{ meeting_uuid | urlencode }} {{ site }}").is_ok());
    }

    #[test]
    fn values_are_marked_in_text_and_encoded_in_urls() {
        let mut ctx = BTreeMap::new();
        ctx.insert("user_name", minijinja::Value::from("Carol <CFO> & Co"));
        ctx.insert("meeting_uuid", minijinja::Value::from("/ab+c=="));
        let text = render("*{{ user_name }}* is {{ missing }}here", Kind::Text, &ctx).unwrap();
        assert_eq!(
            parts(&text),
            [
                (false, "*".to_owned()),
                (true, "Carol <CFO> & Co".to_owned()),
                (false, "* is here".to_owned()),
            ]
        );
        assert_eq!(
            join_escaped(&parts(&text), |s| s.replace('<', "&lt;")),
            "*Carol &lt;CFO> & Co* is here"
        );
        let url = render(
            "https://z.example/m/{{ meeting_uuid | urlencode }}?who={{ user_name }}",
            Kind::Url,
            &ctx,
        )
        .unwrap();
        assert_eq!(
            url,
            "https://z.example/m/%2Fab%2Bc%3D%3D?who=Carol%20%3CCFO%3E%20%26%20Co"
        );
    }
}
