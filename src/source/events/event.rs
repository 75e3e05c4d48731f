//! Zoom's event envelope (`{"event", "event_ts", "payload": {"account_id",
//! "object"}}`) read into a typed [`ZoomEvent`]. QSS samples go through the
//! one reader of QoS JSON (`zoom::api`): each `meeting.participant_qos`
//! record is laid out as the per-participant QoS response (`user_qos`
//! samples keyed by stream) and parsed there, so events and polls give the
//! same samples in the same units. Lenient like that reader: unknown
//! fields are ignored; an event without what it needs is [`Malformed`].

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::qos::{ATTRIBUTE_NAMES, MeetingInfo, ParticipantInfo, ParticipantSamples, Timestamp};
use crate::zoom::api::parse_qos_response;

/// The meeting (or webinar) an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeeting {
    pub id: Option<String>,
    pub uuid: Option<String>,
    pub topic: Option<String>,
    /// A `webinar.*` event: polled with `/metrics/webinars/...`.
    pub webinar: bool,
}

impl EventMeeting {
    /// How the poller and the engine know it: the UUID, else the id.
    pub fn key(&self) -> &str {
        self.uuid.as_deref().or(self.id.as_deref()).unwrap_or("")
    }

    pub fn info(&self) -> MeetingInfo {
        MeetingInfo {
            id: self.id.as_deref().map(Arc::from),
            uuid: self.uuid.as_deref().map(Arc::from),
            topic: self.topic.as_deref().map(Arc::from),
        }
    }
}

/// What an event says, for qoswatch.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoomEvent {
    /// `endpoint.url_validation`: answer with the token's HMAC.
    UrlValidation { plain_token: String },
    /// `meeting.started`: track it now.
    Started(EventMeeting),
    /// `meeting.ended`: resolve its alerts, stop polling it.
    Ended {
        meeting: EventMeeting,
        at: Timestamp,
    },
    /// `meeting.participant_joined`.
    Joined {
        meeting: EventMeeting,
        user_id: String,
    },
    /// `meeting.participant_left`, or QSS's `participant_qos_summary`.
    Left {
        meeting: EventMeeting,
        user_id: String,
        at: Timestamp,
    },
    /// `meeting.alert`: Zoom's own quality alarm for the meeting.
    Alert {
        meeting: EventMeeting,
        issues: Vec<String>,
    },
    /// QSS `meeting.participant_qos`: samples for the engine.
    Qos {
        meeting: EventMeeting,
        participant: ParticipantSamples,
    },
    /// QSS `meeting.participant_data`: a participant's attributes.
    ParticipantData {
        meeting: EventMeeting,
        info: ParticipantInfo,
    },
    /// Any other event: answered, counted, ignored.
    Other,
}

/// An event whose envelope or object lacks what it needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// A read event: its name, what it says, and its redelivery key (event,
/// `event_ts` and a digest of the object; empty for QSS samples, which are
/// idempotent).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub name: String,
    pub event: ZoomEvent,
    pub key: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    event: String,
    #[serde(default)]
    event_ts: Option<Value>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct Payload<'a> {
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(default, rename = "plainToken")]
    plain_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Object {
    id: Option<Value>,
    uuid: Option<String>,
    topic: Option<String>,
    end_time: Option<String>,
    issues: Option<Vec<Value>>,
    participant: Option<Map<String, Value>>,
}

/// Reads one event body (webhook body, or a WebSocket message's content).
pub fn parse(body: &[u8]) -> Result<Parsed, Malformed> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("not an event: {e}")))?;
    let name = envelope.event;
    let event_ts = envelope.event_ts.as_ref().and_then(Value::as_i64);
    let payload: Payload = match envelope.payload {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Malformed(format!("{name}: unreadable payload: {e}")))?,
        None => Payload::default(),
    };
    let object_text = payload.object.map_or("", |o| o.get());
    let at = event_ts.map_or_else(now_ts, |ms| Timestamp(ms.div_euclid(1000)));
    let event = read_event(&name, payload, at)?;
    // QSS samples need no key: the engine passes over a sample it has
    // (by `date_time`), and keeping one key per record for 2 h would not
    // scale to QSS's volume.
    let key = match event {
        ZoomEvent::Qos { .. } => String::new(),
        _ => format!("{name}|{}|{}", event_ts.unwrap_or(0), digest(object_text)),
    };
    Ok(Parsed { name, event, key })
}

fn digest(text: &str) -> String {
    use sha2::Digest;
    super::verify::encode_hex(&sha2::Sha256::digest(text.as_bytes())[..16])
}

fn now_ts() -> Timestamp {
    Timestamp(chrono::Utc::now().timestamp())
}

fn read_event(name: &str, payload: Payload<'_>, at: Timestamp) -> Result<ZoomEvent, Malformed> {
    if name == "endpoint.url_validation" {
        let plain_token = payload
            .plain_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Malformed(format!("{name}: no payload.plainToken")))?;
        return Ok(ZoomEvent::UrlValidation { plain_token });
    }
    let Some((family, what)) = name.split_once('.') else {
        return Ok(ZoomEvent::Other);
    };
    let webinar = match family {
        "meeting" => false,
        "webinar" => true,
        _ => return Ok(ZoomEvent::Other),
    };
    let known = matches!(
        what,
        "started"
            | "ended"
            | "participant_joined"
            | "participant_left"
            | "alert"
            | "participant_qos"
            | "participant_qos_summary"
            | "participant_data"
    );
    if !known {
        return Ok(ZoomEvent::Other);
    }
    let raw = payload
        .object
        .ok_or_else(|| Malformed(format!("{name}: no payload.object")))?;
    let object: Object = serde_json::from_str(raw.get())
        .map_err(|e| Malformed(format!("{name}: unreadable payload.object: {e}")))?;
    let id = match &object.id {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let uuid = object.uuid.clone().filter(|u| !u.is_empty());
    if id.is_none() && uuid.is_none() {
        return Err(Malformed(format!(
            "{name}: payload.object has neither `id` nor `uuid`"
        )));
    }
    let meeting = EventMeeting {
        id,
        uuid,
        topic: object.topic.clone(),
        webinar,
    };
    let user_id = |p: &Option<Map<String, Value>>| -> Result<String, Malformed> {
        p.as_ref()
            .and_then(|p| p.get("user_id"))
            .and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| Malformed(format!("{name}: no payload.object.participant.user_id")))
    };
    Ok(match what {
        "started" => ZoomEvent::Started(meeting),
        "ended" => {
            let at = object
                .end_time
                .as_deref()
                .and_then(Timestamp::parse_rfc3339)
                .unwrap_or(at);
            ZoomEvent::Ended { meeting, at }
        }
        "participant_joined" => ZoomEvent::Joined {
            user_id: user_id(&object.participant)?,
            meeting,
        },
        "participant_left" | "participant_qos_summary" => {
            let left = object
                .participant
                .as_ref()
                .and_then(|p| p.get("leave_time"))
                .and_then(Value::as_str)
                .and_then(Timestamp::parse_rfc3339)
                .unwrap_or(at);
            ZoomEvent::Left {
                user_id: user_id(&object.participant)?,
                meeting,
                at: left,
            }
        }
        "alert" => ZoomEvent::Alert {
            issues: object
                .issues
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            meeting,
        },
        "participant_data" => {
            let user = user_id(&object.participant)?;
            let p = object.participant.as_ref().expect("has a user_id");
            ZoomEvent::ParticipantData {
                info: attributes(&user, p),
                meeting,
            }
        }
        _ => {
            let user = user_id(&object.participant)?;
            let p = object.participant.expect("has a user_id");
            ZoomEvent::Qos {
                participant: qss_samples(name, &user, p)?,
                meeting,
            }
        }
    })
}

/// A participant's attributes as QSS's `participant_data` (or any
/// participant object) gives them.
fn attributes(user_id: &str, p: &Map<String, Value>) -> ParticipantInfo {
    let mut info = ParticipantInfo {
        user_id: Arc::from(user_id),
        ..ParticipantInfo::default()
    };
    for (i, name) in ATTRIBUTE_NAMES.iter().enumerate() {
        if let Some(Value::String(s)) = p.get(*name)
            && !s.is_empty()
        {
            info.attributes[i] = Some(Arc::from(s.as_str()));
        }
    }
    info
}

/// A QSS record's samples: `qos: [{date_time, type, details}]` laid out as
/// the per-participant QoS response (`user_qos: [{date_time, TYPE:
/// details}]`, one sample per `date_time`) and read by the one reader.
/// `avg_latency` is QSS's other spelling of `latency`.
fn qss_samples(
    name: &str,
    user_id: &str,
    mut p: Map<String, Value>,
) -> Result<ParticipantSamples, Malformed> {
    let records = match p.remove("qos") {
        Some(Value::Array(a)) => a,
        _ => {
            return Err(Malformed(format!(
                "{name}: no payload.object.participant.qos list"
            )));
        }
    };
    let mut samples: Vec<(String, Map<String, Value>)> = Vec::new();
    for record in records {
        let Value::Object(mut record) = record else {
            continue;
        };
        let (Some(Value::String(at)), Some(Value::String(kind))) =
            (record.remove("date_time"), record.remove("type"))
        else {
            continue;
        };
        let mut details = record.remove("details").unwrap_or(Value::Null);
        if let Value::Object(d) = &mut details
            && !d.contains_key("latency")
            && let Some(v) = d.remove("avg_latency")
        {
            d.insert("latency".into(), v);
        }
        let slot = match samples.iter_mut().find(|(t, _)| *t == at) {
            Some((_, s)) => s,
            None => {
                let mut s = Map::new();
                s.insert("date_time".into(), Value::String(at.clone()));
                samples.push((at, s));
                &mut samples.last_mut().expect("just pushed").1
            }
        };
        slot.insert(kind, details);
    }
    p.insert("user_id".into(), Value::String(user_id.to_owned()));
    p.insert(
        "user_qos".into(),
        Value::Array(samples.into_iter().map(|(_, s)| Value::Object(s)).collect()),
    );
    let body = serde_json::to_vec(&Value::Object(p)).map_err(|e| Malformed(e.to_string()))?;
    let response = parse_qos_response(&body).map_err(|e| Malformed(format!("{name}: {e}")))?;
    for w in response.warnings.iter().take(3) {
        tracing::warn!("{name}: unreadable value, taken as no data: {w}");
    }
    response
        .participants
        .into_iter()
        .next()
        .ok_or_else(|| Malformed(format!("{name}: no participant")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::Metric;

    #[test]
    fn meeting_events_are_read() {
        let p = parse(br#"{"event":"meeting.started","event_ts":1772452800000,"payload":{"account_id":"a","object":{"id":85746065432,"uuid":"u1==","topic":"Standup","host_id":"h"}}}"#).unwrap();
        assert_eq!(p.name, "meeting.started");
        let ZoomEvent::Started(m) = &p.event else {
            panic!("{:?}", p.event)
        };
        assert_eq!(
            (m.id.as_deref(), m.key(), m.webinar),
            (Some("85746065432"), "u1==", false)
        );
        let left = parse(br#"{"event":"webinar.participant_left","event_ts":1772452800000,"payload":{"object":{"id":"9","uuid":"w==","participant":{"user_id":"16778240","leave_time":"2026-03-02T12:00:05Z"}}}}"#).unwrap();
        assert_eq!(
            left.event,
            ZoomEvent::Left {
                meeting: EventMeeting {
                    id: Some("9".into()),
                    uuid: Some("w==".into()),
                    topic: None,
                    webinar: true
                },
                user_id: "16778240".into(),
                at: Timestamp(1_772_452_805),
            }
        );
        let alert = parse(br#"{"event":"meeting.alert","event_ts":1,"payload":{"object":{"uuid":"u","issues":["Unstable audio quality"]}}}"#).unwrap();
        assert!(
            matches!(&alert.event, ZoomEvent::Alert { issues, .. } if issues == &["Unstable audio quality"])
        );
        assert_eq!(
            parse(br#"{"event":"recording.completed","payload":{}}"#)
                .unwrap()
                .event,
            ZoomEvent::Other
        );
        let v = parse(br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680}"#).unwrap();
        assert_eq!(
            v.event,
            ZoomEvent::UrlValidation {
                plain_token: "qgg8vlvZRS6UYooatFL8Aw".into()
            }
        );
    }

    #[test]
    fn malformed_events_say_what_is_missing() {
        assert!(parse(b"{not json").is_err());
        let e = parse(br#"{"event":"meeting.started","payload":{"object":{"topic":"x"}}}"#)
            .unwrap_err();
        assert_eq!(
            e.0,
            "meeting.started: payload.object has neither `id` nor `uuid`"
        );
        let e = parse(br#"{"event":"meeting.participant_left","payload":{"object":{"uuid":"u"}}}"#)
            .unwrap_err();
        assert_eq!(
            e.0,
            "meeting.participant_left: no payload.object.participant.user_id"
        );
    }

    #[test]
    fn redeliveries_share_a_key_and_other_objects_do_not() {
        let a = br#"{"event":"meeting.started","event_ts":5,"payload":{"object":{"uuid":"u"}}}"#;
        let b = br#"{"event":"meeting.started","event_ts":5,"payload":{"object":{"uuid":"v"}}}"#;
        assert_eq!(parse(a).unwrap().key, parse(a).unwrap().key);
        assert_ne!(parse(a).unwrap().key, parse(b).unwrap().key);
    }

    #[test]
    fn qss_samples_read_like_polled_ones_with_both_latency_spellings() {
        let body = br#"{"event":"meeting.participant_qos","event_ts":1772452860000,"payload":{"account_id":"a","object":{"id":1,"uuid":"u==","participant":{"user_id":"16778240","participant_user_id":"p","user_name":"Ann","qos":[
            {"date_time":"2026-03-02T12:00:00Z","type":"audio_input","details":{"bitrate":"27.15 kbps","avg_latency":"210 ms","jitter":"3 ms","avg_loss":"0.5%","max_loss":"1%"}},
            {"date_time":"2026-03-02T12:00:00Z","type":"audio_output","details":{"latency":"90 ms"}},
            {"date_time":"2026-03-02T12:01:00Z","type":"audio_input","details":{"latency":"80 ms"}}]}}}}"#;
        let ZoomEvent::Qos {
            participant,
            meeting,
        } = parse(body).unwrap().event
        else {
            panic!()
        };
        assert_eq!(meeting.key(), "u==");
        assert_eq!(&*participant.info.user_id, "16778240");
        assert_eq!(participant.info.attribute("user_name"), Some("Ann"));
        assert_eq!(participant.samples.len(), 2);
        let first = &participant.samples[0];
        assert_eq!(
            first.at,
            Timestamp::parse_rfc3339("2026-03-02T12:00:00Z").unwrap()
        );
        let m = |path: &str| Metric::from_path(path).unwrap();
        assert_eq!(first.get(m("audio_input.latency")), Some(210.0));
        assert_eq!(first.get(m("audio_output.latency")), Some(90.0));
        assert_eq!(first.get(m("audio_input.avg_loss")), Some(0.5));
        assert_eq!(
            participant.samples[1].get(m("audio_input.latency")),
            Some(80.0)
        );
    }
}
