//! The commands that talk to a running service over its admin API
//! (SPEC 2): `qoswatch alerts`, `qoswatch silence add|list|expire`.
//!
//! The URL is `--url`, else the `http.listen` of `-c FILE` when that file
//! exists, else `http://127.0.0.1:9464`; the token is `--token`, else
//! `QOSWATCH_ADMIN_TOKEN`. Each prints one line per item on stdout and
//! returns the exit code: 0, 1 when the service is unreachable or refuses,
//! 2 for a usage error.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};

use super::{EXIT_FAIL, EXIT_OK};
use crate::cli::{Remote, SilenceCommand};
use crate::config::{Config, EnvMode};
use crate::matcher::Matcher;
use crate::silence::wire::{MatcherValue, matcher_value};

/// Exit code: a usage error.
pub const EXIT_USAGE: i32 = 2;

/// The default when no config says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9464";

/// Why a command could not run; printed on stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read `http.listen` from {path}: {reason}")]
    ReadConfig { path: String, reason: String },
    #[error("cannot reach qoswatch at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("qoswatch at {url} refused: HTTP {status}: {reason}")]
    Refused {
        url: String,
        status: u16,
        reason: String,
    },
}

impl AdminError {
    /// The exit code it gives.
    pub fn exit_code(&self) -> i32 {
        match self {
            AdminError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAIL,
        }
    }
}

/// The service's base URL for `remote` (see the module docs).
pub fn base_url(remote: &Remote) -> Result<String, AdminError> {
    if let Some(url) = &remote.url {
        let parsed = url::Url::parse(url)
            .map_err(|e| AdminError::Usage(format!("--url `{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AdminError::Usage(format!(
                "--url `{url}` must be http:// or https://"
            )));
        }
        return Ok(url.trim_end_matches('/').to_owned());
    }
    if !remote.config.exists() {
        return Ok(DEFAULT_URL.to_owned());
    }
    let config =
        Config::load(&remote.config, EnvMode::Lenient).map_err(|d| AdminError::ReadConfig {
            path: remote.config.display().to_string(),
            reason: d.0.first().map_or_else(String::new, ToString::to_string),
        })?;
    Ok(format!("http://{}", connect_addr(config.http.listen)))
}

/// Where to connect to reach a listener: an unspecified address (a
/// container's `0.0.0.0`) is reached on loopback.
fn connect_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// A client of one service.
struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    fn new(remote: &Remote) -> Result<Client, AdminError> {
        let base = base_url(remote)?;
        let token = remote
            .token
            .clone()
            .or_else(|| std::env::var("QOSWATCH_ADMIN_TOKEN").ok())
            .filter(|t| !t.is_empty());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            // The token must not follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AdminError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Client { base, token, http })
    }

    /// Sends a request to `path`; the answer's JSON body (null when empty)
    /// on success, else why.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| AdminError::Unreachable {
            url: url.clone(),
            reason: reqwest_reason(&e),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.trim().to_owned());
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                " (set QOSWATCH_ADMIN_TOKEN or pass --token)"
            } else {
                ""
            };
            return Err(AdminError::Refused {
                url,
                status: status.as_u16(),
                reason: format!("{}{hint}", crate::shorten(&reason, 500)),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| AdminError::Refused {
            url,
            status: status.as_u16(),
            reason: format!("the answer is not JSON: {e}"),
        })
    }
}

/// What went wrong, in one line: the causes under reqwest's own words
/// (which repeat the URL).
fn reqwest_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within 10 s".to_owned();
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    }
}

/// `qoswatch alerts`.
pub async fn alerts(remote: &Remote, out: &mut dyn Write) -> Result<i32, AdminError> {
    let client = Client::new(remote)?;
    let body = client
        .call(reqwest::Method::GET, "/api/alerts", None)
        .await?;
    let empty = Vec::new();
    let alerts = body["alerts"].as_array().unwrap_or(&empty);
    let incidents = body["incidents"].as_array().unwrap_or(&empty);
    if alerts.is_empty() && incidents.is_empty() {
        let _ = writeln!(out, "no firing alerts");
    }
    for a in alerts {
        let _ = writeln!(out, "{}", alert_line(a));
    }
    for i in incidents {
        let _ = writeln!(out, "{}", incident_line(i));
    }
    Ok(EXIT_OK)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `, silenced by ID` / `, inhibited by NAME` marks.
fn marks(v: &Value) -> String {
    let list = |key: &str| -> Option<String> {
        let items: Vec<&str> = v[key]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        (!items.is_empty()).then(|| items.join(","))
    };
    let mut out = String::new();
    if let Some(ids) = list("silenced_by") {
        out.push_str(&format!("  [silenced by {ids}]"));
    }
    if let Some(names) = list("inhibited_by") {
        out.push_str(&format!("  [inhibited by {names}]"));
    }
    // `muted` (time intervals): true, or the intervals' names.
    match &v["muted"] {
        Value::Bool(true) => out.push_str("  [muted]"),
        Value::String(name) => out.push_str(&format!("  [muted by {name}]")),
        _ => {
            if let Some(names) = list("muted") {
                out.push_str(&format!("  [muted by {names}]"));
            }
        }
    }
    out
}

fn meeting_text(v: &Value) -> String {
    match (v["topic"].as_str(), v["meeting"].as_str()) {
        (Some(t), Some(m)) => format!("{t} ({m})"),
        (None, Some(m)) => m.to_owned(),
        (Some(t), None) => t.to_owned(),
        (None, None) => "-".to_owned(),
    }
}

fn alert_line(a: &Value) -> String {
    let who = match a["user_name"].as_str() {
        Some(name) => format!("{name} ({})", text(&a["participant"])),
        None => text(&a["participant"]).to_owned(),
    };
    format!(
        "firing {} {}  {}  in {}  {}={}{} (threshold {})  since {}{}",
        text(&a["severity"]),
        text(&a["rule"]),
        who,
        meeting_text(a),
        text(&a["metric"]),
        a["value"],
        unit(&a["unit"]),
        a["threshold"],
        text(&a["since"]),
        marks(a)
    )
}

fn unit(u: &Value) -> String {
    match u.as_str() {
        Some("%") => "%".to_owned(),
        Some(u) if !u.is_empty() => format!(" {u}"),
        _ => String::new(),
    }
}

fn incident_line(i: &Value) -> String {
    let affected = match (i["affected"].as_u64(), i["population"].as_u64()) {
        (Some(a), Some(p)) => format!("{a} of {p} affected"),
        _ => format!(
            "{} affected",
            i["participants"].as_array().map_or(0, Vec::len)
        ),
    };
    format!(
        "incident {} {}  {}={}  in {}  {}  since {}{}",
        text(&i["severity"]),
        text(&i["rule"]),
        text(&i["scope"]),
        text(&i["scope_value"]),
        meeting_text(i),
        affected,
        text(&i["since"]),
        marks(i)
    )
}

/// `qoswatch silence ...`.
pub async fn silence(command: &SilenceCommand, out: &mut dyn Write) -> Result<i32, AdminError> {
    match command {
        SilenceCommand::Add {
            matchers,
            duration,
            until,
            until_meeting_end,
            comment,
            author,
            remote,
        } => {
            let body = add_body(
                matchers,
                duration.as_deref(),
                until.as_deref(),
                *until_meeting_end,
                comment,
                author.clone(),
            )?;
            let client = Client::new(remote)?;
            let made = client
                .call(reqwest::Method::POST, "/api/silences", Some(&body))
                .await?;
            let _ = writeln!(out, "{}", text(&made["id"]));
            Ok(EXIT_OK)
        }
        SilenceCommand::List { remote } => {
            let client = Client::new(remote)?;
            let body = client
                .call(reqwest::Method::GET, "/api/silences", None)
                .await?;
            let empty = Vec::new();
            let list = body["silences"].as_array().unwrap_or(&empty);
            if list.is_empty() {
                let _ = writeln!(out, "no silences");
            }
            for s in list {
                let _ = writeln!(out, "{}", silence_line(s));
            }
            Ok(EXIT_OK)
        }
        SilenceCommand::Expire { ids, remote } => {
            let client = Client::new(remote)?;
            let mut code = EXIT_OK;
            for id in ids {
                let path = format!(
                    "/api/silences/{}",
                    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
                );
                match client.call(reqwest::Method::DELETE, &path, None).await {
                    Ok(_) => {
                        let _ = writeln!(out, "{id}: expired");
                    }
                    Err(AdminError::Refused { status: 404, .. }) => {
                        let _ = writeln!(out, "{id}: no such silence");
                        code = EXIT_FAIL;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(code)
        }
    }
}

/// The request body of `silence add`, or a usage error.
fn add_body(
    matchers: &[String],
    duration: Option<&str>,
    until: Option<&str>,
    until_meeting_end: bool,
    comment: &str,
    author: Option<String>,
) -> Result<Value, AdminError> {
    let mut map = serde_json::Map::new();
    for arg in matchers {
        let m = Matcher::parse_cli(arg).map_err(AdminError::Usage)?;
        if map.contains_key(&m.key) {
            return Err(AdminError::Usage(format!(
                "`{}` is given twice: one matcher per key (a regex can say both: `{}=~^(a|b)$`)",
                m.key, m.key
            )));
        }
        let value = match matcher_value(&m.op) {
            MatcherValue::One(s) => json!(s),
            MatcherValue::Any(items) => json!(items),
        };
        map.insert(m.key, value);
    }
    let mut body = json!({
        "matchers": map,
        "comment": comment,
        "created_by": author
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default(),
    });
    if let Some(d) = duration {
        humantime::parse_duration(d.trim()).map_err(|e| {
            AdminError::Usage(format!(
                "--for `{d}` is not a duration such as 2h or 90m: {e}"
            ))
        })?;
        body["duration"] = json!(d);
    }
    if let Some(t) = until {
        crate::silence::wire::parse_time("--until", t).map_err(AdminError::Usage)?;
        body["ends_at"] = json!(t);
    }
    if until_meeting_end {
        body["until"] = json!("meeting_end");
    }
    Ok(body)
}

fn silence_line(s: &Value) -> String {
    let matchers: Vec<String> = s["matchers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(t) => format!("{k}: {t}"),
                    other => format!("{k}: {other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let ends = match (s["ends_at"].as_str(), s["until"].as_str()) {
        (Some(e), _) => format!("ends {e}"),
        (None, Some(u)) => format!("until {u}"),
        _ => String::new(),
    };
    let by = match s["created_by"].as_str() {
        Some(b) if !b.is_empty() => format!(" (by {b})"),
        _ => String::new(),
    };
    format!(
        "{}  {}  {}  {{{}}}  {}{}",
        text(&s["id"]),
        text(&s["state"]),
        ends,
        matchers.join(", "),
        text(&s["comment"]),
        by
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn remote(url: Option<&str>, config: PathBuf) -> Remote {
        Remote {
            url: url.map(str::to_owned),
            token: None,
            config,
        }
    }

    #[test]
    fn the_url_comes_from_the_flag_the_config_or_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.yaml");
        assert_eq!(
            base_url(&remote(None, missing.clone())).unwrap(),
            DEFAULT_URL
        );
        assert_eq!(
            base_url(&remote(Some("http://10.0.0.1:80/"), missing)).unwrap(),
            "http://10.0.0.1:80"
        );
        let config = dir.path().join("q.yaml");
        std::fs::write(
            &config,
            "replay: x/\nhttp:\n  listen: 0.0.0.0:9999\n  admin_token: ${UNSET_TOKEN}\n",
        )
        .unwrap();
        assert_eq!(
            base_url(&remote(None, config)).unwrap(),
            "http://127.0.0.1:9999"
        );
        assert!(matches!(
            base_url(&remote(Some("ftp://x"), PathBuf::new())),
            Err(AdminError::Usage(_))
        ));
    }

    #[test]
    fn add_takes_amtool_matchers_and_one_end() {
        let args: Vec<String> = ["rule=lat", "user_name=~^Room-", "topic!=Town hall"]
            .map(String::from)
            .to_vec();
        let body = add_body(&args, Some("2h"), None, false, "why", Some("me".into())).unwrap();
        assert_eq!(
            body,
            json!({"matchers": {"rule": "lat", "user_name": "~^Room-", "topic": "!Town hall"}, "duration": "2h", "comment": "why", "created_by": "me"})
        );
        let twice = ["rule=a", "rule=b"].map(String::from).to_vec();
        let e = add_body(&twice, Some("2h"), None, false, "why", None).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_USAGE);
        let bad = ["rule"].map(String::from).to_vec();
        assert!(matches!(
            add_body(&bad, Some("2h"), None, false, "why", None),
            Err(AdminError::Usage(_))
        ));
        assert!(matches!(
            add_body(&args, None, Some("tomorrow"), false, "why", None),
            Err(AdminError::Usage(_))
        ));
    }

    #[test]
    fn lines_mark_silenced_and_inhibited_alerts() {
        let a = json!({"rule": "lat", "severity": "warning", "participant": "u1", "user_name": "Ann",
            "meeting": "9", "topic": "Sync", "metric": "audio_input.latency", "value": 300.0, "unit": "ms",
            "threshold": 150.0, "since": "2026-01-01T00:00:00Z", "silenced_by": ["s-1"], "inhibited_by": ["lat-critical"]});
        assert_eq!(
            alert_line(&a),
            "firing warning lat  Ann (u1)  in Sync (9)  audio_input.latency=300.0 ms (threshold 150.0)  since 2026-01-01T00:00:00Z  [silenced by s-1]  [inhibited by lat-critical]"
        );
    }
}
