//! The participants the incident engine knows, found by borrowed strings:
//! a sample's lookup hashes its meeting key and user id and clones nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

use super::buckets::{Counted, put};
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

/// The fields a sample reads come first, in this order (`repr(C)`), so that
/// they share the few cache lines its lookup brings in.
#[derive(Clone, Debug)]
#[repr(C)]
pub(super) struct Member {
    pub(super) meeting: MeetingInfo,
    pub(super) newest: i64,
    pub(super) present: bool,
    pub(super) site: Option<Arc<str>>,
    /// Per incident definition: where this member is counted.
    pub(super) counted: Counted,
    pub(super) info: ParticipantInfo,
    /// Rule name -> what it reported when it fired.
    pub(super) firing: BTreeMap<Arc<str>, Firing>,
    /// Its key in [`Members`], kept for the buckets' member sets.
    pub(super) key: MemberKey,
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
            counted: Counted::default(),
        }
    }
}

/// Members by meeting key, then by user id. A batch is one meeting's, so
/// the meeting last looked up is tried first, by pointer; and Zoom lists a
/// meeting's participants in the same order every poll, so the member after
/// the last one found is tried before any hashing.
#[derive(Debug, Default)]
pub(super) struct Members {
    index: HashMap<Arc<str>, usize>,
    /// Per meeting slot: its key and its members; `None` when free.
    slots: Vec<Option<(Arc<str>, Users)>>,
    free: Vec<usize>,
    /// The slot of the meeting last looked up mutably.
    last: Option<usize>,
}

/// One meeting's members, in the order they were first seen (a member
/// stays until its meeting ends).
#[derive(Debug, Default)]
struct Users {
    list: Vec<Member>,
    index: HashMap<Arc<str>, usize>,
    /// Where the next lookup is tried first.
    cursor: usize,
}

impl Users {
    fn get(&self, user_id: &str) -> Option<&Member> {
        self.index.get(user_id).map(|i| &self.list[*i])
    }

    fn get_mut(&mut self, user_id: &str) -> Option<&mut Member> {
        let next = self.list.get(self.cursor).map(|m| &m.key.1);
        let i = match next {
            Some(k) if std::ptr::eq(k.as_ptr(), user_id.as_ptr()) || **k == *user_id => self.cursor,
            _ => *self.index.get(user_id)?,
        };
        self.cursor = i + 1;
        Some(&mut self.list[i])
    }

    fn insert(&mut self, m: Member) -> &mut Member {
        let i = match self.index.get(&*m.key.1) {
            Some(i) => {
                self.list[*i] = m;
                *i
            }
            None => {
                self.index.insert(m.key.1.clone(), self.list.len());
                self.list.push(m);
                self.list.len() - 1
            }
        };
        &mut self.list[i]
    }
}

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
        self.slots[i]
            .as_mut()
            .expect("an indexed slot is used")
            .1
            .insert(m)
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
            .map(|(_, users)| users.list)
            .unwrap_or_default()
    }

    /// Some member of a meeting.
    pub(super) fn any_of(&self, meeting: &str) -> Option<&Member> {
        self.users(meeting)?.list.first()
    }

    pub(super) fn clear(&mut self) {
        *self = Members::default();
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Member> {
        self.slots.iter().flatten().flat_map(|(_, u)| &u.list)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.slots
            .iter_mut()
            .flatten()
            .flat_map(|(_, u)| &mut u.list)
    }
}
