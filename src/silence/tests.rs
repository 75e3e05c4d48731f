use std::sync::Arc;

use super::wire::{MatcherValue, SilenceRequest};
use super::*;

const NOW: i64 = 1_000_000;

fn request(matchers: &[(&str, &str)]) -> SilenceRequest {
    SilenceRequest {
        matchers: matchers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), MatcherValue::One((*v).to_owned())))
            .collect(),
        comment: "known bad Wi-Fi".into(),
        created_by: "alice".into(),
        ..SilenceRequest::default()
    }
}

fn with_duration(matchers: &[(&str, &str)], d: &str) -> NewSilence {
    let mut r = request(matchers);
    r.duration = Some(d.into());
    r.check(&["team"], NOW).unwrap()
}

fn until_end(meeting: &str) -> NewSilence {
    let mut r = request(&[("meeting", meeting), ("rule", "lat")]);
    r.until = Some("meeting_end".into());
    r.check(&[], NOW).unwrap()
}

/// An alert's attributes, as `AlertView::attribute_values` gives them.
fn alert<'a>(attrs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Vec<&'a str> {
    move |key: &str| {
        attrs
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect()
    }
}

fn meeting(id: &str, uuid: &str) -> MeetingInfo {
    MeetingInfo {
        id: Some(Arc::from(id)),
        uuid: Some(Arc::from(uuid)),
        topic: None,
    }
}

#[test]
fn pending_active_expired_and_listed_24_hours_after() {
    let mut s = Silences::default();
    let mut r = request(&[("rule", "lat")]);
    r.starts_at = Some(Timestamp(NOW + 60).to_rfc3339());
    r.duration = Some("1h".into());
    let new = r.check(&[], NOW).unwrap();
    s.add(new, "a".into(), NOW);
    let lat = alert(&[("rule", "lat")]);
    assert_eq!(s.all()[0].state(NOW), SilenceState::Pending);
    assert!(
        s.silencing(&lat, NOW).is_empty(),
        "pending silences nothing"
    );
    assert_eq!(s.all()[0].state(NOW + 60), SilenceState::Active);
    assert_eq!(s.silencing(&lat, NOW + 60), ["a"]);
    assert_eq!(
        s.all()[0].ends_at(),
        Some(NOW + 60 + 3600),
        "duration runs from the start"
    );
    let end = NOW + 60 + 3600;
    assert_eq!(s.all()[0].state(end - 1), SilenceState::Active);
    assert_eq!(s.all()[0].state(end), SilenceState::Expired);
    assert!(s.silencing(&lat, end).is_empty());
    assert!(!s.drop_old(end + DAY - 1), "listed for 24 h");
    assert!(s.drop_old(end + DAY));
    assert!(s.is_empty());
}

#[test]
fn expiring_ends_it_now_and_unknown_ids_are_refused() {
    let mut s = Silences::default();
    s.add(with_duration(&[("rule", "lat")], "2h"), "a".into(), NOW);
    assert_eq!(s.expire("nope", NOW), Err(UnknownSilence));
    s.expire("a", NOW + 10).unwrap();
    assert_eq!(s.all()[0].state(NOW + 10), SilenceState::Expired);
    assert_eq!(s.all()[0].ends_at(), Some(NOW + 10));
    // Expiring again changes nothing.
    s.expire("a", NOW + 20).unwrap();
    assert_eq!(s.all()[0].ends_at(), Some(NOW + 10));
    // Dropped 24 h after it was expired, not after its planned end.
    assert!(s.drop_old(NOW + 10 + DAY));
}

#[test]
fn matchers_and_unknown_values() {
    let mut s = Silences::default();
    s.add(
        with_duration(&[("user_name", "~^Room-"), ("network_type", "!Wifi")], "1h"),
        "a".into(),
        NOW,
    );
    let ids = |attrs: &[(&str, &str)]| s.silencing(alert(attrs), NOW);
    assert_eq!(
        ids(&[("user_name", "Room-4"), ("network_type", "Wired")]),
        ["a"]
    );
    // Unknown network type: a negation holds.
    assert_eq!(ids(&[("user_name", "Room-4")]), ["a"]);
    // Unknown name: the regex fails, so no silence.
    assert!(ids(&[("network_type", "Wired")]).is_empty());
    assert!(ids(&[("user_name", "Room-4"), ("network_type", "Wifi")]).is_empty());
    // A rule label.
    s.add(with_duration(&[("team", "netops")], "1h"), "b".into(), NOW);
    assert_eq!(s.silencing(alert(&[("team", "netops")]), NOW), ["b"]);
    // `meeting` matches the number or the instance UUID.
    s.add(with_duration(&[("meeting", "u==")], "1h"), "c".into(), NOW);
    assert_eq!(
        s.silencing(alert(&[("meeting", "9"), ("meeting", "u==")]), NOW),
        ["c"]
    );
}

#[test]
fn bad_requests_say_why() {
    let refuse = |r: SilenceRequest| r.check(&["team"], NOW).unwrap_err();
    let mut r = request(&[("rul", "lat")]);
    r.duration = Some("1h".into());
    let e = refuse(r);
    assert!(
        e.contains("unknown matcher key `rul`") && e.contains("did you mean `rule`"),
        "{e}"
    );
    let mut r = request(&[("rule", "~(")]);
    r.duration = Some("1h".into());
    assert!(refuse(r).contains("bad regular expression"));
    let mut r = request(&[("network_type", "WiFi")]);
    r.duration = Some("1h".into());
    assert!(refuse(r).contains("did you mean `Wifi`"));
    assert!(refuse(request(&[("rule", "lat")])).contains("no end"));
    let mut r = request(&[]);
    r.duration = Some("1h".into());
    assert!(refuse(r).contains("at least one"));
    let mut r = request(&[("rule", "lat")]);
    r.duration = Some("1h".into());
    r.comment = " ".into();
    assert!(refuse(r).contains("`comment` is required"));
    let mut r = request(&[("rule", "lat")]);
    r.duration = Some("1h".into());
    r.ends_at = Some(Timestamp(NOW + 60).to_rfc3339());
    assert!(refuse(r).contains("give one end"));
    let mut r = request(&[("rule", "lat")]);
    r.ends_at = Some(Timestamp(NOW - 60).to_rfc3339());
    assert!(refuse(r).contains("not after"));
    let mut r = request(&[("rule", "lat")]);
    r.ends_at = Some("tomorrow".into());
    assert!(refuse(r).contains("RFC 3339"));
    let mut r = request(&[("rule", "lat")]);
    r.duration = Some("soon".into());
    assert!(refuse(r).contains("`duration`"));
    // `until: meeting_end` needs exactly one equality `meeting` matcher.
    for m in [&[("rule", "lat")][..], &[("meeting", "~^9")][..]] {
        let mut r = request(m);
        r.until = Some("meeting_end".into());
        assert!(refuse(r).contains("exactly one equality `meeting` matcher"));
    }
    let mut r = request(&[("meeting", "9")]);
    r.until = Some("lunch".into());
    assert!(refuse(r).contains("meeting_end"));
}

#[test]
fn until_meeting_end_ends_with_the_instance_live_when_made() {
    let mut s = Silences::default();
    s.add(until_end("9"), "a".into(), NOW);
    assert_eq!(s.all()[0].ends_at(), None, "waits for the meeting's end");
    assert_eq!(s.all()[0].state(NOW), SilenceState::Active);
    // The live instance is polled: it is the one.
    assert!(s.meeting_seen(&meeting("9", "first=="), NOW + 10));
    assert!(!s.meeting_seen(&meeting("9", "first=="), NOW + 20));
    // Another meeting ending changes nothing.
    assert!(!s.meeting_ended(&meeting("8", "other=="), NOW + 30));
    // Nor another instance of this one.
    assert!(!s.meeting_ended(&meeting("9", "second=="), NOW + 30));
    assert!(s.meeting_ended(&meeting("9", "first=="), NOW + 40));
    assert_eq!(s.all()[0].state(NOW + 40), SilenceState::Expired);
    assert_eq!(s.all()[0].ends_at(), Some(NOW + 40));
    // Not seen before it ended (made while live, ended before the next
    // poll): it ends too; by the UUID as well as the number.
    s.add(until_end("next=="), "b".into(), NOW + 50);
    assert!(s.meeting_ended(&meeting("9", "next=="), NOW + 60));
    assert_eq!(s.get("b").unwrap().state(NOW + 60), SilenceState::Expired);
}

#[test]
fn until_meeting_end_lasts_24_hours_at_most() {
    let mut s = Silences::default();
    s.add(until_end("9"), "a".into(), NOW);
    assert_eq!(s.all()[0].state(NOW + DAY - 1), SilenceState::Active);
    assert_eq!(s.all()[0].state(NOW + DAY), SilenceState::Expired);
    assert!(!s.meeting_seen(&meeting("9", "late=="), NOW + DAY));
    assert!(s.drop_old(NOW + 2 * DAY));
}

#[test]
fn the_json_and_the_state_file_round_trip() {
    let mut s = Silences::default();
    let mut r = request(&[("topic", "!Town hall"), ("user_name", "\\~tilde")]);
    r.matchers.insert(
        "device".into(),
        MatcherValue::Any(vec!["Mac".into(), "~^Win".into()]),
    );
    r.duration = Some("2h".into());
    s.add(r.check(&[], NOW).unwrap(), "a".into(), NOW);
    s.add(until_end("9"), "b".into(), NOW);
    s.meeting_seen(&meeting("9", "u=="), NOW);
    let json = SilenceJson::of(&s.all()[0], NOW);
    assert_eq!(json.state, "active");
    assert_eq!(json.until, None);
    assert_eq!(
        json.matchers["device"],
        MatcherValue::Any(vec!["Mac".into(), "~^Win".into()])
    );
    assert_eq!(
        json.matchers["user_name"],
        MatcherValue::One("\\~tilde".into())
    );
    let b = SilenceJson::of(&s.all()[1], NOW);
    assert_eq!((b.ends_at, b.until.as_deref()), (None, Some("meeting_end")));
    let back: Vec<Silence> = s
        .all()
        .iter()
        .map(|x| wire::Stored::of(x).into_silence().unwrap())
        .collect();
    assert_eq!(Silences::new(back), s);
}

#[test]
fn the_shared_store_survives_a_restart_and_refuses_what_it_cannot_save() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedSilences::load(dir.path(), true);
    let made = shared
        .add(with_duration(&[("rule", "lat")], "1h"), "a".into(), NOW)
        .unwrap();
    assert_eq!(made.state, "active");
    shared.add(until_end("9"), "b".into(), NOW).unwrap();
    shared.meeting(&meeting("9", "u=="), false, NOW + 1);
    let again = SharedSilences::load(dir.path(), true);
    assert_eq!(again.list(NOW).len(), 2);
    assert_eq!(
        again.get("b").unwrap().end,
        End::MeetingEnd {
            meeting: "9".into(),
            instance: Some("u==".into())
        }
    );
    again.expire("a", NOW + 5).unwrap();
    assert!(matches!(
        again.expire("zzz", NOW),
        Err(shared::SilenceError::Unknown(_))
    ));
    let third = SharedSilences::load(dir.path(), true);
    assert_eq!(
        third.get("a").unwrap().state(NOW + 5),
        SilenceState::Expired
    );
    // A state_dir that refuses writes: the silence is not made.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let broken = SharedSilences::load(&file, true);
    assert!(
        broken
            .add(with_duration(&[("rule", "lat")], "1h"), "c".into(), NOW)
            .is_err()
    );
    assert!(broken.list(NOW).is_empty());
}

use crate::qos::Timestamp;
