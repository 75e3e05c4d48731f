//! The silence stage of the notification policy (SPEC 13), after rule
//! inhibition and incidents, before routing: a firing that an active
//! silence matches (on the same `AlertView` attributes routes use) is not
//! sent but held; if its silence ends (expired, deleted, its meeting
//! ended) while the alert still fires, it is sent then, once. A held
//! firing that resolves sends nothing: its firing was never sent. A
//! resolution of a firing that was sent goes where the firing went,
//! silenced or not (the dispatcher's `sent_to`). Reminders of a silenced
//! alert are dropped.
//!
//! The silences themselves are [`crate::silence`]'s; this stage holds the
//! firings and says which alerts are silenced, by which ids, for
//! `/api/alerts`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::alert::lifecycle::ActiveAlert;
use crate::alert::{Event, State};
use crate::metrics::DeliveryMetrics;
use crate::notify::inhibit::{Engaged, HeldSnapshot};
use crate::notify::view::AlertView;
use crate::qos::{MeetingInfo, Timestamp};
use crate::silence::SharedSilences;

/// A firing held back by silences.
#[derive(Clone, Debug)]
struct Held {
    event: Event,
    by: Vec<String>,
}

/// The held firings and the silences they answer to.
pub struct SilenceStage {
    silences: Arc<SharedSilences>,
    held: BTreeMap<String, Held>,
    /// Alerts silenced or let go since last asked: fingerprint and the
    /// silence ids (empty: no longer silenced).
    changes: Vec<(String, Vec<String>)>,
}

impl SilenceStage {
    pub fn new(silences: Arc<SharedSilences>) -> SilenceStage {
        SilenceStage {
            silences,
            held: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    pub fn silences(&self) -> &Arc<SharedSilences> {
        &self.silences
    }

    /// The events (with their views) to route now: silenced firings are
    /// held and counted, resolutions of held firings dropped.
    pub fn judge(
        &mut self,
        events: Vec<Event>,
        views: Vec<AlertView>,
        now: i64,
        metrics: &DeliveryMetrics,
    ) -> (Vec<Event>, Vec<AlertView>) {
        let mut out = (
            Vec::with_capacity(events.len()),
            Vec::with_capacity(views.len()),
        );
        for (e, v) in events.into_iter().zip(views) {
            match v.state {
                State::Resolved => {
                    if self.held.remove(&v.fingerprint).is_some() {
                        tracing::debug!(
                            rule = %v.rule,
                            fingerprint = %v.fingerprint,
                            "resolved while silenced: its firing was never sent, nor is this"
                        );
                        self.changes.push((v.fingerprint, Vec::new()));
                        continue;
                    }
                }
                State::Firing => {
                    let by = self.silences.silencing(|k| v.attribute_values(k), now);
                    if !by.is_empty() {
                        metrics.suppressed.with_label_values(&["silenced"]).inc();
                        tracing::debug!(
                            rule = %v.rule,
                            fingerprint = %v.fingerprint,
                            silenced_by = %by.join(", "),
                            "firing held back by a silence"
                        );
                        // A reminder's firing was sent: nothing to send later.
                        if !v.reminder {
                            self.changes.push((v.fingerprint.clone(), by.clone()));
                            self.held.insert(v.fingerprint, Held { event: e, by });
                        }
                        continue;
                    }
                }
            }
            out.0.push(e);
            out.1.push(v);
        }
        out
    }

    /// Judges the held firings again at `now` (`view` shows an event):
    /// those no silence holds any more and that still fire (`engaged` gives
    /// their figures now) are returned, to be sent.
    pub fn release(
        &mut self,
        view: impl Fn(&Event) -> AlertView,
        engaged: &dyn Engaged,
        now: i64,
    ) -> Vec<Event> {
        let mut released = Vec::new();
        for (fp, held) in std::mem::take(&mut self.held) {
            let v = view(&held.event);
            let by = self.silences.silencing(|k| v.attribute_values(k), now);
            if !by.is_empty() {
                if by != held.by {
                    self.changes.push((fp.clone(), by.clone()));
                }
                self.held.insert(
                    fp,
                    Held {
                        event: held.event,
                        by,
                    },
                );
                continue;
            }
            self.changes.push((fp, Vec::new()));
            match held.event {
                Event::Alert(t) => {
                    // With its figures now; one no longer firing resolved
                    // already (and its resolution went nowhere).
                    if let Some(now_t) =
                        engaged.firing_now(&t.meeting, &t.participant.user_id, &t.rule)
                    {
                        released.push(Event::Alert(now_t));
                    }
                }
                other => released.push(other),
            }
        }
        if !released.is_empty() {
            tracing::info!(
                alerts = released.len(),
                "silence over: sending the firings it held"
            );
        }
        released
    }

    /// Which silences (ids) hold each of the firing alerts `active` at
    /// `now`, by fingerprint (an empty list: none), sent or not: what
    /// `/api/alerts` lists as `silenced_by`.
    pub fn marks(
        &self,
        active: &[ActiveAlert],
        view: impl Fn(&Event) -> AlertView,
        now: i64,
    ) -> Vec<(String, Vec<String>)> {
        // No silence, no mark (one that expired cleared its marks then).
        if self.silences.is_empty() {
            return Vec::new();
        }
        active
            .iter()
            .map(|a| {
                let v = view(&Event::Alert(a.firing(Timestamp(now))));
                let by = self.silences.silencing(|k| v.attribute_values(k), now);
                (v.fingerprint, by)
            })
            .collect()
    }

    /// Every held firing by fingerprint, with the silences holding it.
    pub fn held(&self) -> Vec<(String, Vec<String>)> {
        self.held
            .iter()
            .map(|(fp, h)| (fp.clone(), h.by.clone()))
            .collect()
    }

    pub fn take_changes(&mut self) -> Vec<(String, Vec<String>)> {
        std::mem::take(&mut self.changes)
    }

    /// The held participant alerts, for the saved state (an incident or a
    /// built-in alert held at a restart is judged afresh when it changes).
    pub fn snapshot(&self) -> Vec<HeldSnapshot> {
        self.held
            .values()
            .filter_map(|h| match &h.event {
                Event::Alert(t) => Some(HeldSnapshot {
                    rule: t.rule.to_string(),
                    meeting_id: t.meeting.id.as_deref().map(str::to_owned),
                    meeting_uuid: t.meeting.uuid.as_deref().map(str::to_owned),
                    user_id: t.participant.user_id.to_string(),
                    by: h.by.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Takes back the held firings of a saved state that the restored
    /// lifecycle still has firing.
    pub fn restore(&mut self, saved: Vec<HeldSnapshot>, engaged: &dyn Engaged) {
        for h in saved {
            let meeting = MeetingInfo::from_ids(h.meeting_id.as_deref(), h.meeting_uuid.as_deref());
            let Some(t) = engaged.firing_now(&meeting, &h.user_id, &h.rule) else {
                continue;
            };
            self.held.insert(
                t.fingerprint(),
                Held {
                    event: Event::Alert(t),
                    by: h.by,
                },
            );
        }
    }
}
