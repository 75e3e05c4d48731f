//! The running pipeline: source events in, the engine's transitions out
//! through the dispatcher, with the service's own alerts (source down,
//! config invalid, state unwritable, notifier failing) and its status kept
//! current.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::health::{NotifierHealth, SourceHealth};
use super::reload::ReloadState;
use super::{state, status};
use crate::alert::lifecycle::sort_transitions;
use crate::alert::system::{STATE_UNWRITABLE, SystemAlertState};
use crate::alert::{Engine, Event, SystemAlert, Transition};
use crate::config::Config;
use crate::http::HttpState;
use crate::incident::{IncidentEngine, IncidentTransition, MemberUpdate};
use crate::metrics::ServiceMetrics;
use crate::notify::delivery::ReceiverHealth;
use crate::notify::dispatch::Dispatcher;
use crate::notify::inhibit::WithIncidents;
use crate::qos::Timestamp;
use crate::rules::RuleSet;
use crate::source::poller::PollerCommand;
use crate::source::{Batch, SourceEvent};

/// Wall-clock now, for what has no sample time (resolutions at a meeting's
/// end, the service's own alerts, reminders).
pub fn now_ts() -> Timestamp {
    Timestamp(chrono::Utc::now().timestamp())
}

/// How far ahead of the clock a sample may be dated (seconds).
pub const MAX_AHEAD: i64 = 300;

/// Engine, dispatcher and the service's own state.
pub struct Pipeline {
    pub(super) config: Config,
    pub(super) engine: Engine,
    /// Incidents over the engine's alerts (SPEC 12), fed after every batch.
    pub(super) incidents: IncidentEngine,
    /// Incident transitions of the last batch, delivered with its alerts.
    incident_out: Vec<IncidentTransition>,
    /// Whether member firings wait out an incident's `hold` (`run` on a
    /// live source only).
    pub(super) holds: bool,
    pub(super) dispatcher: Dispatcher,
    pub(super) metrics: ServiceMetrics,
    pub(super) reloads: ReloadState,
    health: SourceHealth,
    /// `qoswatch-state-unwritable`, and why the last state save failed.
    unwritable: SystemAlertState,
    state_error: Option<String>,
    /// What the delivery workers heard from each receiver, and the
    /// `qoswatch-notifier-failing` alerts raised from it, when delivering.
    notifiers: Option<(Arc<ReceiverHealth>, NotifierHealth)>,
    /// The HTTP endpoints' state, when serving.
    http: Option<Arc<HttpState>>,
    /// Engine state changed since the last save.
    dirty: bool,
    /// An alert changed state since the last save: save soon.
    urgent: bool,
    /// Each silence's state at the last tick: when one changes, what is
    /// silenced is judged again.
    silence_states: std::collections::BTreeMap<String, crate::silence::SilenceState>,
    /// The poller's commands, when its quiet cadence needs to know which
    /// meetings have alerts pending or firing (`engaged`: those that have,
    /// as last told).
    steer: Option<tokio::sync::mpsc::Sender<PollerCommand>>,
    engaged: std::collections::HashSet<Arc<str>>,
}

impl Pipeline {
    pub fn new(
        config: Config,
        rules: RuleSet,
        dispatcher: Dispatcher,
        metrics: ServiceMetrics,
    ) -> Pipeline {
        Pipeline {
            health: SourceHealth::new(config.poll.source_down_after),
            incidents: IncidentEngine::new(rules.incidents.clone(), None),
            incident_out: Vec::new(),
            holds: false,
            config,
            engine: Engine::new(rules),
            dispatcher,
            metrics,
            reloads: ReloadState::default(),
            unwritable: SystemAlertState::default(),
            state_error: None,
            notifiers: None,
            http: None,
            dirty: false,
            urgent: false,
            silence_states: Default::default(),
            steer: None,
            engaged: std::collections::HashSet::new(),
        }
    }

    /// Watches the notifiers' receivers from now on: one that refuses a
    /// message for good, or has had no success for `failing_after` while
    /// messages wait, raises `qoswatch-notifier-failing` (checked on
    /// [`Pipeline::tick`]).
    pub fn watch_notifiers(&mut self, receivers: Arc<ReceiverHealth>, failing_after: Duration) {
        let started = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        self.notifiers = Some((receivers, NotifierHealth::new(failing_after, started)));
    }

    /// The alert engine (tests, `/api/alerts`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Messages handed to notifiers so far.
    pub fn messages(&self) -> usize {
        self.dispatcher.messages()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Publishes status to the HTTP endpoints from now on.
    pub fn serve_status(&mut self, http: Arc<HttpState>) {
        self.http = Some(http);
        self.publish();
    }

    /// Handles one source event; `false` when the source has finished.
    pub fn on_source_event(&mut self, event: SourceEvent) -> bool {
        let events = match event {
            SourceEvent::Batch(b) => {
                let mut events: Vec<Event> = self
                    .handle_batch(b, now_ts())
                    .into_iter()
                    .map(Event::Alert)
                    .collect();
                events.extend(self.incident_out.drain(..).map(Event::Incident));
                events
            }
            SourceEvent::Healthy => self.source_ok(),
            SourceEvent::Failed { error, since } => {
                // The wall-clock start of the failing call, as an instant.
                let ago = (chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - since).max(0.0);
                let since = Instant::now()
                    .checked_sub(std::time::Duration::from_secs_f64(ago))
                    .unwrap_or_else(Instant::now);
                self.source_failed(error, since)
            }
            SourceEvent::ParticipantLeft {
                meeting,
                user_id,
                at,
            } => self.participant_left(&meeting, &user_id, at),
            SourceEvent::Finished => {
                tracing::info!("replay finished");
                return false;
            }
        };
        self.deliver(&events);
        true
    }

    /// A participant left (an event said so): its alerts resolve with
    /// reason `participant_left`.
    fn participant_left(
        &mut self,
        meeting: &crate::qos::MeetingInfo,
        user_id: &str,
        at: Timestamp,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        self.engine.participant_left(meeting, user_id, at, &mut out);
        if !self.incidents.defs().is_empty() {
            self.incidents.leave(meeting, user_id);
            for t in &out {
                self.incidents.on_alert(t);
            }
            let changed = self.incidents.evaluate(at);
            self.incident_out.extend(changed);
        }
        if !out.is_empty() {
            self.dirty = true;
        }
        self.note_engaged(meeting);
        let mut events: Vec<Event> = out.into_iter().map(Event::Alert).collect();
        events.extend(self.incident_out.drain(..).map(Event::Incident));
        events
    }

    /// Tells the poller (when it is steered: `poll.quiet_every`) whether
    /// the meeting now has an alert pending or firing, when that changed.
    fn note_engaged(&mut self, meeting: &crate::qos::MeetingInfo) {
        let Some(steer) = &self.steer else {
            return;
        };
        let Some(key) = meeting.key() else {
            return;
        };
        let engaged = self.engine.meeting_engaged(meeting);
        let changed = if engaged {
            self.engaged.insert(key.clone())
        } else {
            self.engaged.remove(key)
        };
        if changed {
            let command = PollerCommand::Engaged {
                meeting: key.to_string(),
                engaged,
            };
            if steer.try_send(command).is_err() {
                tracing::warn!(meeting = %key, "the poller's command queue is full; its cadence may lag");
            }
        }
    }

    /// Steers the poller's quiet cadence from now on: it hears which
    /// meetings have alerts pending or firing.
    pub fn steer_poller(&mut self, steer: tokio::sync::mpsc::Sender<PollerCommand>) {
        self.steer = Some(steer);
    }

    /// Applies one batch to the engine at wall-clock `now`; returns the
    /// transitions, in order.
    pub fn handle_batch(&mut self, mut batch: Batch, now: Timestamp) -> Vec<Transition> {
        self.dirty = true;
        self.reject_future_samples(&mut batch, now);
        // `until: meeting_end` silences learn their instance, or end.
        if let Some(stage) = self.dispatcher.silences() {
            stage.silences().meeting(&batch.meeting, batch.ended, now.0);
        }
        // Each participant's site, once as it enters, from the config in
        // force: rules, routes and templates read it from there.
        if !self.config.sites.is_empty() {
            for p in &mut batch.participants {
                p.info.site = self.config.sites.site_for(&p.info);
            }
        }
        let mut out = Vec::new();
        let meeting = &batch.meeting;
        if batch.ended {
            status::watched(meeting, std::iter::empty(), &[], true, self.http.as_deref());
            self.engine.meeting_ended(meeting, batch.at, &mut out);
            if let Some(key) = meeting.key() {
                self.engaged.remove(key);
            }
            if !self.incidents.defs().is_empty() {
                for t in &out {
                    self.incidents.on_alert(t);
                }
                let ended = self.incidents.end_meeting(meeting, batch.at);
                self.incident_out.extend(ended);
                let changed = self.incidents.evaluate(batch.at);
                self.incident_out.extend(changed);
            }
            return out;
        }
        self.metrics.samples.inc_by(
            batch
                .participants
                .iter()
                .map(|p| p.samples.len() as u64)
                .sum(),
        );
        let newest = self
            .engine
            .observe_poll(meeting, &batch.participants, &mut out);
        let incidents = !self.incidents.defs().is_empty();
        let mut batch_at: Option<Timestamp> = None;
        let mut gone: Vec<Arc<str>> = Vec::new();
        // The poller skips samples it delivered before, so the newest
        // sample is the engine's, not this batch's.
        for (p, newest) in batch.participants.iter().zip(newest) {
            let left = matches!((p.info.leave_time, newest), (Some(leave), Some(n)) if leave > n);
            if left && let (Some(leave), Some(_)) = (p.info.leave_time, newest) {
                self.engine
                    .participant_left(meeting, &p.info.user_id, leave, &mut out);
                gone.push(p.info.user_id.clone());
            }
            if incidents && let Some(n) = newest {
                batch_at = Some(batch_at.map_or(n, |b| b.max(n)));
                self.incidents.observe(MemberUpdate {
                    meeting,
                    participant: &p.info,
                    site: p.info.site.as_deref(),
                    newest: n,
                    present: !left,
                });
            }
        }
        if batch.complete {
            // Small meetings are searched in place; a set pays off for large ones.
            let listed = &batch.participants;
            let set: Option<std::collections::HashSet<&str>> =
                (listed.len() > 32).then(|| listed.iter().map(|p| &*p.info.user_id).collect());
            let present = |user: &str| match &set {
                Some(set) => set.contains(user),
                None => listed.iter().any(|p| &*p.info.user_id == user),
            };
            for user in self.engine.participants_absent(meeting, present) {
                self.engine
                    .participant_left(meeting, &user, batch.at, &mut out);
                if incidents {
                    self.incidents.leave(meeting, &user);
                }
                gone.push(user);
            }
        }
        if self.http.is_some() {
            let present = batch
                .participants
                .iter()
                .map(|p| &p.info)
                .filter(|p| !gone.contains(&p.user_id));
            status::watched(meeting, present, &gone, false, self.http.as_deref());
        }
        sort_transitions(&mut out);
        if incidents {
            for t in &out {
                self.incidents.on_alert(t);
            }
            let at = batch_at.unwrap_or(batch.at);
            let changed = self.incidents.evaluate(at);
            self.incident_out.extend(changed);
        }
        let meeting = batch.meeting.clone();
        self.note_engaged(&meeting);
        out
    }

    /// Drops samples dated more than [`MAX_AHEAD`] seconds after `now`:
    /// kept, one would make every later (correct) sample of that
    /// participant look old.
    fn reject_future_samples(&self, batch: &mut Batch, now: Timestamp) {
        let limit = now.0.saturating_add(MAX_AHEAD);
        for p in &mut batch.participants {
            let before = p.samples.len();
            p.samples.retain(|s| s.at.0 <= limit);
            let rejected = before - p.samples.len();
            if rejected > 0 {
                tracing::warn!(
                    meeting = batch.meeting.key().map(|k| k.to_string()).unwrap_or_default(),
                    participant = %p.info.user_id,
                    rejected,
                    "ignoring samples dated more than 5 minutes ahead of the clock"
                );
                self.metrics
                    .samples_rejected
                    .with_label_values(&["future"])
                    .inc_by(rejected as u64);
            }
        }
    }

    fn source_ok(&mut self) -> Vec<Event> {
        self.metrics.source_up.set(1);
        if let Some(h) = &self.http
            && let Ok(mut st) = h.status.lock()
        {
            st.last_source_ok = Some(Instant::now());
        }
        self.health
            .ok(now_ts())
            .map(Event::System)
            .into_iter()
            .collect()
    }

    fn source_failed(&mut self, error: String, since: Instant) -> Vec<Event> {
        self.metrics.source_up.set(0);
        self.health
            .failed(error, since, Instant::now(), now_ts())
            .map(Event::System)
            .into_iter()
            .collect()
    }

    /// Routes, groups and queues events (one call = one group per notifier),
    /// and publishes the new state at once.
    pub fn deliver(&mut self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        self.dirty = true;
        self.urgent = true;
        let engaged = WithIncidents {
            engine: &self.engine,
            incidents: &self.incidents,
            // Without holds, a clock past every deadline.
            now: if self.holds { now_ts().0 } else { i64::MAX },
        };
        self.dispatcher
            .dispatch(events, self.engine.rules(), &engaged, now_ts().0);
        status::apply(events, &self.metrics, self.http.as_deref());
        status::inhibited(
            &self.dispatcher.take_inhibition_changes(),
            self.http.as_deref(),
        );
        status::muted(&self.dispatcher.take_mute_changes(), self.http.as_deref());
        self.publish_silence_changes();
    }

    /// Alerts silenced or let go since the last call, to `/api/alerts`.
    fn publish_silence_changes(&mut self) {
        if let Some(stage) = self.dispatcher.silences_mut() {
            status::silenced(&stage.take_changes(), self.http.as_deref());
        }
    }

    pub(super) fn publish(&self) {
        status::publish(&self.engine, &self.metrics, self.http.as_deref());
        status::publish_incidents(&self.incidents, self.http.as_deref());
        status::inhibited(&self.dispatcher.inhibited(), self.http.as_deref());
        status::muted(&self.dispatcher.muted(), self.http.as_deref());
        self.publish_silence_marks(now_ts());
    }

    /// Marks every firing alert with the silences matching it now, and each
    /// held incident with those holding it.
    fn publish_silence_marks(&self, at: Timestamp) {
        let Some(stage) = self.dispatcher.silences() else {
            return;
        };
        let marks = self
            .dispatcher
            .silence_marks(&self.engine.active(), self.engine.rules(), at.0);
        status::silenced(&marks, self.http.as_deref());
        status::silenced(&stage.held(), self.http.as_deref());
    }

    /// Once a second: drops silences expired a day ago; when a silence
    /// started or ended, sends the firings no silence holds any more and
    /// marks the alerts anew.
    fn check_silences(&mut self, at: Timestamp) {
        let Some(stage) = self.dispatcher.silences() else {
            return;
        };
        let shared = stage.silences().clone();
        shared.drop_old(at.0);
        let states = shared.states(at.0);
        if states == self.silence_states {
            return;
        }
        self.silence_states = states;
        let engaged = WithIncidents {
            engine: &self.engine,
            incidents: &self.incidents,
            now: at.0,
        };
        self.dispatcher
            .release_silenced(self.engine.rules(), &engaged, at.0);
        self.publish_silence_changes();
        self.publish_silence_marks(at);
        self.dirty = true;
        self.urgent = true;
    }

    /// Once a second in `run`: the source-down check; reminders when
    /// `reminders` is set.
    pub fn tick(&mut self, now: Instant, reminders: bool) {
        let at = now_ts();
        let mut events: Vec<Event> = self
            .health
            .check(now, at)
            .map(Event::System)
            .into_iter()
            .collect();
        events.extend(self.check_writes(at).map(Event::System));
        if self.dispatcher.waiting() {
            // Member firings whose `hold` is over, with no incident formed.
            let engaged = WithIncidents {
                engine: &self.engine,
                incidents: &self.incidents,
                now: at.0,
            };
            self.dispatcher
                .dispatch(&[], self.engine.rules(), &engaged, at.0);
            status::inhibited(
                &self.dispatcher.take_inhibition_changes(),
                self.http.as_deref(),
            );
            status::muted(&self.dispatcher.take_mute_changes(), self.http.as_deref());
            self.publish_silence_changes();
        }
        self.check_silences(at);
        events.extend(self.check_notifiers(at).into_iter().map(Event::System));
        if self.recheck_due(now) {
            let changes = self.reload(super::Reload::Rules, at);
            self.deliver(&changes);
        }
        if reminders {
            let active = self.engine.active();
            events.extend(
                self.dispatcher
                    .reminders(&active, self.engine.rules(), at.0),
            );
            if self
                .incidents
                .defs()
                .iter()
                .any(|d| d.repeat_every.is_some())
            {
                let open = self.incidents.open_incidents();
                events.extend(self.dispatcher.incident_reminders(
                    &open,
                    self.incidents.defs(),
                    at.0,
                ));
            }
        }
        // Each reminder is a message of its own.
        for e in events {
            self.deliver(std::slice::from_ref(&e));
        }
    }

    /// Raises or resolves `qoswatch-notifier-failing` for each notifier
    /// that posts.
    fn check_notifiers(&mut self, at: Timestamp) -> Vec<SystemAlert> {
        if self.http.is_some() {
            let list = self
                .dispatcher
                .notifiers()
                .map(|n| crate::http::NotifierStatus {
                    name: n.config.name.clone(),
                    kind: n.channel.kind().to_owned(),
                    last_error: self
                        .notifiers
                        .as_ref()
                        .and_then(|(r, _)| r.get(&n.config.name).last_error),
                })
                .collect();
            status::notifiers(list, self.http.as_deref());
        }
        let (Some((receivers, health)), Some(outbox)) =
            (&mut self.notifiers, self.dispatcher.outbox())
        else {
            return Vec::new();
        };
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let depth = outbox.depth();
        self.dispatcher
            .remote()
            .filter_map(|n| {
                let name = n.config.name.as_str();
                let waiting = (
                    outbox.oldest_waiting(name),
                    depth.get(name).copied().unwrap_or(0),
                );
                health.check(name, &receivers.get(name), waiting, now, at)
            })
            .collect()
    }

    /// Retries outbox writes that failed, and raises or resolves
    /// `qoswatch-state-unwritable`.
    fn check_writes(&mut self, at: Timestamp) -> Option<SystemAlert> {
        let outbox_error = self
            .dispatcher
            .outbox()
            .filter(|o| !o.retry_writes())
            .and_then(|o| o.write_error());
        match outbox_error.or_else(|| self.state_error.clone()) {
            Some(error) => self.unwritable.raise(
                STATE_UNWRITABLE,
                format!("state_dir refuses writes; messages wait in memory only: {error}"),
                at,
            ),
            None => {
                self.unwritable
                    .clear(STATE_UNWRITABLE, "state_dir takes writes again".into(), at)
            }
        }
    }

    /// Whether the state should be saved now: transitions within seconds,
    /// the rest (sample times, pending counts) once a minute; the outbox's
    /// keys make a re-evaluation after a crash harmless.
    pub fn save_due(&self, since_last: std::time::Duration) -> bool {
        let due = if self.urgent { 5 } else { 60 };
        self.dirty && since_last.as_secs() >= due
    }

    /// Restores the saved alert state, if any.
    pub fn load_state(&mut self) {
        let Some(saved) = state::load(&self.config.state_dir) else {
            return;
        };
        let n = saved.engine.participants.len();
        self.engine.restore(saved.engine);
        self.incidents.restore(saved.incidents);
        self.dispatcher.restore_notified(saved.notified);
        self.dispatcher.restore_held(saved.held, &self.engine);
        self.dispatcher.restore_sent_to(saved.sent_to, saved.muted);
        if let Some(stage) = self.dispatcher.silences_mut() {
            stage.restore(saved.silenced, &self.engine);
        }
        tracing::info!(
            participants = n,
            firing = self.engine.active().len(),
            "restored alert state"
        );
        self.publish();
    }

    /// Persists the alert state.
    pub fn save_state(&mut self) {
        let (sent_to, muted) = self.dispatcher.sent_to();
        let saved = state::SavedState {
            version: 1,
            engine: self.engine.snapshot(),
            notified: self.dispatcher.notified().clone(),
            held: self.dispatcher.held(),
            incidents: self.incidents.snapshot(),
            sent_to,
            muted,
            silenced: self
                .dispatcher
                .silences()
                .map(|s| s.snapshot())
                .unwrap_or_default(),
        };
        match state::save(&self.config.state_dir, &saved) {
            Ok(()) => {
                self.dirty = false;
                self.urgent = false;
                self.state_error = None;
            }
            Err(e) => {
                let error = format!(
                    "cannot save the alert state {}: {e}",
                    state::path(&self.config.state_dir).display()
                );
                tracing::error!("{error}");
                self.state_error = Some(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Reason, State};
    use crate::config::EnvMode;
    use crate::notify::dispatch::DeliveryMode;
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo, ParticipantSamples, Sample};
    use crate::service::Reload;
    use std::path::Path;
    use std::sync::Arc;

    fn pipeline(rules: &str, extra: &str) -> Pipeline {
        let config = Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x/\n{extra}"),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_str(Path::new("r.yaml"), rules).unwrap();
        let dispatcher = Dispatcher::new(&config, DeliveryMode::DryRun);
        Pipeline::new(config, rules, dispatcher, ServiceMetrics::default())
    }

    fn meeting() -> MeetingInfo {
        MeetingInfo {
            id: Some(Arc::from("1")),
            uuid: Some(Arc::from("u==")),
            topic: Some(Arc::from("Sync")),
        }
    }

    fn person(user: &str, latencies: &[(i64, f64)]) -> ParticipantSamples {
        let metric = Metric::from_path("audio_input.latency").unwrap();
        ParticipantSamples {
            info: ParticipantInfo {
                user_id: Arc::from(user),
                ..ParticipantInfo::default()
            },
            samples: latencies
                .iter()
                .map(|(t, v)| {
                    let mut s = Sample::empty(Timestamp(*t));
                    s.set(metric, Some(*v));
                    s
                })
                .collect(),
        }
    }

    fn batch(participants: Vec<ParticipantSamples>, at: i64) -> Batch {
        Batch {
            meeting: meeting(),
            participants,
            complete: true,
            ended: false,
            at: Timestamp(at),
        }
    }

    /// The clock of these tests: well after every sample.
    fn handle(s: &mut Pipeline, b: Batch) -> Vec<Transition> {
        s.handle_batch(b, Timestamp(1_000_000))
    }

    #[test]
    fn samples_from_the_future_are_ignored_and_counted() {
        // Before: one sample stamped 2099 made every later sample of that
        // participant look old, silently.
        let mut s = pipeline(RULE, "");
        let out = s.handle_batch(
            batch(vec![person("a", &[(4_000_000_000, 300.0)])], 10),
            Timestamp(1000),
        );
        assert!(out.is_empty(), "{out:#?}");
        assert_eq!(
            s.metrics
                .samples_rejected
                .with_label_values(&["future"])
                .get(),
            1
        );
        // A sample up to 5 minutes ahead is accepted (clocks drift).
        let out = s.handle_batch(
            batch(vec![person("a", &[(1290, 300.0)])], 20),
            Timestamp(1000),
        );
        assert_eq!(out.len(), 1, "the participant is not blinded");
    }

    #[test]
    fn an_emptied_rule_file_keeps_the_last_good_rules_until_it_settles() {
        // Before: a reload that caught a file mid-save applied 0 rules and
        // resolved every firing alert as "rule changed", to fire again later.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yaml");
        std::fs::write(&file, RULE).unwrap();
        let config = Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x/\nrules: [{}]\n", file.display()),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_paths(&config.rules).unwrap();
        let dispatcher = Dispatcher::new(&config, DeliveryMode::DryRun);
        let mut s = Pipeline::new(config, rules, dispatcher, ServiceMetrics::default());
        handle(&mut s, batch(vec![person("a", &[(0, 200.0)])], 10));
        assert_eq!(s.engine().active().len(), 1);

        std::fs::write(&file, "").unwrap();
        let now = Instant::now();
        assert!(
            s.reload(Reload::Rules, Timestamp(20)).is_empty(),
            "first look: wait"
        );
        assert!(!s.recheck_due(now));
        assert!(s.recheck_due(now + std::time::Duration::from_secs(2)));
        let events = s.reload(Reload::Rules, Timestamp(21));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Firing && a.message.contains("became empty")),
            "{events:#?}"
        );
        assert_eq!(s.engine().rules().len(), 1, "the last good rules stay");
        assert_eq!(s.engine().active().len(), 1, "and the alert keeps firing");

        // Rules again: applied, and the alert resolves.
        std::fs::write(&file, RULE).unwrap();
        let events = s.reload(Reload::Rules, Timestamp(30));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Resolved),
            "{events:#?}"
        );
    }

    #[test]
    fn a_rule_reload_that_drops_a_routed_label_keeps_the_last_good_rules() {
        // A route on `team` would silently never match again.
        let labelled = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n    labels: { team: netops }\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yaml");
        std::fs::write(&file, labelled).unwrap();
        let config = Config::from_str(
            Path::new("q.yaml"),
            &format!(
                "replay: x/\nrules: [{}]\nnotifiers:\n  a: {{ type: console }}\nroutes:\n  - match: {{ team: netops }}\n    notify: [a]\n",
                file.display()
            ),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_paths(&config.rules).unwrap();
        config.check_labels(&rules).unwrap();
        let dispatcher = Dispatcher::new(&config, DeliveryMode::DryRun);
        let mut s = Pipeline::new(config, rules, dispatcher, ServiceMetrics::default());

        std::fs::write(&file, RULE).unwrap();
        let events = s.reload(Reload::Rules, Timestamp(20));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Firing && a.message.contains("unknown route `match` key `team`")),
            "{events:#?}"
        );
        assert_eq!(
            s.engine().rules()[0].labels["team"],
            "netops",
            "the last good rules stay"
        );

        std::fs::write(&file, labelled).unwrap();
        let events = s.reload(Reload::Rules, Timestamp(30));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Resolved),
            "{events:#?}"
        );
    }

    const RULE: &str = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n";

    #[test]
    fn the_site_is_set_as_samples_enter_and_survives_a_restart() {
        let rules = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n    match: { site: berlin }\n";
        let sites = "sites:\n  berlin: [10.20.0.0/16]\n  hq: [10.0.0.0/8]\n";
        let mut s = pipeline(rules, sites);
        let mut inside = person("a", &[(60, 300.0)]);
        inside.info.internal_ip_addresses = Arc::from([Box::from("10.20.1.5")]);
        let mut at_hq = person("b", &[(60, 300.0)]);
        at_hq
            .info
            .set_attribute("ip_address", Some(Arc::from("10.1.1.1")));
        let out = handle(&mut s, batch(vec![inside, at_hq], 100));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(&*out[0].participant.user_id, "a");
        assert_eq!(out[0].participant.site.as_deref(), Some("berlin"));
        // A restart restores the site with the alert.
        let mut again = pipeline(rules, sites);
        again.engine.restore(s.engine.snapshot());
        let active = again.engine.active();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].participant.site.as_deref(), Some("berlin"));
    }

    #[test]
    fn a_config_reload_applies_new_time_intervals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.yaml"),
            "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n",
        )
        .unwrap();
        let config_file = dir.path().join("q.yaml");
        let config_text = |quiet: &str| {
            format!(
                "replay: x/\nrules: [r.yaml]\nstate_dir: {}\ntime_intervals:\n  - name: quiet\n    time_intervals: {quiet}\nnotifiers:\n  a: {{ type: console }}\nroutes:\n  - notify: [a]\n    mute_time_intervals: [quiet]\n",
                dir.path().join("state").display()
            )
        };
        std::fs::write(&config_file, config_text("[{}]")).unwrap();
        let config = Config::load(&config_file, EnvMode::Strict).unwrap();
        let rule_set = crate::rules::load_paths(&config.rules).unwrap();
        let dispatcher = Dispatcher::new(&config, DeliveryMode::DryRun);
        let mut s = Pipeline::new(config, rule_set, dispatcher, ServiceMetrics::default());
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(60, 300.0)])],
            100,
        )));
        assert_eq!(s.dispatcher.messages(), 0, "muted");
        // SIGHUP with the interval covering no instant: the next firing
        // is sent.
        std::fs::write(&config_file, config_text("[]")).unwrap();
        assert!(s.reload(Reload::ConfigAndRules, Timestamp(110)).is_empty());
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("b", &[(120, 300.0)])],
            130,
        )));
        assert_eq!(s.dispatcher.messages(), 1);
    }

    #[test]
    fn a_config_reload_applies_new_sites_and_refuses_one_without_a_named_site() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("r.yaml");
        std::fs::write(&rules, "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n    match: { site: berlin }\n").unwrap();
        let config_file = dir.path().join("q.yaml");
        let config_text = |berlin: &str| {
            format!(
                "replay: x/\nrules: [r.yaml]\nsites:\n  {berlin}: [10.20.0.0/16]\n  berlin: [10.30.0.0/16]\n"
            )
        };
        std::fs::write(&config_file, config_text("hq")).unwrap();
        let config = Config::load(&config_file, EnvMode::Strict).unwrap();
        let rule_set = crate::rules::load_paths(&config.rules).unwrap();
        config.check_labels(&rule_set).unwrap();
        let dispatcher = Dispatcher::new(&config, DeliveryMode::DryRun);
        let mut s = Pipeline::new(config, rule_set, dispatcher, ServiceMetrics::default());
        let at = |user: &str, t: i64| {
            let mut p = person(user, &[(t, 300.0)]);
            p.info.internal_ip_addresses = Arc::from([Box::from("10.20.1.5")]);
            p
        };
        // 10.20/16 is hq's: the berlin rule does not apply.
        assert!(handle(&mut s, batch(vec![at("a", 60)], 100)).is_empty());
        // SIGHUP with 10.20/16 now berlin's (first in order): it does.
        std::fs::write(
            &config_file,
            "replay: x/\nrules: [r.yaml]\nsites:\n  berlin: [10.20.0.0/16]\n",
        )
        .unwrap();
        assert!(s.reload(Reload::ConfigAndRules, Timestamp(110)).is_empty());
        let out = handle(&mut s, batch(vec![at("a", 120)], 130));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].participant.site.as_deref(), Some("berlin"));
        // A config without `berlin` would leave the rule matching nothing:
        // refused, the running sites stay.
        std::fs::write(
            &config_file,
            config_text("hq").replace("  berlin: [10.30.0.0/16]\n", ""),
        )
        .unwrap();
        let events = s.reload(Reload::ConfigAndRules, Timestamp(140));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Firing && a.message.contains("names unknown site `berlin`")),
            "{events:#?}"
        );
        assert!(s.config().sites.names().eq(["berlin"]));
    }

    #[test]
    fn first_sight_announces_only_the_current_state() {
        let mut s = pipeline(RULE, "");
        // History: fired and resolved twice, firing at the newest sample.
        let out = handle(
            &mut s,
            batch(
                vec![
                    person(
                        "a",
                        &[
                            (0, 200.0),
                            (60, 10.0),
                            (120, 200.0),
                            (180, 10.0),
                            (240, 300.0),
                        ],
                    ),
                    person("b", &[(0, 300.0), (60, 10.0)]),
                ],
                250,
            ),
        );
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(
            (&*out[0].participant.user_id, out[0].reason, out[0].value),
            ("a", Reason::FirstSight, 300.0)
        );
        // The next poll repeats old samples and adds one: normal transitions.
        let out = handle(
            &mut s,
            batch(
                vec![
                    person("a", &[(180, 10.0), (240, 300.0), (300, 20.0)]),
                    person("b", &[(60, 10.0), (120, 10.0)]),
                ],
                310,
            ),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].state, out[0].reason),
            (State::Resolved, Reason::Condition)
        );
    }

    #[test]
    fn departures_and_meeting_end_resolve_with_a_reason() {
        let mut s = pipeline(RULE, "");
        handle(
            &mut s,
            batch(
                vec![
                    person("a", &[(0, 200.0)]),
                    person("b", &[(0, 200.0)]),
                    person("c", &[(0, 200.0)]),
                ],
                10,
            ),
        );
        // b is gone from the roster; c has a leave_time after its last sample.
        let mut c = person("c", &[(60, 200.0)]);
        c.info.leave_time = Some(Timestamp(90));
        let out = handle(&mut s, batch(vec![person("a", &[(60, 200.0)]), c], 100));
        let mut got: Vec<(String, Reason)> = out
            .iter()
            .map(|t| (t.participant.user_id.to_string(), t.reason))
            .collect();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            [
                ("b".to_owned(), Reason::ParticipantLeft),
                ("c".to_owned(), Reason::ParticipantLeft)
            ]
        );
        // A page of a per-participant target is not the roster.
        let mut partial = batch(vec![], 110);
        partial.complete = false;
        assert!(handle(&mut s, partial).is_empty());
        let mut ended = batch(vec![], 200);
        ended.ended = true;
        let out = handle(&mut s, ended);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (&*out[0].participant.user_id, out[0].reason, out[0].at),
            ("a", Reason::MeetingEnded, Timestamp(200))
        );
        assert!(s.engine().active().is_empty());
    }

    #[test]
    fn the_status_lists_an_alert_as_soon_as_it_is_delivered() {
        // Before: `/api/alerts` was refreshed on a 5 s timer, so an alert
        // could reach chat while the list was still empty.
        let mut s = pipeline(RULE, "");
        let http = Arc::new(HttpState::for_tests());
        s.serve_status(http.clone());
        let fired = s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(0, 200.0)])],
            10,
        )));
        assert!(fired);
        let alerts = http.status.lock().unwrap().alerts.clone();
        assert_eq!(alerts.len(), 1, "listed at once");
        assert_eq!(alerts.values().next().unwrap().participant, "a");
        assert_eq!(
            s.metrics
                .alerts_firing
                .with_label_values(&["lat", "warning"])
                .get(),
            1
        );
        let mut ended = batch(vec![], 100);
        ended.ended = true;
        s.on_source_event(SourceEvent::Batch(ended));
        assert!(
            http.status.lock().unwrap().alerts.is_empty(),
            "and unlisted at once"
        );
    }

    #[test]
    fn source_failures_raise_source_down_through_the_pipeline() {
        let mut s = pipeline(RULE, "poll:\n  source_down_after: 0s\n");
        let events = s.source_failed("polling meeting 1: HTTP 500".into(), Instant::now());
        assert!(
            matches!(&events[..], [Event::System(a)] if a.state == State::Firing && a.message.contains("HTTP 500"))
        );
        assert_eq!(s.metrics.source_up.get(), 0);
        let events = s.source_ok();
        assert!(matches!(&events[..], [Event::System(a)] if a.state == State::Resolved));
        assert_eq!(s.metrics.source_up.get(), 1);
    }

    #[test]
    fn a_muted_firing_stays_dropped_and_listed_muted_after_a_restart() {
        let rules = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n";
        let dir = tempfile::tempdir().unwrap();
        // `quiet` covers every instant, then (after the restart) none.
        let config = |quiet: &str| {
            format!(
                "state_dir: {}\ntime_intervals:\n  - name: quiet\n    time_intervals: {quiet}\nnotifiers:\n  a: {{ type: console }}\nroutes:\n  - notify: [a]\n    mute_time_intervals: [quiet]\n",
                dir.path().display()
            )
        };
        let http = || Arc::new(HttpState::for_tests());
        let muted = |h: &HttpState| -> Vec<(String, bool)> {
            let st = h.status.lock().unwrap();
            st.alerts
                .values()
                .map(|a| (a.rule.clone(), a.muted))
                .collect()
        };
        let mut s = pipeline(rules, &config("[{}]"));
        let h = http();
        s.serve_status(h.clone());
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(0, 500.0)])],
            10,
        )));
        assert_eq!(muted(&h), [("lat".to_owned(), true)]);
        assert_eq!(s.dispatcher.messages(), 0);
        s.save_state();

        let mut s = pipeline(rules, &config("[]"));
        s.load_state();
        let h = http();
        s.serve_status(h.clone());
        assert_eq!(muted(&h), [("lat".to_owned(), true)], "after a restart");
        // Unmuted now, it resolves: the resolution follows the firing,
        // nowhere.
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(60, 50.0)])],
            70,
        )));
        assert!(muted(&h).is_empty());
        assert_eq!(s.dispatcher.messages(), 0, "nothing sent");
        // A new firing is sent.
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(120, 500.0)])],
            130,
        )));
        assert_eq!(muted(&h), [("lat".to_owned(), false)]);
        assert_eq!(s.dispatcher.messages(), 1);
    }

    #[test]
    fn an_inhibited_alert_is_listed_with_its_inhibitor_also_after_a_restart() {
        let rules = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n  - name: lat-critical\n    when: audio_input.latency > 400ms\n    inhibits: [lat]\n";
        let dir = tempfile::tempdir().unwrap();
        let extra = format!("state_dir: {}\n", dir.path().display());
        let http = || Arc::new(HttpState::for_tests());
        let listed = |h: &HttpState| {
            let st = h.status.lock().unwrap();
            let mut v: Vec<(String, Vec<String>)> = st
                .alerts
                .values()
                .map(|a| (a.rule.clone(), a.inhibited_by.clone()))
                .collect();
            v.sort();
            v
        };
        let want = vec![
            ("lat".to_owned(), vec!["lat-critical".to_owned()]),
            ("lat-critical".to_owned(), vec![]),
        ];
        let mut s = pipeline(rules, &extra);
        let h = http();
        s.serve_status(h.clone());
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(0, 500.0)])],
            10,
        )));
        assert_eq!(listed(&h), want);
        s.save_state();

        let mut s = pipeline(rules, &extra);
        s.load_state();
        let h = http();
        s.serve_status(h.clone());
        assert_eq!(listed(&h), want, "after a restart");
        // The critical clears: the warning is let go and no longer marked.
        s.on_source_event(SourceEvent::Batch(batch(
            vec![person("a", &[(60, 200.0)])],
            70,
        )));
        assert_eq!(listed(&h), [("lat".to_owned(), vec![])]);
    }
}

#[cfg(test)]
mod silence_tests {
    use super::*;
    use crate::config::EnvMode;
    use crate::notify::dispatch::DeliveryMode;
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo, ParticipantSamples, Sample};
    use crate::silence::wire::{MatcherValue, SilenceRequest};
    use crate::silence::{SharedSilences, SilenceState};
    use std::path::Path;

    const RULE: &str = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n";

    fn pipeline(silences: &Arc<SharedSilences>, state_dir: &Path) -> (Pipeline, Arc<HttpState>) {
        let config = Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x/\nstate_dir: {}\n", state_dir.display()),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_str(Path::new("r.yaml"), RULE).unwrap();
        let dispatcher =
            Dispatcher::new(&config, DeliveryMode::DryRun).with_silences(silences.clone());
        let mut p = Pipeline::new(config, rules, dispatcher, ServiceMetrics::default());
        let http = Arc::new(HttpState::for_tests());
        p.serve_status(http.clone());
        (p, http)
    }

    fn meeting() -> MeetingInfo {
        MeetingInfo {
            id: Some(Arc::from("9")),
            uuid: Some(Arc::from("u==")),
            topic: Some(Arc::from("Sync")),
        }
    }

    fn batch(users: &[(&str, f64)], t: i64) -> SourceEvent {
        let metric = Metric::from_path("audio_input.latency").unwrap();
        SourceEvent::Batch(Batch {
            meeting: meeting(),
            participants: users
                .iter()
                .map(|(u, v)| {
                    let mut s = Sample::empty(Timestamp(t));
                    s.set(metric, Some(*v));
                    ParticipantSamples {
                        info: ParticipantInfo {
                            user_id: Arc::from(*u),
                            ..ParticipantInfo::default()
                        },
                        samples: vec![s],
                    }
                })
                .collect(),
            complete: true,
            ended: false,
            at: Timestamp(t),
        })
    }

    fn silence(shared: &SharedSilences, id: &str, matchers: &[(&str, &str)], until: bool) {
        let now = now_ts().0;
        let req = SilenceRequest {
            matchers: matchers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), MatcherValue::One((*v).to_owned())))
                .collect(),
            duration: (!until).then(|| "1h".to_owned()),
            until: until.then(|| "meeting_end".to_owned()),
            comment: "test".into(),
            ..SilenceRequest::default()
        };
        shared
            .add(req.check(&[], now).unwrap(), id.into(), now)
            .unwrap();
    }

    fn silenced_by(http: &HttpState) -> Vec<(String, Vec<String>)> {
        let st = http.status.lock().unwrap();
        st.alerts
            .values()
            .map(|a| (a.participant.clone(), a.silenced_by.clone()))
            .collect()
    }

    #[test]
    fn a_silenced_firing_is_listed_not_sent_and_sent_when_the_silence_ends() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(SharedSilences::in_memory(Default::default()));
        silence(&shared, "s1", &[("participant", "a")], false);
        let (mut p, http) = pipeline(&shared, dir.path());
        p.on_source_event(batch(&[("a", 300.0), ("b", 300.0)], 60));
        assert_eq!(p.messages(), 1, "b only");
        assert_eq!(
            silenced_by(&http),
            [("a".into(), vec!["s1".to_owned()]), ("b".into(), vec![])]
        );
        // Still firing; the silence is expired: sent once, at the next tick.
        p.tick(Instant::now(), false);
        assert_eq!(p.messages(), 1, "nothing changed");
        shared.expire("s1", now_ts().0).unwrap();
        p.tick(Instant::now(), false);
        assert_eq!(p.messages(), 2, "the held firing is sent");
        assert_eq!(silenced_by(&http)[0], ("a".into(), vec![]));
        p.tick(Instant::now(), false);
        assert_eq!(p.messages(), 2, "once");
    }

    #[test]
    fn a_held_firing_resolves_nowhere_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(SharedSilences::in_memory(Default::default()));
        silence(&shared, "s1", &[("rule", "lat")], false);
        let (mut p, _) = pipeline(&shared, dir.path());
        p.on_source_event(batch(&[("a", 300.0), ("b", 300.0)], 60));
        assert_eq!(p.messages(), 0);
        // a recovers: its resolution goes nowhere either.
        p.on_source_event(batch(&[("a", 10.0), ("b", 300.0)], 120));
        assert_eq!(p.messages(), 0);
        p.save_state();
        // A new process: b is still held, and sent when the silence ends.
        let (mut again, http) = pipeline(&shared, dir.path());
        again.load_state();
        assert_eq!(silenced_by(&http), [("b".into(), vec!["s1".to_owned()])]);
        again.tick(Instant::now(), false);
        assert_eq!(again.messages(), 0);
        shared.expire("s1", now_ts().0).unwrap();
        again.tick(Instant::now(), false);
        assert_eq!(again.messages(), 1);
    }

    #[test]
    fn an_until_meeting_end_silence_ends_with_its_meeting() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(SharedSilences::in_memory(Default::default()));
        silence(&shared, "m", &[("meeting", "9")], true);
        let (mut p, _) = pipeline(&shared, dir.path());
        p.on_source_event(batch(&[("a", 300.0)], 60));
        assert_eq!(p.messages(), 0);
        let SourceEvent::Batch(mut ended) = batch(&[], 120) else {
            unreachable!()
        };
        ended.ended = true;
        p.on_source_event(SourceEvent::Batch(ended));
        assert_eq!(
            shared.get("m").unwrap().state(now_ts().0),
            SilenceState::Expired
        );
        p.tick(Instant::now(), false);
        assert_eq!(
            p.messages(),
            0,
            "the meeting's end resolved it: nothing to send"
        );
    }
}
