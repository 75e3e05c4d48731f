//! The engine's state for persistence, and its restoration: what a restart
//! needs so that it neither re-announces nor forgets an alert.

use super::*;

/// The engine's state for persistence: per participant with an alert
/// pending or firing, the newest sample time and every such phase by rule
/// name.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub participants: Vec<ParticipantSnapshot>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParticipantSnapshot {
    pub meeting_id: Option<String>,
    pub meeting_uuid: Option<String>,
    pub topic: Option<String>,
    pub user_id: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub last_at: Option<i64>,
    pub phases: std::collections::BTreeMap<String, PhaseSnapshot>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum PhaseSnapshot {
    Pending {
        started: i64,
        count: u32,
    },
    Firing {
        since: i64,
        clearing_since: Option<i64>,
        metric: String,
        value: f64,
        threshold: f64,
        /// The metric and threshold the firing transition reported (state
        /// files written before they were kept lack them: the last figures
        /// stand in).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fired_metric: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fired_threshold: Option<f64>,
    },
}

impl Engine {
    /// The state to persist.
    pub fn snapshot(&self) -> Snapshot {
        let mut participants = Vec::new();
        for state in self.participants.values().flat_map(HashMap::values) {
            // A participant with every alert inactive carries nothing a
            // restart needs: it is seen again as a first sight, whose history
            // builds the same state silently.
            if !state.engaged {
                continue;
            }
            let mut phases = std::collections::BTreeMap::new();
            for (i, phase) in state.phases.iter().enumerate() {
                let snap = match *phase {
                    Phase::Inactive => continue,
                    Phase::Pending { started, count } => PhaseSnapshot::Pending {
                        started: started.0,
                        count,
                    },
                    Phase::Firing {
                        since,
                        clearing_since,
                        last,
                        fired,
                    } => PhaseSnapshot::Firing {
                        since: since.0,
                        clearing_since: clearing_since.map(|t| t.0),
                        metric: last.metric.path(),
                        value: last.value,
                        threshold: last.threshold,
                        fired_metric: Some(fired.metric.path()),
                        fired_threshold: Some(fired.threshold),
                    },
                };
                phases.insert(self.rules[i].name.clone(), snap);
            }
            // The site is kept among the attributes: a restored alert
            // still routes and reads by it before its next sample.
            let attributes = crate::qos::ATTRIBUTE_NAMES
                .iter()
                .zip(&state.info.attributes)
                .chain(std::iter::once((&"site", &state.info.site)))
                .filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.to_string())))
                .collect();
            participants.push(ParticipantSnapshot {
                meeting_id: state.meeting.id.as_deref().map(str::to_owned),
                meeting_uuid: state.meeting.uuid.as_deref().map(str::to_owned),
                topic: state.meeting.topic.as_deref().map(str::to_owned),
                user_id: state.info.user_id.to_string(),
                attributes,
                last_at: state.last_at.map(|t| t.0),
                phases,
            });
        }
        participants.sort_by(|a, b| {
            (&a.meeting_uuid, &a.meeting_id, &a.user_id).cmp(&(
                &b.meeting_uuid,
                &b.meeting_id,
                &b.user_id,
            ))
        });
        Snapshot { participants }
    }

    /// Restores persisted state (rules are matched by name; phases of rules
    /// that no longer exist are dropped).
    pub fn restore(&mut self, snapshot: Snapshot) {
        for p in snapshot.participants {
            let arc = |s: Option<String>| s.map(|s| Arc::from(s.as_str()));
            let meeting = MeetingInfo {
                id: arc(p.meeting_id),
                uuid: arc(p.meeting_uuid),
                topic: arc(p.topic),
            };
            let mut info = ParticipantInfo {
                user_id: Arc::from(p.user_id.as_str()),
                ..ParticipantInfo::default()
            };
            for (k, v) in &p.attributes {
                if k == "site" {
                    info.site = Some(Arc::from(v.as_str()));
                } else {
                    info.set_attribute(k, Some(Arc::from(v.as_str())));
                }
            }
            let phases = self
                .rules
                .iter()
                .map(|r| match p.phases.get(&r.name) {
                    None => Phase::Inactive,
                    Some(PhaseSnapshot::Pending { started, count }) => Phase::Pending {
                        started: Timestamp(*started),
                        count: *count,
                    },
                    Some(PhaseSnapshot::Firing {
                        since,
                        clearing_since,
                        metric,
                        value,
                        threshold,
                        fired_metric,
                        fired_threshold,
                    }) => match Metric::from_path(metric) {
                        Some(metric) => {
                            let last = Report {
                                metric,
                                value: *value,
                                threshold: *threshold,
                            };
                            let fired = Report {
                                metric: fired_metric
                                    .as_deref()
                                    .and_then(Metric::from_path)
                                    .unwrap_or(metric),
                                threshold: fired_threshold.unwrap_or(*threshold),
                                ..last
                            };
                            Phase::Firing {
                                since: Timestamp(*since),
                                clearing_since: clearing_since.map(Timestamp),
                                last,
                                fired,
                            }
                        }
                        None => Phase::Inactive,
                    },
                })
                .collect();
            let mut state = ParticipantState {
                applies: applicability(&self.rules, &meeting, &info),
                meeting: meeting.clone(),
                info: info.clone(),
                last_at: p.last_at.map(Timestamp),
                phases,
                engaged: true,
            };
            state.note_phases();
            self.participants
                .entry(meeting.key().cloned())
                .or_default()
                .insert(info.user_id.clone(), state);
        }
    }
}
