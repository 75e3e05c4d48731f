//! The dispatcher: the notification policy between the alert lifecycle and
//! delivery. It holds back what rule inhibition covers ([`Inhibitor`]),
//! routes each transition to notifiers (a resolution to exactly the
//! notifiers that got its firing; an alert about a notifier never to that
//! notifier; a route's time intervals judged at the moment of routing, a
//! muted firing dropped for good), groups what one batch (one poll of one meeting) brought into
//! one message per notifier, keeps
//! an alert a notifier already has from being announced again at first
//! sight, sends `repeat_every` reminders, and hands each message to its
//! channel and then to the outbox, or prints it in a dry run.
//!
//! How it delivers is fixed when it is built ([`DeliveryMode`]), so no path
//! can drop a notification for want of an outbox.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::lifecycle::{ActiveAlert, fingerprint};
use crate::alert::system::NOTIFIER_FAILING;
use crate::alert::{Event, Reason, State, Transition};
use crate::config::{Config, NotifierConfig, NotifierKind, Quiet, RouteConfig};
use crate::incident::{IncidentDef, IncidentTransition};
use crate::metrics::DeliveryMetrics;
use crate::notify::channel::{self, Channel, Group, Message};
use crate::notify::facts::title;
use crate::notify::inhibit::{Engaged, HeldSnapshot, Inhibitor};
use crate::notify::outbox::Outbox;
use crate::notify::router::targets;
use crate::notify::silence::SilenceStage;
use crate::notify::view::{AlertView, Presentation, view_with};
use crate::qos::Timestamp;
use crate::rules::Rule;

/// Where rendered messages go.
pub enum DeliveryMode {
    /// Into the persisted outbox, for the delivery workers (console output
    /// is written at once).
    Outbox(Arc<Outbox>),
    /// Printed to stdout, nothing posted or written (`once --dry-run`).
    DryRun,
}

/// A configured notifier and its channel.
pub struct Notifier {
    pub config: NotifierConfig,
    pub channel: Arc<dyn Channel>,
}

/// Routes, groups, de-duplicates and hands over.
pub struct Dispatcher {
    routes: Vec<RouteConfig>,
    notifiers: BTreeMap<String, Notifier>,
    names: Vec<String>,
    mode: DeliveryMode,
    /// When each firing alert was last notified (unix seconds), for
    /// `repeat_every`; saved with the alert state.
    notified: BTreeMap<String, i64>,
    /// Messages handed over so far.
    messages: usize,
    /// `display` and `links`: how alerts are shown.
    presentation: Presentation,
    /// Rule inhibition: the firings held back.
    inhibitor: Inhibitor,
    /// The notifiers each firing alert was sent to, by fingerprint: where
    /// its resolution goes (an empty list: nowhere, its firing was
    /// dropped); saved with the alert state. An alert not listed (firing
    /// before a state file that lacked this) resolves along its routes.
    sent_to: BTreeMap<String, Vec<String>>,
    /// Alerts held or let go since last asked, for `/api/alerts`.
    inhibition_changes: Vec<(String, Vec<String>)>,
    /// Firing alerts whose firing every notifier it was routed to dropped
    /// for a time interval (`muted` on `/api/alerts`), and the changes to
    /// that since last asked.
    muted: std::collections::BTreeSet<String>,
    mute_changes: Vec<(String, bool)>,
    /// `qoswatch_notifications_suppressed_total{reason}`.
    metrics: DeliveryMetrics,
    /// Silences (SPEC 13), when the service keeps them.
    silences: Option<SilenceStage>,
}

impl Dispatcher {
    /// The config's notifiers and routes; with no notifier at all, alerts go
    /// to the console.
    pub fn new(config: &Config, mode: DeliveryMode) -> Dispatcher {
        let mut configs = config.notifiers.clone();
        if configs.is_empty() {
            tracing::info!("no notifiers configured: alerts go to the console");
            configs.insert(
                "console".into(),
                NotifierConfig {
                    name: "console".into(),
                    kind: NotifierKind::Console,
                    max_age: Duration::from_secs(3600),
                },
            );
        }
        let notifiers: BTreeMap<String, Notifier> = configs
            .into_iter()
            .map(|(name, config)| {
                let channel = channel::build(&config);
                (name, Notifier { config, channel })
            })
            .collect();
        Dispatcher {
            routes: config.routes.clone(),
            names: notifiers.keys().cloned().collect(),
            notifiers,
            mode,
            notified: BTreeMap::new(),
            messages: 0,
            presentation: presentation(config),
            inhibitor: Inhibitor::default(),
            sent_to: BTreeMap::new(),
            inhibition_changes: Vec::new(),
            muted: Default::default(),
            mute_changes: Vec::new(),
            metrics: DeliveryMetrics::default(),
            silences: None,
        }
    }

    /// Holds back what these silences cover (SPEC 13), after inhibition and
    /// before routing.
    pub fn with_silences(mut self, silences: Arc<crate::silence::SharedSilences>) -> Dispatcher {
        self.silences = Some(SilenceStage::new(silences));
        self.metrics.suppressed.with_label_values(&["silenced"]);
        self
    }

    /// The silence stage, when there is one.
    pub fn silences(&self) -> Option<&SilenceStage> {
        self.silences.as_ref()
    }

    /// The silence stage, when there is one (restore, changes).
    pub fn silences_mut(&mut self) -> Option<&mut SilenceStage> {
        self.silences.as_mut()
    }

    /// Which silences hold each alert of `active` at `now` (see
    /// [`SilenceStage::marks`]); nothing without silences.
    pub fn silence_marks(
        &self,
        active: &[ActiveAlert],
        rules: &[Rule],
        now: i64,
    ) -> Vec<(String, Vec<String>)> {
        match &self.silences {
            Some(stage) => stage.marks(active, |e| view_with(e, rules, &self.presentation), now),
            None => Vec::new(),
        }
    }

    /// Sends the firings held by silences that no silence holds at `now`
    /// any more and that still fire (`engaged`: the lifecycle now).
    pub fn release_silenced(&mut self, rules: &[Rule], engaged: &dyn Engaged, now: i64) {
        let presentation = &self.presentation;
        let Some(stage) = &mut self.silences else {
            return;
        };
        let released = stage.release(|e| view_with(e, rules, presentation), engaged, now);
        self.send(released, rules, now);
    }

    /// Counts suppressions in these (registered) metrics.
    pub fn with_metrics(mut self, metrics: &DeliveryMetrics) -> Dispatcher {
        self.metrics = metrics.clone();
        // Listed from the start, so a dashboard sees 0 rather than nothing.
        self.metrics.suppressed.with_label_values(&["inhibited"]);
        for quiet in [Quiet::Muted, Quiet::Inactive] {
            self.metrics.suppressed.with_label_values(&[quiet.as_str()]);
        }
        if self.silences.is_some() {
            self.metrics.suppressed.with_label_values(&["silenced"]);
        }
        self
    }

    /// The firings held back by rule inhibition, for the saved state.
    pub fn held(&self) -> Vec<HeldSnapshot> {
        self.inhibitor.snapshot()
    }

    /// Every held firing by fingerprint, with the rules holding it.
    pub fn inhibited(&self) -> Vec<(String, Vec<String>)> {
        self.inhibitor.held()
    }

    /// Whether a member firing waits out an incident's `hold`.
    pub fn waiting(&self) -> bool {
        self.inhibitor.waiting()
    }

    /// Takes back the held firings of the saved state, those the restored
    /// lifecycle (`engaged`) still has firing.
    pub fn restore_held(&mut self, saved: Vec<HeldSnapshot>, engaged: &dyn Engaged) {
        let restored = self.inhibitor.restore(saved, engaged);
        tracing::debug!(held = restored.len(), "restored firings held by inhibition");
    }

    /// Alerts held back by rule inhibition or let go since the last call,
    /// by fingerprint, with the rules holding them (empty: no longer held).
    pub fn take_inhibition_changes(&mut self) -> Vec<(String, Vec<String>)> {
        std::mem::take(&mut self.inhibition_changes)
    }

    /// Firing alerts dropped by time intervals on every notifier they were
    /// routed to (`true`) or sent again (`false`) since the last call.
    pub fn take_mute_changes(&mut self) -> Vec<(String, bool)> {
        std::mem::take(&mut self.mute_changes)
    }

    /// Every firing alert whose firing time intervals dropped everywhere.
    pub fn muted(&self) -> Vec<(String, bool)> {
        self.muted.iter().map(|fp| (fp.clone(), true)).collect()
    }

    /// Where each firing alert went, and those muted everywhere, for the
    /// saved state.
    pub fn sent_to(&self) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
        (self.sent_to.clone(), self.muted.iter().cloned().collect())
    }

    /// Takes back where firing alerts went from the saved state, so a
    /// firing dropped before a restart stays dropped and a resolution
    /// still goes where its firing went.
    pub fn restore_sent_to(&mut self, sent_to: BTreeMap<String, Vec<String>>, muted: Vec<String>) {
        self.sent_to = sent_to;
        self.muted = muted.into_iter().collect();
    }

    /// Every notifier, by name.
    pub fn notifiers(&self) -> impl Iterator<Item = &Notifier> {
        self.notifiers.values()
    }

    /// The notifiers that post over HTTP (each needs a delivery worker).
    pub fn remote(&self) -> impl Iterator<Item = &Notifier> {
        self.notifiers
            .values()
            .filter(|n| n.channel.url().is_some())
    }

    /// The outbox, when delivering.
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        match &self.mode {
            DeliveryMode::Outbox(o) => Some(o),
            DeliveryMode::DryRun => None,
        }
    }

    /// New routes from a reload.
    pub fn set_routes(&mut self, routes: Vec<RouteConfig>) {
        self.routes = routes;
    }

    /// New `display` and `links` from a reload.
    pub fn set_presentation(&mut self, config: &Config) {
        self.presentation = presentation(config);
    }

    /// Messages handed over (printed, or queued) so far.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Last-notified times, for the saved state.
    pub fn notified(&self) -> &BTreeMap<String, i64> {
        &self.notified
    }

    /// Last-notified times from the saved state.
    pub fn restore_notified(&mut self, notified: BTreeMap<String, i64>) {
        self.notified = notified;
    }

    /// Holds back what rule inhibition covers (judged with `engaged`, the
    /// lifecycle after the batch), routes and groups the rest of `events`
    /// (one batch: one message per notifier) with the held alerts let go
    /// now, renders them and hands them over. `now` is the wall clock (unix
    /// seconds), for reminders.
    pub fn dispatch(&mut self, events: &[Event], rules: &[Rule], engaged: &dyn Engaged, now: i64) {
        let events = self.inhibit(events, rules, engaged);
        self.send(events, rules, now);
    }

    /// Past inhibition: silences, then routes, groups and hands over.
    fn send(&mut self, events: Vec<Event>, rules: &[Rule], now: i64) {
        if events.is_empty() {
            return;
        }
        let views: Vec<AlertView> = events
            .iter()
            .map(|e| view_with(e, rules, &self.presentation))
            .collect();
        let (events, views) = match &mut self.silences {
            Some(stage) => stage.judge(events, views, now, &self.metrics),
            None => (events, views),
        };
        if events.is_empty() {
            return;
        }
        let events = &events[..];
        for e in events {
            let (state, fp) = match e {
                Event::Alert(t) => (t.state, t.fingerprint()),
                Event::Incident(t) => (t.state, t.fingerprint()),
                Event::System(_) => continue,
            };
            match state {
                State::Firing => {
                    self.notified.insert(fp, now);
                }
                State::Resolved => {
                    self.notified.remove(&fp);
                }
            }
        }
        // Each route's time intervals, judged once, at `now`.
        let at = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let quiet: Vec<Option<Quiet>> = self.routes.iter().map(|r| r.quiet_at(at)).collect();
        let mut groups: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
        // A notifier reached through several routes gets all their mentions.
        let mut mentions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, v) in views.iter().enumerate() {
            for (name, limit, mention) in self.targets(v, &quiet) {
                let m = mentions.entry(name.clone()).or_default();
                for s in mention {
                    if !m.contains(&s) {
                        m.push(s);
                    }
                }
                groups.entry(name).or_insert((limit, Vec::new())).1.push(i);
            }
        }
        for (name, (limit, idx)) in groups {
            let name = name.as_str();
            let Some(notifier) = self.notifiers.get(name) else {
                continue;
            };
            // An alert this notifier was already told is firing (before a
            // restart whose state save it outran) is not announced again at
            // first sight.
            //
            // A transition already queued or delivered (re-evaluated after a
            // crash outran the state save) is left out, so a message carries
            // only what is new and nothing is sent twice.
            let idx: Vec<usize> = idx
                .into_iter()
                .filter(|i| !(views[*i].first_sight && self.is_open(name, &views[*i].fingerprint)))
                .filter(|i| !self.is_known(&transition_key(name, &views[*i])))
                .collect();
            if idx.is_empty() {
                continue;
            }
            let group_views: Vec<AlertView> = idx.iter().map(|i| views[*i].clone()).collect();
            let group_events: Vec<&Event> = idx.iter().map(|i| &events[*i]).collect();
            let group = Group {
                notifier: name,
                views: &group_views,
                events: &group_events,
                limit,
                mention: mentions.get(name).map_or(&[], Vec::as_slice),
            };
            let message = notifier.channel.render(&group);
            self.hand_over(notifier, message, &group_views);
            self.messages += 1;
        }
    }

    /// Rule inhibition: the events to send now (held ones left out, held
    /// ones let go added), each held firing counted once.
    fn inhibit(&mut self, events: &[Event], rules: &[Rule], engaged: &dyn Engaged) -> Vec<Event> {
        let transitions: Vec<&Transition> = events
            .iter()
            .filter_map(|e| match e {
                Event::Alert(t) => Some(t),
                Event::Incident(_) | Event::System(_) => None,
            })
            .collect();
        let judged = self.inhibitor.judge(&transitions, rules, engaged);
        let mut verdicts = judged.verdicts.into_iter();
        let mut out = Vec::with_capacity(events.len() + judged.released.len());
        for e in events {
            let Event::Alert(t) = e else {
                out.push(e.clone());
                continue;
            };
            match verdicts.next().flatten() {
                None => out.push(e.clone()),
                Some(by) => {
                    if t.reason != Reason::Reminder && !by.is_empty() {
                        let (by_rule, reason, what) = suppression(&by, rules);
                        // A held firing's resolution is counted too when an
                        // incident holds it: neither is sent.
                        if t.state == State::Firing || !by_rule {
                            self.metrics.suppressed.with_label_values(&[reason]).inc();
                        }
                        // Debug: an incident holds many at once; the
                        // incident's own message says what happened.
                        tracing::debug!(
                            rule = %t.rule,
                            participant = %t.participant.user_id,
                            inhibited_by = %by.join(", "),
                            "{} held back by {what}",
                            t.state.as_str()
                        );
                    }
                }
            }
        }
        for by in &judged.taken_over {
            // A firing that waited out a `hold` and that an incident (or an
            // inhibiting rule) took over: suppressed from now on.
            let (_, reason, _) = suppression(by, rules);
            self.metrics.suppressed.with_label_values(&[reason]).inc();
        }
        out.extend(judged.released.into_iter().map(Event::Alert));
        self.inhibition_changes.extend(judged.changes);
        out
    }

    /// The notifiers an alert goes to, with the `group_limit` of each: a
    /// resolution to exactly the notifiers that got its firing, when known;
    /// anything else along its routes whose time intervals (`quiet`, by
    /// route) let it go now, never to a notifier the alert is about.
    /// Records where each firing went: nowhere, for a firing every
    /// notifier dropped, so its resolution is not sent either.
    fn targets(
        &mut self,
        v: &AlertView,
        quiet: &[Option<Quiet>],
    ) -> Vec<(String, usize, Vec<String>)> {
        let mut routed: Vec<(String, usize, Vec<String>)> = Vec::new();
        let mut dropped: Vec<(String, Quiet)> = Vec::new();
        for t in targets(&self.routes, &self.names, v, quiet) {
            match t.quiet {
                None => {
                    let mention = t.mention.iter().map(|m| (*m).to_owned()).collect();
                    routed.push((t.notifier.to_owned(), t.limit, mention));
                }
                Some(why) => dropped.push((t.notifier.to_owned(), why)),
            }
        }
        let about = (v.rule == NOTIFIER_FAILING)
            .then(|| v.labels.get("notifier").cloned())
            .flatten();
        dropped.retain(|(n, _)| Some(n) != about.as_ref());
        let mut targets = match (v.state, self.sent_to.remove(&v.fingerprint)) {
            (State::Resolved, Some(sent)) => {
                // Where the firing went, whatever intervals hold now.
                dropped.clear();
                sent.into_iter()
                    .map(|n| {
                        let limit = routed
                            .iter()
                            .find(|(r, _, _)| *r == n)
                            .map_or(10, |(_, l, _)| *l);
                        (n, limit, Vec::new())
                    })
                    .collect()
            }
            (State::Firing, Some(sent)) if v.reminder => {
                // A reminder repeats the firing where it went: never to a
                // notifier that dropped it.
                routed.retain(|(n, _, _)| sent.contains(n));
                dropped.retain(|(n, _)| sent.contains(n));
                self.sent_to.insert(v.fingerprint.clone(), sent);
                routed
            }
            _ => routed,
        };
        if let Some(failing) = &about {
            targets.retain(|(n, _, _)| n != failing);
        }
        for (notifier, why) in &dropped {
            self.metrics
                .suppressed
                .with_label_values(&[why.as_str()])
                .inc();
            tracing::debug!(
                notifier = %notifier,
                rule = %v.rule,
                fingerprint = %v.fingerprint,
                "{} dropped: {} by the routes' time intervals",
                v.state.as_str(),
                why.as_str()
            );
        }
        if v.state == State::Firing && !v.reminder {
            self.sent_to.insert(
                v.fingerprint.clone(),
                targets.iter().map(|(n, _, _)| n.clone()).collect(),
            );
            let muted = targets.is_empty() && !dropped.is_empty();
            let changed = if muted {
                self.muted.insert(v.fingerprint.clone())
            } else {
                self.muted.remove(&v.fingerprint)
            };
            if changed {
                self.mute_changes.push((v.fingerprint.clone(), muted));
            }
        } else if v.state == State::Resolved {
            self.muted.remove(&v.fingerprint);
        }
        targets
    }

    fn is_open(&self, notifier: &str, fingerprint: &str) -> bool {
        match &self.mode {
            DeliveryMode::Outbox(outbox) => outbox.is_open(notifier, fingerprint),
            DeliveryMode::DryRun => false,
        }
    }

    fn is_known(&self, key: &str) -> bool {
        match &self.mode {
            DeliveryMode::Outbox(outbox) => outbox.is_known(key),
            DeliveryMode::DryRun => false,
        }
    }

    fn hand_over(&self, notifier: &Notifier, message: Message, views: &[AlertView]) {
        let name = notifier.config.name.as_str();
        match (message, &self.mode) {
            (Message::Print(text), DeliveryMode::DryRun) => {
                println!("--- {name} ({})\n{text}", notifier.channel.kind());
            }
            (Message::Print(text), DeliveryMode::Outbox(_)) => {
                if let Err(e) = print_flushed(&text) {
                    tracing::error!("writing to the console failed: {e}");
                }
            }
            (Message::Post(body), DeliveryMode::DryRun) => {
                println!(
                    "--- {name} ({})\n{}",
                    notifier.channel.kind(),
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
            }
            (Message::Post(body), DeliveryMode::Outbox(outbox)) => {
                let keys = views.iter().map(|v| transition_key(name, v)).collect();
                match outbox.enqueue(name, body.to_string(), keys, title(views)) {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!(
                        notifier = name,
                        "already sent or queued before a restart; not queued again"
                    ),
                    Err(e) => tracing::error!(notifier = name, "cannot queue a notification: {e}"),
                }
            }
        }
    }

    /// `repeat_every` reminders due at `now` (wall clock, unix seconds) for
    /// the alerts firing now.
    pub fn reminders(&mut self, active: &[ActiveAlert], rules: &[Rule], now: i64) -> Vec<Event> {
        let mut out = Vec::new();
        if !rules.iter().any(|r| r.repeat_every.is_some()) {
            return out;
        }
        for a in active {
            let Some(every) = rules
                .iter()
                .find(|r| *r.name == *a.rule)
                .and_then(|r| r.repeat_every)
            else {
                continue;
            };
            let fp = fingerprint(
                &a.rule,
                a.meeting.key().map(|k| &**k),
                &a.participant.user_id,
            );
            let last = *self.notified.entry(fp).or_insert(now);
            if now - last >= every.as_secs() as i64 {
                out.push(Event::Alert(Transition {
                    state: State::Firing,
                    reason: Reason::Reminder,
                    rule: a.rule.clone(),
                    severity: a.severity,
                    meeting: a.meeting.clone(),
                    participant: a.participant.clone(),
                    at: Timestamp(now),
                    since: a.since,
                    metric: a.metric,
                    value: a.value,
                    threshold: a.threshold,
                    unit: a.metric.unit(),
                }));
            }
        }
        out
    }
}

impl Dispatcher {
    /// `repeat_every` reminders due at `now` (wall clock, unix seconds) for
    /// the open incidents (`open`, with their figures now).
    pub fn incident_reminders(
        &mut self,
        open: &[IncidentTransition],
        defs: &[IncidentDef],
        now: i64,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        for t in open {
            let Some(every) = defs
                .iter()
                .find(|d| d.name == t.name)
                .and_then(|d| d.repeat_every)
            else {
                continue;
            };
            let last = self.notified.entry(t.fingerprint()).or_insert(now);
            if now - *last >= every.as_secs() as i64 {
                *last = now;
                let mut t = t.clone();
                t.reason = Reason::Reminder;
                t.at = Timestamp(now);
                out.push(Event::Incident(t));
            }
        }
        out
    }
}

/// Whether `by` (what holds a transition) names a rule, and the
/// suppression reason and words for it: a rule's `inhibits` first (SPEC
/// 13's order), then an incident's.
fn suppression(by: &[String], rules: &[Rule]) -> (bool, &'static str, &'static str) {
    if by.iter().any(|n| rules.iter().any(|r| r.name == *n)) {
        (true, "inhibited", "rule inhibition")
    } else {
        (false, "incident", "an incident")
    }
}

/// How the config says alerts are shown.
fn presentation(config: &Config) -> Presentation {
    Presentation {
        time_zone: config.display.time_zone.clone(),
        links: config.links.clone(),
    }
}

/// The key the outbox remembers a transition by: notifier, fingerprint,
/// state and since (and the time, for a reminder).
fn transition_key(notifier: &str, v: &AlertView) -> String {
    let extra = if v.reminder {
        format!("|reminder@{}", v.at)
    } else {
        String::new()
    };
    format!(
        "{notifier}|{}|{}|{}{extra}",
        v.fingerprint,
        v.state.as_str(),
        v.since
    )
}

fn print_flushed(text: &str) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{text}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvMode;
    use crate::metrics::DeliveryMetrics;
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo, Unit};
    use crate::rules::Severity;
    use std::path::Path;

    /// A lifecycle with nothing pending or firing.
    struct Nothing;
    impl Engaged for Nothing {
        fn engaged(&self, _: &MeetingInfo, _: &str) -> Vec<&str> {
            Vec::new()
        }
        fn firing_now(&self, _: &MeetingInfo, _: &str, _: &str) -> Option<Transition> {
            None
        }
    }

    fn firing(user: &str) -> Event {
        Event::Alert(Transition {
            state: State::Firing,
            reason: Reason::Condition,
            rule: Arc::from("lat"),
            severity: Severity::Warning,
            meeting: MeetingInfo {
                id: Some(Arc::from("1")),
                uuid: None,
                topic: None,
            },
            participant: ParticipantInfo {
                user_id: Arc::from(user),
                ..ParticipantInfo::default()
            },
            at: Timestamp(60),
            since: Timestamp(60),
            metric: Metric::from_path("audio_input.latency").unwrap(),
            value: 200.0,
            threshold: 150.0,
            unit: Unit::Ms,
        })
    }

    #[test]
    fn a_message_carries_only_transitions_not_sent_before() {
        // Before: a batch re-evaluated after a crash was queued whole when
        // one of its transitions was new, re-sending the others.
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap());
        let config = Config::from_str(
            Path::new("q.yaml"),
            "replay: x/\nnotifiers:\n  hook: { type: webhook, url: \"http://127.0.0.1:9/h\" }\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let mut d = Dispatcher::new(&config, DeliveryMode::Outbox(outbox.clone()));
        d.dispatch(&[firing("a")], &[], &Nothing, 100);
        assert_eq!(outbox.pending(), 1);
        d.dispatch(&[firing("a"), firing("b")], &[], &Nothing, 100);
        assert_eq!(outbox.pending(), 2);
        let second = outbox.expire("hook", -1.0, f64::MAX);
        let body: serde_json::Value = serde_json::from_str(&second[1].body).unwrap();
        let alerts = body["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{body:#}");
        assert_eq!(alerts[0]["labels"]["participant"], "b");
    }

    fn two_hooks() -> (Dispatcher, Arc<Outbox>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(dir.path(), DeliveryMetrics::default()).unwrap());
        let config = Config::from_str(
            Path::new("q.yaml"),
            "replay: x/\nnotifiers:\n  a: { type: webhook, url: \"http://127.0.0.1:9/a\" }\n  b: { type: webhook, url: \"http://127.0.0.1:9/b\" }\n",
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let d = Dispatcher::new(&config, DeliveryMode::Outbox(outbox.clone()));
        (d, outbox, dir)
    }

    #[test]
    fn an_alert_about_a_notifier_never_goes_to_it_and_resolves_where_it_fired() {
        use crate::alert::system::{NOTIFIER_FAILING, SystemAlertState};
        let (mut d, outbox, _dir) = two_hooks();
        let mut state =
            SystemAlertState::labelled(BTreeMap::from([("notifier".to_owned(), "a".to_owned())]));
        let fired = state
            .raise(NOTIFIER_FAILING, "a refuses".into(), Timestamp(10))
            .unwrap();
        d.dispatch(&[Event::System(fired)], &[], &Nothing, 10);
        assert_eq!(outbox.depth().get("a"), None, "{:?}", outbox.depth());
        assert_eq!(outbox.depth()["b"], 1);
        let resolved = state
            .clear(NOTIFIER_FAILING, "a delivers".into(), Timestamp(20))
            .unwrap();
        d.dispatch(&[Event::System(resolved)], &[], &Nothing, 20);
        assert_eq!(outbox.depth().get("a"), None);
        assert_eq!(outbox.depth()["b"], 2);
    }

    #[test]
    fn a_resolution_goes_to_the_notifiers_that_got_the_firing() {
        let (mut d, outbox, _dir) = two_hooks();
        let config = |notify: &str| {
            Config::from_str(
                Path::new("q.yaml"),
                &format!("replay: x/\nnotifiers:\n  a: {{ type: console }}\n  b: {{ type: console }}\nroutes:\n  - notify: [{notify}]\n"),
                EnvMode::Strict,
                &|_| None,
            )
            .unwrap()
            .routes
        };
        d.set_routes(config("a"));
        d.dispatch(&[firing("u")], &[], &Nothing, 10);
        // The routes change (a reload) while it fires: the resolution still
        // goes where the firing went.
        d.set_routes(config("b"));
        let Event::Alert(mut t) = firing("u") else {
            unreachable!()
        };
        t.state = State::Resolved;
        t.at = Timestamp(120);
        d.dispatch(&[Event::Alert(t)], &[], &Nothing, 20);
        assert_eq!(outbox.depth()["a"], 2, "{:?}", outbox.depth());
        assert_eq!(outbox.depth().get("b"), None);
    }

    /// Routes of a config with `always` (every instant) and `never` (no
    /// instant) time intervals and notifiers `a` and `b`.
    fn routes_with(routes: &str) -> Vec<RouteConfig> {
        Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x/\ntime_intervals:\n  - name: always\n    time_intervals: [{{}}]\n  - name: never\n    time_intervals: []\nnotifiers:\n  a: {{ type: console }}\n  b: {{ type: console }}\nroutes:\n{routes}"),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap()
        .routes
    }

    fn with_state(e: &Event, state: State, reason: Reason) -> Event {
        let Event::Alert(t) = e else { unreachable!() };
        let mut t = t.clone();
        t.state = state;
        t.reason = reason;
        t.at = Timestamp(t.at.0 + 60);
        Event::Alert(t)
    }

    #[test]
    fn a_muted_firing_is_dropped_for_good_and_its_resolution_is_not_sent() {
        let (d, outbox, _dir) = two_hooks();
        let metrics = DeliveryMetrics::default();
        let mut d = d.with_metrics(&metrics);
        let count = |reason: &str| metrics.suppressed.with_label_values(&[reason]).get();
        assert_eq!((count("muted"), count("inactive")), (0, 0));
        // `a` muted, `b` outside its active intervals: sent nowhere.
        d.set_routes(routes_with(
            "  - notify: [a]\n    mute_time_intervals: [always]\n    continue: true\n  - notify: [b]\n    active_time_intervals: [never]\n",
        ));
        let u = firing("u");
        d.dispatch(std::slice::from_ref(&u), &[], &Nothing, 100);
        assert_eq!(outbox.pending(), 0);
        assert_eq!((count("muted"), count("inactive")), (1, 1));
        let Event::Alert(t) = &u else { unreachable!() };
        assert_eq!(d.take_mute_changes(), [(t.fingerprint(), true)]);
        assert_eq!(d.muted(), [(t.fingerprint(), true)]);
        // The intervals end (a reload without them): nothing is sent
        // late, no reminder goes out, and the resolution follows the
        // firing: nowhere.
        d.set_routes(routes_with("  - notify: [a, b]\n"));
        d.dispatch(
            &[with_state(&u, State::Firing, Reason::Reminder)],
            &[],
            &Nothing,
            200,
        );
        assert_eq!(outbox.pending(), 0);
        d.dispatch(
            &[with_state(&u, State::Resolved, Reason::Condition)],
            &[],
            &Nothing,
            300,
        );
        assert_eq!(outbox.pending(), 0, "{:?}", outbox.depth());
        assert!(d.muted().is_empty());
        assert_eq!(
            (count("muted"), count("inactive")),
            (1, 1),
            "the resolution is no new suppression"
        );
        // A new firing now goes out to both.
        d.dispatch(&[firing("v")], &[], &Nothing, 400);
        assert_eq!(outbox.depth()["a"], 1);
        assert_eq!(outbox.depth()["b"], 1);
        assert!(d.take_mute_changes().is_empty());
    }

    #[test]
    fn a_firing_muted_on_one_notifier_resolves_only_where_it_went() {
        let (d, outbox, _dir) = two_hooks();
        let metrics = DeliveryMetrics::default();
        let mut d = d.with_metrics(&metrics);
        d.set_routes(routes_with(
            "  - notify: [a]\n    mute_time_intervals: [never, always]\n    continue: true\n  - notify: [b]\n    active_time_intervals: [never, always]\n",
        ));
        let w = firing("w");
        d.dispatch(std::slice::from_ref(&w), &[], &Nothing, 100);
        assert_eq!(outbox.depth().get("a"), None);
        assert_eq!(outbox.depth()["b"], 1);
        assert!(
            d.take_mute_changes().is_empty(),
            "sent somewhere: not muted"
        );
        assert_eq!(metrics.suppressed.with_label_values(&["muted"]).get(), 1);
        d.set_routes(routes_with("  - notify: [a, b]\n"));
        d.dispatch(
            &[with_state(&w, State::Resolved, Reason::Condition)],
            &[],
            &Nothing,
            200,
        );
        assert_eq!(outbox.depth().get("a"), None);
        assert_eq!(outbox.depth()["b"], 2);
    }
}
