//! The service config (docs/configuration.md): `${VAR}` interpolation
//! ([`env`]), strict parsing with `PATH:LINE:COL` errors ([`parse`]),
//! validation into parts that cannot be invalid, and secrets kept out of
//! logs.

mod env;
mod events;
mod intervals;
mod parse;
mod sites;

pub use env::interpolate;
pub use intervals::{NamedInterval, Quiet, TimeInterval};
use parse::parse_config;
pub use sites::Sites;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::matcher::Matcher;
use crate::rules::load::Errs;
use crate::yaml::{self, Diagnostics};

/// Marker left in place of an unset variable when checking without the
/// environment; values holding it skip content validation.
pub const UNSET_MARK: &str = "QOSWATCH_UNSET__";

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
    /// Where samples come from.
    pub source: SourceConfig,
    pub poll: PollConfig,
    /// Rule files and directories.
    pub rules: Vec<PathBuf>,
    pub notifiers: BTreeMap<String, NotifierConfig>,
    pub routes: Vec<RouteConfig>,
    /// Where alert state and the delivery queue are kept.
    pub state_dir: PathBuf,
    pub http: HttpConfig,
    /// How messages show things (`display:`).
    pub display: DisplayConfig,
    /// `links:`: a button or link per entry in every chat message, by name
    /// (the text it shows), each a URL template; in the order written.
    pub links: Vec<(String, String)>,
    /// `sites:`: named CIDR lists, in the order written (the first that
    /// holds a participant's address is its `site`).
    pub sites: Sites,
    /// `time_intervals:`, in the order written; routes hold the ones they
    /// name.
    pub time_intervals: Vec<std::sync::Arc<NamedInterval>>,
}

/// `display:`.
#[derive(Debug, Clone)]
pub struct DisplayConfig {
    /// `time_zone`: an IANA name; times in chat messages and templates.
    /// Default UTC.
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            time_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// Where samples come from: Zoom, or a recording (`replay:` wins when both
/// are given).
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Zoom credentials and API settings.
    Zoom(ZoomConfig),
    /// Offline: a directory (or file) of recorded QoS responses.
    Replay(PathBuf),
}

impl SourceConfig {
    pub fn is_replay(&self) -> bool {
        matches!(self, SourceConfig::Replay(_))
    }
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
    /// `zoom.webhook`: Zoom's event notifications, received on a listener
    /// of their own (SPEC 14).
    pub webhook: Option<Box<WebhookConfig>>,
    /// `zoom.websocket`: the same events over a WebSocket qoswatch opens.
    pub websocket: Option<Box<WebSocketConfig>>,
}

impl ZoomConfig {
    /// Whether Zoom's events come in (by webhook or WebSocket).
    pub fn has_events(&self) -> bool {
        self.webhook.is_some() || self.websocket.is_some()
    }
}

/// `zoom.webhook`.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Its own listener: the only port to expose to Zoom (through a TLS
    /// proxy: Zoom posts only to HTTPS).
    pub listen: SocketAddr,
    /// Where `listen` is written, for the check against `http.listen`.
    pub listen_pos: crate::yaml::Pos,
    /// The path Zoom posts to. Default `/zoom/events`.
    pub path: String,
    /// The app's Secret Token: signs each request and answers Zoom's URL
    /// validation.
    pub secret_token: Secret,
}

/// `zoom.websocket`.
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// The event subscription's id (method WebSocket).
    pub subscription_id: String,
    /// Default `wss://ws.zoom.us/ws`; `ws://` only on loopback.
    pub url: String,
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
    /// `quiet_every`: how often a quiet meeting (nothing pending, firing or
    /// reported) is polled instead of every sample. Default: every sample.
    pub quiet_every: Option<Duration>,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            cadence: Cadence::Auto,
            discover: true,
            discover_interval: Duration::from_secs(120),
            source_down_after: Duration::from_secs(300),
            targets: Vec::new(),
            quiet_every: None,
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

impl NotifierKind {
    /// Where it posts; `None` for the console.
    pub fn url(&self) -> Option<&SecretUrl> {
        match self {
            NotifierKind::Slack { url }
            | NotifierKind::Teams { url, .. }
            | NotifierKind::Webhook { url, .. } => Some(url),
            NotifierKind::Console => None,
        }
    }
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
    /// Matchers on alert attributes and rule labels; all must match.
    pub matchers: Vec<Matcher>,
    /// The `match` keys that are no alert attribute, with their positions:
    /// rule labels, checked against the loaded rules by
    /// [`Config::check_labels`].
    pub label_keys: Vec<(String, crate::yaml::Pos)>,
    pub notify: Vec<String>,
    pub continue_matching: bool,
    /// Alerts listed per message before "and N more". Default 10.
    pub group_limit: usize,
    /// Slack only: strings (`<!here>`) leading the text of a message that
    /// holds a firing alert.
    pub mention: Vec<String>,
    /// `mute_time_intervals`: while any is active, the route sends nothing
    /// (dropped, not held).
    pub mute_time_intervals: Vec<std::sync::Arc<NamedInterval>>,
    /// `active_time_intervals`: when given, the route sends only while one
    /// is active. Empty = always.
    pub active_time_intervals: Vec<std::sync::Arc<NamedInterval>>,
}

impl RouteConfig {
    /// Whether the route sends at the instant `t` (`None`), or why not:
    /// judged when a notification is routed, never on retry.
    pub fn quiet_at(&self, t: jiff::Timestamp) -> Option<Quiet> {
        intervals::quiet_at(&self.mute_time_intervals, &self.active_time_intervals, t)
    }
}

/// `http:`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Default 127.0.0.1:9464.
    pub listen: SocketAddr,
    /// `http.admin_token`: when set, `/` and `/api/*` need it (Bearer, or
    /// HTTP Basic with it as the password) and the write API is enabled;
    /// at least 16 characters.
    pub admin_token: Option<Secret>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: parse::default_listen(),
            admin_token: None,
        }
    }
}

impl Config {
    /// Reads, interpolates and validates the config at `path`.
    pub fn load(path: &Path, mode: EnvMode) -> Result<Config, Diagnostics> {
        let text = yaml::read_limited(path, "config").map_err(|d| Diagnostics(vec![d]))?;
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
        let (root, found) = yaml::parse_all(path, &text);
        let Some(root) = root else {
            return Err(Diagnostics(found));
        };
        let mut errs = Errs { path, diags: found };
        let config = parse_config(path, &root, &mut errs);
        errs.diags.sort_by_key(|d| (d.line, d.col));
        if errs.diags.is_empty() {
            Ok(config)
        } else {
            Err(Diagnostics(errs.diags))
        }
    }
}

/// What `eval -c` and `test -c` take from a config: its `sites` and
/// `display`, read without needing its `${VAR}`s set. The rest of the file
/// is not judged (a config holding only these two is fine); `check -c`
/// judges all of it.
pub fn load_sites_and_display(path: &Path) -> Result<(Sites, DisplayConfig), Diagnostics> {
    let text = yaml::read_limited(path, "config").map_err(|d| Diagnostics(vec![d]))?;
    let env = |name: &str| std::env::var(name).ok();
    let text = interpolate(path, &text, EnvMode::Lenient, &env).map_err(Diagnostics)?;
    let (root, found) = yaml::parse_all(path, &text);
    let Some(root) = root else {
        return Err(Diagnostics(found));
    };
    let mut errs = Errs { path, diags: found };
    let read = parse::parse_sites_and_display(&root, &mut errs);
    errs.diags.sort_by_key(|d| (d.line, d.col));
    if errs.diags.is_empty() {
        Ok(read)
    } else {
        Err(Diagnostics(errs.diags))
    }
}

impl Config {
    /// Checks that each route `match` key that is no alert attribute is a
    /// label of some rule of `rules`, the set loaded with this config; a
    /// route on a label no rule has could never match. Also checks that each
    /// site a rule's `match.site` names as a literal is one of this config's
    /// `sites` (routes are checked when the config loads). Called wherever
    /// config and rules meet: the service's start and reloads, `qoswatch
    /// check -c` (which checks the config's rules, or the rule paths given),
    /// and `eval -c` and `test -c`.
    pub fn check_labels(&self, rules: &crate::rules::RuleSet) -> Result<(), Diagnostics> {
        let mut labels: Vec<&str> = rules
            .rules
            .iter()
            .flat_map(|r| r.labels.keys().map(String::as_str))
            // Incident labels are alert labels too (SPEC 12).
            .chain(
                rules
                    .incidents
                    .iter()
                    .flat_map(|i| i.labels.keys().map(String::as_str)),
            )
            .collect();
        labels.sort_unstable();
        labels.dedup();
        let mut diags: Vec<yaml::Diagnostic> = self
            .routes
            .iter()
            .flat_map(|r| &r.label_keys)
            .filter(|(key, _)| !labels.contains(&key.as_str()))
            .map(|(key, pos)| {
                yaml::Diagnostic::new(&self.path, *pos, parse::unknown_route_key(key, &labels))
            })
            .collect();
        if let Err(more) = self.check_sites(rules) {
            diags.extend(more.0);
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(diags))
        }
    }
}

impl Config {
    /// Checks that each site a rule's `match.site` names as a literal is
    /// one of this config's `sites`: a misspelt site would never match.
    /// Part of [`Config::check_labels`]; `eval -c` and `test -c` check only
    /// this ([`Sites::check_rules`]).
    pub fn check_sites(&self, rules: &crate::rules::RuleSet) -> Result<(), Diagnostics> {
        self.sites.check_rules(rules)
    }
}

pub(crate) fn is_unset(s: &str) -> bool {
    s.contains(UNSET_MARK)
}

pub(crate) fn resolve(base: &Path, p: &str) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_label_keys_are_checked_against_the_rules() {
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { team: netops, topic: x }\n    notify: [a]\n  - match: { teem: x }\n    notify: [a]\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_str(
            Path::new("r.yaml"),
            "rules:\n  - name: r\n    when: audio_input.latency > 1ms\n    labels: { team: netops }\n",
        )
        .unwrap();
        let e = c.check_labels(&rules).unwrap_err().to_string();
        assert!(
            e.starts_with("q.yaml:7:14: error: unknown route `match` key `teem` (did you mean `team`?): not an alert attribute"),
            "{e}"
        );
        assert_eq!(
            e.lines().count(),
            1,
            "`team` is a label, `topic` an attribute"
        );
        assert!(c.check_labels(&crate::rules::RuleSet::default()).is_err());
        // An incident's labels count as well.
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { scope_team: x }\n    notify: [a]\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_str(
            Path::new("r.yaml"),
            "rules:\n  - name: r\n    when: audio_input.latency > 1ms\nincidents:\n  - name: i\n    rules: [r]\n    labels: { scope_team: netops }\n",
        )
        .unwrap();
        assert!(c.check_labels(&rules).is_ok());
        // `notifier` is the label of the built-in qoswatch-notifier-failing.
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { notifier: a }\n    notify: [a]\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        assert!(c.check_labels(&crate::rules::RuleSet::default()).is_ok());
    }

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
        let SourceConfig::Zoom(z) = &c.source else {
            panic!("zoom source expected")
        };
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
    fn display_links_and_mentions() {
        let c = load(
            "replay: x\ndisplay:\n  time_zone: Europe/Berlin\nlinks:\n  meeting: \"https://z.example/m/{{ meeting_uuid | urlencode }}\"\n  wiki: https://wiki.example/qos\nnotifiers:\n  s: { type: console }\nroutes:\n  - notify: [s]\n    mention: [\"<!here>\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.display.time_zone.iana_name(), Some("Europe/Berlin"));
        assert_eq!(c.links[0].0, "meeting");
        assert_eq!(
            c.links[1],
            ("wiki".into(), "https://wiki.example/qos".into())
        );
        assert_eq!(c.routes[0].mention, ["<!here>"]);
        assert_eq!(
            load("replay: x\n", &[])
                .unwrap()
                .display
                .time_zone
                .iana_name(),
            Some("UTC")
        );
        let errs = load(
            "replay: x\ndisplay:\n  time_zone: Mars/Olympus\n  locale: de\nlinks:\n  m: \"https://z/{{ meeting_uid }}\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(
            errs[0]
                .starts_with("/etc/q/qoswatch.yaml:3:14: error: unknown time zone `Mars/Olympus`"),
            "{errs:#?}"
        );
        assert!(
            errs[1].contains(":4:3: error: unknown key `locale` in `display`"),
            "{errs:#?}"
        );
        assert!(
            errs[2].contains(":6:20: error: in `links.m`: unknown template variable `meeting_uid`"),
            "{errs:#?}"
        );
    }

    #[test]
    fn check_mode_tolerates_unset_variables() {
        let c = Config::from_str(Path::new("q.yaml"), FULL, EnvMode::Lenient, &|_| None).unwrap();
        assert!(matches!(c.source, SourceConfig::Zoom(_)));
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

    #[test]
    fn routes_name_time_intervals_and_an_unknown_name_is_an_error() {
        let c = load(
            "replay: x\ntime_intervals:\n  - name: night\n    time_intervals:\n      - times: [{start_time: '00:00', end_time: '07:00'}]\n        location: Europe/Berlin\n  - name: all-hands\n    time_intervals:\n      - {cron: '0 16 * * thu', duration: 90m, location: America/New_York}\nnotifiers:\n  a: { type: console }\nroutes:\n  - notify: [a]\n    mute_time_intervals: [night, all-hands]\n    active_time_intervals: []\n    continue: true\n  - notify: [a]\n    active_time_intervals: night\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.time_intervals.len(), 2);
        let names = |l: &[std::sync::Arc<NamedInterval>]| -> Vec<String> {
            l.iter().map(|i| i.name.clone()).collect()
        };
        assert_eq!(
            names(&c.routes[0].mute_time_intervals),
            ["night", "all-hands"]
        );
        assert!(
            c.routes[0].active_time_intervals.is_empty(),
            "empty = absent"
        );
        assert_eq!(names(&c.routes[1].active_time_intervals), ["night"]);
        // Noon in Berlin: the night is over; the empty active list does
        // not make the first route inactive.
        let noon: jiff::Timestamp = "2026-03-30T10:00:00Z".parse().unwrap();
        assert_eq!(c.routes[0].quiet_at(noon), None);
        assert_eq!(c.routes[1].quiet_at(noon), Some(Quiet::Inactive));
        let night: jiff::Timestamp = "2026-03-30T01:00:00Z".parse().unwrap();
        assert_eq!(c.routes[0].quiet_at(night), Some(Quiet::Muted));
        assert_eq!(c.routes[1].quiet_at(night), None);

        let errs = load(
            "replay: x\ntime_intervals:\n  - name: night\n    time_intervals: []\n  - name: night\n    time_intervals: []\nnotifiers:\n  a: { type: console }\nroutes:\n  - notify: [a]\n    mute_time_intervals: [nigth, 7]\n    active_time_interval: [night]\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errs,
            [
                "/etc/q/qoswatch.yaml:5:11: error: time interval `night` is defined twice (first on line 3): give each a name of its own",
                "/etc/q/qoswatch.yaml:11:27: error: route names unknown time interval `nigth` (did you mean `night`?); defined: night",
                "/etc/q/qoswatch.yaml:11:34: error: `mute_time_intervals` lists names of `time_intervals`",
                "/etc/q/qoswatch.yaml:12:5: error: unknown key `active_time_interval` in a route (did you mean `active_time_intervals`?)",
            ]
        );
        let errs = load(
            "replay: x\nnotifiers:\n  a: { type: console }\nroutes:\n  - notify: [a]\n    active_time_intervals: [office]\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errs,
            [
                "/etc/q/qoswatch.yaml:6:29: error: route names unknown time interval `office`: no `time_intervals` are defined"
            ]
        );
    }

    #[test]
    fn a_time_interval_location_may_wait_for_its_variable_in_check() {
        let text = "replay: x\ntime_intervals:\n  - name: n\n    time_intervals:\n      - location: ${TZ_NAME}\n";
        assert!(Config::from_str(Path::new("q.yaml"), text, EnvMode::Lenient, &|_| None).is_ok());
        let errs = load(text, &[("TZ_NAME", "Europe/Berlinn")]).unwrap_err();
        assert!(
            errs[0].contains(":5:19: error: unknown time zone `Europe/Berlinn`"),
            "{errs:#?}"
        );
    }

    #[test]
    fn the_admin_token_is_a_secret_of_16_characters_at_least() {
        let p = Path::new("q.yaml");
        let env = |n: &str| match n {
            "LONG" => Some("0123456789abcdefXYZ".to_owned()),
            "SHORT" => Some("tiny-token".to_owned()),
            _ => None,
        };
        let load = |text: &str, mode| Config::from_str(p, text, mode, &env);
        let c = load(
            "replay: x/\nhttp:\n  admin_token: ${LONG}\n",
            EnvMode::Strict,
        )
        .unwrap();
        let token = c.http.admin_token.as_ref().unwrap();
        assert_eq!(token.expose(), "0123456789abcdefXYZ");
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "redacted");
        let e = load(
            "replay: x/\nhttp:\n  admin_token: ${SHORT}\n",
            EnvMode::Strict,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("q.yaml:3:16: error: `http.admin_token` is 10 characters long; it must have at least 16"),
            "{e}"
        );
        assert!(!e.contains("tiny-token"), "the token is not echoed: {e}");
        // `check` without the variable set judges nothing.
        let c = load(
            "replay: x/\nhttp:\n  admin_token: ${UNSET}\n",
            EnvMode::Lenient,
        )
        .unwrap();
        assert!(c.http.admin_token.is_some());
        let e = load("replay: x/\nhttp:\n  admin_tokn: x\n", EnvMode::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `admin_token`"), "{e}");
        assert!(
            load("replay: x/\n", EnvMode::Strict)
                .unwrap()
                .http
                .admin_token
                .is_none()
        );
    }
}
