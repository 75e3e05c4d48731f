//! A mock Zoom and Zoom's response bodies.
//!
//! [`MockZoom`] is a wiremock server with the Server-to-Server OAuth token
//! endpoint mounted; the endpoint functions ([`discovery`], [`bulk_qos`],
//! [`participant_qos`], [`oauth_token`]) return wiremock `MockBuilder`s with
//! the method and path already matched, so a test adds its responder and its
//! call count the wiremock way:
//!
//! ```ignore
//! let zoom = MockZoom::start().await;
//! zoom::bulk_qos("42")
//!     .respond_with(|_: &Request| json(QosPage::new().participant(p).to_json()))
//!     .expect(1)
//!     .mount(&zoom.server)
//!     .await;
//! ```
//!
//! The body builders ([`QosPage`], [`Participant`], [`QosSample`],
//! [`Stream`], [`MeetingsPage`], [`Meeting`]) write JSON in Zoom's key order
//! (`date_time` first in each sample, participant keys as in
//! `tests/fixtures/zoom-participant-qos-example.json`), whatever order the
//! test sets them in: `serde_json::json!` sorts keys alphabetically, so it
//! cannot write a Zoom body.
//!
//! Self-contained (no `super::`): a bench or an example may include this file
//! alone with `#[path = "../tests/kit/zoom.rs"] mod zoom;`.

#![allow(dead_code)]

use qoswatch::config::{Secret, ZoomConfig};
use serde::Serialize;
use wiremock::matchers::{basic_auth, body_string_contains, method, path, path_regex, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// The credentials of the kit's Zoom app unless a test picks others.
pub const ACCOUNT_ID: &str = "acc";
pub const CLIENT_ID: &str = "cid";
pub const CLIENT_SECRET: &str = "csecret";
/// The access token the mock hands out unless a test picks another.
pub const ACCESS_TOKEN: &str = "tok";

/// A running mock Zoom: a wiremock server with `POST /oauth/token` mounted.
pub struct MockZoom {
    pub server: MockServer,
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub access_token: String,
}

/// How the mock's token endpoint behaves; see [`MockZoom::builder`].
pub struct MockZoomBuilder {
    account_id: String,
    client_id: String,
    client_secret: String,
    access_token: String,
    expires_in: u64,
    expect_tokens: Option<u64>,
    oauth: bool,
    listener: Option<std::net::TcpListener>,
}

impl MockZoom {
    /// A mock Zoom with the default credentials and token; any number of
    /// token requests.
    pub async fn start() -> MockZoom {
        MockZoom::builder().start().await
    }

    pub fn builder() -> MockZoomBuilder {
        MockZoomBuilder {
            account_id: ACCOUNT_ID.into(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            access_token: ACCESS_TOKEN.into(),
            expires_in: 3600,
            expect_tokens: None,
            oauth: true,
            listener: None,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The `api_base` of a config pointing here.
    pub fn api_base(&self) -> String {
        format!("{}/v2", self.server.uri())
    }

    /// The `oauth_url` of a config pointing here.
    pub fn oauth_url(&self) -> String {
        format!("{}/oauth/token", self.server.uri())
    }

    /// The library's Zoom config for this server: generous limits
    /// (1,000 requests a second, 100,000 a day); tests that exercise the
    /// limits set the fields.
    pub fn config(&self) -> ZoomConfig {
        ZoomConfig {
            account_id: self.account_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: Secret::new(self.client_secret.clone()),
            api_base: self.api_base(),
            oauth_url: self.oauth_url(),
            requests_per_second: 1000,
            daily_budget: 100_000,
            webhook: None,
            websocket: None,
        }
    }

    /// The `zoom:` section of a qoswatch.yaml for this server, with
    /// `client_secret` written as given: the secret itself, or a `${VAR}`
    /// reference the test sets in the child's environment.
    pub fn yaml_section(&self, client_secret: &str) -> String {
        format!(
            "zoom:\n  account_id: {}\n  client_id: {}\n  client_secret: {client_secret}\n  api_base: {}\n  oauth_url: {}\n",
            self.account_id,
            self.client_id,
            self.api_base(),
            self.oauth_url()
        )
    }

    /// Mounts a mock on the server.
    pub async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }
}

impl MockZoomBuilder {
    pub fn credentials(mut self, account_id: &str, client_id: &str, client_secret: &str) -> Self {
        self.account_id = account_id.into();
        self.client_id = client_id.into();
        self.client_secret = client_secret.into();
        self
    }

    pub fn client_secret(mut self, secret: &str) -> Self {
        self.client_secret = secret.into();
        self
    }

    pub fn access_token(mut self, token: &str) -> Self {
        self.access_token = token.into();
        self
    }

    /// The token's `expires_in`, in seconds (default 3600).
    pub fn expires_in(mut self, secs: u64) -> Self {
        self.expires_in = secs;
        self
    }

    /// Exactly `n` token requests, verified when the server drops.
    pub fn expect_tokens(mut self, n: u64) -> Self {
        self.expect_tokens = Some(n);
        self
    }

    /// No token endpoint: the test mounts its own with [`oauth_token`].
    pub fn without_oauth(mut self) -> Self {
        self.oauth = false;
        self
    }

    /// Serve on this listener instead of a free port.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    pub async fn start(self) -> MockZoom {
        let server = match self.listener {
            Some(l) => MockServer::builder().listener(l).start().await,
            None => MockServer::start().await,
        };
        if self.oauth {
            // The token request of Server-to-Server OAuth: the app's
            // credentials as basic auth, the account in the form body.
            let mut mock = oauth_token()
                .and(basic_auth(&self.client_id, &self.client_secret))
                .and(body_string_contains("grant_type=account_credentials"))
                .and(body_string_contains(format!(
                    "account_id={}",
                    self.account_id
                )))
                .respond_with(token_response(&self.access_token, self.expires_in));
            if let Some(n) = self.expect_tokens {
                mock = mock.expect(n);
            }
            mock.mount(&server).await;
        }
        MockZoom {
            server,
            account_id: self.account_id,
            client_id: self.client_id,
            client_secret: self.client_secret,
            access_token: self.access_token,
        }
    }
}

/// `POST /oauth/token`.
pub fn oauth_token() -> MockBuilder {
    Mock::given(method("POST")).and(path("/oauth/token"))
}

/// Zoom's answer to a token request.
pub fn token_response(access_token: &str, expires_in: u64) -> ResponseTemplate {
    let mut body = Object::new(&["access_token", "token_type", "expires_in", "scope"]);
    body.set("access_token", access_token);
    body.set("token_type", "bearer");
    body.set("expires_in", expires_in);
    body.set("scope", "dashboard:read:admin");
    json(body.to_json())
}

/// Discovery of live meetings: `GET /v2/metrics/meetings?type=live`.
pub fn discovery() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/v2/metrics/meetings"))
        .and(query_param("type", "live"))
}

/// The bulk QoS of one meeting: `GET /v2/metrics/meetings/{meeting}/participants/qos`.
/// `meeting` as it appears in the path: an id, or a UUID already encoded
/// the way Zoom wants it (`abc%3D%3D`).
pub fn bulk_qos(meeting: &str) -> MockBuilder {
    Mock::given(method("GET")).and(path(format!(
        "/v2/metrics/meetings/{meeting}/participants/qos"
    )))
}

/// The bulk QoS of any meeting.
pub fn any_bulk_qos() -> MockBuilder {
    Mock::given(method("GET")).and(path_regex("^/v2/metrics/meetings/[^/]+/participants/qos$"))
}

/// One participant's QoS:
/// `GET /v2/metrics/meetings/{meeting}/participants/{participant}/qos`.
pub fn participant_qos(meeting: &str, participant: &str) -> MockBuilder {
    Mock::given(method("GET")).and(path(format!(
        "/v2/metrics/meetings/{meeting}/participants/{participant}/qos"
    )))
}

/// A 200 with a JSON body written by the builders below.
pub fn json(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json")
}

/// Zoom's `date_time` for Unix seconds: `2026-03-02T15:00:00Z`.
pub fn stamp(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The current wall-clock time in Unix seconds.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Keys of the QoS list response (`.../participants/qos`), in Zoom's order.
/// `meeting_id`, `meeting_uuid` and `topic` are not Zoom's but recordings
/// may add them.
pub const PAGE_KEYS: &[&str] = &[
    "meeting_id",
    "meeting_uuid",
    "topic",
    "page_count",
    "page_size",
    "total_records",
    "next_page_token",
    "participants",
];

/// Keys of a participant, in Zoom's order.
pub const PARTICIPANT_KEYS: &[&str] = &[
    "id",
    "user_id",
    "user_name",
    "device",
    "ip_address",
    "location",
    "network_type",
    "data_center",
    "connection_type",
    "join_time",
    "leave_time",
    "share_application",
    "share_desktop",
    "share_whiteboard",
    "recording",
    "pc_name",
    "domain",
    "mac_addr",
    "harddisk_id",
    "version",
    "email",
    "participant_user_id",
    "user_qos",
];

/// Keys of one `user_qos` sample, in Zoom's order: `date_time` first.
pub const SAMPLE_KEYS: &[&str] = &[
    "date_time",
    "audio_input",
    "audio_output",
    "video_input",
    "video_output",
    "as_input",
    "as_output",
    "cpu_usage",
    "wifi_rssi",
];

/// Keys of one stream, in Zoom's order.
pub const STREAM_KEYS: &[&str] = &[
    "bitrate",
    "latency",
    "jitter",
    "avg_loss",
    "max_loss",
    "resolution",
    "frame_rate",
];

pub const CPU_KEYS: &[&str] = &[
    "zoom_min_cpu_usage",
    "zoom_avg_cpu_usage",
    "zoom_max_cpu_usage",
    "system_max_cpu_usage",
];

pub const RSSI_KEYS: &[&str] = &["max_rssi", "avg_rssi", "min_rssi", "rssi_unit"];

/// Keys of the live meeting list (`GET /metrics/meetings`), in Zoom's order.
pub const MEETINGS_PAGE_KEYS: &[&str] = &[
    "from",
    "to",
    "page_count",
    "page_size",
    "total_records",
    "next_page_token",
    "meetings",
];

/// Keys of a meeting in the list, in Zoom's order.
pub const MEETING_KEYS: &[&str] = &[
    "uuid",
    "id",
    "topic",
    "host",
    "email",
    "user_type",
    "start_time",
    "end_time",
    "duration",
    "participants",
];

/// A JSON object that writes the keys of its `order` first, in that order,
/// then any others in the order they were set. Values are kept as written
/// JSON.
#[derive(Clone, Debug)]
pub struct Object {
    order: &'static [&'static str],
    fields: Vec<(String, String)>,
}

impl Object {
    pub fn new(order: &'static [&'static str]) -> Object {
        Object {
            order,
            fields: Vec::new(),
        }
    }

    /// Sets `key` to a scalar (or any serialisable value whose own key order
    /// does not matter), replacing an earlier value.
    pub fn set(&mut self, key: &str, value: impl Serialize) {
        let text = serde_json::to_string(&value).expect("serialisable");
        self.set_raw(key, text);
    }

    /// Sets `key` to already written JSON.
    pub fn set_raw(&mut self, key: &str, json: String) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = json,
            None => self.fields.push((key.to_owned(), json)),
        }
    }

    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let known = self
            .order
            .iter()
            .filter_map(|key| self.fields.iter().find(|(k, _)| k == key));
        let others = self
            .fields
            .iter()
            .filter(|(k, _)| !self.order.contains(&k.as_str()));
        for (i, (k, v)) in known.chain(others).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).expect("a key"));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }
}

fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// One stream of a sample (`audio_input`, ...): values as Zoom's unit
/// strings (`"126 ms"`, `"0.3%"`, `"1055 kbps"`, `"1280*720"`, `"12 fps"`).
#[derive(Clone, Debug)]
pub struct Stream(Object);

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream(Object::new(STREAM_KEYS))
    }

    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.0.set(key, value);
        self
    }

    pub fn bitrate(self, v: impl Serialize) -> Self {
        self.set("bitrate", v)
    }

    pub fn latency(self, v: impl Serialize) -> Self {
        self.set("latency", v)
    }

    pub fn jitter(self, v: impl Serialize) -> Self {
        self.set("jitter", v)
    }

    pub fn avg_loss(self, v: impl Serialize) -> Self {
        self.set("avg_loss", v)
    }

    pub fn max_loss(self, v: impl Serialize) -> Self {
        self.set("max_loss", v)
    }

    pub fn resolution(self, v: impl Serialize) -> Self {
        self.set("resolution", v)
    }

    pub fn frame_rate(self, v: impl Serialize) -> Self {
        self.set("frame_rate", v)
    }

    pub fn to_json(&self) -> String {
        self.0.to_json()
    }
}

/// One `user_qos` entry.
#[derive(Clone, Debug)]
pub struct QosSample(Object);

impl QosSample {
    /// A sample taken at `date_time` (`2026-03-02T15:00:00Z`).
    pub fn at(date_time: &str) -> QosSample {
        let mut o = Object::new(SAMPLE_KEYS);
        o.set("date_time", date_time);
        QosSample(o)
    }

    /// A sample taken at Unix second `unix_secs`.
    pub fn at_unix(unix_secs: i64) -> QosSample {
        QosSample::at(&stamp(unix_secs))
    }

    /// Sets a stream (`audio_input`, `video_output`, `as_input`, ...).
    pub fn stream(mut self, name: &str, stream: Stream) -> Self {
        self.0.set_raw(name, stream.to_json());
        self
    }

    /// A stream Zoom sends as `""` (no data for the whole stream).
    pub fn blank(mut self, name: &str) -> Self {
        self.0.set(name, "");
        self
    }

    /// `cpu_usage`, as percentages like `"14%"`.
    pub fn cpu_usage(
        mut self,
        zoom_min: impl Serialize,
        zoom_avg: impl Serialize,
        zoom_max: impl Serialize,
        system_max: impl Serialize,
    ) -> Self {
        let mut o = Object::new(CPU_KEYS);
        o.set("zoom_min_cpu_usage", zoom_min);
        o.set("zoom_avg_cpu_usage", zoom_avg);
        o.set("zoom_max_cpu_usage", zoom_max);
        o.set("system_max_cpu_usage", system_max);
        self.0.set_raw("cpu_usage", o.to_json());
        self
    }

    /// `wifi_rssi` in dBm.
    pub fn wifi_rssi(mut self, max: i64, avg: i64, min: i64) -> Self {
        let mut o = Object::new(RSSI_KEYS);
        o.set("max_rssi", max);
        o.set("avg_rssi", avg);
        o.set("min_rssi", min);
        o.set("rssi_unit", "dBm");
        self.0.set_raw("wifi_rssi", o.to_json());
        self
    }

    /// Any other key.
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.0.set(key, value);
        self
    }

    pub fn to_json(&self) -> String {
        self.0.to_json()
    }
}

/// A participant with its samples; alone, the body of the per-participant
/// QoS endpoint.
#[derive(Clone, Debug)]
pub struct Participant {
    fields: Object,
    samples: Vec<String>,
}

impl Participant {
    pub fn new(user_id: &str) -> Participant {
        let mut fields = Object::new(PARTICIPANT_KEYS);
        fields.set("user_id", user_id);
        Participant {
            fields,
            samples: Vec::new(),
        }
    }

    pub fn name(self, user_name: &str) -> Self {
        self.set("user_name", user_name)
    }

    /// Any participant field (`device`, `network_type`, `join_time`, ...).
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.fields.set(key, value);
        self
    }

    pub fn sample(mut self, sample: QosSample) -> Self {
        self.samples.push(sample.to_json());
        self
    }

    pub fn samples(mut self, samples: impl IntoIterator<Item = QosSample>) -> Self {
        self.samples
            .extend(samples.into_iter().map(|s| s.to_json()));
        self
    }

    pub fn to_json(&self) -> String {
        let mut o = self.fields.clone();
        o.set_raw("user_qos", array(&self.samples));
        o.to_json()
    }
}

/// One page of the bulk QoS response. Without [`QosPage::paging`] it has
/// only `next_page_token` (empty: the last page) and `participants`.
#[derive(Clone, Debug)]
pub struct QosPage {
    fields: Object,
    participants: Vec<String>,
}

impl Default for QosPage {
    fn default() -> Self {
        QosPage::new()
    }
}

impl QosPage {
    pub fn new() -> QosPage {
        let mut fields = Object::new(PAGE_KEYS);
        fields.set("next_page_token", "");
        QosPage {
            fields,
            participants: Vec::new(),
        }
    }

    /// `page_count`, `page_size` and `total_records`.
    pub fn paging(mut self, page_count: u64, page_size: u64, total_records: u64) -> Self {
        self.fields.set("page_count", page_count);
        self.fields.set("page_size", page_size);
        self.fields.set("total_records", total_records);
        self
    }

    pub fn next_page_token(mut self, token: &str) -> Self {
        self.fields.set("next_page_token", token);
        self
    }

    /// `meeting_id` and `topic`, as recordings add them.
    pub fn meeting(mut self, meeting_id: &str, topic: &str) -> Self {
        self.fields.set("meeting_id", meeting_id);
        self.fields.set("topic", topic);
        self
    }

    pub fn participant(mut self, p: Participant) -> Self {
        self.participants.push(p.to_json());
        self
    }

    pub fn participants(mut self, ps: impl IntoIterator<Item = Participant>) -> Self {
        self.participants
            .extend(ps.into_iter().map(|p| p.to_json()));
        self
    }

    pub fn to_json(&self) -> String {
        let mut o = self.fields.clone();
        o.set_raw("participants", array(&self.participants));
        o.to_json()
    }
}

/// A live meeting in the discovery list.
#[derive(Clone, Debug)]
pub struct Meeting(Object);

impl Meeting {
    pub fn new(uuid: &str, id: u64) -> Meeting {
        let mut o = Object::new(MEETING_KEYS);
        o.set("uuid", uuid);
        o.set("id", id);
        Meeting(o)
    }

    pub fn topic(self, topic: &str) -> Self {
        self.set("topic", topic)
    }

    /// The participant count Zoom reports.
    pub fn participants(self, n: u64) -> Self {
        self.set("participants", n)
    }

    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.0.set(key, value);
        self
    }

    pub fn to_json(&self) -> String {
        self.0.to_json()
    }
}

/// One page of the discovery list: `next_page_token` and `meetings`.
#[derive(Clone, Debug)]
pub struct MeetingsPage {
    fields: Object,
    meetings: Vec<String>,
}

impl Default for MeetingsPage {
    fn default() -> Self {
        MeetingsPage::new()
    }
}

impl MeetingsPage {
    pub fn new() -> MeetingsPage {
        let mut fields = Object::new(MEETINGS_PAGE_KEYS);
        fields.set("next_page_token", "");
        MeetingsPage {
            fields,
            meetings: Vec::new(),
        }
    }

    pub fn next_page_token(mut self, token: &str) -> Self {
        self.fields.set("next_page_token", token);
        self
    }

    pub fn meeting(mut self, m: Meeting) -> Self {
        self.meetings.push(m.to_json());
        self
    }

    pub fn meetings(mut self, ms: impl IntoIterator<Item = Meeting>) -> Self {
        self.meetings.extend(ms.into_iter().map(|m| m.to_json()));
        self
    }

    pub fn to_json(&self) -> String {
        let mut o = self.fields.clone();
        o.set_raw("meetings", array(&self.meetings));
        o.to_json()
    }
}
