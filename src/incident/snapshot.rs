//! Saving and restoring the incident engine with the alert state: a
//! restart neither re-announces nor forgets an open incident.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::buckets::Counted;
use super::engine::{IncidentEngine, Open};
use super::members::{Firing, Member, meeting_key};
use crate::qos::{ATTRIBUTE_NAMES, MeetingInfo, ParticipantInfo};

/// The engine's state, for saving and restoring with the alert state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentSnapshot {
    members: Vec<MemberSnapshot>,
    /// (incident name, scope key) -> open incident.
    open: Vec<(String, String, Open)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct MemberSnapshot {
    meeting_id: Option<String>,
    meeting_uuid: Option<String>,
    topic: Option<String>,
    user_id: String,
    attributes: BTreeMap<String, String>,
    site: Option<String>,
    newest: i64,
    present: bool,
    firing: BTreeMap<String, Firing>,
}

impl IncidentEngine {
    /// The state to save.
    pub fn snapshot(&self) -> IncidentSnapshot {
        // Only members with a member alert firing: the others come back
        // with the next poll of their meeting, and saving every watched
        // participant every few seconds cost a third of a poll cycle's CPU
        // at 10,000 participants (BENCHMARKS.md). Until they do, a
        // population is smaller and an open incident only more likely to
        // hold, so a restart resolves nothing early.
        let mut members: Vec<MemberSnapshot> = self
            .members
            .values()
            .filter(|m| !m.firing.is_empty())
            .map(|m| MemberSnapshot {
                meeting_id: m.meeting.id.as_deref().map(str::to_owned),
                meeting_uuid: m.meeting.uuid.as_deref().map(str::to_owned),
                topic: m.meeting.topic.as_deref().map(str::to_owned),
                user_id: m.info.user_id.to_string(),
                attributes: ATTRIBUTE_NAMES
                    .iter()
                    .zip(&m.info.attributes)
                    .filter_map(|(n, v)| Some(((*n).to_owned(), v.as_deref()?.to_owned())))
                    .collect(),
                site: m.site.as_deref().map(str::to_owned),
                newest: m.newest,
                present: m.present,
                firing: m
                    .firing
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            })
            .collect();
        members.sort_by(|a, b| {
            (&a.meeting_uuid, &a.meeting_id, &a.user_id).cmp(&(
                &b.meeting_uuid,
                &b.meeting_id,
                &b.user_id,
            ))
        });
        let mut open: Vec<(String, String, Open)> = self
            .open
            .iter()
            .map(|((n, k), o)| (n.to_string(), k.clone(), o.clone()))
            .collect();
        open.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        IncidentSnapshot { members, open }
    }

    /// Restores saved state; incidents whose definition is gone are dropped
    /// (their resolution was the reload's to send).
    pub fn restore(&mut self, snap: IncidentSnapshot) {
        self.members.clear();
        for m in snap.members {
            let meeting = MeetingInfo {
                id: m.meeting_id.map(Arc::from),
                uuid: m.meeting_uuid.map(Arc::from),
                topic: m.topic.map(Arc::from),
            };
            let mut info = ParticipantInfo {
                user_id: Arc::from(m.user_id),
                ..ParticipantInfo::default()
            };
            for (n, v) in m.attributes {
                info.set_attribute(&n, Some(Arc::from(v)));
            }
            self.members.insert(Member {
                key: (Arc::from(meeting_key(&meeting)), info.user_id.clone()),
                meeting,
                info,
                site: m.site.map(Arc::from),
                newest: m.newest,
                present: m.present,
                firing: m
                    .firing
                    .into_iter()
                    .map(|(k, v)| (Arc::from(k), v))
                    .collect(),
                counted: Counted::default(),
            });
        }
        self.open.clear();
        for (name, key, o) in snap.open {
            if let Some(def) = self.defs.iter().find(|d| *d.name == *name) {
                self.open.insert((def.name.clone(), key), o);
            }
        }
        self.rebuild();
        self.forget_touched();
    }
}
