//! Microsoft Teams: the Workflows webhook payload with an Adaptive Card 1.4
//! (the legacy MessageCard is in `messagecard`). Any 2xx is success
//! (Workflows answers 202).

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::SecretUrl;
use crate::notify::channel::{Channel, Group, Message, Pacing};
use crate::notify::facts::{Tone, facts, preview};
use crate::notify::view::{AlertView, truncate};

/// Workflows fail from about 21 KB; stay under 20 KB.
pub const MAX_BYTES: usize = 20_000;

/// Escapes untrusted text for an Adaptive Card TextBlock or Fact, only
/// where Teams' markdown (a CommonMark subset: bold, italic, lists, links;
/// no HTML) would change it, so that text reads as written: `Carol <CFO>
/// Diaz` and `audio_input.avg_loss 7.2% (threshold 5%)` stay as they are,
/// while `*bold*`, `_x_` and `[link](http://x)` neither format nor link.
///
/// Escaped with a backslash: `*`, `[`, `]`, a backtick, a `_` that is not
/// inside a word, a doubled `~`, a `<` that could open an autolink (`<http:..>`,
/// `<a@b>`), an `&` that would read as an entity, a `\` before punctuation,
/// and list or heading markers at the start of a line.
pub fn escape(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut line_start = true;
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j));
        let next = chars.get(i + 1);
        let escape = match c {
            '*' | '[' | ']' | '`' => true,
            '_' => !(word(prev) && word(next)),
            '~' => prev == Some(&'~') || next == Some(&'~'),
            '\\' => next.is_some_and(|n| n.is_ascii_punctuation()),
            '<' => {
                let rest: String = chars[i + 1..].iter().take_while(|c| **c != '>').collect();
                chars[i + 1..].contains(&'>')
                    && !rest.contains(char::is_whitespace)
                    && (rest.contains(':') || rest.contains('@'))
            }
            '&' => {
                let rest: String = chars[i + 1..].iter().take_while(|c| **c != ';').collect();
                chars[i + 1..].contains(&';')
                    && !rest.is_empty()
                    && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '#')
            }
            '-' | '+' | '#' | '>' => line_start && matches!(next, None | Some(' ') | Some('#')),
            '.' | ')' => {
                // `1. ` or `1) ` opening a line: an ordered list.
                let digits = chars[..i]
                    .iter()
                    .rev()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                digits > 0
                    && (i == digits || chars[i - digits - 1] == '\n')
                    && matches!(next, None | Some(' '))
            }
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
        if c == '\n' {
            line_start = true;
        } else if !(line_start && c == ' ') {
            line_start = false;
        }
    }
    out
}

/// The Adaptive Card colour of a title for a tone.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Resolved => "Good",
        Tone::Ended => "Default",
        Tone::Critical => "Attention",
        Tone::Warning => "Warning",
        Tone::Info => "Accent",
    }
}

/// The facts Teams shows: the shared ones and the fingerprint (Slack has
/// it in a context line; a card has none).
pub(crate) fn card_facts(v: &AlertView) -> Vec<(&'static str, String)> {
    let mut f = facts(v);
    f.push(("Fingerprint", v.fingerprint.clone()));
    f
}

fn text_block(text: String, extra: Value) -> Value {
    let mut b = json!({"type": "TextBlock", "text": text, "wrap": true});
    if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
        b.extend(extra.clone());
    }
    b
}

fn card(views: &[AlertView], listed: usize) -> Value {
    // Teams may show only the first TextBlock (or the fallback text) in a
    // notification: it names the first alert.
    let preview = truncate(&preview(views), 300);
    let mut body = vec![text_block(
        truncate(&escape(&preview), 300),
        json!({"weight": "Bolder", "size": "Medium", "color": color(Tone::of(views))}),
    )];
    for v in &views[..listed] {
        let mut items = vec![text_block(
            truncate(&v.summary_escaped(escape), 2000),
            json!({"weight": "Bolder"}),
        )];
        if let Some(d) = &v.description {
            items.push(text_block(
                truncate(&escape(d), 2000),
                json!({"isSubtle": true}),
            ));
        }
        let facts: Vec<Value> = card_facts(v)
            .into_iter()
            .map(|(t, val)| json!({"title": t, "value": truncate(&escape(&val), 1000)}))
            .collect();
        items.push(json!({"type": "FactSet", "facts": facts}));
        let actions: Vec<Value> = v
            .runbook
            .iter()
            .map(|url| ("Runbook", url))
            .chain(v.links.iter().map(|(name, url)| (name.as_str(), url)))
            .filter(|(_, url)| url::Url::parse(url).is_ok())
            .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
            .collect();
        if !actions.is_empty() {
            items.push(json!({"type": "ActionSet", "actions": actions}));
        }
        body.push(json!({"type": "Container", "separator": true, "items": items}));
    }
    let more = views.len() - listed;
    if more > 0 {
        body.push(text_block(
            format!("and {more} more"),
            json!({"isSubtle": true}),
        ));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        // Plain text, shown where the card is not rendered: not markdown.
        "fallbackText": preview,
        "body": body
    })
}

/// The Workflows body: a message with one Adaptive Card, at most 20 KB
/// (alerts beyond what fits move into "and N more").
pub fn payload(views: &[AlertView], group_limit: usize) -> Value {
    let mut listed = views.len().min(group_limit.max(1));
    loop {
        let body = json!({
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card(views, listed)}]
        });
        if listed <= 1 || body.to_string().len() <= MAX_BYTES {
            return body;
        }
        listed -= 1;
    }
}

/// A Teams Workflows webhook.
pub struct Teams {
    pub url: SecretUrl,
}

impl Channel for Teams {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        Message::Post(payload(group.views, group.limit))
    }

    fn url(&self) -> Option<&SecretUrl> {
        Some(&self.url)
    }

    fn gap(&self, pacing: &Pacing) -> Duration {
        pacing.teams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_what_markdown_would_change() {
        for plain in [
            "Carol <CFO> Diaz",
            "audio_input.avg_loss 7.2% (threshold 5%)",
            "R&D (east) - 3 > 2",
            "C:\\Users\\carol",
            "Room 1. Left",
        ] {
            assert_eq!(escape(plain), plain);
        }
        assert_eq!(escape("*bold* _x_"), "\\*bold\\* \\_x\\_");
        assert_eq!(escape("[link](http://x)"), "\\[link\\](http://x)");
        assert_eq!(escape("<http://x> <a@b.c>"), "\\<http://x> \\<a@b.c>");
        assert_eq!(escape("&lt; ~~s~~"), "\\&lt; \\~\\~s\\~\\~");
        assert_eq!(escape("- a\n1. b\n# c"), "\\- a\n1\\. b\n\\# c");
        assert_eq!(escape("a\\*"), "a\\\\\\*");
    }
}
