//! The values a key holds: a string, or one of Redis' collections (a hash, a list, a set, a
//! sorted set), and the commands on the collections.
//!
//! A string stays the store's own business (`store.rs`): [`Value::Str`] is the first
//! variant, a plain `Vec<u8>`, and the collections are boxed, so a value is 24 bytes, the
//! entry as big as before, and GET and SET pay one compare for the others existing.
//!
//! A collection command travels as one generic operation (`Op::Typed`): the [`Command`]
//! and its arguments after the key, packed ([`pack`]), run by the core that owns the key,
//! which reads the arguments as redis-server does, in the order it does (most parse their
//! numbers before looking the key up, so a bad count beats WRONGTYPE; a few look first).
//! One operation for forty-odd commands keeps `op.rs` and `store.rs` to their dispatch: an
//! `Op` variant each would add a tag, an encoding and a decoding per command, for commands
//! that are not the hot path (their argument lists are copied once more, into the packed
//! form, and the packed operation is allocated per request).

mod hashes;
mod lists;
mod sets;
mod sorted_sets;

use super::replies::{self, Protocol};
use super::scan::{self, Scan};

pub use hashes::Hash;
pub use lists::List;
pub use sets::Set;
pub use sorted_sets::{zrange_store, SortedSet};

/// Redis' answer to a command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// What a key holds.
#[derive(Debug)]
pub enum Value {
    /// A string, unboxed: all that GET and SET touch.
    Str(Vec<u8>),
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    SortedSet(Box<SortedSet>),
}

impl Value {
    /// TYPE's answer for it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::SortedSet(_) => "zset",
        }
    }

    /// Its type's number: its name's place in [`TYPE_NAMES`] (what SCAN's TYPE travels as).
    pub fn type_number(&self) -> u8 {
        let name = self.type_name();
        TYPE_NAMES.iter().position(|&n| n == name).expect("every type is named") as u8
    }

    /// The bytes its allocations take (what the allocator adds around them not counted;
    /// a collection's own bookkeeping estimated).
    pub fn footprint(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.capacity(),
            Value::Hash(hash) => hash.footprint(),
            Value::List(list) => list.footprint(),
            Value::Set(set) => set.footprint(),
            Value::SortedSet(zset) => zset.footprint(),
        }
    }

    /// Its elements packed (a string: its bytes as they are): with its type's number, what
    /// COPY carries from one key to another, maybe to another core.
    pub fn pack(&self) -> Vec<u8> {
        match self {
            Value::Str(bytes) => bytes.clone(),
            Value::Hash(hash) => hash.pack(),
            Value::List(list) => list.pack(),
            Value::Set(set) => set.pack(),
            Value::SortedSet(zset) => zset.pack(),
        }
    }

    /// The value of type number `type_number` that [`Value::pack`] packed; `None` if it was
    /// not written so.
    pub fn unpack(type_number: u8, packed: &[u8]) -> Option<Value> {
        Some(match *TYPE_NAMES.get(usize::from(type_number))? {
            "string" => Value::Str(packed.to_vec()),
            "hash" => Value::Hash(Box::new(Hash::unpack(packed)?)),
            "list" => Value::List(Box::new(List::unpack(packed)?)),
            "set" => Value::Set(Box::new(Set::unpack(packed)?)),
            _ => Value::SortedSet(Box::new(SortedSet::unpack(packed)?)),
        })
    }

    /// Whether it is a collection left empty: Redis deletes such a key.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(hash) => hash.is_empty(),
            Value::List(list) => list.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::SortedSet(zset) => zset.is_empty(),
        }
    }
}

/// The names TYPE answers with, in the order of their numbers.
pub const TYPE_NAMES: [&str; 5] = ["string", "hash", "list", "set", "zset"];

/// The number of the type `name` names (in any case, as SCAN's TYPE takes it), if any.
pub fn type_number(name: &[u8]) -> Option<u8> {
    TYPE_NAMES.iter().position(|n| n.as_bytes().eq_ignore_ascii_case(name)).map(|n| n as u8)
}

/// A key's value as a command of one type finds it.
pub enum Found<'a, T> {
    /// No key (or an expired one).
    Nothing,
    /// A value of the command's type.
    Mine(&'a mut T),
    /// A value of another type: WRONGTYPE, when the command looks.
    Other,
}

impl<'a, T> Found<'a, T> {
    /// The value if it is one of the command's type; `Err` (WRONGTYPE written to `out`) if
    /// it is of another.
    pub fn mine(self, out: &mut Vec<u8>) -> Result<Option<&'a mut T>, ()> {
        match self {
            Found::Nothing => Ok(None),
            Found::Mine(value) => Ok(Some(value)),
            Found::Other => {
                replies::error(out, WRONGTYPE);
                Err(())
            }
        }
    }
}

/// Runs `command` with `args` (those after the key) on the key's value `found` (`None`: no
/// key), its reply appended to `out`; a value to store at the key if there was none and the
/// command made one. The caller deletes the key if its collection is left empty.
pub fn run(
    command: Command,
    args: &[&[u8]],
    found: Option<&mut Value>,
    protocol: Protocol,
    out: &mut Vec<u8>,
) -> Option<Value> {
    macro_rules! found {
        ($variant:ident) => {
            match found {
                None => Found::Nothing,
                Some(Value::$variant(value)) => Found::Mine(&mut **value),
                Some(_) => Found::Other,
            }
        };
    }
    match command.family() {
        Family::Hash => hashes::run(command, args, found!(Hash), protocol, out).map(|h| Value::Hash(Box::new(h))),
        Family::List => lists::run(command, args, found!(List), protocol, out).map(|l| Value::List(Box::new(l))),
        Family::Set => sets::run(command, args, found!(Set), protocol, out).map(|s| Value::Set(Box::new(s))),
        Family::SortedSet => {
            sorted_sets::run(command, args, found!(SortedSet), protocol, out).map(|z| Value::SortedSet(Box::new(z)))
        }
    }
}

/// The type a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hash,
    List,
    Set,
    SortedSet,
}

macro_rules! commands {
    ($($variant:ident $name:literal $arity:literal $family:ident,)*) => {
        /// A command on a collection. Its number (its place in [`Command::ALL`]) is what
        /// travels in a forwarded operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Command {
            $($variant,)*
        }

        impl Command {
            /// Every one, in the order of their numbers.
            pub const ALL: &[Command] = &[$(Command::$variant,)*];

            /// Its name, as Redis' errors give it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Command::$variant => $name,)*
                }
            }

            /// Redis' arity: the words a call has, the name included; negative, at least
            /// that many.
            fn arity(self) -> i32 {
                match self {
                    $(Command::$variant => $arity,)*
                }
            }

            /// The type it works on.
            fn family(self) -> Family {
                match self {
                    $(Command::$variant => Family::$family,)*
                }
            }
        }
    };
}

commands! {
    Hset "hset" -4 Hash,
    Hmset "hmset" -4 Hash,
    Hget "hget" 3 Hash,
    Hmget "hmget" -3 Hash,
    Hgetall "hgetall" 2 Hash,
    Hdel "hdel" -3 Hash,
    Hlen "hlen" 2 Hash,
    Hexists "hexists" 3 Hash,
    Hkeys "hkeys" 2 Hash,
    Hvals "hvals" 2 Hash,
    Hincrby "hincrby" 4 Hash,
    Hincrbyfloat "hincrbyfloat" 4 Hash,
    Hsetnx "hsetnx" 4 Hash,
    Hstrlen "hstrlen" 3 Hash,
    Hscan "hscan" -3 Hash,
    Lpush "lpush" -3 List,
    Rpush "rpush" -3 List,
    Lpop "lpop" -2 List,
    Rpop "rpop" -2 List,
    Llen "llen" 2 List,
    Lrange "lrange" 4 List,
    Lindex "lindex" 3 List,
    Lset "lset" 4 List,
    Ltrim "ltrim" 4 List,
    Lrem "lrem" 4 List,
    Lpos "lpos" -3 List,
    Linsert "linsert" 5 List,
    Sadd "sadd" -3 Set,
    Srem "srem" -3 Set,
    Smembers "smembers" 2 Set,
    Sismember "sismember" 3 Set,
    Scard "scard" 2 Set,
    Spop "spop" -2 Set,
    Srandmember "srandmember" -2 Set,
    Sscan "sscan" -3 Set,
    Zadd "zadd" -4 SortedSet,
    Zincrby "zincrby" 4 SortedSet,
    Zscore "zscore" 3 SortedSet,
    Zcard "zcard" 2 SortedSet,
    Zrem "zrem" -3 SortedSet,
    Zrange "zrange" -4 SortedSet,
    Zrevrange "zrevrange" -4 SortedSet,
    Zrank "zrank" 3 SortedSet,
    Zrevrank "zrevrank" 3 SortedSet,
    Zpopmin "zpopmin" -2 SortedSet,
    Zpopmax "zpopmax" -2 SortedSet,
    Zrangebyscore "zrangebyscore" -4 SortedSet,
    Zrevrangebyscore "zrevrangebyscore" -4 SortedSet,
    Zcount "zcount" 4 SortedSet,
    Zremrangebyscore "zremrangebyscore" 4 SortedSet,
    Zremrangebyrank "zremrangebyrank" 4 SortedSet,
    Zrangebylex "zrangebylex" -4 SortedSet,
    Zrevrangebylex "zrevrangebylex" -4 SortedSet,
    Zlexcount "zlexcount" 4 SortedSet,
    Zremrangebylex "zremrangebylex" 4 SortedSet,
    Zscan "zscan" -3 SortedSet,
}

impl Command {
    /// The command `name` (lower case) names, if it is one of these.
    pub fn named(name: &[u8]) -> Option<Command> {
        Command::ALL.iter().copied().find(|c| c.name().as_bytes() == name)
    }

    /// The command numbered `n`.
    pub fn numbered(n: u64) -> Option<Command> {
        Command::ALL.get(usize::try_from(n).ok()?).copied()
    }

    /// Its number.
    pub fn number(self) -> u64 {
        Command::ALL.iter().position(|&c| c == self).expect("every command is in ALL") as u64
    }

    /// Whether its reply is an integer, a status, a nil, a score or one of the types' short
    /// errors, never an element: within `op::SMALL_REPLY`, so a pipeline of them forwarded
    /// is counted at that, not at a guess (`pipeline.rs`), and runs whole.
    pub fn small_reply(self) -> bool {
        use Command::*;
        matches!(
            self,
            Hset | Hmset
                | Hdel
                | Hlen
                | Hexists
                | Hincrby
                | Hsetnx
                | Hstrlen
                | Lpush
                | Rpush
                | Llen
                | Lset
                | Ltrim
                | Lrem
                | Linsert
                | Sadd
                | Srem
                | Sismember
                | Scard
                | Zadd
                | Zincrby
                | Zrank
                | Zrevrank
                | Zscore
                | Zcard
                | Zrem
                | Zcount
                | Zremrangebyscore
                | Zremrangebyrank
                | Zlexcount
                | Zremrangebylex
        )
    }

    /// Whether a call with `argc` arguments after the name has as many as Redis wants.
    pub fn arity_ok(self, argc: usize) -> bool {
        let words = argc as i64 + 1;
        match self.arity() {
            n if n < 0 => words >= i64::from(-n),
            n => words == i64::from(n),
        }
    }
}

/// Arguments packed one after another, each its length (a little-endian `u32`) then its
/// bytes: how a collection command's arguments travel in one operation.
pub fn pack(args: &[&[u8]]) -> Vec<u8> {
    let mut packed = Vec::with_capacity(args.iter().map(|a| 4 + a.len()).sum());
    for arg in args {
        packed.extend_from_slice(&(arg.len() as u32).to_le_bytes());
        packed.extend_from_slice(arg);
    }
    packed
}

/// The arguments [`pack`] packed; `None` if `packed` was not written so.
pub fn unpack(mut packed: &[u8]) -> Option<Vec<&[u8]>> {
    let mut args = Vec::new();
    while let Some((len, rest)) = packed.split_first_chunk::<4>() {
        let (arg, rest) = rest.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        args.push(arg);
        packed = rest;
    }
    packed.is_empty().then_some(args)
}

// Counts and indexes read as Redis' `getLongFromObject` reads them (a C long: an i64 here).
use super::resp::integer;

/// Redis' errors for numbers, shared by the types.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// `getPositiveLongFromObjectOrReply`'s error for a negative count.
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const SYNTAX: &str = "ERR syntax error";

/// An optional count (POP commands): `Ok(None)` without one, the count if it reads as a
/// non-negative integer, else Redis' `getPositiveLongFromObjectOrReply` error (the same for
/// a negative number and for no number), written to `out`.
pub fn count(arg: Option<&&[u8]>, out: &mut Vec<u8>) -> Result<Option<usize>, ()> {
    let Some(arg) = arg else { return Ok(None) };
    match integer(arg) {
        Some(n @ 0..) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => {
            replies::error(out, NOT_POSITIVE);
            Err(())
        }
    }
}

/// HSCAN, SSCAN or ZSCAN (`args` after the key: the cursor, then the options) on `found`,
/// read in Redis' order: the cursor first, then the key (no key: cursor 0 and nothing; one
/// of another type: WRONGTYPE), then the options, whose errors come last. `answer` writes
/// the reply for the collection and the options.
pub fn scan_collection<T>(
    args: &[&[u8]],
    found: Found<'_, T>,
    out: &mut Vec<u8>,
    answer: impl FnOnce(&T, Scan<'_>, &mut Vec<u8>),
) {
    let cursor = match scan::parse_cursor(args[0]) {
        Ok(cursor) => cursor,
        Err(e) => return replies::error(out, e),
    };
    let Ok(found) = found.mine(out) else { return };
    let Some(collection) = found else { return scan::empty_reply(out) };
    match scan::parse_options(cursor, &args[1..], false) {
        Ok(options) => answer(collection, options, out),
        Err(e) => replies::error(out, e),
    }
}

/// The positions `start..=end` (negative ones counted from the end) take in a collection of
/// `len`, as LRANGE and ZRANGE take them; empty if none.
pub fn index_range(len: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { len + end } else { end.min(len - 1) };
    if start > end || start >= len {
        return 0..0;
    }
    start as usize..end as usize + 1
}

/// What the types' tests share: one key, run commands on as the store runs them.
#[cfg(test)]
mod tests_support {
    use super::*;

    /// One key's value, and the commands run on it.
    #[derive(Default)]
    pub struct Run {
        pub value: Option<Value>,
        /// The protocol the replies are written in: RESP2 unless a test says.
        pub protocol: Protocol,
    }

    impl Run {
        /// A key holding a string.
        pub fn string() -> Run {
            Run { value: Some(Value::Str(b"text".to_vec())), ..Run::default() }
        }

        /// The reply to `words` (the command, its key, its arguments, split at spaces),
        /// the key created or deleted as the store would.
        pub fn run(&mut self, words: &str) -> String {
            let words: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
            let command = Command::named(&words[0].to_ascii_lowercase()).expect("a collection command");
            let mut out = Vec::new();
            if !command.arity_ok(words.len() - 1) {
                let text = format!("ERR wrong number of arguments for '{}' command", command.name());
                replies::error(&mut out, &text);
            } else if let Some(created) = run(command, &words[2..], self.value.as_mut(), self.protocol, &mut out) {
                assert!(self.value.is_none(), "{command:?} made a value over one");
                self.value = Some(created);
            }
            if self.value.as_ref().is_some_and(Value::is_empty_collection) {
                self.value = None;
            }
            String::from_utf8(out).unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_packing() {
        let args: [&[u8]; 4] = [b"field", b"", b"v\r\n", &[0; 300]];
        assert_eq!(unpack(&pack(&args)).unwrap(), args);
        assert_eq!(unpack(&pack(&[])).unwrap(), Vec::<&[u8]>::new());
        let packed = pack(&args);
        assert_eq!(unpack(&packed[..packed.len() - 1]), None, "cut");
    }

    #[test]
    fn every_command_has_its_number_and_name() {
        for (n, &command) in Command::ALL.iter().enumerate() {
            assert_eq!(Command::numbered(n as u64), Some(command));
            assert_eq!(command.number(), n as u64);
            assert_eq!(Command::named(command.name().as_bytes()), Some(command));
        }
        assert!(Command::named(b"get").is_none());
        assert!(Command::Hset.arity_ok(3) && !Command::Hset.arity_ok(2) && Command::Hset.arity_ok(5));
        assert!(Command::Hget.arity_ok(2) && !Command::Hget.arity_ok(3));
    }

    /// The commands that claim a small reply give one, on a key of their type, of another,
    /// and on none, with numbers as long as they get.
    #[test]
    fn small_replies_are_small() {
        use super::super::op::SMALL_REPLY;
        let min = i64::MIN.to_string();
        let score = "-1.2345678901234567e-308";
        let fills = ["hset k f 1", "rpush k a", "sadd k a", &format!("zadd k {score} m")];
        for command in Command::ALL.iter().filter(|c| c.small_reply()) {
            let name = command.name();
            let words = match command {
                Command::Hincrby => format!("{name} k f {min}"),
                Command::Zadd => format!("{name} k incr {score} m"),
                Command::Zincrby => format!("{name} k {score} m"),
                Command::Lset | Command::Ltrim | Command::Lrem => format!("{name} k {min} m"),
                Command::Linsert => format!("{name} k before m {min}"),
                Command::Zcount | Command::Zremrangebyscore => format!("{name} k -inf (inf"),
                Command::Zremrangebyrank => format!("{name} k {min} -1"),
                Command::Zlexcount | Command::Zremrangebylex => format!("{name} k - (m"),
                Command::Hset | Command::Hmset | Command::Hsetnx => format!("{name} k f v"),
                _ => format!("{name} k m"),
            };
            for fill in fills.iter().map(|f| Some(*f)).chain([None]) {
                let mut key = tests_support::Run::default();
                fill.map(|f| key.run(f));
                let reply = key.run(&words);
                assert!(reply.len() <= SMALL_REPLY, "{words} after {fill:?}: {reply}");
            }
        }
    }

    #[test]
    fn index_ranges_clamp_as_lrange_does() {
        assert_eq!(index_range(5, 0, -1), 0..5);
        assert_eq!(index_range(5, -100, 100), 0..5);
        assert_eq!(index_range(5, 3, 1), 0..0);
        assert_eq!(index_range(5, 5, 10), 0..0);
        assert_eq!(index_range(5, -2, -1), 3..5);
        assert_eq!(index_range(0, 0, -1), 0..0);
        assert_eq!(index_range(5, 1, -7), 0..0);
    }

    /// Each reply that RESP3 writes otherwise, byte for byte as redis-server 7.0.15 wrote it
    /// after `HELLO 3`: nulls, a map, sets, doubles, and scores paired with their members.
    #[test]
    fn collections_answer_resp3_as_redis_does() {
        let cases: &[(&str, &str)] = &[
            ("zadd z 1 a 2.5 b 3 c", ":3\r\n"),
            ("zscore z b", ",2.5\r\n"),
            ("zscore z x", "_\r\n"),
            ("zincrby z 1 a", ",2\r\n"),
            ("zadd z incr 1 a", ",3\r\n"),
            ("zadd z xx incr 1 q", "_\r\n"),
            (
                "zrange z 0 -1 withscores",
                "*3\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\na\r\n,3\r\n*2\r\n$1\r\nc\r\n,3\r\n",
            ),
            ("zrange z 0 -1", "*3\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nc\r\n"),
            ("zrevrange z 0 1 withscores", "*2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\na\r\n,3\r\n"),
            ("zrank z x", "_\r\n"),
            ("zpopmin z", "*2\r\n$1\r\nb\r\n,2.5\r\n"),
            ("zpopmin z 2", "*2\r\n*2\r\n$1\r\na\r\n,3\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
            ("zpopmax z", "*0\r\n"),
            ("zpopmin z 2", "*0\r\n"),
            ("sadd s a", ":1\r\n"),
            ("smembers s", "~1\r\n$1\r\na\r\n"),
            ("spop s 1", "~1\r\n$1\r\na\r\n"),
            ("spop s 2", "~0\r\n"),
            ("spop s", "_\r\n"),
            ("srandmember s", "_\r\n"),
            ("srandmember s 3", "*0\r\n"),
            ("smembers s", "~0\r\n"),
            ("hset h f v", ":1\r\n"),
            ("hgetall h", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
            ("hmget h f g", "*2\r\n$1\r\nv\r\n_\r\n"),
            ("hget h g", "_\r\n"),
            ("hkeys h", "*1\r\n$1\r\nf\r\n"),
            ("hincrbyfloat h n 1.5", "$3\r\n1.5\r\n"),
            ("hdel h f n", ":2\r\n"),
            ("hgetall h", "%0\r\n"),
            ("lpop l 2", "_\r\n"),
            ("lpop l", "_\r\n"),
            ("rpush l a", ":1\r\n"),
            ("lindex l 1", "_\r\n"),
            ("lpop l 5", "*1\r\n$1\r\na\r\n"),
            ("lpos l a", "_\r\n"),
            ("lpos l a count 1", "*0\r\n"),
            ("rpush m a b a", ":3\r\n"),
            ("lpos m x", "_\r\n"),
            ("lpos m a count 0", "*2\r\n:0\r\n:2\r\n"),
            ("zadd y 1 a 2 b", ":2\r\n"),
            ("zrangebyscore y -inf +inf withscores", "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
            ("zrevrangebyscore y +inf -inf withscores limit 0 1", "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
            ("zrange y 0 5 byscore withscores", "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
            ("zrangebyscore y 5 6 withscores", "*0\r\n"),
            ("zrangebyscore x 5 6 withscores", "*0\r\n"),
            ("zcount y 1 2", ":2\r\n"),
        ];
        // One Run per key, as the store keeps one value per key.
        let mut keys: std::collections::HashMap<&str, tests_support::Run> = std::collections::HashMap::new();
        for (words, reply) in cases {
            let key = words.split(' ').nth(1).unwrap();
            let run = keys
                .entry(key)
                .or_insert_with(|| tests_support::Run { protocol: Protocol::Resp3, ..Default::default() });
            assert_eq!(run.run(words), *reply, "{words}");
        }
    }
}
