//! Zoom's event receiver (SPEC 14), one more source: events come by
//! webhook (`webhook`: signed POSTs on a listener of its own) or over a
//! WebSocket qoswatch opens (`websocket`), are read into a typed
//! [`ZoomEvent`] (`event`), and a single processor handles them in arrival
//! order (so in order per meeting), once each (redeliveries are dropped by
//! `x-zm-request-id` or by event, `event_ts` and object, for 2 h).
//!
//! The processor sends what concerns the alerts to the pipeline as
//! [`SourceEvent`]s (a meeting's end, a participant leaving, QSS samples
//! through the same reader and units as polls) and steers the poller with
//! [`PollerCommand`]s (track a meeting now, poll it now on `meeting.alert`,
//! stop at its end, leave its QoS to QSS, catch up after a reconnect).

pub mod event;
pub mod verify;
pub mod webhook;
pub mod websocket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use self::event::{EventMeeting, Malformed, Parsed, ZoomEvent};
use crate::config::{WebSocketConfig, WebhookConfig};
use crate::metrics::EventMetrics;
use crate::net::Clock;
use crate::qos::{ATTRIBUTE_NAMES, ParticipantInfo, Timestamp};
use crate::source::poller::PollerCommand;
use crate::source::{Batch, Source, SourceEvent, SourceTask};
use crate::zoom::client::ZoomClient;

/// How long redelivery keys are kept (seconds).
pub const KEEP_KEYS: f64 = 7200.0;

/// A QSS participant with no record for this long has left (seconds).
pub const QSS_SILENCE: f64 = 300.0;

/// The events qoswatch uses: their names are metric labels; any other
/// counts as `other`.
const USED: [&str; 17] = [
    "endpoint.url_validation",
    "meeting.started",
    "meeting.ended",
    "meeting.participant_joined",
    "meeting.participant_left",
    "meeting.alert",
    "meeting.participant_qos",
    "meeting.participant_qos_summary",
    "meeting.participant_data",
    "webinar.started",
    "webinar.ended",
    "webinar.participant_joined",
    "webinar.participant_left",
    "webinar.alert",
    "webinar.participant_qos",
    "webinar.participant_qos_summary",
    "webinar.participant_data",
];

/// Counts an event in `qoswatch_zoom_events_total`.
pub(crate) fn count_event(metrics: &EventMetrics, name: Option<&str>, outcome: &str) {
    let label = name.filter(|n| USED.contains(n)).unwrap_or("other");
    metrics.events.with_label_values(&[label, outcome]).inc();
}

/// A verified event on its way to the processor.
#[derive(Debug)]
pub struct Incoming {
    /// `x-zm-request-id` (webhooks).
    pub request_id: Option<String>,
    pub parsed: Parsed,
}

/// What the processor decided about one event.
#[derive(Debug, Default)]
pub struct Outcome {
    pub events: Vec<SourceEvent>,
    pub commands: Vec<PollerCommand>,
}

/// A QSS participant: its attributes (`participant_data`) and when its
/// last record came.
#[derive(Debug, Default)]
struct QssParticipant {
    data: Option<ParticipantInfo>,
    last: f64,
}

/// A meeting whose QoS arrives by QSS.
#[derive(Debug)]
struct QssMeeting {
    meeting: EventMeeting,
    participants: HashMap<String, QssParticipant>,
}

/// The event processor's state: redelivery keys and QSS participants.
/// Pure: the time is an argument.
#[derive(Default)]
pub struct Processor {
    seen: HashMap<String, f64>,
    qss: HashMap<String, QssMeeting>,
    /// Attributes from `participant_data` that came before any QoS.
    data: HashMap<(String, String), ParticipantInfo>,
    metrics: Option<EventMetrics>,
}

impl Processor {
    pub fn new(metrics: EventMetrics) -> Processor {
        Processor {
            metrics: Some(metrics),
            ..Processor::default()
        }
    }

    fn count(&self, name: &str, outcome: &str) {
        if let Some(m) = &self.metrics {
            count_event(m, Some(name), outcome);
        }
    }

    /// Whether `key` was seen in the last 2 h; notes it either way.
    fn repeated(&mut self, key: &str, now: f64) -> bool {
        match self.seen.get(key) {
            Some(at) if now - at < KEEP_KEYS => true,
            _ => {
                self.seen.insert(key.to_owned(), now);
                false
            }
        }
    }

    /// Handles one event at wall-clock `now` (unix seconds).
    pub fn handle(&mut self, incoming: Incoming, now: f64) -> Outcome {
        let Incoming { request_id, parsed } = incoming;
        let Parsed { name, event, key } = parsed;
        // Both keys are noted, so a redelivery by either is caught. QSS
        // samples have none: a repeated sample is passed over by the engine
        // (by `date_time`), so events and polls never count one twice.
        let keyed = !key.is_empty();
        let by_id = keyed && request_id.is_some_and(|id| self.repeated(&format!("id:{id}"), now));
        let by_object = keyed && self.repeated(&key, now);
        if by_id || by_object {
            tracing::debug!(event = %name, "redelivered Zoom event dropped");
            self.count(&name, "duplicate");
            return Outcome::default();
        }
        let mut out = Outcome::default();
        let at = Timestamp(now.floor() as i64);
        match event {
            ZoomEvent::Started(m) => out.commands.push(PollerCommand::Track(m)),
            ZoomEvent::Ended { meeting, at } => {
                tracing::info!(meeting = %meeting.key(), event = %name, "meeting ended: its alerts resolve");
                self.qss.remove(meeting.key());
                self.data.retain(|(m, _), _| m != meeting.key());
                out.events.push(SourceEvent::Batch(Batch {
                    meeting: meeting.info(),
                    ended: true,
                    at,
                    ..Batch::default()
                }));
                out.commands.push(PollerCommand::Ended(meeting));
            }
            ZoomEvent::Joined { meeting, .. } => out.commands.push(PollerCommand::Joined(meeting)),
            ZoomEvent::Left {
                meeting,
                user_id,
                at,
            } => {
                if let Some(q) = self.qss.get_mut(meeting.key()) {
                    q.participants.remove(&user_id);
                }
                self.data
                    .remove(&(meeting.key().to_owned(), user_id.clone()));
                tracing::info!(meeting = %meeting.key(), participant = %user_id, event = %name, "participant left: its alerts resolve");
                out.events.push(SourceEvent::ParticipantLeft {
                    meeting: meeting.info(),
                    user_id,
                    at,
                });
            }
            ZoomEvent::Alert { meeting, issues } => {
                tracing::info!(meeting = %meeting.key(), issues = %issues.join(", "), "{name}");
                out.commands.push(PollerCommand::Alert(meeting));
            }
            ZoomEvent::ParticipantData { meeting, info } => {
                let user = info.user_id.to_string();
                match self
                    .qss
                    .get_mut(meeting.key())
                    .and_then(|q| q.participants.get_mut(&user))
                {
                    Some(p) => p.data = Some(info),
                    None => {
                        self.data.insert((meeting.key().to_owned(), user), info);
                    }
                }
            }
            ZoomEvent::Qos {
                meeting,
                mut participant,
            } => {
                let key = meeting.key().to_owned();
                if !self.qss.contains_key(&key) {
                    out.commands.push(PollerCommand::Qss(meeting.clone()));
                    self.qss.insert(
                        key.clone(),
                        QssMeeting {
                            meeting: meeting.clone(),
                            participants: HashMap::new(),
                        },
                    );
                }
                let user = participant.info.user_id.to_string();
                let q = self.qss.get_mut(&key).expect("just inserted");
                let entry = q.participants.entry(user.clone()).or_default();
                entry.last = now;
                if entry.data.is_none() {
                    entry.data = self.data.remove(&(key, user));
                }
                if let Some(data) = &entry.data {
                    merge_attributes(&mut participant.info, data);
                }
                out.events.push(SourceEvent::Batch(Batch {
                    meeting: meeting.info(),
                    participants: vec![participant],
                    complete: false,
                    ended: false,
                    at,
                }));
            }
            ZoomEvent::UrlValidation { .. } => {}
            ZoomEvent::Other => {
                self.count(&name, "ignored");
                return out;
            }
        }
        self.count(&name, "processed");
        out
    }

    /// Once in a while: QSS participants silent for 5 minutes have left;
    /// old redelivery keys are forgotten.
    pub fn sweep(&mut self, now: f64) -> Vec<SourceEvent> {
        self.seen.retain(|_, at| now - *at < KEEP_KEYS);
        let mut out = Vec::new();
        for q in self.qss.values_mut() {
            let gone: Vec<String> = q
                .participants
                .iter()
                .filter(|(_, p)| now - p.last >= QSS_SILENCE)
                .map(|(u, _)| u.clone())
                .collect();
            for user_id in gone {
                q.participants.remove(&user_id);
                tracing::info!(meeting = %q.meeting.key(), participant = %user_id, "no QSS record for 5 minutes: the participant left");
                out.push(SourceEvent::ParticipantLeft {
                    meeting: q.meeting.info(),
                    user_id,
                    at: Timestamp(now.floor() as i64),
                });
            }
        }
        out
    }
}

/// `participant_data`'s attributes fill in what a QSS record lacks.
fn merge_attributes(info: &mut ParticipantInfo, data: &ParticipantInfo) {
    for i in 0..ATTRIBUTE_NAMES.len() {
        if info.attributes[i].is_none() {
            info.attributes[i] = data.attributes[i].clone();
        }
    }
}

/// The event receiver as a source.
pub struct EventSource {
    webhook: Option<(tokio::net::TcpListener, WebhookConfig)>,
    websocket: Option<(WebSocketConfig, Arc<ZoomClient>)>,
    steer: mpsc::Sender<PollerCommand>,
    metrics: EventMetrics,
    tuning: websocket::WsTuning,
    /// The events are the only source (no discovery, no targets): a
    /// serving receiver counts as a working source for `/readyz`, or an
    /// idle events-only service would never be ready (and a readiness
    /// probe would keep Zoom's URL validation out).
    sole: bool,
}

impl EventSource {
    /// `webhook`: its listener already bound (a port in use fails the
    /// start, not later).
    pub fn new(
        webhook: Option<(tokio::net::TcpListener, WebhookConfig)>,
        websocket: Option<(WebSocketConfig, Arc<ZoomClient>)>,
        steer: mpsc::Sender<PollerCommand>,
        metrics: EventMetrics,
    ) -> EventSource {
        EventSource {
            webhook,
            websocket,
            steer,
            metrics,
            tuning: websocket::WsTuning::default(),
            sole: false,
        }
    }

    /// Marks the events as the only source (see the field).
    pub fn sole_source(mut self, sole: bool) -> EventSource {
        self.sole = sole;
        self
    }

    /// WebSocket timings (tests shrink them).
    pub fn with_websocket_tuning(mut self, tuning: websocket::WsTuning) -> EventSource {
        self.tuning = tuning;
        self
    }

    async fn run(self, tx: mpsc::Sender<SourceEvent>, cancel: CancellationToken) {
        let (queue, mut incoming) = mpsc::channel::<Incoming>(4096);
        let mut tasks = tokio::task::JoinSet::new();
        let webhook_serving = self.webhook.is_some();
        if let Some((listener, config)) = self.webhook {
            let addr = listener
                .local_addr()
                .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
            tracing::info!(
                "receiving Zoom events on http://{addr}{} (plain HTTP: put a TLS proxy in front, Zoom posts only to HTTPS)",
                config.path
            );
            let hook = Arc::new(webhook::Hook {
                secret: config.secret_token.clone(),
                queue: queue.clone(),
                metrics: self.metrics.clone(),
                clock: Clock::system(),
            });
            let limits = crate::http::Limits {
                max_body_bytes: webhook::MAX_BODY_BYTES,
                ..crate::http::Limits::default()
            };
            tasks.spawn(crate::http::serve_with(
                listener,
                webhook::router(&config.path, hook),
                limits,
                cancel.clone(),
            ));
        }
        if let Some((config, client)) = self.websocket {
            tasks.spawn(websocket::run(
                config,
                client,
                queue.clone(),
                self.steer.clone(),
                self.metrics.clone(),
                self.tuning.clone(),
                cancel.clone(),
            ));
        }
        drop(queue);
        let serving = webhook_serving;
        let mut processor = Processor::new(self.metrics.clone());
        let mut sweep = tokio::time::interval(Duration::from_secs(15));
        loop {
            let events = tokio::select! {
                _ = cancel.cancelled() => break,
                next = incoming.recv() => {
                    let Some(next) = next else { break };
                    let now = Clock::system().now();
                    let out = processor.handle(next, now);
                    for c in out.commands {
                        if self.steer.try_send(c).is_err() {
                            tracing::warn!("the poller's command queue is full; an event's poll request was dropped");
                        }
                    }
                    out.events
                }
                _ = sweep.tick() => {
                    let mut events = processor.sweep(Clock::system().now());
                    let up = serving || self.metrics.websocket_up.get() == 1;
                    if self.sole && up {
                        events.push(SourceEvent::Healthy);
                    }
                    events
                }
            };
            for e in events {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
        }
        tasks.shutdown().await;
    }
}

impl Source for EventSource {
    fn cadence(&self) -> String {
        match (&self.webhook, &self.websocket) {
            (Some(_), Some(_)) => "Zoom events (webhook and WebSocket)".into(),
            (Some(_), None) => "Zoom events (webhook)".into(),
            _ => "Zoom events (WebSocket)".into(),
        }
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SourceEvent>,
        cancel: CancellationToken,
    ) -> SourceTask {
        Box::pin((*self).run(tx, cancel))
    }

    /// Events are pushed, not read: `once` has nothing to take from them.
    fn run_once(self: Box<Self>, _tx: mpsc::Sender<SourceEvent>) -> SourceTask {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(id: Option<&str>, body: &str) -> Incoming {
        Incoming {
            request_id: id.map(str::to_owned),
            parsed: event::parse(body.as_bytes()).unwrap(),
        }
    }

    const LEFT: &str = r#"{"event":"meeting.participant_left","event_ts":1772452800000,"payload":{"object":{"id":1,"uuid":"u==","participant":{"user_id":"7","leave_time":"2026-03-02T12:00:05Z"}}}}"#;

    #[test]
    fn a_redelivery_acts_once_by_request_id_or_by_content() {
        let mut p = Processor::default();
        let first = p.handle(incoming(Some("r1"), LEFT), 100.0);
        assert_eq!(first.events.len(), 1);
        assert!(
            p.handle(incoming(Some("r1"), LEFT), 101.0)
                .events
                .is_empty()
        );
        // A new request id, same event, time and object: still a redelivery.
        assert!(
            p.handle(incoming(Some("r2"), LEFT), 102.0)
                .events
                .is_empty()
        );
        // After 2 h the keys are forgotten.
        p.sweep(100.0 + KEEP_KEYS + 1.0);
        assert_eq!(
            p.handle(incoming(Some("r1"), LEFT), 100.0 + KEEP_KEYS + 2.0)
                .events
                .len(),
            1
        );
    }

    #[test]
    fn events_become_pipeline_events_and_poller_commands() {
        let mut p = Processor::default();
        let out = p.handle(incoming(None, r#"{"event":"meeting.alert","event_ts":1,"payload":{"object":{"id":5,"uuid":"a==","issues":["Unstable audio quality"]}}}"#), 10.0);
        assert!(out.events.is_empty());
        assert!(matches!(&out.commands[..], [PollerCommand::Alert(m)] if m.key() == "a=="));
        let out = p.handle(incoming(None, r#"{"event":"webinar.ended","event_ts":2,"payload":{"object":{"id":5,"uuid":"w=="}}}"#), 10.0);
        assert!(
            matches!(&out.events[..], [SourceEvent::Batch(b)] if b.ended && b.meeting.uuid.as_deref() == Some("w=="))
        );
        assert!(matches!(&out.commands[..], [PollerCommand::Ended(m)] if m.webinar));
        let out = p.handle(incoming(None, LEFT), 10.0);
        assert!(
            matches!(&out.events[..], [SourceEvent::ParticipantLeft { user_id, at, .. }] if user_id == "7" && at.0 == 1_772_452_805)
        );
    }

    #[test]
    fn qss_participants_take_their_attributes_and_leave_when_silent() {
        let mut p = Processor::default();
        let data = r#"{"event":"meeting.participant_data","event_ts":1,"payload":{"object":{"uuid":"q==","participant":{"user_id":"9","device":"Mac","network_type":"Wifi","data_center":"Frankfurt"}}}}"#;
        let qos = r#"{"event":"meeting.participant_qos","event_ts":2,"payload":{"object":{"uuid":"q==","participant":{"user_id":"9","qos":[{"date_time":"2026-03-02T12:00:00Z","type":"audio_input","details":{"latency":"300 ms"}}]}}}}"#;
        assert!(p.handle(incoming(None, data), 0.0).events.is_empty());
        let out = p.handle(incoming(None, qos), 1.0);
        assert!(matches!(&out.commands[..], [PollerCommand::Qss(m)] if m.key() == "q=="));
        let SourceEvent::Batch(b) = &out.events[0] else {
            panic!()
        };
        let info = &b.participants[0].info;
        assert_eq!(
            (info.attribute("device"), info.attribute("data_center")),
            (Some("Mac"), Some("Frankfurt"))
        );
        assert!(!b.complete);
        assert!(p.sweep(1.0 + QSS_SILENCE - 1.0).is_empty());
        let gone = p.sweep(1.0 + QSS_SILENCE);
        assert!(
            matches!(&gone[..], [SourceEvent::ParticipantLeft { user_id, .. }] if user_id == "9")
        );
    }
}
