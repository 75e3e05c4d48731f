//! The Zoom Dashboard API client: the calls (discovery, QoS of a meeting or
//! of one participant), with the cached OAuth token (`auth`), a client-side
//! rate limit, the daily budget and retries.
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
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

pub use super::ZoomError;
use super::api::{Cutoff, QosResponse, parse_qos_response_since};
use super::auth::TokenCache;
use super::budget::{Budget, BudgetFile};
use super::{error_body, without_url};
use crate::config::ZoomConfig;
use crate::metrics::ZoomMetrics;
use crate::net::{Backoff, Clock, StatusClass, parse_retry_after};
use crate::qos::Timestamp;

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

/// The most pages one call follows.
const MAX_PAGES: u32 = 10_000;

/// The Zoom client. Cheap to share behind an `Arc`.
pub struct ZoomClient {
    http: reqwest::Client,
    api_base_url: reqwest::Url,
    /// Origin of the rate limiter's ticks.
    started: tokio::time::Instant,
    token: TokenCache,
    limiter: DefaultDirectRateLimiter,
    budget: Mutex<Budget>,
    /// Where the day's count is kept across restarts (`state_dir`), if
    /// anywhere.
    budget_file: Mutex<Option<BudgetFile>>,
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
#[serde(default)]
struct MeetingsPage {
    meetings: Vec<MeetingItem>,
    next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MeetingItem {
    uuid: Option<String>,
    id: Option<serde_json::Value>,
    topic: Option<String>,
    participants: Option<u64>,
}

impl MeetingItem {
    /// The meeting, unless it has neither a UUID nor an id.
    fn live(self) -> Option<LiveMeeting> {
        let id = match self.id {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s,
            _ => String::new(),
        };
        let uuid = self.uuid.unwrap_or_default();
        let (topic, participants) = (self.topic, self.participants);
        let known = !uuid.is_empty() || !id.is_empty();
        known.then_some(LiveMeeting {
            uuid,
            id,
            topic,
            participants,
        })
    }
}

enum Attempt<T> {
    Done(T),
    /// Worth another try, after what the peer asked for if it did.
    Retry {
        retry_after: Option<Duration>,
        error: ZoomError,
    },
    /// The token was refused: worth another try with a new one.
    Renew(ZoomError),
    Fail(ZoomError),
}

impl<T> Attempt<T> {
    /// Worth another try, after the policy's backoff.
    fn again(error: ZoomError) -> Attempt<T> {
        let retry_after = None;
        Attempt::Retry { retry_after, error }
    }
}

impl ZoomClient {
    pub fn new(
        config: &ZoomConfig,
        retry: RetryPolicy,
        metrics: ZoomMetrics,
    ) -> Result<ZoomClient, ZoomError> {
        let unusable = |message| ZoomError::SendRequest {
            endpoint: "client",
            message,
        };
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            // Zoom's API does not redirect; following one would carry the
            // token elsewhere. A 3xx is reported as an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| unusable(e.to_string()))?;
        let api_base_url = reqwest::Url::parse(&config.api_base)
            .map_err(|e| unusable(format!("invalid api_base: {e}")))?;
        let rps = NonZeroU32::new(config.requests_per_second).unwrap_or(NonZeroU32::MIN);
        metrics.budget_daily.set(i64::from(config.daily_budget));
        metrics.budget_remaining.set(i64::from(config.daily_budget));
        Ok(ZoomClient {
            http,
            started: tokio::time::Instant::now(),
            api_base_url,
            token: TokenCache::new(config),
            limiter: RateLimiter::direct(Quota::per_second(rps)),
            budget: Mutex::new(Budget::new(config.daily_budget)),
            budget_file: Mutex::new(None),
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

    /// The client keeping the day's request count in `state_dir` (read now,
    /// written as requests go out and when the client is dropped): a
    /// restart goes on from today's count, a new UTC day starts at zero.
    /// Set the clock first.
    pub fn with_budget_file(self, state_dir: &std::path::Path) -> ZoomClient {
        let mut file = BudgetFile::new(state_dir);
        if let Some((day, spent)) = file.load() {
            self.with_budget(|b, now| {
                b.restore(day, spent, now);
                let today = b.spent(now);
                if today > 0 {
                    tracing::info!(
                        requests = today,
                        "Zoom requests already spent today (UTC), from before the restart"
                    );
                }
            });
        }
        *self.budget_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        self
    }

    /// The clock the budget renews by.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The Server-to-Server OAuth access token (cached; `fresh` asks Zoom
    /// for a new one), for the event WebSocket.
    pub async fn access_token(&self, fresh: bool) -> Result<crate::config::Secret, ZoomError> {
        self.token.get(&self.http, &self.metrics, fresh).await
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
        self.metrics
            .budget_remaining
            .set(i64::from(budget.left(now)));
        if let Some(file) = self
            .budget_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            file.save(&mut budget, now, false);
        }
        out
    }

    /// Counts a request in `qoswatch_zoom_requests_total`.
    fn count(&self, endpoint: &str, status: &str) {
        let requests = &self.metrics.requests;
        requests.with_label_values(&[endpoint, status]).inc();
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
        let base = self.api_base_url.path().trim_end_matches('/');
        target.set_path(&format!("{base}{path}"));
        if !query.is_empty() {
            target.query_pairs_mut().extend_pairs(query);
        }
        let (mut attempt, mut renewed) = (0, false);
        loop {
            attempt += 1;
            match self.attempt(endpoint, &target, &parse).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Renew(error) if !renewed => {
                    // Expired or revoked (code 124): renew once, try again.
                    tracing::info!(endpoint, "{error}; renewing the access token");
                    (attempt, renewed) = (attempt - 1, true);
                    self.token.get(&self.http, &self.metrics, true).await?;
                }
                Attempt::Retry { retry_after, error } if attempt < self.retry.attempts => {
                    let wait = self.retry.backoff.honour(attempt, retry_after);
                    let wait_ms = wait.as_millis() as u64;
                    tracing::warn!(
                        endpoint,
                        attempt,
                        wait_ms,
                        "Zoom call failed, retrying: {error}"
                    );
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry { error, .. } | Attempt::Renew(error) | Attempt::Fail(error) => {
                    return Err(error);
                }
            }
        }
    }

    /// One try: spends a unit of the budget, waits for the rate limiter.
    async fn attempt<T>(
        &self,
        endpoint: &'static str,
        target: &reqwest::Url,
        parse: &impl Fn(&[u8]) -> Result<T, String>,
    ) -> Attempt<T> {
        let token = match self.token.get(&self.http, &self.metrics, false).await {
            Ok(t) => t,
            Err(error) => return Attempt::again(error),
        };
        if let Err(spent) = self.with_budget(Budget::take) {
            return Attempt::Fail(spent);
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
                let message = without_url(&e);
                return Attempt::again(ZoomError::SendRequest { endpoint, message });
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
        let body = match read_body(response).await {
            Ok(b) => b,
            Err(BodyError::Read(e)) => {
                let message = format!("reading the body: {}", without_url(&e));
                return Attempt::again(ZoomError::SendRequest { endpoint, message });
            }
            Err(BodyError::TooLarge) => {
                let message = format!("the body exceeds the {} MiB limit", MAX_BODY_BYTES >> 20);
                return Attempt::again(ZoomError::DecodeResponse { endpoint, message });
            }
        };
        let class = StatusClass::of(status.as_u16());
        if class == StatusClass::Success {
            return match parse(&body) {
                Ok(v) => Attempt::Done(v),
                Err(message) => Attempt::again(ZoomError::DecodeResponse { endpoint, message }),
            };
        }
        let (status, (code, message)) = (status.as_u16(), error_body(&body));
        let refused = |message| ZoomError::Status {
            endpoint,
            status,
            code,
            message,
        };
        let scope = scope_for(endpoint);
        let missing_scope = |message| ZoomError::MissingScope {
            endpoint,
            scope,
            message,
        };
        match status {
            401 => Attempt::Renew(refused(message)),
            404 => {
                let meeting = meeting_of(target.path());
                Attempt::Fail(ZoomError::MeetingNotFound { endpoint, meeting })
            }
            403 => Attempt::Fail(missing_scope(message)),
            400 if matches!(code, Some(4700 | 4711)) => Attempt::Fail(missing_scope(message)),
            429 => {
                // The daily cap, or a wait longer than a call may take:
                // give up, and the poller pauses instead.
                let daily = message.to_ascii_lowercase().contains("daily");
                let backoff = self.retry.backoff;
                let wait = retry_after.unwrap_or(backoff.base);
                let error = ZoomError::RateLimited {
                    endpoint,
                    retry_after: wait,
                    message,
                };
                if daily || retry_after.is_some_and(|asked| asked > backoff.max) {
                    Attempt::Fail(error)
                } else {
                    Attempt::Retry { retry_after, error }
                }
            }
            _ if class == StatusClass::Retryable => Attempt::Retry {
                retry_after,
                error: refused(message),
            },
            _ => Attempt::Fail(refused(message)),
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

    /// GETs every page of a paged endpoint, following `next_page_token`:
    /// `each` takes a page and gives its token. Returns the requests made.
    async fn pages<T>(
        &self,
        endpoint: &'static str,
        path: &str,
        mut query: Vec<(&str, String)>,
        parse: impl Fn(&[u8]) -> Result<T, String>,
        mut each: impl FnMut(T) -> Option<String>,
    ) -> Result<u32, ZoomError> {
        for requests in 1.. {
            let next = each(self.get(endpoint, path, &query, &parse).await?);
            match next.filter(|t| !t.is_empty()) {
                Some(token) if requests < MAX_PAGES => {
                    query.retain(|(key, _)| *key != "next_page_token");
                    query.push(("next_page_token", token));
                }
                _ => return Ok(requests),
            }
        }
        unreachable!("the pages end at MAX_PAGES")
    }

    /// Live meetings (discovery), all pages.
    pub async fn live_meetings(&self) -> Result<Vec<LiveMeeting>, ZoomError> {
        // Zoom requires `from` and `to` even for live meetings.
        let now = self.clock.now() as i64;
        let date = |t| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        let day = |t| date(t).format("%Y-%m-%d").to_string();
        let query = vec![
            ("type", "live".to_owned()),
            ("from", day(now - 86_400)),
            ("to", day(now)),
            ("page_size", "300".to_owned()),
        ];
        let read = |b: &[u8]| serde_json::from_slice::<MeetingsPage>(b).map_err(|e| e.to_string());
        let mut out = Vec::new();
        self.pages("list_meetings", "/metrics/meetings", query, read, |page| {
            out.extend(page.meetings.into_iter().filter_map(MeetingItem::live));
            page.next_page_token
        })
        .await?;
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
        self.list_qos("meetings", meeting, kind, cutoff).await
    }

    /// [`ZoomClient::meeting_qos`] of a webinar
    /// (`/metrics/webinars/{id}/participants/qos`, the same shape).
    pub async fn webinar_qos(
        &self,
        webinar: &str,
        kind: QosType,
        cutoff: &Cutoff,
    ) -> Result<(QosResponse, u32), ZoomError> {
        self.list_qos("webinars", webinar, kind, cutoff).await
    }

    async fn list_qos(
        &self,
        family: &str,
        meeting: &str,
        kind: QosType,
        cutoff: &Cutoff,
    ) -> Result<(QosResponse, u32), ZoomError> {
        let path = format!(
            "/metrics/{family}/{}/participants/qos",
            encode_meeting(meeting)
        );
        let query = vec![
            ("type", kind.as_str().to_owned()),
            ("page_size", "10".to_owned()),
        ];
        let read = |b: &[u8]| parse_qos_response_since(b, cutoff).map_err(|e| e.to_string());
        let mut merged = QosResponse::default();
        let requests = self
            .pages("list_participants_qos", &path, query, read, |page| {
                merged.participants.extend(page.participants);
                merged.warnings.extend(page.warnings);
                page.next_page_token
            })
            .await?;
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

impl Drop for ZoomClient {
    /// Writes the last count, which the throttled writes may not have.
    fn drop(&mut self) {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        let now = Timestamp(self.clock.now().floor() as i64);
        if let Some(file) = self
            .budget_file
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            file.save(&mut budget, now, true);
        }
    }
}

fn scope_for(endpoint: &str) -> &'static str {
    match endpoint {
        "list_meetings" => "dashboard:read:list_meetings:admin",
        "participant_qos" => "dashboard:read:meeting_participant_qos:admin",
        _ => "dashboard:read:list_meeting_participants_qos:admin",
    }
}

/// The meeting id or UUID of a QoS path, as the caller gave it.
fn meeting_of(path: &str) -> String {
    let segment = path
        .split('/')
        .skip_while(|s| *s != "meetings" && *s != "webinars")
        .nth(1);
    let once = percent_decode_str(segment.unwrap_or("")).decode_utf8_lossy();
    percent_decode_str(&once).decode_utf8_lossy().into_owned()
}

/// A Zoom response body larger than this fails like a malformed one (the
/// largest real page, 10 participants with an hour of samples, is a few
/// hundred KiB).
pub const MAX_BODY_BYTES: usize = 32 << 20;

enum BodyError {
    Read(reqwest::Error),
    TooLarge,
}

/// Reads a body up to [`MAX_BODY_BYTES`], without holding more.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
