//! `zoom.webhook` and `zoom.websocket`: where Zoom's event notifications
//! come in (SPEC 14).

use std::net::SocketAddr;

use super::parse::required_string;
use super::{HttpConfig, Secret, WebSocketConfig, WebhookConfig, ZoomConfig, is_unset, redact_url};
use crate::rules::load::Errs;
use crate::yaml::Node;

const WEBHOOK_KEYS: [&str; 3] = ["listen", "path", "secret_token"];
const WEBSOCKET_KEYS: [&str; 2] = ["subscription_id", "url"];

pub(super) fn parse_webhook(node: &Node, errs: &mut Errs<'_>) -> Option<WebhookConfig> {
    let mut m = errs.map(node, "`zoom.webhook`")?;
    let listen = match m.get("listen") {
        None => {
            errs.at(
                m.pos,
                "missing `zoom.webhook.listen`: the address Zoom's events come to, like 0.0.0.0:9465",
            );
            None
        }
        Some(l) => match l.as_scalar_text().map(|s| s.parse::<SocketAddr>()) {
            Some(Ok(a)) => Some((a, l.pos)),
            _ => {
                errs.at(
                    l.pos,
                    "`zoom.webhook.listen` must be an address like 0.0.0.0:9465",
                );
                None
            }
        },
    };
    let path = match m.get("path") {
        None => Some("/zoom/events".to_owned()),
        Some(p) => match p.as_scalar_text() {
            Some(s) if s.starts_with('/') && !s.contains(['?', '#', ' ', '{', '}', '*']) => Some(s),
            _ => {
                errs.at(
                    p.pos,
                    "`zoom.webhook.path` must be a URL path starting with `/`, like /zoom/events",
                );
                None
            }
        },
    };
    let secret = required_string(&mut m, "secret_token", "zoom.webhook", errs);
    errs.unknown_keys(&m, "`zoom.webhook`", &WEBHOOK_KEYS);
    let (listen, listen_pos) = listen?;
    Some(WebhookConfig {
        listen,
        listen_pos,
        path: path?,
        secret_token: Secret::new(secret?),
    })
}

pub(super) fn parse_websocket(node: &Node, errs: &mut Errs<'_>) -> Option<WebSocketConfig> {
    let mut m = errs.map(node, "`zoom.websocket`")?;
    let subscription_id = required_string(&mut m, "subscription_id", "zoom.websocket", errs);
    let url = match m.get("url") {
        None => Some("wss://ws.zoom.us/ws".to_owned()),
        Some(n) => errs.string(n, "url").inspect(|url| {
            if let Err(msg) = check_ws_url(url) {
                errs.at(n.pos, format!("`zoom.websocket.url`: {msg}"));
            }
        }),
    };
    errs.unknown_keys(&m, "`zoom.websocket`", &WEBSOCKET_KEYS);
    Some(WebSocketConfig {
        subscription_id: subscription_id?,
        url: url?,
    })
}

/// `wss://`, or `ws://` on a loopback host (tests, local relays).
pub fn check_ws_url(url: &str) -> Result<(), String> {
    if is_unset(url) {
        return Ok(());
    }
    let parsed =
        url::Url::parse(url).map_err(|e| format!("invalid URL {}: {e}", redact_url(url)))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "wss" => Ok(()),
        "ws" if loopback => Ok(()),
        "ws" => Err(format!(
            "{} must use wss:// (plain ws is only for loopback hosts)",
            redact_url(url)
        )),
        other => Err(format!(
            "{} has scheme `{other}`; use wss://",
            redact_url(url)
        )),
    }
}

/// The event listener never shares the admin listener's port.
pub(super) fn check_listeners(zoom: &ZoomConfig, http: &HttpConfig, errs: &mut Errs<'_>) {
    let Some(hook) = &zoom.webhook else {
        return;
    };
    let (a, b) = (hook.listen, http.listen);
    let overlap = a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified());
    if overlap {
        errs.at(
            hook.listen_pos,
            format!(
                "`zoom.webhook.listen` ({a}) is the admin listener's port (`http.listen`: {b}); Zoom's events need a port of their own, the only one to expose to Zoom"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, EnvMode};

    fn load(text: &str) -> Result<Config, String> {
        Config::from_str(Path::new("q.yaml"), text, EnvMode::Strict, &|_| None)
            .map_err(|d| d.to_string())
    }

    const ZOOM: &str = "zoom:\n  account_id: a\n  client_id: c\n  client_secret: s\n";

    #[test]
    fn events_alone_are_a_source() {
        let c = load(&format!(
            "{ZOOM}  webhook:\n    listen: 127.0.0.1:9465\n    secret_token: tok\n  websocket:\n    subscription_id: sub\npoll:\n  discover: false\n  quiet_every: 3m\n"
        ))
        .unwrap();
        let crate::config::SourceConfig::Zoom(z) = &c.source else {
            panic!("zoom")
        };
        let hook = z.webhook.as_ref().unwrap();
        assert_eq!(hook.path, "/zoom/events");
        assert_eq!(format!("{:?}", hook.secret_token), "***");
        assert_eq!(z.websocket.as_ref().unwrap().url, "wss://ws.zoom.us/ws");
        assert_eq!(
            c.poll.quiet_every,
            Some(std::time::Duration::from_secs(180))
        );
    }

    #[test]
    fn mistakes_are_positioned() {
        let e = load(&format!(
            "{ZOOM}  webhook:\n    listen: 0.0.0.0:9464\n    secret_token: tok\n    pth: /x\n"
        ))
        .unwrap_err();
        assert!(e.contains("q.yaml:6:13: error: `zoom.webhook.listen` (0.0.0.0:9464) is the admin listener's port"), "{e}");
        assert!(
            e.contains(
                "q.yaml:8:5: error: unknown key `pth` in `zoom.webhook` (did you mean `path`?)"
            ),
            "{e}"
        );
        let e = load(&format!(
            "{ZOOM}  websocket:\n    subscription_id: s\n    url: ws://ws.zoom.us/ws\n"
        ))
        .unwrap_err();
        assert!(
            e.contains(
                "q.yaml:7:10: error: `zoom.websocket.url`: ws://ws.zoom.us/*** must use wss://"
            ),
            "{e}"
        );
        let e = load(&format!("{ZOOM}  webhook:\n    listen: 127.0.0.1:9465\n")).unwrap_err();
        assert!(e.contains("missing `zoom.webhook.secret_token`"), "{e}");
    }
}
