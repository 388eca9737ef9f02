//! One core's shard: its keys, their values and expiry times, and the operations on them.
//!
//! The map is touched only by its own core (local connections directly, other cores through
//! messages), so it is a plain `HashMap` behind a `RefCell`: no lock, no atomic. Expired keys
//! are removed when touched, and swept once a second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::resp::{integer, Reply};

/// One operation on one shard: a command, or one key's part of a multi-key command.
#[derive(Debug)]
pub enum Op {
    Get(Vec<u8>),
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Del(Vec<u8>),
    Exists(Vec<u8>),
    Incr(Vec<u8>),
    /// `EXPIRE key seconds`: a TTL of zero or less deletes the key.
    Expire(Vec<u8>, i64),
    Ttl(Vec<u8>),
    DbSize,
    FlushAll,
    /// This core's section of INFO.
    Info,
}

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
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
    map: HashMap<Vec<u8>, Entry>,
    /// Operations served, by origin.
    pub served: Served,
}

impl Store {
    /// Applies `op` as of `now`.
    pub fn apply(&mut self, op: Op, now: Instant) -> Reply {
        match op {
            Op::Get(key) => self.live(&key, now).map_or(Reply::Nil, |e| Reply::Bulk(e.value.clone())),
            Op::Set { key, value, ttl } => {
                self.map.insert(key, Entry { value, expires: ttl.map(|t| now + t) });
                Reply::Status("OK")
            }
            Op::Del(key) => Reply::Int(self.take(&key, now).is_some() as i64),
            Op::Exists(key) => Reply::Int(self.live(&key, now).is_some() as i64),
            Op::Incr(key) => self.incr(key, now),
            Op::Expire(key, secs) => {
                if secs <= 0 {
                    return Reply::Int(self.take(&key, now).is_some() as i64);
                }
                match self.live_mut(&key, now) {
                    Some(e) => {
                        e.expires = Some(now + Duration::from_secs(secs as u64));
                        Reply::Int(1)
                    }
                    None => Reply::Int(0),
                }
            }
            Op::Ttl(key) => match self.live(&key, now) {
                None => Reply::Int(-2),
                Some(Entry { expires: None, .. }) => Reply::Int(-1),
                Some(Entry { expires: Some(t), .. }) => Reply::Int(((*t - now).as_millis() as i64 + 500) / 1000),
            },
            Op::DbSize => {
                self.sweep(now);
                Reply::Int(self.map.len() as i64)
            }
            Op::FlushAll => {
                self.map.clear();
                Reply::Status("OK")
            }
            Op::Info => unreachable!("INFO is answered by the shard, which knows its core"),
        }
    }

    /// Keys stored (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Removes every expired key.
    pub fn sweep(&mut self, now: Instant) {
        self.map.retain(|_, e| e.live(now));
    }

    fn incr(&mut self, key: Vec<u8>, now: Instant) -> Reply {
        let current = match self.live(&key, now) {
            None => 0,
            Some(e) => match integer(&e.value) {
                Some(n) => n,
                None => return Reply::error("ERR value is not an integer or out of range"),
            },
        };
        let Some(next) = current.checked_add(1) else {
            return Reply::error("ERR increment or decrement would overflow");
        };
        let expires = self.live(&key, now).and_then(|e| e.expires);
        self.map.insert(key, Entry { value: next.to_string().into_bytes(), expires });
        Reply::Int(next)
    }

    fn live(&mut self, key: &[u8], now: Instant) -> Option<&Entry> {
        self.live_mut(key, now).map(|e| &*e)
    }

    fn live_mut(&mut self, key: &[u8], now: Instant) -> Option<&mut Entry> {
        if self.map.get(key).is_some_and(|e| !e.live(now)) {
            self.map.remove(key);
        }
        self.map.get_mut(key)
    }

    fn take(&mut self, key: &[u8], now: Instant) -> Option<Entry> {
        self.map.remove(key).filter(|e| e.live(now))
    }
}
