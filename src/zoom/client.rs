//! The Zoom Dashboard API client: Server-to-Server OAuth with a cached
//! token, a client-side rate limit, the daily budget, and retries.
//!
//! Every call goes through [`ZoomClient::get`], which spends one unit of the
//! daily budget per HTTP request (retries included: Zoom counts them too),
//! waits for the rate limiter, renews the token once on 401, honours
//! `Retry-After` on 429 and retries 5xx, timeouts and malformed bodies,
//! waiting as the one retry policy of [`crate::net`] says.
//!
//! The client keeps no poll state. The QoS calls take the reader's
//! [`Cutoff`] (the newest sample already delivered per participant) as an
//! argument: the poller owns it, and other callers pass an empty one.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::config::{Secret, ZoomConfig, redact_url};
use crate::metrics::ZoomMetrics;
use crate::net::{Backoff, Clock, StatusClass, parse_retry_after};
use crate::qos::Timestamp;
use crate::zoom::api::{Cutoff, QosResponse, parse_qos_response_since};
use crate::zoom::budget::Budget;

/// Why a Zoom call failed (after its retries).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoomError {
    #[error("requesting a Zoom access token from {url} failed: {message}")]
    RequestToken { url: String, message: String },
    #[error("{endpoint}: request failed: {message}")]
    SendRequest {
        endpoint: &'static str,
        message: String,
    },
    #[error("{endpoint}: HTTP {status} (Zoom code {code:?}): {message}")]
    Status {
        endpoint: &'static str,
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("{endpoint}: unreadable response: {message}")]
    DecodeResponse {
        endpoint: &'static str,
        message: String,
    },
    #[error("{endpoint}: meeting {meeting} not found or not live (HTTP 404, code 3001)")]
    MeetingNotFound {
        endpoint: &'static str,
        meeting: String,
    },
    #[error(
        "{endpoint}: access denied ({message}); the app needs the scope {scope} (or dashboard_meetings:read:admin)"
    )]
    MissingScope {
        endpoint: &'static str,
        scope: &'static str,
        message: String,
    },
    #[error("{endpoint}: rate limited by Zoom; retry after {retry_after:?}: {message}")]
    RateLimited {
        endpoint: &'static str,
        retry_after: Duration,
        message: String,
    },
    #[error("daily API budget of {budget} requests is spent; it renews at {renews_at}")]
    BudgetExhausted { budget: u32, renews_at: Timestamp },
}

impl ZoomError {
    /// Whether the meeting is gone (ended, or never live).
    pub fn is_meeting_gone(&self) -> bool {
        matches!(self, ZoomError::MeetingNotFound { .. })
    }
}

/// Retry settings; tests use milliseconds.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per call, first included.
    pub attempts: u32,
    /// The wait between attempts; its `max` is also the longest
    /// `Retry-After` waited inside a call (a longer one fails the call).
    pub backoff: Backoff,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            timeout: Duration::from_secs(30),
        }
    }
}

struct Token {
    value: Secret,
    renew_at: Instant,
}

/// A live meeting from discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMeeting {
    pub uuid: String,
    pub id: String,
    pub topic: Option<String>,
    pub participants: Option<u64>,
}

/// `type=live` or `type=past`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosType {
    Live,
    Past,
}

impl QosType {
    fn as_str(self) -> &'static str {
        match self {
            QosType::Live => "live",
            QosType::Past => "past",
        }
    }
}

/// How far apart the rate limiter lets waiting calls go (see
/// `ZoomClient::rate_limit`).
const RATE_TICK: Duration = Duration::from_millis(200);

/// The Zoom client. Cheap to share behind an `Arc`.
pub struct ZoomClient {
    http: reqwest::Client,
    api_base_url: reqwest::Url,
    /// Origin of the rate limiter's ticks.
    started: tokio::time::Instant,
    oauth_url: String,
    account_id: String,
    client_id: String,
    client_secret: Secret,
    token: tokio::sync::Mutex<Option<Token>>,
    limiter: DefaultDirectRateLimiter,
    budget: Mutex<Budget>,
    retry: RetryPolicy,
    /// Bumped and set here, as requests go out and the budget is spent.
    metrics: ZoomMetrics,
    /// The time of day, for the budget and discovery's dates.
    clock: Clock,
}

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a meeting id or UUID for a path: twice when it starts with `/` or
/// contains `//` (Zoom's rule), once otherwise.
pub fn encode_meeting(id: &str) -> String {
    let once = utf8_percent_encode(id, SEGMENT).to_string();
    if id.starts_with('/') || id.contains("//") {
        utf8_percent_encode(&once, SEGMENT).to_string()
    } else {
        once
    }
}

#[derive(Deserialize, Default)]
struct ZoomErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct MeetingsPage {
    #[serde(default)]
    meetings: Vec<MeetingItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct MeetingItem {
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    participants: Option<u64>,
}

enum Attempt<T> {
    Done(T),
    /// Worth another try, after what the peer asked for if it did.
    Retry {
        retry_after: Option<Duration>,
        error: ZoomError,
    },
    Fail(ZoomError),
}

impl ZoomClient {
    pub fn new(
        config: &ZoomConfig,
        retry: RetryPolicy,
        metrics: ZoomMetrics,
    ) -> Result<ZoomClient, ZoomError> {
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            // Zoom's API does not redirect; following one would carry the
            // token elsewhere. A 3xx is reported as an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ZoomError::SendRequest {
                endpoint: "client",
                message: e.to_string(),
            })?;
        let rps = NonZeroU32::new(config.requests_per_second).unwrap_or(NonZeroU32::MIN);
        metrics.budget_daily.set(i64::from(config.daily_budget));
        metrics.budget_remaining.set(i64::from(config.daily_budget));
        Ok(ZoomClient {
            http,
            started: tokio::time::Instant::now(),
            api_base_url: reqwest::Url::parse(&config.api_base).map_err(|e| {
                ZoomError::SendRequest {
                    endpoint: "client",
                    message: format!("invalid api_base: {e}"),
                }
            })?,
            oauth_url: config.oauth_url.clone(),
            account_id: config.account_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            token: tokio::sync::Mutex::new(None),
            limiter: RateLimiter::direct(Quota::per_second(rps)),
            budget: Mutex::new(Budget::new(config.daily_budget)),
            retry,
            metrics,
            clock: Clock::system(),
        })
    }

    /// The client with `clock` for the time of day (the system clock by
    /// default).
    pub fn with_clock(mut self, clock: Clock) -> ZoomClient {
        self.clock = clock;
        self
    }

    /// The clock the budget renews by.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Requests left in today's budget.
    pub fn budget_left(&self) -> u32 {
        self.with_budget(|b, now| b.left(now))
    }

    /// Requests a second that spend today's budget evenly until it renews.
    pub fn budget_per_second(&self) -> f64 {
        self.with_budget(|b, now| b.per_second(now))
    }

    /// Runs `f` on the budget (rolled over to today), then updates the
    /// remaining-budget gauge.
    fn with_budget<T>(&self, f: impl FnOnce(&mut Budget, Timestamp) -> T) -> T {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        let now = Timestamp(self.clock.now().floor() as i64);
        let out = f(&mut budget, now);
        let left = budget.left(now);
        self.metrics.budget_remaining.set(i64::from(left));
        out
    }

    /// Counts a request in `qoswatch_zoom_requests_total`.
    fn count(&self, endpoint: &str, status: &str) {
        self.metrics
            .requests
            .with_label_values(&[endpoint, status])
            .inc();
    }

    /// The daily budget.
    pub fn budget_limit(&self) -> u32 {
        self.budget.lock().map(|b| b.limit()).unwrap_or(0)
    }

    async fn access_token(&self, force: bool) -> Result<Secret, ZoomError> {
        let mut slot = self.token.lock().await;
        if !force
            && let Some(t) = slot.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let fail = |message: String| ZoomError::RequestToken {
            url: redact_url(&self.oauth_url),
            message,
        };
        let response = self
            .http
            .post(&self.oauth_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", self.account_id.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                self.count("token", if e.is_timeout() { "timeout" } else { "error" });
                fail(without_url(&e))
            })?;
        let status = response.status();
        self.count("token", status.as_str());
        let body = response.bytes().await.map_err(|e| fail(without_url(&e)))?;
        if !status.is_success() {
            let err: ZoomErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let reason = err
                .message
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(fail(format!(
                "HTTP {status}: {reason}; check account_id, client_id and client_secret"
            )));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("unreadable token response: {e}")))?;
        let life = Duration::from_secs(t.expires_in.unwrap_or(3600));
        // Renew shortly before expiry: a minute early, or at 90% of a short life.
        let margin = Duration::from_secs(60).min(life / 10);
        let value = Secret::new(t.access_token);
        *slot = Some(Token {
            value: value.clone(),
            renew_at: Instant::now() + life - margin,
        });
        Ok(value)
    }

    /// GETs `path` (below `api_base`) and parses the body with `parse`,
    /// retrying as the module docs say.
    pub async fn get<T>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, ZoomError> {
        // Built once: reqwest would parse the string again on every attempt.
        let mut target = self.api_base_url.clone();
        target.set_path(&format!(
            "{}{path}",
            self.api_base_url.path().trim_end_matches('/')
        ));
        if !query.is_empty() {
            target.query_pairs_mut().extend_pairs(query);
        }
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(endpoint, &target, &parse, &mut renewed).await;
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { retry_after, error } => {
                    if attempt >= self.retry.attempts {
                        return Err(error);
                    }
                    let wait = self.retry.backoff.honour(attempt, retry_after);
                    tracing::warn!(
                        endpoint,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "Zoom call failed, retrying: {error}"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt<T>(
        &self,
        endpoint: &'static str,
        target: &reqwest::Url,
        parse: &impl Fn(&[u8]) -> Result<T, String>,
        renewed: &mut bool,
    ) -> Attempt<T> {
        let token = match self.access_token(false).await {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry {
                    retry_after: None,
                    error: e,
                };
            }
        };
        let mut token = token;
        loop {
            if let Err(renews_at) = self.with_budget(Budget::take) {
                return Attempt::Fail(ZoomError::BudgetExhausted {
                    budget: self.budget_limit(),
                    renews_at,
                });
            }
            self.rate_limit().await;
            let sent = self
                .http
                .get(target.clone())
                .bearer_auth(token.expose())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    self.count(endpoint, if e.is_timeout() { "timeout" } else { "error" });
                    return Attempt::Retry {
                        retry_after: None,
                        error: ZoomError::SendRequest {
                            endpoint,
                            message: without_url(&e),
                        },
                    };
                }
            };
            let status = response.status();
            self.count(endpoint, status.as_str());
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                // Relative to the real time, like Zoom's own clock.
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    return Attempt::Retry {
                        retry_after: None,
                        error: ZoomError::SendRequest {
                            endpoint,
                            message: format!("reading the body: {}", without_url(&e)),
                        },
                    };
                }
            };
            let class = StatusClass::of(status.as_u16());
            if class == StatusClass::Success {
                return match parse(&body) {
                    Ok(v) => Attempt::Done(v),
                    Err(message) => Attempt::Retry {
                        retry_after: None,
                        error: ZoomError::DecodeResponse { endpoint, message },
                    },
                };
            }
            let err: ZoomErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let message = err
                .message
                .clone()
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            let missing_scope = || ZoomError::MissingScope {
                endpoint,
                scope: scope_for(endpoint),
                message: message.clone(),
            };
            return match (status.as_u16(), class) {
                (401, _) if !*renewed => {
                    // Expired or revoked token (code 124): renew once, retry.
                    *renewed = true;
                    tracing::info!(
                        endpoint,
                        "Zoom rejected the access token ({message}); renewing it"
                    );
                    match self.access_token(true).await {
                        Ok(t) => {
                            token = t;
                            continue;
                        }
                        Err(e) => Attempt::Fail(e),
                    }
                }
                (404, _) => Attempt::Fail(ZoomError::MeetingNotFound {
                    endpoint,
                    meeting: meeting_of(target.path()),
                }),
                (403, _) => Attempt::Fail(missing_scope()),
                (400, _) if matches!(err.code, Some(4700 | 4711)) => Attempt::Fail(missing_scope()),
                (429, _) => {
                    // The daily cap, or a wait longer than a call may
                    // take: give up and let the poller pause instead.
                    let daily = message.to_ascii_lowercase().contains("daily");
                    let backoff = self.retry.backoff;
                    let error = ZoomError::RateLimited {
                        endpoint,
                        retry_after: retry_after.unwrap_or(backoff.base),
                        message,
                    };
                    if daily || retry_after.is_some_and(|asked| asked > backoff.max) {
                        Attempt::Fail(error)
                    } else {
                        Attempt::Retry { retry_after, error }
                    }
                }
                (status, class) => {
                    let error = ZoomError::Status {
                        endpoint,
                        status,
                        code: err.code,
                        message,
                    };
                    if class == StatusClass::Retryable {
                        Attempt::Retry { retry_after, error }
                    } else {
                        Attempt::Fail(error)
                    }
                }
            };
        }
    }

    /// Waits for the requests-per-second limiter. Waiting calls wake on
    /// shared ticks ([`RATE_TICK`] apart) rather than each at its own
    /// instant: the limiter hands out the tick's worth of requests together,
    /// which keeps the rate and costs one wake-up per batch instead of one
    /// per request (a large share of the CPU of a busy poll cycle). Not
    /// governor's `until_ready`, which sleeps on futures-timer's own thread.
    async fn rate_limit(&self) {
        while let Err(not_until) = self.limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.limiter.clock()));
            let tick = RATE_TICK.as_nanos();
            let since_start = self.started.elapsed() + wait;
            let aligned = since_start.as_nanos().div_ceil(tick) * tick;
            let deadline = self.started + Duration::from_nanos(aligned as u64);
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Live meetings (discovery), all pages.
    pub async fn live_meetings(&self) -> Result<Vec<LiveMeeting>, ZoomError> {
        let now = chrono::DateTime::from_timestamp(self.clock.now() as i64, 0);
        let today = now.unwrap_or_default().date_naive();
        let from = (today - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let to = today.format("%Y-%m-%d").to_string();
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..1000 {
            let mut query = vec![
                ("type", "live".to_owned()),
                ("from", from.clone()),
                ("to", to.clone()),
                ("page_size", "300".to_owned()),
            ];
            if !token.is_empty() {
                query.push(("next_page_token", token.clone()));
            }
            let page: MeetingsPage = self
                .get("list_meetings", "/metrics/meetings", &query, |b| {
                    serde_json::from_slice(b).map_err(|e| e.to_string())
                })
                .await?;
            for m in page.meetings {
                let id = match m.id {
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(serde_json::Value::String(s)) => s,
                    _ => String::new(),
                };
                let uuid = m.uuid.unwrap_or_default();
                if uuid.is_empty() && id.is_empty() {
                    continue;
                }
                out.push(LiveMeeting {
                    uuid,
                    id,
                    topic: m.topic,
                    participants: m.participants,
                });
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = t,
                None => break,
            }
        }
        Ok(out)
    }

    /// QoS of every participant of a meeting (bulk endpoint, `page_size=10`,
    /// all pages merged), passing over the samples at or before `cutoff`.
    /// Returns the response and the number of requests.
    pub async fn meeting_qos(
        &self,
        meeting: &str,
        kind: QosType,
        cutoff: &Cutoff,
    ) -> Result<(QosResponse, u32), ZoomError> {
        let path = format!(
            "/metrics/meetings/{}/participants/qos",
            encode_meeting(meeting)
        );
        let mut merged = QosResponse::default();
        let mut token = String::new();
        let mut requests = 0;
        for _ in 0..10_000 {
            let mut query = vec![
                ("type", kind.as_str().to_owned()),
                ("page_size", "10".to_owned()),
            ];
            if !token.is_empty() {
                query.push(("next_page_token", token.clone()));
            }
            requests += 1;
            let page = self
                .get("list_participants_qos", &path, &query, |b| {
                    parse_qos_response_since(b, cutoff).map_err(|e| e.to_string())
                })
                .await?;
            merged.participants.extend(page.participants);
            merged.warnings.extend(page.warnings);
            match page.next_page_token {
                Some(t) => token = t,
                None => break,
            }
        }
        Ok((merged, requests))
    }

    /// QoS of one participant (per-participant endpoint), passing over the
    /// samples at or before `cutoff`.
    pub async fn participant_qos(
        &self,
        meeting: &str,
        participant: &str,
        kind: QosType,
        cutoff: &Cutoff,
    ) -> Result<QosResponse, ZoomError> {
        let path = format!(
            "/metrics/meetings/{}/participants/{}/qos",
            encode_meeting(meeting),
            utf8_percent_encode(participant, SEGMENT)
        );
        self.get(
            "participant_qos",
            &path,
            &[("type", kind.as_str().to_owned())],
            |b| parse_qos_response_since(b, cutoff).map_err(|e| e.to_string()),
        )
        .await
    }
}

fn scope_for(endpoint: &str) -> &'static str {
    match endpoint {
        "list_meetings" => "dashboard:read:list_meetings:admin",
        "participant_qos" => "dashboard:read:meeting_participant_qos:admin",
        _ => "dashboard:read:list_meeting_participants_qos:admin",
    }
}

fn meeting_of(path: &str) -> String {
    path.split("/metrics/meetings/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .map(|m| {
            percent_encoding::percent_decode_str(&m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// A reqwest error's text without its URL (which may hold ids worth hiding).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), &redact_url(url.as_str()));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_encode_once_or_twice() {
        assert_eq!(
            encode_meeting("/ajXp112QmuoKj4854875=="),
            "%252FajXp112QmuoKj4854875%253D%253D"
        );
        assert_eq!(
            encode_meeting("w7fUhDMLSo25Lfvu/3I+cw=="),
            "w7fUhDMLSo25Lfvu%2F3I%2Bcw%3D%3D"
        );
        assert_eq!(encode_meeting("ab//cd"), "ab%252F%252Fcd");
        assert_eq!(encode_meeting("85746065432"), "85746065432");
    }
}
