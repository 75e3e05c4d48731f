//! `summary` templates: checked at load against the variables SPEC section 4
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
/// 1-based line inside the template, when known.
pub fn check(source: &str) -> Result<(), (String, Option<usize>)> {
    let env = environment();
    let template = env.template_from_str(source).map_err(|e| {
        (
            format!("invalid template: {}", e.detail().unwrap_or(&e.to_string())),
            e.line(),
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
            None,
        ))
    }
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
