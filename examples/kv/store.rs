//! One core's shard: its keys, their values and expiry times, and the operations on them.
//!
//! The map is touched only by its own core (local connections directly, other cores through
//! batches), so it is a plain hash table behind a `RefCell`: no lock, no atomic. It is
//! hashbrown's `HashTable`, which takes each key's hash as computed where its request was
//! parsed (`hash.rs`): std's `HashMap` would hash every key again. Expired keys are removed
//! when touched, and swept a step at a time (`Store::sweep_step`). Replies are encoded
//! straight from the map into the caller's buffer: a GET copies its value once, into the
//! reply.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;

use super::copy::{self, payload, Transfer};
use super::float;
use super::glob;
use super::hash::{self, Key};
use super::op::{decode_all, ExpireIf, Expiry, ExpiryRefused, Only, Op, SetHow, SetReply};
use super::range;
use super::replies::{self, Protocol};
use super::resp::{integer, MAX_BULK};
use super::scan::{walk, Cursor, Walk};
use super::types::{self, Command, Value, WRONGTYPE};

struct Entry {
    key: Vec<u8>,
    /// A string, or a collection (`types`): a string's bytes with no box between.
    value: Value,
    expires: Option<Instant>,
}

/// When a TTL given at `now` runs out. Commands refuse TTLs whose milliseconds overflow an
/// i64, as Redis does; a deadline still past what an `Instant` can hold is never reached, so
/// it is no deadline (`now + ttl` would panic).
fn deadline(now: Instant, ttl: Duration) -> Option<Instant> {
    now.checked_add(ttl)
}

/// When a key given the Unix time `unix_ms` (EXAT, PXAT) at `now` runs out: the clock's
/// distance to it in whole milliseconds (see [`now`]), from `now`. A time already past is
/// `now` itself, so the key is written already expired, as Redis writes it.
fn deadline_at(now: Instant, unix_ms: u64) -> Option<Instant> {
    let unix_now_ms = u64::try_from(unix_at(now).as_millis()).unwrap_or(u64::MAX);
    match unix_ms.checked_sub(unix_now_ms) {
        Some(ttl) => deadline(now, Duration::from_millis(ttl)),
        None => Some(now),
    }
}

/// The time commands see: the monotonic clock in whole milliseconds since the process first
/// asked. Redis keeps times in milliseconds, so every deadline falls on one: PTTL right after
/// `SET PX 100000` is 100000, not 99999 (nanoseconds having passed), and `EXPIRE k 100 GT`
/// within the millisecond of `EXPIRE k 100` is refused as not later.
///
/// One clock read and one subtraction per call: it runs once per request at pipeline 1.
pub fn now() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let now = Instant::now();
    let past_the_millisecond = now.saturating_duration_since(start).subsec_nanos() % 1_000_000;
    now - Duration::from_nanos(u64::from(past_the_millisecond))
}

/// The wall clock's time since the Unix epoch (zero for a clock set before it): what EXAT
/// and PXAT count from, and what bounds the TTLs commands take.
pub fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The wall clock's time at `now`: the wall clock read beside the monotonic one, less the
/// time since `now`. A request's `now` is read once for its whole pipeline, so the wall clock
/// read later would run ahead of it by however long the run (or a preemption) took, and
/// `PEXPIREAT k T` then `PEXPIRETIME k` would give back T plus that (4 ms once, under load).
/// From `now` instead, both conversions truncate the same sub-millisecond phase (every `now`
/// lies on the same millisecond grid), so the round trip gives back T exactly, as Redis does.
fn unix_at(now: Instant) -> Duration {
    let wall = unix_now();
    wall.saturating_sub(Instant::now().saturating_duration_since(now))
}

/// The Unix time in whole milliseconds a deadline `t` falls at, seen at `now`: the wall
/// clock then plus the time left (COPY carries an expiry so; PEXPIRETIME answers it).
fn unix_ms_at(now: Instant, t: Instant) -> u128 {
    unix_at(now).as_millis().saturating_add((t - now).as_millis())
}

impl Entry {
    /// The hash the table files this entry under, computed again only when the table grows.
    fn hash(&self) -> u64 {
        hash::hash(&self.key)
    }

    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }

    /// Whether it is live, its key matches `pattern`, and its value is of the type `only`
    /// (`types::type_number`; any if `None`).
    fn matches(&self, pattern: &[u8], only: Option<u8>, now: Instant) -> bool {
        self.live(now) && only.is_none_or(|t| self.value.type_number() == t) && glob::matches(pattern, &self.key)
    }

    /// The bytes this entry takes: its place in the table and its key's and value's
    /// allocations (what the allocator adds around them not counted).
    fn footprint(&self) -> usize {
        std::mem::size_of::<Entry>() + self.key.capacity() + self.value.footprint()
    }

    /// Replaces the value with the string `value`, reusing a string's allocation (a
    /// collection is dropped: SET overwrites a key of any type, as Redis does).
    #[inline(always)]
    fn set_value(&mut self, value: &[u8]) {
        match &mut self.value {
            Value::Str(bytes) => {
                bytes.clear();
                bytes.extend_from_slice(value);
            }
            other => *other = Value::Str(value.to_vec()),
        }
    }

    /// The string it holds; `Err` if it holds a collection (the caller answers WRONGTYPE).
    #[inline(always)]
    fn text(&self) -> Result<&Vec<u8>, WrongType> {
        match &self.value {
            Value::Str(bytes) => Ok(bytes),
            _ => Err(WrongType),
        }
    }

    /// [`Entry::text`], to change it.
    fn text_mut(&mut self) -> Result<&mut Vec<u8>, WrongType> {
        match &mut self.value {
            Value::Str(bytes) => Ok(bytes),
            _ => Err(WrongType),
        }
    }
}

/// A string command met a collection.
struct WrongType;

/// Redis' WRONGTYPE error, out of the string commands' way.
#[cold]
#[inline(never)]
fn wrong_type(out: &mut Vec<u8>) {
    replies::error(out, WRONGTYPE);
}

/// A number below `n` (0 for 0), picked at random: std's hasher keys are random per
/// process and change on each `RandomState`.
pub fn random_below(n: usize) -> usize {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (random % n.max(1) as u64) as usize
}

/// Buckets a sweep step looks at: a few hundred microseconds of reading entries.
const SWEEP_STEP: usize = 32 * 1024;

/// Random buckets RANDOMKEY looks in for a live key before it walks the table. Short of
/// deletes a table is at least 7/16 full (just after it grows): all miss once in 10^16
/// calls; at one live key in eight buckets, once in 5,000.
const RANDOM_TRIES: usize = 64;

/// Counters for INFO.
#[derive(Default, Debug, Clone, Copy)]
pub struct Served {
    /// Operations from this core's own connections.
    pub local: u64,
    /// Operations that came from other cores.
    pub remote: u64,
}

/// The keys that have an expiry time (expired ones not yet removed included, as Redis'
/// `expires` table holds them), kept as each key's time is set, changed or removed, so
/// INFO's `expires` and `avg_ttl` cost no walk of the table: their count, and the sum of
/// their deadlines, each as its distance from `base` (the first deadline seen) in
/// nanoseconds, which an `i128` holds for any count of any deadlines an `Instant` holds.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    count: usize,
    base: Option<Instant>,
    deadlines: i128,
}

impl Ttls {
    /// How many keys have an expiry time.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The average of their times left at `now`, whole milliseconds: an exact average, in
    /// which a key expired but not yet removed counts as the time past its deadline, taken
    /// off (so the average is never above the live keys' average), and never below zero.
    pub fn average_left(&self, now: Instant) -> u64 {
        let Some(base) = self.base.filter(|_| self.count > 0) else { return 0 };
        let left = self.deadlines - self.count as i128 * since(base, now);
        u64::try_from(left / self.count as i128 / 1_000_000).unwrap_or(0)
    }

    /// A key's time went from `old` to `new` (`None`: no time; both `None` for a key that
    /// came or went without one). Inlined for the test of both, which is all a plain SET of a
    /// key without a time pays.
    #[inline(always)]
    fn change(&mut self, old: Option<Instant>, new: Option<Instant>) {
        if old.is_some() || new.is_some() {
            self.change_timed(old, new);
        }
    }

    #[inline(never)]
    fn change_timed(&mut self, old: Option<Instant>, new: Option<Instant>) {
        if let Some(old) = old {
            self.count -= 1;
            self.deadlines -= since(self.base.expect("set with the first deadline"), old);
        }
        if let Some(new) = new {
            let base = *self.base.get_or_insert(new);
            self.count += 1;
            self.deadlines += since(base, new);
        }
    }
}

/// `at`'s distance from `base` in nanoseconds, negative for an `at` before it.
fn since(base: Instant, at: Instant) -> i128 {
    match at.checked_duration_since(base) {
        Some(after) => after.as_nanos() as i128,
        None => -((base - at).as_nanos() as i128),
    }
}

/// One shard's keys.
#[derive(Default)]
pub struct Store {
    map: HashTable<Entry>,
    /// Whether any key may have an expiry time; until one does, a lookup is one probe,
    /// with no expiry check, and sweeps have nothing to do. Cleared by a sweep that finds
    /// none left.
    expiring: bool,
    /// Where the next [`Store::sweep_step`] starts, and whether its pass over the table has
    /// met a key with an expiry time, or seen one set (set with `expiring`).
    sweep_at: usize,
    expiry_in_pass: bool,
    /// The keys with an expiry time, counted as they change (INFO's keyspace line).
    ttls: Ttls,
    /// Operations served, by origin.
    pub served: Served,
    /// The largest value this store has held: a bound on what a GET of any of its keys
    /// answers with, only ever raised (a delete or a shorter write keeps it); and where it
    /// is published for the other cores.
    largest_value: usize,
    record: Arc<AtomicUsize>,
    /// Counts the times the table moved its entries (it grew, or rehashed in place, or was
    /// replaced): a SCAN cursor from an earlier epoch no longer names a place (`scan.rs`).
    layout_epoch: u16,
}

impl Store {
    /// An empty store that publishes its largest value at `record` (see `shard::Peers`).
    pub fn publishing_to(record: Arc<AtomicUsize>) -> Store {
        Store { record, ..Store::default() }
    }

    /// GET: the value of `key` as of `now`, nil (in `protocol`) if none. Called for a GET of
    /// any origin, by `apply` and by the lane (`lane.rs`).
    #[inline]
    pub fn get(&mut self, key: Key<'_>, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        match self.live(key, now).map(Entry::text) {
            Some(Ok(text)) => replies::bulk(out, text),
            Some(Err(WrongType)) => wrong_type(out),
            None => replies::null(out, protocol),
        }
    }

    /// SET without options: `key` holds `value` whatever it held, with no expiry time.
    #[inline]
    pub fn set_plain(&mut self, key: Key<'_>, value: &[u8], out: &mut Vec<u8>) {
        self.overwrite(key, value, None);
        replies::ok(out);
    }

    /// Applies `op` as of `now` and appends its reply to `out`, in `protocol` (the asking
    /// connection's: where they differ, a null). INFO is the shard's to answer (it knows its
    /// core), not the store's: it gets an error here.
    pub fn apply(&mut self, op: Op<'_>, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        match op {
            Op::Get(key) => self.get(key, protocol, now, out),
            // MGET's part: a key of another type is nil there, as in Redis.
            Op::GetString(key) => match self.live(key, now).map(Entry::text) {
                Some(Ok(text)) => replies::bulk(out, text),
                _ => replies::null(out, protocol),
            },
            Op::Set { key, value } => self.set_plain(key, value, out),
            Op::SetWith { key, value, how } => self.set(key, value, how, protocol, now, out),
            Op::Del(key) => replies::int(out, self.take(key, now) as i64),
            Op::Exists(key) => replies::int(out, self.live(key, now).is_some() as i64),
            Op::Incr(key, delta) => self.incr(key, delta, now, out),
            Op::IncrByFloat { key, by } => self.incr_by_float(key, by, now, out),
            Op::MsetNx(pairs) => self.mset_nx(pairs, now, out),
            Op::Expire(key, ms, only) => self.expire(key, ms, only, now, out),
            // Redis rounds TTL's seconds to the nearest.
            Op::Ttl(key) => self.time_left(key, now, out, |left| (left.as_millis() + 500) / 1000),
            Op::Pttl(key) => self.time_left(key, now, out, |left| left.as_millis()),
            Op::ExpireTime(key, millis) => self.expire_time(key, millis, now, out),
            Op::Persist(key) => {
                let old = self.live_mut(key, now).and_then(|e| e.expires.take());
                self.ttls.change(old, None);
                replies::int(out, i64::from(old.is_some()));
            }
            Op::GetEx(key, expiry) => self.get_ex(key, expiry, protocol, now, out),
            Op::Keys(pattern) => self.keys(pattern, None, now, out),
            Op::Scan { pattern, cursor, count, shards, only } => {
                self.scan(pattern, only, cursor, count, shards as usize, now, out)
            }
            Op::Type(key) => replies::status(out, self.live(key, now).map_or("none", |e| e.value.type_name())),
            Op::Strlen(key) => match self.live(key, now).map(Entry::text) {
                Some(Err(WrongType)) => wrong_type(out),
                text => replies::int(out, text.map_or(0, |t| t.map_or(0, Vec::len)) as i64),
            },
            Op::Append { key, value } => self.append(key, value, now, out),
            Op::GetDel(key) => match self.live(key, now).map(Entry::text) {
                Some(Ok(text)) => {
                    replies::bulk(out, text);
                    self.remove(key);
                }
                Some(Err(WrongType)) => wrong_type(out),
                None => replies::null(out, protocol),
            },
            Op::MemoryUsage(key) => match self.live(key, now) {
                Some(e) => replies::int(out, e.footprint() as i64),
                None => replies::null(out, protocol),
            },
            Op::MemoryStats => {
                self.sweep(now);
                let bytes: usize = self.map.iter().map(Entry::footprint).sum();
                let stats = format!("keys:{}\r\ndataset_bytes:{bytes}\r\n", self.map.len());
                replies::bulk(out, stats.as_bytes());
            }
            // The keys stored, expired ones not yet swept included, as Redis' DBSIZE counts
            // the keys its expiry cycle has not reclaimed yet: O(1). It swept the whole table
            // first once, which stalled a core holding a million keys for tens of
            // milliseconds whenever any key had a TTL; the sweeper (`sweep_step`) reclaims
            // expired keys within a second or so, as Redis' active expiry does.
            Op::DbSize => replies::int(out, self.map.len() as i64),
            // ASYNC is the shard's (`Shards::apply`), which hands the table to another thread;
            // here, or without a runtime, the keys are freed at once.
            Op::FlushAll { .. } => {
                self.map.clear();
                self.ttls = Ttls::default();
                replies::ok(out);
            }
            Op::Info | Op::Kill(_) | Op::ClientList(_) | Op::PubSub(_) => {
                replies::error(out, "ERR answered by the shard")
            }
            Op::GetRange { key, start, end } => self.get_range(key, start, end, now, out),
            Op::SetRange { key, offset, value } => self.set_range(key, offset, value, now, out),
            Op::Rename { from, to, only_new } => self.rename(from, to, only_new, now, out),
            Op::RandomKey => self.random_key(protocol, now, out),
            Op::Typed { key, command, args } => self.typed(key, command, args, protocol, now, out),
            Op::Lift { from, packed, how, here } => self.lift(from, packed, how, here, now, out),
            Op::Put { key, payload, how } => self.put(key, payload, how, now, out),
        }
    }

    /// A collection command (`types`) on `key`, its packed arguments unpacked: run on the
    /// key's value, the key created if the command made a value, deleted if it left its
    /// collection empty (as Redis deletes it). A created key has no expiry time; a changed
    /// one keeps its own.
    #[inline(never)]
    fn typed(
        &mut self,
        key: Key<'_>,
        command: Command,
        args: &[u8],
        protocol: Protocol,
        now: Instant,
        out: &mut Vec<u8>,
    ) {
        let Some(args) = types::unpack(args) else { return replies::error(out, "ERR unreadable operation") };
        let created = match self.live_mut(key, now) {
            Some(e) => {
                let created = types::run(command, &args, Some(&mut e.value), protocol, out);
                if e.value.is_empty_collection() {
                    self.remove(key);
                }
                created
            }
            None => types::run(command, &args, None, protocol, out),
        };
        if let Some(value) = created.filter(|v| !v.is_empty_collection()) {
            self.insert_entry(key.hash, Entry { key: key.bytes.to_vec(), value, expires: None });
        }
    }

    /// Keys stored (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The keys of [`Store::len`] that have an expiry time.
    pub fn ttls(&self) -> Ttls {
        self.ttls
    }

    /// Empties the store and gives its old table, for FLUSHALL ASYNC to free elsewhere:
    /// freeing a million keys takes a core tens of milliseconds.
    pub fn take_all(&mut self) -> impl Send + 'static {
        self.layout_epoch = self.layout_epoch.wrapping_add(1);
        self.ttls = Ttls::default();
        std::mem::take(&mut self.map)
    }

    /// Removes the expired keys of the next [`SWEEP_STEP`] buckets of the table, going round
    /// it pass after pass: a shard calls this ten times a second. One walk of the whole table
    /// at a time ([`Store::sweep`]) stalled a core holding a million keys for 10-20 ms, every
    /// second, once any key had a TTL; a step takes well under a millisecond, and reaches
    /// every key within a second in tables of up to 200,000 (Redis, which samples keys,
    /// reclaims expired keys as gradually; a read finds them gone at once either way).
    pub fn sweep_step(&mut self, now: Instant) {
        if !self.expiring {
            return;
        }
        let buckets = self.map.num_buckets();
        let start = self.sweep_at.min(buckets);
        let end = (start + SWEEP_STEP).min(buckets);
        for at in start..end {
            let Ok(entry) = self.map.get_bucket_entry(at) else { continue };
            if let Some(when) = entry.get().expires {
                self.expiry_in_pass = true;
                if when <= now {
                    entry.remove();
                    self.ttls.change(Some(when), None);
                }
            }
        }
        self.sweep_at = end;
        if end == buckets {
            // A whole pass: if it met no expiry time and none was set meanwhile, none is left.
            self.expiring = std::mem::take(&mut self.expiry_in_pass);
            self.sweep_at = 0;
        }
    }

    /// Notes that a key now has an expiry time (if `expires`): lookups check for one from
    /// now on, and the sweep's pass does not end believing there is none.
    #[inline(always)]
    fn note_expiry(&mut self, expires: bool) {
        if expires {
            self.expiring = true;
            self.expiry_in_pass = true;
        }
    }

    /// Removes every expired key, at once: for the commands that count or pick among every
    /// key (MEMORY STATS, and RANDOMKEY when sampling fails; DBSIZE counts without it).
    pub fn sweep(&mut self, now: Instant) {
        if !self.expiring {
            return;
        }
        let (mut expiring, ttls) = (false, &mut self.ttls);
        self.map.retain(|e| {
            let live = e.live(now);
            if !live {
                ttls.change(e.expires, None);
            }
            expiring |= live && e.expires.is_some();
            live
        });
        self.expiring = expiring;
    }

    /// Counts a value of `len` bytes written. A new record is published before the write's
    /// reply leaves, so a client told its SET is done, asking another core next, finds it.
    #[inline]
    fn wrote(&mut self, len: usize) {
        if len > self.largest_value {
            self.raise_record(len);
        }
    }

    #[cold]
    fn raise_record(&mut self, len: usize) {
        self.largest_value = len;
        self.record.store(len, Ordering::Release);
    }

    fn insert(&mut self, key: Key<'_>, value: &[u8], expires: Option<Instant>) {
        self.wrote(value.len());
        let entry = Entry { key: key.bytes.to_vec(), value: Value::Str(value.to_vec()), expires };
        self.insert_entry(key.hash, entry);
    }

    /// Files a new entry, noting a move of the table's entries for SCAN. hashbrown moves them
    /// only when an insert finds no room left (`capacity() == len()`: it grows, or rehashes
    /// in place to reclaim deleted slots), and either way leaves room after it; an insert into
    /// a deleted slot when full leaves none, and moved nothing. Two compares per new key,
    /// none for an overwrite.
    #[inline]
    fn insert_entry(&mut self, hash: u64, entry: Entry) {
        self.ttls.change(None, entry.expires);
        let full = self.map.capacity() == self.map.len();
        self.map.insert_unique(hash, entry, Entry::hash);
        if full && self.map.capacity() > self.map.len() {
            self.layout_epoch = self.layout_epoch.wrapping_add(1);
        }
    }

    /// Writes `value` at `key` with the expiry time `expires`, whatever was there (a plain
    /// SET, which need not look at the key first, not even at whether it expired).
    #[inline(always)] // the plain SET's whole path: as a call it cost 7 instructions a request
    fn overwrite(&mut self, key: Key<'_>, value: &[u8], expires: Option<Instant>) {
        self.note_expiry(expires.is_some());
        match self.map.find_mut(key.hash, |e| e.key == key.bytes) {
            Some(e) => {
                e.set_value(value);
                self.ttls.change(e.expires, expires);
                e.expires = expires;
            }
            None => return self.insert(key, value, expires),
        }
        self.wrote(value.len());
    }

    /// SET with options, all decided here, where the key lives: nothing can come between
    /// NX's look and its write. Out of line, out of the plain SET's way.
    #[inline(never)]
    fn set(&mut self, key: Key<'_>, value: &[u8], how: SetHow, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        let expires = match how.expiry {
            Expiry::After(ms) => deadline(now, Duration::from_millis(ms)),
            Expiry::At(unix_ms) => deadline_at(now, unix_ms),
            Expiry::Clear | Expiry::Keep => None,
        };
        if !how.reads_key() {
            self.overwrite(key, value, expires);
            return replies::ok(out);
        }
        let found = self.live_mut(key, now);
        if how.reply == SetReply::Old {
            // SET GET on a collection is refused, and writes nothing.
            match found.as_ref().map(|e| e.text()) {
                Some(Ok(text)) => replies::bulk(out, text),
                Some(Err(WrongType)) => return wrong_type(out),
                None => replies::null(out, protocol),
            }
        }
        let write = match how.only {
            Only::Always => true,
            Only::IfAbsent => found.is_none(),
            Only::IfPresent => found.is_some(),
        };
        match found {
            _ if !write => {}
            Some(e) => {
                e.set_value(value);
                if how.expiry != Expiry::Keep {
                    let old = std::mem::replace(&mut e.expires, expires);
                    self.ttls.change(old, expires);
                }
                self.wrote(value.len());
            }
            None => self.insert(key, value, expires),
        }
        self.note_expiry(write && expires.is_some());
        match how.reply {
            SetReply::Ok if write => replies::ok(out),
            SetReply::Ok => replies::null(out, protocol),
            SetReply::Flag => replies::int(out, i64::from(write)),
            SetReply::Old => {}
        }
    }

    /// EXPIRE and PEXPIRE: the key's time becomes `ms` from now if `only` allows it (a time
    /// of zero or less deletes the key); 1 if it did, 0 if not or if there is no key.
    /// EXPIREAT and PEXPIREAT (`only.at`): `ms` is the Unix time to end at (one already
    /// past deletes the key).
    fn expire(&mut self, key: Key<'_>, ms: i64, only: ExpireIf, now: Instant, out: &mut Vec<u8>) {
        let Some(e) = self.live_mut(key, now) else { return replies::int(out, 0) };
        // A time not past `now` (a negative one counted as zero) is `now` itself, earlier
        // than any live key's; one past what an Instant holds (None) is later than any.
        let ms = u64::try_from(ms).unwrap_or(0);
        let when = if only.at { deadline_at(now, ms) } else { deadline(now, Duration::from_millis(ms)) };
        let past = when == Some(now);
        let allowed = match e.expires {
            None => !only.has_time && !only.later,
            Some(current) => {
                let refused = only.no_time
                    || (only.later && when.is_some_and(|when| when <= current))
                    || (only.earlier && when.is_none_or(|when| when >= current));
                !refused
            }
        };
        if allowed && past {
            self.take(key, now);
        } else if allowed {
            let old = std::mem::replace(&mut e.expires, when);
            self.ttls.change(old, when);
            self.note_expiry(true);
        }
        replies::int(out, i64::from(allowed));
    }

    /// GETEX: the value, then the key's expiry time as `expiry` says (a Unix time already past
    /// expires the key at once, as Redis deletes it).
    fn get_ex(
        &mut self,
        key: Key<'_>,
        expiry: Result<Expiry, ExpiryRefused>,
        protocol: Protocol,
        now: Instant,
        out: &mut Vec<u8>,
    ) {
        let Some(e) = self.live_mut(key, now) else { return replies::null(out, protocol) };
        let Ok(text) = e.text() else { return wrong_type(out) };
        let expiry = match expiry {
            Ok(expiry) => expiry,
            Err(refused) => return replies::error(out, refused.text()),
        };
        replies::bulk(out, text);
        let expires = match expiry {
            Expiry::Keep => return,
            Expiry::Clear => None,
            Expiry::After(ms) => deadline(now, Duration::from_millis(ms)),
            Expiry::At(unix_ms) => deadline_at(now, unix_ms),
        };
        let old = std::mem::replace(&mut e.expires, expires);
        self.ttls.change(old, expires);
        let expiring = expires.is_some();
        self.note_expiry(expiring);
    }

    /// One SCAN call (`scan.rs`): the live keys matching `pattern` among the entries
    /// [`walk`] takes from the cursor on, then the cursor of where it stopped (the next
    /// shard's start at this one's end). A restarted pass that meets a move takes the whole
    /// shard.
    #[allow(clippy::too_many_arguments)] // SCAN's own, and the two a store adds
    fn scan(
        &self,
        pattern: &[u8],
        only: Option<u8>,
        cursor: Cursor,
        count: u64,
        shards: usize,
        now: Instant,
        out: &mut Vec<u8>,
    ) {
        let next_shard = match cursor.shard + 1 < shards {
            true => Cursor::start(cursor.shard + 1).encode(shards),
            false => 0,
        };
        let (entries, next) = match walk(&self.map, self.layout_epoch, cursor, count) {
            Walk::Whole => {
                super::scan::reply_head(out, next_shard);
                return self.keys(pattern, only, now, out);
            }
            Walk::Part(entries, next) => (entries, next),
        };
        let found: Vec<&[u8]> =
            entries.into_iter().filter(|e| e.matches(pattern, only, now)).map(|e| &e.key[..]).collect();
        super::scan::reply_head(out, next.map_or(next_shard, |cursor| cursor.encode(shards)));
        replies::array(out, found.len());
        found.iter().for_each(|key| replies::bulk(out, key));
    }

    /// KEYS: an array of this shard's live keys that match `pattern` (and hold the type
    /// `only`, for SCAN).
    fn keys(&self, pattern: &[u8], only: Option<u8>, now: Instant, out: &mut Vec<u8>) {
        let found: Vec<&[u8]> = self.map.iter().filter(|e| e.matches(pattern, only, now)).map(|e| &e.key[..]).collect();
        replies::array(out, found.len());
        found.iter().for_each(|key| replies::bulk(out, key));
    }

    /// APPEND: the value's new length; refused past the largest value a request may carry,
    /// as Redis refuses past its `proto-max-bulk-len`, so appends cannot grow one without
    /// bound.
    fn append(&mut self, key: Key<'_>, value: &[u8], now: Instant, out: &mut Vec<u8>) {
        let len = match self.live_mut(key, now).map(Entry::text_mut) {
            Some(Err(WrongType)) => return wrong_type(out),
            Some(Ok(text)) if text.len() + value.len() > MAX_BULK => {
                return replies::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            Some(Ok(text)) => {
                text.extend_from_slice(value);
                let len = text.len();
                self.wrote(len);
                len
            }
            None => {
                self.insert(key, value, None);
                value.len()
            }
        };
        replies::int(out, len as i64);
    }

    /// GETRANGE: the bytes of the value `range::taken` says; an empty string for no key.
    #[inline(never)] // this one and the next three: rare, and out of the common ones' way
    fn get_range(&mut self, key: Key<'_>, start: i64, end: i64, now: Instant, out: &mut Vec<u8>) {
        match self.live(key, now).map(Entry::text) {
            Some(Ok(text)) => replies::bulk(out, &text[range::taken(text.len(), start, end)]),
            Some(Err(WrongType)) => wrong_type(out),
            None => replies::bulk(out, b""),
        }
    }

    /// SETRANGE: `value` written at `offset` (zero bytes before it, if the value was
    /// shorter), the key's time kept; the value's new length. An empty value writes
    /// nothing, not even a key. The command checked that the end fits `MAX_BULK`.
    #[inline(never)]
    fn set_range(&mut self, key: Key<'_>, offset: u64, value: &[u8], now: Instant, out: &mut Vec<u8>) {
        let found = match self.live_mut(key, now).map(Entry::text_mut) {
            Some(Err(WrongType)) => return wrong_type(out),
            found => found.and_then(Result::ok),
        };
        if value.is_empty() {
            return replies::int(out, found.map_or(0, |text| text.len() as i64));
        }
        let (offset, end) = (offset as usize, offset as usize + value.len());
        let len = match found {
            Some(text) => {
                if text.len() < end {
                    text.resize(end, 0);
                }
                text[offset..end].copy_from_slice(value);
                text.len()
            }
            None => {
                let mut padded = vec![0; end];
                padded[offset..].copy_from_slice(value);
                self.insert(key, &padded, None);
                end
            }
        };
        self.wrote(len);
        replies::int(out, len as i64);
    }

    /// RENAME and RENAMENX (`only_new`) of two keys of this shard, as Redis 7 does them: no
    /// source is an error; the value moves with its expiry time, over any destination
    /// (RENAMENX: only if there is none); a key renamed to itself stays. `+OK`, or 1 or 0.
    #[inline(never)]
    fn rename(&mut self, from: Key<'_>, to: Key<'_>, only_new: bool, now: Instant, out: &mut Vec<u8>) {
        if self.live(from, now).is_none() {
            return replies::error(out, "ERR no such key");
        }
        let same = from.bytes == to.bytes;
        let refused = only_new && (same || self.live(to, now).is_some());
        if !same && !refused {
            let Entry { value, expires, .. } = self.remove(from).expect("the source, found live above");
            self.remove(to);
            self.insert_entry(to.hash, Entry { key: to.bytes.to_vec(), value, expires });
        }
        if only_new {
            replies::int(out, i64::from(!refused));
        } else {
            replies::ok(out);
        }
    }

    /// COPY's or ZRANGESTORE's lift (`copy.rs`): the payload for what `how` takes from `from`
    /// (the value and its expiry, or ZRANGESTORE's members; the client's reply if it ends
    /// here), put down at the destination if it lives here too (`here`), else appended as
    /// it is.
    #[inline(never)]
    fn lift(&mut self, from: Key<'_>, packed: &[u8], how: Transfer, here: bool, now: Instant, out: &mut Vec<u8>) {
        let Some((to, args)) = copy::unpack_lift(packed) else {
            return replies::error(out, "ERR unreadable operation");
        };
        let mut lifted = Vec::new();
        match how {
            Transfer::Copy { .. } => match self.live(from, now) {
                None => payload::reply(&mut lifted, b":0\r\n"),
                Some(e) => {
                    let expires = e.expires.map(|t| unix_ms_at(now, t));
                    payload::value(&mut lifted, &e.value, expires.map(|ms| u64::try_from(ms).unwrap_or(u64::MAX - 1)));
                }
            },
            Transfer::RangeStore => {
                let found = match self.live_mut(from, now).map(|e| &mut e.value) {
                    None => types::Found::Nothing,
                    Some(Value::SortedSet(zset)) => types::Found::Mine(&mut **zset),
                    Some(_) => types::Found::Other,
                };
                let mut reply = Vec::new();
                match types::zrange_store(&args, found, &mut reply) {
                    Ok(taken) => payload::value(&mut lifted, &Value::SortedSet(Box::new(taken)), None),
                    Err(()) => payload::reply(&mut lifted, &reply),
                }
            }
        }
        match here {
            true => self.put(Key::new(to), &lifted, how, now, out),
            false => out.extend_from_slice(&lifted),
        }
    }

    /// COPY's or ZRANGESTORE's put: the lift's payload written at `key` as `how` says, and
    /// the client's reply (the lift's own, if it carries one).
    #[inline(never)]
    fn put(&mut self, key: Key<'_>, lifted: &[u8], how: Transfer, now: Instant, out: &mut Vec<u8>) {
        let (value, expires) = match payload::read(lifted) {
            Some(payload::Lifted::Reply(reply)) => return out.extend_from_slice(reply),
            Some(payload::Lifted::Value(value, expires)) => (value, expires),
            None => return replies::error(out, "ERR unreadable operation"),
        };
        let written = match how {
            Transfer::Copy { replace: false } if self.live(key, now).is_some() => 0,
            Transfer::Copy { .. } => 1,
            Transfer::RangeStore => match &value {
                Value::SortedSet(zset) => zset.len(),
                _ => 0,
            },
        };
        if written > 0 || how == Transfer::RangeStore {
            self.remove(key);
        }
        if written > 0 {
            if let Value::Str(bytes) = &value {
                self.wrote(bytes.len());
            }
            let expires = expires.and_then(|ms| deadline_at(now, ms));
            self.note_expiry(expires.is_some());
            self.insert_entry(key.hash, Entry { key: key.bytes.to_vec(), value, expires });
        }
        replies::int(out, written as i64);
    }

    /// RANDOMKEY: a live key, each as likely as any other. Each entry fills one bucket of
    /// the table, so a random bucket holding a live entry is a fair pick, found in about
    /// two tries at the table's usual load. Walking to the nth entry instead took 4 ms with
    /// 2M keys on two shards, and with the sweep before it 26 ms once any key had a TTL: a
    /// core stalled for every client. A table mostly emptied (hashbrown keeps its buckets after
    /// deletes) or mostly expired misses [`RANDOM_TRIES`] times and falls back to that walk.
    #[inline(never)]
    fn random_key(&mut self, protocol: Protocol, now: Instant, out: &mut Vec<u8>) {
        let buckets = self.map.num_buckets();
        let sampled =
            (0..RANDOM_TRIES).find_map(|_| self.map.get_bucket(random_below(buckets)).filter(|e| e.live(now)));
        if let Some(e) = sampled {
            return replies::bulk(out, &e.key);
        }
        self.sweep(now);
        match self.map.iter().nth(random_below(self.map.len())) {
            Some(e) => replies::bulk(out, &e.key),
            None => replies::null(out, protocol),
        }
    }

    /// TTL and PTTL: -2 for no key, -1 for a key that never expires, else the time left in
    /// the unit `unit` counts it in.
    fn time_left(&mut self, key: Key<'_>, now: Instant, out: &mut Vec<u8>, unit: impl Fn(Duration) -> u128) {
        let n = match self.live(key, now) {
            None => -2,
            Some(Entry { expires: None, .. }) => -1,
            Some(Entry { expires: Some(t), .. }) => i64::try_from(unit(*t - now)).unwrap_or(i64::MAX),
        };
        replies::int(out, n);
    }

    /// EXPIRETIME and PEXPIRETIME (`millis`): -2 for no key, -1 for a key that never
    /// expires, else the Unix time it expires at: the wall clock now plus the time left, in
    /// whole milliseconds (Redis keeps the deadline as such a time), then seconds, truncated.
    fn expire_time(&mut self, key: Key<'_>, millis: bool, now: Instant, out: &mut Vec<u8>) {
        let at = match self.live(key, now) {
            None => -2,
            Some(Entry { expires: None, .. }) => -1,
            Some(Entry { expires: Some(t), .. }) => {
                let ms = unix_ms_at(now, *t);
                i64::try_from(if millis { ms } else { ms / 1000 }).unwrap_or(i64::MAX)
            }
        };
        replies::int(out, at);
    }

    fn incr(&mut self, key: Key<'_>, delta: i64, now: Instant, out: &mut Vec<u8>) {
        let current = match self.live(key, now).map(Entry::text) {
            None => 0,
            Some(Err(WrongType)) => return wrong_type(out),
            Some(Ok(text)) => match integer(text) {
                Some(n) => n,
                None => return replies::error(out, "ERR value is not an integer or out of range"),
            },
        };
        let Some(next) = current.checked_add(delta) else {
            return replies::error(out, "ERR increment or decrement would overflow");
        };
        let mut digits = Vec::with_capacity(20);
        replies::int(&mut digits, next); // ":n\r\n"
        self.write_keeping_expiry(key, &digits[1..digits.len() - 2]);
        replies::int(out, next);
    }

    /// INCRBYFLOAT: the sum written as Redis writes it (`float.rs`), its expiry time kept,
    /// and answered as a bulk string.
    fn incr_by_float(&mut self, key: Key<'_>, by: &[u8], now: Instant, out: &mut Vec<u8>) {
        const NOT_A_FLOAT: &str = "ERR value is not a valid float";
        let current = match self.live(key, now).map(Entry::text) {
            None => float::parse(b"0"),
            Some(Err(WrongType)) => return wrong_type(out),
            Some(Ok(text)) => float::parse(text),
        };
        let (Some(current), Some(by)) = (current, float::parse(by)) else {
            return replies::error(out, NOT_A_FLOAT);
        };
        let Some(sum) = float::add(current, by) else {
            return replies::error(out, "ERR increment would produce NaN or Infinity");
        };
        self.write_keeping_expiry(key, sum.as_bytes());
        replies::bulk(out, sum.as_bytes());
    }

    /// Writes a counter's new `text` (the key live or absent: a live key keeps its time).
    fn write_keeping_expiry(&mut self, key: Key<'_>, text: &[u8]) {
        match self.map.find_mut(key.hash, |e| e.key == key.bytes) {
            Some(e) => e.set_value(text),
            None => self.insert(key, text, None),
        }
        self.wrote(text.len());
    }

    /// MSETNX on this shard: `pairs` (encoded SETs) are all written if none of their keys
    /// lives, else none; 1 or 0. One operation, so no other request comes between the
    /// looks and the writes.
    fn mset_nx(&mut self, pairs: &[u8], now: Instant, out: &mut Vec<u8>) {
        let sets = || {
            decode_all(pairs).filter_map(|(op, _)| match op {
                Op::Set { key, value } => Some((key, value)),
                _ => None,
            })
        };
        if sets().any(|(key, _)| self.live(key, now).is_some()) {
            return replies::int(out, 0);
        }
        sets().for_each(|(key, value)| self.overwrite(key, value, None));
        replies::int(out, 1);
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
        self.remove(key).is_some_and(|e| e.live(now))
    }

    /// Removes `key`'s entry, live or expired, and gives it back.
    fn remove(&mut self, key: Key<'_>) -> Option<Entry> {
        let removed = self.map.find_entry(key.hash, |e| e.key == key.bytes).ok().map(|entry| entry.remove().0);
        self.ttls.change(removed.as_ref().and_then(|e| e.expires), None);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `op` at `now`; its reply, as text.
    fn apply(store: &mut Store, op: Op<'_>, now: Instant) -> String {
        apply_in(Protocol::Resp2, store, op, now)
    }

    /// The same, for a connection speaking `protocol`.
    fn apply_in(protocol: Protocol, store: &mut Store, op: Op<'_>, now: Instant) -> String {
        let mut out = Vec::new();
        store.apply(op, protocol, now, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn set(key: &'static [u8], value: &'static [u8], only: Only, reply: SetReply, expiry: Expiry) -> Op<'static> {
        Op::SetWith { key: Key::new(key), value, how: SetHow { only, reply, expiry } }
    }

    fn get(key: &'static [u8]) -> Op<'static> {
        Op::Get(Key::new(key))
    }

    fn ttl(key: &'static [u8]) -> Op<'static> {
        Op::Ttl(Key::new(key))
    }

    /// Writes `key` = `key`, expiring `ms` after `now` if given.
    fn put(store: &mut Store, key: &[u8], ms: Option<u64>, now: Instant) {
        let expiry = ms.map_or(Expiry::Clear, Expiry::After);
        let how = SetHow { only: Only::Always, reply: SetReply::Ok, expiry };
        assert_eq!(apply(store, Op::SetWith { key: Key::new(key), value: key, how }, now), "+OK\r\n");
    }

    /// RANDOMKEY's key, or None for nil.
    fn random_key(store: &mut Store, now: Instant) -> Option<String> {
        let reply = apply(store, Op::RandomKey, now);
        (reply != "$-1\r\n").then(|| reply.split("\r\n").nth(1).unwrap().to_owned())
    }

    /// Every null the store gives is `$-1` to a RESP2 connection and `_` to a RESP3 one, as
    /// redis-server 7.0.15 gives them; the other replies are the same in both.
    #[test]
    fn nulls_are_in_the_asking_connections_protocol() {
        use {Expiry::*, Only::*, SetReply::Old};
        let now = Instant::now();
        let k = || Key::new(b"k");
        let nulls: [Op<'static>; 8] = [
            get(b"k"),
            Op::GetDel(k()),
            Op::GetEx(k(), Ok(Keep)),
            Op::GetEx(k(), Err(ExpiryRefused::InvalidTime)),
            Op::MemoryUsage(k()),
            Op::RandomKey,
            set(b"k", b"v", IfPresent, SetReply::Ok, Clear), // XX on no key
            set(b"k", b"v", Always, Old, Clear),             // GET of no key, then written
        ];
        for (protocol, null) in [(Protocol::Resp2, "$-1\r\n"), (Protocol::Resp3, "_\r\n")] {
            let mut store = Store::default();
            for op in nulls {
                store.apply(Op::Del(k()), Protocol::Resp2, now, &mut Vec::new());
                assert_eq!(apply_in(protocol, &mut store, op, now), null, "{op:?} in {protocol:?}");
            }
            put(&mut store, b"k", None, now);
            let nx = set(b"k", b"v", IfAbsent, SetReply::Ok, Clear);
            assert_eq!(apply_in(protocol, &mut store, nx, now), null, "NX on a key, in {protocol:?}");
            assert_eq!(apply_in(protocol, &mut store, get(b"k"), now), "$1\r\nk\r\n");
            assert_eq!(apply_in(protocol, &mut store, ttl(b"none"), now), ":-2\r\n");
            assert_eq!(
                apply_in(protocol, &mut store, Op::GetRange { key: Key::new(b"none"), start: 0, end: 1 }, now),
                "$0\r\n\r\n"
            );
        }
    }

    #[test]
    fn sweep_steps_remove_expired_keys_pass_by_pass_and_stop_once_none_is_left() {
        let (mut store, now) = (Store::default(), Instant::now());
        let later = now + Duration::from_secs(1);
        for i in 0..50_000 {
            put(&mut store, format!("k{i}").as_bytes(), (i % 2 == 0).then_some(10), now);
        }
        let steps = store.map.num_buckets().div_ceil(SWEEP_STEP);
        assert!(steps > 1, "the table takes several steps");
        store.sweep_step(later);
        assert!((25_001..50_000).contains(&store.len()), "one step sweeps part of the table: {}", store.len());
        (1..steps).for_each(|_| store.sweep_step(later));
        assert_eq!(store.len(), 25_000, "a whole pass: every expired key gone, every other kept");
        assert!(store.expiring, "the pass met keys with TTLs");

        // A pass that meets none, but during which a key where it has been gets a TTL: it
        // must not end believing no key has one.
        store.sweep_step(later);
        let behind = (0..store.sweep_at).find_map(|at| store.map.get_bucket(at)).map(|e| e.key.clone()).unwrap();
        put(&mut store, &behind, Some(100_000), later);
        (1..steps).for_each(|_| store.sweep_step(later));
        assert!(store.expiring, "a TTL set behind the sweep is still known");
        assert_eq!(apply(&mut store, Op::Pttl(Key::new(&behind)), later), ":100000\r\n");

        assert_eq!(apply(&mut store, Op::Del(Key::new(&behind)), later), ":1\r\n");
        (0..steps).for_each(|_| store.sweep_step(later));
        assert!(!store.expiring, "a pass that met no TTL, and saw none set");
        assert_eq!(store.len(), 24_999);
    }

    #[test]
    fn randomkey_picks_live_keys_evenly_and_finds_the_last_one_left() {
        let (mut store, now) = (Store::default(), Instant::now());
        let later = now + Duration::from_secs(1);
        for i in 0..100 {
            put(&mut store, format!("live{i}").as_bytes(), None, now);
            put(&mut store, format!("expiring{i}").as_bytes(), Some(10), now);
        }
        let mut seen = std::collections::HashMap::<String, u32>::new();
        for _ in 0..20_000 {
            let key = random_key(&mut store, later).expect("live keys left");
            *seen.entry(key).or_default() += 1;
        }
        assert_eq!(
            seen.len(),
            100,
            "every live key, and only those: {:?}",
            seen.keys().filter(|k| !k.starts_with("live")).collect::<Vec<_>>()
        );
        // 200 expected each; a fair pick stays within 200 +- 5 standard deviations (14).
        assert!(seen.values().all(|&n| (130..=270).contains(&n)), "uneven: {seen:?}");

        // A table all but emptied keeps its buckets: the one key left is still found.
        for i in 1..100 {
            assert_eq!(apply(&mut store, Op::Del(Key::new(format!("live{i}").as_bytes())), later), ":1\r\n");
        }
        for _ in 0..10 {
            assert_eq!(random_key(&mut store, later).as_deref(), Some("live0"));
        }
        assert_eq!(apply(&mut store, Op::Del(Key::new(b"live0")), later), ":1\r\n");
        assert_eq!(random_key(&mut store, later), None, "only expired keys: nil");
        assert_eq!(store.len(), 0, "and swept");
    }

    #[test]
    fn nx_and_xx_write_only_as_the_key_is_and_answer_as_redis_does() {
        use {Expiry::Clear, Only::*, SetReply::*};
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op| apply(&mut store, op, now);
        assert_eq!(run(set(b"k", b"1", IfPresent, Ok, Clear)), "$-1\r\n", "XX on nothing: nil");
        assert_eq!(run(get(b"k")), "$-1\r\n");
        assert_eq!(run(set(b"k", b"2", IfAbsent, Ok, Clear)), "+OK\r\n");
        assert_eq!(run(set(b"k", b"3", IfAbsent, Ok, Clear)), "$-1\r\n", "NX on a key: nil");
        assert_eq!(run(set(b"k", b"4", IfAbsent, Old, Clear)), "$1\r\n2\r\n", "NX GET: the value, unwritten");
        assert_eq!(run(set(b"k", b"5", IfPresent, Old, Clear)), "$1\r\n2\r\n", "XX GET: the value before");
        assert_eq!(run(set(b"k", b"6", IfAbsent, Flag, Clear)), ":0\r\n", "SETNX on a key");
        assert_eq!(run(set(b"n", b"7", IfAbsent, Flag, Clear)), ":1\r\n", "SETNX on nothing");
        assert_eq!(run(set(b"g", b"8", Always, Old, Clear)), "$-1\r\n", "GETSET on nothing");
        assert_eq!(run(get(b"k")), "$1\r\n5\r\n");
        assert_eq!(run(get(b"n")), "$1\r\n7\r\n");
        assert_eq!(run(get(b"g")), "$1\r\n8\r\n");
    }

    #[test]
    fn expiry_options_set_keep_or_clear_the_keys_time() {
        use {Expiry::*, Only::*, SetReply::Ok};
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op, at| apply(&mut store, op, at);
        assert_eq!(run(set(b"k", b"1", Always, Ok, After(100_000)), now), "+OK\r\n");
        assert_eq!(run(set(b"k", b"2", IfPresent, Ok, Keep), now), "+OK\r\n");
        assert_eq!(run(ttl(b"k"), now), ":100\r\n", "KEEPTTL kept it");
        assert_eq!(run(set(b"k", b"3", IfAbsent, Ok, After(5_000)), now), "$-1\r\n");
        assert_eq!(run(ttl(b"k"), now), ":100\r\n", "a SET that did not write changed nothing");
        assert_eq!(run(set(b"k", b"4", Always, Ok, Clear), now), "+OK\r\n");
        assert_eq!(run(ttl(b"k"), now), ":-1\r\n", "a plain SET drops it");
        let in_a_day = unix_now().as_millis() as u64 + 86_400_000;
        assert_eq!(run(set(b"k", b"5", Always, Ok, At(in_a_day)), now), "+OK\r\n");
        let left: i64 = run(ttl(b"k"), now).trim_matches([':', '\r', '\n']).parse().unwrap();
        assert!((86_398..=86_400).contains(&left), "EXAT a day ahead: {left}");
        // Past its time, the key is gone for every option that looks at it.
        let later = now + Duration::from_secs(86_401);
        assert_eq!(run(set(b"k", b"6", IfPresent, Ok, Keep), later), "$-1\r\n");
        assert_eq!(run(set(b"k", b"7", IfAbsent, Ok, Keep), later), "+OK\r\n");
        assert_eq!(run(ttl(b"k"), later), ":-1\r\n", "nothing to keep from an expired key");
    }

    #[test]
    fn a_unix_time_already_past_writes_the_key_expired() {
        use {Expiry::At, Only::Always, SetReply::*};
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op| apply(&mut store, op, now);
        assert_eq!(run(set(b"k", b"1", Always, Ok, Expiry::Clear)), "+OK\r\n");
        assert_eq!(run(set(b"k", b"2", Always, Old, At(1))), "$1\r\n1\r\n", "GET: the value it had");
        assert_eq!(run(get(b"k")), "$-1\r\n");
        assert_eq!(run(ttl(b"k")), ":-2\r\n");
        assert_eq!(run(set(b"k", b"3", Always, Ok, At(1))), "+OK\r\n");
        assert_eq!(run(Op::Exists(Key::new(b"k"))), ":0\r\n");
    }

    #[test]
    fn counters_add_their_delta_keep_the_keys_time_and_refuse_overflow() {
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op| apply(&mut store, op, now);
        let incr = |delta| Op::Incr(Key::new(b"n"), delta);
        assert_eq!(run(incr(-5)), ":-5\r\n", "from nothing, as from 0");
        assert_eq!(run(incr(12)), ":7\r\n");
        assert_eq!(run(Op::Expire(Key::new(b"n"), 100_000, ExpireIf::default())), ":1\r\n");
        assert_eq!(run(incr(i64::MAX - 7)), format!(":{}\r\n", i64::MAX));
        assert_eq!(run(ttl(b"n")), ":100\r\n", "INCRBY keeps the key's time");
        assert_eq!(run(incr(1)), "-ERR increment or decrement would overflow\r\n");
        assert_eq!(run(get(b"n")), format!("${}\r\n{}\r\n", i64::MAX.to_string().len(), i64::MAX), "unchanged");
        assert_eq!(run(incr(i64::MIN)), ":-1\r\n");
        let text = set(b"n", b"007", Only::Always, SetReply::Ok, Expiry::Clear);
        assert_eq!(run(text), "+OK\r\n");
        assert_eq!(run(incr(1)), "-ERR value is not an integer or out of range\r\n", "as Redis reads 007");
    }

    #[test]
    fn pttl_persist_and_getdel_answer_as_redis_does() {
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op, at| apply(&mut store, op, at);
        let k = || Key::new(b"k");
        assert_eq!(run(Op::Pttl(k()), now), ":-2\r\n");
        assert_eq!(run(Op::Persist(k()), now), ":0\r\n", "no key");
        assert_eq!(run(set(b"k", b"v", Only::Always, SetReply::Ok, Expiry::Clear), now), "+OK\r\n");
        assert_eq!(run(Op::Pttl(k()), now), ":-1\r\n");
        assert_eq!(run(Op::Persist(k()), now), ":0\r\n", "no time to drop");
        assert_eq!(run(Op::Expire(k(), 1_500, ExpireIf::default()), now), ":1\r\n");
        assert_eq!(run(Op::Pttl(k()), now), ":1500\r\n");
        assert_eq!(run(Op::Ttl(k()), now), ":2\r\n", "1.5 s rounds up, as Redis rounds");
        assert_eq!(run(Op::Pttl(k()), now + Duration::from_millis(1_499)), ":1\r\n");
        assert_eq!(run(Op::Persist(k()), now), ":1\r\n");
        assert_eq!(run(Op::Pttl(k()), now + Duration::from_secs(10)), ":-1\r\n", "persists past its old time");
        assert_eq!(run(Op::GetDel(k()), now), "$1\r\nv\r\n");
        assert_eq!(run(Op::GetDel(k()), now), "$-1\r\n", "gone");
        assert_eq!(run(Op::Exists(k()), now), ":0\r\n");
        // An expired key is no key to any of them.
        assert_eq!(run(set(b"k", b"v", Only::Always, SetReply::Ok, Expiry::After(10)), now), "+OK\r\n");
        let later = now + Duration::from_millis(10);
        assert_eq!(run(Op::Persist(k()), later), ":0\r\n");
        assert_eq!(run(Op::GetDel(k()), later), "$-1\r\n");
    }

    #[test]
    fn getex_reads_then_keeps_clears_or_sets_the_keys_time() {
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op, at| apply(&mut store, op, at);
        let getex = |expiry| Op::GetEx(Key::new(b"k"), Ok(expiry));
        assert_eq!(run(getex(Expiry::After(1_000)), now), "$-1\r\n", "no key: nil, nothing written");
        assert_eq!(run(Op::Exists(Key::new(b"k")), now), ":0\r\n");
        assert_eq!(run(set(b"k", b"v", Only::Always, SetReply::Ok, Expiry::Clear), now), "+OK\r\n");
        assert_eq!(run(getex(Expiry::Keep), now), "$1\r\nv\r\n");
        assert_eq!(run(Op::Pttl(Key::new(b"k")), now), ":-1\r\n", "no option: no time");
        assert_eq!(run(getex(Expiry::After(2_000)), now), "$1\r\nv\r\n");
        assert_eq!(run(Op::Pttl(Key::new(b"k")), now), ":2000\r\n");
        assert_eq!(run(getex(Expiry::Keep), now), "$1\r\nv\r\n");
        assert_eq!(run(Op::Pttl(Key::new(b"k")), now), ":2000\r\n", "no option keeps the time");
        assert_eq!(run(getex(Expiry::Clear), now), "$1\r\nv\r\n");
        assert_eq!(run(Op::Pttl(Key::new(b"k")), now + Duration::from_secs(5)), ":-1\r\n", "PERSIST");
        assert_eq!(run(getex(Expiry::At(1)), now), "$1\r\nv\r\n", "the value, then gone");
        assert_eq!(run(Op::Exists(Key::new(b"k")), now), ":0\r\n");
    }

    /// One shard's SCAN from `cursor`: the next cursor and the keys, for a store of 2 shards.
    fn scan_once(store: &mut Store, cursor: Cursor, count: u64, now: Instant) -> (u64, Vec<String>) {
        let reply = apply(store, Op::Scan { pattern: b"*", cursor, count, shards: 2, only: None }, now);
        let mut lines = reply.split("\r\n").skip(2); // the array's head, the cursor's length
        let next = lines.next().unwrap().parse().unwrap();
        let keys = lines.skip(1).skip(1).step_by(2).filter(|k| !k.is_empty()).map(String::from).collect();
        (next, keys)
    }

    /// A scan of shard 0 of 2 takes `count` keys a call, ends with shard 1's start (cursor
    /// 1), and a cursor given before the table grew starts the shard again, once: grown
    /// again, the rest of the shard comes whole.
    #[test]
    fn scan_walks_the_table_count_keys_a_call_and_restarts_after_a_move() {
        let (mut store, now) = (Store::default(), Instant::now());
        for i in 0..100 {
            put(&mut store, format!("k{i}").as_bytes(), None, now);
        }
        let (mut cursor, mut all, mut calls) = (Cursor::start(0), Vec::new(), 0);
        loop {
            let (next, keys) = scan_once(&mut store, cursor, 7, now);
            assert!(keys.len() <= 7, "{keys:?}");
            all.extend(keys);
            calls += 1;
            if next == 1 {
                break;
            }
            cursor = Cursor::decode(next, 2);
            assert_eq!((cursor.shard, cursor.epoch), (0, store.layout_epoch));
        }
        all.sort();
        all.dedup();
        assert_eq!((all.len(), calls >= 100 / 7), (100, true));
        // Stopped halfway, then the table grows: the cursor's place means nothing now.
        let (next, first) = scan_once(&mut store, Cursor::start(0), 7, now);
        let epoch = store.layout_epoch;
        for i in 100..1000 {
            put(&mut store, format!("k{i}").as_bytes(), None, now);
        }
        assert_ne!(store.layout_epoch, epoch, "growing moved the entries");
        let (next, again) = scan_once(&mut store, Cursor::decode(next, 2), 7, now);
        let (_, from_start) = scan_once(&mut store, Cursor::start(0), 7, now);
        assert_eq!(again, from_start, "started again");
        assert_eq!(first.len(), 7);
        assert!(Cursor::decode(next, 2).restarted);
        let (next, more) = scan_once(&mut store, Cursor::decode(next, 2), 7, now);
        assert_eq!(more.len(), 7, "no move since: on as before");
        let epoch = store.layout_epoch;
        for i in 1000..3000 {
            put(&mut store, format!("k{i}").as_bytes(), None, now);
        }
        assert_ne!(store.layout_epoch, epoch, "moved again");
        let (next, mut rest) = scan_once(&mut store, Cursor::decode(next, 2), 7, now);
        rest.sort();
        let mut every: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
        every.sort();
        assert_eq!((next, rest), (1, every), "the whole shard, then the next shard's start");
    }

    /// DBSIZE counts the keys stored, an expired one until the sweeper reclaims it (as
    /// Redis' counts one until its expiry cycle does): it never walks the table.
    #[test]
    fn dbsize_counts_expired_keys_until_swept() {
        let (mut store, now) = (Store::default(), Instant::now());
        for i in 0..100 {
            put(&mut store, format!("k{i}").as_bytes(), (i < 60).then_some(10), now);
        }
        let later = now + Duration::from_millis(10);
        assert_eq!(apply(&mut store, Op::DbSize, later), ":100\r\n", "expired, not reclaimed yet");
        assert_eq!(apply(&mut store, Op::Exists(Key::new(b"k0")), later), ":0\r\n", "yet gone to a read");
        store.sweep_step(later);
        assert_eq!(apply(&mut store, Op::DbSize, later), ":40\r\n", "swept");
    }

    /// Redis looks GETEX's key up before it reads the amount: no key is nil whatever the
    /// amount, a key gets the amount's error and keeps its value and its time.
    #[test]
    fn getex_refuses_a_bad_amount_only_for_a_key() {
        let (mut store, now) = (Store::default(), Instant::now());
        let mut run = |op| apply(&mut store, op, now);
        let getex = |refused| Op::GetEx(Key::new(b"k"), Err(refused));
        for refused in [ExpiryRefused::NotAnInteger, ExpiryRefused::InvalidTime] {
            assert_eq!(run(getex(refused)), "$-1\r\n", "{refused:?}, no key");
        }
        assert_eq!(run(set(b"k", b"v", Only::Always, SetReply::Ok, Expiry::After(5_000))), "+OK\r\n");
        assert_eq!(run(getex(ExpiryRefused::NotAnInteger)), "-ERR value is not an integer or out of range\r\n");
        assert_eq!(run(getex(ExpiryRefused::InvalidTime)), "-ERR invalid expire time in 'getex' command\r\n");
        assert_eq!(run(Op::Pttl(Key::new(b"k"))), ":5000\r\n", "the time kept");
        assert_eq!(run(get(b"k")), "$1\r\nv\r\n");
    }

    /// What a forwarded operation counts against its run's budget (`Op::reply_size`) is
    /// the most its reply takes, errors included.
    #[test]
    fn replies_fit_the_bound_their_operation_claims() {
        use super::super::op::{ReplySize, BULK_FRAMING, SMALL_REPLY};
        let (mut store, now) = (Store::default(), Instant::now());
        let k = || Key::new(b"k");
        let full = vec![b'x'; MAX_BULK];
        let nx = SetHow { only: Only::IfAbsent, ..SetHow::PLAIN };
        let ops = [
            Op::Set { key: k(), value: &full },
            Op::Append { key: k(), value: b"y" },
            Op::Incr(k(), 1),
            Op::Strlen(k()),
            Op::Type(k()),
            Op::MemoryUsage(k()),
            Op::SetWith { key: k(), value: b"v", how: nx },
            Op::Del(k()),
            Op::Incr(k(), -1),
            Op::Incr(k(), i64::MIN),
            Op::Expire(k(), 1000, ExpireIf::default()),
            Op::Pttl(k()),
            Op::Persist(k()),
            Op::Exists(k()),
            Op::DbSize,
            Op::SetRange { key: k(), offset: 3, value: b"abc" },
            Op::Rename { from: k(), to: Key::new(b"other"), only_new: false },
            Op::Rename { from: k(), to: Key::new(b"other"), only_new: true },
            Op::GetEx(k(), Err(ExpiryRefused::NotAnInteger)),
            Op::FlushAll { lazy: false },
        ];
        for op in ops {
            let size = op.reply_size();
            let reply = apply(&mut store, op, now);
            assert!(size == ReplySize::Small && reply.len() <= SMALL_REPLY, "{op:?}: {reply:?}");
        }
        // A value's reply: the largest value held, and its framing, at most.
        let old = SetHow { reply: SetReply::Old, ..SetHow::PLAIN };
        let getex = Op::GetEx(k(), Ok(Expiry::Keep));
        let getrange = Op::GetRange { key: k(), start: 0, end: -1 };
        for op in [Op::Get(k()), Op::GetDel(k()), getex, Op::SetWith { key: k(), value: b"v", how: old }, getrange] {
            assert_eq!(op.reply_size(), ReplySize::Value, "{op:?}");
            apply(&mut store, Op::Set { key: k(), value: &full }, now);
            let reply = apply(&mut store, op, now);
            assert!(reply.len() <= store.largest_value + BULK_FRAMING, "{op:?}: {} bytes", reply.len());
        }
        for op in [
            Op::Keys(b"*"),
            Op::Scan { pattern: b"*", cursor: Cursor::start(1), count: 10, shards: 2, only: None },
            Op::Info,
            Op::RandomKey,
        ] {
            assert_eq!(op.reply_size(), ReplySize::Unbounded, "{op:?} answers with keys or INFO");
        }
    }

    #[test]
    fn append_grows_a_value_up_to_the_largest_a_request_may_carry() {
        let (mut store, now) = (Store::default(), Instant::now());
        let big = vec![b'x'; MAX_BULK - 1];
        let append = |value| Op::Append { key: Key::new(b"k"), value };
        assert_eq!(apply(&mut store, append(&big), now), format!(":{}\r\n", MAX_BULK - 1));
        assert_eq!(apply(&mut store, append(b"y"), now), format!(":{MAX_BULK}\r\n"));
        let refused = apply(&mut store, append(b"z"), now);
        assert_eq!(refused, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
        assert_eq!(apply(&mut store, Op::Strlen(Key::new(b"k")), now), format!(":{MAX_BULK}\r\n"), "unchanged");
    }

    #[test]
    fn setrange_pads_writes_keeps_the_time_and_raises_the_record() {
        let (mut store, now) = (Store::default(), Instant::now());
        let setrange = |offset, value| Op::SetRange { key: Key::new(b"k"), offset, value };
        assert_eq!(apply(&mut store, setrange(u64::MAX, b""), now), ":0\r\n", "nothing written, no key");
        assert_eq!(apply(&mut store, Op::Exists(Key::new(b"k")), now), ":0\r\n");
        assert_eq!(apply(&mut store, setrange(5, b"hi"), now), ":7\r\n");
        assert_eq!(apply(&mut store, get(b"k"), now), "$7\r\n\0\0\0\0\0hi\r\n");
        assert_eq!(store.largest_value, 7);
        assert_eq!(apply(&mut store, Op::Expire(Key::new(b"k"), 100_000, ExpireIf::default()), now), ":1\r\n");
        assert_eq!(apply(&mut store, setrange(0, b"AB"), now), ":7\r\n");
        assert_eq!(apply(&mut store, get(b"k"), now), "$7\r\nAB\0\0\0hi\r\n");
        assert_eq!(apply(&mut store, ttl(b"k"), now), ":100\r\n", "SETRANGE keeps the time");
        assert_eq!(apply(&mut store, setrange(u64::MAX, b""), now), ":7\r\n", "an empty write: the length");
    }

    #[test]
    fn rename_moves_the_value_and_its_time_over_the_destination() {
        let (mut store, now) = (Store::default(), Instant::now());
        let rename = |from: &'static [u8], to: &'static [u8], only_new| Op::Rename {
            from: Key::new(from),
            to: Key::new(to),
            only_new,
        };
        assert_eq!(apply(&mut store, rename(b"a", b"b", false), now), "-ERR no such key\r\n");
        assert_eq!(apply(&mut store, rename(b"a", b"a", true), now), "-ERR no such key\r\n");
        assert_eq!(
            apply(&mut store, set(b"a", b"1", Only::Always, SetReply::Ok, Expiry::After(100_000)), now),
            "+OK\r\n"
        );
        assert_eq!(apply(&mut store, set(b"b", b"2", Only::Always, SetReply::Ok, Expiry::Clear), now), "+OK\r\n");
        assert_eq!(apply(&mut store, rename(b"a", b"a", false), now), "+OK\r\n");
        assert_eq!(apply(&mut store, rename(b"a", b"a", true), now), ":0\r\n");
        assert_eq!(apply(&mut store, rename(b"a", b"b", true), now), ":0\r\n", "RENAMENX over a key");
        assert_eq!(apply(&mut store, rename(b"a", b"b", false), now), "+OK\r\n");
        assert_eq!(apply(&mut store, get(b"b"), now), "$1\r\n1\r\n");
        assert_eq!(apply(&mut store, ttl(b"b"), now), ":100\r\n", "the time moved with the value");
        assert_eq!(apply(&mut store, Op::Exists(Key::new(b"a")), now), ":0\r\n");
        assert_eq!(apply(&mut store, rename(b"b", b"c", true), now), ":1\r\n");
        assert_eq!(apply(&mut store, Op::DbSize, now), ":1\r\n");
        assert_eq!(apply(&mut store, Op::RandomKey, now), "$1\r\nc\r\n", "the one key left");
        let later = now + Duration::from_secs(101);
        assert_eq!(apply(&mut store, rename(b"c", b"d", false), later), "-ERR no such key\r\n", "expired");
        assert_eq!(apply(&mut store, Op::RandomKey, later), "$-1\r\n");
    }

    /// The counter of keys with a time against a walk of the table: the count, and the sum
    /// of their deadlines it keeps; then its count.
    fn counted_ttls(store: &Store) -> usize {
        let timed: Vec<Instant> = store.map.iter().filter_map(|e| e.expires).collect();
        assert_eq!(store.ttls.count(), timed.len(), "the count, against the table");
        if let Some(base) = store.ttls.base {
            assert_eq!(store.ttls.deadlines, timed.iter().map(|&at| since(base, at)).sum::<i128>(), "the deadlines");
        }
        timed.len()
    }

    /// INFO's `expires` is a counter kept by every command that gives a key a time, takes it,
    /// or removes the key: each step below is checked against a walk of the table.
    #[test]
    fn the_count_of_keys_with_a_time_follows_every_command() {
        use {Expiry::*, Only::Always, SetReply::Ok as Ok_};
        let (mut store, now) = (Store::default(), Instant::now());
        let k = Key::new;
        fn step(store: &mut Store, op: Op<'_>, at: Instant, reply: &str, timed: usize) {
            assert_eq!(apply(store, op, at), reply, "{op:?}");
            assert_eq!(counted_ttls(store), timed, "after {op:?}");
        }
        step(&mut store, set(b"a", b"1", Always, Ok_, After(10_000)), now, "+OK\r\n", 1); // SET EX
        step(&mut store, set(b"b", b"1", Always, Ok_, After(20_000)), now, "+OK\r\n", 2);
        step(&mut store, set(b"a", b"2", Always, Ok_, After(30_000)), now, "+OK\r\n", 2); // a new time, still one key
        step(&mut store, Op::Persist(k(b"a")), now, ":1\r\n", 1);
        step(&mut store, Op::Persist(k(b"a")), now, ":0\r\n", 1);
        step(&mut store, Op::Expire(k(b"a"), 5_000, ExpireIf::default()), now, ":1\r\n", 2);
        step(&mut store, Op::Set { key: k(b"a"), value: b"3" }, now, "+OK\r\n", 1); // a plain SET clears it
        step(&mut store, set(b"b", b"2", Always, Ok_, Keep), now, "+OK\r\n", 1); // KEEPTTL
        assert_eq!(apply(&mut store, Op::Pttl(k(b"b")), now), ":20000\r\n");
        step(&mut store, set(b"b", b"3", Always, Ok_, Clear), now, "+OK\r\n", 0); // SET with no option
        step(&mut store, set(b"c", b"1", Always, Ok_, After(1_000)), now, "+OK\r\n", 1);
        step(&mut store, Op::GetEx(k(b"c"), Ok(Clear)), now, "$1\r\n1\r\n", 0); // GETEX PERSIST
        step(&mut store, Op::GetEx(k(b"c"), Ok(After(1_000))), now, "$1\r\n1\r\n", 1); // GETEX PX
        step(&mut store, Op::Del(k(b"c")), now, ":1\r\n", 0);
        step(&mut store, set(b"d", b"1", Always, Ok_, After(1_000)), now, "+OK\r\n", 1);
        step(&mut store, Op::Expire(k(b"d"), -1, ExpireIf::default()), now, ":1\r\n", 0); // EXPIRE past: deleted
        step(&mut store, set(b"d", b"1", Always, Ok_, After(1_000)), now, "+OK\r\n", 1);
        step(&mut store, Op::GetDel(k(b"d")), now, "$1\r\n1\r\n", 0);

        // RENAME carries the time, over a destination that had one of its own.
        step(&mut store, set(b"from", b"1", Always, Ok_, After(50_000)), now, "+OK\r\n", 1);
        step(&mut store, set(b"to", b"1", Always, Ok_, After(60_000)), now, "+OK\r\n", 2);
        step(&mut store, Op::Rename { from: k(b"from"), to: k(b"to"), only_new: false }, now, "+OK\r\n", 1);
        assert_eq!(apply(&mut store, Op::Pttl(k(b"to")), now), ":50000\r\n");
        step(&mut store, Op::Rename { from: k(b"to"), to: k(b"a"), only_new: false }, now, "+OK\r\n", 1); // over no time
        step(&mut store, Op::Rename { from: k(b"b"), to: k(b"a"), only_new: false }, now, "+OK\r\n", 0); // no time over one

        // Expiry: read (lazily), swept a step at a time, or swept whole.
        let later = now + Duration::from_secs(2);
        step(&mut store, set(b"e", b"1", Always, Ok_, After(1_000)), now, "+OK\r\n", 1);
        step(&mut store, get(b"e"), later, "$-1\r\n", 0);
        for i in 0..100 {
            let key = format!("t{i}");
            put(&mut store, key.as_bytes(), Some(if i % 2 == 0 { 1_000 } else { 100_000 }), now);
        }
        assert_eq!(counted_ttls(&store), 100);
        store.sweep_step(later);
        assert_eq!(counted_ttls(&store), 50, "the sweep removed the expired half");
        for i in 0..50 {
            put(&mut store, format!("u{i}").as_bytes(), Some(1_000), now);
        }
        store.sweep(later);
        assert_eq!(counted_ttls(&store), 50, "a whole sweep likewise");
        step(&mut store, Op::FlushAll { lazy: false }, later, "+OK\r\n", 0);
        assert_eq!((store.len(), store.ttls()), (0, Ttls::default()), "nothing left, and no sum");
        put(&mut store, b"f", Some(1_000), now);
        drop(store.take_all()); // FLUSHALL ASYNC's way
        assert_eq!(counted_ttls(&store), 0);
    }

    /// `avg_ttl`: the average of the times left, in milliseconds; 0 with none.
    #[test]
    fn the_average_time_left_is_of_the_keys_with_a_time() {
        let (mut store, now) = (Store::default(), Instant::now());
        assert_eq!(store.ttls().average_left(now), 0);
        put(&mut store, b"plain", None, now);
        assert_eq!(store.ttls().average_left(now), 0, "no key with a time");
        put(&mut store, b"a", Some(10_000), now);
        put(&mut store, b"b", Some(30_000), now);
        assert_eq!(store.ttls().average_left(now), 20_000);
        assert_eq!(store.ttls().average_left(now + Duration::from_secs(5)), 15_000);
        // One expired, not yet removed: its time past counts against the other's.
        assert_eq!(store.ttls().average_left(now + Duration::from_secs(11)), (19_000 - 1_000) / 2);
        assert_eq!(store.ttls().average_left(now + Duration::from_secs(40)), 0, "never below zero");
        put(&mut store, b"early", Some(1), now); // a deadline before the first one seen
        assert_eq!(store.ttls().average_left(now), (10_000 + 30_000 + 1) / 3);
        assert_eq!(counted_ttls(&store), 3);
        apply(&mut store, Op::Del(Key::new(b"b")), now);
        apply(&mut store, Op::Del(Key::new(b"early")), now);
        assert_eq!(store.ttls().average_left(now), 10_000);
    }
}
