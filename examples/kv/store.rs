//! One core's shard: its keys, their values and expiry times, and the operations on them.
//!
//! The map is touched only by its own core (local connections directly, other cores through
//! batches), so it is a plain hash table behind a `RefCell`: no lock, no atomic. It is
//! hashbrown's `HashTable`, which takes each key's hash as computed where its request was
//! parsed (`hash.rs`): std's `HashMap` would hash every key again. Expired keys
//! are removed when touched, and swept once a second. Replies are encoded straight from the
//! map into the caller's buffer: a GET copies its value once, into the reply.

use std::time::{Duration, Instant};

use hashbrown::HashTable;

use super::hash::{self, Key};
use super::op::Op;
use super::replies;
use super::resp::integer;

struct Entry {
    key: Vec<u8>,
    value: Vec<u8>,
    expires: Option<Instant>,
}

/// When a TTL given at `now` runs out. Commands refuse TTLs whose milliseconds overflow an
/// i64, as Redis does; a deadline still past what an `Instant` can hold is never reached, so
/// it is no deadline (`now + ttl` would panic).
fn deadline(now: Instant, ttl: Duration) -> Option<Instant> {
    now.checked_add(ttl)
}

impl Entry {
    /// The hash the table files this entry under, computed again only when the table grows.
    fn hash(&self) -> u64 {
        hash::hash(&self.key)
    }

    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// Counters for INFO.
#[derive(Default, Debug, Clone, Copy)]
pub struct Served {
    /// Operations from this core's own connections.
    pub local: u64,
    /// Operations that came from other cores.
    pub remote: u64,
}

/// One shard's keys.
#[derive(Default)]
pub struct Store {
    map: HashTable<Entry>,
    /// Whether any key may have an expiry time; until one does, a lookup is one probe,
    /// with no expiry check. Cleared by a sweep that finds none left.
    expiring: bool,
    /// Operations served, by origin.
    pub served: Served,
}

impl Store {
    /// Applies `op` as of `now` and appends its reply to `out`. INFO is the shard's to
    /// answer (it knows its core), not the store's: it gets an error here.
    pub fn apply(&mut self, op: Op<'_>, now: Instant, out: &mut Vec<u8>) {
        match op {
            Op::Get(key) => match self.live(key, now) {
                Some(e) => replies::bulk(out, &e.value),
                None => replies::nil(out),
            },
            Op::Set { key, value, ttl } => {
                let expires = ttl.and_then(|t| deadline(now, t));
                self.expiring |= expires.is_some();
                match self.map.find_mut(key.hash, |e| e.key == key.bytes) {
                    // Overwriting keeps the key and reuses the value's allocation.
                    Some(e) => {
                        e.value.clear();
                        e.value.extend_from_slice(value);
                        e.expires = expires;
                    }
                    None => self.insert(key, value, expires),
                }
                replies::status(out, "OK");
            }
            Op::Del(key) => replies::int(out, self.take(key, now) as i64),
            Op::Exists(key) => replies::int(out, self.live(key, now).is_some() as i64),
            Op::Incr(key) => self.incr(key, now, out),
            Op::Expire(key, secs) => {
                if secs <= 0 {
                    return replies::int(out, self.take(key, now) as i64);
                }
                match self.live_mut(key, now) {
                    Some(e) => {
                        e.expires = deadline(now, Duration::from_secs(secs.unsigned_abs()));
                        self.expiring = true;
                        replies::int(out, 1);
                    }
                    None => replies::int(out, 0),
                }
            }
            Op::Ttl(key) => match self.live(key, now) {
                None => replies::int(out, -2),
                Some(Entry { expires: None, .. }) => replies::int(out, -1),
                Some(Entry { expires: Some(t), .. }) => {
                    let secs = ((*t - now).as_millis() + 500) / 1000;
                    replies::int(out, i64::try_from(secs).unwrap_or(i64::MAX))
                }
            },
            Op::DbSize => {
                self.sweep(now);
                replies::int(out, self.map.len() as i64);
            }
            Op::FlushAll => {
                self.map.clear();
                replies::status(out, "OK");
            }
            Op::Info => replies::error(out, "ERR INFO is answered by the shard"),
        }
    }

    /// Keys stored (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Removes every expired key.
    pub fn sweep(&mut self, now: Instant) {
        if !self.expiring {
            return;
        }
        let mut expiring = false;
        self.map.retain(|e| {
            expiring |= e.expires.is_some();
            e.live(now)
        });
        self.expiring = expiring;
    }

    fn insert(&mut self, key: Key<'_>, value: &[u8], expires: Option<Instant>) {
        let entry = Entry { key: key.bytes.to_vec(), value: value.to_vec(), expires };
        self.map.insert_unique(key.hash, entry, Entry::hash);
    }

    fn incr(&mut self, key: Key<'_>, now: Instant, out: &mut Vec<u8>) {
        let current = match self.live(key, now) {
            None => 0,
            Some(e) => match integer(&e.value) {
                Some(n) => n,
                None => return replies::error(out, "ERR value is not an integer or out of range"),
            },
        };
        let Some(next) = current.checked_add(1) else {
            return replies::error(out, "ERR increment or decrement would overflow");
        };
        let mut digits = Vec::with_capacity(20);
        replies::int(&mut digits, next); // ":n\r\n"
        let text = &digits[1..digits.len() - 2];
        match self.map.find_mut(key.hash, |e| e.key == key.bytes) {
            Some(e) => {
                e.value.clear();
                e.value.extend_from_slice(text);
            }
            None => self.insert(key, text, None),
        }
        replies::int(out, next);
    }

    fn live(&mut self, key: Key<'_>, now: Instant) -> Option<&Entry> {
        self.live_mut(key, now).map(|e| &*e)
    }

    fn live_mut(&mut self, key: Key<'_>, now: Instant) -> Option<&mut Entry> {
        if self.expiring && self.map.find(key.hash, |e| e.key == key.bytes).is_some_and(|e| !e.live(now)) {
            self.take(key, now);
        }
        self.map.find_mut(key.hash, |e| e.key == key.bytes)
    }

    /// Removes `key`; whether it was there and live.
    fn take(&mut self, key: Key<'_>, now: Instant) -> bool {
        match self.map.find_entry(key.hash, |e| e.key == key.bytes) {
            Ok(entry) => entry.remove().0.live(now),
            Err(_) => false,
        }
    }
}
