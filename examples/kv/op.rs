//! One operation on one shard, borrowed from the request it came from, and its compact
//! encoding for a batch to another core: a fixed head (a tag byte, the lengths and the key's
//! hash, so the owning core need not hash it again), then the key and the value. A batch is
//! one `Vec<u8>` however many operations it carries, so forwarding costs no allocation per
//! operation.
//!
//! The head's tag also carries the protocol the asking connection speaks, so the owning
//! core writes the reply in it (a null is `$-1` or `_`). The alternative, shards answering
//! in RESP2 and the asking core rewriting the answers for a RESP3 connection, would miss the
//! replies the owning core writes to the client itself (`direct.rs`), and would read every
//! answer a RESP3 connection gets a second time; a bit in a byte already written costs
//! neither, and RESP2 connections nothing but that bit's `or` and mask.

use super::clients::Listing;
use super::copy::Transfer;
use super::hash::Key;
use super::kill::Kill;
use super::lane::{self, Hot};
use super::pubsub::Shared;
use super::replies::Protocol;
use super::scan::Cursor;
use super::types::Command;

/// One operation on one shard: a command, or one key's part of a multi-key command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    Get(Key<'a>),
    /// SET without options (and MSET's part of one key): written whatever was there.
    Set {
        key: Key<'a>,
        value: &'a [u8],
    },
    /// SET with options (SETNX and GETSET too): decided on the shard that owns the key, so
    /// that NX and XX are atomic.
    SetWith {
        key: Key<'a>,
        value: &'a [u8],
        how: SetHow,
    },
    Del(Key<'a>),
    Exists(Key<'a>),
    /// `INCRBY key delta`: INCR, DECR and DECRBY are it with 1, -1 and the negated amount.
    Incr(Key<'a>, i64),
    /// `INCRBYFLOAT key increment`: the increment's text, read where the key lives (the
    /// sum is Redis' 80-bit `long double`, see `float.rs`).
    IncrByFloat {
        key: Key<'a>,
        by: &'a [u8],
    },
    /// MSETNX of keys that all live on one shard: `pairs` is a batch of encoded plain SETs,
    /// applied there together, or none of them if any key exists.
    MsetNx(&'a [u8]),
    /// `PEXPIRE key milliseconds` (EXPIRE is it with the seconds in milliseconds), if the
    /// key's time meets the condition: a TTL of zero or less deletes the key.
    Expire(Key<'a>, i64, ExpireIf),
    /// TTL: the time left in seconds, rounded.
    Ttl(Key<'a>),
    /// PTTL: the time left in milliseconds.
    Pttl(Key<'a>),
    /// EXPIRETIME, or with `true` PEXPIRETIME: the Unix time the key expires at, in seconds
    /// or milliseconds.
    ExpireTime(Key<'a>, bool),
    /// Drops the key's expiry time.
    Persist(Key<'a>),
    /// GET, then DEL.
    GetDel(Key<'a>),
    /// GETEX: GET, then the key's expiry time becomes `Keep` (unchanged: no option),
    /// `Clear` (PERSIST) or the time given; an amount Redis refuses is refused here, where
    /// the key is, only if there is a key (no key is nil, as Redis looks the key up first).
    GetEx(Key<'a>, Result<Expiry, ExpiryRefused>),
    /// KEYS: this shard's live keys that match the pattern.
    Keys(&'a [u8]),
    /// One SCAN call on this shard (`scan.rs`): from `cursor`, up to `count` keys before
    /// `pattern` (and TYPE, `only`: a `types::type_number`) filters them; the next cursor
    /// counts `shards` shards: a u32 (as it travels), so that `only` fits in the 64 bytes
    /// every `Op` takes (with a usize, every `Op`, GET's and SET's too, took 72).
    Scan {
        pattern: &'a [u8],
        cursor: Cursor,
        count: u64,
        shards: u32,
        only: Option<u8>,
    },
    /// TYPE: `string` for a key, `none` for no key.
    Type(Key<'a>),
    Strlen(Key<'a>),
    /// APPEND: the value grows by these bytes (a new key if none), its expiry time kept.
    Append {
        key: Key<'a>,
        value: &'a [u8],
    },
    /// MEMORY USAGE: the bytes the shard holds for the key, nil for no key.
    MemoryUsage(Key<'a>),
    /// MEMORY STATS and DOCTOR: the shard's keys and the bytes they take (`memory.rs`).
    MemoryStats,
    DbSize,
    /// FLUSHALL: every key gone; with ASYNC (`lazy`), the old table freed off the core.
    FlushAll {
        lazy: bool,
    },
    /// The shard's section of INFO.
    Info,
    /// CLIENT KILL: the core closes its connections that match (`kill.rs`). Beside INFO and
    /// FLUSHALL, which the shard answers too: their tags next to each other make the test
    /// for them one compare (`Shards::apply`).
    Kill(Kill<'a>),
    /// CLIENT LIST: the core's part, its connections `Listing` names (`clients.rs`); its tag
    /// next to KILL's, for the same one compare.
    ClientList(Listing<'a>),
    /// PUBLISH, or a part of PUBSUB, on one core's subscribers (`pubsub.rs`); its tag next
    /// to CLIENT LIST's, for the same one compare.
    PubSub(Shared<'a>),
    /// GETRANGE (and SUBSTR): the bytes of the value from `start` to `end`, both included,
    /// negative ones counted from its end, as Redis 7 takes them.
    GetRange {
        key: Key<'a>,
        start: i64,
        end: i64,
    },
    /// SETRANGE: `value` written at `offset`, the value zero-padded up to it (the command
    /// refused an end past `MAX_BULK` before it got here, so nothing huge is allocated).
    SetRange {
        key: Key<'a>,
        offset: u64,
        value: &'a [u8],
    },
    /// RENAME (or RENAMENX, `only_new`): both keys live on this shard.
    Rename {
        from: Key<'a>,
        to: Key<'a>,
        only_new: bool,
    },
    /// RANDOMKEY: one of the shard's live keys, nil if none.
    RandomKey,
    /// MGET's part of one key: GET, but nil for a key holding a collection, where GET
    /// answers WRONGTYPE.
    GetString(Key<'a>),
    /// A command on a collection (`types`): its arguments after the key, packed
    /// (`types::pack`), run where the key lives. One operation for them all (see `types`
    /// for why).
    Typed {
        key: Key<'a>,
        command: Command,
        args: &'a [u8],
    },
    /// COPY's or ZRANGESTORE's first half, where `from` lives (`copy.rs`): the value `how`
    /// takes (by ZRANGESTORE's range and options), put down at the destination if it lives
    /// here too (`here`: the client's reply), else answered with as a payload.
    Lift {
        from: Key<'a>,
        /// The destination's bytes and the other arguments, packed (`copy::pack_lift`): one
        /// slice, so an operation stays 64 bytes; the destination is hashed again where it
        /// is put down.
        packed: &'a [u8],
        how: Transfer,
        here: bool,
    },
    /// The other half, where `key` lives: a lift's payload put down at `key`.
    Put {
        key: Key<'a>,
        payload: &'a [u8],
        how: Transfer,
    },
}

/// The most a reply can take that is a status, an integer, a nil or one of the short errors
/// the store gives (the longest, APPEND's, is 65 bytes).
pub const SMALL_REPLY: usize = 128;

/// The most bytes a bulk reply adds to its value: `$16777216\r\n` and the closing `\r\n`.
pub const BULK_FRAMING: usize = 13;

/// How big an operation's reply can be, as far as that is known before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplySize {
    /// A status, an integer, a nil or a short error: [`SMALL_REPLY`] bytes at most.
    Small,
    /// One of the store's values, or nil: no more than the largest value the key's store
    /// has held, and [`BULK_FRAMING`].
    Value,
    /// Keys, or INFO: as many as there are.
    Unbounded,
}

impl Op<'_> {
    /// How big the reply can be. A forwarded operation counts that much against its run's
    /// budget, where it is known, not a guess (see `pipeline.rs`).
    pub fn reply_size(&self) -> ReplySize {
        match self {
            // A refusal is an error, however short the values are.
            Op::GetEx(_, Err(_)) => ReplySize::Small,
            Op::Get(_) | Op::GetDel(_) | Op::GetEx(..) | Op::GetString(_) => ReplySize::Value,
            Op::Typed { command, .. } if command.small_reply() => ReplySize::Small,
            // A collection's elements, or one of them: no record of their sizes is kept.
            Op::Typed { .. } => ReplySize::Unbounded,
            Op::SetWith { how, .. } if how.reply == SetReply::Old => ReplySize::Value,
            // A float's text can take thousands of digits (1e4000 is written out in full).
            Op::GetRange { .. } => ReplySize::Value,
            // A key is as long as a request lets it be: no record of the longest is kept.
            Op::Keys(_) | Op::Scan { .. } | Op::Info | Op::ClientList(_) => ReplySize::Unbounded,
            Op::PubSub(Shared::Channels(_) | Shared::Patterns | Shared::NumSub(_)) => ReplySize::Unbounded,
            Op::IncrByFloat { .. } | Op::RandomKey => ReplySize::Unbounded,
            // A payload: a whole value.
            Op::Lift { here: false, .. } => ReplySize::Unbounded,
            _ => ReplySize::Small,
        }
    }
}

/// How SET writes its key: Redis 7's options, as the shard owning the key applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetHow {
    /// NX, XX, or neither.
    pub only: Only,
    /// What the client is told.
    pub reply: SetReply,
    /// What becomes of the key's expiry time when it is written.
    pub expiry: Expiry,
}

impl SetHow {
    /// `SET key value`, no option: written in any case, any expiry time dropped, `+OK`.
    pub const PLAIN: SetHow = SetHow { only: Only::Always, reply: SetReply::Ok, expiry: Expiry::Clear };

    /// Whether applying it looks at the key as it is (whether it lives, its value or its
    /// expiry time) rather than only overwriting it.
    pub fn reads_key(&self) -> bool {
        self.only != Only::Always || self.reply != SetReply::Ok || self.expiry == Expiry::Keep
    }

    /// One byte: `only` in bits 0-1, `reply` in bits 2-3, the expiry's kind in bits 4-5 (its
    /// time, if it has one, travels as the operation's number).
    fn flags(&self) -> (u8, u64) {
        let (kind, ms) = self.expiry.bits();
        (self.only as u8 | (self.reply as u8) << 2 | kind << 4, ms)
    }

    /// The inverse of [`SetHow::flags`]; `None` for a byte it never writes.
    fn from_flags(flags: u8, ms: u64) -> Option<SetHow> {
        let only = match flags & 3 {
            0 => Only::Always,
            1 => Only::IfAbsent,
            2 => Only::IfPresent,
            _ => return None,
        };
        let reply = match flags >> 2 & 3 {
            0 => SetReply::Ok,
            1 => SetReply::Old,
            2 => SetReply::Flag,
            _ => return None,
        };
        Some(SetHow { only, reply, expiry: Expiry::from_bits(flags >> 4, ms)? })
    }
}

/// When EXPIRE sets a key's time: Redis 7's NX, XX, GT and LT, any of them (the command
/// refuses the combinations Redis refuses); none, always. A key without a time counts as
/// one that never ends, so GT never sets it and LT always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireIf {
    /// NX: only if the key has no time.
    pub no_time: bool,
    /// XX: only if it has one.
    pub has_time: bool,
    /// GT: only if the new time is later than the key's.
    pub later: bool,
    /// LT: only if it is earlier.
    pub earlier: bool,
    /// EXPIREAT, PEXPIREAT: the time is a Unix time in milliseconds, not a time left. The
    /// owning core reads it against its clock when it runs the operation: a time left
    /// computed as the command was parsed would lose what passed before the owner ran it.
    pub at: bool,
}

impl ExpireIf {
    /// The four conditions as bits 0-3, `at` as bit 4.
    fn bits(self) -> u8 {
        u8::from(self.no_time)
            | u8::from(self.has_time) << 1
            | u8::from(self.later) << 2
            | u8::from(self.earlier) << 3
            | u8::from(self.at) << 4
    }

    /// The inverse of [`ExpireIf::bits`]; `None` for a byte it never writes.
    fn from_bits(bits: u8) -> Option<ExpireIf> {
        let bit = |n: u8| bits & 1 << n != 0;
        (bits < 32).then(|| ExpireIf { no_time: bit(0), has_time: bit(1), later: bit(2), earlier: bit(3), at: bit(4) })
    }
}

/// When SET writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Neither: in any case.
    Always,
    /// NX (and SETNX): only if the key does not exist.
    IfAbsent,
    /// XX: only if it does.
    IfPresent,
}

/// What SET answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetReply {
    /// `+OK` if written; nil if NX or XX kept it from being written.
    Ok,
    /// GET (and GETSET): the value before, or nil, written or not.
    Old,
    /// SETNX: 1 if written, 0 if not.
    Flag,
}

/// What SET does with the key's expiry time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// None from now on.
    Clear,
    /// KEEPTTL: the one it had, if any.
    Keep,
    /// EX, PX: this many milliseconds from when it is applied (positive).
    After(u64),
    /// EXAT, PXAT: this Unix time in milliseconds (positive; past ones expire the key).
    At(u64),
}

/// Why GETEX's expiry amount is refused, once its key is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRefused {
    /// Not an integer Redis reads.
    NotAnInteger,
    /// Zero or less, or past the last Unix time in milliseconds an i64 holds.
    InvalidTime,
}

impl ExpiryRefused {
    /// Redis 7's error for it.
    pub fn text(self) -> &'static str {
        match self {
            ExpiryRefused::NotAnInteger => "ERR value is not an integer or out of range",
            ExpiryRefused::InvalidTime => "ERR invalid expire time in 'getex' command",
        }
    }
}

/// GETEX's expiry kinds past [`Expiry`]'s four: its refusals.
const GETEX_NOT_AN_INTEGER: u8 = 4;
const GETEX_INVALID_TIME: u8 = 5;

/// GETEX's expiry, or its refusal, as a kind byte and a number.
fn getex_bits(expiry: Result<Expiry, ExpiryRefused>) -> (u8, u64) {
    match expiry {
        Ok(expiry) => expiry.bits(),
        Err(ExpiryRefused::NotAnInteger) => (GETEX_NOT_AN_INTEGER, 0),
        Err(ExpiryRefused::InvalidTime) => (GETEX_INVALID_TIME, 0),
    }
}

/// The inverse of [`getex_bits`]; `None` for a kind it never writes.
fn getex_from_bits(kind: u8, ms: u64) -> Option<Result<Expiry, ExpiryRefused>> {
    match kind {
        GETEX_NOT_AN_INTEGER => Some(Err(ExpiryRefused::NotAnInteger)),
        GETEX_INVALID_TIME => Some(Err(ExpiryRefused::InvalidTime)),
        kind => Expiry::from_bits(kind, ms).map(Ok),
    }
}

impl Expiry {
    /// Its kind in two bits, and its time (zero for a kind without one).
    fn bits(self) -> (u8, u64) {
        match self {
            Expiry::Clear => (0, 0),
            Expiry::Keep => (1, 0),
            Expiry::After(ms) => (2, ms),
            Expiry::At(ms) => (3, ms),
        }
    }

    /// The inverse of [`Expiry::bits`]; `None` for a kind it never writes.
    fn from_bits(kind: u8, ms: u64) -> Option<Expiry> {
        Some(match kind {
            0 => Expiry::Clear,
            1 => Expiry::Keep,
            2 => Expiry::After(ms),
            3 => Expiry::At(ms),
            _ => return None,
        })
    }
}

const GET: u8 = 1;
/// SET without options, the common case: nothing more than the key and the value.
const SET: u8 = 2;
/// SET with options: a byte of flags and a number follow the head.
const SET_WITH: u8 = 3;
const DEL: u8 = 4;
const EXISTS: u8 = 5;
const INCR: u8 = 6;
const EXPIRE: u8 = 7;
const TTL: u8 = 8;
const DBSIZE: u8 = 9;
const FLUSHALL: u8 = 10;
const INFO: u8 = 11;
const PTTL: u8 = 12;
const PERSIST: u8 = 13;
const GETDEL: u8 = 14;
/// GETEX: a byte for the expiry's kind (or its refusal) and a number, as for SET with options.
const GETEX: u8 = 15;
/// KEYS: the pattern travels as the key, unhashed.
const KEYS: u8 = 16;
const TYPE: u8 = 17;
const STRLEN: u8 = 18;
const APPEND: u8 = 19;
/// SCAN: the pattern travels as KEYS' does, the cursor's position as the number, whether its
/// pass restarted as the flags, and its shard and epoch, the count and the shards as the
/// value's bytes ([`scan_bytes`]).
const SCAN: u8 = 20;
const MEMORY_USAGE: u8 = 21;
/// INCRBYFLOAT: the increment's text travels as the value.
const INCR_BY_FLOAT: u8 = 22;
/// MSETNX: its batch of SETs travels as the value.
const MSETNX: u8 = 23;
/// MEMORY STATS and DOCTOR: the shard's key count and bytes.
const MEMORY_STATS: u8 = 24;
/// GETRANGE: the start as the number, the end as the value's 8 bytes (little-endian).
const GETRANGE: u8 = 25;
/// SETRANGE: the offset as the number.
const SETRANGE: u8 = 26;
/// RENAME: the key is the source, the value the destination (hashed again where it is
/// read: RENAME is rare), RENAMENX in the flags.
const RENAME: u8 = 27;
const RANDOMKEY: u8 = 28;
/// CLIENT KILL: ADDR travels as the key, its hash the asking connection's id; LADDR as the
/// value; ID as the number; which of ADDR and LADDR were given, and SKIPME, in the flags.
const KILL: u8 = 29;
const KILL_ADDR: u8 = 1;
const KILL_LADDR: u8 = 2;
const KILL_SKIP_ME: u8 = 4;
const KILL_NORMAL: u8 = 8;
const KILL_PUBSUB: u8 = 16;
/// CLIENT LIST: the ids asked for (if any: a flag says) as the value.
const CLIENT_LIST: u8 = 30;
const GET_STRING: u8 = 31;
/// A collection command: its number as the number, its packed arguments as the value.
const TYPED: u8 = 32;
/// EXPIRETIME; PEXPIRETIME in the flags.
const EXPIRE_TIME: u8 = 33;
/// PUBLISH and PUBSUB's parts: which in the flags, the channel or pattern as the key
/// (unhashed), PUBLISH's message as the value.
const PUBSUB: u8 = 34;
const PUBLISH: u8 = 0;
const CHANNELS: u8 = 1;
const CHANNELS_MATCHING: u8 = 2;
const NUMSUB: u8 = 3;
const PATTERNS: u8 = 4;
/// A lift: the source as the key, the destination and the arguments packed as the value,
/// the transfer's bits and `here` (bit 2) as the flags.
const LIFT: u8 = 35;
const LIFT_HERE: u8 = 4;
/// A put: the destination as the key, the payload as the value, the transfer as the flags.
const PUT: u8 = 36;

/// The tag byte's bit for an operation asked by a RESP3 connection (every tag is below it,
/// the lane's too, see `lane.rs`).
pub const RESP3: u8 = 0x80;

/// Every encoding starts with a head of fixed size, the same for every operation: the tag
/// (with [`RESP3`] for a RESP3 connection's), a byte of flags (SET's options, GETEX's expiry
/// kind, EXPIRE's conditions; zero for the rest), the key's length and the value's length
/// (zero for an operation without one), each a little-endian `u32`, the key's hash, a little-endian `u64`, and a little-endian 64-bit
/// number (SET's, GETEX's and EXPIRE's milliseconds, INCR's delta, SCAN's next cursor; zero
/// for the rest). One layout for all, written as one array and read as one, is simpler than
/// a head shaped per tag and no slower: it costs the operations without a number 9 bytes
/// each, and two shards on one CPU 1,216 instructions per request at pipeline 16 against the
/// shaped head's 1,219 (callgrind, redis-benchmark SET and GET).
const HEAD: usize = 26;

/// The key of an operation without one.
const NO_KEY: Key<'static> = Key { bytes: &[], hash: 0 };

impl<'a> Op<'a> {
    /// Appends the encoding to `out`, for a connection speaking `protocol`: the head, then
    /// the key and the value. Every operation has the same three parts (the head built in one
    /// piece, the key and the value one copy each), so forwarding one costs little more than
    /// those copies.
    pub fn encode(&self, protocol: Protocol, out: &mut Vec<u8>) {
        // GETRANGE's end travels as bytes of the value; set in its arm only, so no other
        // operation pays for it.
        let end_bytes: [u8; 8];
        let scan_value: [u8; SCAN_BYTES];
        let (tag, flags, key, value, number): (u8, u8, Key<'_>, &[u8], u64) = match *self {
            Op::Get(key) => (GET, 0, key, &[], 0),
            Op::Set { key, value } => (SET, 0, key, value, 0),
            Op::SetWith { key, value, how } => {
                let (flags, ms) = how.flags();
                (SET_WITH, flags, key, value, ms)
            }
            Op::Del(key) => (DEL, 0, key, &[], 0),
            Op::Exists(key) => (EXISTS, 0, key, &[], 0),
            Op::Incr(key, delta) => (INCR, 0, key, &[], delta as u64),
            Op::IncrByFloat { key, by } => (INCR_BY_FLOAT, 0, key, by, 0),
            Op::MsetNx(pairs) => (MSETNX, 0, NO_KEY, pairs, 0),
            Op::Expire(key, ms, only) => (EXPIRE, only.bits(), key, &[], ms as u64),
            Op::Ttl(key) => (TTL, 0, key, &[], 0),
            Op::Pttl(key) => (PTTL, 0, key, &[], 0),
            Op::ExpireTime(key, millis) => (EXPIRE_TIME, u8::from(millis), key, &[], 0),
            Op::Persist(key) => (PERSIST, 0, key, &[], 0),
            Op::GetDel(key) => (GETDEL, 0, key, &[], 0),
            Op::GetEx(key, expiry) => {
                let (kind, ms) = getex_bits(expiry);
                (GETEX, kind, key, &[], ms)
            }
            Op::Keys(pattern) => (KEYS, 0, Key { bytes: pattern, hash: 0 }, &[], 0),
            Op::Scan { pattern, cursor, count, shards, only } => {
                scan_value = scan_bytes(cursor, count, shards);
                let flags = u8::from(cursor.restarted) | only.map_or(0, |t| t + 1) << 1;
                (SCAN, flags, Key { bytes: pattern, hash: 0 }, &scan_value, cursor.position)
            }
            Op::Type(key) => (TYPE, 0, key, &[], 0),
            Op::Strlen(key) => (STRLEN, 0, key, &[], 0),
            Op::Append { key, value } => (APPEND, 0, key, value, 0),
            Op::MemoryUsage(key) => (MEMORY_USAGE, 0, key, &[], 0),
            Op::MemoryStats => (MEMORY_STATS, 0, NO_KEY, &[], 0),
            Op::DbSize => (DBSIZE, 0, NO_KEY, &[], 0),
            Op::FlushAll { lazy } => (FLUSHALL, u8::from(lazy), NO_KEY, &[], 0),
            Op::Info => (INFO, 0, NO_KEY, &[], 0),
            Op::GetRange { key, start, end } => {
                end_bytes = end.to_le_bytes();
                (GETRANGE, 0, key, &end_bytes, start as u64)
            }
            Op::SetRange { key, offset, value } => (SETRANGE, 0, key, value, offset),
            Op::Rename { from, to, only_new } => (RENAME, u8::from(only_new), from, to.bytes, 0),
            Op::RandomKey => (RANDOMKEY, 0, NO_KEY, &[], 0),
            Op::Kill(kill) => {
                let flags = (u8::from(kill.addr.is_some()) * KILL_ADDR)
                    | (u8::from(kill.laddr.is_some()) * KILL_LADDR)
                    | (u8::from(kill.skip_me) * KILL_SKIP_ME)
                    | match kill.subscribed {
                        None => 0,
                        Some(false) => KILL_NORMAL,
                        Some(true) => KILL_PUBSUB,
                    };
                let addr = Key { bytes: kill.addr.unwrap_or_default(), hash: kill.asking };
                (KILL, flags, addr, kill.laddr.unwrap_or_default(), kill.id)
            }
            Op::ClientList(Listing::Every) => (CLIENT_LIST, 0, NO_KEY, &[], 0),
            Op::ClientList(Listing::Ids(ids)) => (CLIENT_LIST, 1, NO_KEY, ids, 0),
            Op::ClientList(Listing::Subscribed(subscribed)) => (CLIENT_LIST, 2 + u8::from(subscribed), NO_KEY, &[], 0),
            Op::GetString(key) => (GET_STRING, 0, key, &[], 0),
            Op::PubSub(shared) => {
                let (flags, name, value): (u8, &[u8], &[u8]) = match shared {
                    Shared::Publish { channel, message } => (PUBLISH, channel, message),
                    Shared::Channels(None) => (CHANNELS, &[], &[]),
                    Shared::Channels(Some(pattern)) => (CHANNELS_MATCHING, pattern, &[]),
                    Shared::NumSub(channel) => (NUMSUB, channel, &[]),
                    Shared::Patterns => (PATTERNS, &[], &[]),
                };
                (PUBSUB, flags, Key { bytes: name, hash: 0 }, value, 0)
            }
            Op::Typed { key, command, args } => (TYPED, 0, key, args, command.number()),
            Op::Lift { from, packed, how, here } => (LIFT, how.bits() | (u8::from(here) * LIFT_HERE), from, packed, 0),
            Op::Put { key, payload, how } => (PUT, how.bits(), key, payload, 0),
        };
        let mut head = [0; HEAD];
        head[0] = tag | if protocol == Protocol::Resp3 { RESP3 } else { 0 };
        head[1] = flags;
        // MAX_BULK (16 MiB) keeps every key and value well inside a u32.
        head[2..6].copy_from_slice(&(key.bytes.len() as u32).to_le_bytes());
        head[6..10].copy_from_slice(&(value.len() as u32).to_le_bytes());
        head[10..18].copy_from_slice(&key.hash.to_le_bytes());
        head[18..].copy_from_slice(&number.to_le_bytes());
        out.reserve(HEAD + key.bytes.len() + value.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(key.bytes);
        out.extend_from_slice(value);
    }

    /// The operations [`Op::decode`] leaves out of its inlined match; `None` for a tag
    /// [`Op::encode`] never writes.
    #[cold]
    #[inline(never)]
    fn decode_rare(tag: u8, flags: u8, key: Key<'a>, value: &'a [u8], number: u64) -> Option<Op<'a>> {
        Some(match tag {
            GETRANGE => Op::GetRange { key, start: number as i64, end: i64::from_le_bytes(value.try_into().ok()?) },
            SETRANGE => Op::SetRange { key, offset: number, value },
            RENAME => Op::Rename { from: key, to: Key::new(value), only_new: flags != 0 },
            RANDOMKEY => Op::RandomKey,
            KILL => Op::Kill(Kill {
                id: number,
                addr: (flags & KILL_ADDR != 0).then_some(key.bytes),
                laddr: (flags & KILL_LADDR != 0).then_some(value),
                asking: key.hash,
                skip_me: flags & KILL_SKIP_ME != 0,
                subscribed: match (flags & KILL_NORMAL != 0, flags & KILL_PUBSUB != 0) {
                    (false, false) => None,
                    (normal, _) => Some(!normal),
                },
            }),
            CLIENT_LIST if flags == 0 => Op::ClientList(Listing::Every),
            CLIENT_LIST if flags == 1 => Op::ClientList(Listing::Ids(value)),
            CLIENT_LIST => Op::ClientList(Listing::Subscribed(flags == 3)),
            GET_STRING => Op::GetString(key),
            TYPED => Op::Typed { key, command: Command::numbered(number)?, args: value },
            EXPIRE_TIME => Op::ExpireTime(key, flags != 0),
            PUBSUB => Op::PubSub(match flags {
                PUBLISH => Shared::Publish { channel: key.bytes, message: value },
                CHANNELS => Shared::Channels(None),
                CHANNELS_MATCHING => Shared::Channels(Some(key.bytes)),
                NUMSUB => Shared::NumSub(key.bytes),
                PATTERNS => Shared::Patterns,
                _ => return None,
            }),
            LIFT => Op::Lift {
                from: key,
                packed: value,
                how: Transfer::from_bits(flags & !LIFT_HERE)?,
                here: flags & LIFT_HERE != 0,
            },
            PUT => Op::Put { key, payload: value, how: Transfer::from_bits(flags)? },
            _ => return None,
        })
    }

    /// The lane's record at the front of `buf` (see `lane.rs`) as the operation it stands for.
    #[cold]
    #[inline(never)]
    fn decode_lane(buf: &'a [u8]) -> Option<(Op<'a>, Protocol, usize)> {
        let (hot, protocol, used) = lane::decode(buf)?;
        let op = match hot {
            Hot::Get(key) => Op::Get(key),
            Hot::Set { key, value } => Op::Set { key, value },
        };
        Some((op, protocol, used))
    }

    /// The first operation encoded in `buf`, the protocol its reply is to be in, and the
    /// bytes it took; `None` if `buf` does not start with a whole one (never the case for
    /// what [`Op::encode`] wrote). Inlined into the loop over a batch: as a call, two shards
    /// on one CPU cost 1,201 instructions per request at pipeline 16 against 1,193
    /// (callgrind, redis-benchmark SET and GET).
    #[inline]
    pub fn decode(buf: &'a [u8]) -> Option<(Op<'a>, Protocol, usize)> {
        if buf.first().is_some_and(|&tag| tag & !RESP3 >= lane::GET) {
            return Op::decode_lane(buf);
        }
        let (head, rest) = buf.split_first_chunk::<HEAD>()?;
        let (tag, flags) = (head[0] & !RESP3, head[1]);
        let protocol = if head[0] & RESP3 != 0 { Protocol::Resp3 } else { Protocol::Resp2 };
        let key_len = u32::from_le_bytes(head[2..6].try_into().ok()?) as usize;
        let value_len = u32::from_le_bytes(head[6..10].try_into().ok()?) as usize;
        let hash = u64::from_le_bytes(head[10..18].try_into().ok()?);
        let number = u64::from_le_bytes(head[18..].try_into().ok()?);
        let (key, rest) = rest.split_at_checked(key_len)?;
        let key = Key { bytes: key, hash };
        let value = rest.get(..value_len)?;
        let op = match tag {
            GET => Op::Get(key),
            SET => Op::Set { key, value },
            SET_WITH => Op::SetWith { key, value, how: SetHow::from_flags(flags, number)? },
            DEL => Op::Del(key),
            EXISTS => Op::Exists(key),
            INCR => Op::Incr(key, number as i64),
            INCR_BY_FLOAT => Op::IncrByFloat { key, by: value },
            MSETNX => Op::MsetNx(value),
            EXPIRE => Op::Expire(key, number as i64, ExpireIf::from_bits(flags)?),
            TTL => Op::Ttl(key),
            PTTL => Op::Pttl(key),
            PERSIST => Op::Persist(key),
            GETDEL => Op::GetDel(key),
            GETEX => Op::GetEx(key, getex_from_bits(flags, number)?),
            KEYS => Op::Keys(key.bytes),
            SCAN => scan_from_bytes(key.bytes, number, flags, value)?,
            TYPE => Op::Type(key),
            STRLEN => Op::Strlen(key),
            APPEND => Op::Append { key, value },
            MEMORY_USAGE => Op::MemoryUsage(key),
            MEMORY_STATS => Op::MemoryStats,
            DBSIZE => Op::DbSize,
            FLUSHALL => Op::FlushAll { lazy: flags != 0 },
            INFO => Op::Info,
            // The rarer operations, out of line: this match is inlined into the loop over
            // every batch, the forwarded GET's and SET's path.
            tag => Op::decode_rare(tag, flags, key, value, number)?,
        };
        Some((op, protocol, buf.len() - rest.len() + value_len))
    }
}

/// The bytes of a SCAN's value: the cursor's shard (u32), its epoch (u16), the count (u64)
/// and the shards (u32), little-endian.
const SCAN_BYTES: usize = 18;

fn scan_bytes(cursor: Cursor, count: u64, shards: u32) -> [u8; SCAN_BYTES] {
    let mut bytes = [0; SCAN_BYTES];
    bytes[..4].copy_from_slice(&(cursor.shard as u32).to_le_bytes());
    bytes[4..6].copy_from_slice(&cursor.epoch.to_le_bytes());
    bytes[6..14].copy_from_slice(&count.to_le_bytes());
    bytes[14..].copy_from_slice(&shards.to_le_bytes());
    bytes
}

/// The inverse of [`scan_bytes`], with the pattern, the position, and the flags: whether the
/// pass is a restarted one (bit 0) and the type asked for, plus one (0 for any); `None` for
/// a value of another size.
fn scan_from_bytes<'a>(pattern: &'a [u8], position: u64, flags: u8, value: &[u8]) -> Option<Op<'a>> {
    let (restarted, only) = (flags & 1 != 0, (flags >> 1).checked_sub(1));
    let bytes: &[u8; SCAN_BYTES] = value.try_into().ok()?;
    let shard = u32::from_le_bytes(bytes[..4].try_into().ok()?) as usize;
    let epoch = u16::from_le_bytes(bytes[4..6].try_into().ok()?);
    let count = u64::from_le_bytes(bytes[6..14].try_into().ok()?);
    let shards = u32::from_le_bytes(bytes[14..].try_into().ok()?);
    Some(Op::Scan { pattern, cursor: Cursor { shard, position, epoch, restarted }, count, shards, only })
}

/// Every operation of a batch, in order, each with the protocol its reply is to be in.
pub fn decode_all(mut buf: &[u8]) -> impl Iterator<Item = (Op<'_>, Protocol)> {
    std::iter::from_fn(move || {
        let (op, protocol, used) = Op::decode(buf)?;
        buf = &buf[used..];
        Some((op, protocol))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips_through_a_batch() {
        let key = |bytes| Key::new(bytes);
        let with = |only, reply, expiry| SetHow { only, reply, expiry };
        let ops = [
            Op::Get(key(b"k")),
            Op::Set { key: key(b"key"), value: b"" },
            Op::SetWith { key: key(b""), value: b"v\r\n", how: with(Only::Always, SetReply::Ok, Expiry::After(1500)) },
            Op::SetWith { key: key(b"nx"), value: b"1", how: with(Only::IfAbsent, SetReply::Flag, Expiry::Clear) },
            Op::SetWith { key: key(b"xx"), value: b"2", how: with(Only::IfPresent, SetReply::Old, Expiry::Keep) },
            Op::SetWith {
                key: key(b"at"),
                value: b"3",
                how: with(Only::Always, SetReply::Old, Expiry::At(u64::MAX >> 1)),
            },
            Op::Del(key(b"d")),
            Op::Exists(key(b"e")),
            Op::Incr(key(b"i"), 1),
            Op::Incr(key(b"j"), i64::MIN),
            Op::Expire(key(b"x"), -3, ExpireIf::default()),
            Op::Expire(key(b"x"), 9, ExpireIf { has_time: true, earlier: true, ..ExpireIf::default() }),
            Op::Expire(key(b"x"), 1_796_000_000_000, ExpireIf { at: true, later: true, ..ExpireIf::default() }),
            Op::Ttl(key(b"t")),
            Op::Pttl(key(b"pt")),
            Op::ExpireTime(key(b"et"), false),
            Op::ExpireTime(key(b"pet"), true),
            Op::Persist(key(b"p")),
            Op::GetDel(key(b"gd")),
            Op::GetEx(key(b"ge"), Ok(Expiry::Keep)),
            Op::GetEx(key(b"ge"), Ok(Expiry::Clear)),
            Op::GetEx(key(b"ge"), Ok(Expiry::After(7))),
            Op::GetEx(key(b"ge"), Ok(Expiry::At(u64::MAX >> 1))),
            Op::GetEx(key(b"ge"), Err(ExpiryRefused::NotAnInteger)),
            Op::GetEx(key(b"ge"), Err(ExpiryRefused::InvalidTime)),
            Op::Keys(b"h?llo*"),
            Op::Scan {
                pattern: b"k*",
                cursor: Cursor { shard: 3, position: u64::MAX, epoch: 7, restarted: true },
                count: 10,
                shards: 4,
                only: None,
            },
            Op::Scan {
                pattern: b"*",
                cursor: Cursor { shard: 0, position: 0, epoch: 0, restarted: false },
                count: 1,
                shards: 1,
                only: Some(4),
            },
            Op::Type(key(b"ty")),
            Op::Strlen(key(b"sl")),
            Op::Append { key: key(b"ap"), value: b"tail" },
            Op::MemoryUsage(key(b"mu")),
            Op::MemoryStats,
            Op::IncrByFloat { key: key(b"f"), by: b"-1.5e3" },
            Op::MsetNx(b"encoded sets"),
            Op::DbSize,
            Op::FlushAll { lazy: false },
            Op::FlushAll { lazy: true },
            Op::Info,
            Op::GetRange { key: key(b"gr"), start: i64::MIN, end: -1 },
            Op::SetRange { key: key(b"sr"), offset: 5, value: b"hi" },
            Op::Rename { from: key(b"from"), to: key(b"to"), only_new: true },
            Op::Rename { from: key(b"a"), to: key(b""), only_new: false },
            Op::RandomKey,
            Op::Kill(Kill { id: 0, addr: None, laddr: None, asking: 3, skip_me: true, subscribed: None }),
            Op::Kill(Kill { id: 0, addr: None, laddr: None, asking: 3, skip_me: true, subscribed: Some(false) }),
            Op::Kill(Kill {
                id: 9,
                addr: Some(b""),
                laddr: Some(b"127.0.0.1:6380"),
                asking: 4,
                skip_me: false,
                subscribed: Some(true),
            }),
            Op::ClientList(Listing::Every),
            Op::ClientList(Listing::Ids(&[7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0])),
            Op::ClientList(Listing::Ids(&[])),
            Op::ClientList(Listing::Subscribed(false)),
            Op::ClientList(Listing::Subscribed(true)),
            Op::PubSub(Shared::Publish { channel: b"news", message: b"hello" }),
            Op::PubSub(Shared::Channels(None)),
            Op::PubSub(Shared::Channels(Some(b"n*"))),
            Op::PubSub(Shared::NumSub(b"news")),
            Op::PubSub(Shared::Patterns),
            Op::GetString(key(b"mg")),
            Op::Typed { key: key(b"h"), command: Command::Hset, args: b"\x01\0\0\0f\x01\0\0\0v" },
            Op::Typed { key: key(b"z"), command: Command::Zpopmax, args: b"" },
        ];
        // Every other one asked by a RESP3 connection.
        let protocols = (0..ops.len()).map(|i| if i % 2 == 0 { Protocol::Resp2 } else { Protocol::Resp3 });
        let asked: Vec<(Op, Protocol)> = ops.iter().copied().zip(protocols).collect();
        let mut batch = Vec::new();
        asked.iter().for_each(|(op, protocol)| op.encode(*protocol, &mut batch));
        assert_eq!(decode_all(&batch).collect::<Vec<_>>(), asked);
        // A cut batch yields the whole operations before the cut and nothing torn.
        for cut in 0..batch.len() {
            assert!(decode_all(&batch[..cut]).count() < ops.len());
        }
        assert_eq!(Op::decode(&[0xff, 1, 2]), None);
    }

    /// An operation is moved through every plan: one variant's growth (a usize in SCAN's did
    /// it once) makes GET's and SET's bigger too.
    #[test]
    fn an_operation_takes_64_bytes() {
        assert_eq!(std::mem::size_of::<Op<'static>>(), 64);
    }

    #[test]
    fn set_flags_never_written_are_refused() {
        let mut op = Vec::new();
        Op::SetWith { key: Key::new(b"k"), value: b"v", how: SetHow { expiry: Expiry::Keep, ..SetHow::PLAIN } }
            .encode(Protocol::Resp2, &mut op);
        assert!(Op::decode(&op).is_some());
        for bad in [0b11, 0b1100, 0b100_0000] {
            op[1] = bad; // the flags byte
            assert_eq!(Op::decode(&op), None, "flags {bad:#b}");
        }
        let mut op = Vec::new();
        Op::GetEx(Key::new(b"k"), Ok(Expiry::Keep)).encode(Protocol::Resp3, &mut op);
        assert!(Op::decode(&op).is_some());
        op[1] = 6;
        assert_eq!(Op::decode(&op), None, "GETEX's expiry kind 6");
    }
}
