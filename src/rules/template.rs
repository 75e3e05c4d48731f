//! `summary` templates: checked at load against the variables docs/rules.md
//! allows, so that a typo fails `qoswatch check` instead of a message.

/// Template variables a `summary` may use (plus `labels.NAME` and the
/// participant attributes).
pub const VARIABLES: [&str; 14] = [
    "rule",
    "description",
    "severity",
    "state",
    "metric",
    "value",
    "unit",
    "threshold",
    "at",
    "since",
    "meeting",
    "topic",
    "participant",
    "labels",
];

/// The environment templates are compiled and rendered in.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env
}

/// Checks a template's syntax and variables. The error is a message and the
/// character index in the template where the problem is, when known.
pub fn check(source: &str) -> Result<(), (String, Option<usize>)> {
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
        .filter(|v| !is_allowed(v))
        .collect();
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        let at = find_variable(source, &unknown[0]);
        Err((
            format!(
                "unknown template variable{} {}; known: {}, labels.NAME and the participant attributes",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                VARIABLES.join(", ")
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
    }
}
