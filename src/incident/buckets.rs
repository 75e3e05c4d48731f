//! Where members are counted: per incident definition, one bucket per
//! scope value with its population and affected counts by sample time.

use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use super::IncidentDef;
use super::members::{Member, MemberKey};
use crate::incident::engine::scope_key_of;

/// One member's contribution to a bucket.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Count {
    at: i64,
    /// The bucket's slot in its definition's [`Buckets`].
    slot: u32,
    affected: bool,
}

/// Per incident definition: where a member is counted. Held in the member
/// itself for the first few definitions (a pack has a handful), so a
/// sample's count is found without following a pointer.
#[derive(Clone, Debug, Default)]
pub(super) struct Counted {
    inline: [Option<Count>; INLINE],
    more: Vec<Option<Count>>,
}

const INLINE: usize = 4;

impl Counted {
    /// Room for `n` definitions.
    fn ensure(&mut self, n: usize) {
        if n > INLINE && self.more.len() < n - INLINE {
            self.more.resize(n - INLINE, None);
        }
    }
}

impl std::ops::Index<usize> for Counted {
    type Output = Option<Count>;
    fn index(&self, d: usize) -> &Option<Count> {
        match d.checked_sub(INLINE) {
            None => &self.inline[d],
            Some(i) => &self.more[i],
        }
    }
}

impl std::ops::IndexMut<usize> for Counted {
    fn index_mut(&mut self, d: usize) -> &mut Option<Count> {
        match d.checked_sub(INLINE) {
            None => &mut self.inline[d],
            Some(i) => &mut self.more[i],
        }
    }
}

/// One definition's buckets, by scope key, in slots that stay put while
/// members point at them (a member's count finds its bucket without
/// hashing its scope key; a removed bucket's slot is reused).
#[derive(Clone, Debug, Default)]
pub(super) struct Buckets {
    pub(super) index: HashMap<String, usize>,
    pub(super) slots: Vec<Bucket>,
    free: Vec<usize>,
}

impl Buckets {
    pub(super) fn get(&self, key: &str) -> Option<&Bucket> {
        self.index.get(key).map(|i| &self.slots[*i])
    }

    /// The slot of `key`'s bucket, made when there is none.
    fn slot(&mut self, key: &str) -> usize {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        let bucket = Bucket {
            key: key.to_owned(),
            ..Bucket::default()
        };
        let i = put(&mut self.slots, &mut self.free, bucket);
        self.index.insert(key.to_owned(), i);
        i
    }

    pub(super) fn remove(&mut self, key: &str) {
        if let Some(i) = self.index.remove(key) {
            self.slots[i] = Bucket::default();
            self.free.push(i);
        }
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Bucket> {
        self.index.values().map(|i| &self.slots[*i])
    }
}

/// Puts `item` in a free slot, or a new one; returns its slot.
pub(super) fn put<T>(slots: &mut Vec<T>, free: &mut Vec<usize>, item: T) -> usize {
    match free.pop() {
        Some(i) => {
            slots[i] = item;
            i
        }
        None => {
            slots.push(item);
            slots.len() - 1
        }
    }
}

/// The members of one scope value of one incident definition.
#[derive(Clone, Debug, Default)]
pub(super) struct Bucket {
    /// Its scope key.
    pub(super) key: String,
    /// Listed in `touched` since the last evaluation.
    pub(super) dirty: bool,
    pub(super) members: FxHashSet<MemberKey>,
    /// Present members by newest sample time.
    pub(super) present: TimeCounts,
    /// Affected members by newest sample time.
    pub(super) affected: TimeCounts,
    /// Members with a member alert firing, whatever their sample time: an
    /// upper bound of `affected`, so most scope values need no evaluation.
    pub(super) affected_any: u32,
    /// The newest sample seen in this scope value.
    pub(super) newest: i64,
}

/// Counts by sample time, oldest first. A scope value's members report a
/// handful of distinct times (the last few minutes), so a short sorted
/// list beats a tree: no node allocated or freed as minutes go by.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct TimeCounts(Vec<(i64, u32)>);

impl TimeCounts {
    pub(super) fn inc(&mut self, at: i64) {
        // The newest time is the usual one: search from the end.
        match self.0.iter().rposition(|(t, _)| *t <= at) {
            Some(i) if self.0[i].0 == at => self.0[i].1 += 1,
            Some(i) => self.0.insert(i + 1, (at, 1)),
            None => self.0.insert(0, (at, 1)),
        }
    }

    pub(super) fn dec(&mut self, at: i64) {
        if let Some(i) = self.0.iter().rposition(|(t, _)| *t == at) {
            self.0[i].1 -= 1;
            if self.0[i].1 == 0 {
                self.0.remove(i);
            }
        }
    }

    /// The count of entries at `from` or later.
    pub(super) fn sum_from(&self, from: i64) -> u32 {
        self.0
            .iter()
            .rev()
            .take_while(|(t, _)| *t >= from)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Per definition: its buckets, the bucket slots changed since the last
/// evaluation, and whether any of its scope values could change at all.
pub(super) struct Tallies<'a> {
    pub(super) buckets: &'a mut [Buckets],
    pub(super) touched: &'a mut [Vec<usize>],
    pub(super) hot: &'a mut [bool],
}

/// What changed about a member since it was last counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// A newer sample, nothing else.
    Sample,
    /// Its member alerts firing.
    Firing,
    /// What places it: its meeting, attributes, site or presence (or the
    /// definitions).
    Moved,
}

/// Moves a member's counts to where it belongs now. A newer sample in the
/// same scope value only moves its counts by time (no allocation, the
/// member set untouched), and marks the scope value for evaluation only
/// when some alert or incident of that definition could change. `change`
/// says what may have changed since its last count: for a new sample and
/// nothing else, its buckets and whether it is affected are known without
/// a look.
pub(super) fn recount(defs: &[IncidentDef], t: Tallies<'_>, member: &mut Member, change: Change) {
    let moved = change == Change::Moved;
    let Member {
        key,
        meeting,
        info,
        site,
        newest,
        present,
        firing,
        counted,
    } = member;
    counted.ensure(defs.len());
    for (d, def) in defs.iter().enumerate() {
        let buckets = &mut t.buckets[d];
        // Whether it stays in the bucket it is counted in, and where it
        // belongs when it moved.
        let (stays, new_key) = if moved {
            let k = scope_key_of(def, meeting, site.as_deref(), info).filter(|_| *present);
            let stays = match (&counted[d], k) {
                (Some(old), Some(k)) => buckets.slots[old.slot as usize].key == k,
                _ => false,
            };
            (stays, k)
        } else if counted[d].is_some() {
            (true, None)
        } else {
            continue;
        };
        let at = *newest;
        let affected = match (&counted[d], change) {
            (Some(old), Change::Sample) => old.affected,
            _ => (stays || new_key.is_some()) && firing.keys().any(|r| def.has_member(r)),
        };
        let touched = &mut t.touched[d];
        let hot = &mut t.hot[d];
        if stays && let Some(old) = counted[d].as_mut() {
            if old.at == at && old.affected == affected {
                continue;
            }
            let changed = old.affected != affected;
            let b = &mut buckets.slots[old.slot as usize];
            b.present.dec(old.at);
            b.present.inc(at);
            if old.affected {
                b.affected.dec(old.at);
                b.affected_any -= 1;
            }
            if affected {
                b.affected.inc(at);
                b.affected_any += 1;
                *hot = true;
            }
            b.newest = b.newest.max(at);
            old.at = at;
            old.affected = affected;
            // With nothing of this definition firing anywhere, a newer
            // sample cannot make an incident: no evaluation needed.
            if (changed || *hot) && !b.dirty {
                b.dirty = true;
                touched.push(old.slot as usize);
            }
            continue;
        }
        if let Some(old) = counted[d].take() {
            let b = &mut buckets.slots[old.slot as usize];
            b.members.remove(&*key);
            b.present.dec(old.at);
            if old.affected {
                b.affected.dec(old.at);
                b.affected_any -= 1;
            }
            if !b.dirty {
                b.dirty = true;
                touched.push(old.slot as usize);
            }
        }
        counted[d] = new_key.map(|k| {
            let slot = buckets.slot(k);
            let b = &mut buckets.slots[slot];
            b.members.insert(key.clone());
            b.present.inc(at);
            if affected {
                b.affected.inc(at);
                b.affected_any += 1;
                *hot = true;
            }
            b.newest = b.newest.max(at);
            if !b.dirty {
                b.dirty = true;
                touched.push(slot);
            }
            Count {
                at,
                slot: slot as u32,
                affected,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::TimeCounts;

    #[test]
    fn time_counts_keep_order_and_drop_empty_times() {
        let mut c = TimeCounts::default();
        for at in [120, 60, 180, 120, 0] {
            c.inc(at);
        }
        assert_eq!(c.0, vec![(0, 1), (60, 1), (120, 2), (180, 1)]);
        assert_eq!(c.sum_from(100), 3);
        assert_eq!(c.sum_from(181), 0);
        assert_eq!(c.sum_from(i64::MIN), 5);
        c.dec(60);
        c.dec(120);
        c.dec(999);
        assert_eq!(c.0, vec![(0, 1), (120, 1), (180, 1)]);
    }
}
