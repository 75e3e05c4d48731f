//! The Zoom poller: live-meeting discovery and QoS polling on a cadence that
//! follows Zoom's sample clock, within the daily API budget.
//!
//! Zoom stamps QoS samples on the minute and publishes each some seconds
//! later. Polling faster re-reads old data and burns the daily cap, so by
//! default each meeting is polled once per expected new sample: at its
//! newest sample's time plus one sample period plus the learned publication
//! delay. The delay is learned from what polls find: a poll that finds the
//! expected sample lets the next one try a little earlier; one that does not
//! is retried shortly after and moves the estimate to where the sample
//! actually appeared. A fixed `interval` or a cron `schedule` replaces this
//! cadence when configured. Whatever the cadence, when the planned requests
//! would spend more than the budget left for the day, every period is
//! stretched by the same factor: the budget always wins.
//!
//! With `poll.quiet_every`, meetings with nothing going on are polled only
//! that often (the quiet cadence of SPEC 14); with Zoom's events, the event
//! receiver steers the poller through [`PollerCommand`]s (track a meeting,
//! poll it now, stop, leave it to QSS, catch up).
//!
//! This file runs the polls; `outcome` holds one poll and what its answer
//! does, `cadence` says when (the delay learner, cron, the budget stretch),
//! `meetings` what (targets and discovered meetings, each with the reader's
//! cut-off: the samples it has delivered) and `steer` how commands and the
//! quiet cadence change both.

mod cadence;
mod meetings;
mod outcome;
mod steer;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::cadence::DelayLearner;
use self::meetings::meeting_info_for;
pub use self::meetings::note_delivered;
use self::outcome::{PollResult, poll};
use self::steer::{HEAT_EVERY, Heat, PARKED};
pub use self::steer::{HOT_FOR, PollerCommand};
use crate::config::{Cadence, PollConfig};
use crate::metrics::PollerMetrics;
use crate::net::{Backoff, Clock};
use crate::qos::{MeetingInfo, Timestamp};
use crate::source::SourceEvent;
use crate::zoom::api::Cutoff;
use crate::zoom::client::ZoomClient;

/// Timing knobs; the defaults fit Zoom, tests shrink them.
#[derive(Clone, Debug)]
pub struct PollerTuning {
    /// Time between two Zoom samples of a participant (60 s).
    pub sample_period: f64,
    /// First guess of how long after its time stamp a sample is published.
    pub initial_delay: f64,
    /// The learned delay never goes below this.
    pub min_delay: f64,
    /// How much earlier the next poll tries after an on-time hit.
    pub probe_step: f64,
    /// First retry after a poll that did not find the expected sample.
    pub miss_retry: f64,
    /// The wait before polling a meeting again after a failed poll (its
    /// attempt is the number of failures in a row), and before the next
    /// discovery after a failed one (its base).
    pub failure_backoff: Backoff,
    /// Polls in flight at once.
    pub max_in_flight: usize,
}

impl Default for PollerTuning {
    fn default() -> Self {
        PollerTuning {
            sample_period: 60.0,
            initial_delay: 10.0,
            min_delay: 1.0,
            probe_step: 0.25,
            miss_retry: 5.0,
            failure_backoff: Backoff::new(Duration::from_secs(5), Duration::from_secs(60)),
            max_in_flight: 32,
        }
    }
}

/// Counts that are not metrics, for tests and logs. (The poller's metrics
/// are in [`PollerMetrics`], set as it works.)
#[derive(Debug, Default)]
pub struct PollerStats {
    /// Polls completed.
    pub polls: AtomicU64,
    /// Polls that did not find the expected new sample.
    pub misses: AtomicU64,
}

/// Where a tracked meeting comes from: discovery, or the config's targets
/// (which stay when discovery loses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Discovered,
    Target,
    /// Learned from Zoom's events: tracked until its end, whether or not
    /// discovery lists it.
    Event,
}

/// A meeting (or one participant of it) being polled, and its poll state.
#[derive(Debug)]
struct Tracked {
    info: MeetingInfo,
    /// What goes in the URL: the UUID, or the id as configured.
    poll_id: String,
    participant: Option<String>,
    origin: Origin,
    /// Wall-clock seconds of the next poll; infinite while in flight.
    next_poll: f64,
    newest: Option<Timestamp>,
    /// The sample the next poll expects (default cadence).
    expecting: Option<f64>,
    misses: u32,
    failures: u32,
    requests_per_poll: u32,
    seen: bool,
    /// The newest sample delivered per participant: the next poll skips
    /// the samples a live response repeats without reading them. Moved into
    /// the poll while it runs.
    delivered: Cutoff,
    /// A webinar: polled with `/metrics/webinars/...`.
    webinar: bool,
    /// Its QoS arrives by QSS: polled only on `meeting.alert` and after a
    /// WebSocket reconnect.
    qss: bool,
    /// Polls answered so far (a meeting is hot for its first two).
    polls: u32,
    /// Hot until then (wall clock): a `meeting.alert` or a late joiner.
    hot_until: f64,
    /// When it was learned, and when a poll last brought data.
    learned_at: f64,
    last_data: f64,
    /// Whether a QoS poll has been answered 200.
    answered: bool,
    /// Every participant listed so far: a new one after the first poll
    /// joined late.
    roster: HashSet<String>,
    /// Its state as last reported.
    heat: Heat,
}

/// The poller; [`Poller::run`] drives it until cancelled.
pub struct Poller {
    client: Arc<ZoomClient>,
    config: PollConfig,
    tuning: PollerTuning,
    tracked: BTreeMap<String, Tracked>,
    /// Due polls by time (milliseconds), lazily deleted: an entry whose time
    /// no longer matches its meeting's `next_poll` is stale.
    due: BinaryHeap<Reverse<(i64, String)>>,
    learner: DelayLearner,
    next_discovery: f64,
    paused_until: f64,
    /// When each meeting's state was last reported (`note_heat`), and
    /// whether a change waits for the next report: at most one a second,
    /// as the report walks every meeting.
    heat_noted_at: f64,
    heat_pending: bool,
    stretch: f64,
    next_stretch_check: f64,
    /// The time, from the client's clock: the budget and the cadence agree
    /// on the time of day.
    clock: Clock,
    metrics: PollerMetrics,
    pub stats: Arc<PollerStats>,
    /// Commands from the event receiver and the pipeline, until `run`
    /// takes them.
    commands: Option<mpsc::Receiver<PollerCommand>>,
    /// Meetings (by key) with an alert pending or firing, as the pipeline
    /// last said.
    engaged: HashSet<String>,
    /// Where event-learned meetings are kept, when they are.
    state_dir: Option<PathBuf>,
}

fn millis(t: f64) -> i64 {
    if t.is_finite() {
        (t * 1000.0) as i64
    } else {
        i64::MAX
    }
}

impl Poller {
    pub fn new(
        client: Arc<ZoomClient>,
        config: PollConfig,
        tuning: PollerTuning,
        metrics: PollerMetrics,
    ) -> Poller {
        let learner = DelayLearner::new(tuning.initial_delay, tuning.min_delay, tuning.probe_step);
        let clock = client.clock();
        let now = clock.now();
        let mut tracked = BTreeMap::new();
        for t in &config.targets {
            let key = match &t.participant {
                Some(p) => format!("{}\u{0}{p}", t.meeting),
                None => t.meeting.clone(),
            };
            let mut tracked_target = Tracked::new(
                meeting_info_for(&t.meeting),
                t.meeting.clone(),
                Origin::Target,
                now,
            );
            tracked_target.participant = t.participant.clone();
            tracked.insert(key, tracked_target);
        }
        metrics.stretch.set(1.0);
        metrics.delay.set(learner.estimate());
        let due = tracked
            .iter()
            .map(|(k, t)| Reverse((millis(t.next_poll), k.clone())))
            .collect();
        Poller {
            client,
            config,
            tuning,
            tracked,
            due,
            learner,
            next_discovery: now,
            paused_until: now,
            heat_noted_at: f64::NEG_INFINITY,
            heat_pending: false,
            stretch: 1.0,
            next_stretch_check: now,
            clock,
            metrics,
            stats: Arc::new(PollerStats::default()),
            commands: None,
            engaged: HashSet::new(),
            state_dir: None,
        }
    }

    /// The poller steered by `commands` (Zoom's events, the pipeline's
    /// quiet-cadence hints); with `state_dir`, the meetings learned from
    /// events are kept there and restored now.
    pub fn with_commands(
        mut self,
        commands: mpsc::Receiver<PollerCommand>,
        state_dir: Option<PathBuf>,
    ) -> Poller {
        self.commands = Some(commands);
        self.state_dir = state_dir;
        let now = self.clock.now();
        self.load_tracked(now);
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        for key in keys {
            self.push_due(&key);
        }
        self.note_heat(now);
        self
    }

    /// A sentence saying which cadence is in use.
    pub fn describe_cadence(&self) -> String {
        let base = match &self.config.cadence {
            Cadence::Auto => format!(
                "one poll per meeting per new Zoom sample (every {}s, shortly after it lands; publication delay learned from the samples)",
                self.tuning.sample_period
            ),
            Cadence::Interval(d) => {
                format!("a fixed interval of {}", humantime::format_duration(*d))
            }
            Cadence::Schedule(c) => format!("the cron schedule `{}` (UTC)", c.pattern),
        };
        match self.config.quiet_every {
            Some(q) => format!(
                "{base}; quiet meetings every {}",
                humantime::format_duration(q)
            ),
            None => base,
        }
    }

    /// Polls until `cancel`; sends batches and health on `tx`.
    pub async fn run(mut self, tx: mpsc::Sender<SourceEvent>, cancel: CancellationToken) {
        tracing::info!("polling Zoom on {}", self.describe_cadence());
        let mut commands = self.commands.take();
        let mut inflight: JoinSet<PollResult> = JoinSet::new();
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        loop {
            let now = self.clock.now();
            self.check_stretch(now);
            if self.heat_pending {
                self.note_heat(now);
            }
            if self.config.discover && now >= self.next_discovery && now >= self.paused_until {
                let found = tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = self.client.live_meetings() => r,
                };
                // `now` is when the call started: a failure dates from then.
                if !self.on_discovery(found, now, &tx).await {
                    break;
                }
                continue;
            }
            if now >= self.paused_until {
                while inflight.len() < self.tuning.max_in_flight {
                    let Some(Reverse((at, _))) = self.due.peek() else {
                        break;
                    };
                    if *at > millis(now) {
                        break;
                    }
                    let Some(Reverse((at, key))) = self.due.pop() else {
                        break;
                    };
                    let Some(t) = self.tracked.get_mut(&key) else {
                        continue;
                    };
                    if millis(t.next_poll) != at {
                        continue; // a stale entry
                    }
                    t.next_poll = f64::INFINITY;
                    inflight.spawn(poll(
                        self.client.clone(),
                        key,
                        t.poll_id.clone(),
                        t.participant.clone(),
                        t.webinar,
                        std::mem::take(&mut t.delivered),
                    ));
                }
            }
            // With every slot in flight, the next due poll cannot start before
            // one finishes: wake for that, not for the due time (which may
            // already be past, and a zero sleep would spin).
            let mut wake = if inflight.len() < self.tuning.max_in_flight {
                self.due
                    .peek()
                    .map_or(f64::INFINITY, |Reverse((at, _))| *at as f64 / 1000.0)
            } else {
                f64::INFINITY
            };
            if self.config.discover {
                wake = wake.min(self.next_discovery);
            }
            if self.heat_pending {
                wake = wake.min(self.heat_noted_at + HEAT_EVERY);
            }
            wake = wake.max(self.paused_until).min(now + 60.0);
            // One timer, moved only when the wake-up time moves: a new timer
            // per loop turn costs a timer-wheel registration each time.
            let deadline =
                tokio::time::Instant::now() + Duration::from_secs_f64((wake - now).max(0.0));
            let current = sleep.deadline();
            if sleep.is_elapsed()
                || deadline.max(current) - deadline.min(current) > Duration::from_millis(1)
            {
                sleep.as_mut().reset(deadline);
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(joined) = inflight.join_next(), if !inflight.is_empty() => {
                    if !self.finish_poll(joined, &tx).await {
                        break;
                    }
                    // Handle every poll that finished meanwhile in this turn.
                    let mut open = true;
                    while let Some(joined) = inflight.try_join_next() {
                        open = self.finish_poll(joined, &tx).await;
                        if !open {
                            break;
                        }
                    }
                    if !open {
                        break;
                    }
                }
                Some(command) = next_command(&mut commands) => {
                    self.on_command(command, self.clock.now());
                }
                _ = &mut sleep => {}
            }
        }
        inflight.abort_all();
    }

    /// One full cycle for `qoswatch once`: discovery (if enabled), then one
    /// poll of every meeting. Returns the events in order.
    pub async fn poll_once(mut self) -> Vec<SourceEvent> {
        let (tx, mut rx) = mpsc::channel(1 << 16);
        let now = self.clock.now();
        if self.config.discover {
            let found = self.client.live_meetings().await;
            self.on_discovery(found, now, &tx).await;
        }
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        let mut set = JoinSet::new();
        for key in keys {
            let t = &self.tracked[&key];
            set.spawn(poll(
                self.client.clone(),
                key.clone(),
                t.poll_id.clone(),
                t.participant.clone(),
                t.webinar,
                Cutoff::new(),
            ));
        }
        let mut results: Vec<PollResult> = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                results.push(r);
            }
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, started, _, result) in results {
            self.on_poll(key, started, result, &tx).await;
        }
        drop(tx);
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    }

    /// Queues the meeting's next poll.
    fn push_due(&mut self, key: &str) {
        if let Some(t) = self.tracked.get(key)
            && t.next_poll.is_finite()
        {
            self.due
                .push(Reverse((millis(t.next_poll), key.to_owned())));
        }
    }

    /// When the meeting is polled next: its cadence's time when hot, not
    /// before `quiet_every` after this poll started when quiet, never on a
    /// schedule when its QoS comes by QSS.
    fn quiet_next(&mut self, key: &str, started: f64, now: f64) -> f64 {
        let Some(t) = self.tracked.get(key) else {
            return now;
        };
        let normal = t.next_poll;
        if t.qss {
            return PARKED;
        }
        let Some(quiet) = self.config.quiet_every else {
            return normal;
        };
        if self.is_hot(key, t, now) {
            return normal;
        }
        let quiet_at = started + quiet.as_secs_f64() * self.stretch;
        if quiet_at <= normal {
            return normal;
        }
        if let Some(t) = self.tracked.get_mut(key) {
            // A quiet poll expects no particular sample: no miss to learn from.
            t.expecting = None;
            t.misses = 0;
        }
        quiet_at
    }
}

/// The next command, or never without a command channel.
async fn next_command(
    commands: &mut Option<mpsc::Receiver<PollerCommand>>,
) -> Option<PollerCommand> {
    match commands {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
