//! `${VAR}` and `${VAR:-default}` in the config text, replaced from the
//! environment before parsing.

use std::path::Path;

use super::{EnvMode, UNSET_MARK};
use crate::yaml::{self, Diagnostic};

/// Replaces `${VAR}` and `${VAR:-default}` outside comments; `$$` is a
/// literal `$`.
pub fn interpolate(
    path: &Path,
    text: &str,
    mode: EnvMode,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut diags = Vec::new();
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let (mut in_single, mut in_double) = (false, false);
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\'' if !in_double => in_single = !in_single,
                '"' if !in_single => in_double = !in_double,
                '#' if !in_single && !in_double && (i == 0 || chars[i - 1].is_whitespace()) => {
                    out.extend(&chars[i..]);
                    break;
                }
                '$' if chars.get(i + 1) == Some(&'$') => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                '$' if chars.get(i + 1) == Some(&'{') => {
                    let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                        diags.push(Diagnostic::new(
                            path,
                            yaml::Pos { line: line_no as u32 + 1, col: i as u32 + 1, byte: None },
                            "unclosed `${`: write ${VAR} or ${VAR:-default} (and $$ for a literal $)",
                        ));
                        out.extend(&chars[i..]);
                        break;
                    };
                    let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                    let (name, default) = match inner.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner.as_str(), None),
                    };
                    let pos = yaml::Pos {
                        line: line_no as u32 + 1,
                        col: i as u32 + 1,
                        byte: None,
                    };
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit());
                    if !valid {
                        diags.push(Diagnostic::new(
                            path,
                            pos,
                            format!("bad variable name `{name}` in `${{{inner}}}`"),
                        ));
                    } else {
                        match (env(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                            (Some(v), _) => out.push_str(&v),
                            (None, Some(d)) => out.push_str(d),
                            (None, None) => match mode {
                                EnvMode::Strict => diags.push(Diagnostic::new(
                                    path,
                                    pos,
                                    format!("environment variable `{name}` is not set (use ${{{name}:-default}} for a default)"),
                                )),
                                EnvMode::Lenient => {
                                    out.push_str(UNSET_MARK);
                                    out.push_str(name);
                                }
                            },
                        }
                    }
                    i += close + 3;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            i += 1;
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}
