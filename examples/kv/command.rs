//! From a request's arguments (borrowed from the connection's input) to a plan: answered
//! now, or the shard operations it needs and how their replies combine into the one reply
//! the client gets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::hash::Key;
use super::op::Op;
use super::replies::{self, Combine};
use super::resp::integer;

/// What to do for one request.
pub enum Plan<'a> {
    /// Answered without touching a shard (PING, ECHO, errors...): the reply is already
    /// written.
    Answered,
    /// `+OK`, then the connection closes.
    Quit,
    /// One operation on one shard (by core index): its reply is the client's.
    One(usize, Op<'a>),
    /// Operations on shards, combined in order into one reply.
    Many(Vec<(usize, Op<'a>)>, Combine),
}

/// Plans the request `args` (not empty) for a store sharded over `shards` cores; a reply
/// that needs no shard is written to `out` at once.
pub fn plan<'a>(args: &[&'a [u8]], shards: usize, out: &mut Vec<u8>) -> Plan<'a> {
    let (raw_name, args) = args.split_first().map_or((&b""[..], args), |(n, rest)| (*n, rest));
    let mut lower = [0u8; 16]; // every command name fits; longer ones are unknown anyway
    let name = command_name(raw_name, &mut lower);
    let argc = args.len();
    let arity_ok = match name {
        b"get" | b"incr" | b"ttl" | b"echo" => argc == 1,
        b"set" => argc >= 2,
        b"expire" => argc == 2,
        b"del" | b"exists" | b"mget" => argc >= 1,
        b"mset" => argc >= 2 && argc.is_multiple_of(2),
        b"ping" => argc <= 1,
        b"select" => argc == 1,
        b"client" => argc >= 1,
        _ => true,
    };
    if !arity_ok {
        let name = String::from_utf8_lossy(name);
        return answer(out, |o| replies::error(o, &format!("ERR wrong number of arguments for '{name}' command")));
    }
    match name {
        b"get" => one(args[0], shards, Op::Get),
        b"set" => match set_ttl(&args[2..]) {
            Ok(ttl) => one(args[0], shards, |key| Op::Set { key, value: args[1], ttl }),
            Err(e) => answer(out, |o| replies::error(o, e)),
        },
        b"incr" => one(args[0], shards, Op::Incr),
        b"ttl" => one(args[0], shards, Op::Ttl),
        b"ping" if argc == 0 => answer(out, |o| replies::status(o, "PONG")),
        b"ping" | b"echo" => answer(out, |o| replies::bulk(o, args[0])),
        b"quit" => Plan::Quit,
        b"expire" => match integer(args[1]) {
            Some(secs) if !expire_out_of_range(secs) => one(args[0], shards, |key| Op::Expire(key, secs)),
            Some(_) => answer(out, |o| replies::error(o, "ERR invalid expire time in 'expire' command")),
            None => answer(out, not_an_integer),
        },
        b"del" => keys(args, shards, Op::Del, Combine::Sum),
        b"exists" => keys(args, shards, Op::Exists, Combine::Sum),
        b"mget" => keys(args, shards, Op::Get, Combine::Array),
        b"mset" => Plan::Many(
            args.chunks_exact(2)
                .map(|kv| {
                    let key = Key::new(kv[0]);
                    (key.shard(shards), Op::Set { key, value: kv[1], ttl: None })
                })
                .collect(),
            Combine::AllOk,
        ),
        b"dbsize" => every_shard(shards, Op::DbSize, Combine::Sum),
        b"flushall" => every_shard(shards, Op::FlushAll, Combine::AllOk),
        b"info" => every_shard(shards, Op::Info, Combine::Concat),
        // One keyspace, database 0: a client configured for it may still select it.
        b"select" => answer(out, |o| match integer(args[0]) {
            Some(0) => replies::status(o, "OK"),
            Some(_) => replies::error(o, "ERR DB index is out of range"),
            None => not_an_integer(o),
        }),
        // Client libraries name themselves on connecting (CLIENT SETNAME, SETINFO): accepted,
        // and nothing is kept.
        b"client" => answer(out, |o| match args[0].to_ascii_lowercase().as_slice() {
            b"setname" | b"setinfo" => replies::status(o, "OK"),
            _ => replies::error(o, "ERR unknown subcommand, only SETNAME and SETINFO are taken"),
        }),
        // Clients ask these at start-up (redis-cli, redis-benchmark): nothing to configure.
        b"command" => answer(out, |o| replies::array(o, 0)),
        b"config" => answer(out, |o| {
            let names = args.get(1..).unwrap_or_default();
            replies::array(o, names.len() * 2);
            for name in names {
                replies::bulk(o, name);
                replies::bulk(o, b"");
            }
        }),
        _ => answer(out, |o| {
            let name = printable(&String::from_utf8_lossy(raw_name));
            replies::error(o, &format!("ERR unknown command '{name}'"));
        }),
    }
}

fn answer<'a>(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> Plan<'a> {
    write(out);
    Plan::Answered
}

/// One operation on `key`, on its shard. The key's hash, computed once here, picks the core
/// and the bucket there.
#[inline]
fn one<'a>(key: &'a [u8], shards: usize, op: impl FnOnce(Key<'a>) -> Op<'a>) -> Plan<'a> {
    let key = Key::new(key);
    Plan::One(key.shard(shards), op(key))
}

/// One operation per key, on each key's shard.
fn keys<'a>(keys: &[&'a [u8]], shards: usize, op: fn(Key<'a>) -> Op<'a>, how: Combine) -> Plan<'a> {
    Plan::Many(keys.iter().map(|&key| Key::new(key)).map(|key| (key.shard(shards), op(key))).collect(), how)
}

fn every_shard<'a>(shards: usize, op: Op<'a>, how: Combine) -> Plan<'a> {
    Plan::Many((0..shards).map(|s| (s, op)).collect(), how)
}

/// The command's name in lower case, in `buf` (no allocation per request); a name too
/// long comes back as "" and is reported unknown.
fn command_name<'a>(raw: &[u8], buf: &'a mut [u8; 16]) -> &'a [u8] {
    if raw.len() > buf.len() {
        return b"";
    }
    // By hand: copy_from_slice on a short, variable length calls memcpy.
    for (to, from) in buf.iter_mut().zip(raw) {
        *to = from.to_ascii_lowercase();
    }
    &buf[..raw.len()]
}

/// `EX seconds` or `PX milliseconds` after SET's key and value, read as Redis 7 reads them:
/// all the options first (so a later one's syntax error wins over an earlier amount, and of
/// EX given twice the last counts), then the amount, which must be positive and, as a Unix
/// time in milliseconds, fit an i64 (never clamped to another time).
fn set_ttl(options: &[&[u8]]) -> Result<Option<Duration>, &'static str> {
    const SYNTAX: &str = "ERR syntax error";
    let mut given: Option<(i64, &[u8])> = None;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let unit_ms = if option.eq_ignore_ascii_case(b"ex") {
            1000
        } else if option.eq_ignore_ascii_case(b"px") {
            1
        } else {
            return Err(SYNTAX);
        };
        let amount = options.next().ok_or(SYNTAX)?;
        if given.is_some_and(|(unit, _)| unit != unit_ms) {
            return Err(SYNTAX); // EX and PX together
        }
        given = Some((unit_ms, amount));
    }
    let Some((unit_ms, amount)) = given else {
        return Ok(None);
    };
    let amount = integer(amount).ok_or(NOT_AN_INTEGER)?;
    let ms = amount.checked_mul(unit_ms).filter(|&ms| ms > 0 && !past_unix_time_end(ms));
    ms.map(|ms| Some(Duration::from_millis(ms.unsigned_abs()))).ok_or("ERR invalid expire time in 'set' command")
}

/// Whether EXPIRE's `secs` is refused as Redis 7 refuses it: its milliseconds, or the Unix
/// time they end at, do not fit an i64 (a negative time is taken: it deletes the key).
fn expire_out_of_range(secs: i64) -> bool {
    secs.checked_mul(1000).is_none_or(past_unix_time_end)
}

/// Whether `ms` from now ends past the last Unix time in milliseconds an i64 holds: Redis
/// keeps deadlines so (`now + ms`) and refuses what would overflow there, so `PX i64::MAX`
/// is an error, not a deadline some 292 million years away.
fn past_unix_time_end(ms: i64) -> bool {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis());
    ms > i64::MAX - i64::try_from(now).unwrap_or(i64::MAX)
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

fn not_an_integer(out: &mut Vec<u8>) {
    replies::error(out, NOT_AN_INTEGER);
}

/// A client-chosen name, cut short and printable, for an error message.
fn printable(name: &str) -> String {
    name.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect()
}
