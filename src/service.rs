//! The service: wires a source to the rule engine and the notifiers, reloads
//! rules live, raises alerts about itself, and stops cleanly.
//!
//! This is the only module that knows every stage.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alert::system::{CONFIG_INVALID, SOURCE_DOWN, SystemAlertState};
use crate::alert::{Engine, Event, Transition};
use crate::config::{Config, EnvMode, NotifierKind};
use std::sync::Arc;

use crate::alert::lifecycle::Snapshot;
use crate::http::{ApiAlert, HttpState, Status};
use crate::metrics::Metrics;
use crate::notify::delivery::{DeliveryTuning, Outbox, OutboxError, Sender, run_worker};
use crate::notify::format::event_line;
use crate::notify::router::route;
use crate::notify::view::{AlertView, view};
use crate::notify::{slack, teams, webhook};
use crate::qos::Timestamp;
use crate::rules::{RuleSet, load_paths};
use crate::source::poller::{Poller, PollerTuning};
use crate::source::replay::{read_batch, replay_files};
use crate::source::{Batch, SourceEvent};
use crate::zoom::client::{RetryPolicy, ZoomClient};

/// Why the service could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("{0}")]
    LoadConfig(crate::yaml::Diagnostics),
    #[error("{0}")]
    LoadRules(crate::yaml::Diagnostics),
    #[error("config {0}: no source: set `zoom:` or `replay:`")]
    NoSource(PathBuf),
    #[error("{0}")]
    Replay(#[from] crate::source::replay::ReplayError),
    #[error("{0}")]
    Zoom(#[from] crate::zoom::client::ZoomError),
    #[error("watching rule files: {0}")]
    WatchRules(String),
    #[error("{0}")]
    Outbox(#[from] OutboxError),
    #[error("cannot listen on {addr} (http.listen): {source}")]
    BindHttp {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Knobs the binary leaves at their defaults and tests shrink.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub tuning: PollerTuning,
    pub retry: RetryPolicy,
    pub delivery: DeliveryTuning,
}

fn now_ts() -> Timestamp {
    Timestamp(chrono::Utc::now().timestamp())
}

/// Where events go: routing, grouping, payloads, and the outbox.
struct Hub {
    routes: Vec<crate::config::RouteConfig>,
    notifiers: std::collections::BTreeMap<String, crate::config::NotifierConfig>,
    names: Vec<String>,
    outbox: Option<Arc<Outbox>>,
    dry_run: bool,
}

impl Hub {
    fn new(config: &Config, outbox: Option<Arc<Outbox>>, dry_run: bool) -> Hub {
        let mut notifiers = config.notifiers.clone();
        if notifiers.is_empty() {
            tracing::info!("no notifiers configured: alerts go to the console");
            notifiers.insert(
                "console".into(),
                crate::config::NotifierConfig {
                    name: "console".into(),
                    kind: NotifierKind::Console,
                    max_age: Duration::from_secs(3600),
                },
            );
        }
        let names = notifiers.keys().cloned().collect();
        Hub {
            routes: config.routes.clone(),
            notifiers,
            names,
            outbox,
            dry_run,
        }
    }

    /// Routes, groups (one message per notifier for the events given, which
    /// come from one poll of one meeting), renders and enqueues.
    fn dispatch(&self, events: &[Event], rules: &[crate::rules::Rule]) {
        if events.is_empty() {
            return;
        }
        let views: Vec<AlertView> = events.iter().map(|e| view(e, rules)).collect();
        let mut groups: std::collections::BTreeMap<&str, (usize, Vec<usize>)> =
            std::collections::BTreeMap::new();
        for (i, v) in views.iter().enumerate() {
            for (name, limit) in route(&self.routes, &self.names, v) {
                groups.entry(name).or_insert((limit, Vec::new())).1.push(i);
            }
        }
        for (name, (limit, idx)) in groups {
            let Some(cfg) = self.notifiers.get(name) else {
                continue;
            };
            // An alert this notifier was already told is firing (before a
            // restart whose state save it outran) is not announced again at
            // first sight.
            let idx: Vec<usize> = idx
                .into_iter()
                .filter(|i| {
                    let v = &views[*i];
                    !(v.first_sight
                        && self
                            .outbox
                            .as_ref()
                            .is_some_and(|o| o.is_open(name, &v.fingerprint)))
                })
                .collect();
            if idx.is_empty() {
                continue;
            }
            let group: Vec<AlertView> = idx.iter().map(|i| views[*i].clone()).collect();
            let body = match &cfg.kind {
                NotifierKind::Console => {
                    let lines: Vec<String> = idx.iter().map(|i| event_line(&events[*i])).collect();
                    let text = lines.join("\n");
                    if self.dry_run {
                        println!("--- {name} (console)\n{text}");
                    } else if let Err(e) = writeln_stdout(&text) {
                        tracing::error!("writing to the console failed: {e}");
                    }
                    continue;
                }
                NotifierKind::Slack { .. } => slack::payload(&group, limit),
                NotifierKind::Teams {
                    message_card: false,
                    ..
                } => teams::payload(&group, limit),
                NotifierKind::Teams {
                    message_card: true, ..
                } => teams::message_card(&group, limit),
                NotifierKind::Webhook { .. } => webhook::payload(&group, limit, name),
            };
            let summary = slack::title(&group);
            if self.dry_run {
                println!(
                    "--- {name} ({})\n{}",
                    kind_name(&cfg.kind),
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
                continue;
            }
            let keys: Vec<String> = group
                .iter()
                .map(|v| {
                    let extra = if v.reminder {
                        format!("|reminder@{}", v.at)
                    } else {
                        String::new()
                    };
                    format!("{name}|{}|{}|{}{extra}", v.fingerprint, v.state, v.since)
                })
                .collect();
            if let Some(outbox) = &self.outbox {
                match outbox.enqueue(name, body.to_string(), keys, summary) {
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
}

fn writeln_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{text}")?;
    out.flush()
}

fn kind_name(kind: &NotifierKind) -> &'static str {
    match kind {
        NotifierKind::Slack { .. } => "slack",
        NotifierKind::Teams {
            message_card: false,
            ..
        } => "teams",
        NotifierKind::Teams {
            message_card: true, ..
        } => "teams messagecard",
        NotifierKind::Webhook { .. } => "webhook",
        NotifierKind::Console => "console",
    }
}

/// What `state_dir/alerts.json` holds.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct SavedState {
    version: u32,
    engine: Snapshot,
    /// When each firing alert was last notified (unix seconds), for reminders.
    notified: std::collections::BTreeMap<String, i64>,
}

/// The running state of the service.
pub struct Service {
    config: Config,
    engine: Engine,
    hub: Hub,
    /// When each firing alert was last notified (unix seconds), for `repeat_every`.
    notified: std::collections::BTreeMap<String, i64>,
    /// Engine state changed since the last save.
    dirty: bool,
    /// An alert changed state since the last save: save soon.
    urgent: bool,
    /// Alerts changed since `/api/alerts` was last published.
    status_stale: bool,
    /// The HTTP endpoints' shared state, when serving.
    http: Option<Arc<HttpState>>,
    /// The last config reload failed (a rule-file reload must not clear
    /// `qoswatch-config-invalid` then).
    config_broken: bool,
    source_down: SystemAlertState,
    config_invalid: SystemAlertState,
    failing_since: Option<Instant>,
    last_error: String,
}

impl Service {
    /// Loads the config and rules; any error stops the start.
    pub fn load(config_path: &std::path::Path) -> Result<Service, ServiceError> {
        let config =
            Config::load(config_path, EnvMode::Strict).map_err(ServiceError::LoadConfig)?;
        let rules = load_paths(&config.rules).map_err(ServiceError::LoadRules)?;
        tracing::info!(rules = rules.rules.len(), config = %config_path.display(), "loaded rules");
        Ok(Service::new(config, rules))
    }

    pub fn new(config: Config, rules: RuleSet) -> Service {
        let hub = Hub::new(&config, None, false);
        Service {
            config,
            engine: Engine::new(rules),
            hub,
            notified: std::collections::BTreeMap::new(),
            dirty: false,
            urgent: false,
            status_stale: true,
            http: None,
            config_broken: false,
            source_down: SystemAlertState::default(),
            config_invalid: SystemAlertState::default(),
            failing_since: None,
            last_error: String::new(),
        }
    }

    /// The alert engine (tests, `/api/alerts`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Applies one batch to the engine; returns the transitions.
    pub fn handle_batch(&mut self, batch: Batch) -> Vec<Transition> {
        self.dirty = true;
        let mut out = Vec::new();
        let meeting = &batch.meeting;
        if batch.ended {
            self.engine.meeting_ended(meeting, batch.at, &mut out);
            return out;
        }
        if let Some(h) = &self.http {
            h.metrics.service.samples.inc_by(
                batch
                    .participants
                    .iter()
                    .map(|p| p.samples.len() as u64)
                    .sum(),
            );
        }
        let newest = self
            .engine
            .observe_poll(meeting, &batch.participants, &mut out);
        // The poller skips samples it delivered before, so the newest
        // sample is the engine's, not this batch's.
        for (p, newest) in batch.participants.iter().zip(newest) {
            if let (Some(leave), Some(newest)) = (p.info.leave_time, newest)
                && leave > newest
            {
                self.engine
                    .participant_left(meeting, &p.info.user_id, leave, &mut out);
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
            }
        }
        crate::commands::eval::sort_transitions(&mut out);
        self.urgent |= !out.is_empty();
        self.status_stale |= !out.is_empty();
        out
    }

    /// Source health; raises or resolves `qoswatch-source-down`.
    fn on_health(&mut self, ok: bool, error: Option<String>) -> Vec<Event> {
        let mut events = Vec::new();
        if let Some(h) = &self.http {
            h.metrics.service.source_up.set(i64::from(ok));
            if ok && let Ok(mut st) = h.status.lock() {
                st.last_source_ok = Some(Instant::now());
            }
        }
        if ok {
            self.failing_since = None;
            if let Some(e) =
                self.source_down
                    .clear(SOURCE_DOWN, "the Zoom API answers again".into(), now_ts())
            {
                tracing::info!("source recovered");
                events.push(Event::System(e));
            }
        } else {
            let error = error.unwrap_or_default();
            tracing::warn!("{error}");
            self.last_error = error;
            self.failing_since.get_or_insert_with(Instant::now);
            events.extend(self.check_source_down());
        }
        events
    }

    fn check_source_down(&mut self) -> Option<Event> {
        let since = self.failing_since?;
        let limit = self.config.poll.source_down_after;
        if since.elapsed() < limit {
            return None;
        }
        let message = format!(
            "the Zoom API has been failing for over {}: {}",
            humantime::format_duration(Duration::from_secs(limit.as_secs())),
            self.last_error
        );
        self.source_down
            .raise(SOURCE_DOWN, message, now_ts())
            .map(Event::System)
    }

    /// Reloads rules (and with `config`, the config); a broken set keeps the
    /// last good one running and raises `qoswatch-config-invalid`.
    pub fn reload(&mut self, with_config: bool) -> Vec<Event> {
        let mut events = Vec::new();
        let now = now_ts();
        let mut paths = self.config.rules.clone();
        if with_config {
            match Config::load(&self.config.path, EnvMode::Strict) {
                Ok(new) => {
                    self.config_broken = false;
                    paths = new.rules.clone();
                    if new.notifiers.keys().eq(self.config.notifiers.keys()) {
                        self.hub.routes = new.routes.clone();
                    } else {
                        tracing::warn!(
                            "notifiers changed: routes and notifiers take effect after a restart"
                        );
                    }
                    // Sources, state and endpoints are set up at start.
                    self.config = Config {
                        poll: self.config.poll.clone(),
                        zoom: self.config.zoom.clone(),
                        replay: self.config.replay.clone(),
                        state_dir: self.config.state_dir.clone(),
                        http: self.config.http.clone(),
                        notifiers: self.config.notifiers.clone(),
                        ..new
                    };
                }
                Err(diags) => {
                    self.config_broken = true;
                    return self.reload_failed("config", &diags, now);
                }
            }
        }
        match load_paths(&paths) {
            Ok(rules) => {
                let n = rules.rules.len();
                self.status_stale = true;
                let mut out = Vec::new();
                self.engine.replace_rules(rules, now, &mut out);
                tracing::info!(rules = n, "reloaded rules");
                if let Some(h) = &self.http {
                    h.metrics.service.reload_success.set(1);
                    h.metrics.service.reload_time.set(now.0 as f64);
                    h.metrics.service.rules_loaded.set(n as i64);
                }
                events.extend(out.into_iter().map(Event::Alert));
                if !self.config_broken
                    && let Some(e) = self.config_invalid.clear(
                        CONFIG_INVALID,
                        "rules and config load again".into(),
                        now,
                    )
                {
                    events.push(Event::System(e));
                }
            }
            Err(diags) => return self.reload_failed("rules", &diags, now),
        }
        events
    }

    fn reload_failed(
        &mut self,
        what: &str,
        diags: &crate::yaml::Diagnostics,
        now: Timestamp,
    ) -> Vec<Event> {
        if let Some(h) = &self.http {
            h.metrics.service.reload_success.set(0);
            h.metrics.service.reload_time.set(now.0 as f64);
        }
        for d in &diags.0 {
            tracing::error!("reload failed, keeping the last good {what}: {d}");
        }
        let first = diags.0.first().map(|d| d.to_string()).unwrap_or_default();
        let more = diags.0.len().saturating_sub(1);
        let message = if more > 0 {
            format!("{first} (and {more} more)")
        } else {
            first
        };
        self.config_invalid
            .raise(CONFIG_INVALID, message, now)
            .map(Event::System)
            .into_iter()
            .collect()
    }

    /// Routes, groups and queues events (one call = one group per notifier).
    pub fn deliver(&mut self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let now = chrono::Utc::now().timestamp();
        for e in events {
            if let Event::Alert(t) = e {
                match t.state {
                    crate::alert::State::Firing => {
                        self.notified.insert(t.fingerprint(), now);
                    }
                    crate::alert::State::Resolved => {
                        self.notified.remove(&t.fingerprint());
                    }
                }
            }
        }
        self.dirty = true;
        self.urgent = true;
        self.status_stale = true;
        self.hub.dispatch(events, self.engine.rules());
    }

    /// Publishes the firing alerts to `/api/alerts` and `/metrics`.
    fn publish_status(&mut self) {
        if !std::mem::take(&mut self.status_stale) {
            return;
        }
        let Some(h) = &self.http else { return };
        let active = self.engine.active();
        let mut by_rule: std::collections::BTreeMap<(String, &'static str), i64> =
            std::collections::BTreeMap::new();
        for r in self.engine.rules() {
            by_rule.insert((r.name.clone(), r.severity.as_str()), 0);
        }
        let alerts: Vec<ApiAlert> = active
            .iter()
            .map(|a| {
                *by_rule
                    .entry((a.rule.to_string(), a.severity.as_str()))
                    .or_default() += 1;
                ApiAlert {
                    rule: a.rule.to_string(),
                    severity: a.severity.as_str().to_owned(),
                    state: "firing",
                    meeting: a.meeting.key().map(|k| k.to_string()),
                    topic: a.meeting.topic.as_deref().map(str::to_owned),
                    participant: a.participant.user_id.to_string(),
                    user_name: a.participant.attribute("user_name").map(str::to_owned),
                    metric: a.metric.path(),
                    value: a.value,
                    unit: a.metric.unit().as_str(),
                    threshold: a.threshold,
                    since: a.since.to_rfc3339(),
                    fingerprint: crate::alert::lifecycle::fingerprint(
                        &a.rule,
                        a.meeting.key().map(|k| &**k),
                        &a.participant.user_id,
                    ),
                }
            })
            .collect();
        h.metrics.service.alerts_firing.reset();
        for ((rule, severity), n) in by_rule {
            h.metrics
                .service
                .alerts_firing
                .with_label_values(&[rule.as_str(), severity])
                .set(n);
        }
        if let Ok(mut st) = h.status.lock() {
            st.alerts = alerts;
        }
    }

    /// `repeat_every` reminders due at `now` (wall clock).
    fn reminders(&mut self, now: i64) -> Vec<Event> {
        let mut out = Vec::new();
        if !self.engine.rules().iter().any(|r| r.repeat_every.is_some()) {
            return out;
        }
        for a in self.engine.active() {
            let Some(rule) = self.engine.rules().iter().find(|r| *r.name == *a.rule) else {
                continue;
            };
            let Some(every) = rule.repeat_every else {
                continue;
            };
            let fp = crate::alert::lifecycle::fingerprint(
                &a.rule,
                a.meeting.key().map(|k| &**k),
                &a.participant.user_id,
            );
            let last = *self.notified.entry(fp).or_insert(now);
            if now - last >= every.as_secs() as i64 {
                out.push(Event::Alert(Transition {
                    state: crate::alert::State::Firing,
                    reason: crate::alert::Reason::Reminder,
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

    fn state_path(&self) -> PathBuf {
        self.config.state_dir.join("alerts.json")
    }

    /// Loads persisted alert state, if any.
    fn load_state(&mut self) {
        let path = self.state_path();
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        match serde_json::from_slice::<SavedState>(&bytes) {
            Ok(saved) => {
                let n = saved.engine.participants.len();
                self.engine.restore(saved.engine);
                self.notified = saved.notified;
                tracing::info!(
                    participants = n,
                    firing = self.engine.active().len(),
                    "restored alert state"
                );
            }
            Err(e) => {
                tracing::error!(file = %path.display(), "unreadable alert state, starting fresh: {e}")
            }
        }
    }

    /// Persists alert state atomically.
    fn save_state(&mut self) {
        let saved = SavedState {
            version: 1,
            engine: self.engine.snapshot(),
            notified: self.notified.clone(),
        };
        let path = self.state_path();
        let result = std::fs::create_dir_all(&self.config.state_dir).and_then(|_| {
            crate::persist::write_atomic(
                &path,
                &serde_json::to_vec(&saved).expect("state serialises"),
            )
        });
        match result {
            Ok(()) => {
                self.dirty = false;
                self.urgent = false;
            }
            Err(e) => tracing::error!(file = %path.display(), "cannot save alert state: {e}"),
        }
    }
}

/// Opens the outbox and starts a delivery worker per remote notifier.
fn start_delivery(
    service: &mut Service,
    options: &RunOptions,
    cancel: &CancellationToken,
) -> Result<(Arc<Outbox>, Vec<tokio::task::JoinHandle<()>>), ServiceError> {
    std::fs::create_dir_all(&service.config.state_dir)?;
    let outbox = Arc::new(Outbox::open(&service.config.state_dir)?);
    service.hub.outbox = Some(outbox.clone());
    let mut workers = Vec::new();
    for n in service.hub.notifiers.values() {
        if matches!(n.kind, NotifierKind::Console) {
            continue;
        }
        let sender = Sender::new(n.clone(), &options.delivery);
        workers.push(tokio::spawn(run_worker(
            outbox.clone(),
            sender,
            options.delivery.clone(),
            cancel.clone(),
        )));
    }
    Ok((outbox, workers))
}

/// Waits up to `limit` for the outbox to empty.
async fn flush(outbox: &Outbox, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while outbox.pending() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = outbox.pending();
    if left > 0 {
        tracing::warn!(
            pending = left,
            "stopping with undelivered messages; they are kept in the outbox and sent after the restart"
        );
    }
}

/// `qoswatch run`: until SIGTERM/SIGINT (or the end of a replay).
pub async fn run(
    config_path: PathBuf,
    options: RunOptions,
    cancel: CancellationToken,
) -> Result<(), ServiceError> {
    let mut service = Service::load(&config_path)?;
    let workers_cancel = CancellationToken::new();
    let (outbox, workers) = start_delivery(&mut service, &options, &workers_cancel)?;
    // A replay is a recording played from its start: it neither resumes nor
    // leaves alert state.
    let keep_state = service.config.replay.is_none();
    if keep_state {
        service.load_state();
    }
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(256);
    let source_cancel = cancel.child_token();
    let metrics = Metrics::new();
    let source = spawn_source(
        &service.config,
        &options,
        &metrics,
        tx,
        source_cancel.clone(),
    )?;
    let http_cancel = CancellationToken::new();
    let http = start_http(&service, &source, &outbox, metrics, http_cancel.clone()).await?;
    service.http = Some(http.clone());

    let (reload_tx, mut reload_rx) = mpsc::channel::<bool>(8);
    let mut watcher = watch_rules(&service.config.rules, reload_tx.clone());
    spawn_signal_handlers(cancel.clone(), reload_tx);

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_save = tokio::time::Instant::now();
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            event = rx.recv() => {
                let Some(event) = event else { break };
                let events = match event {
                    SourceEvent::Batch(b) => service.handle_batch(b).into_iter().map(Event::Alert).collect(),
                    SourceEvent::Healthy => service.on_health(true, None),
                    SourceEvent::Failed(e) => service.on_health(false, Some(e)),
                    SourceEvent::Finished => {
                        tracing::info!("replay finished");
                        break;
                    }
                };
                service.deliver(&events);
            }
            Some(with_config) = reload_rx.recv() => {
                let before = service.config.rules.clone();
                let events = service.reload(with_config);
                if service.config.rules != before {
                    watcher = watch_rules(&service.config.rules, reload_sender(&watcher));
                }
                service.deliver(&events);
            }
            _ = tick.tick() => {
                let mut events: Vec<Event> = service.check_source_down().into_iter().collect();
                ticks += 1;
                if ticks % 5 == 1 {
                    service.publish_status();
                }
                if ticks % 10 == 0 {
                    events.extend(service.reminders(chrono::Utc::now().timestamp()));
                }
                for e in events {
                    service.deliver(std::slice::from_ref(&e));
                }
                // Transitions are saved within seconds; the rest of the state
                // (sample times, pending counts) once a minute: the outbox's
                // keys make a re-evaluation after a crash harmless.
                let due = if service.urgent { Duration::from_secs(5) } else { Duration::from_secs(60) };
                if keep_state && service.dirty && last_save.elapsed() >= due {
                    service.save_state();
                    last_save = tokio::time::Instant::now();
                }
            }
        }
    }
    source_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), source.task).await;
    if keep_state {
        service.save_state();
    }
    // Flush deliveries for up to 10 s; what is left stays in the outbox.
    flush(&outbox, Duration::from_secs(10)).await;
    workers_cancel.cancel();
    for w in workers {
        let _ = w.await;
    }
    http_cancel.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// `qoswatch once`: one cycle; with `dry_run`, prints the payloads that would
/// be posted and writes nothing.
pub async fn once(
    config_path: PathBuf,
    dry_run: bool,
    options: RunOptions,
) -> Result<bool, ServiceError> {
    let mut service = Service::load(&config_path)?;
    let workers_cancel = CancellationToken::new();
    let delivery = if dry_run {
        service.hub.dry_run = true;
        if service.state_path().exists() {
            service.load_state();
        }
        None
    } else {
        let d = start_delivery(&mut service, &options, &workers_cancel)?;
        service.load_state();
        Some(d)
    };
    let mut ok = true;
    let source_events = if let Some(dir) = service.config.replay.clone() {
        let mut v = Vec::new();
        for file in replay_files(&dir)? {
            v.push(SourceEvent::Batch(read_batch(&file)?));
        }
        v
    } else {
        let zoom = service
            .config
            .zoom
            .clone()
            .ok_or_else(|| ServiceError::NoSource(config_path.clone()))?;
        let zoom_metrics = crate::metrics::ZoomMetrics::default();
        let client =
            std::sync::Arc::new(ZoomClient::new(&zoom, options.retry.clone(), zoom_metrics)?);
        let poller_metrics = crate::metrics::PollerMetrics::default();
        Poller::new(
            client,
            service.config.poll.clone(),
            options.tuning.clone(),
            poller_metrics,
        )
        .poll_once()
        .await
    };
    for e in source_events {
        match e {
            SourceEvent::Batch(b) => {
                let events: Vec<Event> = service
                    .handle_batch(b)
                    .into_iter()
                    .map(Event::Alert)
                    .collect();
                service.deliver(&events);
            }
            SourceEvent::Failed(msg) => {
                tracing::error!("{msg}");
                ok = false;
            }
            SourceEvent::Healthy | SourceEvent::Finished => {}
        }
    }
    if let Some((outbox, workers)) = delivery {
        service.save_state();
        flush(&outbox, Duration::from_secs(10)).await;
        ok &= outbox.pending() == 0;
        workers_cancel.cancel();
        for w in workers {
            let _ = w.await;
        }
    }
    Ok(ok)
}

/// A running source.
struct RunningSource {
    task: tokio::task::JoinHandle<()>,
    cadence: String,
}

fn spawn_source(
    config: &Config,
    options: &RunOptions,
    metrics: &Metrics,
    tx: mpsc::Sender<SourceEvent>,
    cancel: CancellationToken,
) -> Result<RunningSource, ServiceError> {
    if let Some(dir) = config.replay.clone() {
        let files = replay_files(&dir)?;
        tracing::info!(files = files.len(), dir = %dir.display(), "replaying recorded samples");
        let task = tokio::spawn(async move {
            for file in files {
                if cancel.is_cancelled() {
                    return;
                }
                let event = match read_batch(&file) {
                    Ok(b) => SourceEvent::Batch(b),
                    Err(e) => SourceEvent::Failed(e.to_string()),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(SourceEvent::Finished).await;
        });
        return Ok(RunningSource {
            task,
            cadence: "replay".into(),
        });
    }
    let zoom = config
        .zoom
        .clone()
        .ok_or_else(|| ServiceError::NoSource(config.path.clone()))?;
    let client = std::sync::Arc::new(ZoomClient::new(
        &zoom,
        options.retry.clone(),
        metrics.zoom.clone(),
    )?);
    let poller = Poller::new(
        client,
        config.poll.clone(),
        options.tuning.clone(),
        metrics.poller.clone(),
    );
    let cadence = match &config.poll.cadence {
        crate::config::Cadence::Auto => "zoom-sample-clock".to_owned(),
        crate::config::Cadence::Interval(d) => {
            format!("interval {}", humantime::format_duration(*d))
        }
        crate::config::Cadence::Schedule(c) => format!("schedule {}", c.pattern),
    };
    Ok(RunningSource {
        task: tokio::spawn(poller.run(tx, cancel)),
        cadence,
    })
}

/// Starts the HTTP endpoints on `http.listen`.
async fn start_http(
    service: &Service,
    source: &RunningSource,
    outbox: &Arc<Outbox>,
    metrics: Metrics,
    cancel: CancellationToken,
) -> Result<Arc<HttpState>, ServiceError> {
    let addr = service.config.http.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServiceError::BindHttp { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        "HTTP endpoints listening on http://{local} (/healthz /readyz /metrics /api/alerts)"
    );
    let outbox = outbox.clone();
    let refresh = move |m: &Metrics| {
        for (notifier, depth) in outbox.depth() {
            m.delivery
                .outbox
                .with_label_values(&[notifier.as_str()])
                .set(depth as i64);
        }
        if let Ok(counts) = outbox.stats.counts.lock() {
            for ((notifier, outcome), n) in counts.iter() {
                mirror(
                    &m.delivery
                        .notifications
                        .with_label_values(&[notifier.as_str(), outcome]),
                    *n,
                );
            }
        }
    };
    let state = Arc::new(HttpState {
        status: std::sync::Mutex::new(Status {
            rules_loaded: true,
            source_is_replay: service.config.replay.is_some(),
            last_source_ok: None,
            ready_window: service
                .config
                .poll
                .source_down_after
                .max(Duration::from_secs(180)),
            alerts: Vec::new(),
        }),
        metrics,
        refresh: Box::new(refresh),
    });
    state
        .metrics
        .service
        .info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), source.cadence.as_str()])
        .set(1.0);
    state
        .metrics
        .service
        .rules_loaded
        .set(service.engine.rules().len() as i64);
    state.metrics.service.reload_success.set(1);
    state
        .metrics
        .service
        .reload_time
        .set(chrono::Utc::now().timestamp() as f64);
    tokio::spawn(crate::http::serve(listener, state.clone(), cancel));
    Ok(state)
}

/// Watches rule files and directories; a change (debounced) asks for a reload.
struct RuleWatcher {
    _debouncer: Option<
        notify_debouncer_full::Debouncer<
            notify::RecommendedWatcher,
            notify_debouncer_full::RecommendedCache,
        >,
    >,
    tx: mpsc::Sender<bool>,
}

fn reload_sender(w: &RuleWatcher) -> mpsc::Sender<bool> {
    w.tx.clone()
}

fn watch_rules(paths: &[PathBuf], tx: mpsc::Sender<bool>) -> RuleWatcher {
    use notify::RecursiveMode;
    let sender = tx.clone();
    // The debouncer's thread wakes once per tick whether files change or
    // not; a tick as long as the debounce time, one second (a reload
    // within about 2 s of the last write), keeps that to one a second.
    let debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_secs(1),
        Some(Duration::from_secs(1)),
        move |result: notify_debouncer_full::DebounceEventResult| {
            if let Ok(events) = result
                && events.iter().any(|e| !e.kind.is_access())
            {
                let _ = sender.try_send(false);
            }
        },
    );
    let mut debouncer = match debouncer {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("cannot watch rule files ({e}); reload with SIGHUP");
            return RuleWatcher {
                _debouncer: None,
                tx,
            };
        }
    };
    for p in paths {
        // Watch directories, and a file's directory: editors and Kubernetes
        // ConfigMaps replace files by renaming.
        let target = if p.is_dir() {
            p.clone()
        } else {
            p.parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        d.to_owned()
                    }
                })
                .unwrap_or_else(|| PathBuf::from("."))
        };
        if let Err(e) = debouncer.watch(&target, RecursiveMode::NonRecursive) {
            tracing::warn!(path = %target.display(), "cannot watch for rule changes ({e}); reload with SIGHUP");
        }
    }
    RuleWatcher {
        _debouncer: Some(debouncer),
        tx,
    }
}

fn spawn_signal_handlers(cancel: CancellationToken, reload: mpsc::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let c = cancel.clone();
        tokio::spawn(async move {
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
            c.cancel();
        });
        tokio::spawn(async move {
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading config and rules");
                if reload.send(true).await.is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        });
    }
}

/// Sets a counter to `value` (the stage's own count is the source of truth).
fn mirror(counter: &prometheus::IntCounter, value: u64) {
    let current = counter.get();
    if value > current {
        counter.inc_by(value - current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Reason, State};
    use crate::qos::{MeetingInfo, Metric, ParticipantInfo, ParticipantSamples, Sample};
    use std::path::Path;
    use std::sync::Arc;

    fn service(rules: &str, extra: &str) -> Service {
        let config = Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x/\n{extra}"),
            EnvMode::Strict,
            &|_| None,
        )
        .unwrap();
        let rules = crate::rules::load_str(Path::new("r.yaml"), rules).unwrap();
        Service::new(config, rules)
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

    const RULE: &str = "rules:\n  - name: lat\n    when: audio_input.latency > 150ms\n";

    #[test]
    fn first_sight_announces_only_the_current_state() {
        let mut s = service(RULE, "");
        // History: fired and resolved twice, firing at the newest sample.
        let out = s.handle_batch(batch(
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
        ));
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(
            (&*out[0].participant.user_id, out[0].reason, out[0].value),
            ("a", Reason::FirstSight, 300.0)
        );
        // The next poll repeats old samples and adds one: normal transitions.
        let out = s.handle_batch(batch(
            vec![
                person("a", &[(180, 10.0), (240, 300.0), (300, 20.0)]),
                person("b", &[(60, 10.0), (120, 10.0)]),
            ],
            310,
        ));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].state, out[0].reason),
            (State::Resolved, Reason::Condition)
        );
    }

    #[test]
    fn departures_and_meeting_end_resolve_with_a_reason() {
        let mut s = service(RULE, "");
        s.handle_batch(batch(
            vec![
                person("a", &[(0, 200.0)]),
                person("b", &[(0, 200.0)]),
                person("c", &[(0, 200.0)]),
            ],
            10,
        ));
        // b is gone from the roster; c has a leave_time after its last sample.
        let mut c = person("c", &[(60, 200.0)]);
        c.info.leave_time = Some(Timestamp(90));
        let out = s.handle_batch(batch(vec![person("a", &[(60, 200.0)]), c], 100));
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
        assert!(s.handle_batch(partial).is_empty());
        let mut ended = batch(vec![], 200);
        ended.ended = true;
        let out = s.handle_batch(ended);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (&*out[0].participant.user_id, out[0].reason, out[0].at),
            ("a", Reason::MeetingEnded, Timestamp(200))
        );
        assert!(s.engine().active().is_empty());
    }

    #[test]
    fn source_down_raises_after_the_threshold_and_resolves_once() {
        let mut s = service(RULE, "poll:\n  source_down_after: 0s\n");
        let events = s.on_health(false, Some("polling meeting 1: HTTP 500".into()));
        assert!(
            matches!(&events[..], [Event::System(a)] if a.name == SOURCE_DOWN && a.state == State::Firing && a.message.contains("HTTP 500"))
        );
        assert!(
            s.on_health(false, Some("again".into())).is_empty(),
            "raised once"
        );
        let events = s.on_health(true, None);
        assert!(matches!(&events[..], [Event::System(a)] if a.state == State::Resolved));
        assert!(s.on_health(true, None).is_empty());
    }

    #[test]
    fn failures_shorter_than_the_threshold_raise_nothing() {
        let mut s = service(RULE, "poll:\n  source_down_after: 5m\n");
        assert!(s.on_health(false, Some("x".into())).is_empty());
        assert!(s.check_source_down().is_none());
    }
}
