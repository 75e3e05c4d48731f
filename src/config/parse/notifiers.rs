//! `notifiers:`: each notifier's `type` and the keys of that type
//! (`url`, `format`, `secret`), and its `max_age`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{required_string, url_field};
use crate::config::{NotifierConfig, NotifierKind, Secret, SecretUrl};
use crate::matcher;
use crate::rules::load::Errs;
use crate::yaml::Node;

const NOTIFIER_TYPES: [&str; 4] = ["slack", "teams", "webhook", "console"];

/// The notifiers, and the names of those whose `type` is unknown.
pub(super) fn parse_notifiers(
    node: &Node,
    errs: &mut Errs<'_>,
) -> (BTreeMap<String, NotifierConfig>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut broken = Vec::new();
    let Some(mut m) = errs.map(node, "`notifiers`") else {
        return (out, broken);
    };
    for (k, v) in m.entries() {
        let Some(name) = k.as_scalar_text() else {
            errs.at(k.pos, "notifier names must be strings");
            continue;
        };
        let Some(mut n) = errs.map(v, "a notifier") else {
            continue;
        };
        let section = format!("notifiers.{name}");
        let kind_text = required_string(&mut n, "type", &section, errs);
        let max_age = n
            .get("max_age")
            .and_then(|a| errs.duration(a, "max_age"))
            .unwrap_or(Duration::from_secs(3600));
        let mut known = vec!["type", "max_age"];
        let kind = match kind_text.as_deref() {
            Some("slack") => {
                known.push("url");
                url_field(&mut n, "url", &section, None, errs).map(|u| NotifierKind::Slack {
                    url: SecretUrl::new(u),
                })
            }
            Some("teams") => {
                known.extend(["url", "format"]);
                let url = url_field(&mut n, "url", &section, None, errs);
                let message_card = match n.get("format").map(|f| (f, f.as_scalar_text())) {
                    None => false,
                    Some((_, Some(f))) if f == "messagecard" => true,
                    Some((_, Some(f))) if f == "adaptivecard" || f == "workflows" => false,
                    Some((f, _)) => {
                        errs.at(f.pos, "`format` must be `messagecard` (legacy connector) or left out (Workflows)");
                        false
                    }
                };
                url.map(|u| NotifierKind::Teams {
                    url: SecretUrl::new(u),
                    message_card,
                })
            }
            Some("webhook") => {
                known.extend(["url", "secret"]);
                let url = url_field(&mut n, "url", &section, None, errs);
                let secret = n
                    .get("secret")
                    .and_then(|s| errs.string(s, "secret"))
                    .map(Secret::new);
                url.map(|u| NotifierKind::Webhook {
                    url: SecretUrl::new(u),
                    secret,
                })
            }
            Some("console") => Some(NotifierKind::Console),
            Some(other) => {
                let pos = n.get("type").map_or(n.pos, |t| t.pos);
                let hint = matcher::did_you_mean(other, &NOTIFIER_TYPES);
                errs.at(
                    pos,
                    format!(
                        "unknown notifier type `{other}`{hint}; use {}",
                        NOTIFIER_TYPES.join(", ")
                    ),
                );
                // Its other keys depend on the type: not judged, and routes
                // naming it are not reported either (one error, no cascade).
                broken.push(name);
                continue;
            }
            None => None,
        };
        errs.unknown_keys(&n, &format!("notifier `{name}`"), &known);
        if let Some(kind) = kind {
            out.insert(
                name.clone(),
                NotifierConfig {
                    name,
                    kind,
                    max_age,
                },
            );
        }
    }
    (out, broken)
}
