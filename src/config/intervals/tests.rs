//! Time intervals on the wall clock: the 2026 DST changes in Europe/Berlin
//! (29 March, 25 October) and America/New_York (8 March, 1 November),
//! month ends, negative days, `24:00`, ranges, cron + duration; and the
//! reader's errors with their positions.

use std::path::Path;

use super::*;
use crate::yaml;

/// The named intervals of a `time_intervals:` YAML list, or its errors.
fn read(text: &str) -> Result<Vec<Arc<NamedInterval>>, Vec<String>> {
    let path = Path::new("q.yaml");
    let root = yaml::parse(path, text).map_err(|d| vec![d.to_string()])?;
    let mut errs = Errs {
        path,
        diags: Vec::new(),
    };
    let Value::Map(entries) = &root.value else {
        panic!("a mapping")
    };
    let out = parse_time_intervals(&entries[0].1, &mut errs);
    errs.diags.sort_by_key(|d| (d.line, d.col));
    if errs.diags.is_empty() {
        Ok(out)
    } else {
        Err(errs.diags.iter().map(|d| d.to_string()).collect())
    }
}

/// One interval named `x` made of one window with these keys.
fn window(keys: &str) -> Arc<NamedInterval> {
    let text = format!("time_intervals:\n  - name: x\n    time_intervals:\n      - {keys}\n");
    read(&text).unwrap_or_else(|e| panic!("{e:#?}")).remove(0)
}

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

/// Minutes in `[from, to)` (UTC instants, a minute apart) at which `i` is
/// active, with the first and last of them.
fn active_minutes(
    i: &NamedInterval,
    from: &str,
    to: &str,
) -> (i64, Option<String>, Option<String>) {
    let (from, to) = (at(from).as_second(), at(to).as_second());
    let mut n = 0;
    let (mut first, mut last) = (None, None);
    for s in (from..to).step_by(60) {
        let t = Timestamp::from_second(s).unwrap();
        if i.contains(t) {
            n += 1;
            first.get_or_insert_with(|| t.to_string());
            last = Some(t.to_string());
        }
    }
    (n, first, last)
}

const NIGHT: &str = "{times: [{start_time: '00:00', end_time: '07:00'}], location: LOCATION}";

fn night(zone: &str) -> Arc<NamedInterval> {
    window(&NIGHT.replace("LOCATION", zone))
}

#[test]
fn a_night_in_berlin_is_six_real_hours_in_spring_and_eight_in_autumn() {
    let i = night("Europe/Berlin");
    // An ordinary day: 00:00 CET = 23:00Z, 07:00 CET = 06:00Z.
    assert_eq!(
        active_minutes(&i, "2026-03-21T12:00:00Z", "2026-03-22T12:00:00Z"),
        (
            420,
            Some("2026-03-21T23:00:00Z".into()),
            Some("2026-03-22T05:59:00Z".into())
        )
    );
    // 29 March 2026: 02:00 CET jumps to 03:00 CEST; 07:00 CEST = 05:00Z.
    assert_eq!(
        active_minutes(&i, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
        (
            360,
            Some("2026-03-28T23:00:00Z".into()),
            Some("2026-03-29T04:59:00Z".into())
        )
    );
    // 25 October 2026: 03:00 CEST goes back to 02:00 CET; 00:00 CEST =
    // 22:00Z the day before, 07:00 CET = 06:00Z.
    assert_eq!(
        active_minutes(&i, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        (
            480,
            Some("2026-10-24T22:00:00Z".into()),
            Some("2026-10-25T05:59:00Z".into())
        )
    );
}

#[test]
fn a_night_in_new_york_is_six_real_hours_in_spring_and_eight_in_autumn() {
    let i = night("America/New_York");
    // 8 March 2026: 02:00 EST jumps to 03:00 EDT. 00:00 EST = 05:00Z,
    // 07:00 EDT = 11:00Z.
    assert_eq!(
        active_minutes(&i, "2026-03-07T17:00:00Z", "2026-03-08T17:00:00Z"),
        (
            360,
            Some("2026-03-08T05:00:00Z".into()),
            Some("2026-03-08T10:59:00Z".into())
        )
    );
    // 1 November 2026: 02:00 EDT goes back to 01:00 EST. 00:00 EDT = 04:00Z,
    // 07:00 EST = 12:00Z.
    assert_eq!(
        active_minutes(&i, "2026-10-31T17:00:00Z", "2026-11-01T17:00:00Z"),
        (
            480,
            Some("2026-11-01T04:00:00Z".into()),
            Some("2026-11-01T11:59:00Z".into())
        )
    );
    // The week after, EST: 00:00 = 05:00Z.
    assert_eq!(
        active_minutes(&i, "2026-11-07T17:00:00Z", "2026-11-08T17:00:00Z").0,
        420
    );
}

#[test]
fn the_hour_that_repeats_is_inside_a_window_both_times() {
    // 02:00-03:00 on 25 October 2026 in Berlin happens twice (00:00Z-01:00Z
    // CEST, 01:00Z-02:00Z CET): both are that wall-clock hour.
    let i = window(
        "{times: [{start_time: '02:00', end_time: '03:00'}], location: Europe/Berlin, days_of_month: [25], months: [october]}",
    );
    assert_eq!(
        active_minutes(&i, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        (
            120,
            Some("2026-10-25T00:00:00Z".into()),
            Some("2026-10-25T01:59:00Z".into())
        )
    );
    // And on 29 March the hour does not exist at all.
    let i = window(
        "{times: [{start_time: '02:00', end_time: '03:00'}], location: Europe/Berlin, days_of_month: [29], months: [march]}",
    );
    assert_eq!(
        active_minutes(&i, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z").0,
        0
    );
}

#[test]
fn end_time_24_00_reaches_midnight_and_not_past_it() {
    let i = window("{times: [{start_time: '22:00', end_time: '24:00'}]}");
    assert!(!i.contains(at("2026-06-01T21:59:59Z")));
    assert!(i.contains(at("2026-06-01T22:00:00Z")));
    assert!(i.contains(at("2026-06-01T23:59:59Z")));
    assert!(!i.contains(at("2026-06-02T00:00:00Z")));
    // A whole day.
    let i = window("{times: [{start_time: '00:00', end_time: '24:00'}], location: Europe/Berlin}");
    assert_eq!(
        active_minutes(&i, "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z").0,
        48 * 60
    );
}

#[test]
fn weekdays_and_their_ranges_are_the_locations_days() {
    // 27 March 2026 is a Friday, 28 a Saturday, 30 a Monday.
    let i = window("{weekdays: ['monday:friday']}");
    assert!(i.contains(at("2026-03-27T23:30:00Z")));
    assert!(!i.contains(at("2026-03-28T00:30:00Z")));
    assert!(!i.contains(at("2026-03-29T23:59:00Z")));
    assert!(i.contains(at("2026-03-30T00:00:00Z")));
    // Friday 23:30Z is already Saturday in Berlin.
    let i = window("{weekdays: ['Monday:Friday'], location: Europe/Berlin}");
    assert!(!i.contains(at("2026-03-27T23:30:00Z")));
    assert!(i.contains(at("2026-03-27T22:59:00Z")));
    // Single names and several entries; a weekend in New York.
    let i = window("{weekdays: [saturday, sunday], location: America/New_York}");
    assert!(!i.contains(at("2026-03-28T03:59:00Z")), "Friday 23:59 EDT");
    assert!(i.contains(at("2026-03-28T04:00:00Z")), "Saturday 00:00 EDT");
    assert!(i.contains(at("2026-03-30T03:59:00Z")), "Sunday 23:59 EDT");
    assert!(!i.contains(at("2026-03-30T04:00:00Z")), "Monday 00:00 EDT");
}

#[test]
fn days_of_month_count_from_the_end_when_negative() {
    let last = window("{days_of_month: [-1]}");
    assert!(
        last.contains(at("2026-02-28T12:00:00Z")),
        "2026 is no leap year"
    );
    assert!(!last.contains(at("2026-02-27T12:00:00Z")));
    assert!(last.contains(at("2026-03-31T12:00:00Z")));
    assert!(!last.contains(at("2026-03-30T12:00:00Z")));
    assert!(last.contains(at("2026-04-30T12:00:00Z")));
    assert!(last.contains(at("2028-02-29T12:00:00Z")), "2028 is");
    let last3 = window("{days_of_month: ['-3:-1']}");
    let days = |i: &NamedInterval, month: &str, upto: u32| -> Vec<u32> {
        (1..=upto)
            .filter(|d| i.contains(at(&format!("2026-{month}-{d:02}T12:00:00Z"))))
            .collect()
    };
    assert_eq!(days(&last3, "02", 28), [26, 27, 28]);
    assert_eq!(days(&last3, "03", 31), [29, 30, 31]);
    assert_eq!(days(&last3, "04", 30), [28, 29, 30]);
    // 31 exists only in 31-day months; a range starting past the month's
    // end holds on none of its days, one ending past it is cut.
    let d31 = window("{days_of_month: [31]}");
    assert_eq!(days(&d31, "01", 31), [31]);
    assert_eq!(days(&d31, "02", 28), Vec::<u32>::new());
    assert_eq!(days(&d31, "04", 30), Vec::<u32>::new());
    let late = window("{days_of_month: ['27:31', '1:2']}");
    assert_eq!(days(&late, "02", 28), [1, 2, 27, 28]);
    assert_eq!(days(&late, "07", 31), [1, 2, 27, 28, 29, 30, 31]);
    let whole = window("{days_of_month: ['1:-1']}");
    assert_eq!(days(&whole, "02", 28).len(), 28);
    // The day is the location's: 28 Feb 23:30Z is 1 March in Berlin.
    let last_berlin = window("{days_of_month: [-1], location: Europe/Berlin}");
    assert!(!last_berlin.contains(at("2026-02-28T23:30:00Z")));
    assert!(last_berlin.contains(at("2026-02-28T22:59:00Z")));
}

#[test]
fn months_and_years_take_names_numbers_and_ranges() {
    let q1 = window("{months: ['january:March']}");
    assert!(q1.contains(at("2026-01-01T00:00:00Z")));
    assert!(q1.contains(at("2026-03-31T23:59:00Z")));
    assert!(!q1.contains(at("2026-04-01T00:00:00Z")));
    let nums = window("{months: [12, '6:7']}");
    assert!(nums.contains(at("2026-12-05T00:00:00Z")));
    assert!(nums.contains(at("2026-07-05T00:00:00Z")));
    assert!(!nums.contains(at("2026-08-05T00:00:00Z")));
    let years = window("{years: ['2025:2026', 2030]}");
    assert!(years.contains(at("2026-12-31T23:59:00Z")));
    assert!(!years.contains(at("2027-01-01T00:00:00Z")));
    assert!(years.contains(at("2030-06-01T00:00:00Z")));
    // New Year's Eve 23:30Z is 2027 in Berlin.
    let y = window("{years: [2026], location: Europe/Berlin}");
    assert!(!y.contains(at("2026-12-31T23:30:00Z")));
}

#[test]
fn keys_all_hold_and_windows_any_holds() {
    let text = "time_intervals:\n  - name: after-hours\n    time_intervals:\n      - weekdays: ['monday:friday']\n        times: [{start_time: '19:00', end_time: '24:00'}, {start_time: '00:00', end_time: '07:00'}]\n        location: Europe/Berlin\n      - weekdays: ['saturday', 'sunday']\n        location: Europe/Berlin\n  - name: never\n    time_intervals: []\n  - name: always\n    time_intervals: [{}]\n";
    let all = read(text).unwrap();
    let (after, never, always) = (&all[0], &all[1], &all[2]);
    assert_eq!(after.name, "after-hours");
    // Friday 2026-03-27, CET (UTC+1).
    assert!(!after.contains(at("2026-03-27T12:00:00Z")), "Friday 13:00");
    assert!(after.contains(at("2026-03-27T18:00:00Z")), "Friday 19:00");
    assert!(after.contains(at("2026-03-27T05:59:00Z")), "Friday 06:59");
    assert!(!after.contains(at("2026-03-27T06:00:00Z")), "Friday 07:00");
    assert!(after.contains(at("2026-03-28T12:00:00Z")), "Saturday noon");
    for t in ["2026-03-27T12:00:00Z", "2001-01-01T00:00:00Z"] {
        assert!(!never.contains(at(t)));
        assert!(always.contains(at(t)));
    }
}

#[test]
fn cron_windows_start_on_the_locations_clock() {
    let i = window("{cron: '0 16 * * thu', duration: 90m, location: America/New_York}");
    // Thursday 5 March 2026, EST: 16:00 = 21:00Z, until 22:30Z.
    assert_eq!(
        active_minutes(&i, "2026-03-05T00:00:00Z", "2026-03-06T00:00:00Z"),
        (
            90,
            Some("2026-03-05T21:00:00Z".into()),
            Some("2026-03-05T22:29:00Z".into())
        )
    );
    // Thursday 12 March 2026, EDT: 16:00 = 20:00Z.
    assert_eq!(
        active_minutes(&i, "2026-03-12T00:00:00Z", "2026-03-13T00:00:00Z"),
        (
            90,
            Some("2026-03-12T20:00:00Z".into()),
            Some("2026-03-12T21:29:00Z".into())
        )
    );
    // Not on other days.
    assert_eq!(
        active_minutes(&i, "2026-03-06T00:00:00Z", "2026-03-12T00:00:00Z").0,
        0
    );
    // Six fields: seconds first. A window longer than the gap between
    // starts is one long window.
    let i = window("{cron: '30 0 9 * * *', duration: 1h}");
    assert!(!i.contains(at("2026-01-01T09:00:29Z")));
    assert!(i.contains(at("2026-01-01T09:00:30Z")));
    assert!(i.contains(at("2026-01-01T10:00:29Z")));
    assert!(!i.contains(at("2026-01-01T10:00:30Z")));
    let i = window("{cron: '30 0 9 * * *', duration: 25h}");
    assert_eq!(
        active_minutes(&i, "2026-01-02T00:00:00Z", "2026-01-05T00:00:00Z").0,
        3 * 24 * 60
    );
    // As in crontab: with both the day of the month and the weekday
    // restricted, either is enough. 13 March 2026 is a Friday.
    let i = window("{cron: '0 12 13 * fri', duration: 1m}");
    assert!(i.contains(at("2026-03-13T12:00:00Z")));
    assert!(i.contains(at("2026-03-20T12:00:00Z")), "a Friday");
    assert!(i.contains(at("2026-04-13T12:00:00Z")), "a 13th, a Monday");
    assert!(!i.contains(at("2026-03-19T12:00:00Z")));
    // Other keys must hold too.
    let i = window("{cron: '0 * * * *', duration: 10m, weekdays: [monday]}");
    assert!(i.contains(at("2026-03-30T05:05:00Z")));
    assert!(!i.contains(at("2026-03-30T05:15:00Z")));
    assert!(!i.contains(at("2026-03-31T05:05:00Z")));
}

#[test]
fn a_cron_start_in_the_dst_gap_begins_after_the_gap() {
    // 02:30 does not exist in Berlin on 29 March 2026: the window starts
    // at 03:00 CEST (01:00Z) and lasts its hour. (Searching back over a
    // gap costs croner milliseconds in a debug build: the scans are kept
    // to the hours around it.)
    let i = window("{cron: '30 2 * * *', duration: 1h, location: Europe/Berlin}");
    assert_eq!(
        active_minutes(&i, "2026-03-28T22:00:00Z", "2026-03-29T03:00:00Z"),
        (
            60,
            Some("2026-03-29T01:00:00Z".into()),
            Some("2026-03-29T01:59:00Z".into())
        )
    );
    assert!(!i.contains(at("2026-03-29T12:00:00Z")));
    // The day before and after, 02:30 local as usual (CET, then CEST).
    assert_eq!(
        active_minutes(&i, "2026-03-28T00:00:00Z", "2026-03-28T03:00:00Z"),
        (
            60,
            Some("2026-03-28T01:30:00Z".into()),
            Some("2026-03-28T02:29:00Z".into())
        )
    );
    assert_eq!(
        active_minutes(&i, "2026-03-30T00:00:00Z", "2026-03-30T02:00:00Z").1,
        Some("2026-03-30T00:30:00Z".into())
    );
    // New York, 8 March 2026: 02:15 is skipped, the start is 03:00 EDT.
    let i = window("{cron: '15 2 * * *', duration: 30m, location: America/New_York}");
    assert_eq!(
        active_minutes(&i, "2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z"),
        (
            30,
            Some("2026-03-08T07:00:00Z".into()),
            Some("2026-03-08T07:29:00Z".into())
        )
    );
    assert!(!i.contains(at("2026-03-08T15:00:00Z")));
}

#[test]
fn a_cron_start_in_the_repeated_hour_starts_once() {
    // 02:30 happens twice in Berlin on 25 October 2026 (00:30Z CEST, 01:30Z
    // CET): one window, from the first.
    let i = window("{cron: '30 2 * * *', duration: 30m, location: Europe/Berlin}");
    assert_eq!(
        active_minutes(&i, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        (
            30,
            Some("2026-10-25T00:30:00Z".into()),
            Some("2026-10-25T00:59:00Z".into())
        )
    );
    // New York, 1 November 2026: 01:30 EDT (05:30Z), not 01:30 EST.
    let i = window("{cron: '30 1 * * *', duration: 20m, location: America/New_York}");
    assert_eq!(
        active_minutes(&i, "2026-10-31T17:00:00Z", "2026-11-01T17:00:00Z"),
        (
            20,
            Some("2026-11-01T05:30:00Z".into()),
            Some("2026-11-01T05:49:00Z".into())
        )
    );
}

#[test]
fn muting_wins_and_an_empty_active_list_is_no_list() {
    let always = window("{}");
    let never = read("time_intervals:\n  - name: n\n    time_intervals: []\n")
        .unwrap()
        .remove(0);
    let t = at("2026-05-01T00:00:00Z");
    let (always, never) = (vec![always], vec![never]);
    let both = [never[0].clone(), always[0].clone()];
    assert_eq!(quiet_at(&[], &[], t), None);
    assert_eq!(quiet_at(&never, &[], t), None);
    assert_eq!(quiet_at(&always, &[], t), Some(Quiet::Muted));
    assert_eq!(quiet_at(&[], &never, t), Some(Quiet::Inactive));
    assert_eq!(quiet_at(&[], &both, t), None);
    assert_eq!(quiet_at(&always, &never, t), Some(Quiet::Muted));
    assert_eq!(Quiet::Inactive.as_str(), "inactive");
}

#[test]
fn every_error_has_its_position() {
    let text = "\
time_intervals:
  - name: a
    time_intervals:
      - times: [{start_time: '7:00', end_time: '25:00'}]
        weekdays: [mondy, 'friday:monday']
        days_of_month: [0, '-3:5', '10:2']
        months: [smarch, 13]
        years: ['2027:2026']
        location: Europe/Berlinn
        cron: '0 16 * * thu'
        hours: 3
      - times: [{start_time: '10:00', end_time: '09:00', end: x}]
        cron: '61 * * * *'
        duration: 0s
      - duration: 1h
      - {cron: '0 0 31 2 *', duration: 1h}
  - name: a
    time_intervals: []
    extra: 1
  - time_intervals: {}
";
    let errs = read(text).unwrap_err();
    let expected = [
        "q.yaml:4:30: error: bad `start_time` `7:00`: write HH:MM from 00:00 to 23:59, quoted ('07:00')",
        "q.yaml:4:48: error: bad `end_time` `25:00`: write HH:MM from 00:00 to 24:00, quoted ('07:00')",
        "q.yaml:5:20: error: in `weekdays`: unknown weekday `mondy` (did you mean `monday`?); use sunday, monday, tuesday, wednesday, thursday, friday, saturday",
        "q.yaml:5:27: error: weekday range `friday:monday` ends before it starts (weeks run sunday to saturday): list it as two, e.g. ['friday:saturday', 'sunday:monday']",
        "q.yaml:6:25: error: in `days_of_month`: `0` is no day of the month: use 1..31, or -1..-31 counting from the month's end (-1 = its last day)",
        "q.yaml:6:28: error: days_of_month range `-3:5`: a negative start needs a negative end",
        "q.yaml:6:36: error: days_of_month range `10:2` ends before it starts",
        "q.yaml:7:18: error: in `months`: unknown month `smarch` (did you mean `march`?); use a name (january .. december) or 1..12",
        "q.yaml:7:26: error: in `months`: `13` is no month: use 1..12 or a name",
        "q.yaml:8:17: error: years range `2027:2026` ends before it starts",
        "q.yaml:9:19: error: unknown time zone `Europe/Berlinn` in `location`: use an IANA name such as Europe/Berlin or UTC",
        "q.yaml:10:15: error: `cron` needs a `duration` (how long each start lasts, e.g. 90m)",
        "q.yaml:11:9: error: unknown key `hours` in a time interval window",
        "q.yaml:12:49: error: `end_time` must come after `start_time`",
        "q.yaml:12:58: error: unknown key `end` in a `times` entry",
        "q.yaml:13:15: error: bad cron schedule `61 * * * *`",
        "q.yaml:14:19: error: `duration` must be longer than zero",
        "q.yaml:15:19: error: `duration` needs a `cron`",
        "q.yaml:16:16: error: cron schedule `0 0 31 2 *` never starts",
        "q.yaml:17:11: error: time interval `a` is defined twice (first on line 2): give each a name of its own",
        "q.yaml:19:5: error: unknown key `extra` in a time interval",
        "q.yaml:20:5: error: time interval without `name`",
        "q.yaml:20:21: error: `time_intervals` must be a list of windows",
    ];
    for (e, want) in errs.iter().zip(expected) {
        assert!(e.starts_with(want), "got  {e}\nwant {want}\nall: {errs:#?}");
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn a_clock_time_is_two_digits_a_colon_and_two_digits() {
    assert_eq!(clock_minutes("00:00"), Some(0));
    assert_eq!(clock_minutes("07:30"), Some(450));
    assert_eq!(clock_minutes("23:59"), Some(1439));
    assert_eq!(clock_minutes("24:00"), Some(1440));
    for bad in ["24:01", "7:00", "07:60", "0700", "07:0", "+7:00", "07:00 "] {
        assert_eq!(clock_minutes(bad), None, "{bad}");
    }
}
