//! The config's YAML tree turned into a [`Config`]: every key checked,
//! every error with its position, unknown keys refused.

mod notifiers;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use self::notifiers::parse_notifiers;
use self::routes::parse_routes;
pub(super) use self::routes::unknown_route_key;
use super::*;
use crate::rules::load::Errs;
use crate::yaml::{MapReader, Node, Value};

const TOP_KEYS: [&str; 12] = [
    "zoom",
    "poll",
    "replay",
    "rules",
    "notifiers",
    "routes",
    "state_dir",
    "http",
    "display",
    "links",
    "sites",
    "time_intervals",
];
const ZOOM_KEYS: [&str; 9] = [
    "account_id",
    "client_id",
    "client_secret",
    "api_base",
    "oauth_url",
    "requests_per_second",
    "daily_budget",
    "webhook",
    "websocket",
];
const POLL_KEYS: [&str; 7] = [
    "interval",
    "schedule",
    "discover",
    "discover_interval",
    "source_down_after",
    "targets",
    "quiet_every",
];

pub(super) fn parse_config(path: &Path, root: &Node, errs: &mut Errs<'_>) -> Config {
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let empty = Node {
        value: Value::Map(Vec::new()),
        pos: root.pos,
        text_pos: None,
        char_pos: None,
    };
    let root = if root.value == Value::Null {
        &empty
    } else {
        root
    };
    let mut top = match MapReader::new(root, "the config") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(root.pos, msg);
            MapReader::new(&empty, "").expect("empty map")
        }
    };
    let replay = top
        .get("replay")
        .and_then(|n| errs.string(n, "replay"))
        .map(|s| resolve(&base, &s));
    let zoom = match top.get("zoom") {
        Some(n) => parse_zoom(n, errs),
        None => {
            if replay.is_none() {
                errs.at(
                    top.pos,
                    "missing `zoom:` section (required unless `replay:` is the source)",
                );
            }
            None
        }
    };
    let poll = top
        .get("poll")
        .map(|n| parse_poll(n, errs))
        .unwrap_or_default();
    let rules = match top.get("rules") {
        None => vec![base.join("rules")],
        Some(n) => match &n.value {
            Value::Seq(items) => items
                .iter()
                .filter_map(|i| errs.string(i, "rules"))
                .map(|s| resolve(&base, &s))
                .collect(),
            Value::Str(s) => vec![resolve(&base, s)],
            _ => {
                errs.at(
                    n.pos,
                    "`rules` must be a list of rule files and directories",
                );
                Vec::new()
            }
        },
    };
    let (notifiers, broken) = top
        .get("notifiers")
        .map(|n| parse_notifiers(n, errs))
        .unwrap_or_default();
    let sites = top
        .get("sites")
        .map(|n| super::sites::parse_sites(n, errs))
        .unwrap_or_default();
    let time_intervals = top
        .get("time_intervals")
        .map(|n| super::intervals::parse_time_intervals(n, errs))
        .unwrap_or_default();
    let routes = top
        .get("routes")
        .map(|n| parse_routes(n, &notifiers, &broken, &sites, &time_intervals, errs))
        .unwrap_or_default();
    let state_dir = top
        .get("state_dir")
        .and_then(|n| errs.string(n, "state_dir"))
        .map_or_else(|| base.join("qoswatch-state"), |s| resolve(&base, &s));
    let http = top
        .get("http")
        .map_or_else(HttpConfig::default, |n| parse_http(n, errs));
    let display = top
        .get("display")
        .map(|n| parse_display(n, errs))
        .unwrap_or_default();
    let links = top
        .get("links")
        .map(|n| parse_links(n, errs))
        .unwrap_or_default();
    errs.unknown_keys(&top, "the config", &TOP_KEYS);
    if let Some(zoom) = &zoom {
        super::events::check_listeners(zoom, &http, errs);
    }
    // With errors the config is discarded, so a missing source can stand
    // in as an empty replay.
    let source = match (replay, zoom) {
        (Some(dir), _) => SourceConfig::Replay(dir),
        (None, Some(zoom)) => SourceConfig::Zoom(zoom),
        (None, None) => SourceConfig::Replay(PathBuf::new()),
    };
    Config {
        path: path.to_owned(),
        source,
        poll,
        rules,
        notifiers,
        routes,
        state_dir,
        http,
        display,
        links,
        sites,
        time_intervals,
    }
}

/// Only `sites` and `display` of a config (`eval -c`, `test -c`): the rest
/// is not judged, except that a top-level key must be one of the config's.
pub(super) fn parse_sites_and_display(root: &Node, errs: &mut Errs<'_>) -> (Sites, DisplayConfig) {
    if root.value == Value::Null {
        return (Sites::default(), DisplayConfig::default());
    }
    let mut top = match MapReader::new(root, "the config") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(root.pos, msg);
            return (Sites::default(), DisplayConfig::default());
        }
    };
    let sites = top
        .get("sites")
        .map(|n| super::sites::parse_sites(n, errs))
        .unwrap_or_default();
    let display = top
        .get("display")
        .map(|n| parse_display(n, errs))
        .unwrap_or_default();
    for key in TOP_KEYS {
        top.get(key);
    }
    errs.unknown_keys(&top, "the config", &TOP_KEYS);
    (sites, display)
}

fn parse_display(node: &Node, errs: &mut Errs<'_>) -> DisplayConfig {
    let Some(mut m) = errs.map(node, "`display`") else {
        return DisplayConfig::default();
    };
    let mut display = DisplayConfig::default();
    if let Some(n) = m.get("time_zone")
        && let Some(name) = errs.string(n, "time_zone")
        && !is_unset(&name)
    {
        match jiff::tz::TimeZone::get(&name) {
            Ok(tz) => display.time_zone = tz,
            Err(_) => errs.at(
                n.pos,
                format!(
                    "unknown time zone `{name}`: use an IANA name such as Europe/Berlin or UTC"
                ),
            ),
        }
    }
    errs.unknown_keys(&m, "`display`", &["time_zone"]);
    display
}

fn parse_links(node: &Node, errs: &mut Errs<'_>) -> Vec<(String, String)> {
    let Some(mut m) = errs.map(node, "`links`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in m.entries() {
        let Some(name) = k.as_scalar_text() else {
            continue;
        };
        let Some(source) = errs.string(v, &format!("links.{name}")) else {
            continue;
        };
        if let Err((msg, index)) = crate::rules::template::check(&source) {
            let pos = index.map_or(v.pos, |i| v.pos_in_text(i));
            errs.at(pos, format!("in `links.{name}`: {msg}"));
        }
        out.push((name, source));
    }
    out
}

pub(super) fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

pub(super) fn required_string(
    m: &mut MapReader<'_>,
    key: &str,
    section: &str,
    errs: &mut Errs<'_>,
) -> Option<String> {
    match m.get(key) {
        None => {
            errs.at(m.pos, format!("missing `{section}.{key}`"));
            None
        }
        Some(n) => {
            let s = n.as_scalar_text();
            match s {
                Some(s) if !s.trim().is_empty() => Some(s),
                _ => {
                    errs.at(
                        n.pos,
                        format!("`{section}.{key}` must be a non-empty string"),
                    );
                    None
                }
            }
        }
    }
}

fn url_field(
    m: &mut MapReader<'_>,
    key: &str,
    section: &str,
    default: Option<&str>,
    errs: &mut Errs<'_>,
) -> Option<String> {
    let node = m.get(key);
    let url = match node {
        None => match default {
            Some(d) => return Some(d.to_owned()),
            None => {
                errs.at(m.pos, format!("missing `{section}.{key}`"));
                return None;
            }
        },
        Some(n) => errs.string(n, key)?,
    };
    if let Err(msg) = check_url(&url) {
        errs.at(
            node.map_or(m.pos, |n| n.pos),
            format!("`{section}.{key}`: {msg}"),
        );
    }
    Some(url)
}

fn positive(m: &mut MapReader<'_>, key: &str, default: u32, errs: &mut Errs<'_>) -> u32 {
    match m.get(key) {
        None => default,
        Some(Node {
            value: Value::Int(i),
            ..
        }) if *i > 0 && *i <= u32::MAX as i64 => *i as u32,
        Some(Node {
            value: Value::Str(s),
            ..
        }) if is_unset(s) => default,
        Some(n) => {
            errs.at(n.pos, format!("`{key}` must be a positive whole number"));
            default
        }
    }
}

fn parse_zoom(node: &Node, errs: &mut Errs<'_>) -> Option<ZoomConfig> {
    let mut m = errs.map(node, "`zoom`")?;
    let account_id = required_string(&mut m, "account_id", "zoom", errs);
    let client_id = required_string(&mut m, "client_id", "zoom", errs);
    let client_secret = required_string(&mut m, "client_secret", "zoom", errs);
    let api_base = url_field(
        &mut m,
        "api_base",
        "zoom",
        Some("https://api.zoom.us/v2"),
        errs,
    );
    let oauth_url = url_field(
        &mut m,
        "oauth_url",
        "zoom",
        Some("https://zoom.us/oauth/token"),
        errs,
    );
    let requests_per_second = positive(&mut m, "requests_per_second", 10, errs);
    let daily_budget = positive(&mut m, "daily_budget", 30_000, errs);
    let webhook = m
        .get("webhook")
        .and_then(|n| super::events::parse_webhook(n, errs))
        .map(Box::new);
    let websocket = m
        .get("websocket")
        .and_then(|n| super::events::parse_websocket(n, errs))
        .map(Box::new);
    errs.unknown_keys(&m, "`zoom`", &ZOOM_KEYS);
    Some(ZoomConfig {
        account_id: account_id?,
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        api_base: api_base?.trim_end_matches('/').to_owned(),
        oauth_url: oauth_url?,
        requests_per_second,
        daily_budget,
        webhook,
        websocket,
    })
}

fn parse_poll(node: &Node, errs: &mut Errs<'_>) -> PollConfig {
    let mut poll = PollConfig::default();
    let Some(mut m) = errs.map(node, "`poll`") else {
        return poll;
    };
    let interval = m.get("interval");
    let schedule = m.get("schedule");
    match (interval, schedule) {
        (Some(_), Some(s)) => errs.at(
            s.pos,
            "`poll.interval` and `poll.schedule` exclude each other: keep one",
        ),
        (Some(i), None) => {
            if let Some(d) = errs.duration(i, "interval") {
                if d < Duration::from_secs(1) {
                    errs.at(i.pos, "`poll.interval` must be at least 1s");
                } else {
                    poll.cadence = Cadence::Interval(d);
                }
            }
        }
        (None, Some(s)) => {
            if let Some(text) = errs.string(s, "schedule") {
                match text.parse::<croner::Cron>() {
                    Ok(c) => poll.cadence = Cadence::Schedule(Box::new(c)),
                    Err(e) => errs.at(s.pos, format!("bad cron schedule `{text}`: {e}; use 5 fields (minute hour day month weekday) or 6 with seconds first")),
                }
            }
        }
        (None, None) => {}
    }
    match m.get("discover") {
        None => {}
        Some(Node {
            value: Value::Bool(b),
            ..
        }) => poll.discover = *b,
        Some(n) => errs.at(n.pos, "`poll.discover` must be true or false"),
    }
    if let Some(d) = m
        .get("discover_interval")
        .and_then(|n| errs.duration(n, "discover_interval"))
    {
        poll.discover_interval = d.max(Duration::from_secs(1));
    }
    if let Some(d) = m
        .get("source_down_after")
        .and_then(|n| errs.duration(n, "source_down_after"))
    {
        poll.source_down_after = d;
    }
    if let Some(d) = m
        .get("quiet_every")
        .and_then(|n| errs.duration(n, "quiet_every"))
    {
        poll.quiet_every = Some(d.max(Duration::from_secs(1)));
    }
    if let Some(t) = m.get("targets") {
        match &t.value {
            Value::Seq(items) => {
                for item in items {
                    match MapReader::new(item, "a target") {
                        Err(msg) => errs.at(item.pos, msg),
                        Ok(mut tm) => {
                            let meeting =
                                required_string(&mut tm, "meeting", "poll.targets[]", errs);
                            let participant = tm.get("participant").and_then(|p| {
                                let s = p.as_scalar_text();
                                if s.is_none() {
                                    errs.at(p.pos, "`participant` must be a user_id string");
                                }
                                s
                            });
                            errs.unknown_keys(&tm, "a target", &["meeting", "participant"]);
                            if let Some(meeting) = meeting {
                                poll.targets.push(Target {
                                    meeting,
                                    participant,
                                });
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            _ => errs.at(t.pos, "`poll.targets` must be a list"),
        }
    }
    errs.unknown_keys(&m, "`poll`", &POLL_KEYS);
    poll
}

/// Tokens shorter than this are refused: the admin token guards writes.
pub const MIN_ADMIN_TOKEN: usize = 16;

/// `http:`: `listen` and `admin_token`.
fn parse_http(n: &Node, errs: &mut Errs<'_>) -> HttpConfig {
    let Some(mut h) = errs.map(n, "`http`") else {
        return HttpConfig::default();
    };
    let listen = match h.get("listen") {
        None => default_listen(),
        Some(l) => match l.as_scalar_text().map(|s| s.parse::<SocketAddr>()) {
            Some(Ok(a)) => a,
            _ => {
                errs.at(
                    l.pos,
                    "`http.listen` must be an address like 127.0.0.1:9464 or 0.0.0.0:9464",
                );
                default_listen()
            }
        },
    };
    let admin_token = h.get("admin_token").and_then(|t| match t.as_scalar_text() {
        None => {
            errs.at(t.pos, format!("`http.admin_token` must be a string, not {}", t.kind()));
            None
        }
        // `check` without the variable set: nothing to judge.
        Some(text) if super::is_unset(&text) => Some(Secret::new(text)),
        Some(text) if text.chars().count() < MIN_ADMIN_TOKEN => {
            errs.at(
                t.pos,
                format!(
                    "`http.admin_token` is {} characters long; it must have at least {MIN_ADMIN_TOKEN} (it guards the status page and the write API): generate one, e.g. with `openssl rand -hex 24`",
                    text.chars().count()
                ),
            );
            None
        }
        Some(text) => Some(Secret::new(text)),
    });
    errs.unknown_keys(&h, "`http`", &["listen", "admin_token"]);
    HttpConfig {
        listen,
        admin_token,
    }
}
