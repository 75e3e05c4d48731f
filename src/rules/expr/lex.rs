//! The condition language's tokens: metrics, operators, quantities with
//! their units, `and`/`or`/`not` and parentheses, each with its position.

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokenKind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Op(Op),
    Word(String),
    Quantity(String),
}

impl TokenKind {
    pub(super) fn describe(&self) -> String {
        match self {
            TokenKind::LParen => "`(`".into(),
            TokenKind::RParen => "`)`".into(),
            TokenKind::And => "`and`".into(),
            TokenKind::Or => "`or`".into(),
            TokenKind::Not => "`not`".into(),
            TokenKind::Op(op) => format!("`{op}`"),
            TokenKind::Word(w) => format!("`{w}`"),
            TokenKind::Quantity(q) => format!("`{q}`"),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    /// Character offset.
    pub(super) offset: usize,
}

pub(super) fn lex(source: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |offset, message: String| Err(ExprError { offset, message });
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = match c {
            '(' => {
                i += 1;
                TokenKind::LParen
            }
            ')' => {
                i += 1;
                TokenKind::RParen
            }
            '>' | '<' | '=' | '!' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('>', _) => (Op::Gt, 1),
                    ('<', _) => (Op::Lt, 1),
                    // `=>` and `=<` are `>=` and `<=` written backwards.
                    ('=', Some('>')) => {
                        return err(start, "`=>` is not an operator; use `>=`".into());
                    }
                    ('=', Some('<')) => {
                        return err(start, "`=<` is not an operator; use `<=`".into());
                    }
                    ('=', _) => return err(start, "`=` is not an operator; use `==`".into()),
                    _ => return err(start, "`!` is not an operator; use `not` or `!=`".into()),
                };
                i += len;
                TokenKind::Op(op)
            }
            '&' | '|' => {
                let word = if c == '&' { "and" } else { "or" };
                return err(start, format!("`{c}` is not an operator; use `{word}`"));
            }
            c if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        Some(d) if d.is_ascii_digit() || *d == '.' || *d == ',' => i += 1,
                        // An exponent only when digits follow (`1e3`, `1e-3`),
                        // so that `1 ms` and units starting with e stay units.
                        Some('e' | 'E') => {
                            let sign = matches!(chars.get(i + 1), Some('-' | '+'));
                            let digit_at = if sign { i + 2 } else { i + 1 };
                            if chars.get(digit_at).is_some_and(char::is_ascii_digit) {
                                i = digit_at + 1;
                            } else {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                // An optional unit, directly or after spaces, unless the
                // word after the spaces is a keyword.
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                let unit_start = j;
                while j < chars.len() && (chars[j].is_ascii_alphabetic() || chars[j] == '%') {
                    j += 1;
                }
                let unit: String = chars[unit_start..j].iter().collect();
                let mut text: String = chars[start..i].iter().collect();
                if !unit.is_empty() && !matches!(unit.as_str(), "and" | "or" | "not") {
                    text.push_str(&unit);
                    i = j;
                }
                TokenKind::Quantity(text)
            }
            c if c.is_alphanumeric() || c == '_' || c == '*' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || chars[i] == '_'
                        || chars[i] == '*'
                        || chars[i] == '.')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.as_str() {
                    "and" => TokenKind::And,
                    "or" => TokenKind::Or,
                    "not" => TokenKind::Not,
                    _ => TokenKind::Word(word),
                }
            }
            other => return err(start, format!("unexpected character `{other}`")),
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    Ok(tokens)
}

// ---- parser -----------------------------------------------------------------
