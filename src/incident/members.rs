//! The participants the incident engine knows, found by borrowed strings:
//! a sample's lookup hashes its meeting key and user id and clones nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use super::buckets::{Count, put};
use crate::qos::{MeetingInfo, ParticipantInfo};
use crate::rules::Severity;

/// Participant identity: meeting key + user_id.
pub(super) type MemberKey = (Arc<str>, Arc<str>);

/// The meeting key of a member of `meeting` ("" for the unnamed meeting).
pub(super) fn meeting_key(meeting: &MeetingInfo) -> &str {
    meeting.key().map_or("", |k| k)
}

/// A member alert firing for a participant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Firing {
    pub(super) severity: Severity,
    pub(super) metric: String,
    pub(super) value: f64,
    pub(super) unit: crate::qos::Unit,
}

#[derive(Clone, Debug)]
pub(super) struct Member {
    /// Its key in [`Members`], kept for the buckets' member sets.
    pub(super) key: MemberKey,
    pub(super) meeting: MeetingInfo,
    pub(super) info: ParticipantInfo,
    pub(super) site: Option<Arc<str>>,
    pub(super) newest: i64,
    pub(super) present: bool,
    /// Rule name -> what it reported when it fired.
    pub(super) firing: BTreeMap<Arc<str>, Firing>,
    /// Per incident definition: where this member is counted.
    pub(super) counted: Vec<Option<Count>>,
}

impl Member {
    /// A member first seen in `meeting`, counted nowhere yet.
    pub(super) fn new(meeting: &MeetingInfo, info: &ParticipantInfo) -> Self {
        Member {
            key: (Arc::from(meeting_key(meeting)), info.user_id.clone()),
            meeting: meeting.clone(),
            info: info.clone(),
            site: None,
            newest: i64::MIN,
            present: true,
            firing: BTreeMap::new(),
            counted: Vec::new(),
        }
    }
}

/// Members by meeting key, then by user id. A batch is one meeting's, so
/// the meeting last looked up is tried first, by pointer.
#[derive(Debug, Default)]
pub(super) struct Members {
    index: HashMap<Arc<str>, usize>,
    /// Per meeting slot: its key and its members; `None` when free.
    slots: Vec<Option<(Arc<str>, Users)>>,
    free: Vec<usize>,
    /// The slot of the meeting last looked up mutably.
    last: Option<usize>,
}

type Users = HashMap<Arc<str>, Member>;

impl Members {
    fn users(&self, meeting: &str) -> Option<&Users> {
        let i = *self.index.get(meeting)?;
        self.slots[i].as_ref().map(|(_, u)| u)
    }

    /// The slot of `meeting`: the last one when it is the same string.
    fn slot_of(&mut self, meeting: &str) -> Option<usize> {
        if let Some(i) = self.last
            && let Some((k, _)) = &self.slots[i]
            && (std::ptr::eq(k.as_ptr(), meeting.as_ptr()) || **k == *meeting)
        {
            return Some(i);
        }
        let i = *self.index.get(meeting)?;
        self.last = Some(i);
        Some(i)
    }

    pub(super) fn get(&self, meeting: &str, user_id: &str) -> Option<&Member> {
        self.users(meeting)?.get(user_id)
    }

    pub(super) fn get_mut(&mut self, meeting: &str, user_id: &str) -> Option<&mut Member> {
        let i = self.slot_of(meeting)?;
        self.slots[i].as_mut()?.1.get_mut(user_id)
    }

    /// The member under `key` (a bucket's member set).
    pub(super) fn by_key(&self, key: &MemberKey) -> Option<&Member> {
        self.get(&key.0, &key.1)
    }

    /// A new member of `meeting` (the caller found none).
    pub(super) fn insert_new(
        &mut self,
        meeting: &MeetingInfo,
        info: &ParticipantInfo,
    ) -> &mut Member {
        self.insert(Member::new(meeting, info))
    }

    /// Adds a member (new, or restored).
    pub(super) fn insert(&mut self, m: Member) -> &mut Member {
        let i = match self.index.get(&*m.key.0) {
            Some(i) => *i,
            None => {
                let slot = Some((m.key.0.clone(), Users::default()));
                let i = put(&mut self.slots, &mut self.free, slot);
                self.index.insert(m.key.0.clone(), i);
                i
            }
        };
        let users = &mut self.slots[i].as_mut().expect("an indexed slot is used").1;
        let user = m.key.1.clone();
        users.insert(user.clone(), m);
        users.get_mut(&user).expect("inserted above")
    }

    /// Takes every member of a meeting out.
    pub(super) fn remove_meeting(&mut self, meeting: &str) -> Vec<Member> {
        let Some(i) = self.index.remove(meeting) else {
            return Vec::new();
        };
        if self.last == Some(i) {
            self.last = None;
        }
        self.free.push(i);
        self.slots[i]
            .take()
            .map(|(_, users)| users.into_values().collect())
            .unwrap_or_default()
    }

    /// Some member of a meeting.
    pub(super) fn any_of(&self, meeting: &str) -> Option<&Member> {
        self.users(meeting)?.values().next()
    }

    pub(super) fn clear(&mut self) {
        *self = Members::default();
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Member> {
        self.slots.iter().flatten().flat_map(|(_, u)| u.values())
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.slots
            .iter_mut()
            .flatten()
            .flat_map(|(_, u)| u.values_mut())
    }
}
