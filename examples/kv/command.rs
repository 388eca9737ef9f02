//! From a request's arguments to a plan: the shard operations it needs, and how their
//! replies combine into the one reply the client gets.

use std::time::Duration;

use super::resp::{integer, Reply};
use super::store::Op;

/// What to do for one request.
pub enum Plan {
    /// Answered without touching a shard (PING, ECHO, errors...).
    Now(Reply),
    /// Answered, then the connection closes.
    Quit,
    /// Operations on shards (by core index), combined in order into one reply.
    Ops(Vec<(usize, Op)>, Combine),
}

/// How the replies of a plan's operations make the client's reply.
#[derive(Clone, Copy)]
pub enum Combine {
    /// The one operation's reply.
    Single,
    /// The sum of integer replies (DEL, EXISTS with several keys, DBSIZE).
    Sum,
    /// An array of the replies (MGET).
    Array,
    /// `+OK` once every operation said OK (MSET, FLUSHALL).
    AllOk,
    /// The bulk strings joined (INFO).
    Concat,
}

/// Plans the request `args` for a store sharded over `shards` cores.
pub fn plan(args: Vec<Vec<u8>>, shards: usize) -> Plan {
    let mut args = args.into_iter();
    let raw_name = args.next().unwrap_or_default();
    let mut lower = [0u8; 16]; // every command name fits; longer ones are unknown anyway
    let name = command_name(&raw_name, &mut lower);
    let argc = args.len();
    let arity = |ok: bool| if ok { None } else { Some(wrong_arity(name)) };
    if let Some(err) = match name {
        "get" | "incr" | "ttl" | "echo" => arity(argc == 1),
        "set" => arity(argc >= 2),
        "expire" => arity(argc == 2),
        "del" | "exists" | "mget" => arity(argc >= 1),
        "mset" => arity(argc >= 2 && argc.is_multiple_of(2)),
        "ping" => arity(argc <= 1),
        _ => None,
    } {
        return Plan::Now(err);
    }
    let mut next = || args.next().unwrap_or_default();
    match name {
        "ping" => Plan::Now(if argc == 0 { Reply::Status("PONG") } else { Reply::Bulk(next()) }),
        "echo" => Plan::Now(Reply::Bulk(next())),
        "quit" => Plan::Quit,
        "get" => on_key(next(), shards, Op::Get),
        "incr" => on_key(next(), shards, Op::Incr),
        "ttl" => on_key(next(), shards, Op::Ttl),
        "set" => {
            let (key, value) = (next(), next());
            match set_ttl(&mut args) {
                Ok(ttl) => single((shard_of(&key, shards), Op::Set { key, value, ttl })),
                Err(e) => Plan::Now(e),
            }
        }
        "expire" => {
            let key = next();
            match integer(&next()) {
                Some(secs) => single((shard_of(&key, shards), Op::Expire(key, secs))),
                None => Plan::Now(not_an_integer()),
            }
        }
        "del" | "exists" => {
            let ops = args
                .map(|key| (shard_of(&key, shards), if name == "del" { Op::Del(key) } else { Op::Exists(key) }))
                .collect();
            Plan::Ops(ops, Combine::Sum)
        }
        "mget" => Plan::Ops(args.map(|key| (shard_of(&key, shards), Op::Get(key))).collect(), Combine::Array),
        "mset" => {
            let mut ops = Vec::with_capacity(argc / 2);
            while let (Some(key), Some(value)) = (args.next(), args.next()) {
                ops.push((shard_of(&key, shards), Op::Set { key, value, ttl: None }));
            }
            Plan::Ops(ops, Combine::AllOk)
        }
        "dbsize" => Plan::Ops((0..shards).map(|s| (s, Op::DbSize)).collect(), Combine::Sum),
        "flushall" => Plan::Ops((0..shards).map(|s| (s, Op::FlushAll)).collect(), Combine::AllOk),
        "info" => Plan::Ops((0..shards).map(|s| (s, Op::Info)).collect(), Combine::Concat),
        // Clients ask these at start-up (redis-cli, redis-benchmark): nothing to configure.
        "command" => Plan::Now(Reply::Array(Vec::new())),
        "config" => Plan::Now(Reply::Array(
            args.skip(1).flat_map(|name| [Reply::Bulk(name), Reply::Bulk(Vec::new())]).collect(),
        )),
        _ => {
            Plan::Now(Reply::error(format!("ERR unknown command '{}'", printable(&String::from_utf8_lossy(&raw_name)))))
        }
    }
}

/// The command's name in lower case, in `buf` (no allocation per request); a name too
/// long or not UTF-8 comes back as "" and is reported unknown.
fn command_name<'a>(raw: &[u8], buf: &'a mut [u8; 16]) -> &'a str {
    if raw.len() > buf.len() {
        return "";
    }
    let lower = &mut buf[..raw.len()];
    lower.copy_from_slice(raw);
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).unwrap_or("")
}

/// One operation on `key`'s shard.
fn on_key(key: Vec<u8>, shards: usize, op: impl FnOnce(Vec<u8>) -> Op) -> Plan {
    single((shard_of(&key, shards), op(key)))
}

/// A plan of one operation.
fn single((shard, op): (usize, Op)) -> Plan {
    Plan::Ops(vec![(shard, op)], Combine::Single)
}

/// `EX seconds` or `PX milliseconds` after SET's key and value.
fn set_ttl(args: &mut impl Iterator<Item = Vec<u8>>) -> Result<Option<Duration>, Reply> {
    let mut ttl = None;
    while let Some(option) = args.next() {
        let unit = match option.to_ascii_lowercase().as_slice() {
            b"ex" => Duration::from_secs(1),
            b"px" => Duration::from_millis(1),
            _ => return Err(Reply::error("ERR syntax error")),
        };
        let amount = args.next().ok_or_else(|| Reply::error("ERR syntax error"))?;
        let amount = integer(&amount).ok_or_else(not_an_integer)?;
        if amount <= 0 || ttl.is_some() {
            return Err(Reply::error("ERR invalid expire time in 'set' command"));
        }
        ttl = Some(unit.saturating_mul(amount.min(u32::MAX as i64) as u32));
    }
    Ok(ttl)
}

/// Combines the replies of one plan's operations.
pub fn combine(how: Combine, mut replies: Vec<Reply>) -> Reply {
    if let Some(err) = replies.iter().find(|r| matches!(r, Reply::Error(_))) {
        if !matches!(how, Combine::Array) {
            return err.clone();
        }
    }
    match how {
        Combine::Single => replies.pop().unwrap_or(Reply::Nil),
        Combine::Array => Reply::Array(replies),
        Combine::AllOk => Reply::Status("OK"),
        Combine::Sum => Reply::Int(replies.iter().map(|r| if let Reply::Int(n) = r { *n } else { 0 }).sum()),
        Combine::Concat => {
            Reply::Bulk(replies.into_iter().flat_map(|r| if let Reply::Bulk(b) = r { b } else { Vec::new() }).collect())
        }
    }
}

/// The core that owns `key` (FNV-1a: cheap, and the same on every core and every run).
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % shards as u64) as usize
}

fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!("ERR wrong number of arguments for '{}' command", printable(name)))
}

fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// A client-chosen name, cut short and printable, for an error message.
fn printable(name: &str) -> String {
    name.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect()
}
