//! Wire types of Zoom's QoS responses and their conversion to [`Sample`]s.
//!
//! Both response forms are read by one parser: the per-participant response
//! of `GET /metrics/meetings/{id}/participants/{participantId}/qos` (one
//! participant object) and the list response of
//! `GET /metrics/meetings/{id}/participants/qos` (`{participants: [...],
//! next_page_token}`). Parsing is lenient on purpose: Zoom adds fields every
//! few months and sends odd values, so unknown fields are ignored, a value of
//! the wrong JSON type is no data, and a garbled value (`"fast ms"`) becomes
//! no data plus a [`ValueWarning`], never an error for the whole response.
//! Strings are borrowed from the input where JSON allows, which keeps parsing
//! fast enough for large polls.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::qos::{
    self, ATTRIBUTE_NAMES, CPU_FIELDS, CpuPressure, Field, MeetingInfo, Metric, ParticipantInfo,
    ParticipantSamples, RSSI_FIELDS, Sample, Stream, Timestamp, Unit,
};

/// Why a response body could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseResponseError {
    /// Not JSON, truncated JSON, or JSON of the wrong shape.
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

impl fmt::Display for ValueWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// Parses a Zoom QoS response body of either form.
pub fn parse_qos_response(body: &[u8]) -> Result<QosResponse, ParseResponseError> {
    let raw: RawParticipant<'_> =
        serde_json::from_slice(body).map_err(|e| ParseResponseError::DecodeJson {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
    let mut out = QosResponse {
        meeting: MeetingInfo {
            id: raw
                .meeting_id
                .as_text()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            uuid: raw
                .meeting_uuid
                .as_text()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            topic: raw.topic.as_text().map(Arc::from),
        },
        next_page_token: raw
            .next_page_token
            .as_text()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        ..QosResponse::default()
    };
    match (raw.participants, raw.user_qos.is_some()) {
        (Some(list), _) => {
            for item in list {
                match item.0 {
                    Some(p) => {
                        if let Some(p) = convert_participant(p, &mut out.warnings) {
                            out.participants.push(p);
                        }
                    }
                    None => out.warnings.push(ValueWarning {
                        participant: "?".into(),
                        date_time: None,
                        field: "participants[]".into(),
                        value: String::new(),
                        reason: "not a participant object: skipped".into(),
                    }),
                }
            }
        }
        (None, true) => {
            let single = RawParticipant {
                participants: None,
                ..raw
            };
            if let Some(p) = convert_participant(single, &mut out.warnings) {
                out.participants.push(p);
            }
        }
        (None, false) => return Err(ParseResponseError::UnknownShape),
    }
    Ok(out)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn convert_participant(
    raw: RawParticipant<'_>,
    warnings: &mut Vec<ValueWarning>,
) -> Option<ParticipantSamples> {
    let user_id = raw
        .user_id
        .as_text()
        .filter(|s| !s.is_empty())
        .or(raw.participant_uuid.as_text().filter(|s| !s.is_empty()))
        .or(raw.id.as_text().filter(|s| !s.is_empty()));
    let Some(user_id) = user_id else {
        warnings.push(ValueWarning {
            participant: raw.user_name.as_text().unwrap_or("?").to_owned(),
            date_time: None,
            field: "user_id".into(),
            value: String::new(),
            reason: "participant without user_id, participant_uuid or id: skipped".into(),
        });
        return None;
    };
    let mut info = ParticipantInfo {
        user_id: Arc::from(user_id),
        join_time: raw.join_time.as_text().and_then(Timestamp::parse_rfc3339),
        leave_time: raw.leave_time.as_text().and_then(Timestamp::parse_rfc3339),
        ..ParticipantInfo::default()
    };
    let attrs = [
        &raw.user_name,
        &raw.email,
        &raw.device,
        &raw.os,
        &raw.client,
        &raw.network_type,
        &raw.location,
        &raw.data_center,
        &raw.connection_type,
        &raw.domain,
        &raw.pc_name,
        &raw.version,
    ];
    debug_assert_eq!(attrs.len(), ATTRIBUTE_NAMES.len());
    for (slot, value) in info.attributes.iter_mut().zip(attrs) {
        *slot = value.as_text().filter(|s| !s.is_empty()).map(Arc::from);
    }
    let mut samples = Vec::new();
    for item in raw.user_qos.unwrap_or_default() {
        let Some(raw_sample) = item.0 else {
            warnings.push(ValueWarning {
                participant: user_id.to_owned(),
                date_time: None,
                field: "user_qos[]".into(),
                value: String::new(),
                reason: "not a sample object: skipped".into(),
            });
            continue;
        };
        if let Some(s) = convert_sample(raw_sample, user_id, warnings) {
            samples.push(s);
        }
    }
    Some(ParticipantSamples { info, samples })
}

fn convert_sample(
    mut raw: RawSample<'_>,
    participant: &str,
    warnings: &mut Vec<ValueWarning>,
) -> Option<Sample> {
    let streams = raw.streams();
    let date_text = raw.date_time.as_text();
    let Some(at) = date_text.and_then(Timestamp::parse_rfc3339) else {
        warnings.push(ValueWarning {
            participant: participant.to_owned(),
            date_time: None,
            field: "date_time".into(),
            value: shorten(date_text.unwrap_or("")),
            reason: "missing or unreadable date_time: sample skipped".into(),
        });
        return None;
    };
    let mut sample = Sample::empty(at);
    let mut ctx = Ctx {
        participant,
        date_time: date_text,
        warnings,
    };
    for (stream, raw_stream) in Stream::all().zip(streams) {
        match raw_stream {
            RawStream::Absent => {}
            RawStream::Garbled(what) => {
                ctx.warn(stream.name().to_owned(), what, "not a stream object")
            }
            RawStream::Present(fields) => {
                let fields = *fields;
                let plain = [
                    (Field::Bitrate, fields.bitrate),
                    (Field::Latency, fields.latency),
                    (Field::Jitter, fields.jitter),
                    (Field::AvgLoss, fields.avg_loss),
                    (Field::MaxLoss, fields.max_loss),
                    (Field::FrameRate, fields.frame_rate),
                ];
                for (field, value) in plain {
                    if !stream.has_field(field) {
                        continue;
                    }
                    let metric = Metric::stream(stream, field);
                    sample.values[metric.slot()] = ctx.number(value, metric);
                }
                if stream.has_field(Field::Width) {
                    let (w, h) = ctx.resolution(fields.resolution, stream);
                    sample.set(Metric::stream(stream, Field::Width), w);
                    sample.set(Metric::stream(stream, Field::Height), h);
                }
            }
        }
    }
    if let Some(cpu) = raw.cpu_usage.0 {
        let values = [cpu.zoom_min, cpu.zoom_avg, cpu.zoom_max, cpu.system_max];
        for (i, v) in values.into_iter().enumerate() {
            sample.values[Metric::cpu(i).slot()] = ctx.number(v, Metric::cpu(i));
        }
    }
    if let Some(rssi) = raw.wifi_rssi.0 {
        let values = [rssi.max_rssi, rssi.avg_rssi, rssi.min_rssi];
        for (i, v) in values.into_iter().enumerate() {
            sample.values[Metric::rssi(i).slot()] = ctx.number(v, Metric::rssi(i));
        }
    }
    debug_assert_eq!(CPU_FIELDS.len() + RSSI_FIELDS.len(), 7);
    sample.cpu_pressure = match raw.cpu_pressure_level.as_text() {
        None => None,
        Some(t) if qos::is_no_data(t) => None,
        Some(t) => {
            let level = CpuPressure::parse(t);
            if level.is_none() {
                ctx.warn("cpu_pressure_level".into(), shorten(t), "unknown level");
            }
            level
        }
    };
    Some(sample)
}

struct Ctx<'w, 'a> {
    participant: &'a str,
    date_time: Option<&'a str>,
    warnings: &'w mut Vec<ValueWarning>,
}

impl Ctx<'_, '_> {
    fn warn(&mut self, field: String, value: String, reason: &str) {
        self.warnings.push(ValueWarning {
            participant: self.participant.to_owned(),
            date_time: self.date_time.map(str::to_owned),
            field,
            value,
            reason: reason.to_owned(),
        });
    }

    /// A numeric value in the metric's unit, `NaN` for no data.
    fn number(&mut self, value: RawValue<'_>, metric: Metric) -> f64 {
        let unit = metric.unit();
        match value {
            RawValue::Null => f64::NAN,
            RawValue::Str(s) if qos::is_no_data(&s) => f64::NAN,
            RawValue::Str(s) => match qos::parse_quantity(&s, unit, false) {
                Ok(v) => v,
                Err(e) => {
                    self.warn(metric.path(), shorten(&s), &e.to_string());
                    f64::NAN
                }
            },
            RawValue::Num(v) if v < 0.0 && unit != Unit::Dbm => {
                self.warn(metric.path(), v.to_string(), "negative");
                f64::NAN
            }
            RawValue::Num(v) => v,
            RawValue::Other(what) => {
                self.warn(metric.path(), what.to_owned(), "not a value");
                f64::NAN
            }
        }
    }

    fn resolution(&mut self, value: RawValue<'_>, stream: Stream) -> (Option<f64>, Option<f64>) {
        let field = || format!("{}.resolution", stream.name());
        match value {
            RawValue::Null => (None, None),
            RawValue::Str(s) if qos::is_no_data(&s) => (None, None),
            RawValue::Str(s) => match qos::parse_resolution(&s) {
                Ok(Some((w, h))) => (Some(w), Some(h)),
                Ok(None) => (None, None),
                Err(e) => {
                    self.warn(field(), shorten(&s), &e.to_string());
                    (None, None)
                }
            },
            RawValue::Num(v) => {
                self.warn(field(), v.to_string(), "not a resolution");
                (None, None)
            }
            RawValue::Other(what) => {
                self.warn(field(), what.to_owned(), "not a resolution");
                (None, None)
            }
        }
    }
}

fn shorten(s: &str) -> String {
    crate::shorten(s, 64)
}

// ---- wire types -------------------------------------------------------------

/// A participant object; the same struct reads the list form's top level,
/// whose `participants` holds the participants.
#[derive(Deserialize, Default)]
struct RawParticipant<'a> {
    #[serde(borrow, default, deserialize_with = "lenient_list")]
    participants: Option<Vec<Item<RawParticipant<'a>>>>,
    #[serde(borrow, default)]
    next_page_token: Text<'a>,
    #[serde(borrow, default)]
    meeting_id: Text<'a>,
    #[serde(borrow, default)]
    meeting_uuid: Text<'a>,
    #[serde(borrow, default)]
    topic: Text<'a>,
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    user_id: Text<'a>,
    #[serde(borrow, default)]
    participant_uuid: Text<'a>,
    #[serde(borrow, default)]
    user_name: Text<'a>,
    #[serde(borrow, default)]
    email: Text<'a>,
    #[serde(borrow, default)]
    device: Text<'a>,
    #[serde(borrow, default)]
    os: Text<'a>,
    #[serde(borrow, default)]
    client: Text<'a>,
    #[serde(borrow, default)]
    network_type: Text<'a>,
    #[serde(borrow, default)]
    location: Text<'a>,
    #[serde(borrow, default)]
    data_center: Text<'a>,
    #[serde(borrow, default)]
    connection_type: Text<'a>,
    #[serde(borrow, default)]
    domain: Text<'a>,
    #[serde(borrow, default)]
    pc_name: Text<'a>,
    #[serde(borrow, default)]
    version: Text<'a>,
    #[serde(borrow, default)]
    join_time: Text<'a>,
    #[serde(borrow, default)]
    leave_time: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient_list")]
    user_qos: Option<Vec<Item<RawSample<'a>>>>,
}

#[derive(Deserialize, Default)]
struct RawSample<'a> {
    #[serde(borrow, default)]
    date_time: Text<'a>,
    #[serde(borrow, default)]
    audio_input: RawStream<'a>,
    #[serde(borrow, default)]
    audio_output: RawStream<'a>,
    #[serde(borrow, default)]
    video_input: RawStream<'a>,
    #[serde(borrow, default)]
    video_output: RawStream<'a>,
    #[serde(borrow, default)]
    as_input: RawStream<'a>,
    #[serde(borrow, default)]
    as_output: RawStream<'a>,
    #[serde(borrow, default)]
    audio_device_from_crc: RawStream<'a>,
    #[serde(borrow, default)]
    video_device_from_crc: RawStream<'a>,
    #[serde(borrow, default)]
    as_device_from_crc: RawStream<'a>,
    #[serde(borrow, default)]
    audio_device_to_crc: RawStream<'a>,
    #[serde(borrow, default)]
    video_device_to_crc: RawStream<'a>,
    #[serde(borrow, default)]
    as_device_to_crc: RawStream<'a>,
    #[serde(borrow, default)]
    audio_device_from_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    video_device_from_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    as_device_from_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    audio_device_to_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    video_device_to_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    as_device_to_rwg: RawStream<'a>,
    #[serde(borrow, default)]
    cpu_usage: Lenient<RawCpu<'a>>,
    #[serde(borrow, default)]
    wifi_rssi: Lenient<RawRssi<'a>>,
    #[serde(borrow, default)]
    cpu_pressure_level: Text<'a>,
}

impl<'a> RawSample<'a> {
    /// The streams in [`crate::qos::STREAM_NAMES`] order.
    fn streams(&mut self) -> [RawStream<'a>; Stream::COUNT] {
        use std::mem::take;
        [
            take(&mut self.audio_input),
            take(&mut self.audio_output),
            take(&mut self.video_input),
            take(&mut self.video_output),
            take(&mut self.as_input),
            take(&mut self.as_output),
            take(&mut self.audio_device_from_crc),
            take(&mut self.video_device_from_crc),
            take(&mut self.as_device_from_crc),
            take(&mut self.audio_device_to_crc),
            take(&mut self.video_device_to_crc),
            take(&mut self.as_device_to_crc),
            take(&mut self.audio_device_from_rwg),
            take(&mut self.video_device_from_rwg),
            take(&mut self.as_device_from_rwg),
            take(&mut self.audio_device_to_rwg),
            take(&mut self.video_device_to_rwg),
            take(&mut self.as_device_to_rwg),
        ]
    }
}

#[derive(Deserialize, Default, Clone, Copy)]
struct RawStreamFields<'a> {
    #[serde(borrow, default)]
    bitrate: RawValue<'a>,
    #[serde(borrow, default)]
    latency: RawValue<'a>,
    #[serde(borrow, default)]
    jitter: RawValue<'a>,
    #[serde(borrow, default)]
    avg_loss: RawValue<'a>,
    #[serde(borrow, default)]
    max_loss: RawValue<'a>,
    #[serde(borrow, default)]
    resolution: RawValue<'a>,
    #[serde(borrow, default)]
    frame_rate: RawValue<'a>,
}

#[derive(Deserialize, Default)]
struct RawCpu<'a> {
    #[serde(borrow, default, rename = "zoom_min_cpu_usage")]
    zoom_min: RawValue<'a>,
    #[serde(borrow, default, rename = "zoom_avg_cpu_usage")]
    zoom_avg: RawValue<'a>,
    #[serde(borrow, default, rename = "zoom_max_cpu_usage")]
    zoom_max: RawValue<'a>,
    #[serde(borrow, default, rename = "system_max_cpu_usage")]
    system_max: RawValue<'a>,
}

#[derive(Deserialize, Default)]
struct RawRssi<'a> {
    #[serde(borrow, default)]
    max_rssi: RawValue<'a>,
    #[serde(borrow, default)]
    avg_rssi: RawValue<'a>,
    #[serde(borrow, default)]
    min_rssi: RawValue<'a>,
}

/// A scalar read as text whatever its JSON type (Zoom sends some ids as
/// numbers); `null`, objects and arrays read as nothing.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    fn as_text(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(AnyVisitor)? {
            Any::Str(s) => Text(Some(s)),
            Any::Num(n) => Text(Some(Cow::Owned(format_number(n)))),
            Any::Int(i) => Text(Some(Cow::Owned(i.to_string()))),
            Any::Bool(b) => Text(Some(Cow::Owned(b.to_string()))),
            Any::Null | Any::Other(_) => Text(None),
        })
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A QoS value as sent: a string with its unit, a number, or nothing.
#[derive(Default, Clone, Copy)]
enum RawValue<'a> {
    #[default]
    Null,
    Str(CowStr<'a>),
    Num(f64),
    Other(&'static str),
}

/// A string borrowed from the input or, when JSON escapes forced a copy,
/// kept in a small inline buffer (QoS values are short) to stay `Copy`.
#[derive(Clone, Copy)]
enum CowStr<'a> {
    Borrowed(&'a str),
    Inline([u8; 32], u8),
    TooLong,
}

impl std::ops::Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            CowStr::Borrowed(s) => s,
            CowStr::Inline(buf, len) => std::str::from_utf8(&buf[..*len as usize]).unwrap_or("?"),
            CowStr::TooLong => "(value too long)",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(AnyVisitor)? {
            Any::Str(Cow::Borrowed(s)) => RawValue::Str(CowStr::Borrowed(s)),
            Any::Str(Cow::Owned(s)) => {
                if s.len() <= 32 {
                    let mut buf = [0u8; 32];
                    buf[..s.len()].copy_from_slice(s.as_bytes());
                    RawValue::Str(CowStr::Inline(buf, s.len() as u8))
                } else {
                    RawValue::Str(CowStr::TooLong)
                }
            }
            Any::Num(n) => RawValue::Num(n),
            Any::Int(i) => RawValue::Num(i as f64),
            Any::Null => RawValue::Null,
            Any::Bool(_) => RawValue::Other("a boolean"),
            Any::Other(what) => RawValue::Other(what),
        })
    }
}

/// A stream object, Zoom's `""` for an absent stream, or something else.
#[derive(Default)]
enum RawStream<'a> {
    #[default]
    Absent,
    Present(Box<RawStreamFields<'a>>),
    Garbled(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawStream<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawStream<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a QoS stream object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let fields =
                    RawStreamFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawStream::Present(Box::new(fields)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if qos::is_no_data(v) {
                    Ok(RawStream::Absent)
                } else {
                    Ok(RawStream::Garbled(shorten(v)))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawStream::Absent)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawStream::Absent)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawStream::Garbled(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawStream::Garbled(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(RawStream::Garbled(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(RawStream::Garbled(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawStream::Garbled("an array".into()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object that may also come as `""`, `null` or something odd, all of
/// which read as absent.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A list item that should be an object; anything else reads as `None`.
struct Item<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Lenient::<T>::deserialize(d).map(|l| Item(l.0))
    }
}

/// A list (`participants`, `user_qos`); anything else reads as an empty list.
fn lenient_list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of samples")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element::<T>()? {
                out.push(item);
            }
            Ok(Some(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            // A single sample object where a list belongs: take it as one.
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Some(vec![t]))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

enum Any<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Int(i64),
    Bool(bool),
    Null,
    Other(&'static str),
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = Any<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Any::Str(Cow::Owned(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Any::Num(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Any::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Any::Num(v as f64), Any::Int))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Any::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Any::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Any::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Any::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Any::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../tests/fixtures/zoom-participant-qos-example.json");

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
    }
}
