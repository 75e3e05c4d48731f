//! The YAML examples of the documentation load with the real loaders.
//!
//! Every fenced block of `docs/*.md` and `README.md` whose info string starts
//! with `yaml rules`, `yaml config` or `yaml test` is checked:
//!
//! - `yaml rules`: a complete rule file, loaded with `rules::load_str`;
//! - `yaml config`: a complete config, loaded with `Config::from_str` in
//!   lenient mode (no environment needed);
//! - `yaml test`: a complete rule-test file, run with `qoswatch test` in a
//!   temporary directory laid out like a checkout (`rules/` holds a copy of
//!   the default rule pack; the test goes to `rules/tests/`).
//!
//! An optional `file=PATH` after the kind names where the block is written
//! in that directory: a `yaml rules file=team/rooms.yaml` block is written
//! there for the `yaml test` blocks of the same document, and a
//! `yaml test file=team/tests/rooms.yaml` block is run from that path, so its
//! `rule_files` can point at `../rooms.yaml`. Plain `yaml` blocks are
//! fragments and are not checked.

mod kit;

use std::path::{Component, Path};

use kit::config::write_file;
use qoswatch::config::{Config, EnvMode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rules,
    Config,
    Test,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Rules => "yaml rules",
            Kind::Config => "yaml config",
            Kind::Test => "yaml test",
        }
    }
}

/// One tagged block of a document.
#[derive(Debug)]
struct Block {
    /// The document, relative to the crate root (`docs/rules.md`).
    doc: String,
    /// 1-based line of the opening fence.
    line: usize,
    kind: Kind,
    /// `file=PATH`, relative to the test directory.
    file: Option<String>,
    text: String,
}

impl Block {
    /// `docs/rules.md:120`, for messages and as the diagnostic path.
    fn site(&self) -> String {
        format!("{}:{}", self.doc, self.line)
    }
}

/// `docs/*.md` by name, then `README.md`, relative to the crate root.
fn documents() -> Vec<String> {
    let mut docs: Vec<String> = std::fs::read_dir(kit::root().join("docs"))
        .expect("docs/ exists")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "no docs/*.md found");
    docs.push("README.md".to_owned());
    docs
}

/// A `file=` path: relative, and never climbing out of the test directory.
fn check_file_attr(site: &str, path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{site}: `file={path}` must be a relative path without `..`"
        ))
    }
}

/// The tagged blocks of one document. Malformed tags (`yaml rule`, an
/// unknown attribute) and unclosed fences are errors, so that no example is
/// skipped silently.
fn parse_blocks(doc: &str, text: &str) -> Result<Vec<Block>, Vec<String>> {
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start_matches(' ').len();
        let trimmed = &line[indent..];
        let ticks = trimmed.chars().take_while(|c| *c == '`').count();
        if ticks < 3 {
            i += 1;
            continue;
        }
        let fence = &trimmed[..ticks];
        let info = trimmed[ticks..].trim();
        let open_line = i + 1;
        let site = format!("{doc}:{open_line}");
        // Find the closing fence.
        let mut body = Vec::new();
        let mut closed = false;
        i += 1;
        while i < lines.len() {
            let l = lines[i];
            let t = l.trim_start_matches(' ');
            if t.starts_with(fence) && t[fence.len()..].trim().is_empty() {
                closed = true;
                i += 1;
                break;
            }
            // Drop the fence's indentation from the content.
            let strip = (l.len() - t.len()).min(indent);
            body.push(&l[strip..]);
            i += 1;
        }
        if !closed {
            errors.push(format!("{site}: code block is never closed"));
            break;
        }
        let words: Vec<&str> = info.split_whitespace().collect();
        if words.first() != Some(&"yaml") || words.len() < 2 {
            continue;
        }
        let kind = match words[1] {
            "rules" => Kind::Rules,
            "config" => Kind::Config,
            "test" => Kind::Test,
            other => {
                errors.push(format!(
                    "{site}: unknown block kind `yaml {other}`: use `yaml rules`, `yaml config`, `yaml test`, or plain `yaml` for a fragment"
                ));
                continue;
            }
        };
        let mut file = None;
        for attr in &words[2..] {
            match attr.strip_prefix("file=") {
                Some(path) => match check_file_attr(&site, path) {
                    Ok(()) => file = Some(path.to_owned()),
                    Err(e) => errors.push(e),
                },
                None => errors.push(format!(
                    "{site}: unknown attribute `{attr}` in `{info}`; only `file=PATH` is known"
                )),
            }
        }
        if kind == Kind::Config && file.is_some() {
            errors.push(format!(
                "{site}: `file=` is for `yaml rules` and `yaml test` blocks"
            ));
        }
        let mut text = body.join("\n");
        text.push('\n');
        blocks.push(Block {
            doc: doc.to_owned(),
            line: open_line,
            kind,
            file,
            text,
        });
    }
    if errors.is_empty() {
        Ok(blocks)
    } else {
        Err(errors)
    }
}

/// Every tagged block of every document; panics on malformed documents.
fn all_blocks() -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(kit::root().join(&doc))
            .unwrap_or_else(|e| panic!("cannot read {doc}: {e}"));
        match parse_blocks(&doc, &text) {
            Ok(b) => blocks.extend(b),
            Err(e) => errors.extend(e),
        }
    }
    assert!(errors.is_empty(), "malformed docs:\n{}", errors.join("\n"));
    blocks
}

fn of_kind(blocks: &[Block], kind: Kind) -> Vec<&Block> {
    let found: Vec<&Block> = blocks.iter().filter(|b| b.kind == kind).collect();
    assert!(
        !found.is_empty(),
        "no `{}` block found in docs/*.md or README.md: the check would pass vacuously",
        kind.tag()
    );
    found
}

/// Fails with every broken block, each with its document and line.
fn report(kind: Kind, checked: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {checked} `{}` blocks {}:\n\n{}",
        failures.len(),
        kind.tag(),
        if kind == Kind::Test {
            "fail"
        } else {
            "do not load"
        },
        failures.join("\n\n")
    );
}

/// The diagnostics of a block, placed in its document: `docs/rules.md:123:9: error: ...`.
fn placed(b: &Block, diags: &qoswatch::yaml::Diagnostics) -> String {
    diags
        .0
        .iter()
        .map(|d| {
            format!(
                "    {}:{}:{}: error: {}",
                b.doc,
                b.line + d.line as usize,
                d.col,
                d.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rule_examples_load() {
    let blocks = all_blocks();
    let rules = of_kind(&blocks, Kind::Rules);
    let mut failures = Vec::new();
    for b in &rules {
        if let Err(diags) = qoswatch::rules::load_str(Path::new(&b.doc), &b.text) {
            failures.push(format!(
                "{}: `yaml rules` block does not load:\n{}",
                b.site(),
                placed(b, &diags)
            ));
        }
    }
    report(Kind::Rules, rules.len(), failures);
}

#[test]
fn config_examples_load() {
    let blocks = all_blocks();
    let configs = of_kind(&blocks, Kind::Config);
    let mut failures = Vec::new();
    for b in &configs {
        if let Err(diags) =
            Config::from_str(Path::new(&b.doc), &b.text, EnvMode::Lenient, &|_| None)
        {
            failures.push(format!(
                "{}: `yaml config` block does not load:\n{}",
                b.site(),
                placed(b, &diags)
            ));
        }
    }
    report(Kind::Config, configs.len(), failures);
}

/// A temporary directory with `rules/` holding a copy of the default pack.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("tests")).unwrap();
    for entry in std::fs::read_dir(kit::root().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if path.is_file() && is_yaml {
            std::fs::copy(&path, rules.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn rule_test_examples_pass() {
    let blocks = all_blocks();
    let tests = of_kind(&blocks, Kind::Test);
    let mut failures = Vec::new();
    for b in &tests {
        let dir = checkout();
        // The named rule files of the same document.
        for r in blocks
            .iter()
            .filter(|r| r.kind == Kind::Rules && r.doc == b.doc)
        {
            if let Some(file) = &r.file {
                assert!(
                    !Path::new(file).starts_with("rules"),
                    "{}: `file={file}` would mix with the default rule pack copied to rules/; use another folder",
                    r.site()
                );
                write_file(dir.path(), file, &r.text);
            }
        }
        let rel = b
            .file
            .clone()
            .unwrap_or_else(|| format!("rules/tests/doc-{}.yaml", b.line));
        write_file(dir.path(), &rel, &b.text);
        let output = kit::process::qoswatch()
            .arg("test")
            .arg(&rel)
            .current_dir(dir.path())
            .output()
            .expect("qoswatch runs");
        if output.status.code() != Some(0) {
            let mut shown = indent(&String::from_utf8_lossy(&output.stdout));
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !stderr.trim().is_empty() {
                shown.push('\n');
                shown.push_str(&indent(&stderr));
            }
            failures.push(format!(
                "{}: `yaml test` block fails (`qoswatch test {rel}` exited {:?}):\n{shown}",
                b.site(),
                output.status.code(),
            ));
        }
    }
    report(Kind::Test, tests.len(), failures);
}

#[test]
fn block_parser_finds_tags_lines_and_attributes() {
    let doc = "intro\n```yaml rules file=a/b.yaml\nrules: []\n```\n\n```yaml\nx: 1\n```\n  ```yaml config\n  replay: x\n  ```\n";
    let blocks = parse_blocks("d.md", doc).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].kind, blocks[0].line, blocks[0].file.as_deref()),
        (Kind::Rules, 2, Some("a/b.yaml"))
    );
    assert_eq!(blocks[0].text, "rules: []\n");
    assert_eq!((blocks[1].kind, blocks[1].line), (Kind::Config, 9));
    assert_eq!(blocks[1].text, "replay: x\n");
    let errs = parse_blocks("d.md", "```yaml rule\nx\n```\n").unwrap_err();
    assert!(
        errs[0].starts_with("d.md:1: unknown block kind"),
        "{errs:?}"
    );
    let errs = parse_blocks("d.md", "```yaml test file=../x.yaml\nx\n```\n").unwrap_err();
    assert!(errs[0].contains("without `..`"), "{errs:?}");
    let errs = parse_blocks("d.md", "text\n```yaml config\nx: 1\n").unwrap_err();
    assert!(
        errs[0].contains("d.md:2: code block is never closed"),
        "{errs:?}"
    );
}
