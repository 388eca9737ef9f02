//! A generational slab: the one table of handles behind PollDescs, io_uring ops, tasks and
//! shutdown waiters.
//!
//! Values live in a `Vec` of entries; a [`Key`] names an entry by index *and* by the entry's
//! generation, which [`Slab::remove`] bumps. A key kept after its value was removed (an epoll
//! event for a closed fd, a CQE or cancel for a finished op, a wake for a finished task) is
//! therefore stale: every lookup with it returns `None`, even once the index holds a new
//! value. This is Go's `fdseq` and the op table's `user_data` generation, written once.
//!
//! Vacant entries form a free list threaded through the entries themselves (LIFO, so a hot
//! slot is reused first), which makes insert, remove and lookup O(1) with no allocation but
//! the `Vec`'s growth.
//!
//! Generations never wrap: an entry whose generation would reach `u32::MAX` is retired (left
//! vacant and off the free list, costing one entry per four billion reuses), so no stale key
//! is ever mistaken for a live one. It follows that [`Key::to_u64`] of a key this slab hands
//! out never has all 32 high bits set: callers may reserve such values (the io_uring driver's
//! eventfd and ignored-op `user_data`).
//!
//! Pure bookkeeping, no `unsafe`, no syscalls: the tests run under Miri with the rest of the
//! crate's state machines.

use std::fmt;

/// Names one value in a [`Slab`]: its index and the generation it was inserted under.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The key as one word, `generation << 32 | index`: an epoll token or an SQE's
    /// `user_data`, round-tripped by [`Key::from_u64`].
    pub const fn to_u64(self) -> u64 {
        (self.generation as u64) << 32 | self.index as u64
    }

    /// The key packed by [`Key::to_u64`]. Any word is accepted: one that names no live value
    /// (a kernel's stray `user_data`) simply finds nothing.
    pub const fn from_u64(word: u64) -> Key {
        Key { index: word as u32, generation: (word >> 32) as u32 }
    }

    /// The entry's position in the slab (stable while the value lives; reused after).
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}v{})", self.index, self.generation)
    }
}

/// Generations stop below this: see the module doc.
const RETIRED: u32 = u32::MAX;
/// The end of the free list.
const NONE: u32 = u32::MAX;

struct Entry<T> {
    generation: u32,
    state: State<T>,
}

enum State<T> {
    Occupied(T),
    /// The next vacant entry of the free list, or [`NONE`].
    Vacant {
        next_free: u32,
    },
}

/// A table of values addressed by generational [`Key`]s.
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    /// The head of the free list, or [`NONE`].
    free_head: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab; allocates on the first insert.
    pub const fn new() -> Slab<T> {
        Slab { entries: Vec::new(), free_head: NONE, len: 0 }
    }

    /// An empty slab with room for `capacity` values before it reallocates.
    pub fn with_capacity(capacity: usize) -> Slab<T> {
        Slab { entries: Vec::with_capacity(capacity), free_head: NONE, len: 0 }
    }

    /// Stores `value`, reusing the most recently freed entry, and returns its key.
    ///
    /// # Panics
    /// If the slab already holds `u32::MAX - 1` entries.
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if self.free_head != NONE {
            let index = self.free_head;
            let entry = &mut self.entries[index as usize];
            let State::Vacant { next_free } = entry.state else {
                unreachable!("the free list holds an occupied entry");
            };
            self.free_head = next_free;
            entry.state = State::Occupied(value);
            return Key { index, generation: entry.generation };
        }
        let index = u32::try_from(self.entries.len()).ok().filter(|&i| i < NONE).expect("slab full: 2^32 - 1 entries");
        self.entries.push(Entry { generation: 0, state: State::Occupied(value) });
        Key { index, generation: 0 }
    }

    /// The key the next [`Slab::insert`] will return, for a value that must know its own key
    /// (a task's waker carries it).
    pub fn vacant_key(&self) -> Key {
        match self.free_head {
            NONE => Key { index: self.entries.len() as u32, generation: 0 },
            index => Key { index, generation: self.entries[index as usize].generation },
        }
    }

    /// Removes and returns the value of `key`; None if `key` is stale. From now on `key` and
    /// every copy of it find nothing.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.generation != key.generation || !matches!(entry.state, State::Occupied(_)) {
            return None;
        }
        entry.generation += 1;
        let next_free = if entry.generation == RETIRED { NONE } else { self.free_head };
        let State::Occupied(value) = std::mem::replace(&mut entry.state, State::Vacant { next_free }) else {
            unreachable!("checked occupied above");
        };
        if entry.generation != RETIRED {
            self.free_head = key.index;
        }
        self.len -= 1;
        Some(value)
    }

    /// The value of `key`, if `key` is live.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.entries.get(key.index as usize) {
            Some(Entry { generation, state: State::Occupied(value) }) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The value of `key`, mutably, if `key` is live.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(Entry { generation, state: State::Occupied(value) }) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// Whether `key` names a live value.
    pub fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The live values with their keys, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.entries.iter().enumerate().filter_map(|(index, entry)| match &entry.state {
            State::Occupied(value) => Some((Key { index: index as u32, generation: entry.generation }, value)),
            State::Vacant { .. } => None,
        })
    }

    /// The live values with their keys, mutably, in index order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> {
        self.entries.iter_mut().enumerate().filter_map(|(index, entry)| match &mut entry.state {
            State::Occupied(value) => Some((Key { index: index as u32, generation: entry.generation }, value)),
            State::Vacant { .. } => None,
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::rc::Rc;

    #[test]
    fn a_value_is_found_by_its_key_until_removed() {
        let mut slab = Slab::new();
        let (a, b) = (slab.insert("a"), slab.insert("b"));
        assert_eq!((slab.get(a), slab.get(b)), (Some(&"a"), Some(&"b")));
        *slab.get_mut(b).unwrap() = "B";
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.remove(b), Some("B"));
        assert_eq!(slab.remove(b), None, "removed once only");
        assert!(!slab.contains(b) && slab.contains(a));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_stale_key_misses_the_value_that_reuses_its_slot() {
        let mut slab = Slab::new();
        let old = slab.insert(1);
        slab.remove(old);
        let new = slab.insert(2);
        assert_eq!(old.index(), new.index(), "the freed slot is reused");
        assert_ne!(old, new);
        assert_ne!(old.to_u64(), new.to_u64(), "as a token or user_data too");
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None, "a stale remove frees nothing");
        assert_eq!(slab.get(new), Some(&2));
    }

    #[test]
    fn keys_round_trip_through_a_word_and_stray_words_find_nothing() {
        let mut slab = Slab::new();
        let keys: Vec<Key> = (0..3).map(|i| slab.insert(i)).collect();
        slab.remove(keys[1]);
        let reused = slab.insert(10);
        assert_eq!(Key::from_u64(reused.to_u64()), reused);
        assert_eq!(reused.to_u64(), 1 << 32 | 1, "generation << 32 | index");
        assert_eq!(slab.get(Key::from_u64(reused.to_u64())), Some(&10));
        for stray in [u64::MAX, u64::MAX - 1, 7, 1] {
            assert_eq!(slab.get(Key::from_u64(stray)), None, "{stray:#x}");
        }
    }

    #[test]
    fn the_free_list_reuses_the_latest_slot_first_and_grows_only_when_empty() {
        let mut slab = Slab::with_capacity(4);
        let keys: Vec<Key> = (0..4).map(|i| slab.insert(i)).collect();
        slab.remove(keys[1]);
        slab.remove(keys[3]);
        assert_eq!(slab.vacant_key(), Key { index: 3, generation: 1 });
        assert_eq!(slab.insert(30).index(), 3);
        assert_eq!(slab.insert(10).index(), 1);
        assert_eq!(slab.vacant_key(), Key { index: 4, generation: 0 });
        assert_eq!(slab.insert(4).index(), 4, "no vacant entry left: grow");
        let live: Vec<(usize, i32)> = slab.iter().map(|(k, v)| (k.index(), *v)).collect();
        assert_eq!(live, [(0, 0), (1, 10), (2, 2), (3, 30), (4, 4)]);
    }

    #[test]
    fn iteration_yields_live_keys_and_values_only() {
        let mut slab = Slab::new();
        let keys: Vec<Key> = (0..5).map(|i| slab.insert(i)).collect();
        slab.remove(keys[0]);
        slab.remove(keys[2]);
        for (key, value) in slab.iter_mut() {
            *value *= 10;
            assert!(keys.contains(&key));
        }
        let seen: Vec<(Key, i32)> = slab.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(seen, [(keys[1], 10), (keys[3], 30), (keys[4], 40)]);
    }

    #[test]
    fn an_entry_is_retired_before_its_generation_could_wrap() {
        let mut slab = Slab::new();
        let key = slab.insert(());
        slab.entries[key.index()].generation = RETIRED - 1;
        let last = Key { index: key.index, generation: RETIRED - 1 };
        assert_eq!(slab.remove(last), Some(()));
        let next = slab.insert(());
        assert_ne!(next.index(), key.index(), "the worn-out entry is not reused");
        assert_eq!(slab.get(Key { index: key.index, generation: RETIRED }), None);
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn values_are_dropped_on_remove_and_with_the_slab() {
        let token = Rc::new(());
        let mut slab = Slab::new();
        let a = slab.insert(token.clone());
        slab.insert(token.clone());
        drop(slab.remove(a));
        assert_eq!(Rc::strong_count(&token), 2);
        drop(slab);
        assert_eq!(Rc::strong_count(&token), 1, "nothing leaked");
    }

    /// A deterministic fuzz against a HashMap model: random inserts, removes and lookups with
    /// live and stale keys. No key is ever handed out twice, and a stale key never finds a
    /// value.
    #[test]
    fn random_operations_match_a_map() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut slab = Slab::new();
        let mut model: HashMap<Key, usize> = HashMap::new();
        let (mut dead, mut dead_set): (Vec<Key>, HashSet<Key>) = Default::default();
        let rounds = if cfg!(miri) { 300 } else { 20_000 };
        for round in 0..rounds {
            match next(3) {
                0 | 1 if model.len() < 64 || next(2) == 0 => {
                    let vacant = slab.vacant_key();
                    let key = slab.insert(round);
                    assert_eq!(key, vacant, "vacant_key foretells the insert");
                    assert!(!dead_set.contains(&key), "{key:?} handed out again");
                    assert!(model.insert(key, round).is_none(), "{key:?} handed out twice");
                }
                _ if !model.is_empty() => {
                    let mut keys: Vec<Key> = model.keys().copied().collect();
                    keys.sort_unstable_by_key(|k| k.to_u64());
                    let key = keys[next(keys.len())];
                    assert_eq!(slab.remove(key), model.remove(&key));
                    dead.push(key);
                    dead_set.insert(key);
                }
                _ => {}
            }
            if let Some(&stale) = dead.get(next(dead.len() + 1)) {
                assert_eq!(slab.get(stale), None);
            }
            assert_eq!(slab.len(), model.len());
        }
        for (key, value) in &model {
            assert_eq!(slab.get(*key), Some(value));
        }
        assert_eq!(slab.iter().count(), model.len());
    }
}
