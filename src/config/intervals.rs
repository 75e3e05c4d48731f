//! `time_intervals:`: named sets of wall-clock windows, in Alertmanager's
//! shape (`times`, `weekdays`, `days_of_month`, `months`, `years`,
//! `location`) plus `cron` + `duration`, and the one question routing asks
//! of them: is this interval active at instant T? ([`NamedInterval::contains`]).
//!
//! Pure: the instant is passed in, never read here. Every check is made on
//! the wall clock of the interval's `location` (the zone database is inside
//! the binary, through `jiff`), so a window follows that clock across DST
//! changes: in Europe/Berlin `00:00`-`07:00` lasts 6 real hours on the
//! spring change day and 8 on the autumn one. A `cron` start that a DST gap
//! skips begins right after the gap; a fixed start in a repeated hour
//! starts once, at its first occurrence.
//!
//! The reader turns the YAML into these types with every error placed
//! (`PATH:LINE:COL`), so nothing is checked again while routing.

use std::sync::Arc;
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::is_unset;
use crate::matcher::did_you_mean;
use crate::rules::load::Errs;
use crate::yaml::{MapReader, Node, Pos, Value};

/// One `time_intervals[]` entry: a name and its windows (any of them).
#[derive(Debug)]
pub struct NamedInterval {
    pub name: String,
    /// Active when any is (an empty list is never active).
    pub intervals: Vec<TimeInterval>,
}

impl NamedInterval {
    /// Whether any of its windows holds the instant `t`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.intervals.iter().any(|i| i.contains(t))
    }
}

/// One window: every key given must hold (and); no key at all holds always.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`; `24:00` is 1440.
    times: Vec<(u16, u16)>,
    /// Inclusive ranges, 0 = Sunday .. 6 = Saturday.
    weekdays: Vec<(u8, u8)>,
    /// Inclusive ranges of days, negative counting from the month's end
    /// (-1 = its last day).
    days_of_month: Vec<(i8, i8)>,
    /// Inclusive ranges, 1 = January.
    months: Vec<(u8, u8)>,
    /// Inclusive ranges.
    years: Vec<(i32, i32)>,
    /// Whose wall clock the rest is read on. Default UTC.
    location: TimeZone,
    /// Starts at each cron time and lasts `duration`.
    cron: Option<CronWindow>,
}

#[derive(Debug, Clone)]
struct CronWindow {
    cron: Box<Cron>,
    duration: Duration,
}

/// Why a route's notifications are not sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiet {
    /// One of its `mute_time_intervals` is active.
    Muted,
    /// It has `active_time_intervals` and none is active.
    Inactive,
}

impl Quiet {
    /// The `reason` label of `qoswatch_notifications_suppressed_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quiet::Muted => "muted",
            Quiet::Inactive => "inactive",
        }
    }
}

/// Whether a route with these intervals sends at `t`: `None` when it
/// does, else why not (muting wins over inactivity). An empty list is as
/// if the key were absent.
pub fn quiet_at(
    mute: &[Arc<NamedInterval>],
    active: &[Arc<NamedInterval>],
    t: Timestamp,
) -> Option<Quiet> {
    if mute.iter().any(|i| i.contains(t)) {
        Some(Quiet::Muted)
    } else if !active.is_empty() && !active.iter().any(|i| i.contains(t)) {
        Some(Quiet::Inactive)
    } else {
        None
    }
}

impl TimeInterval {
    /// An interval with no key: holds at every instant.
    fn always() -> TimeInterval {
        TimeInterval {
            times: Vec::new(),
            weekdays: Vec::new(),
            days_of_month: Vec::new(),
            months: Vec::new(),
            years: Vec::new(),
            location: TimeZone::UTC,
            cron: None,
        }
    }

    /// Whether every key given holds at `t`, on the location's wall clock.
    pub fn contains(&self, t: Timestamp) -> bool {
        let zoned = t.to_zoned(self.location.clone());
        let date = zoned.date();
        let within = |ranges: &[(i32, i32)], v: i32| {
            ranges.is_empty() || ranges.iter().any(|(a, b)| (*a..=*b).contains(&v))
        };
        if !self.times.is_empty() {
            let minute = u16::from(zoned.hour() as u8) * 60 + u16::from(zoned.minute() as u8);
            if !self
                .times
                .iter()
                .any(|(start, end)| (*start..*end).contains(&minute))
            {
                return false;
            }
        }
        let weekdays: Vec<(i32, i32)> = self
            .weekdays
            .iter()
            .map(|(a, b)| (i32::from(*a), i32::from(*b)))
            .collect();
        if !within(&weekdays, i32::from(date.weekday().to_sunday_zero_offset())) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let days = i32::from(date.days_in_month());
            let day = i32::from(date.day());
            // Alertmanager's reading: a negative day counts from the end;
            // a range is cut to the month, and one starting past its end
            // (31 in February) holds on none of its days.
            let holds = self.days_of_month.iter().any(|(a, b)| {
                let from_end = |d: i8| {
                    let d = i32::from(d);
                    if d < 0 { days + d + 1 } else { d }
                };
                let (begin, end) = (from_end(*a), from_end(*b));
                begin <= days && (begin.max(1)..=end.min(days)).contains(&day)
            });
            if !holds {
                return false;
            }
        }
        let months: Vec<(i32, i32)> = self
            .months
            .iter()
            .map(|(a, b)| (i32::from(*a), i32::from(*b)))
            .collect();
        if !within(&months, i32::from(date.month())) {
            return false;
        }
        if !within(&self.years, i32::from(date.year())) {
            return false;
        }
        if let Some(window) = &self.cron {
            // The latest start at or before `t` ends last of all starts
            // so far (every window lasts as long), so it alone decides.
            let Ok(start) = window.cron.find_previous_occurrence(&zoned, true) else {
                return false;
            };
            let elapsed = t.duration_since(start.timestamp());
            if elapsed.is_negative() || elapsed.unsigned_abs() >= window.duration {
                return false;
            }
        }
        true
    }
}

const INTERVAL_KEYS: [&str; 8] = [
    "times",
    "weekdays",
    "days_of_month",
    "months",
    "years",
    "location",
    "cron",
    "duration",
];

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Reads `time_intervals:`, in the order written.
pub(super) fn parse_time_intervals(node: &Node, errs: &mut Errs<'_>) -> Vec<Arc<NamedInterval>> {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return Vec::new(),
        _ => {
            errs.at(
                node.pos,
                "`time_intervals` must be a list of `{name, time_intervals}` entries",
            );
            return Vec::new();
        }
    };
    let mut out: Vec<Arc<NamedInterval>> = Vec::new();
    let mut seen: Vec<(String, Pos)> = Vec::new();
    for item in items {
        let Some(mut m) = errs.map(item, "a `time_intervals` entry") else {
            continue;
        };
        let name = match m.get("name") {
            None => {
                errs.at(m.pos, "time interval without `name`");
                None
            }
            Some(n) => match n.as_scalar_text() {
                Some(s) if !s.trim().is_empty() => {
                    if let Some((_, first)) = seen.iter().find(|(k, _)| *k == s) {
                        errs.at(
                            n.pos,
                            format!(
                                "time interval `{s}` is defined twice (first on line {}): give each a name of its own",
                                first.line
                            ),
                        );
                        None
                    } else {
                        seen.push((s.clone(), n.pos));
                        Some(s)
                    }
                }
                _ => {
                    errs.at(n.pos, "`name` must be a non-empty string");
                    None
                }
            },
        };
        let intervals = match m.get("time_intervals") {
            None => {
                errs.at(
                    m.pos,
                    "time interval without `time_intervals` (its list of windows)",
                );
                Vec::new()
            }
            Some(n) => match &n.value {
                Value::Seq(list) => list.iter().filter_map(|i| parse_one(i, errs)).collect(),
                Value::Null => Vec::new(),
                _ => {
                    errs.at(n.pos, "`time_intervals` must be a list of windows");
                    Vec::new()
                }
            },
        };
        errs.unknown_keys(&m, "a time interval", &["name", "time_intervals"]);
        if let Some(name) = name {
            out.push(Arc::new(NamedInterval { name, intervals }));
        }
    }
    out
}

/// The list under `key`: a sequence, or one value standing alone.
fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    }
}

fn parse_one(node: &Node, errs: &mut Errs<'_>) -> Option<TimeInterval> {
    let mut m = errs.map(node, "a time interval window")?;
    let before = errs.diags.len();
    let mut out = TimeInterval::always();
    if let Some(n) = m.get("times") {
        for item in items(n) {
            if let Some(range) = parse_times(item, errs) {
                out.times.push(range);
            }
        }
    }
    if let Some(n) = m.get("weekdays") {
        for item in items(n) {
            let parsed = range_of(item, errs, "weekdays", |s| {
                named(s, &WEEKDAYS).map(|i| i as i64).ok_or_else(|| {
                    format!(
                        "unknown weekday `{s}`{}; use {}",
                        did_you_mean(&s.to_lowercase(), &WEEKDAYS),
                        WEEKDAYS.join(", ")
                    )
                })
            });
            if let Some((a, b)) = parsed {
                if a > b {
                    errs.at(
                        item.pos,
                        format!(
                            "weekday range `{}` ends before it starts (weeks run sunday to saturday): list it as two, e.g. ['{}:saturday', 'sunday:{}']",
                            text_of(item),
                            WEEKDAYS[a as usize],
                            WEEKDAYS[b as usize]
                        ),
                    );
                } else {
                    out.weekdays.push((a as u8, b as u8));
                }
            }
        }
    }
    if let Some(n) = m.get("days_of_month") {
        for item in items(n) {
            let parsed = range_of(item, errs, "days_of_month", |s| match s.parse::<i64>() {
                Ok(d) if d != 0 && (-31..=31).contains(&d) => Ok(d),
                _ => Err(format!(
                    "`{s}` is no day of the month: use 1..31, or -1..-31 counting from the month's end (-1 = its last day)"
                )),
            });
            if let Some((a, b)) = parsed {
                // Alertmanager's checks: a negative start needs a negative
                // end, and the end may not come before the start in a
                // 28-day month.
                let on28 = |d: i64| if d < 0 { 28 + d + 1 } else { d };
                if a < 0 && b > 0 {
                    errs.at(
                        item.pos,
                        format!(
                            "days_of_month range `{}`: a negative start needs a negative end",
                            text_of(item)
                        ),
                    );
                } else if on28(a) > on28(b) {
                    errs.at(
                        item.pos,
                        format!(
                            "days_of_month range `{}` ends before it starts",
                            text_of(item)
                        ),
                    );
                } else {
                    out.days_of_month.push((a as i8, b as i8));
                }
            }
        }
    }
    if let Some(n) = m.get("months") {
        for item in items(n) {
            let parsed = range_of(item, errs, "months", |s| match s.parse::<i64>() {
                Ok(i) if (1..=12).contains(&i) => Ok(i),
                Ok(_) => Err(format!("`{s}` is no month: use 1..12 or a name")),
                Err(_) => named(s, &MONTHS).map(|i| i as i64 + 1).ok_or_else(|| {
                    format!(
                        "unknown month `{s}`{}; use a name (january .. december) or 1..12",
                        did_you_mean(&s.to_lowercase(), &MONTHS)
                    )
                }),
            });
            if let Some((a, b)) = parsed {
                if a > b {
                    errs.at(
                        item.pos,
                        format!(
                            "months range `{}` ends before it starts: list it as two, e.g. ['{}:december', 'january:{}']",
                            text_of(item),
                            MONTHS[a as usize - 1],
                            MONTHS[b as usize - 1]
                        ),
                    );
                } else {
                    out.months.push((a as u8, b as u8));
                }
            }
        }
    }
    if let Some(n) = m.get("years") {
        for item in items(n) {
            let parsed = range_of(item, errs, "years", |s| match s.parse::<i64>() {
                Ok(y) if (1..=9999).contains(&y) => Ok(y),
                _ => Err(format!("`{s}` is no year: write it like 2026")),
            });
            if let Some((a, b)) = parsed {
                if a > b {
                    errs.at(
                        item.pos,
                        format!("years range `{}` ends before it starts", text_of(item)),
                    );
                } else {
                    out.years.push((a as i32, b as i32));
                }
            }
        }
    }
    if let Some(n) = m.get("location")
        && let Some(name) = errs.string(n, "location")
        && !is_unset(&name)
    {
        match TimeZone::get(&name) {
            Ok(tz) => out.location = tz,
            Err(_) => errs.at(
                n.pos,
                format!(
                    "unknown time zone `{name}` in `location`: use an IANA name such as Europe/Berlin or UTC"
                ),
            ),
        }
    }
    let cron = m.get("cron");
    let duration = m.get("duration");
    match (cron, duration) {
        (None, None) => {}
        (Some(c), None) => errs.at(
            c.pos,
            "`cron` needs a `duration` (how long each start lasts, e.g. 90m)",
        ),
        (None, Some(d)) => errs.at(
            d.pos,
            "`duration` needs a `cron` (when each window starts, e.g. \"0 16 * * thu\")",
        ),
        (Some(c), Some(d)) => {
            let cron = errs.string(c, "cron").and_then(|text| {
                let parser = CronParser::builder().year(Year::Disallowed).build();
                match parser.parse(&text) {
                    // One that never starts (`0 0 31 2 *`) would cost a
                    // long search at every notification.
                    Ok(cron) if cron.find_next_occurrence(&never_before(), true).is_err() => {
                        errs.at(
                            c.pos,
                            format!("cron schedule `{text}` never starts: check its day and month"),
                        );
                        None
                    }
                    Ok(cron) => Some(cron),
                    Err(e) => {
                        errs.at(
                            c.pos,
                            format!(
                                "bad cron schedule `{text}`: {e}; use 5 fields (minute hour day month weekday) or 6 with seconds first"
                            ),
                        );
                        None
                    }
                }
            });
            let duration = errs.duration(d, "duration");
            if duration == Some(Duration::ZERO) {
                errs.at(d.pos, "`duration` must be longer than zero");
            }
            if let (Some(cron), Some(duration)) = (cron, duration) {
                out.cron = Some(CronWindow {
                    cron: Box::new(cron),
                    duration,
                });
            }
        }
    }
    errs.unknown_keys(&m, "a time interval window", &INTERVAL_KEYS);
    (errs.diags.len() == before).then_some(out)
}

/// 2001-01-01 in UTC: a cron schedule with no start from here on never
/// starts (the check needs no clock).
fn never_before() -> jiff::Zoned {
    Timestamp::from_second(978_307_200)
        .expect("a valid instant")
        .to_zoned(TimeZone::UTC)
}

/// `{start_time: 'HH:MM', end_time: 'HH:MM'}` as minutes of the day.
fn parse_times(node: &Node, errs: &mut Errs<'_>) -> Option<(u16, u16)> {
    let mut m = match MapReader::new(node, "a `times` entry") {
        Ok(m) => m,
        Err(msg) => {
            errs.at(
                node.pos,
                format!("{msg}; write {{start_time: '09:00', end_time: '17:00'}}"),
            );
            return None;
        }
    };
    let mut read = |key: &str, end: bool, errs: &mut Errs<'_>| match m.get(key) {
        None => {
            errs.at(m.pos, format!("missing `{key}` in a `times` entry"));
            None
        }
        Some(n) => {
            let text = n.as_scalar_text().unwrap_or_default();
            let minutes = clock_minutes(&text).filter(|v| end || *v < 24 * 60);
            if minutes.is_none() {
                let allowed = if end {
                    "HH:MM from 00:00 to 24:00"
                } else {
                    "HH:MM from 00:00 to 23:59"
                };
                errs.at(
                    n.pos,
                    format!("bad `{key}` `{text}`: write {allowed}, quoted ('07:00')"),
                );
            }
            minutes.map(|v| (v, n.pos))
        }
    };
    let start = read("start_time", false, errs);
    let end = read("end_time", true, errs);
    errs.unknown_keys(&m, "a `times` entry", &["start_time", "end_time"]);
    let ((start, _), (end, end_pos)) = (start?, end?);
    if end <= start {
        errs.at(
            end_pos,
            "`end_time` must come after `start_time` (a window across midnight is two: ['22:00'-'24:00'] and ['00:00'-'06:00'])",
        );
        return None;
    }
    Some((start, end))
}

/// `HH:MM` (two digits each) as minutes since midnight, `24:00` included.
fn clock_minutes(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// The position of a name in `names`, case-insensitively.
fn named(s: &str, names: &[&str]) -> Option<usize> {
    let s = s.to_lowercase();
    names.iter().position(|n| *n == s)
}

fn text_of(node: &Node) -> String {
    node.as_scalar_text().unwrap_or_default()
}

/// One value or an `a:b` range of a list key, each end read by `one`.
fn range_of(
    node: &Node,
    errs: &mut Errs<'_>,
    key: &str,
    one: impl Fn(&str) -> Result<i64, String>,
) -> Option<(i64, i64)> {
    let Some(text) = node
        .as_scalar_text()
        .filter(|_| matches!(node.value, Value::Str(_) | Value::Int(_)))
    else {
        errs.at(
            node.pos,
            format!(
                "`{key}` lists values or `start:end` ranges, not {}",
                node.kind()
            ),
        );
        return None;
    };
    let text = text.trim();
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text, text),
    };
    match (one(a), one(b)) {
        (Ok(a), Ok(b)) => Some((a, b)),
        (Err(msg), _) | (_, Err(msg)) => {
            errs.at(node.pos, format!("in `{key}`: {msg}"));
            None
        }
    }
}

#[cfg(test)]
mod tests;
