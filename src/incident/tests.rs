use std::time::Duration;

use super::*;
use crate::alert::Reason;
use crate::qos::{Metric, Unit};
use crate::rules::Severity;

fn def(name: &str, scope: Scope, min: u32, fraction: f64) -> IncidentDef {
    IncidentDef {
        name: Arc::from(name),
        description: None,
        scope,
        rules: vec![
            Arc::from("audio-loss-high"),
            Arc::from("audio-loss-critical"),
        ],
        min_participants: min,
        min_fraction: fraction,
        severity: Severity::Critical,
        hold: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        inhibit: true,
        labels: BTreeMap::new(),
        summary: None,
        repeat_every: None,
    }
}

fn meeting(uuid: &str, id: &str) -> MeetingInfo {
    MeetingInfo {
        id: Some(Arc::from(id)),
        uuid: Some(Arc::from(uuid)),
        topic: Some(Arc::from("All hands")),
    }
}

fn person(id: &str, dc: &str, network: &str) -> ParticipantInfo {
    let mut p = ParticipantInfo {
        user_id: Arc::from(id),
        ..ParticipantInfo::default()
    };
    p.set_attribute("user_name", Some(Arc::from(format!("User {id}"))));
    p.set_attribute("data_center", Some(Arc::from(dc)));
    p.set_attribute("network_type", Some(Arc::from(network)));
    p
}

fn seen(e: &mut IncidentEngine, m: &MeetingInfo, p: &ParticipantInfo, at: i64) {
    e.observe(MemberUpdate {
        meeting: m,
        participant: p,
        site: None,
        newest: Timestamp(at),
        present: true,
    });
}

fn alert(
    state: State,
    rule: &str,
    m: &MeetingInfo,
    p: &ParticipantInfo,
    value: f64,
    at: i64,
) -> Transition {
    Transition {
        state,
        reason: Reason::Condition,
        rule: Arc::from(rule),
        severity: if rule.ends_with("critical") {
            Severity::Critical
        } else {
            Severity::Warning
        },
        meeting: m.clone(),
        participant: p.clone(),
        at: Timestamp(at),
        since: Timestamp(at),
        metric: Metric::from_path("audio_input.avg_loss").unwrap(),
        value,
        threshold: 2.0,
        unit: Unit::Percent,
    }
}

/// The must-show: 6 of 8 participants of one meeting lose audio at
/// once: one incident, affected 6 of population 8, naming the six and what
/// they share; the two healthy ones are not in it.
#[test]
fn six_of_eight_make_one_meeting_incident() {
    let mut e = IncidentEngine::new(vec![def("meeting-audio", Scope::Meeting, 3, 0.5)], None);
    let m = meeting("uuid-1==", "85746065432");
    let people: Vec<ParticipantInfo> = (1..=8)
        .map(|i| {
            person(
                &format!("u{i}"),
                "SJC",
                if i <= 6 { "Wifi" } else { "Wired" },
            )
        })
        .collect();
    for p in &people {
        seen(&mut e, &m, p, 60);
    }
    assert!(e.evaluate(Timestamp(60)).is_empty());
    for p in &people[..6] {
        e.on_alert(&alert(State::Firing, "audio-loss-high", &m, p, 7.0, 120));
        seen(&mut e, &m, p, 120);
    }
    for p in &people[6..] {
        seen(&mut e, &m, p, 120);
    }
    let ts = e.evaluate(Timestamp(120));
    assert_eq!(ts.len(), 1, "{ts:#?}");
    let t = &ts[0];
    assert_eq!(t.state, State::Firing);
    assert_eq!((t.affected, t.population, t.peak), (6, 8, 6));
    assert_eq!(t.scope_value, "85746065432");
    assert_eq!(t.scope_key, "uuid-1==");
    let ids: Vec<&str> = t
        .participants
        .iter()
        .map(|a| a.participant.as_str())
        .collect();
    assert_eq!(ids, ["u1", "u2", "u3", "u4", "u5", "u6"]);
    assert_eq!(t.shared.get("data_center").map(String::as_str), Some("SJC"));
    assert_eq!(
        t.shared.get("network_type").map(String::as_str),
        Some("Wifi")
    );
    assert!(
        !t.shared.contains_key("meeting"),
        "the scope itself is not a factor"
    );
    assert_eq!(
        e.inhibitors("audio-loss-high", &m, "u1"),
        vec![Arc::<str>::from("meeting-audio")]
    );
    assert!(e.inhibitors("audio-jitter-high", &m, "u1").is_empty());

    // Recovery: four recover; 2 of 8 is below both thresholds.
    for p in &people[..4] {
        e.on_alert(&alert(State::Resolved, "audio-loss-high", &m, p, 0.1, 180));
        seen(&mut e, &m, p, 180);
    }
    let ts = e.evaluate(Timestamp(180));
    assert_eq!(ts.len(), 1);
    let r = &ts[0];
    assert_eq!(r.state, State::Resolved);
    assert_eq!((r.affected, r.peak), (2, 6));
    assert_eq!(r.participants.len(), 6, "the peak's participants");
    assert_eq!(r.duration_secs(), 60);
    assert_eq!(r.fingerprint(), t.fingerprint());
    assert!(e.inhibitors("audio-loss-high", &m, "u5").is_empty());
}

#[test]
fn thresholds_need_both_count_and_fraction() {
    let d = def("x", Scope::All, 3, 0.3);
    assert!(!d.holds(2, 4));
    assert!(d.holds(3, 10));
    assert!(!d.holds(3, 11));
    assert!(
        !def("x", Scope::All, 0, 0.0).holds(0, 5),
        "nobody affected is no incident"
    );
}

/// An attribute scope groups across meetings; unknown values belong to no
/// population; stale members (no sample within 3 minutes of the scope's
/// newest) do not count.
#[test]
fn data_center_scope_across_meetings_with_staleness() {
    let mut e = IncidentEngine::new(vec![def("dc-audio", Scope::Attribute(7), 5, 0.3)], None);
    assert_eq!(crate::qos::ATTRIBUTE_NAMES[7], "data_center");
    let ms: Vec<MeetingInfo> = (0..5)
        .map(|i| meeting(&format!("uuid-{i}"), &format!("{i}00")))
        .collect();
    // An old member in SJC, last seen long ago: not in the population.
    let old = person("old", "SJC", "Wired");
    seen(&mut e, &ms[0], &old, 0);
    // One without a data centre: in no population.
    let mut unknown = person("nodc", "", "Wired");
    unknown.set_attribute("data_center", None);
    seen(&mut e, &ms[0], &unknown, 600);
    for (i, m) in ms.iter().enumerate() {
        for j in 0..2 {
            let p = person(&format!("p{i}{j}"), "SJC", "Wired");
            seen(&mut e, m, &p, 600);
            if j == 0 {
                e.on_alert(&alert(
                    State::Firing,
                    "audio-loss-critical",
                    m,
                    &p,
                    9.0,
                    600,
                ));
            }
        }
    }
    let ts = e.evaluate(Timestamp(600));
    assert_eq!(ts.len(), 1, "{ts:#?}");
    assert_eq!((ts[0].affected, ts[0].population), (5, 10));
    assert_eq!(ts[0].scope_value, "SJC");
    assert!(!ts[0].shared.contains_key("meeting"), "five meetings");
    assert_eq!(ts[0].participants[0].rule, "audio-loss-critical");
}

#[test]
fn keep_firing_for_counts_sample_time() {
    let mut d = def("m", Scope::Meeting, 1, 0.0);
    d.keep_firing_for = Duration::from_secs(120);
    let mut e = IncidentEngine::new(vec![d], None);
    let m = meeting("u==", "1");
    let p = person("a", "SJC", "Wifi");
    seen(&mut e, &m, &p, 60);
    e.on_alert(&alert(State::Firing, "audio-loss-high", &m, &p, 5.0, 60));
    assert_eq!(e.evaluate(Timestamp(60)).len(), 1);
    e.on_alert(&alert(State::Resolved, "audio-loss-high", &m, &p, 0.0, 120));
    seen(&mut e, &m, &p, 120);
    assert!(
        e.evaluate(Timestamp(120)).is_empty(),
        "held by keep_firing_for"
    );
    seen(&mut e, &m, &p, 180);
    assert!(e.evaluate(Timestamp(180)).is_empty());
    seen(&mut e, &m, &p, 240);
    let ts = e.evaluate(Timestamp(240));
    assert_eq!(ts.len(), 1);
    assert_eq!(ts[0].state, State::Resolved);
}

#[test]
fn meeting_end_resolves_with_its_reason_and_reload_with_rule_changed() {
    let mut e = IncidentEngine::new(
        vec![
            def("m", Scope::Meeting, 1, 0.0),
            def("all", Scope::All, 1, 0.0),
        ],
        None,
    );
    let m = meeting("u==", "1");
    let p = person("a", "SJC", "Wifi");
    seen(&mut e, &m, &p, 60);
    e.on_alert(&alert(State::Firing, "audio-loss-high", &m, &p, 5.0, 60));
    assert_eq!(e.evaluate(Timestamp(60)).len(), 2);
    let ended = e.end_meeting(&m, Timestamp(90));
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].reason, Reason::MeetingEnded);
    // The `all` incident loses its only member: resolved by its condition.
    let ts = e.evaluate(Timestamp(90));
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].name.as_ref(), ts[0].reason),
        ("all", Reason::Condition)
    );

    let m2 = meeting("v==", "2");
    seen(&mut e, &m2, &p, 120);
    e.on_alert(&alert(State::Firing, "audio-loss-high", &m2, &p, 5.0, 120));
    assert_eq!(e.evaluate(Timestamp(120)).len(), 2);
    let mut changed = def("m", Scope::Meeting, 2, 0.0);
    changed.description = Some("edited".into());
    let ts = e.set_defs(
        vec![changed, def("all", Scope::All, 1, 0.0)],
        Timestamp(130),
    );
    assert_eq!(ts.len(), 1);
    assert_eq!(
        (ts[0].name.as_ref(), ts[0].reason),
        ("m", Reason::RuleChanged)
    );
    assert_eq!(e.firing().len(), 1, "the unchanged one keeps firing");
}

/// A restart neither re-announces nor forgets an open incident.
#[test]
fn snapshot_round_trip_keeps_open_incidents() {
    let defs = vec![def("m", Scope::Meeting, 2, 0.0)];
    let mut e = IncidentEngine::new(defs.clone(), None);
    let m = meeting("u==", "1");
    let a = person("a", "SJC", "Wifi");
    let b = person("b", "SJC", "Wifi");
    for p in [&a, &b] {
        seen(&mut e, &m, p, 60);
        e.on_alert(&alert(State::Firing, "audio-loss-high", &m, p, 5.0, 60));
    }
    assert_eq!(e.evaluate(Timestamp(60)).len(), 1);
    let snap = e.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    let mut r = IncidentEngine::new(defs, None);
    r.restore(serde_json::from_str(&json).unwrap());
    assert_eq!(r.snapshot(), snap);
    assert_eq!(r.firing().len(), 1);
    seen(&mut r, &m, &a, 120);
    assert!(r.evaluate(Timestamp(120)).is_empty(), "not announced again");
    r.on_alert(&alert(State::Resolved, "audio-loss-high", &m, &a, 0.0, 180));
    let ts = r.evaluate(Timestamp(180));
    assert_eq!(ts.len(), 1);
    assert_eq!((ts[0].state, ts[0].peak), (State::Resolved, 2));
    assert_eq!(ts[0].since, Timestamp(60));
}

/// A participant who leaves leaves the population.
#[test]
fn leavers_leave_the_population() {
    let mut e = IncidentEngine::new(vec![def("m", Scope::Meeting, 1, 0.5)], None);
    let m = meeting("u==", "1");
    let a = person("a", "SJC", "Wifi");
    let b = person("b", "SJC", "Wifi");
    let c = person("c", "SJC", "Wifi");
    for p in [&a, &b, &c] {
        seen(&mut e, &m, p, 60);
    }
    e.on_alert(&alert(State::Firing, "audio-loss-high", &m, &a, 5.0, 60));
    assert!(e.evaluate(Timestamp(60)).is_empty(), "1 of 3 is under half");
    e.observe(MemberUpdate {
        meeting: &m,
        participant: &c,
        site: None,
        newest: Timestamp(60),
        present: false,
    });
    let ts = e.evaluate(Timestamp(70));
    assert_eq!(ts.len(), 1, "1 of 2 is half");
    assert_eq!((ts[0].affected, ts[0].population), (1, 2));
}

/// `eval` input without a meeting id is one meeting with neither number nor
/// UUID (SPEC 12): its participants still make a meeting incident, shown
/// with an empty scope value (`null` in `eval`).
#[test]
fn a_meeting_without_id_or_uuid_is_still_one_meeting() {
    let mut e = IncidentEngine::new(vec![def("meeting-audio", Scope::Meeting, 3, 0.5)], None);
    let m = MeetingInfo::default();
    let people: Vec<ParticipantInfo> = (1..=4)
        .map(|i| person(&format!("u{i}"), "SJC", "Wifi"))
        .collect();
    for p in &people {
        seen(&mut e, &m, p, 60);
    }
    for p in &people[..3] {
        e.on_alert(&alert(State::Firing, "audio-loss-high", &m, p, 7.0, 60));
    }
    let ts = e.evaluate(Timestamp(60));
    assert_eq!(ts.len(), 1, "{ts:#?}");
    assert_eq!((ts[0].affected, ts[0].population), (3, 4));
    assert_eq!(ts[0].scope_value, "");
    assert_eq!(e.inhibitors("audio-loss-high", &m, "u1").len(), 1);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// One generated participant: newest sample offset (seconds after the
    /// base), whether a member alert fires, whether it is still present,
    /// and its data centre (`None`: unknown).
    fn member() -> impl Strategy<Value = (i64, bool, bool, Option<u8>)> {
        (
            prop::sample::select(vec![0_i64, 60, 120, 179, 181, 400]),
            any::<bool>(),
            prop::bool::weighted(0.85),
            prop::option::weighted(0.9, 0_u8..2),
        )
    }

    fn dc_scope() -> Scope {
        Scope::Attribute(
            crate::qos::ATTRIBUTE_NAMES
                .iter()
                .position(|n| *n == "data_center")
                .unwrap(),
        )
    }

    proptest! {
        /// An incident fires for a scope value exactly when its thresholds
        /// hold on the population SPEC 12 defines (present members with a
        /// known value, whose newest sample is at most 3 minutes older than
        /// the newest in that value), counted here from scratch; and only
        /// member rules of a firing incident, for participants inside its
        /// scope value, are ever held back.
        #[test]
        fn incidents_fire_exactly_when_thresholds_hold(
            members in prop::collection::vec(member(), 1..14),
            min in 1_u32..5,
            tenths in 0_u32..11,
        ) {
            let mut d = def("dc", dc_scope(), min, f64::from(tenths) / 10.0);
            d.rules = vec![Arc::from("loss")];
            let mut e = IncidentEngine::new(vec![d.clone()], None);
            let m = meeting("uuid==", "1");
            let base = 1_000_i64;
            let mut people = Vec::new();
            for (i, (offset, firing, present, dc)) in members.iter().enumerate() {
                let mut p = person(&format!("u{i:02}"), "X", "Wifi");
                p.set_attribute(
                    "data_center",
                    dc.map(|v| Arc::from(if v == 0 { "SJC" } else { "IAD" })),
                );
                let at = base + offset;
                e.observe(MemberUpdate {
                    meeting: &m,
                    participant: &p,
                    site: None,
                    newest: Timestamp(at),
                    present: *present,
                });
                if *firing {
                    e.on_alert(&alert(State::Firing, "loss", &m, &p, 9.0, at));
                }
                people.push(p);
            }
            e.evaluate(Timestamp(base + 400));
            for value in ["SJC", "IAD"] {
                let inside: Vec<usize> = members
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, _, present, dc))| {
                        *present && dc.map(|v| if v == 0 { "SJC" } else { "IAD" }) == Some(value)
                    })
                    .map(|(i, _)| i)
                    .collect();
                let newest = inside.iter().map(|i| members[*i].0).max();
                let fresh: Vec<usize> = inside
                    .iter()
                    .copied()
                    .filter(|i| newest.is_some_and(|n| members[*i].0 >= n - 180))
                    .collect();
                let population = fresh.len() as u32;
                let affected = fresh.iter().filter(|i| members[**i].1).count() as u32;
                let fires = e.firing().iter().any(|(_, v, _)| *v == value);
                prop_assert_eq!(fires, d.holds(affected, population), "{} {}/{}", value, affected, population);
            }
            for (i, p) in people.iter().enumerate() {
                let dc = members[i].3.map(|v| if v == 0 { "SJC" } else { "IAD" });
                let covered = members[i].2
                    && dc.is_some_and(|v| e.firing().iter().any(|(_, f, _)| *f == v));
                prop_assert_eq!(!e.inhibitors("loss", &m, &p.user_id).is_empty(), covered);
                prop_assert!(e.inhibitors("cpu", &m, &p.user_id).is_empty(), "not a member rule");
            }
        }
    }
}

/// `repeat_every` on an incident: a reminder with the figures it has now,
/// once the interval has passed since it was last sent, not before; none
/// for an incident without it.
#[test]
fn an_incident_with_repeat_every_is_reminded_with_its_figures_now() {
    use crate::alert::Event;
    use crate::config::{Config, EnvMode};
    use crate::notify::dispatch::{DeliveryMode, Dispatcher};

    let mut reminded = def("m", Scope::Meeting, 2, 0.0);
    reminded.repeat_every = Some(Duration::from_secs(600));
    let defs = vec![reminded, def("quiet", Scope::Meeting, 2, 0.0)];
    let mut e = IncidentEngine::new(defs.clone(), None);
    let m = meeting("u==", "1");
    let people: Vec<_> = ["a", "b", "c"].map(|id| person(id, "SJC", "Wifi")).into();
    for p in &people {
        seen(&mut e, &m, p, 60);
    }
    for p in &people[..2] {
        e.on_alert(&alert(State::Firing, "audio-loss-high", &m, p, 5.0, 60));
    }
    assert_eq!(e.evaluate(Timestamp(60)).len(), 2, "both fire");
    let config = Config::from_str(
        std::path::Path::new("q.yaml"),
        "replay: x/\n",
        EnvMode::Strict,
        &|_| None,
    )
    .unwrap();
    let mut d = Dispatcher::new(&config, DeliveryMode::DryRun);
    let now = 1_000_000;
    // Sent at `now` (its firing, or first seen here after a restart).
    assert!(
        d.incident_reminders(&e.open_incidents(), &defs, now)
            .is_empty()
    );
    assert!(
        d.incident_reminders(&e.open_incidents(), &defs, now + 599)
            .is_empty()
    );
    // A third participant is affected meanwhile.
    seen(&mut e, &m, &people[2], 120);
    e.on_alert(&alert(
        State::Firing,
        "audio-loss-high",
        &m,
        &people[2],
        5.0,
        120,
    ));
    assert!(
        e.evaluate(Timestamp(120)).is_empty(),
        "membership sends nothing"
    );
    let due = d.incident_reminders(&e.open_incidents(), &defs, now + 600);
    assert_eq!(due.len(), 1, "only the incident with repeat_every: {due:?}");
    let Event::Incident(t) = &due[0] else {
        panic!("{due:?}")
    };
    assert_eq!((t.reason, &*t.name), (Reason::Reminder, "m"));
    assert_eq!((t.affected, t.population), (3, 3), "its figures now");
    assert_eq!(t.participants.len(), 3);
    assert!(
        d.incident_reminders(&e.open_incidents(), &defs, now + 601)
            .is_empty(),
        "the next one 10 minutes later"
    );
}
