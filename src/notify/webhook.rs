//! The generic `webhook` notifier: Alertmanager's webhook payload (version
//! 4), so existing tools can consume it, optionally HMAC-signed.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::config::{Secret, SecretUrl};
use crate::notify::channel::{Channel, Group, Message};
use crate::notify::view::AlertView;

/// Alertmanager's `endsAt` for alerts still firing.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn labels(v: &AlertView) -> BTreeMap<String, String> {
    let mut l = v.labels.clone();
    l.insert("alertname".into(), v.rule.clone());
    l.insert("severity".into(), v.severity.as_str().to_owned());
    for (k, val) in [
        ("meeting", &v.meeting),
        ("meeting_uuid", &v.meeting_uuid),
        ("topic", &v.topic),
        ("participant", &v.participant),
        ("user_name", &v.user_name),
        ("site", &v.site),
        ("metric", &v.metric),
    ] {
        if let Some(val) = val {
            l.insert(k.into(), val.clone());
        }
    }
    if let Some(i) = &v.incident {
        // An incident: what it groups by, and what its people share.
        l.insert("kind".into(), "incident".into());
        l.insert("scope".into(), i.scope.clone());
        l.insert("scope_value".into(), i.scope_value.clone());
        for (k, val) in &i.shared {
            l.insert(k.clone(), val.clone());
        }
    }
    l
}

fn annotations(v: &AlertView) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("summary".to_owned(), v.summary.clone());
    for (k, val) in [
        ("description", &v.description),
        ("runbook_url", &v.runbook),
        ("value", &v.value),
        ("threshold", &v.threshold),
        ("reason", &v.reason),
        ("resolution", &v.resolution),
    ] {
        if let Some(val) = val {
            a.insert(k.to_owned(), val.clone());
        }
    }
    for (name, url) in &v.links {
        a.insert(format!("link_{name}"), url.clone());
    }
    if let Some(i) = &v.incident {
        a.insert("affected".into(), i.affected.to_string());
        a.insert("population".into(), i.population.to_string());
        a.insert("peak".into(), i.peak.to_string());
        a.insert("participants".into(), i.members.join("\n"));
    }
    a
}

fn common<'a>(
    maps: impl Iterator<Item = BTreeMap<String, String>> + 'a,
) -> BTreeMap<String, String> {
    let mut iter = maps;
    let Some(mut common) = iter.next() else {
        return BTreeMap::new();
    };
    for m in iter {
        common.retain(|k, v| m.get(k) == Some(v));
    }
    common
}

/// The body for a group of alerts, at most `group_limit` listed.
pub fn payload(views: &[AlertView], group_limit: usize, receiver: &str) -> Value {
    let listed = &views[..views.len().min(group_limit.max(1))];
    let status = if views.iter().any(AlertView::is_firing) {
        "firing"
    } else {
        "resolved"
    };
    let meeting = views
        .first()
        .and_then(|v| v.meeting.clone())
        .unwrap_or_default();
    let alerts: Vec<Value> = listed
        .iter()
        .map(|v| {
            json!({
                "status": v.state.as_str(),
                "labels": labels(v),
                "annotations": annotations(v),
                "startsAt": v.since,
                "endsAt": if v.is_firing() { ZERO_TIME.to_owned() } else { v.at.clone() },
                "generatorURL": "",
                "fingerprint": v.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{meeting=\"{}\"}}", meeting.replace('"', "\\\"")),
        "truncatedAlerts": views.len() - listed.len(),
        "status": status,
        "receiver": receiver,
        "groupLabels": {"meeting": meeting},
        "commonLabels": common(listed.iter().map(labels)),
        "commonAnnotations": common(listed.iter().map(annotations)),
        "externalURL": "",
        "alerts": alerts,
    })
}

/// `sha256=HEX` of HMAC-SHA256(secret, body), for `X-Qoswatch-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A generic webhook receiving Alertmanager-shaped JSON.
pub struct Webhook {
    pub url: SecretUrl,
    pub secret: Option<Secret>,
}

impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn render(&self, group: &Group<'_>) -> Message {
        Message::Post(payload(group.views, group.limit, group.notifier))
    }

    fn url(&self) -> Option<&SecretUrl> {
        Some(&self.url)
    }

    fn headers(&self, body: &str) -> Vec<(&'static str, String)> {
        match &self.secret {
            Some(secret) => vec![(
                "X-Qoswatch-Signature",
                signature(secret.expose(), body.as_bytes()),
            )],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_site_is_a_label_when_known() {
        let mut v: AlertView = serde_json::from_value(serde_json::json!({
            "rule": "r", "description": null, "severity": "warning", "state": "firing", "reason": null,
            "summary": "s", "metric": null, "value": null, "threshold": null, "at": "", "since": "", "duration": null,
            "meeting": null, "topic": null, "participant": null, "user_name": null, "device": null,
            "network_type": null, "location": null, "labels": {}, "runbook": null, "fingerprint": "f"
        }))
        .unwrap();
        assert!(!labels(&v).contains_key("site"));
        v.site = Some("berlin-office".into());
        assert_eq!(labels(&v)["site"], "berlin-office");
    }
}
