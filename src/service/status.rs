//! What the service shows of itself: the firing alerts on `/api/alerts` and
//! the `qoswatch_alerts_firing` gauge, published on every transition (not
//! on a timer: an alert that reached chat is listed at once), and the HTTP
//! endpoints started.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ServiceError;
use crate::alert::lifecycle::fingerprint;
use crate::alert::{Engine, Event, State};
use crate::config::Config;
use crate::http::auth::AdminAuth;
use crate::http::{ApiAlert, ApiIncident, HttpState, Status};
use crate::incident::{IncidentEngine, IncidentTransition};
use crate::metrics::{Metrics, ServiceMetrics};
use crate::qos::{MeetingInfo, Metric, ParticipantInfo, Timestamp};
use crate::rules::Severity;
use crate::silence::SharedSilences;

/// Publishes the firing alerts: the gauge always, the list when serving.
pub fn publish(engine: &Engine, metrics: &ServiceMetrics, http: Option<&HttpState>) {
    let active = engine.active();
    let mut by_rule: std::collections::BTreeMap<(String, &'static str), i64> =
        std::collections::BTreeMap::new();
    for r in engine.rules() {
        by_rule.insert((r.name.clone(), r.severity.as_str()), 0);
    }
    for a in &active {
        *by_rule
            .entry((a.rule.to_string(), a.severity.as_str()))
            .or_default() += 1;
    }
    metrics.alerts_firing.reset();
    for ((rule, severity), n) in by_rule {
        metrics
            .alerts_firing
            .with_label_values(&[rule.as_str(), severity])
            .set(n);
    }
    let Some(http) = http else { return };
    let alerts: std::collections::BTreeMap<String, ApiAlert> = active
        .iter()
        .map(|a| {
            let alert = api_alert(
                &a.rule,
                a.severity,
                &a.meeting,
                &a.participant,
                a.metric,
                (a.value, a.threshold),
                a.since,
            );
            (alert.fingerprint.clone(), alert)
        })
        .collect();
    if let Ok(mut st) = http.status.lock() {
        st.alerts = alerts;
    }
}

/// A firing alert as `/api/alerts` lists it, from what both the engine's
/// active alerts and transitions carry.
fn api_alert(
    rule: &str,
    severity: Severity,
    meeting: &MeetingInfo,
    participant: &ParticipantInfo,
    metric: Metric,
    (value, threshold): (f64, f64),
    since: Timestamp,
) -> ApiAlert {
    ApiAlert {
        rule: rule.to_owned(),
        severity: severity.as_str().to_owned(),
        state: "firing",
        meeting: meeting.key().map(|k| k.to_string()),
        topic: meeting.topic.as_deref().map(str::to_owned),
        participant: participant.user_id.to_string(),
        user_name: participant.attribute("user_name").map(str::to_owned),
        metric: metric.path(),
        value,
        unit: metric.unit().as_str(),
        threshold,
        since: since.to_rfc3339(),
        fingerprint: fingerprint(rule, meeting.key().map(|k| &**k), &participant.user_id),
        inhibited_by: Vec::new(),
        muted: false,
        silenced_by: Vec::new(),
    }
}

/// Applies one batch's events to the published status, in time
/// proportional to the events (a full [`publish`] scans every participant,
/// which at 1,000 meetings doubled the CPU of a poll cycle).
pub fn apply(events: &[Event], metrics: &ServiceMetrics, http: Option<&HttpState>) {
    let Some(http) = http else { return };
    let Ok(mut st) = http.status.lock() else {
        return;
    };
    for e in events {
        if let Event::Incident(t) = e {
            let fp = t.fingerprint();
            match t.state {
                State::Firing => {
                    let mut incident = api_incident(t);
                    if let Some(old) = st.incidents.get(&fp) {
                        incident.silenced_by = old.silenced_by.clone();
                    }
                    st.incidents.insert(fp, incident);
                }
                State::Resolved => {
                    st.incidents.remove(&fp);
                }
            }
            continue;
        }
        let Event::Alert(t) = e else { continue };
        let fp = t.fingerprint();
        let gauge = metrics
            .alerts_firing
            .with_label_values(&[&*t.rule, t.severity.as_str()]);
        match t.state {
            State::Firing => {
                let alert = api_alert(
                    &t.rule,
                    t.severity,
                    &t.meeting,
                    &t.participant,
                    t.metric,
                    (t.value, t.threshold),
                    t.since,
                );
                // A reminder or an update keeps the marks policy gave it.
                let mut alert = alert;
                if let Some(old) = st.alerts.get(&fp) {
                    alert.inhibited_by = old.inhibited_by.clone();
                    alert.silenced_by = old.silenced_by.clone();
                    alert.muted = old.muted;
                }
                if st.alerts.insert(fp, alert).is_none() {
                    gauge.inc();
                }
            }
            State::Resolved => {
                if st.alerts.remove(&fp).is_some() {
                    gauge.dec();
                }
            }
        }
    }
}

/// An `/api/alerts` incident entry from its transition.
fn api_incident(t: &IncidentTransition) -> ApiIncident {
    ApiIncident {
        kind: "incident",
        rule: t.name.to_string(),
        severity: t.severity.as_str().to_owned(),
        state: "firing",
        scope: t.scope.name().to_owned(),
        scope_value: t.scope_value.clone(),
        meeting: t
            .meeting
            .as_ref()
            .and_then(|m| m.id.as_deref().or(m.uuid.as_deref()))
            .map(str::to_owned),
        topic: t
            .meeting
            .as_ref()
            .and_then(|m| m.topic.as_deref())
            .map(str::to_owned),
        affected: Some(t.affected),
        population: Some(t.population),
        participants: t
            .participants
            .iter()
            .map(|a| a.participant.clone())
            .collect(),
        shared: t.shared.clone(),
        since: t.since.to_rfc3339(),
        fingerprint: t.fingerprint(),
        silenced_by: Vec::new(),
    }
}

/// The open incidents after a restart or reload, from the engine, with
/// the figures it has now (after a restart, the population fills in again
/// as the next polls arrive).
pub fn publish_incidents(incidents: &IncidentEngine, http: Option<&HttpState>) {
    let Some(http) = http else { return };
    let list: std::collections::BTreeMap<String, ApiIncident> = incidents
        .open_incidents()
        .iter()
        .map(|t| {
            let api = api_incident(t);
            (api.fingerprint.clone(), api)
        })
        .collect();
    if let Ok(mut st) = http.status.lock() {
        st.incidents = list;
    }
}

/// Updates the watched meetings from one batch: `present` joined or are
/// still there, `gone` left; an ended meeting is no longer watched.
pub fn watched<'a>(
    meeting: &MeetingInfo,
    present: impl Iterator<Item = &'a ParticipantInfo>,
    gone: &[Arc<str>],
    ended: bool,
    http: Option<&HttpState>,
) {
    let Some(http) = http else { return };
    let Some(key) = meeting.key() else { return };
    let Ok(mut st) = http.status.lock() else {
        return;
    };
    if ended {
        st.watched.remove(&**key);
        return;
    }
    let w = st.watched.entry(key.to_string()).or_default();
    if let Some(topic) = &meeting.topic {
        w.topic = Some(topic.to_string());
    }
    for p in present {
        let name = p.attribute("user_name").unwrap_or(&p.user_id);
        if w.participants.get(&*p.user_id).map(String::as_str) != Some(name) {
            w.participants
                .insert(p.user_id.to_string(), name.to_owned());
        }
    }
    for user in gone {
        w.participants.remove(&**user);
    }
}

/// The notifiers as the status page lists them, when they changed.
pub fn notifiers(list: Vec<crate::http::NotifierStatus>, http: Option<&HttpState>) {
    let Some(http) = http else { return };
    if let Ok(mut st) = http.status.lock()
        && st.notifiers != list
    {
        st.notifiers = list;
    }
}

/// Applies one kind of mark to the alerts (and incidents) listed by
/// fingerprint, under one lock.
fn mark<T>(
    changes: &[(String, T)],
    http: Option<&HttpState>,
    apply: impl Fn(&mut Status, &str, &T),
) {
    let Some(http) = http else { return };
    if changes.is_empty() {
        return;
    }
    let Ok(mut st) = http.status.lock() else {
        return;
    };
    for (fp, value) in changes {
        apply(&mut st, fp, value);
    }
}

/// Marks the listed alerts as held back by rule inhibition (`inhibited_by`
/// the rules given), or no longer (an empty list).
pub fn inhibited(changes: &[(String, Vec<String>)], http: Option<&HttpState>) {
    mark(changes, http, |st, fp, by| {
        if let Some(alert) = st.alerts.get_mut(fp) {
            alert.inhibited_by = by.clone();
        }
    });
}

/// Marks the listed alerts as muted (their firing dropped by time
/// intervals on every notifier they were routed to), or no longer.
pub fn muted(changes: &[(String, bool)], http: Option<&HttpState>) {
    mark(changes, http, |st, fp, muted| {
        if let Some(alert) = st.alerts.get_mut(fp) {
            alert.muted = *muted;
        }
    });
}

/// Marks the listed alerts and incidents as silenced (`silenced_by` the
/// silence ids given), or no longer (an empty list).
pub fn silenced(changes: &[(String, Vec<String>)], http: Option<&HttpState>) {
    mark(changes, http, |st, fp, by| {
        if let Some(alert) = st.alerts.get_mut(fp) {
            alert.silenced_by = by.clone();
        } else if let Some(incident) = st.incidents.get_mut(fp) {
            incident.silenced_by = by.clone();
        }
    });
}

/// Starts the HTTP endpoints on `http.listen`; they stop with `cancel`.
pub async fn serve(
    config: &Config,
    metrics: &Metrics,
    cadence: &str,
    rules: usize,
    silences: Option<Arc<SharedSilences>>,
    cancel: CancellationToken,
) -> Result<Arc<HttpState>, ServiceError> {
    let addr = config.http.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServiceError::BindHttp { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        "HTTP endpoints listening on http://{local} (/healthz /readyz /metrics /api/alerts /api/silences)"
    );
    let mut state = HttpState::new(
        Status {
            rules_loaded: true,
            source_is_replay: config.source.is_replay(),
            last_source_ok: None,
            ready_window: config.poll.source_down_after.max(Duration::from_secs(180)),
            time_zone: Some(config.display.time_zone.clone()),
            cadence: cadence.to_owned(),
            ..Status::default()
        },
        metrics.clone(),
    )
    .with_admin(AdminAuth::new(config.http.admin_token.as_ref()));
    if let Some(silences) = silences {
        state = state.with_silences(silences);
    }
    let state = Arc::new(state);
    let m = &metrics.service;
    m.info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), cadence])
        .set(1.0);
    m.rules_loaded.set(rules as i64);
    m.reload_success.set(1);
    m.reload_time.set(chrono::Utc::now().timestamp() as f64);
    tokio::spawn(crate::http::serve(listener, state.clone(), cancel));
    Ok(state)
}
