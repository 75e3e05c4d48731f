//! YAML documents as a tree of positioned nodes, and the diagnostics that
//! point into them.
//!
//! Rule files, rule tests and the config are read in two steps: serde-saphyr
//! parses the text into a [`Node`] tree in which every key and value keeps its
//! line and column, then hand-written readers turn the tree into typed models,
//! collecting *every* problem as a [`Diagnostic`] instead of stopping at the
//! first. A YAML syntax error is the one error that ends a file.

mod diagnostic;
mod indicators;

use std::fmt;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub use self::diagnostic::{Diagnostic, Diagnostics};
use self::indicators::{orig_col, quote_bare_indicators, unshift};

/// A position in a file: 1-based line and column, counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    /// Byte offset of the node in the source, when known.
    pub byte: Option<usize>,
}

impl Pos {
    /// The same position moved `chars` characters right on its line.
    pub fn right(self, chars: usize) -> Pos {
        Pos {
            line: self.line,
            col: self.col + chars as u32,
            byte: None,
        }
    }
}

/// The largest rule or config file read (4 MiB): far beyond any real one,
/// and `/dev/zero` named as a rule file fails at once.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a rule or config file as UTF-8 text, refusing one over
/// [`MAX_FILE_BYTES`] without reading it whole. `what` names the file's role
/// in messages ("rule file", "config").
pub fn read_limited(path: &Path, what: &str) -> Result<String, Diagnostic> {
    use std::io::Read;
    let fail = |message: String| Diagnostic::new(path, Pos::default(), message);
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read {what}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("{what} exceeds the 4 MiB limit")));
    }
    String::from_utf8(bytes).map_err(|_| fail(format!("{what} is not UTF-8 text")))
}

/// A YAML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// For string scalars written on one line without escapes: the position
    /// of the first character of the text, so that a column inside the
    /// string (an expression error) maps to the file.
    pub text_pos: Option<Pos>,
    /// For other string scalars (block scalars, folded lines, escapes): the
    /// file position of each character of the value, found by aligning the
    /// value with the source.
    pub char_pos: Option<std::sync::Arc<[Pos]>>,
}

impl Node {
    /// A short name of the node's type for messages ("a string", "a list").
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as a string: strings as they are, numbers and booleans as
    /// written (a rule's `meeting: 85746065432` is a string to us).
    pub fn as_scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A list's items, or a lone string as a list of one (`rules: audio-*`
    /// stands for `rules: [audio-*]`); `None` for anything else.
    pub fn one_or_list(&self) -> Option<Vec<&Node>> {
        match &self.value {
            Value::Seq(items) => Some(items.iter().collect()),
            Value::Str(_) => Some(vec![self]),
            _ => None,
        }
    }

    /// The position of character `index` inside this string scalar, when it
    /// can be known exactly; the scalar's own position otherwise.
    pub fn pos_in_text(&self, index: usize) -> Pos {
        match (&self.text_pos, &self.char_pos) {
            (Some(p), _) => p.right(index),
            (None, Some(map)) => map.get(index).or(map.last()).copied().unwrap_or(self.pos),
            (None, None) => self.pos,
        }
    }
}

/// Parses YAML text into a node tree. A syntax error is one diagnostic, and
/// so is the first unquoted value starting with `*` or `!` (see
/// [`parse_all`]).
pub fn parse(path: &Path, source: &str) -> Result<Node, Diagnostic> {
    let (root, mut diags) = parse_all(path, source);
    match root {
        Some(root) if diags.is_empty() => Ok(root),
        _ => Err(diags.remove(0)),
    }
}

/// Parses YAML text into a node tree, for loaders that report every error.
///
/// An unquoted value starting with `*` is a YAML alias (`when:
/// *_input.latency > 150ms` ends the file with "unknown anchor") and one
/// starting with `!` a tag (`topic: !Town hall` would silently read as
/// `hall`). Such a value is reported with the quoting to write, then read
/// as if quoted so that the rest of the file is still checked; the tree is
/// returned with the diagnostics. `None` only for a syntax error.
pub fn parse_all(path: &Path, source: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let (patched, fixes) = quote_bare_indicators(source);
    let mut diags: Vec<Diagnostic> = fixes
        .iter()
        .map(|f| {
            let (what, meaning) = match f.indicator {
                '*' => ("`*`", "a YAML alias"),
                _ => ("`!`", "a YAML tag"),
            };
            let quoted = format!("\"{}\"", f.text.replace('\\', "\\\\").replace('"', "\\\""));
            let example = match &f.key {
                Some(k) => format!("{k}: {quoted}"),
                None => quoted,
            };
            Diagnostic::new(
                path,
                Pos {
                    line: f.line,
                    col: f.orig_col,
                    byte: None,
                },
                format!(
                    "a value starting with {what} must be quoted: write `{example}` (unquoted, {what} starts {meaning})"
                ),
            )
        })
        .collect();
    if fixes.is_empty() {
        return match parse_plain(path, source) {
            Ok(root) => (Some(root), diags),
            Err(d) => (None, vec![d]),
        };
    }
    match parse_plain(path, &patched) {
        Ok(mut root) => {
            unshift(&mut root, &fixes);
            (Some(root), diags)
        }
        Err(mut d) => {
            d.col = orig_col(&fixes, d.line, d.col);
            diags.push(d);
            diags.sort_by_key(|d| (d.line, d.col));
            (None, diags)
        }
    }
}

/// Parses YAML text (already free of bare `*`/`!` values) into a node
/// tree. A syntax error is one diagnostic.
fn parse_plain(path: &Path, source: &str) -> Result<Node, Diagnostic> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<RawNode>>>(source, options) {
        Ok(Some(root)) => Ok(convert(root, source)),
        Ok(None) => Ok(Node {
            value: Value::Null,
            pos: Pos {
                line: 1,
                col: 1,
                byte: Some(0),
            },
            text_pos: None,
            char_pos: None,
        }),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line() as u32,
                    col: l.column() as u32,
                    byte: None,
                })
                .unwrap_or(Pos {
                    line: 1,
                    col: 1,
                    byte: None,
                });
            let message = clean_message(&e.without_snippet().to_string());
            Err(Diagnostic::new(
                path,
                pos,
                format!("invalid YAML: {message}"),
            ))
        }
    }
}

/// The parser's message without its position (we print ours) and without
/// advice meant for programmers using the library.
fn clean_message(message: &str) -> String {
    let mut m = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    for advice in [
        ", set DuplicateKeyPolicy in Options if acceptable",
        "; use from_str_multiple",
        ", use from_str_multiple",
    ] {
        if let Some(i) = m.find(advice) {
            m = &m[..i];
        }
    }
    let m = m.trim_end_matches(['.', ';', ',', ' ']);
    if m.contains("multiple documents") || m.contains("MultipleDocuments") {
        return "more than one YAML document (`---`) in the file; keep one".to_owned();
    }
    m.to_owned()
}

fn convert(node: Spanned<RawNode>, source: &str) -> Node {
    let loc = node.referenced;
    let byte = loc.span().byte_offset().map(|b| b as usize);
    let pos = Pos {
        line: loc.line() as u32,
        col: loc.column() as u32,
        byte,
    };
    let mut text_pos = None;
    let mut char_pos = None;
    let value = match node.value {
        RawNode::Null => Value::Null,
        RawNode::Bool(b) => Value::Bool(b),
        RawNode::Int(i) => Value::Int(i),
        RawNode::Float(f) => Value::Float(f),
        RawNode::Str(s) => {
            text_pos = byte.and_then(|b| text_position(source, b, pos, &s));
            if text_pos.is_none() {
                char_pos = byte.and_then(|b| align(source, b, pos, &s)).map(Into::into);
            }
            Value::Str(s)
        }
        RawNode::Seq(items) => Value::Seq(items.into_iter().map(|n| convert(n, source)).collect()),
        RawNode::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, source), convert(v, source)))
                .collect(),
        ),
    };
    Node {
        value,
        pos,
        text_pos,
        char_pos,
    }
}

/// Maps each character of a scalar's value to its place in the source, for
/// block scalars, folded lines and escapes: each value character is matched
/// to the next equal source character (any whitespace for whitespace),
/// skipping indentation, indicators and escape backslashes.
fn align(source: &str, byte: usize, start: Pos, value: &str) -> Option<Vec<Pos>> {
    const MAX_SKIP: usize = 64;
    let rest = source.get(byte..)?;
    let mut src = rest.chars().peekable();
    let (mut line, mut col) = (start.line, start.col);
    let advance = |c: char, line: &mut u32, col: &mut u32| {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    // Block scalar header (`|`, `>-`, ...): the text starts on the next line.
    if matches!(src.peek(), Some('|' | '>')) {
        for c in src.by_ref() {
            advance(c, &mut line, &mut col);
            if c == '\n' {
                break;
            }
        }
    }
    let double_quoted = src.peek() == Some(&'"');
    let mut out = Vec::with_capacity(value.chars().count());
    for v in value.chars() {
        let mut skipped = 0;
        loop {
            if double_quoted && src.peek() == Some(&'\\') && skipped == 0 {
                // An escape sequence stands for one value character.
                out.push(Pos {
                    line,
                    col,
                    byte: None,
                });
                src.next();
                advance('\\', &mut line, &mut col);
                let len = match src.peek() {
                    Some('x') => 3,
                    Some('u') => 5,
                    Some('U') => 9,
                    _ => 1,
                };
                for _ in 0..len {
                    if let Some(c) = src.next() {
                        advance(c, &mut line, &mut col);
                    }
                }
                break;
            }
            let c = *src.peek()?;
            let matches = if v.is_whitespace() {
                c.is_whitespace()
            } else {
                c == v
            };
            if matches {
                out.push(Pos {
                    line,
                    col,
                    byte: None,
                });
                src.next();
                advance(c, &mut line, &mut col);
                break;
            }
            skipped += 1;
            if skipped > MAX_SKIP {
                return None;
            }
            src.next();
            advance(c, &mut line, &mut col);
        }
    }
    Some(out)
}

/// Where the text of a one-line string scalar starts, if the source holds it
/// verbatim (plain, or quoted without escapes).
fn text_position(source: &str, byte: usize, pos: Pos, text: &str) -> Option<Pos> {
    let rest = source.get(byte..)?;
    if text.contains('\n') {
        return None;
    }
    if rest.starts_with(text) {
        return Some(pos);
    }
    for quote in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(quote)
            && inner.starts_with(text)
            && inner[text.len()..].starts_with(quote)
        {
            return Some(pos.right(1));
        }
    }
    None
}

/// The tree serde-saphyr builds for us.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_none<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
                RawNode::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
                Ok(RawNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map_or(RawNode::Float(v as f64), RawNode::Int))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map_or(RawNode::Float(v as f64), RawNode::Int))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map_or(RawNode::Float(v as f64), RawNode::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
                Ok(RawNode::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
                Ok(RawNode::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
                Ok(RawNode::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(RawNode::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawNode::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a mapping field by field, remembering which keys were used so that
/// the rest can be reported as unknown (the `deny_unknown_fields` of this
/// hand-written reader).
pub struct MapReader<'n> {
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    /// Where the mapping is, for "missing key" errors.
    pub pos: Pos,
}

impl<'n> MapReader<'n> {
    /// A reader over `node`, or an error message if it is not a mapping.
    pub fn new(node: &'n Node, what: &str) -> Result<MapReader<'n>, String> {
        match &node.value {
            Value::Map(entries) => Ok(MapReader {
                entries,
                used: vec![false; entries.len()],
                pos: node.pos,
            }),
            _ => Err(format!("{what} must be a mapping, not {}", node.kind())),
        }
    }

    /// The value of `key`, marking it used.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let entries = self.entries;
        for (i, (k, v)) in entries.iter().enumerate() {
            if matches!(&k.value, Value::Str(s) if s == key) {
                self.used[i] = true;
                return Some(v);
            }
        }
        None
    }

    /// The key node of `key`, for positions.
    pub fn key_node(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .map(|(k, _)| k)
            .find(|k| matches!(&k.value, Value::Str(s) if s == key))
    }

    /// Keys never asked for: `(key node, key text)`.
    pub fn unknown(&self) -> impl Iterator<Item = (&'n Node, String)> + '_ {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| {
                let text = k.as_scalar_text().unwrap_or_else(|| k.kind().to_owned());
                (k, text)
            })
    }

    /// All entries, for free-form mappings (labels, match).
    pub fn entries(&mut self) -> &'n [(Node, Node)] {
        self.used.iter_mut().for_each(|u| *u = true);
        self.entries
    }
}

/// "did you mean" for a misspelt key, from `known`.
pub fn suggest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_characters_and_track_quotes() {
        let src = "a:\n  - name: \"héllo\"\t# tab\n    when: 'x > 1' \n    n: 3\n    y: yes\n";
        let root = parse(Path::new("f.yaml"), src).unwrap();
        let Value::Map(top) = &root.value else {
            panic!()
        };
        let Value::Seq(items) = &top[0].1.value else {
            panic!()
        };
        let mut m = MapReader::new(&items[0], "rule").unwrap();
        let name = m.get("name").unwrap();
        assert_eq!((name.pos.line, name.pos.col), (2, 11));
        assert_eq!(name.text_pos.map(|p| p.col), Some(12));
        let when = m.get("when").unwrap();
        assert_eq!(when.pos_in_text(4).col, 16);
        assert_eq!(m.get("n").unwrap().value, Value::Int(3));
        // YAML 1.2: `yes` is a string, `n`/`y` are keys, not booleans.
        assert_eq!(m.get("y").unwrap().value, Value::Str("yes".into()));
        assert_eq!(m.unknown().count(), 0);
    }

    #[test]
    fn positions_inside_multiline_and_escaped_strings() {
        let src =
            "a: >-\n  one two\n  three\nb: |\n  x\n  yz\nc: first\n  second\nd: \"t\\tab end\"\n";
        let root = parse(Path::new("f.yaml"), src).unwrap();
        let mut m = MapReader::new(&root, "t").unwrap();
        let a = m.get("a").unwrap();
        assert_eq!(a.value, Value::Str("one two three".into()));
        let p = a.pos_in_text(8); // "three"
        assert_eq!((p.line, p.col), (3, 3));
        let b = m.get("b").unwrap();
        let p = b.pos_in_text(3); // "z"
        assert_eq!((p.line, p.col), (6, 4));
        let c = m.get("c").unwrap();
        let p = c.pos_in_text(6); // "second"
        assert_eq!((p.line, p.col), (8, 3));
        let d = m.get("d").unwrap();
        let p = d.pos_in_text(5); // "end"
        assert_eq!((p.line, p.col), (9, 11));
    }

    #[test]
    fn syntax_errors_and_duplicates_have_positions() {
        let e = parse(Path::new("r.yaml"), "rules:\n  - name: a\n    name: b\n").unwrap_err();
        assert_eq!((e.line, e.col), (3, 5));
        assert!(e.message.contains("duplicate"), "{}", e.message);
        let e = parse(Path::new("r.yaml"), "rules:\n  - when: [x\n  - name: b\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("r.yaml:3:"), "{e}");
    }

    #[test]
    fn bare_alias_and_tag_values_are_reported_and_the_rest_still_read() {
        let src = "a: *_input.latency > 150ms  # note\nb: {x: !Mac, y: [1, !~Win]}\nc: |\n  k: *kept\nd: &anchor v\ne: *anchor\nf: !!str 3\ng: a long\n  *plain* text\n";
        let (root, diags) = parse_all(Path::new("f.yaml"), src);
        let msgs: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "f.yaml:1:4: error: a value starting with `*` must be quoted: write `a: \"*_input.latency > 150ms\"` (unquoted, `*` starts a YAML alias)",
                "f.yaml:2:8: error: a value starting with `!` must be quoted: write `x: \"!Mac\"` (unquoted, `!` starts a YAML tag)",
                "f.yaml:2:21: error: a value starting with `!` must be quoted: write `y: \"!~Win\"` (unquoted, `!` starts a YAML tag)",
            ]
        );
        let root = root.unwrap();
        let mut m = MapReader::new(&root, "t").unwrap();
        let a = m.get("a").unwrap();
        assert_eq!(a.value, Value::Str("*_input.latency > 150ms".into()));
        assert_eq!(
            a.pos_in_text(18).col,
            22,
            "columns inside the value are the source's"
        );
        let b = m.get("b").unwrap();
        let Value::Map(entries) = &b.value else {
            panic!()
        };
        assert_eq!(
            entries[1].0.pos.col, 14,
            "nodes after a quoted value keep their columns"
        );
        assert_eq!(m.get("c").unwrap().value, Value::Str("k: *kept\n".into()));
        assert_eq!(
            m.get("e").unwrap().value,
            Value::Str("v".into()),
            "a real alias"
        );
        assert_eq!(m.get("f").unwrap().value, Value::Str("3".into()));
        assert_eq!(
            m.get("g").unwrap().value,
            Value::Str("a long *plain* text".into()),
            "a continuation line is no value start"
        );
        // `parse` reports the first.
        assert_eq!(parse(Path::new("f.yaml"), src).unwrap_err().line, 1);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("severty", &["severity", "summary"]),
            Some("severity")
        );
        assert_eq!(suggest("zzz", &["severity"]), None);
    }

    #[test]
    fn oversized_files_are_refused_without_reading_them_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        let e = read_limited(&big, "rule file").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1:1: error: rule file exceeds the 4 MiB limit",
                big.display()
            )
        );
        if std::path::Path::new("/dev/zero").exists() {
            let e = read_limited(std::path::Path::new("/dev/zero"), "rule file").unwrap_err();
            assert!(e.to_string().contains("4 MiB"), "{e}");
        }
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, "rules: []\n").unwrap();
        assert_eq!(read_limited(&ok, "rule file").unwrap(), "rules: []\n");
    }
}
