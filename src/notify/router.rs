//! Routing (docs/configuration.md, `routes`): which notifiers get an alert, first match wins
//! unless `continue: true`; no routes at all means every notifier.
//!
//! A route's time intervals (docs/quiet.md) are judged by the caller at the
//! moment of routing and passed in: a notifier is sent to when any matching
//! route naming it is unmuted and active, with the union of those routes'
//! `mention`s and the smallest of their `group_limit`s.

use crate::config::{Quiet, RouteConfig};
use crate::notify::view::AlertView;

/// A notifier an alert goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target<'a> {
    pub notifier: &'a str,
    /// The smallest `group_limit` of the routes that send to it.
    pub limit: usize,
    /// The `mention` strings of every route that sends to it (a union).
    pub mention: Vec<&'a str>,
    /// `None` when some matching route naming it sends now; else why none
    /// does (`Muted` when any of them is muted), and nothing is sent.
    pub quiet: Option<Quiet>,
}

/// Where one alert goes: notifier names with the route's `group_limit`
/// (time intervals aside).
pub fn route<'a>(
    routes: &'a [RouteConfig],
    all_notifiers: &'a [String],
    view: &AlertView,
) -> Vec<(&'a str, usize)> {
    targets(routes, all_notifiers, view, &[])
        .into_iter()
        .map(|t| (t.notifier, t.limit))
        .collect()
}

/// Where one alert goes, with each notifier's mentions and whether the
/// routes' time intervals let it be sent. `quiet[i]` is what route `i`'s
/// time intervals say now (a route past the slice's end sends).
pub fn targets<'a>(
    routes: &'a [RouteConfig],
    all_notifiers: &'a [String],
    view: &AlertView,
    quiet: &[Option<Quiet>],
) -> Vec<Target<'a>> {
    if routes.is_empty() {
        return all_notifiers
            .iter()
            .map(|n| Target {
                notifier: n.as_str(),
                limit: 10,
                mention: Vec::new(),
                quiet: None,
            })
            .collect();
    }
    let mut out: Vec<Target<'a>> = Vec::new();
    for (k, r) in routes.iter().enumerate() {
        let matches = r
            .matchers
            .iter()
            .all(|m| m.op.matches_values(&view.attribute_values(&m.key)));
        if !matches {
            continue;
        }
        let route_quiet = quiet.get(k).copied().flatten();
        for n in &r.notify {
            let i = match out.iter().position(|t| t.notifier == n) {
                Some(i) => i,
                None => {
                    out.push(Target {
                        notifier: n.as_str(),
                        limit: r.group_limit,
                        mention: Vec::new(),
                        quiet: route_quiet,
                    });
                    out.len() - 1
                }
            };
            let t = &mut out[i];
            match (t.quiet, route_quiet) {
                // The first route that sends sets the limit; muted ones
                // before it said nothing about the message.
                (Some(_), None) => {
                    t.quiet = None;
                    t.limit = r.group_limit;
                }
                (None, None) => t.limit = t.limit.min(r.group_limit),
                (Some(Quiet::Inactive), Some(Quiet::Muted)) => t.quiet = Some(Quiet::Muted),
                _ => {}
            }
            if route_quiet.is_none() {
                for m in &r.mention {
                    if !t.mention.contains(&m.as_str()) {
                        t.mention.push(m.as_str());
                    }
                }
            }
        }
        if !r.continue_matching {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvMode, Quiet};
    use std::path::Path;

    /// A view in the shape outbox entries had before `kind`, `meeting_id`,
    /// `meeting_uuid` and `attributes`: it still loads.
    fn view(severity: &str, rule: &str, team: Option<&str>) -> AlertView {
        let mut v: AlertView = serde_json::from_value(serde_json::json!({
            "rule": rule, "description": null, "severity": severity, "state": "firing", "reason": null,
            "summary": "s", "metric": null, "value": null, "threshold": null, "at": "", "since": "", "duration": null,
            "meeting": null, "topic": null, "participant": null, "user_name": null, "device": null,
            "network_type": null, "location": null, "labels": {}, "runbook": null, "fingerprint": "f"
        }))
        .unwrap();
        if let Some(t) = team {
            v.labels.insert("team".into(), t.into());
        }
        v
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\nnotifiers:\n  a: { type: console }\n  b: { type: console }\n  c: { type: console }\nroutes:\n  - match: { severity: critical }\n    notify: [a, b]\n    continue: true\n  - match: { team: \"~^net\" }\n    notify: [c]\n    group_limit: 3\n  - notify: [a]\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let all: Vec<String> = c.notifiers.keys().cloned().collect();
        assert_eq!(
            route(&c.routes, &all, &view("critical", "x", None)),
            [("a", 10), ("b", 10)]
        );
        assert_eq!(
            route(&c.routes, &all, &view("critical", "x", Some("netops"))),
            [("a", 10), ("b", 10), ("c", 3)]
        );
        assert_eq!(
            route(&c.routes, &all, &view("warning", "x", Some("netops"))),
            [("c", 3)]
        );
        assert_eq!(
            route(&c.routes, &all, &view("warning", "x", None)),
            [("a", 10)]
        );
        assert_eq!(route(&[], &all, &view("info", "x", None)).len(), 3);
    }

    fn config(routes: &str) -> Config {
        Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x\nsites:\n  berlin: [10.20.0.0/16]\n  hq: [10.0.0.0/8]\nnotifiers:\n  a: {{ type: console }}\n  b: {{ type: console }}\nroutes:\n{routes}"),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn any_alert_attribute_can_be_routed_on() {
        let mut v = view("warning", "audio-latency-high", None);
        v.topic = Some("Exec sync".into());
        v.meeting_id = Some("85746065432".into());
        v.meeting_uuid = Some("/ajXp112==".into());
        v.meeting = v.meeting_uuid.clone();
        v.participant = Some("16778240".into());
        v.attributes.insert("network_type".into(), "Wifi".into());
        v.attributes.insert("ip_address".into(), "192.0.2.7".into());
        let all: Vec<String> = vec!["a".into(), "b".into()];
        let goes_to_a = |m: &str| {
            let c = config(&format!(
                "  - match: {m}\n    notify: [a]\n  - notify: [b]\n"
            ));
            route(&c.routes, &all, &v) == [("a", 10)]
        };
        assert!(goes_to_a(r#"{ topic: "~(?i)exec" }"#));
        assert!(!goes_to_a(r#"{ topic: "~^sync" }"#));
        assert!(goes_to_a("{ meeting: 85746065432 }"), "the number");
        assert!(goes_to_a(r#"{ meeting: "/ajXp112==" }"#), "or the UUID");
        assert!(goes_to_a(r#"{ meeting_uuid: "/ajXp112==" }"#));
        assert!(!goes_to_a(r#"{ meeting: "!85746065432" }"#));
        assert!(goes_to_a("{ kind: participant, participant: '16778240' }"));
        assert!(!goes_to_a("{ kind: system }"));
        assert!(goes_to_a(
            "{ network_type: [Wired, Wifi], ip_address: '~^192\\.0\\.2\\.' }"
        ));
        assert!(goes_to_a(
            "{ alertname: audio-latency-high, rule: '~latency' }"
        ));
        // Unknown values: a positive matcher fails, a negative one holds.
        assert!(!goes_to_a("{ site: berlin }"));
        assert!(goes_to_a("{ site: '!berlin', device: '!~Mac' }"));
        assert!(!goes_to_a("{ email: '~.' }"));
        assert!(goes_to_a("{ email: '!~.' }"));
        assert!(goes_to_a("{ topic: '!Town hall' }"));
        assert!(!goes_to_a("{ topic: '!~Exec' }"));
        // Once the participant has a site, it routes by it.
        v.site = Some("berlin".into());
        let goes_to_a = |m: &str| {
            let c = config(&format!(
                "  - match: {m}\n    notify: [a]\n  - notify: [b]\n"
            ));
            route(&c.routes, &all, &v) == [("a", 10)]
        };
        assert!(goes_to_a("{ site: berlin }"));
        assert!(goes_to_a("{ site: [hq, berlin] }"));
        assert!(!goes_to_a("{ site: hq }"));
        assert!(!goes_to_a("{ site: '!berlin' }"));
    }

    #[test]
    fn a_system_alert_is_kind_system_and_has_no_participant() {
        let mut v = view("critical", "qoswatch-source-down", None);
        v.kind = crate::notify::view::AlertKind::System;
        let all: Vec<String> = vec!["a".into(), "b".into()];
        let c =
            config("  - match: { kind: system, topic: '!~.' }\n    notify: [a]\n  - notify: [b]\n");
        assert_eq!(route(&c.routes, &all, &v), [("a", 10)]);
    }

    #[test]
    fn mentions_of_every_route_reaching_a_notifier_are_joined() {
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\nnotifiers:\n  a: { type: console }\n  b: { type: console }\nroutes:\n  - match: { severity: critical }\n    notify: [a]\n    mention: [\"<!here>\"]\n    continue: true\n  - notify: [a, b]\n    mention: [\"<!subteam^S1>\", \"<!here>\"]\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let all: Vec<String> = c.notifiers.keys().cloned().collect();
        let t = targets(&c.routes, &all, &view("critical", "x", None), &[]);
        assert_eq!(t[0].notifier, "a");
        assert_eq!(t[0].mention, ["<!here>", "<!subteam^S1>"]);
        assert_eq!(t[1].mention, ["<!subteam^S1>", "<!here>"]);
        let t = targets(&c.routes, &all, &view("warning", "x", None), &[]);
        assert_eq!(t[0].mention, ["<!subteam^S1>", "<!here>"]);
    }

    #[test]
    fn a_notifier_gets_an_alert_when_any_matching_route_naming_it_sends_now() {
        // `always` holds at every instant, `never` at none.
        let c = Config::from_str(
            Path::new("q.yaml"),
            "replay: x\ntime_intervals:\n  - name: always\n    time_intervals: [{}]\n  - name: never\n    time_intervals: []\nnotifiers:\n  a: { type: console }\n  b: { type: console }\n  c: { type: console }\nroutes:\n  - match: { severity: critical }\n    notify: [a]\n    mute_time_intervals: [always]\n    mention: [\"<!here>\"]\n    group_limit: 2\n    continue: true\n  - match: { severity: critical }\n    notify: [a, b]\n    active_time_intervals: [never]\n    continue: true\n  - match: { team: netops }\n    notify: [a, c]\n    mute_time_intervals: [never]\n    active_time_intervals: [always]\n    mention: [\"<!channel>\"]\n    group_limit: 7\n    continue: true\n  - match: { team: netops }\n    notify: [c]\n    group_limit: 4\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let all: Vec<String> = c.notifiers.keys().cloned().collect();
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let quiet: Vec<Option<Quiet>> = c.routes.iter().map(|r| r.quiet_at(now)).collect();
        assert_eq!(
            quiet,
            [Some(Quiet::Muted), Some(Quiet::Inactive), None, None]
        );
        let sent = |t: &[Target<'_>]| -> Vec<(String, Option<Quiet>, usize, Vec<String>)> {
            t.iter()
                .map(|t| {
                    let m = t.mention.iter().map(|m| m.to_string()).collect();
                    (t.notifier.to_owned(), t.quiet, t.limit, m)
                })
                .collect()
        };
        // Critical, no team: `a` is muted on the first route and outside
        // the second's active interval: muting is the reason; `b` only
        // has the inactive route.
        let t = targets(&c.routes, &all, &view("critical", "x", None), &quiet);
        assert_eq!(
            sent(&t),
            [
                ("a".into(), Some(Quiet::Muted), 2, vec![]),
                ("b".into(), Some(Quiet::Inactive), 10, vec![]),
            ]
        );
        // With the team, the third route sends to `a`: once, with that
        // route's mention and limit only (the muted route's are not used);
        // `c` gets the smallest limit of the two routes that send to it.
        let t = targets(
            &c.routes,
            &all,
            &view("critical", "x", Some("netops")),
            &quiet,
        );
        assert_eq!(
            sent(&t),
            [
                ("a".into(), None, 7, vec!["<!channel>".into()]),
                ("b".into(), Some(Quiet::Inactive), 10, vec![]),
                ("c".into(), None, 4, vec!["<!channel>".into()]),
            ]
        );
        // Judged at another instant (nothing quiet), everything sends.
        let t = targets(&c.routes, &all, &view("critical", "x", Some("netops")), &[]);
        assert!(t.iter().all(|t| t.quiet.is_none()), "{t:?}");
        assert_eq!(t[0].mention, ["<!here>", "<!channel>"]);
        assert_eq!(t[0].limit, 2);
    }
}
