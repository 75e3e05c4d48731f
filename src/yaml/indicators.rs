//! Unquoted values starting with `*` (an alias) or `!` (a tag): quoted
//! before the text is parsed, so the rest of the file is still read, and
//! the tree's positions moved back to the source's after.

use super::{Node, Pos, Value};

/// An unquoted `*`/`!` value that [`quote_bare_indicators`] quoted.
pub(super) struct Fix {
    pub(super) line: u32,
    /// Columns of the added quotes in the patched line.
    open_col: u32,
    close_col: u32,
    /// Column of the indicator in the source.
    pub(super) orig_col: u32,
    pub(super) indicator: char,
    pub(super) text: String,
    /// The mapping key the value belongs to, for the message.
    pub(super) key: Option<String>,
}

/// The source column of a column of the patched text.
pub(super) fn orig_col(fixes: &[Fix], line: u32, col: u32) -> u32 {
    let before = fixes
        .iter()
        .filter(|f| f.line == line && f.close_col < col)
        .count() as u32;
    let inside = fixes
        .iter()
        .any(|f| f.line == line && f.open_col < col && col <= f.close_col);
    col - 2 * before - u32::from(inside)
}

/// Moves the positions of a tree parsed from the patched text back to the
/// source's, and places the text of each quoted value where it was written.
pub(super) fn unshift(node: &mut Node, fixes: &[Fix]) {
    let fix_pos = |p: &mut Pos| {
        let col = orig_col(fixes, p.line, p.col);
        if col != p.col {
            p.col = col;
            p.byte = None;
        }
    };
    if let Some(f) = fixes
        .iter()
        .find(|f| f.line == node.pos.line && f.open_col == node.pos.col)
    {
        node.pos.col = f.orig_col;
        node.pos.byte = None;
        node.char_pos = None;
        node.text_pos = (!f.text.contains(['\\', '"'])).then_some(node.pos);
    } else {
        fix_pos(&mut node.pos);
        if let Some(p) = &mut node.text_pos {
            fix_pos(p);
        }
        if let Some(map) = &node.char_pos {
            let mut map: Vec<Pos> = map.to_vec();
            map.iter_mut().for_each(fix_pos);
            node.char_pos = Some(map.into());
        }
    }
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| unshift(n, fixes)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            unshift(k, fixes);
            unshift(v, fixes);
        }),
        _ => {}
    }
}

/// Quotes plain values that start with `*` (an alias to an anchor the file
/// does not define) or `!` (a tag; `!!` standard tags are left alone): the
/// value runs to the end of the line (before a comment), or in a flow
/// collection to the next `,`, `]` or `}`. Block scalars are skipped.
pub(super) fn quote_bare_indicators(source: &str) -> (String, Vec<Fix>) {
    let mut out = String::with_capacity(source.len() + 8);
    let mut fixes = Vec::new();
    let mut depth: usize = 0;
    // Inside a block scalar: lines more indented than this one.
    let mut block_indent: Option<usize> = None;
    for (line_no, line) in source.split_inclusive('\n').enumerate() {
        let line_no = line_no as u32 + 1;
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(b) = block_indent {
            if line.trim().is_empty() || indent > b {
                out.push_str(line);
                continue;
            }
            block_indent = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut patched = String::with_capacity(line.len() + 4);
        let mut quote: Option<char> = None;
        // A node may start at the next non-space character.
        let mut node_start = true;
        // At the start of a block line only a key or `- ` can begin; a `*`
        // or `!` there continues a multi-line scalar and is left alone.
        let mut value_start = depth > 0;
        let mut key: Option<String> = None;
        let mut token_start = 0;
        let mut added = 0u32;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if let Some(q) = quote {
                patched.push(c);
                if c == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
                patched.push(c);
                i += 1;
                continue;
            }
            if c == '#' && (i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t') {
                patched.extend(&chars[i..]);
                break;
            }
            let at_start = node_start;
            let at_value = at_start && value_start;
            node_start = false;
            value_start = false;
            if at_start {
                token_start = i;
                match c {
                    '-' if matches!(chars.get(i + 1), Some(' ' | '\n' | '\r') | None) => {
                        node_start = true;
                        value_start = true;
                    }
                    '|' | '>' if depth == 0 => block_indent = Some(indent),
                    '*' | '!' if at_value => {
                        let next = chars.get(i + 1).copied();
                        let name: String = chars[i + 1..]
                            .iter()
                            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(**c))
                            .collect();
                        let bare = match c {
                            '*' => !name.is_empty() && !source.contains(&format!("&{name}")),
                            _ => !matches!(next, Some('!' | ' ' | '\t' | '\r' | '\n') | None),
                        };
                        if bare {
                            let mut end = i;
                            while end < chars.len() {
                                let e = chars[end];
                                if e == '\n' || e == '\r' {
                                    break;
                                }
                                if depth > 0 && ",]}".contains(e) {
                                    break;
                                }
                                if e == '#' && end > i && chars[end - 1] == ' ' {
                                    break;
                                }
                                end += 1;
                            }
                            let text: String = chars[i..end].iter().collect();
                            let text = text.trim_end().to_owned();
                            let len = text.chars().count();
                            let open_col = i as u32 + 1 + added;
                            patched.push('"');
                            patched.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                            patched.push('"');
                            let escapes = text.matches(['\\', '"']).count() as u32;
                            fixes.push(Fix {
                                line: line_no,
                                open_col,
                                close_col: open_col + len as u32 + 1 + escapes,
                                orig_col: i as u32 + 1,
                                indicator: c,
                                text,
                                key: key.clone(),
                            });
                            added += 2 + escapes;
                            i += len;
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            match c {
                '"' | '\'' if at_start => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    node_start = true;
                    value_start = true;
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                ',' if depth > 0 => {
                    node_start = true;
                    value_start = true;
                }
                ':' if matches!(chars.get(i + 1), Some(' ' | '\t' | '\n' | '\r') | None) => {
                    let k: String = chars[token_start..i].iter().collect();
                    key = Some(k.trim().trim_matches(['"', '\'']).to_owned());
                    node_start = true;
                    value_start = true;
                }
                _ => {}
            }
            patched.push(c);
            i += 1;
        }
        out.push_str(&patched);
    }
    (out, fixes)
}
