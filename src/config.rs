//! The service config (SPEC section 3): `${VAR}` interpolation, strict
//! parsing with `PATH:LINE:COL` errors, validation into parts that cannot be
//! invalid, and secrets kept out of logs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::rules::Pattern;
use crate::rules::load::{Errs, parse_pattern};
use crate::yaml::{self, Diagnostic, Diagnostics, MapReader, Node, Value};

/// Marker left in place of an unset variable when checking without the
/// environment; values holding it skip content validation.
const UNSET_MARK: &str = "QOSWATCH_UNSET__";

/// How `${VAR}` without a value is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvMode {
    /// An unset variable is an error (the service).
    Strict,
    /// An unset variable is tolerated (`qoswatch check`).
    Lenient,
}

/// The validated service config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file.
    pub path: PathBuf,
    /// Zoom credentials and API settings; `None` with a replay source.
    pub zoom: Option<ZoomConfig>,
    pub poll: PollConfig,
    /// Offline source: a directory of recorded QoS responses.
    pub replay: Option<PathBuf>,
    /// Rule files and directories.
    pub rules: Vec<PathBuf>,
    pub notifiers: BTreeMap<String, NotifierConfig>,
    pub routes: Vec<RouteConfig>,
    /// Where alert state and the delivery queue are kept.
    pub state_dir: PathBuf,
    pub http: HttpConfig,
}

/// A secret string that prints as `***`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(SecretString::from(s.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A URL that is a secret (webhooks carry their token in the path): printed
/// as scheme and host only.
#[derive(Clone)]
pub struct SecretUrl(Secret);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(Secret::new(url))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// `https://hooks.slack.com/***`.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Keeps scheme, host and port of a URL; hides path, query and user info.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/***", u.scheme()),
                None => format!("{}://{host}/***", u.scheme()),
            }
        }
        Err(_) => "***".to_owned(),
    }
}

/// `zoom:`.
#[derive(Debug, Clone)]
pub struct ZoomConfig {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Default `https://api.zoom.us/v2`.
    pub api_base: String,
    /// Default `https://zoom.us/oauth/token`.
    pub oauth_url: String,
    /// Client-side limit for Heavy calls (Pro 10/s, Business+ 40/s). Default 10.
    pub requests_per_second: u32,
    /// Daily cap of Heavy + Resource-intensive calls (Pro 30,000, Business+ 60,000). Default 30,000.
    pub daily_budget: u32,
}

/// How often meetings are polled.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Once per new Zoom sample, shortly after it lands (default).
    Auto,
    /// A fixed interval.
    Interval(Duration),
    /// A cron schedule (5 or 6 fields, UTC).
    Schedule(Box<croner::Cron>),
}

/// `poll:`.
#[derive(Debug, Clone)]
pub struct PollConfig {
    pub cadence: Cadence,
    /// Find live meetings with `GET /metrics/meetings?type=live`. Default true.
    pub discover: bool,
    /// Default 2m.
    pub discover_interval: Duration,
    /// Raise `qoswatch-source-down` after failing this long. Default 5m.
    pub source_down_after: Duration,
    pub targets: Vec<Target>,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            cadence: Cadence::Auto,
            discover: true,
            discover_interval: Duration::from_secs(120),
            source_down_after: Duration::from_secs(300),
            targets: Vec::new(),
        }
    }
}

/// An explicit meeting (and optionally one participant) to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Meeting id or UUID.
    pub meeting: String,
    /// A participant's user_id: polled with the per-participant endpoint.
    pub participant: Option<String>,
}

/// A notifier's kind and settings.
#[derive(Debug, Clone)]
pub enum NotifierKind {
    Slack {
        url: SecretUrl,
    },
    Teams {
        url: SecretUrl,
        message_card: bool,
    },
    Webhook {
        url: SecretUrl,
        secret: Option<Secret>,
    },
    Console,
}

/// `notifiers.NAME`.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub name: String,
    pub kind: NotifierKind,
    /// Give up on a notification older than this. Default 1h.
    pub max_age: Duration,
}

/// `routes[]`.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// `severity`, `rule` and label names to patterns; all must match.
    pub matchers: Vec<(String, Vec<Pattern>)>,
    pub notify: Vec<String>,
    pub continue_matching: bool,
    /// Alerts listed per message before "and N more". Default 10.
    pub group_limit: usize,
}

/// `http:`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Default 127.0.0.1:9464.
    pub listen: SocketAddr,
}

const TOP_KEYS: [&str; 8] = [
    "zoom",
    "poll",
    "replay",
    "rules",
    "notifiers",
    "routes",
    "state_dir",
    "http",
];
const ZOOM_KEYS: [&str; 7] = [
    "account_id",
    "client_id",
    "client_secret",
    "api_base",
    "oauth_url",
    "requests_per_second",
    "daily_budget",
];
const POLL_KEYS: [&str; 6] = [
    "interval",
    "schedule",
    "discover",
    "discover_interval",
    "source_down_after",
    "targets",
];

impl Config {
    /// Reads, interpolates and validates the config at `path`.
    pub fn load(path: &Path, mode: EnvMode) -> Result<Config, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic::new(
                path,
                Default::default(),
                format!("cannot read config: {e}"),
            )])
        })?;
        Self::from_str(path, &text, mode, &|name| std::env::var(name).ok())
    }

    /// Parses config text as if read from `path`, with `env` for `${VAR}`.
    pub fn from_str(
        path: &Path,
        text: &str,
        mode: EnvMode,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Diagnostics> {
        let text = interpolate(path, text, mode, env).map_err(Diagnostics)?;
        let root = yaml::parse(path, &text).map_err(|d| Diagnostics(vec![d]))?;
        let mut errs = Errs {
            path,
            diags: Vec::new(),
        };
        let config = parse_config(path, &root, &mut errs);
        if errs.diags.is_empty() {
            Ok(config)
        } else {
            Err(Diagnostics(errs.diags))
        }
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` outside comments; `$$` is a
/// literal `$`.
pub fn interpolate(
    path: &Path,
    text: &str,
    mode: EnvMode,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut diags = Vec::new();
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let (mut in_single, mut in_double) = (false, false);
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\'' if !in_double => in_single = !in_single,
                '"' if !in_single => in_double = !in_double,
                '#' if !in_single && !in_double && (i == 0 || chars[i - 1].is_whitespace()) => {
                    out.extend(&chars[i..]);
                    break;
                }
                '$' if chars.get(i + 1) == Some(&'$') => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                '$' if chars.get(i + 1) == Some(&'{') => {
                    let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                        diags.push(Diagnostic::new(
                            path,
                            yaml::Pos { line: line_no as u32 + 1, col: i as u32 + 1, byte: None },
                            "unclosed `${`: write ${VAR} or ${VAR:-default} (and $$ for a literal $)",
                        ));
                        out.extend(&chars[i..]);
                        break;
                    };
                    let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                    let (name, default) = match inner.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner.as_str(), None),
                    };
                    let pos = yaml::Pos {
                        line: line_no as u32 + 1,
                        col: i as u32 + 1,
                        byte: None,
                    };
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit());
                    if !valid {
                        diags.push(Diagnostic::new(
                            path,
                            pos,
                            format!("bad variable name `{name}` in `${{{inner}}}`"),
                        ));
                    } else {
                        match (env(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                            (Some(v), _) => out.push_str(&v),
                            (None, Some(d)) => out.push_str(d),
                            (None, None) => match mode {
                                EnvMode::Strict => diags.push(Diagnostic::new(
                                    path,
                                    pos,
                                    format!("environment variable `{name}` is not set (use ${{{name}:-default}} for a default)"),
                                )),
                                EnvMode::Lenient => {
                                    out.push_str(UNSET_MARK);
                                    out.push_str(name);
                                }
                            },
                        }
                    }
                    i += close + 3;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            i += 1;
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn is_unset(s: &str) -> bool {
    s.contains(UNSET_MARK)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Checks that a URL is https, or http on a loopback host.
pub fn check_url(url: &str) -> Result<(), String> {
    if is_unset(url) {
        return Ok(());
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("invalid URL {}: {e}", redact_url(url)))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "{} must use https:// (plain http is only for loopback hosts)",
                    redact_url(url)
                ))
            }
        }
        other => Err(format!(
            "{} has scheme `{other}`; use https://",
            redact_url(url)
        )),
    }
}

fn parse_config(path: &Path, root: &Node, errs: &mut Errs<'_>) -> Config {
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
    let notifiers = top
        .get("notifiers")
        .map(|n| parse_notifiers(n, errs))
        .unwrap_or_default();
    let routes = top
        .get("routes")
        .map(|n| parse_routes(n, &notifiers, errs))
        .unwrap_or_default();
    let state_dir = top
        .get("state_dir")
        .and_then(|n| errs.string(n, "state_dir"))
        .map_or_else(|| base.join("qoswatch-state"), |s| resolve(&base, &s));
    let http = HttpConfig {
        listen: match top.get("http") {
            None => default_listen(),
            Some(n) => match MapReader::new(n, "`http`") {
                Err(msg) => {
                    errs.at(n.pos, msg);
                    default_listen()
                }
                Ok(mut h) => {
                    let listen = match h.get("listen") {
                        None => default_listen(),
                        Some(l) => match l.as_scalar_text().map(|s| s.parse::<SocketAddr>()) {
                            Some(Ok(a)) => a,
                            _ => {
                                errs.at(l.pos, "`http.listen` must be an address like 127.0.0.1:9464 or 0.0.0.0:9464");
                                default_listen()
                            }
                        },
                    };
                    errs.unknown_keys(&h, "`http`", &["listen"]);
                    listen
                }
            },
        },
    };
    errs.unknown_keys(&top, "the config", &TOP_KEYS);
    Config {
        path: path.to_owned(),
        zoom,
        poll,
        replay,
        rules,
        notifiers,
        routes,
        state_dir,
        http,
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn required_string(
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
    let mut m = match MapReader::new(node, "`zoom`") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(node.pos, msg);
            return None;
        }
    };
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
    errs.unknown_keys(&m, "`zoom`", &ZOOM_KEYS);
    Some(ZoomConfig {
        account_id: account_id?,
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        api_base: api_base?.trim_end_matches('/').to_owned(),
        oauth_url: oauth_url?,
        requests_per_second,
        daily_budget,
    })
}

fn parse_poll(node: &Node, errs: &mut Errs<'_>) -> PollConfig {
    let mut poll = PollConfig::default();
    let mut m = match MapReader::new(node, "`poll`") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(node.pos, msg);
            return poll;
        }
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

fn parse_notifiers(node: &Node, errs: &mut Errs<'_>) -> BTreeMap<String, NotifierConfig> {
    let mut out = BTreeMap::new();
    let mut m = match MapReader::new(node, "`notifiers`") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(node.pos, msg);
            return out;
        }
    };
    for (k, v) in m.entries() {
        let Some(name) = k.as_scalar_text() else {
            errs.at(k.pos, "notifier names must be strings");
            continue;
        };
        let mut n = match MapReader::new(v, "a notifier") {
            Ok(n) => n,
            Err(msg) => {
                errs.at(v.pos, msg);
                continue;
            }
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
                let pos = n.key_node("type").map_or(n.pos, |k| k.pos);
                errs.at(
                    pos,
                    format!(
                        "unknown notifier type `{other}`: use slack, teams, webhook or console"
                    ),
                );
                None
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
    out
}

fn parse_routes(
    node: &Node,
    notifiers: &BTreeMap<String, NotifierConfig>,
    errs: &mut Errs<'_>,
) -> Vec<RouteConfig> {
    let Value::Seq(items) = &node.value else {
        errs.at(node.pos, "`routes` must be a list");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let mut m = match MapReader::new(item, "a route") {
            Ok(m) => m,
            Err(msg) => {
                errs.at(item.pos, msg);
                continue;
            }
        };
        let mut matchers = Vec::new();
        if let Some(mn) = m.get("match") {
            match MapReader::new(mn, "`match`") {
                Err(msg) => errs.at(mn.pos, msg),
                Ok(mut mm) => {
                    for (k, v) in mm.entries() {
                        let Some(key) = k.as_scalar_text() else {
                            continue;
                        };
                        let values: Vec<&Node> = match &v.value {
                            Value::Seq(items) => items.iter().collect(),
                            _ => vec![v],
                        };
                        let mut patterns = Vec::new();
                        for value in values {
                            match parse_pattern(value) {
                                Ok(p) => patterns.push(p),
                                Err(msg) => {
                                    errs.at(value.pos, format!("in route `match.{key}`: {msg}"))
                                }
                            }
                        }
                        matchers.push((key, patterns));
                    }
                }
            }
        }
        let mut notify = Vec::new();
        match m.get("notify") {
            None => errs.at(m.pos, "route without `notify`"),
            Some(nn) => {
                let names: Vec<&Node> = match &nn.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![nn],
                };
                for n in names {
                    match n.as_scalar_text() {
                        Some(name) if notifiers.contains_key(&name) => notify.push(name),
                        Some(name) => {
                            errs.at(n.pos, format!("route names unknown notifier `{name}`"))
                        }
                        None => errs.at(n.pos, "`notify` lists notifier names"),
                    }
                }
            }
        }
        let continue_matching = match m.get("continue") {
            None => false,
            Some(Node {
                value: Value::Bool(b),
                ..
            }) => *b,
            Some(n) => {
                errs.at(n.pos, "`continue` must be true or false");
                false
            }
        };
        let group_limit = match m.get("group_limit") {
            None => 10,
            Some(Node {
                value: Value::Int(i),
                ..
            }) if *i >= 1 => *i as usize,
            Some(n) => {
                errs.at(n.pos, "`group_limit` must be a whole number of at least 1");
                10
            }
        };
        errs.unknown_keys(
            &m,
            "a route",
            &["match", "notify", "continue", "group_limit"],
        );
        out.push(RouteConfig {
            matchers,
            notify,
            continue_matching,
            group_limit,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Config::from_str(
            Path::new("/etc/q/qoswatch.yaml"),
            text,
            EnvMode::Strict,
            &|n| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
        )
        .map_err(|d| d.0.iter().map(|d| d.to_string()).collect())
    }

    const FULL: &str = r#"
zoom:
  account_id: ${ZOOM_ACCOUNT_ID}
  client_id: ${ZOOM_CLIENT_ID}
  client_secret: ${ZOOM_CLIENT_SECRET}
  api_base: http://127.0.0.1:9999/v2/
  requests_per_second: 40
  daily_budget: 60000
poll:
  schedule: "*/30 * * * * *"
  discover: true
  discover_interval: 2m
  source_down_after: 5m
  targets:
    - meeting: "85746065432"
    - meeting: "/ajXp112QmuoKj4854875=="
      participant: "16778240"
rules: [rules/]
notifiers:
  oncall:
    type: slack
    url: ${SLACK_WEBHOOK_URL}
    max_age: 30m
  netops:
    type: teams
    url: https://example.webhook.office.com/x
    format: messagecard
  tools:
    type: webhook
    url: https://hooks.example.com/qoswatch  # ${NOT_INTERPOLATED}
    secret: ${QOSWATCH_WEBHOOK_SECRET:-s3cret}
  stdout:
    type: console
routes:
  - match: { severity: critical }
    notify: [oncall, netops]
    continue: true
  - notify: [stdout]
    group_limit: 5
state_dir: ./state
http:
  listen: 0.0.0.0:9464
"#;

    #[test]
    fn full_config_loads() {
        let c = load(
            FULL,
            &[
                ("ZOOM_ACCOUNT_ID", "acc"),
                ("ZOOM_CLIENT_ID", "cid"),
                ("ZOOM_CLIENT_SECRET", "topsecret"),
                (
                    "SLACK_WEBHOOK_URL",
                    "https://hooks.slack.com/services/T/B/XYZ",
                ),
            ],
        )
        .unwrap();
        let z = c.zoom.as_ref().unwrap();
        assert_eq!(z.api_base, "http://127.0.0.1:9999/v2");
        assert_eq!(z.requests_per_second, 40);
        assert!(matches!(c.poll.cadence, Cadence::Schedule(_)));
        assert_eq!(c.poll.targets[1].participant.as_deref(), Some("16778240"));
        assert_eq!(c.rules, [PathBuf::from("/etc/q/rules/")]);
        assert_eq!(c.state_dir, PathBuf::from("/etc/q/./state"));
        assert_eq!(c.notifiers.len(), 4);
        assert_eq!(c.routes[0].notify, ["oncall", "netops"]);
        assert_eq!(c.routes[1].group_limit, 5);
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("topsecret") && !dbg.contains("XYZ") && !dbg.contains("s3cret"),
            "{dbg}"
        );
        assert!(dbg.contains("https://hooks.slack.com/***"));
    }

    #[test]
    fn unset_variables_and_bad_keys_are_errors_with_positions() {
        let errs = load(FULL, &[("ZOOM_ACCOUNT_ID", "acc")]).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].starts_with(
            "/etc/q/qoswatch.yaml:4:14: error: environment variable `ZOOM_CLIENT_ID` is not set"
        ));
        let errs = load("replay: x/\npoll:\n  intervall: 1m\n  interval: 1m\n  schedule: '* * * * *'\nbogus: 1\n", &[]).unwrap_err();
        assert!(
            errs.iter().any(|e| e.contains(
                ":3:3: error: unknown key `intervall` in `poll` (did you mean `interval`?)"
            )),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e
                .contains(":5:13: error: `poll.interval` and `poll.schedule` exclude each other")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains(":6:1: error: unknown key `bogus`")),
            "{errs:#?}"
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback() {
        let errs = load("replay: x\nnotifiers:\n  a: { type: slack, url: 'http://hooks.slack.com/services/SECRET' }\n  b: { type: webhook, url: 'http://localhost:8080/x' }\n  c: { type: pager }\nroutes:\n  - notify: [a, zz]\n", &[]).unwrap_err();
        assert!(errs[0].contains("must use https://"), "{errs:#?}");
        assert!(!errs[0].contains("SECRET"), "{errs:#?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("unknown notifier type `pager`"))
        );
        assert!(errs.iter().any(|e| e.contains("unknown notifier `zz`")));
        assert_eq!(errs.len(), 3, "{errs:#?}");
    }

    #[test]
    fn check_mode_tolerates_unset_variables() {
        let c = Config::from_str(Path::new("q.yaml"), FULL, EnvMode::Lenient, &|_| None).unwrap();
        assert!(c.zoom.is_some());
        assert_eq!(c.rules, [PathBuf::from("./rules/")]);
    }

    #[test]
    fn interpolation_details() {
        let env = |n: &str| (n == "A").then(|| "x".to_owned());
        let p = Path::new("c.yaml");
        assert_eq!(
            interpolate(p, "a: ${A}-${B:-d}-$${A} # ${C}\n", EnvMode::Strict, &env).unwrap(),
            "a: x-d-${A} # ${C}\n"
        );
        assert_eq!(
            interpolate(p, "a: '#${A}'\n", EnvMode::Strict, &env).unwrap(),
            "a: '#x'\n"
        );
        assert!(interpolate(p, "a: ${A\n", EnvMode::Strict, &env).is_err());
        assert!(interpolate(p, "a: ${1A}\n", EnvMode::Strict, &env).is_err());
    }
}
