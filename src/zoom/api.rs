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

mod fast;

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
/// The scalar visits of a lenient visitor: all read as `$value`.
macro_rules! lenient_scalars {
    ($value:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// Parses a Zoom QoS response body of either form.
pub fn parse_qos_response(body: &[u8]) -> Result<QosResponse, ParseResponseError> {
    parse_qos_response_since(body, &|_| None)
}

/// Parses a Zoom QoS response body of either form, skipping unread the
/// samples a poll has already delivered: `seen(user_id)` gives the newest
/// sample time already handled for that participant, and samples at or
/// before it are passed over without being converted. Live responses repeat
/// earlier samples, so this saves most of the work of a poll. A participant
/// whose samples are all skipped is still listed (with no samples): it is
/// still in the meeting.
pub fn parse_qos_response_since(
    body: &[u8],
    seen: &dyn Fn(&str) -> Option<Timestamp>,
) -> Result<QosResponse, ParseResponseError> {
    parse_with(body, seen, true)
}

/// [`parse_qos_response_since`], with the fast reader (`fast`) or with the
/// visitors only (for the test that holds the two to the same output).
fn parse_with(
    body: &[u8],
    seen: &dyn Fn(&str) -> Option<Timestamp>,
    fast: bool,
) -> Result<QosResponse, ParseResponseError> {
    let decode = |e: serde_json::Error| ParseResponseError::DecodeJson {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    };
    let mut warnings = Vec::new();
    // Checking UTF-8 once up front is much cheaper than string by string;
    // invalid bodies take the slice reader, whose error says where.
    let mut top = match std::str::from_utf8(body) {
        Ok(text) => match fast
            .then(|| fast::read_body(text, seen, &mut warnings))
            .flatten()
        {
            Some(top) => Ok(top),
            None => {
                // Not the usual shape (or not JSON): the visitors read it,
                // and say where it breaks.
                warnings.clear();
                read_top(
                    serde_json::Deserializer::from_str(text),
                    seen,
                    &mut warnings,
                )
            }
        },
        Err(_) => read_top(
            serde_json::Deserializer::from_slice(body),
            seen,
            &mut warnings,
        ),
    }
    .map_err(decode)?;
    let fields = &top.fields;
    let mut out = QosResponse {
        meeting: MeetingInfo {
            id: fields
                .meeting_id
                .as_text()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            uuid: fields
                .meeting_uuid
                .as_text()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
            topic: fields.topic.as_text().map(Arc::from),
        },
        next_page_token: fields
            .next_page_token
            .as_text()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        ..QosResponse::default()
    };
    match top.participants.take() {
        Some(list) => out.participants = list,
        None if top.samples.is_some() => out.participants.extend(top.participant(&mut warnings)),
        None => return Err(ParseResponseError::UnknownShape),
    }
    out.warnings = warnings;
    Ok(out)
}

fn read_top<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    seen: &dyn Fn(&str) -> Option<Timestamp>,
    warnings: &mut Vec<ValueWarning>,
) -> Result<ParticipantRead<'de>, serde_json::Error> {
    let top = de::DeserializeSeed::deserialize(
        ParticipantSeed {
            seen,
            warnings,
            top: true,
        },
        &mut de,
    )?;
    de.end()?;
    Ok(top)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

// ---- wire format ------------------------------------------------------------
//
// The body is read in one pass with hand-written visitors that write values
// straight into `Sample`s. Each visitor is lenient: a value of the wrong JSON
// type is no data (with a warning where Zoom sent something), never an error
// for the whole response; only broken JSON is an error.

/// The text fields of a participant object (and of the list form's top
/// level, which shares the reader).
#[derive(Default)]
struct ParticipantFields<'a> {
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
}

impl<'a> ParticipantFields<'a> {
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
            .find_map(|t| t.as_text().filter(|s| !s.is_empty()))
    }
}

/// What a participant object (or the top level) held.
struct ParticipantRead<'a> {
    fields: ParticipantFields<'a>,
    /// The list form's `participants`.
    participants: Option<Vec<ParticipantSamples>>,
    /// Its `user_qos`, read (`None` when it had none).
    samples: Option<Vec<Sample>>,
}

impl ParticipantRead<'_> {
    /// The participant's info and samples; `None` (with a warning) without
    /// an identity.
    fn participant(self, warnings: &mut Vec<ValueWarning>) -> Option<ParticipantSamples> {
        participant(&self.fields, self.samples.unwrap_or_default(), warnings)
    }
}

/// Where `user_qos` stands while its participant object is read.
enum SamplesRead<'a> {
    Absent,
    /// Read as it came: the participant's `user_id` was known by then.
    Read(Vec<Sample>),
    /// Came before the identity: kept raw, read once the object is done.
    Deferred(&'a serde_json::value::RawValue),
}

struct ParticipantSeed<'s> {
    seen: &'s dyn Fn(&str) -> Option<Timestamp>,
    warnings: &'s mut Vec<ValueWarning>,
    /// The top level, which may hold `participants` and the meeting.
    top: bool,
}

impl<'de> de::DeserializeSeed<'de> for ParticipantSeed<'_> {
    type Value = ParticipantRead<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ParticipantSeed<'_> {
    type Value = ParticipantRead<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Zoom QoS response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = ParticipantFields::default();
        let mut participants = None;
        let mut samples = SamplesRead::Absent;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let text = match &*key.0 {
                "participants" if self.top => {
                    participants = Some(map.next_value_seed(ParticipantListSeed {
                        seen: self.seen,
                        warnings: &mut *self.warnings,
                    })?);
                    continue;
                }
                "user_qos" => {
                    samples = match fields.user_id.as_text().filter(|s| !s.is_empty()) {
                        Some(user_id) => {
                            SamplesRead::Read(map.next_value_seed(SampleListSeed {
                                cutoff: (self.seen)(user_id),
                                participant: user_id,
                                warnings: &mut *self.warnings,
                            })?)
                        }
                        None => SamplesRead::Deferred(map.next_value()?),
                    };
                    continue;
                }
                name => match fields.slot(name, self.top) {
                    Some(text) => text,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            *text = map.next_value()?;
        }
        let samples = match samples {
            SamplesRead::Absent => None,
            SamplesRead::Read(samples) => Some(samples),
            SamplesRead::Deferred(raw) => match fields.identity() {
                Some(who) => Some(
                    de::DeserializeSeed::deserialize(
                        SampleListSeed {
                            cutoff: (self.seen)(who),
                            participant: who,
                            warnings: &mut *self.warnings,
                        },
                        &mut serde_json::Deserializer::from_str(raw.get()),
                    )
                    .map_err(de::Error::custom)?,
                ),
                None => Some(Vec::new()),
            },
        };
        Ok(ParticipantRead {
            fields,
            participants,
            samples,
        })
    }
}

/// The participant's info and samples; `None` (with a warning) without an identity.
fn participant(
    fields: &ParticipantFields<'_>,
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
    let mut info = ParticipantInfo {
        user_id: Arc::from(user_id),
        join_time: fields
            .join_time
            .as_text()
            .and_then(Timestamp::parse_rfc3339),
        leave_time: fields
            .leave_time
            .as_text()
            .and_then(Timestamp::parse_rfc3339),
        ..ParticipantInfo::default()
    };
    for (slot, value) in info.attributes.iter_mut().zip(&fields.attributes) {
        *slot = value.as_text().filter(|s| !s.is_empty()).map(Arc::from);
    }
    Some(ParticipantSamples { info, samples })
}

/// The list form's `participants`: a list of participant objects; a single
/// object is taken as a list of one, anything else as an empty list.
struct ParticipantListSeed<'s> {
    seen: &'s dyn Fn(&str) -> Option<Timestamp>,
    warnings: &'s mut Vec<ValueWarning>,
}

impl<'de> de::DeserializeSeed<'de> for ParticipantListSeed<'_> {
    type Value = Vec<ParticipantSamples>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParticipantListSeed<'_> {
    type Value = Vec<ParticipantSamples>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of participants")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(ItemSeed(ParticipantSeed {
            seen: self.seen,
            warnings: &mut *self.warnings,
            top: false,
        }))? {
            match item {
                Some(read) => out.extend(read.participant(self.warnings)),
                None => self.warnings.push(ValueWarning {
                    participant: "?".into(),
                    date_time: None,
                    field: "participants[]".into(),
                    value: String::new(),
                    reason: "not a participant object: skipped".into(),
                }),
            }
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let read = ParticipantSeed {
            seen: self.seen,
            warnings: &mut *self.warnings,
            top: false,
        }
        .visit_map(map)?;
        Ok(read.participant(self.warnings).into_iter().collect())
    }

    lenient_scalars!(Vec::new());
}

/// `user_qos`: a list of sample objects; a single object is taken as a list
/// of one, anything else as an empty list.
struct SampleListSeed<'s> {
    /// Samples at or before this time are skipped unread.
    cutoff: Option<Timestamp>,
    participant: &'s str,
    warnings: &'s mut Vec<ValueWarning>,
}

impl<'de> de::DeserializeSeed<'de> for SampleListSeed<'_> {
    type Value = Vec<Sample>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SampleListSeed<'_> {
    type Value = Vec<Sample>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of samples")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<Sample> = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
        loop {
            // Read in place: a sample is large, and most are skipped.
            out.push(Sample::empty(Timestamp(0)));
            let seed = ItemSeed(SampleSeed {
                cutoff: self.cutoff,
                participant: self.participant,
                warnings: &mut *self.warnings,
                sample: out.last_mut().expect("just pushed"),
            });
            match seq.next_element_seed(seed)? {
                None => {
                    out.pop();
                    return Ok(out);
                }
                Some(Some(true)) => {}
                Some(Some(false)) => {
                    out.pop();
                }
                Some(None) => {
                    out.pop();
                    self.warnings.push(ValueWarning {
                        participant: self.participant.to_owned(),
                        date_time: None,
                        field: "user_qos[]".into(),
                        value: String::new(),
                        reason: "not a sample object: skipped".into(),
                    });
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        // A single sample object where a list belongs: take it as one.
        let mut sample = Sample::empty(Timestamp(0));
        let keep = SampleSeed {
            cutoff: self.cutoff,
            participant: self.participant,
            warnings: self.warnings,
            sample: &mut sample,
        }
        .visit_map(map)?;
        Ok(if keep { vec![sample] } else { Vec::new() })
    }

    lenient_scalars!(Vec::new());
}

/// One sample object, read into `sample`. The value says whether to keep
/// it: false when it is at or before the cutoff, or has no usable
/// `date_time` (a warning says so).
struct SampleSeed<'s> {
    cutoff: Option<Timestamp>,
    participant: &'s str,
    warnings: &'s mut Vec<ValueWarning>,
    sample: &'s mut Sample,
}

impl<'de> de::DeserializeSeed<'de> for SampleSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SampleSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a QoS sample object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let first_warning = self.warnings.len();
        let mut ctx = Ctx {
            participant: self.participant,
            warnings: self.warnings,
        };
        let sample = self.sample;
        let mut date_time: Option<Text<'de>> = None;
        let mut pressure: Text<'de> = Text::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "date_time" => {
                    let text: Text<'de> = map.next_value()?;
                    let at = text.as_text().and_then(Timestamp::parse_rfc3339);
                    if let (Some(at), Some(cutoff)) = (at, self.cutoff)
                        && at <= cutoff
                    {
                        // Already seen: pass over the rest unread.
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        ctx.warnings.truncate(first_warning);
                        return Ok(false);
                    }
                    sample.at = at.unwrap_or(Timestamp(0));
                    date_time = Some(text);
                }
                "cpu_usage" => map.next_value_seed(GroupSeed {
                    names: &CPU_FIELDS,
                    metric: Metric::cpu,
                    sample: &mut *sample,
                    ctx: &mut ctx,
                })?,
                "wifi_rssi" => map.next_value_seed(GroupSeed {
                    names: &RSSI_FIELDS,
                    metric: Metric::rssi,
                    sample: &mut *sample,
                    ctx: &mut ctx,
                })?,
                "cpu_pressure_level" => pressure = map.next_value()?,
                name => match Stream::from_name(name) {
                    Some(stream) => map.next_value_seed(StreamSeed {
                        stream,
                        sample: &mut *sample,
                        ctx: &mut ctx,
                    })?,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        let date_text = date_time.as_ref().and_then(Text::as_text);
        Ok(finish_sample(
            &mut ctx,
            sample,
            self.cutoff,
            first_warning,
            date_text,
            pressure.as_text(),
        ))
    }
}

/// The end of reading a sample, shared by both readers: checks `date_time`
/// (and the cutoff, when it came after the values), reads
/// `cpu_pressure_level` and dates the sample's warnings. Whether to keep it.
fn finish_sample(
    ctx: &mut Ctx<'_, '_>,
    sample: &mut Sample,
    cutoff: Option<Timestamp>,
    first_warning: usize,
    date_text: Option<&str>,
    pressure: Option<&str>,
) -> bool {
    if date_text.and_then(Timestamp::parse_rfc3339).is_none() {
        ctx.warnings.truncate(first_warning);
        ctx.warnings.push(ValueWarning {
            participant: ctx.participant.to_owned(),
            date_time: None,
            field: "date_time".into(),
            value: shorten(date_text.unwrap_or("")),
            reason: "missing or unreadable date_time: sample skipped".into(),
        });
        return false;
    }
    if let Some(t) = cutoff
        && sample.at <= t
    {
        // `date_time` came after the values.
        ctx.warnings.truncate(first_warning);
        return false;
    }
    sample.cpu_pressure = match pressure {
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
    for w in &mut ctx.warnings[first_warning..] {
        w.date_time = date_text.map(str::to_owned);
    }
    true
}

/// A stream object, Zoom's `""` for an absent stream, or something else
/// (a warning).
struct StreamSeed<'s, 'w, 'a> {
    stream: Stream,
    sample: &'s mut Sample,
    ctx: &'s mut Ctx<'w, 'a>,
}

impl<'de> de::DeserializeSeed<'de> for StreamSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl StreamSeed<'_, '_, '_> {
    fn garbled(self, what: String) {
        self.ctx.garbled_stream(self.stream, what);
    }
}

/// The field a stream object's key names, if `stream` has it.
fn stream_field(stream: Stream, key: &str) -> Option<Field> {
    let field = match key {
        "bitrate" => Field::Bitrate,
        "latency" => Field::Latency,
        "jitter" => Field::Jitter,
        "avg_loss" => Field::AvgLoss,
        "max_loss" => Field::MaxLoss,
        "frame_rate" => Field::FrameRate,
        "resolution" => Field::Width,
        _ => return None,
    };
    stream.has_field(field).then_some(field)
}

impl<'de> Visitor<'de> for StreamSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a QoS stream object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let stream = self.stream;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match stream_field(stream, &key.0) {
                Some(field) => {
                    let value: RawValue<'de> = map.next_value()?;
                    self.ctx.stream_value(self.sample, stream, field, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if !qos::is_no_data(v) {
            self.garbled(shorten(v));
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.garbled(v.to_string());
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.garbled(v.to_string());
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.garbled(v.to_string());
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.garbled(v.to_string());
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.garbled("an array".into());
        Ok(())
    }
}

/// `cpu_usage` or `wifi_rssi`: an object of numbers; anything else
/// (`""`, `null`) reads as absent.
struct GroupSeed<'s, 'w, 'a> {
    names: &'static [&'static str],
    metric: fn(usize) -> Metric,
    sample: &'s mut Sample,
    ctx: &'s mut Ctx<'w, 'a>,
}

impl<'de> de::DeserializeSeed<'de> for GroupSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|n| **n == *key.0) {
                Some(i) => {
                    let metric = (self.metric)(i);
                    let value: RawValue<'de> = map.next_value()?;
                    self.sample.values[metric.slot()] = self.ctx.number(value, metric);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    lenient_scalars!(());
}

/// A list item that should be an object: the inner seed's value, or `None`
/// for anything else (which is read and dropped).
struct ItemSeed<S>(S);

impl<'de, S> de::DeserializeSeed<'de> for ItemSeed<S>
where
    S: de::DeserializeSeed<'de> + Visitor<'de, Value = <S as de::DeserializeSeed<'de>>::Value>,
{
    type Value = Option<<S as de::DeserializeSeed<'de>>::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S> Visitor<'de> for ItemSeed<S>
where
    S: Visitor<'de>,
{
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    lenient_scalars!(None);
}

/// A map key, borrowed from the input unless JSON escapes forced a copy.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct Ctx<'w, 'a> {
    participant: &'a str,
    warnings: &'w mut Vec<ValueWarning>,
}

impl Ctx<'_, '_> {
    /// A warning for the current sample; its `date_time` is filled in once
    /// the sample is read.
    fn warn(&mut self, field: String, value: String, reason: &str) {
        self.warnings.push(ValueWarning {
            participant: self.participant.to_owned(),
            date_time: None,
            field,
            value,
            reason: reason.to_owned(),
        });
    }
    fn garbled_stream(&mut self, stream: Stream, what: String) {
        self.warn(stream.name().to_owned(), what, "not a stream object");
    }

    /// Writes a stream field's value into `sample`.
    fn stream_value(
        &mut self,
        sample: &mut Sample,
        stream: Stream,
        field: Field,
        value: RawValue<'_>,
    ) {
        if field == Field::Width {
            let (w, h) = self.resolution(value, stream);
            sample.set(Metric::stream(stream, Field::Width), w);
            sample.set(Metric::stream(stream, Field::Height), h);
        } else {
            let metric = Metric::stream(stream, field);
            sample.values[metric.slot()] = self.number(value, metric);
        }
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
            let cutoffs = [
                ("a", at("2026-11-26T10:02:00Z")),
                ("b-uuid", at("2026-11-26T10:02:00Z")),
                ("c", at("2026-11-26T10:03:00Z")),
            ];
            let seen = |u: &str| cutoffs.iter().find(|(k, _)| *k == u).map(|(_, t)| *t);
            let since = parse_qos_response_since(body.as_bytes(), &seen).unwrap();
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
        let cutoff = at("2026-11-26T10:03:00Z");
        let r = parse_qos_response_since(body.as_bytes(), &|_| Some(cutoff)).unwrap();
        assert!(r.participants.iter().all(|p| p.samples.is_empty()));
        let before = at("2026-11-26T10:02:59Z");
        let r = parse_qos_response_since(body.as_bytes(), &|_| Some(before)).unwrap();
        let counts: Vec<usize> = r.participants.iter().map(|p| p.samples.len()).collect();
        assert_eq!(counts, [1, 1, 1]);
        assert_eq!(
            r.participants[0].samples[0].get(metric("audio_input.latency")),
            Some(120.0)
        );
    }
}
