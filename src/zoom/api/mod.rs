//! The one reader of Zoom's QoS JSON, into [`Sample`]s: the participant
//! object of `GET .../participants/{participantId}/qos` and the list of
//! `GET .../participants/qos` (`{participants, next_page_token}`, or only
//! `total_records` when nobody is left). Lenient on purpose, since Zoom adds
//! fields and sends odd values: unknown fields are ignored, a value of the
//! wrong JSON type is no data, a garbled value (`"fast ms"`) is no data plus
//! a [`ValueWarning`]; only broken JSON is an error.
//!
//! serde_json drives hand-written visitors (`json`: the lenient pieces,
//! `sample`: the samples) that write each value into its slot and borrow
//! strings from the body. Live responses repeat earlier samples, so the
//! reader takes a [`Cutoff`], data the poller keeps per meeting (others pass
//! an empty one): a sample at or before it is passed over with `IgnoredAny`
//! once its `date_time`, Zoom's first key, is read. A `user_qos` sent before
//! its `user_id` is kept as a `RawValue` until the participant is known.

mod json;
mod sample;

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess};
use serde_json::Deserializer;
use serde_json::value::RawValue;

use self::json::{Item, Key, Lenient, Reader, Text};
use self::sample::Samples;
use crate::qos::{
    ATTRIBUTE_NAMES, MeetingInfo, ParticipantInfo, ParticipantSamples, Sample, Timestamp,
};

/// Why a response body could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseResponseError {
    /// Not JSON, or truncated JSON.
    #[error("invalid QoS response at line {line}, column {column}: {message}")]
    DecodeJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON that is neither a participant object nor a participant list.
    #[error(
        "not a Zoom QoS response: expected a participant object with `user_qos` or a list with `participants`"
    )]
    UnknownShape,
}

/// A value that was sent but could not be read; it counts as no data.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueWarning {
    /// The participant's user_id.
    pub participant: String,
    /// The sample's `date_time` as sent, if any.
    pub date_time: Option<String>,
    /// Where in the sample (`audio_input.latency`, `date_time`).
    pub field: String,
    /// The value as sent, shortened.
    pub value: String,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for ValueWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "participant {} sample {}: {} = {:?}: {}",
            self.participant,
            self.date_time.as_deref().unwrap_or("?"),
            self.field,
            self.value,
            self.reason
        )
    }
}

/// A parsed QoS response.
#[derive(Debug, Clone, Default)]
pub struct QosResponse {
    /// The meeting, when the body names it (recordings may add `meeting_id`,
    /// `meeting_uuid` and `topic` beside Zoom's fields).
    pub meeting: MeetingInfo,
    /// Participants with their samples, in the order sent.
    pub participants: Vec<ParticipantSamples>,
    /// The list form's `next_page_token`, when not empty.
    pub next_page_token: Option<String>,
    /// Values that were sent but could not be read.
    pub warnings: Vec<ValueWarning>,
}

/// The reader's cut-off: per participant `user_id`, the newest sample
/// already delivered. Samples at or before it are passed over unread; a
/// participant without an entry (and an empty cut-off) is read in full.
pub type Cutoff = HashMap<String, Timestamp>;

/// Parses a Zoom QoS response body of either form, every sample included.
pub fn parse_qos_response(body: &[u8]) -> Result<QosResponse, ParseResponseError> {
    parse_qos_response_since(body, &Cutoff::new())
}

/// Parses a Zoom QoS response body of either form, passing over unread each
/// participant's samples at or before its `cutoff`. A participant whose
/// samples are all passed over is still listed (with no samples): it is
/// still in the meeting.
pub fn parse_qos_response_since(
    body: &[u8],
    cutoff: &Cutoff,
) -> Result<QosResponse, ParseResponseError> {
    let mut warnings = Vec::new();
    // Checking UTF-8 once up front is cheaper than string by string; an
    // invalid body takes the slice reader, whose error says where.
    let top = match std::str::from_utf8(body) {
        Ok(text) => read_top(Deserializer::from_str(text), cutoff, &mut warnings),
        Err(_) => read_top(Deserializer::from_slice(body), cutoff, &mut warnings),
    }
    .map_err(|e| ParseResponseError::DecodeJson {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?
    .ok_or(ParseResponseError::UnknownShape)?;
    let fields = &top.fields;
    let arc = |text: &Text| text.non_empty().map(Arc::from);
    let mut out = QosResponse {
        meeting: MeetingInfo {
            id: arc(&fields.meeting_id),
            uuid: arc(&fields.meeting_uuid),
            topic: fields.topic.as_text().map(Arc::from),
        },
        next_page_token: fields.next_page_token.non_empty().map(str::to_owned),
        ..QosResponse::default()
    };
    match (top.participants, top.samples) {
        (Some(list), _) => out.participants = list,
        (None, Some(samples)) => {
            out.participants
                .extend(participant(fields, samples, &mut warnings))
        }
        // An empty list form may come with `total_records` alone.
        (None, None) if top.listed => {}
        (None, None) => return Err(ParseResponseError::UnknownShape),
    }
    out.warnings = warnings;
    Ok(out)
}

/// The top level; `None` when it is not an object.
fn read_top<'de, R: serde_json::de::Read<'de>>(
    mut de: Deserializer<R>,
    cutoff: &Cutoff,
    warnings: &mut Vec<ValueWarning>,
) -> Result<Option<Read<'de>>, serde_json::Error> {
    let mut reader = Participant {
        cutoff,
        warnings,
        top: true,
    };
    let top = Lenient(&mut reader).deserialize(&mut de)?;
    de.end()?;
    Ok(top.ok())
}

/// serde_json's message without its " at line L column C".
fn strip_position(message: &str) -> String {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
        .to_owned()
}

/// The text fields of a participant object (and of the list form's top
/// level, which shares the reader).
#[derive(Default)]
struct Fields<'a> {
    next_page_token: Text<'a>,
    meeting_id: Text<'a>,
    meeting_uuid: Text<'a>,
    topic: Text<'a>,
    id: Text<'a>,
    user_id: Text<'a>,
    participant_uuid: Text<'a>,
    join_time: Text<'a>,
    leave_time: Text<'a>,
    /// In [`ATTRIBUTE_NAMES`] order.
    attributes: [Text<'a>; ATTRIBUTE_NAMES.len()],
    /// `internal_ip_addresses`: a list of strings (null items, and anything
    /// else, passed over; one string alone is a list of one).
    internal_ip_addresses: Vec<Text<'a>>,
}

impl<'a> Fields<'a> {
    /// The text field that `key` names (`top`: at the top level).
    fn slot(&mut self, key: &str, top: bool) -> Option<&mut Text<'a>> {
        Some(match key {
            "next_page_token" if top => &mut self.next_page_token,
            "meeting_id" if top => &mut self.meeting_id,
            "meeting_uuid" if top => &mut self.meeting_uuid,
            "topic" if top => &mut self.topic,
            "id" => &mut self.id,
            "user_id" => &mut self.user_id,
            "participant_uuid" => &mut self.participant_uuid,
            "join_time" => &mut self.join_time,
            "leave_time" => &mut self.leave_time,
            name => &mut self.attributes[ATTRIBUTE_NAMES.iter().position(|n| *n == name)?],
        })
    }

    /// The participant's identity: `user_id`, else `participant_uuid`, else `id`.
    fn identity(&self) -> Option<&str> {
        [&self.user_id, &self.participant_uuid, &self.id]
            .into_iter()
            .find_map(Text::non_empty)
    }
}

/// What a participant object (or the top level) held.
#[derive(Default)]
struct Read<'a> {
    fields: Fields<'a>,
    /// The list form's `participants`.
    participants: Option<Vec<ParticipantSamples>>,
    /// The list form's `total_records` was there.
    listed: bool,
    /// Its `user_qos`, read (`None` when it had none).
    samples: Option<Vec<Sample>>,
}

/// Reads a participant object, or the top level (`top`), which may also
/// hold the list form's `participants` and the meeting.
struct Participant<'s> {
    cutoff: &'s Cutoff,
    warnings: &'s mut Vec<ValueWarning>,
    top: bool,
}

impl<'de> Reader<'de> for Participant<'_> {
    type Value = Read<'de>;

    fn object<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<Read<'de>, A::Error> {
        let mut read = Read::default();
        let mut deferred: Option<&'de RawValue> = None;
        while let Some(Key(key)) = map.next_key()? {
            match &*key {
                "participants" if self.top => {
                    let mut list = Participants {
                        cutoff: self.cutoff,
                        warnings: &mut *self.warnings,
                        out: Vec::new(),
                    };
                    // Anything but a list or an object: nobody.
                    let _ = map.next_value_seed(Lenient(&mut list))?;
                    read.participants = Some(list.out);
                }
                "total_records" if self.top => {
                    map.next_value::<IgnoredAny>()?;
                    read.listed = true;
                }
                "internal_ip_addresses" => {
                    read.fields.internal_ip_addresses = match map.next_value::<Addresses>()? {
                        Addresses::List(items) => items,
                        Addresses::One(text) => vec![text],
                    }
                }
                // The cut-off is the user_id's: read now if it came first.
                "user_qos" => match read.fields.user_id.non_empty() {
                    Some(who) => {
                        let mut samples = Samples::new(who, self.cutoff, self.warnings);
                        // Anything but a list or an object: no samples.
                        let _ = map.next_value_seed(Lenient(&mut samples))?;
                        read.samples = Some(samples.out);
                    }
                    None => deferred = Some(map.next_value()?),
                },
                name => match read.fields.slot(name, self.top) {
                    Some(text) => *text = map.next_value()?,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        if let Some(raw) = deferred {
            let mut samples = Vec::new();
            if let Some(who) = read.fields.identity() {
                let mut reader = Samples::new(who, self.cutoff, self.warnings);
                let mut de = Deserializer::from_str(raw.get());
                let _ = Lenient(&mut reader)
                    .deserialize(&mut de)
                    .map_err(Error::custom)?;
                samples = reader.out;
            }
            read.samples = Some(samples);
        }
        Ok(read)
    }
}

/// The list form's `participants`: a list of participant objects; a single
/// object is a list of one.
struct Participants<'s> {
    cutoff: &'s Cutoff,
    warnings: &'s mut Vec<ValueWarning>,
    out: Vec<ParticipantSamples>,
}

impl<'de> Reader<'de> for Participants<'_> {
    type Value = ();

    fn object<A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error> {
        let mut reader = Participant {
            cutoff: self.cutoff,
            warnings: &mut *self.warnings,
            top: false,
        };
        let read = reader.object(map)?;
        let samples = read.samples.unwrap_or_default();
        self.out
            .extend(participant(&read.fields, samples, self.warnings));
        Ok(())
    }

    fn list<A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<Option<()>, A::Error> {
        while let Some(item) = seq.next_element_seed(Lenient(&mut Item(self)))? {
            if item.is_err() {
                self.warnings.push(ValueWarning {
                    participant: "?".into(),
                    date_time: None,
                    field: "participants[]".into(),
                    value: String::new(),
                    reason: "not a participant object: skipped".into(),
                });
            }
        }
        Ok(Some(()))
    }
}

/// The participant's info and samples; `None` (with a warning) without an
/// identity.
fn participant(
    fields: &Fields<'_>,
    samples: Vec<Sample>,
    warnings: &mut Vec<ValueWarning>,
) -> Option<ParticipantSamples> {
    let Some(user_id) = fields.identity() else {
        warnings.push(ValueWarning {
            participant: fields.attributes[0].as_text().unwrap_or("?").to_owned(),
            date_time: None,
            field: "user_id".into(),
            value: String::new(),
            reason: "participant without user_id, participant_uuid or id: skipped".into(),
        });
        return None;
    };
    let time = |text: &Text| text.as_text().and_then(Timestamp::parse_rfc3339);
    let mut info = ParticipantInfo {
        user_id: Arc::from(user_id),
        join_time: time(&fields.join_time),
        leave_time: time(&fields.leave_time),
        ..ParticipantInfo::default()
    };
    for (slot, value) in info.attributes.iter_mut().zip(&fields.attributes) {
        *slot = value.non_empty().map(Arc::from);
    }
    if !fields.internal_ip_addresses.is_empty() {
        info.internal_ip_addresses = fields
            .internal_ip_addresses
            .iter()
            .filter_map(Text::non_empty)
            .map(Box::from)
            .collect();
    }
    Some(ParticipantSamples { info, samples })
}

/// `internal_ip_addresses` as sent: a list (of strings, or anything, which
/// reads as no text), or a lone value; `null` is an empty list.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Addresses<'a> {
    #[serde(borrow)]
    List(Vec<Text<'a>>),
    One(#[serde(borrow)] Text<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::qos::{CpuPressure, Metric};

    const EXAMPLE: &str = include_str!("../../../tests/fixtures/zoom-participant-qos-example.json");

    fn metric(path: &str) -> Metric {
        Metric::from_path(path).unwrap()
    }

    #[test]
    fn zoom_example_parses() {
        let r = parse_qos_response(EXAMPLE.as_bytes()).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.participants.len(), 1);
        let p = &r.participants[0];
        assert_eq!(&*p.info.user_id, "1670000000");
        assert_eq!(p.info.attribute("user_name"), Some("User"));
        assert_eq!(p.info.attribute("device"), Some("Android"));
        assert_eq!(p.info.attribute("version"), Some("4.4.55383.0726"));
        let s = &p.samples[0];
        assert_eq!(s.at.to_rfc3339(), "2021-06-24T20:00:00Z");
        assert_eq!(s.get(metric("audio_input.latency")), Some(126.0));
        assert_eq!(s.get(metric("audio_input.avg_loss")), Some(0.3));
        assert_eq!(s.get(metric("video_input.max_loss")), Some(4.9));
        assert_eq!(s.get(metric("video_input.resolution.width")), Some(1280.0));
        assert_eq!(s.get(metric("video_input.resolution.height")), Some(720.0));
        assert_eq!(s.get(metric("video_input.frame_rate")), Some(12.0));
        assert_eq!(
            s.get(metric("as_input.resolution.width")),
            None,
            "0*0 is no data"
        );
        assert_eq!(
            s.get(metric("as_input.frame_rate")),
            None,
            "\"\" is no data"
        );
        assert_eq!(s.get(metric("cpu_usage.system_max_cpu_usage")), Some(40.0));
        assert_eq!(s.get(metric("wifi_rssi.avg_rssi")), None);
    }

    #[test]
    fn list_form_with_odd_values() {
        let body = br#"{
          "page_count": 1, "page_size": 10, "total_records": 2, "next_page_token": "tok",
          "participants": [
            {"user_id": 16778240, "user_name": "A\u00e9", "new_field_2026": {"x": 1},
             "user_qos": [
               {"date_time": "2022-03-01T10:16:00Z",
                "audio_input": {"latency": "fast ms", "jitter": "-", "avg_loss": null, "bitrate": "1.2 Mbps"},
                "audio_output": "",
                "video_input": {"resolution": "0*0", "frame_rate": "", "latency": "\u0031\u0032 ms"},
                "wifi_rssi": {"max_rssi": -40, "avg_rssi": -55, "min_rssi": "-70", "rssi_unit": "dBm"},
                "cpu_pressure_level": "serious",
                "audio_device_to_rwg": {"latency": "80 ms"}
               },
               {"audio_input": {"latency": "10 ms"}}
             ]},
            {"user_name": "nobody"},
            {"user_id": "2", "user_qos": "garbage"}
          ]}"#;
        let r = parse_qos_response(body).unwrap();
        assert_eq!(r.next_page_token.as_deref(), Some("tok"));
        assert_eq!(r.participants.len(), 2);
        let p = &r.participants[0];
        assert_eq!(&*p.info.user_id, "16778240");
        assert_eq!(p.info.attribute("user_name"), Some("Aé"));
        assert_eq!(
            p.samples.len(),
            1,
            "the sample without date_time is skipped"
        );
        let s = &p.samples[0];
        assert_eq!(s.get(metric("audio_input.latency")), None);
        assert_eq!(s.get(metric("audio_input.jitter")), None);
        assert_eq!(s.get(metric("audio_input.bitrate")), Some(1200.0));
        assert_eq!(s.get(metric("video_input.latency")), Some(12.0));
        assert_eq!(s.get(metric("wifi_rssi.min_rssi")), Some(-70.0));
        assert_eq!(s.get(metric("wifi_rssi.max_rssi")), Some(-40.0));
        assert_eq!(s.get(metric("audio_device_to_rwg.latency")), Some(80.0));
        assert_eq!(s.cpu_pressure, Some(CpuPressure::Serious));
        let fields: Vec<_> = r.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["audio_input.latency", "date_time", "user_id"]);
        assert!(r.participants[1].samples.is_empty());
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        assert!(matches!(
            parse_qos_response(b"{\"user_qos\": [{\"date_time\": \"2022"),
            Err(ParseResponseError::DecodeJson { .. })
        ));
        assert!(matches!(
            parse_qos_response(b"{\"code\": 124, \"message\": \"Invalid access token.\"}"),
            Err(ParseResponseError::UnknownShape)
        ));
        assert!(parse_qos_response(b"[1,2]").is_err());
        // Odd items are skipped, not fatal for the whole response.
        let r = parse_qos_response(br#"{"participants": [null, 3, "x", {"user_id": "1", "user_qos": [null, {"date_time": "2022-03-01T10:16:00Z"}]}]}"#).unwrap();
        assert_eq!(r.participants.len(), 1);
        assert_eq!(r.participants[0].samples.len(), 1);
        assert_eq!(r.warnings.len(), 4);
        assert!(
            parse_qos_response(br#"{"participants": ""}"#)
                .unwrap()
                .participants
                .is_empty()
        );
        assert!(parse_qos_response(b"").is_err());
        // An empty list form may hold only `total_records`.
        let r = parse_qos_response(br#"{"page_size": 10, "total_records": 0}"#).unwrap();
        assert!(r.participants.is_empty() && r.next_page_token.is_none());
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    /// Three one-minute samples per participant, as a live response sends
    /// them; `odd` puts `date_time` last and adds a garbled value.
    fn live_body(odd: bool) -> String {
        let sample = |minute: u32, latency: &str| {
            let streams = format!(
                r#""audio_input": {{"latency": "{latency}", "jitter": "3 ms"}}, "video_input": {{"resolution": "640*360", "frame_rate": "25 fps"}}, "cpu_usage": {{"zoom_avg_cpu_usage": "12%"}}"#
            );
            let stamp = format!(r#""date_time": "2026-11-26T10:{minute:02}:00Z""#);
            if odd {
                format!("{{{streams}, {stamp}}}")
            } else {
                format!("{{{stamp}, {streams}}}")
            }
        };
        let bad = if odd { "slow ms" } else { "90 ms" };
        format!(
            r#"{{"page_size": 10, "next_page_token": "", "participants": [
              {{"user_id": "a", "user_name": "A", "user_qos": [{}, {}, {}]}},
              {{"user_qos": [{}, {}], "user_name": "B", "participant_uuid": "b-uuid", "user_id": ""}},
              {{"user_id": "c", "user_qos": [{}]}}
            ]}}"#,
            sample(1, "100 ms"),
            sample(2, bad),
            sample(3, "120 ms"),
            sample(2, "80 ms"),
            sample(3, bad),
            sample(3, "70 ms"),
        )
    }

    #[test]
    fn since_equals_everything_filtered_by_the_cutoff() {
        for odd in [false, true] {
            let body = live_body(odd);
            let all = parse_qos_response(body.as_bytes()).unwrap();
            let cutoff = Cutoff::from([
                ("a".to_owned(), at("2026-11-26T10:02:00Z")),
                ("b-uuid".to_owned(), at("2026-11-26T10:02:00Z")),
                ("c".to_owned(), at("2026-11-26T10:03:00Z")),
            ]);
            let seen = |u: &str| cutoff.get(u).copied();
            let since = parse_qos_response_since(body.as_bytes(), &cutoff).unwrap();
            assert_eq!(
                since.participants.len(),
                3,
                "skipped participants stay listed"
            );
            for (a, s) in all.participants.iter().zip(&since.participants) {
                assert_eq!(a.info.user_id, s.info.user_id);
                assert_eq!(a.info.attributes, s.info.attributes);
                let cutoff = seen(&a.info.user_id).unwrap();
                let kept: Vec<_> = a.samples.iter().filter(|x| x.at > cutoff).collect();
                assert_eq!(kept.len(), s.samples.len(), "{} odd={odd}", a.info.user_id);
                for (x, y) in kept.iter().zip(&s.samples) {
                    assert_eq!(x.at, y.at);
                    for m in Metric::all() {
                        assert_eq!(x.get(m), y.get(m), "{}", m.path());
                    }
                }
            }
            // Warnings of skipped samples are not repeated.
            let kept_warnings: Vec<_> = all
                .warnings
                .iter()
                .filter(|w| {
                    let t = at(w.date_time.as_deref().unwrap());
                    t > seen(&w.participant).unwrap()
                })
                .cloned()
                .collect();
            assert_eq!(since.warnings, kept_warnings, "odd={odd}");
            assert_eq!(all.warnings.len(), if odd { 2 } else { 0 });
        }
    }

    #[test]
    fn warnings_name_the_sample_even_when_date_time_comes_last() {
        let r = parse_qos_response(live_body(true).as_bytes()).unwrap();
        let w = &r.warnings[0];
        assert_eq!(w.participant, "a");
        assert_eq!(w.date_time.as_deref(), Some("2026-11-26T10:02:00Z"));
        assert_eq!(w.field, "audio_input.latency");
        assert_eq!(w.value, "slow ms");
        // The participant whose id came after its samples is named by it.
        assert_eq!(r.warnings[1].participant, "b-uuid");
        assert_eq!(&*r.participants[1].info.user_id, "b-uuid");
        assert_eq!(r.participants[1].info.attribute("user_name"), Some("B"));
    }

    #[test]
    fn a_sample_at_the_cutoff_is_skipped_and_a_newer_one_kept() {
        let body = live_body(false);
        let everyone = |t: &str| Cutoff::from(["a", "b-uuid", "c"].map(|u| (u.to_owned(), at(t))));
        let r =
            parse_qos_response_since(body.as_bytes(), &everyone("2026-11-26T10:03:00Z")).unwrap();
        assert!(r.participants.iter().all(|p| p.samples.is_empty()));
        let r =
            parse_qos_response_since(body.as_bytes(), &everyone("2026-11-26T10:02:59Z")).unwrap();
        let counts: Vec<usize> = r.participants.iter().map(|p| p.samples.len()).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert_eq!(
            r.participants[0].samples[0].get(metric("audio_input.latency")),
            Some(120.0)
        );
    }

    #[test]
    fn internal_ip_addresses_as_zoom_sends_them() {
        let body = br#"{"participants": [
            {"user_id": "a", "ip_address": "203.0.113.5", "internal_ip_addresses": ["10.20.1.5", "", null, 7, "fd00::5"]},
            {"user_id": "b", "internal_ip_addresses": null},
            {"user_id": "c", "internal_ip_addresses": []},
            {"user_id": "d"},
            {"user_id": "e", "internal_ip_addresses": "192.168.1.5"},
            {"user_id": "f", "internal_ip_addresses": {"x": 1}}
        ]}"#;
        let r = parse_qos_response(body).unwrap();
        let internal = |i: usize| -> Vec<&str> {
            r.participants[i]
                .info
                .internal_ip_addresses
                .iter()
                .map(|a| &**a)
                .collect()
        };
        assert_eq!(internal(0), ["10.20.1.5", "7", "fd00::5"]);
        assert_eq!(
            r.participants[0].info.attribute("ip_address"),
            Some("203.0.113.5")
        );
        for i in 1..4 {
            assert!(internal(i).is_empty(), "{i}");
        }
        assert_eq!(internal(4), ["192.168.1.5"]);
        assert!(internal(5).is_empty());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}
