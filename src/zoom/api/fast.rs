//! The fast reader of QoS responses: a byte scanner for the shape Zoom
//! sends, with the visitors' results.
//!
//! Keys and values are strings without escapes (or `null`), streams and
//! groups are objects of them, `user_qos` follows `user_id`. Whatever else
//! turns up (an escape in a string that is read, a number where text
//! belongs, a list where an object belongs, broken or unusual JSON) makes
//! the reader give up with `None`, and the caller reads the body again with
//! the serde visitors, which take every shape and say where broken JSON
//! breaks. So the scanner only has to be right on what it accepts: it
//! accepts only JSON that serde_json accepts too (strings, escapes, numbers,
//! literals and nesting in skipped values are checked), and it reads what
//! it accepts exactly as the visitors do, through the same helpers
//! ([`ParticipantFields::slot`], [`stream_field`], [`Ctx`],
//! [`finish_sample`]). A differential test holds the two readers to the same
//! output.
//!
//! Why: serde_json's visitor calls, string by string, cost more than the
//! conversion of the values; a poll of 1,000 meetings reads about 20 MB of
//! JSON a minute.

mod blocks;

use std::borrow::Cow;

use super::{
    CPU_FIELDS, CowStr, Ctx, Metric, ParticipantFields, ParticipantRead, RSSI_FIELDS, RawValue,
    Sample, Stream, Text, Timestamp, ValueWarning, finish_sample, shorten, stream_field,
};
use crate::qos::{self, ParticipantSamples};

/// Reads a whole body, or `None` when it is not of the usual shape.
pub(super) fn read_body<'a>(
    text: &'a str,
    seen: &dyn Fn(&str) -> Option<Timestamp>,
    warnings: &mut Vec<ValueWarning>,
) -> Option<ParticipantRead<'a>> {
    let mut sc = Scan { text, i: 0 };
    let top = participant(&mut sc, true, seen, warnings)?;
    match sc.peek() {
        None => Some(top),
        Some(_) => None,
    }
}

/// A participant object, or the top level (`top`), which may also hold
/// `participants` and the meeting.
fn participant<'a>(
    sc: &mut Scan<'a>,
    top: bool,
    seen: &dyn Fn(&str) -> Option<Timestamp>,
    warnings: &mut Vec<ValueWarning>,
) -> Option<ParticipantRead<'a>> {
    sc.eat(b'{')?;
    let mut fields = ParticipantFields::default();
    let mut participants = None;
    let mut samples = None;
    let mut first = true;
    while let Some(key) = sc.key(first)? {
        first = false;
        match key {
            "participants" if top => {
                participants = Some(participant_list(sc, seen, warnings)?);
            }
            "user_qos" => {
                // Before the participant's user_id, the visitors keep the
                // samples aside until the object is read.
                let user_id = fields.user_id.as_text().filter(|s| !s.is_empty())?;
                samples = Some(sample_list(sc, seen(user_id), user_id, warnings)?);
            }
            name => match fields.slot(name, top) {
                Some(slot) => *slot = Text(sc.text()?.map(Cow::Borrowed)),
                None => sc.skip_value()?,
            },
        }
    }
    Some(ParticipantRead {
        fields,
        participants,
        samples,
    })
}

/// The list form's `participants`.
fn participant_list(
    sc: &mut Scan<'_>,
    seen: &dyn Fn(&str) -> Option<Timestamp>,
    warnings: &mut Vec<ValueWarning>,
) -> Option<Vec<ParticipantSamples>> {
    sc.eat(b'[')?;
    let mut out = Vec::new();
    let mut first = true;
    while sc.item(first)? {
        first = false;
        let read = participant(sc, false, seen, warnings)?;
        out.extend(read.participant(warnings));
    }
    Some(out)
}

/// `user_qos`, a list of sample objects.
fn sample_list(
    sc: &mut Scan<'_>,
    cutoff: Option<Timestamp>,
    participant: &str,
    warnings: &mut Vec<ValueWarning>,
) -> Option<Vec<Sample>> {
    sc.eat(b'[')?;
    // A live poll usually keeps one new sample of a participant, and a
    // sample is large: no room is made ahead.
    let mut out: Vec<Sample> = Vec::new();
    let mut first = true;
    while sc.item(first)? {
        first = false;
        let first_warning = warnings.len();
        let mut ctx = Ctx {
            participant,
            warnings: &mut *warnings,
        };
        sample_object(sc, cutoff, &mut ctx, &mut out, first_warning)?;
    }
    Some(out)
}

/// One sample object, read as [`super::SampleSeed`] reads it and pushed on
/// `out` if it is kept. A sample that starts with a `date_time` at or
/// before the cutoff (Zoom's order) is passed over before any room is made
/// for it.
fn sample_object<'a>(
    sc: &mut Scan<'a>,
    cutoff: Option<Timestamp>,
    ctx: &mut Ctx<'_, '_>,
    out: &mut Vec<Sample>,
    first_warning: usize,
) -> Option<()> {
    if sc.peek()? != b'{' {
        return None;
    }
    sc.i += 1;
    let mut next = sc.key(true)?;
    let mut leading_date = None;
    if next == Some("date_time") {
        let text = sc.text()?;
        if let (Some(at), Some(cutoff)) = (text.and_then(Timestamp::parse_rfc3339), cutoff)
            && at <= cutoff
        {
            sc.pass_delivered()?;
            return Some(());
        }
        leading_date = Some(text);
        next = sc.key(false)?;
    }
    // Read in place.
    out.push(Sample::empty(Timestamp(0)));
    let sample = out.last_mut().expect("just pushed");
    let mut date_text: Option<&'a str> = None;
    let mut pressure: Option<&'a str> = None;
    if let Some(text) = leading_date {
        sample.at = text
            .and_then(Timestamp::parse_rfc3339)
            .unwrap_or(Timestamp(0));
        date_text = text;
    }
    while let Some(key) = next {
        match key {
            "date_time" => {
                let text = sc.text()?;
                let at = text.and_then(Timestamp::parse_rfc3339);
                if let (Some(at), Some(cutoff)) = (at, cutoff)
                    && at <= cutoff
                {
                    // Already seen: pass over the rest unread.
                    ctx.warnings.truncate(first_warning);
                    sc.pass_delivered()?;
                    out.pop();
                    return Some(());
                }
                sample.at = at.unwrap_or(Timestamp(0));
                date_text = text;
            }
            "cpu_pressure_level" => pressure = sc.text()?,
            "cpu_usage" | "wifi_rssi" => {
                let (names, metric): (&[&str], fn(usize) -> Metric) = if key == "cpu_usage" {
                    (&CPU_FIELDS, Metric::cpu)
                } else {
                    (&RSSI_FIELDS, Metric::rssi)
                };
                if sc.peek()? == b'{' {
                    sc.i += 1;
                    let mut first = true;
                    while let Some(name) = sc.key(first)? {
                        first = false;
                        match names.iter().position(|n| *n == name) {
                            Some(i) => {
                                let metric = metric(i);
                                sample.values[metric.slot()] = ctx.number(sc.value()?, metric);
                            }
                            None => sc.skip_value()?,
                        }
                    }
                } else {
                    // Not an object: absent, as for the visitors.
                    sc.skip_value()?;
                }
            }
            name => match Stream::from_name(name) {
                Some(stream) => match sc.peek()? {
                    b'{' => {
                        sc.i += 1;
                        let mut first = true;
                        while let Some(name) = sc.key(first)? {
                            first = false;
                            match stream_field(stream, name) {
                                Some(field) => {
                                    let value = sc.value()?;
                                    ctx.stream_value(sample, stream, field, value);
                                }
                                None => sc.skip_value()?,
                            }
                        }
                    }
                    b'"' => {
                        let v = sc.plain_str()?;
                        if !qos::is_no_data(v) {
                            ctx.garbled_stream(stream, shorten(v));
                        }
                    }
                    b'n' => sc.literal("null")?,
                    _ => return None,
                },
                None => sc.skip_value()?,
            },
        }
        next = sc.key(false)?;
    }
    if !finish_sample(ctx, sample, cutoff, first_warning, date_text, pressure) {
        out.pop();
    }
    Some(())
}

/// Nesting the scanner passes over; serde_json refuses more than 128
/// levels, and the values passed over sit a few levels down.
const MAX_DEPTH: usize = 64;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that ends a plain string run: `"`,
/// `\` or a control character. The lowest set bit is exact (higher ones
/// may be false).
fn specials(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    ((quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (w.wrapping_sub(ONES * 0x20) & !w))
        & HIGH
}

/// A cursor over JSON text. Every reader returns `None` on what it does
/// not handle.
struct Scan<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    /// The next byte that is not whitespace (not consumed).
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.i) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.i += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// Inside an object: the next key (its `:` consumed), or `Some(None)`
    /// at the closing brace. `first`: no member read yet.
    fn key(&mut self, first: bool) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'}' => {
                self.i += 1;
                return Some(None);
            }
            b',' if !first => self.i += 1,
            _ if first => {}
            _ => return None,
        }
        let key = self.plain_str()?;
        self.eat(b':')?;
        Some(Some(key))
    }

    /// Inside a list: whether an item follows (its `,` consumed), false at
    /// the closing bracket. `first`: no item read yet.
    fn item(&mut self, first: bool) -> Option<bool> {
        match self.peek()? {
            b']' => {
                self.i += 1;
                Some(false)
            }
            b',' if !first => {
                self.i += 1;
                Some(true)
            }
            _ if first => Some(true),
            _ => None,
        }
    }

    /// Where the plain run of string bytes from `from` ends.
    fn run_end(&self, from: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut j = from;
        while let Some(chunk) = bytes.get(j..j + 8) {
            let m = specials(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            if m != 0 {
                return j + (m.trailing_zeros() / 8) as usize;
            }
            j += 8;
        }
        while j < bytes.len() && !matches!(bytes[j], b'"' | b'\\' | 0..=0x1f) {
            j += 1;
        }
        j
    }

    /// A string without escapes, borrowed.
    fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = self.run_end(start);
        if *self.text.as_bytes().get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        self.text.get(start..end)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A text field as [`Text`] reads it, for strings and `null`.
    fn text(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'"' => self.plain_str().map(Some),
            b'n' => self.literal("null").map(|()| None),
            _ => None,
        }
    }

    /// A QoS value as [`RawValue`] reads it, for strings, `null` and
    /// integers (Wi-Fi signal levels come as numbers).
    fn value(&mut self) -> Option<RawValue<'a>> {
        if matches!(self.peek()?, b'-' | b'0'..=b'9') {
            return self.integer().map(|i| RawValue::Num(i as f64));
        }
        Some(match self.text()? {
            Some(s) => RawValue::Str(CowStr::Borrowed(s)),
            None => RawValue::Null,
        })
    }

    /// An integer of up to 18 digits, which serde_json reads as an integer
    /// too (fractions and exponents are left to it).
    fn integer(&mut self) -> Option<i64> {
        let start = self.i;
        self.number()?;
        let digits = &self.text[start..self.i];
        if digits.len() > 18 || digits.contains('.') {
            return None;
        }
        digits.parse().ok()
    }

    /// Passes over a JSON number (without exponent: those are left to
    /// serde_json, which checks their range).
    fn number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let mut j = self.i;
        if bytes.get(j) == Some(&b'-') {
            j += 1;
        }
        match *bytes.get(j)? {
            b'0' => j += 1,
            b'1'..=b'9' => {
                while bytes.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
            }
            _ => return None,
        }
        if bytes.get(j) == Some(&b'.') {
            j += 1;
            let fraction = j;
            while bytes.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == fraction {
                return None;
            }
        }
        if matches!(bytes.get(j), Some(b'e' | b'E')) || j - self.i > 64 {
            return None;
        }
        self.i = j;
        Some(())
    }

    /// Passes over the members of an object up to its closing brace,
    /// `first`: none read yet; `depth`: levels already entered. Objects
    /// within are walked in the same loop rather than by recursion: the
    /// samples already delivered, most of a live response, go through here.
    fn skip_members(&mut self, first: bool, depth: usize) -> Option<()> {
        // Objects entered below the one being passed over.
        let mut inner = 0usize;
        let mut first = first;
        loop {
            match self.peek()? {
                b'}' => {
                    self.i += 1;
                    if inner == 0 {
                        return Some(());
                    }
                    inner -= 1;
                    first = false;
                    continue;
                }
                b',' if !first => self.i += 1,
                b'"' if first => {}
                _ => return None,
            }
            if self.peek()? != b'"' {
                return None;
            }
            self.skip_str()?;
            self.eat(b':')?;
            first = false;
            match self.peek()? {
                b'"' => self.skip_str()?,
                b'{' => {
                    self.i += 1;
                    inner += 1;
                    first = true;
                    if depth + inner > MAX_DEPTH {
                        return None;
                    }
                }
                _ => self.skip_nested(depth + inner + 1)?,
            }
        }
    }

    /// Passes over the rest of a delivered sample, after its `date_time`:
    /// a block at a time when it is compact, else member by member.
    fn pass_delivered(&mut self) -> Option<()> {
        match blocks::pass_members(self.text.as_bytes(), self.i) {
            Some(end) => {
                self.i = end;
                Some(())
            }
            None => self.skip_members(false, 0),
        }
    }

    /// Passes over any value, checking it as serde_json would.
    fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.i += 1;
                self.skip_members(true, depth)
            }
            b'[' => {
                self.i += 1;
                let mut first = true;
                while self.item(first)? {
                    first = false;
                    self.skip_nested(depth + 1)?;
                }
                Some(())
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number(),
        }
    }

    /// Passes over a string (at its opening quote), checking its escapes.
    fn skip_str(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let mut j = self.i + 1;
        loop {
            j = self.run_end(j);
            match *bytes.get(j)? {
                b'"' => {
                    self.i = j + 1;
                    return Some(());
                }
                b'\\' => match *bytes.get(j + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                    b'u' => {
                        let hex = bytes.get(j + 2..j + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        // Surrogates are left to serde_json, which pairs them.
                        if matches!(hex[0], b'd' | b'D')
                            && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                        {
                            return None;
                        }
                        j += 6;
                    }
                    _ => return None,
                },
                // A control character, which JSON strings may not hold.
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_qos_response, parse_with};
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// Both readers on one body: the same response, warnings and errors.
    fn same(body: &str, cutoff: Option<Timestamp>) -> Result<(), TestCaseError> {
        let seen = |user: &str| if user.ends_with('1') { cutoff } else { None };
        let fast = format!("{:?}", parse_with(body.as_bytes(), &seen, true));
        let slow = format!("{:?}", parse_with(body.as_bytes(), &seen, false));
        prop_assert_eq!(fast, slow, "body: {}", body);
        Ok(())
    }

    fn accepted(body: &str) -> bool {
        read_body(body, &|_| None, &mut Vec::new()).is_some()
    }

    /// A JSON text from pieces, with optional whitespace between tokens.
    fn pick<T: Clone + std::fmt::Debug + 'static>(
        items: &[T],
    ) -> impl Strategy<Value = T> + use<T> {
        proptest::sample::select(items.to_vec())
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            // What Zoom sends, odd values included: the fast reader's share.
            12 => pick(&[
                r#""126 ms""#, r#""0.3%""#, r#""23 kbps""#, r#""1,055 kbps""#, r#""1.2 Mbps""#,
                r#""12 fps""#, r#""1280*720""#, r#""0*0""#, r#""""#, r#""-""#, r#""N/A""#,
                r#""fast ms""#, r#"" 12 ms ""#, r#""-45""#, r#""41%""#, "null", "12", "-45",
                r#""é 3 ms""#, r#""1280x720""#, r#""0 ms""#,
            ]),
            // Shapes left to the visitors.
            1 => pick(&[
                r#""12 ms\"""#, r#""\u0031\u0032 ms""#, "1.5", "1e3", "true", "[]", "{}",
                r#"{"a":[1,{"b":"\n"}]}"#, "12345678901234567890",
            ]),
        ]
        .prop_map(str::to_owned)
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        pick(&["", "", "", " ", "\n  "])
    }

    fn object(members: Vec<(String, String)>, sep: &'static str) -> String {
        let inner: Vec<String> = members
            .into_iter()
            .map(|(k, v)| format!("{sep}\"{k}\"{sep}:{sep}{v}"))
            .collect();
        format!("{{{}{sep}}}", inner.join(","))
    }

    fn stream() -> impl Strategy<Value = String> {
        let keys = pick(&[
            "bitrate",
            "latency",
            "jitter",
            "avg_loss",
            "max_loss",
            "frame_rate",
            "resolution",
            "other",
        ]);
        prop_oneof![
            4 => (proptest::collection::vec((keys, value()), 0..8), ws())
                .prop_map(|(m, sep)| object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), sep)),
            1 => value(),
        ]
    }

    fn group(names: &'static [&'static str]) -> impl Strategy<Value = String> {
        let keys = pick(names);
        prop_oneof![
            4 => proptest::collection::vec((keys, value()), 0..5)
                .prop_map(|m| object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(), "")),
            1 => value(),
        ]
    }

    fn sample() -> impl Strategy<Value = String> {
        let date = pick(&[
            r#""2026-11-26T10:00:00Z""#,
            r#""2026-11-26T10:01:00Z""#,
            r#""2026-11-26T10:02:00Z""#,
            r#""2026-11-26T10:03:00""#,
            r#""soon""#,
            "null",
            "5",
            r#""2026-11-26T10:0\u0031:00Z""#,
        ]);
        let member = prop_oneof![
            (
                pick(&[
                    "audio_input",
                    "audio_output",
                    "video_input",
                    "video_output",
                    "as_input",
                    "as_output"
                ]),
                stream()
            )
                .prop_map(|(k, v)| (k.to_owned(), v)),
            group(&[
                "zoom_min_cpu_usage",
                "zoom_avg_cpu_usage",
                "zoom_max_cpu_usage",
                "system_max_cpu_usage",
                "x"
            ])
            .prop_map(|v| ("cpu_usage".to_owned(), v)),
            group(&["max_rssi", "avg_rssi", "min_rssi", "rssi_unit"])
                .prop_map(|v| ("wifi_rssi".to_owned(), v)),
            pick(&[r#""Normal""#, r#""critical""#, r#""odd""#, "null", "3"])
                .prop_map(|v| ("cpu_pressure_level".to_owned(), v.to_owned())),
            value().prop_map(|v| ("unknown".to_owned(), v)),
        ];
        (
            date,
            proptest::collection::vec(member, 0..9),
            0usize..10,
            ws(),
        )
            .prop_map(|(date, mut members, at, sep)| {
                if at < 9 {
                    members.insert(at.min(members.len()), ("date_time".into(), date.to_owned()));
                }
                object(members, sep)
            })
    }

    fn participant() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            8 => pick(&[r#""u1""#, r#""u2""#, r#""u11""#]),
            1 => pick(&[r#""""#, "null", "7", r#""u\"1""#]),
        ];
        let name = prop_oneof![
            8 => pick(&[r#""Ann""#, r#""Zoë""#, "null"]),
            1 => Just(r#""A \"B\"""#),
        ];
        let samples = prop_oneof![
            6 => proptest::collection::vec(sample(), 0..4).prop_map(|s| format!("[{}]", s.join(","))),
            1 => sample(),
            1 => value(),
        ];
        (
            id,
            name,
            samples,
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.95),
            ws(),
        )
            .prop_map(|(id, name, samples, qos_first, with_id, sep)| {
                let mut members = vec![("user_name".to_owned(), name.to_owned())];
                if with_id {
                    members.push(("user_id".into(), id.to_owned()));
                }
                let qos = ("user_qos".to_owned(), samples);
                if qos_first {
                    members.insert(0, qos);
                } else {
                    members.push(qos);
                }
                members.push(("leave_time".into(), r#""2026-11-26T10:30:00Z""#.into()));
                object(members, sep)
            })
    }

    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (proptest::collection::vec(participant(), 0..4), ws()).prop_map(|(p, sep)| {
                format!(
                    r#"{sep}{{"page_count":1,"page_size":10,"total_records":3.0,"next_page_token":"t","participants":[{}]}}{sep}"#,
                    p.join(",")
                )
            }),
            1 => participant(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_reader_agrees_with_the_visitors(body in body(), cut in 0i64..4) {
            let cutoff = (cut > 0).then(|| Timestamp(1_795_687_200 + 60 * (cut - 1)));
            same(&body, cutoff)?;
        }

        #[test]
        fn broken_bodies_are_refused_alike(body in body(), cut in 0i64..4, at in any::<proptest::sample::Index>(), byte in pick(&[b'.', b'-', b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'x', b'1', b'e', 0x01, b' '])) {
            let mut bytes = body.into_bytes();
            let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = byte;
            }
            // With a cutoff, samples already delivered are passed over.
            let cutoff = (cut > 0).then(|| Timestamp(1_795_687_200 + 60 * (cut - 1)));
            if let Ok(text) = String::from_utf8(bytes.clone()) {
                same(&text, cutoff)?;
            }
            bytes.truncate(i);
            if let Ok(text) = String::from_utf8(bytes) {
                same(&text, cutoff)?;
            }
        }
    }

    #[test]
    fn every_byte_changed_or_cut_reads_alike() {
        // Exhaustive over two bodies: the first sample of each is passed
        // over (the cutoff), the second read; every byte replaced by each of
        // a set of JSON's structural characters, and the body cut after
        // every byte. The first body's passed-over sample has what only the
        // byte scanner takes (lists, numbers, literals, escapes); the
        // second's is compact and crosses 64-byte blocks.
        let odd = r#"{"participants":[{"user_id":"u1","user_name":"Ann","user_qos":[{"date_time":"2026-11-26T10:00:00Z","audio_input":{"latency":"126 ms","jitter":""},"x":[1,-2.5,true,false,null,{"k":"v\u00e9\n"}],"cpu_usage":{}},{"date_time":"2026-11-26T10:01:00Z","audio_input":{"latency":"12 ms"},"wifi_rssi":{"avg_rssi":-45}}]}],"next_page_token":""}"#;
        let compact = r#"{"participants":[{"user_id":"u1","user_qos":[{"date_time":"2026-11-26T10:00:00Z","audio_input":{"latency":"126 ms","jitter":"5 ms","avg_loss":"0.1%"},"video_output":{"bitrate":"1,200 kbps","resolution":"1280*720"},"cpu_usage":{"zoom_avg_cpu_usage":"5%"},"x":"{:,}é"},{"date_time":"2026-11-26T10:01:00Z","audio_input":{"latency":"12 ms"}}]}],"next_page_token":""}"#;
        let after_date = compact.find("00Z\"").unwrap() + 4;
        assert!(blocks::pass_members(compact.as_bytes(), after_date).is_some());
        let cutoff = Some(Timestamp(1_795_687_200));
        for body in [odd, compact] {
            assert!(accepted(body));
            for i in 0..body.len() {
                for byte in [
                    b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'1', b'-', b'.', b'e',
                    b'x', 0x01,
                ] {
                    let mut bytes = body.as_bytes().to_vec();
                    bytes[i] = byte;
                    if let Ok(text) = String::from_utf8(bytes) {
                        same(&text, cutoff).unwrap();
                    }
                }
                if let Some(cut) = body.get(..i) {
                    same(cut, cutoff).unwrap();
                }
            }
        }
    }

    #[test]
    fn the_generated_bodies_exercise_the_fast_reader() {
        // The agreement test means something only if the scanner accepts
        // a good share of the bodies it is given.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = body();
        let (mut taken, total) = (0, 1000);
        for _ in 0..total {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            taken += usize::from(accepted(&body));
        }
        assert!(
            taken * 5 >= total,
            "{taken} of {total} bodies took the fast reader"
        );
    }

    #[test]
    fn zoom_bodies_take_the_fast_reader() {
        let example = include_str!("../../../tests/fixtures/zoom-participant-qos-example.json");
        assert!(accepted(example));
        let list = format!(
            r#"{{"page_count":1,"page_size":10,"total_records":1,"next_page_token":"","participants":[{example}]}}"#
        );
        assert!(accepted(&list));
        let parsed = parse_qos_response(list.as_bytes()).unwrap();
        assert!(!parsed.participants[0].samples.is_empty());
        // And the shapes it leaves to the visitors.
        assert!(!accepted(r#"{"user_id":"a\"b","user_qos":[]}"#));
        assert!(!accepted(r#"{"user_qos":[],"user_id":"a"}"#));
        assert!(!accepted(r#"{"participants":[]} x"#));
        assert!(!accepted(r#"{"participants":[1,]}"#));
        assert!(!accepted(r#"{"participants":[],"n":1e999}"#));
    }
}
