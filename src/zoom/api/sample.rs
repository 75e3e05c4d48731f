//! Reading a participant's `user_qos` into [`Sample`]s: each value is
//! converted into its slot as it is read, and a sample already delivered
//! (its `date_time` at or before the participant's cut-off) is passed over
//! unread when `date_time` comes first, as Zoom sends it.

use serde::de::{IgnoredAny, MapAccess, SeqAccess};

use super::json::{Item, Key, Lenient, Reader, Scalar, Text};
use super::{Cutoff, ValueWarning};
use crate::qos::{
    self, CPU_FIELDS, CpuPressure, Field, Metric, RSSI_FIELDS, Sample, Stream, Timestamp, Unit,
};

/// `user_qos`: a list of sample objects; a single object is a list of one,
/// anything else no samples.
pub(super) struct Samples<'s> {
    participant: &'s str,
    /// Samples at or before this time are passed over.
    cutoff: Option<Timestamp>,
    warnings: &'s mut Vec<ValueWarning>,
    /// The samples kept.
    pub out: Vec<Sample>,
}

impl<'s> Samples<'s> {
    /// The reader of `participant`'s samples, with its cut-off.
    pub fn new(participant: &'s str, cutoff: &Cutoff, warnings: &'s mut Vec<ValueWarning>) -> Self {
        let (cutoff, out) = (cutoff.get(participant).copied(), Vec::new());
        Samples {
            participant,
            cutoff,
            warnings,
            out,
        }
    }
}

impl<'de> Reader<'de> for Samples<'_> {
    type Value = ();

    fn list<A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<Option<()>, A::Error> {
        while let Some(item) = seq.next_element_seed(Lenient(&mut Item(self)))? {
            if item.is_err() {
                self.warn("user_qos[]", String::new(), "not a sample object: skipped");
            }
        }
        Ok(Some(()))
    }

    /// One sample; kept unless it is at or before the cut-off or has no
    /// usable `date_time` (a warning says so).
    fn object<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let first_warning = self.warnings.len();
        let cutoff = self.cutoff;
        let delivered = |at: Timestamp| cutoff.is_some_and(|cutoff| at <= cutoff);
        let (mut date, mut pressure) = (Text::default(), Text::default());
        // Made only once a value comes: delivered samples cost no room.
        let mut sample: Option<Sample> = None;
        while let Some(Key(key)) = map.next_key()? {
            let group = match &*key {
                "date_time" => {
                    date = map.next_value()?;
                    if date
                        .as_text()
                        .and_then(Timestamp::parse_rfc3339)
                        .is_some_and(delivered)
                    {
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        self.warnings.truncate(first_warning);
                        return Ok(());
                    }
                    continue;
                }
                "cpu_pressure_level" => {
                    pressure = map.next_value()?;
                    continue;
                }
                "cpu_usage" => Group::Cpu,
                "wifi_rssi" => Group::Rssi,
                name => match Stream::from_name(name) {
                    Some(stream) => Group::Stream(stream),
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            let mut values = Values {
                group,
                sample: sample.get_or_insert_with(|| Sample::empty(Timestamp(0))),
                reader: &mut *self,
            };
            if let Err(sent) = map.next_value_seed(Lenient(&mut values))?
                && let Group::Stream(stream) = group
                && !sent.is_no_data()
            {
                self.warn(stream.name(), sent.shown(), "not a stream object");
            }
        }
        let date = date.as_text();
        let Some(at) = date.and_then(Timestamp::parse_rfc3339) else {
            self.warnings.truncate(first_warning);
            let sent = crate::shorten(date.unwrap_or(""), 64);
            self.warn(
                "date_time",
                sent,
                "missing or unreadable date_time: sample skipped",
            );
            return Ok(());
        };
        if delivered(at) {
            // `date_time` came after the values.
            self.warnings.truncate(first_warning);
            return Ok(());
        }
        let mut sample = sample.unwrap_or_else(|| Sample::empty(at));
        sample.at = at;
        sample.cpu_pressure = match pressure.as_text() {
            Some(text) if !qos::is_no_data(text) => {
                let level = CpuPressure::parse(text);
                if level.is_none() {
                    let sent = crate::shorten(text, 64);
                    self.warn("cpu_pressure_level", sent, "unknown level");
                }
                level
            }
            _ => None,
        };
        for w in &mut self.warnings[first_warning..] {
            w.date_time = date.map(str::to_owned);
        }
        self.out.push(sample);
        Ok(())
    }
}

/// The objects of a sample that hold values: a stream, `cpu_usage` and
/// `wifi_rssi`.
#[derive(Clone, Copy)]
enum Group {
    Stream(Stream),
    Cpu,
    Rssi,
}

/// Reads a group's values into their slots. Anything but an object is no
/// data (for a stream, with a warning unless it says "no data").
struct Values<'r, 's> {
    group: Group,
    sample: &'r mut Sample,
    /// For the participant and its warnings.
    reader: &'r mut Samples<'s>,
}

impl<'de> Reader<'de> for Values<'_, '_> {
    type Value = ();

    fn object<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            let position = |names: &[&str]| names.iter().position(|n| *n == key);
            let metric = match self.group {
                Group::Stream(stream) => {
                    stream_field(stream, &key).map(|f| Metric::stream(stream, f))
                }
                Group::Cpu => position(&CPU_FIELDS).map(Metric::cpu),
                Group::Rssi => position(&RSSI_FIELDS).map(Metric::rssi),
            };
            match (metric, self.group) {
                (None, _) => {
                    map.next_value::<IgnoredAny>()?;
                }
                (Some(metric), Group::Stream(stream))
                    if metric == Metric::stream(stream, Field::Width) =>
                {
                    let (w, h) = self.reader.resolution(map.next_value()?, stream);
                    self.sample.set(metric, w);
                    self.sample.set(Metric::stream(stream, Field::Height), h);
                }
                (Some(metric), _) => {
                    let value: Scalar = map.next_value()?;
                    self.sample.values[metric.slot()] = self.reader.number(value, metric);
                }
            }
        }
        Ok(())
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

impl Samples<'_> {
    /// A warning for the sample being read; its `date_time` is filled in
    /// once the sample is read.
    fn warn(&mut self, field: &str, value: String, reason: &str) {
        self.warnings.push(ValueWarning {
            participant: self.participant.to_owned(),
            date_time: None,
            field: field.to_owned(),
            value,
            reason: reason.to_owned(),
        });
    }

    /// A value in the metric's unit, `NaN` for no data.
    fn number(&mut self, value: Scalar<'_>, metric: Metric) -> f64 {
        let unit = metric.unit();
        let number = match &value {
            _ if value.is_no_data() => return f64::NAN,
            Scalar::Str(s) => match qos::parse_quantity(s, unit, false) {
                Ok(v) => return v,
                Err(e) => Err(e.to_string()),
            },
            Scalar::Num(v) => Ok(*v),
            Scalar::Int(i) => Ok(*i as f64),
            _ => Err("not a value".to_owned()),
        };
        match number {
            Ok(v) if v < 0.0 && unit != Unit::Dbm => {
                self.warn(&metric.path(), value.shown(), "negative");
                f64::NAN
            }
            Ok(v) => v,
            Err(reason) => {
                self.warn(&metric.path(), value.shown(), &reason);
                f64::NAN
            }
        }
    }

    /// A resolution (`"1280*720"`) as width and height.
    fn resolution(&mut self, value: Scalar<'_>, stream: Stream) -> (Option<f64>, Option<f64>) {
        let reason = match &value {
            _ if value.is_no_data() => return (None, None),
            Scalar::Str(s) => match qos::parse_resolution(s) {
                Ok(Some((w, h))) => return (Some(w), Some(h)),
                Ok(None) => return (None, None),
                Err(e) => e.to_string(),
            },
            _ => "not a resolution".to_owned(),
        };
        let field = format!("{}.resolution", stream.name());
        self.warn(&field, value.shown(), &reason);
        (None, None)
    }
}
