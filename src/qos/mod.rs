//! Typed, unit-normalised QoS samples.
//!
//! A [`Sample`] is one minute of one participant's quality: every metric of
//! every stream in a fixed slot, normalised to ms, %, kbps, fps, dBm or px.
//! A slot holding `NaN` means *no data* (Zoom's `""`, `"-"`, `null`, a missing
//! key, a `"0*0"` resolution), which is never the same as zero. The layout is a
//! flat array so that the rule engine reads a metric with one index.

mod value;

pub use value::{ParseValueError, is_no_data, parse_quantity, parse_resolution};

use std::fmt;
use std::sync::Arc;

/// Seconds since the Unix epoch, UTC: the sample clock.
///
/// Zoom stamps samples on the minute; seconds resolution is all we need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: year, month, day (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Timestamp {
    /// Parses an RFC 3339 date-time (`2021-06-24T20:00:00Z`, offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        if let Some(t) = Self::parse_zulu(text) {
            return Some(t);
        }
        let text = text.trim();
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Timestamp(t.timestamp()))
            .or_else(|| {
                // Zoom has been seen without the zone designator; it is UTC.
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
                    .ok()
                    .map(|t| Timestamp(t.and_utc().timestamp()))
            })
    }

    /// Zoom's usual form, `2021-06-24T20:00:00Z`, read without chrono
    /// (every sample's time goes through here); `None` for anything else.
    fn parse_zulu(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            b[from..to].iter().try_fold(0i64, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
            // Leap seconds and the like: chrono's reading decides.
            return None;
        }
        Some(Timestamp(
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second,
        ))
    }

    /// Formats as RFC 3339 UTC with `Z` (`2021-06-24T20:00:00Z`).
    pub fn to_rfc3339(self) -> String {
        let (days, secs) = (self.0.div_euclid(86_400), self.0.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            // Outside four-digit years: chrono's rendering, or none.
            return match chrono::DateTime::from_timestamp(self.0, 0) {
                Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                None => format!("@{}", self.0),
            };
        }
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This time plus `secs` seconds.
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// The unit a metric is normalised to; serialised as printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Ms,
    #[serde(rename = "%")]
    Percent,
    #[serde(rename = "kbps")]
    Kbps,
    #[serde(rename = "fps")]
    Fps,
    #[serde(rename = "dBm")]
    Dbm,
    #[serde(rename = "px")]
    Px,
}

impl Unit {
    /// The unit's name as printed (`ms`, `%`, `kbps`, `fps`, `dBm`, `px`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Percent => "%",
            Unit::Kbps => "kbps",
            Unit::Fps => "fps",
            Unit::Dbm => "dBm",
            Unit::Px => "px",
        }
    }

    /// The unit spellings accepted for quantities of this unit, for messages.
    pub fn accepted(self) -> &'static str {
        match self {
            Unit::Ms => "ms or s",
            Unit::Percent => "%",
            Unit::Kbps => "kbps or Mbps",
            Unit::Fps => "fps",
            Unit::Dbm => "dBm",
            Unit::Px => "a bare number (px)",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a stream carries, which decides the fields it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Audio,
    Video,
    Share,
}

/// A QoS stream of a sample, in the documented stream order (docs/rules.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stream(u8);

/// Stream names in stream order: the six main streams, then the CRC and RWG
/// device variants (`*_device_from_crc`, `*_device_to_crc`,
/// `*_device_from_rwg`, `*_device_to_rwg`), each for audio, video and share.
pub const STREAM_NAMES: [&str; 18] = [
    "audio_input",
    "audio_output",
    "video_input",
    "video_output",
    "as_input",
    "as_output",
    "audio_device_from_crc",
    "video_device_from_crc",
    "as_device_from_crc",
    "audio_device_to_crc",
    "video_device_to_crc",
    "as_device_to_crc",
    "audio_device_from_rwg",
    "video_device_from_rwg",
    "as_device_from_rwg",
    "audio_device_to_rwg",
    "video_device_to_rwg",
    "as_device_to_rwg",
];

impl Stream {
    /// Number of streams.
    pub const COUNT: usize = STREAM_NAMES.len();

    /// Every stream, in stream order.
    pub fn all() -> impl Iterator<Item = Stream> {
        (0..Self::COUNT as u8).map(Stream)
    }

    /// The stream with this Zoom name.
    pub fn from_name(name: &str) -> Option<Stream> {
        // A match, not a search of STREAM_NAMES: this runs for every key of
        // every sample Zoom sends (checked against STREAM_NAMES in a test).
        let i = match name {
            "audio_input" => 0,
            "audio_output" => 1,
            "video_input" => 2,
            "video_output" => 3,
            "as_input" => 4,
            "as_output" => 5,
            "audio_device_from_crc" => 6,
            "video_device_from_crc" => 7,
            "as_device_from_crc" => 8,
            "audio_device_to_crc" => 9,
            "video_device_to_crc" => 10,
            "as_device_to_crc" => 11,
            "audio_device_from_rwg" => 12,
            "video_device_from_rwg" => 13,
            "as_device_from_rwg" => 14,
            "audio_device_to_rwg" => 15,
            "video_device_to_rwg" => 16,
            "as_device_to_rwg" => 17,
            _ => return None,
        };
        Some(Stream(i))
    }

    /// Zoom's name for the stream (`audio_input`).
    pub fn name(self) -> &'static str {
        STREAM_NAMES[self.0 as usize]
    }

    /// Position in stream order.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Audio, video or screen share.
    pub fn media(self) -> Media {
        let name = self.name();
        if name.starts_with("audio") {
            Media::Audio
        } else if name.starts_with("video") {
            Media::Video
        } else {
            Media::Share
        }
    }

    /// Whether the stream carries `field` (audio has no resolution or frame rate).
    pub fn has_field(self, field: Field) -> bool {
        !(self.media() == Media::Audio && field.video_only())
    }
}

/// A field of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Bitrate,
    Latency,
    Jitter,
    AvgLoss,
    MaxLoss,
    FrameRate,
    Width,
    Height,
}

impl Field {
    /// Every field, in slot order.
    pub const ALL: [Field; 8] = [
        Field::Bitrate,
        Field::Latency,
        Field::Jitter,
        Field::AvgLoss,
        Field::MaxLoss,
        Field::FrameRate,
        Field::Width,
        Field::Height,
    ];

    /// The field as written in a metric path (`latency`, `resolution.width`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Bitrate => "bitrate",
            Field::Latency => "latency",
            Field::Jitter => "jitter",
            Field::AvgLoss => "avg_loss",
            Field::MaxLoss => "max_loss",
            Field::FrameRate => "frame_rate",
            Field::Width => "resolution.width",
            Field::Height => "resolution.height",
        }
    }

    /// The field named `name` in a metric path.
    pub fn from_name(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The unit values of this field are normalised to.
    pub fn unit(self) -> Unit {
        match self {
            Field::Bitrate => Unit::Kbps,
            Field::Latency | Field::Jitter => Unit::Ms,
            Field::AvgLoss | Field::MaxLoss => Unit::Percent,
            Field::FrameRate => Unit::Fps,
            Field::Width | Field::Height => Unit::Px,
        }
    }

    /// Fields only video and screen-share streams carry.
    pub fn video_only(self) -> bool {
        matches!(self, Field::FrameRate | Field::Width | Field::Height)
    }
}

/// `cpu_usage` fields, in slot order.
pub const CPU_FIELDS: [&str; 4] = [
    "zoom_min_cpu_usage",
    "zoom_avg_cpu_usage",
    "zoom_max_cpu_usage",
    "system_max_cpu_usage",
];

/// `wifi_rssi` fields, in slot order.
pub const RSSI_FIELDS: [&str; 3] = ["max_rssi", "avg_rssi", "min_rssi"];

const FIELDS_PER_STREAM: usize = Field::ALL.len();
const CPU_BASE: usize = Stream::COUNT * FIELDS_PER_STREAM;
const RSSI_BASE: usize = CPU_BASE + CPU_FIELDS.len();

/// Number of value slots in a sample.
pub const SLOTS: usize = RSSI_BASE + RSSI_FIELDS.len();

/// One metric of a sample: a concrete stream field, a CPU figure or a Wi-Fi
/// signal figure. It indexes a slot of [`Sample::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metric(u16);

impl Metric {
    /// The metric of `field` on `stream`.
    pub fn stream(stream: Stream, field: Field) -> Metric {
        let f = Field::ALL.iter().position(|x| *x == field).unwrap_or(0);
        Metric((stream.index() * FIELDS_PER_STREAM + f) as u16)
    }

    /// `cpu_usage.<CPU_FIELDS[i]>`.
    pub fn cpu(i: usize) -> Metric {
        Metric((CPU_BASE + i) as u16)
    }

    /// `wifi_rssi.<RSSI_FIELDS[i]>`.
    pub fn rssi(i: usize) -> Metric {
        Metric((RSSI_BASE + i) as u16)
    }

    /// Slot index in [`Sample::values`].
    pub fn slot(self) -> usize {
        self.0 as usize
    }

    /// Every metric, in slot order.
    pub fn all() -> impl Iterator<Item = Metric> {
        (0..SLOTS as u16).map(Metric)
    }

    /// Parses a concrete metric path (`audio_input.latency`,
    /// `video_output.resolution.width`, `cpu_usage.zoom_avg_cpu_usage`,
    /// `wifi_rssi.min_rssi`). Wildcards are the rule language's business.
    pub fn from_path(path: &str) -> Option<Metric> {
        let (head, tail) = path.split_once('.')?;
        match head {
            "cpu_usage" => CPU_FIELDS.iter().position(|f| *f == tail).map(Metric::cpu),
            "wifi_rssi" => RSSI_FIELDS
                .iter()
                .position(|f| *f == tail)
                .map(Metric::rssi),
            _ => {
                let stream = Stream::from_name(head)?;
                let field = Field::from_name(tail)?;
                stream
                    .has_field(field)
                    .then(|| Metric::stream(stream, field))
            }
        }
    }

    /// The stream, for stream metrics.
    pub fn stream_of(self) -> Option<Stream> {
        (self.slot() < CPU_BASE).then(|| Stream((self.slot() / FIELDS_PER_STREAM) as u8))
    }

    /// The metric's unit.
    pub fn unit(self) -> Unit {
        let s = self.slot();
        if s < CPU_BASE {
            Field::ALL[s % FIELDS_PER_STREAM].unit()
        } else if s < RSSI_BASE {
            Unit::Percent
        } else {
            Unit::Dbm
        }
    }

    /// The metric's path (`audio_input.latency`).
    pub fn path(self) -> String {
        let s = self.slot();
        if s < CPU_BASE {
            format!(
                "{}.{}",
                STREAM_NAMES[s / FIELDS_PER_STREAM],
                Field::ALL[s % FIELDS_PER_STREAM].name()
            )
        } else if s < RSSI_BASE {
            format!("cpu_usage.{}", CPU_FIELDS[s - CPU_BASE])
        } else {
            format!("wifi_rssi.{}", RSSI_FIELDS[s - RSSI_BASE])
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Zoom's `cpu_pressure_level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuPressure {
    Normal,
    Fair,
    Serious,
    Critical,
}

impl CpuPressure {
    /// Parses Zoom's spelling, case-insensitively.
    pub fn parse(text: &str) -> Option<CpuPressure> {
        match text.trim().to_ascii_lowercase().as_str() {
            "normal" => Some(CpuPressure::Normal),
            "fair" => Some(CpuPressure::Fair),
            "serious" => Some(CpuPressure::Serious),
            "critical" => Some(CpuPressure::Critical),
            _ => None,
        }
    }
}

/// One QoS sample of one participant.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's `date_time`.
    pub at: Timestamp,
    /// Every metric's value in its normalised unit; `NaN` is no data.
    pub values: [f64; SLOTS],
    /// `cpu_pressure_level`, when sent.
    pub cpu_pressure: Option<CpuPressure>,
}

impl Sample {
    /// A sample at `at` with no data at all.
    pub fn empty(at: Timestamp) -> Sample {
        Sample {
            at,
            values: [f64::NAN; SLOTS],
            cpu_pressure: None,
        }
    }

    /// The value of `metric`, or `None` for no data.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        let v = self.values[metric.slot()];
        (!v.is_nan()).then_some(v)
    }

    /// Sets `metric` (`None` = no data).
    pub fn set(&mut self, metric: Metric, value: Option<f64>) {
        self.values[metric.slot()] = value.unwrap_or(f64::NAN);
    }

    /// Whether the sample carries no data at all.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(|v| v.is_nan())
    }
}

/// Participant attributes usable in `match` and in messages.
pub const ATTRIBUTE_NAMES: [&str; 13] = [
    "user_name",
    "email",
    "device",
    "os",
    "client",
    "network_type",
    "location",
    "data_center",
    "connection_type",
    "domain",
    "pc_name",
    "version",
    "ip_address",
];

/// Who a sample belongs to, as Zoom describes the participant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParticipantInfo {
    /// The per-meeting `user_id` (a rejoin gets a new one): the alert identity.
    pub user_id: Arc<str>,
    /// Attributes by [`ATTRIBUTE_NAMES`] index; `None` when Zoom sent none.
    pub attributes: [Option<Arc<str>>; ATTRIBUTE_NAMES.len()],
    /// `join_time`, when sent.
    pub join_time: Option<Timestamp>,
    /// `leave_time`, when sent.
    pub leave_time: Option<Timestamp>,
    /// `internal_ip_addresses`: the participant's local addresses as sent
    /// (empty when Zoom sent none).
    pub internal_ip_addresses: Arc<[Box<str>]>,
    /// Its site (config `sites`): set once as its samples enter, by whoever
    /// knows the config (the service's pipeline, `eval -c`, `test -c`).
    pub site: Option<Arc<str>>,
}

impl ParticipantInfo {
    /// The attribute named `name` (one of [`ATTRIBUTE_NAMES`]).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        ATTRIBUTE_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| self.attributes[i].as_deref())
    }

    /// Sets the attribute named `name`; returns false for an unknown name.
    pub fn set_attribute(&mut self, name: &str, value: Option<Arc<str>>) -> bool {
        match ATTRIBUTE_NAMES.iter().position(|n| *n == name) {
            Some(i) => {
                self.attributes[i] = value;
                true
            }
            None => false,
        }
    }
}

/// Which meeting samples belong to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeetingInfo {
    /// The meeting's number (`85746065432`), when known.
    pub id: Option<Arc<str>>,
    /// The meeting instance's UUID, when known.
    pub uuid: Option<Arc<str>>,
    /// The topic, when known (from discovery).
    pub topic: Option<Arc<str>>,
}

impl MeetingInfo {
    /// A meeting known by its number and UUID as saved (no topic).
    pub fn from_ids(id: Option<&str>, uuid: Option<&str>) -> MeetingInfo {
        MeetingInfo {
            id: id.map(Arc::from),
            uuid: uuid.map(Arc::from),
            topic: None,
        }
    }

    /// `==`, comparing the strings' pointers before their contents.
    pub fn same_as(&self, other: &MeetingInfo) -> bool {
        same_text(&self.id, &other.id)
            && same_text(&self.uuid, &other.uuid)
            && same_text(&self.topic, &other.topic)
    }

    /// The meeting's identity in alert fingerprints: its instance UUID when
    /// known, else its id.
    pub fn key(&self) -> Option<&Arc<str>> {
        self.uuid.as_ref().or(self.id.as_ref())
    }

    /// [`MeetingInfo::key`] as the field that holds it, for map lookups
    /// without cloning the `Arc`.
    pub fn key_field(&self) -> &Option<Arc<str>> {
        if self.uuid.is_some() {
            &self.uuid
        } else {
            &self.id
        }
    }
}

/// One participant and its samples, in the order Zoom sent them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParticipantSamples {
    pub info: ParticipantInfo,
    pub samples: Vec<Sample>,
}

/// Whether two lists of optional texts are equal, comparing pointers
/// before contents (`Arc<str>`'s `==` always compares contents).
pub fn same_texts(a: &[Option<Arc<str>>], b: &[Option<Arc<str>>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_text(x, y))
}

/// Whether two optional texts are equal, comparing pointers first.
pub fn same_text(a: &Option<Arc<str>>, b: &Option<Arc<str>>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_match_their_lookup() {
        for (i, name) in STREAM_NAMES.iter().enumerate() {
            assert_eq!(Stream::from_name(name), Some(Stream(i as u8)));
            assert_eq!(Stream::from_name(name).unwrap().name(), *name);
        }
        assert_eq!(Stream::from_name("date_time"), None);
    }

    proptest::proptest! {
        #[test]
        fn zoom_times_read_as_chrono_reads_them(secs in -62_000_000_000i64..250_000_000_000) {
            let text = chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let chrono_reads = chrono::DateTime::parse_from_rfc3339(&text).ok().map(|t| Timestamp(t.timestamp()));
            proptest::prop_assert_eq!(Timestamp::parse_zulu(&text), chrono_reads);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&text), Some(Timestamp(secs)));
            proptest::prop_assert_eq!(Timestamp(secs).to_rfc3339(), text);
        }
    }

    #[test]
    fn odd_zoom_times() {
        for odd in [
            "2026-02-30T10:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T10:00:60Z",
            "2026-1a-26T10:00:00Z",
            "+026-11-26T10:00:00Z",
            "2026-00-26T10:00:00Z",
            "2026-13-26T10:00:00Z",
            "2026-11-00T10:00:00Z",
            "2026-11-31T10:00:00Z",
            "2100-02-29T10:00:00Z",
            "2026-02-29T10:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_zulu(odd), None, "{odd}");
        }
        for leap in ["2000-02-29T00:00:00Z", "2024-02-29T23:59:59Z"] {
            let t = Timestamp::parse_zulu(leap).expect(leap);
            assert_eq!(t.to_rfc3339(), leap);
        }
        assert_eq!(
            Timestamp::parse_rfc3339(" 2026-11-26T10:00:00Z "),
            Timestamp::parse_zulu("2026-11-26T10:00:00Z")
        );
    }

    #[test]
    fn metric_paths_round_trip() {
        for m in Metric::all() {
            let path = m.path();
            let stream_has = m
                .stream_of()
                .is_none_or(|s| s.has_field(Field::ALL[m.slot() % 8]));
            if stream_has {
                assert_eq!(Metric::from_path(&path), Some(m), "{path}");
            } else {
                assert_eq!(Metric::from_path(&path), None, "{path}");
            }
        }
        assert_eq!(
            Metric::from_path("video_input.resolution.width")
                .unwrap()
                .unit(),
            Unit::Px
        );
        assert_eq!(Metric::from_path("audio_input.frame_rate"), None);
        assert_eq!(
            Metric::from_path("wifi_rssi.min_rssi").unwrap().unit(),
            Unit::Dbm
        );
        assert_eq!(
            Metric::from_path("cpu_usage.zoom_avg_cpu_usage")
                .unwrap()
                .unit(),
            Unit::Percent
        );
    }

    #[test]
    fn timestamps_parse_and_format() {
        let t = Timestamp::parse_rfc3339("2021-06-24T20:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-06-24T20:00:00Z");
        let t2 = Timestamp::parse_rfc3339("2021-06-24T22:00:00+02:00").unwrap();
        assert_eq!(t, t2);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
