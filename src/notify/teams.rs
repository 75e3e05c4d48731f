//! Microsoft Teams: the Workflows webhook payload with an Adaptive Card 1.4,
//! or a legacy MessageCard for old Office 365 connectors.

use serde_json::{Value, json};

use crate::notify::slack::title;
use crate::notify::view::{AlertView, truncate};

/// Workflows fail from about 21 KB; stay under 20 KB.
pub const MAX_BYTES: usize = 20_000;

/// Escapes Teams markdown in untrusted text, so a name cannot plant a link
/// or formatting.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '`' | '~' | '#' | '<' | '>' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn color(views: &[AlertView]) -> &'static str {
    if views.iter().all(|v| !v.is_firing()) {
        "Good"
    } else if views
        .iter()
        .any(|v| v.is_firing() && v.severity == "critical")
    {
        "Attention"
    } else if views
        .iter()
        .any(|v| v.is_firing() && v.severity == "warning")
    {
        "Warning"
    } else {
        "Accent"
    }
}

fn facts(v: &AlertView) -> Vec<(&'static str, String)> {
    let mut f = Vec::new();
    if let Some(who) = v.who() {
        f.push(("Participant", who.to_owned()));
    }
    if let Some(m) = v.meeting_text() {
        f.push(("Meeting", m));
    }
    if let (Some(metric), Some(value)) = (&v.metric, &v.value) {
        let t = v
            .threshold
            .as_ref()
            .map_or(String::new(), |t| format!(" (threshold {t})"));
        f.push(("Metric", format!("{metric}: {value}{t}")));
    }
    f.push(("Rule", format!("{} ({})", v.rule, v.severity)));
    match &v.duration {
        Some(d) => f.push(("Duration", format!("{d} (since {})", v.since))),
        None => f.push(("Since", v.since.clone())),
    }
    let where_: Vec<&str> = [&v.device, &v.network_type, &v.location]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !where_.is_empty() {
        f.push(("Device / network / location", where_.join(" · ")));
    }
    if let Some(r) = &v.reason {
        f.push(("Reason", r.clone()));
    }
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
    let mut body = vec![text_block(
        truncate(&escape(&title(views)), 300),
        json!({"weight": "Bolder", "size": "Medium", "color": color(views)}),
    )];
    for v in &views[..listed] {
        let mut items = vec![text_block(
            truncate(&escape(&v.summary), 2000),
            json!({"weight": "Bolder"}),
        )];
        if let Some(d) = &v.description {
            items.push(text_block(
                truncate(&escape(d), 2000),
                json!({"isSubtle": true}),
            ));
        }
        let facts: Vec<Value> = facts(v)
            .into_iter()
            .map(|(t, val)| json!({"title": t, "value": truncate(&escape(&val), 1000)}))
            .collect();
        items.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(url) = &v.runbook
            && url::Url::parse(url).is_ok()
        {
            items.push(json!({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": "Runbook", "url": url}]}));
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

/// The legacy Office 365 connector body (MessageCard).
pub fn message_card(views: &[AlertView], group_limit: usize) -> Value {
    let listed = &views[..views.len().min(group_limit.max(1))];
    let theme = match color(views) {
        "Good" => "2EB67D",
        "Attention" => "D00000",
        "Warning" => "FFA500",
        _ => "439FE0",
    };
    let mut sections: Vec<Value> = listed
        .iter()
        .map(|v| {
            let facts: Vec<Value> = facts(v).into_iter().map(|(t, val)| json!({"name": t, "value": truncate(&escape(&val), 1000)})).collect();
            json!({"activityTitle": truncate(&escape(&v.summary), 1000), "facts": facts, "markdown": true})
        })
        .collect();
    let more = views.len() - listed.len();
    if more > 0 {
        sections.push(json!({"text": format!("and {more} more"), "markdown": true}));
    }
    let title = truncate(&escape(&title(views)), 300);
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": theme,
        "summary": title,
        "title": title,
        "sections": sections
    });
    let runbooks: Vec<&String> = listed.iter().filter_map(|v| v.runbook.as_ref()).collect();
    if let Some(url) = runbooks.first()
        && url::Url::parse(url).is_ok()
    {
        card["potentialAction"] = json!([{"@type": "OpenUri", "name": "Runbook", "targets": [{"os": "default", "uri": url}]}]);
    }
    card
}
