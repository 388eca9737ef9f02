//! From a request's arguments (borrowed from the connection's input) to a plan: answered
//! now, or the shard operations it needs and how their replies combine into the one reply
//! the client gets.

use super::copy::{self, Transfer};
use super::hash::Key;
use super::info::Sections;
use super::memory;
use super::op::{ExpireIf, Expiry, ExpiryRefused, Only, Op, SetHow, SetReply};
use super::replies::{self, Combine, Protocol};
use super::resp::integer;
use super::scan;
use super::store::unix_now;
use super::transaction::Control;
use super::types::{self, Command};
use super::{range, server, session};

/// What to do for one request.
pub enum Plan<'a> {
    /// Answered without touching a shard (PING, ECHO, errors...): the reply is already
    /// written.
    Answered,
    /// `+OK`, then the connection closes.
    Quit,
    /// One operation on one shard (by core index): its reply is the client's.
    One(usize, Op<'a>),
    /// One operation on one shard, encoded (`Op::decode` reads it back): for one that
    /// carries more than the request's arguments (MSETNX's batch of SETs).
    Encoded(usize, Vec<u8>),
    /// Operations on shards, combined in order into one reply.
    Many(Vec<(usize, Op<'a>)>, Combine),
    /// HELLO, CLIENT, CONFIG or COMMAND: answered from the connection's session
    /// (`session.rs`: its protocol, which shapes CONFIG GET's and COMMAND DOCS' replies) and
    /// what its core holds (its connections, the server's limit on clients).
    Context,
    /// SHUTDOWN: the server stops, as on SIGTERM; the connection closes without a reply.
    Shutdown,
    /// MULTI, EXEC, DISCARD or WATCH: the connection's transaction's (`transaction.rs`).
    Transaction(Control),
    /// COPY or ZRANGESTORE across two shards (`copy.rs`): the lift, encoded, for core `from`;
    /// its payload is put down on core `to`, whose reply is the client's.
    Lift { from: usize, lift: Vec<u8>, to: usize },
    /// SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH or PUBSUB: answered from the
    /// connection's subscriptions and its core's, or by the cores with subscribers
    /// (`pubsub.rs`).
    PubSub,
}

/// Plans the request `args` (not empty) for a store sharded over `shards` cores; a reply
/// that needs no shard is written to `out` at once.
pub fn plan<'a>(args: &[&'a [u8]], shards: usize, out: &mut Vec<u8>) -> Plan<'a> {
    let (raw_name, args) = args.split_first().map_or((&b""[..], args), |(n, rest)| (*n, rest));
    let mut lower = [0u8; 16]; // every command name fits; longer ones are unknown anyway
    let name = command_name(raw_name, &mut lower);
    let argc = args.len();
    let arity_ok = match name {
        b"get" | b"incr" | b"decr" | b"ttl" | b"pttl" | b"persist" | b"getdel" | b"echo" => argc == 1,
        b"keys" | b"type" | b"strlen" | b"expiretime" | b"pexpiretime" => argc == 1,
        b"append" => argc == 2,
        b"set" => argc >= 2,
        b"getex" | b"scan" => argc >= 1,
        b"setnx" | b"getset" | b"incrby" | b"decrby" | b"incrbyfloat" => argc == 2,
        b"expire" | b"pexpire" | b"expireat" | b"pexpireat" => argc >= 2,
        b"del" | b"unlink" | b"exists" | b"touch" | b"mget" => argc >= 1,
        b"setex" | b"psetex" => argc == 3,
        b"mset" | b"msetnx" => argc >= 2 && argc.is_multiple_of(2),
        b"ping" => argc <= 1,
        b"dbsize" => argc == 0,
        b"select" => argc == 1,
        b"client" | b"memory" | b"config" => argc >= 1,
        b"getrange" | b"substr" | b"setrange" => argc == 3,
        b"rename" | b"renamenx" => argc == 2,
        b"randomkey" | b"time" => argc == 0,
        b"subscribe" | b"psubscribe" | b"pubsub" => argc >= 1,
        b"publish" => argc == 2,
        _ => true,
    };
    if !arity_ok {
        let name = String::from_utf8_lossy(name);
        return answer(out, |o| replies::error(o, &format!("ERR wrong number of arguments for '{name}' command")));
    }
    match name {
        b"get" => one(args[0], shards, Op::Get),
        b"set" if argc == 2 => one(args[0], shards, |key| Op::Set { key, value: args[1] }),
        b"set" => match set_options(&args[2..]) {
            Ok(how) => one(args[0], shards, |key| Op::SetWith { key, value: args[1], how }),
            Err(e) => answer(out, |o| replies::error(o, e)),
        },
        // SET NX with a 1 or 0 for a reply, and SET GET: Redis 7 defines them so.
        b"setnx" => one(args[0], shards, |key| Op::SetWith { key, value: args[1], how: SETNX }),
        b"getset" => one(args[0], shards, |key| Op::SetWith { key, value: args[1], how: GETSET }),
        b"incr" => one(args[0], shards, |key| Op::Incr(key, 1)),
        b"decr" => one(args[0], shards, |key| Op::Incr(key, -1)),
        b"incrby" | b"decrby" => match integer(args[1]) {
            // Its negation does not fit.
            Some(i64::MIN) if name == b"decrby" => answer(out, |o| replies::error(o, "ERR decrement would overflow")),
            Some(n) => one(args[0], shards, |key| Op::Incr(key, if name == b"decrby" { -n } else { n })),
            None => answer(out, not_an_integer),
        },
        b"incrbyfloat" => one(args[0], shards, |key| Op::IncrByFloat { key, by: args[1] }),
        b"ttl" => one(args[0], shards, Op::Ttl),
        b"pttl" => one(args[0], shards, Op::Pttl),
        b"expiretime" => one(args[0], shards, |key| Op::ExpireTime(key, false)),
        b"pexpiretime" => one(args[0], shards, |key| Op::ExpireTime(key, true)),
        b"persist" => one(args[0], shards, Op::Persist),
        b"getdel" => one(args[0], shards, Op::GetDel),
        b"type" => one(args[0], shards, Op::Type),
        b"strlen" => one(args[0], shards, Op::Strlen),
        b"append" => one(args[0], shards, |key| Op::Append { key, value: args[1] }),
        b"keys" => every_shard(shards, Op::Keys(args[0]), Combine::Flatten),
        b"scan" => match scan::parse(args) {
            Ok(scan) if scan.only.is_none_or(|name| types::type_number(name).is_some()) => {
                let cursor = scan::Cursor::decode(scan.cursor, shards);
                let (pattern, count) = (scan.pattern, scan.count);
                let only = scan.only.and_then(types::type_number);
                Plan::One(cursor.shard, Op::Scan { pattern, cursor, count, shards: shards as u32, only })
            }
            // No key is of a type Redis does not have: the scan finds nothing, and ends at once.
            Ok(_) => answer(out, |o| {
                scan::reply_head(o, 0);
                replies::array(o, 0);
            }),
            Err(e) => answer(out, |o| replies::error(o, e)),
        },
        b"setex" | b"psetex" => {
            let (kind, invalid) = match name {
                b"setex" => (ExpiryOption::Ex, INVALID_SETEX_EXPIRY),
                _ => (ExpiryOption::Px, INVALID_PSETEX_EXPIRY),
            };
            match integer(args[1]).ok_or(NOT_AN_INTEGER).and_then(|amount| kind.expiry(amount, invalid)) {
                Ok(expiry) => one(args[0], shards, |key| Op::SetWith {
                    key,
                    value: args[2],
                    how: SetHow { expiry, ..SetHow::PLAIN },
                }),
                Err(e) => answer(out, |o| replies::error(o, e)),
            }
        }
        b"getex" => match getex_options(&args[1..]) {
            Ok(expiry) => one(args[0], shards, |key| Op::GetEx(key, expiry)),
            Err(e) => answer(out, |o| replies::error(o, e)),
        },
        b"ping" if argc == 0 => answer(out, |o| replies::status(o, "PONG")),
        b"ping" | b"echo" => answer(out, |o| replies::bulk(o, args[0])),
        b"quit" => Plan::Quit,
        b"expire" | b"pexpire" | b"expireat" | b"pexpireat" => {
            let per_unit = if name.starts_with(b"expire") { 1000 } else { 1 };
            let only = match expire_conditions(&args[2..]) {
                Ok(only) => only,
                Err(e) => return answer(out, |o| replies::error_bytes(o, &e)),
            };
            let at = name.ends_with(b"at");
            match integer(args[1]).map(|n| n.checked_mul(per_unit)) {
                // A Unix time goes as it is: the owning core reads it against the clock when
                // it runs the operation, so PEXPIRETIME gives back exactly the time set.
                Some(Some(unix_ms)) if at => {
                    one(args[0], shards, |key| Op::Expire(key, unix_ms, ExpireIf { at, ..only }))
                }
                Some(Some(ms)) if !past_unix_time_end(ms) => one(args[0], shards, |key| Op::Expire(key, ms, only)),
                Some(_) => {
                    let name = String::from_utf8_lossy(name);
                    answer(out, |o| replies::error(o, &format!("ERR invalid expire time in '{name}' command")))
                }
                None => answer(out, not_an_integer),
            }
        }
        // UNLINK frees in the background in Redis; here a value is freed where it lives anyway.
        b"del" | b"unlink" => keys(args, shards, Op::Del, Combine::Sum),
        // TOUCH counts the keys that exist, as EXISTS does: kv keeps no access times to update.
        b"exists" | b"touch" => keys(args, shards, Op::Exists, Combine::Sum),
        b"mget" => keys(args, shards, Op::GetString, Combine::Array),
        b"mset" => Plan::Many(
            args.chunks_exact(2)
                .map(|kv| {
                    let key = Key::new(kv[0]);
                    (key.shard(shards), Op::Set { key, value: kv[1] })
                })
                .collect(),
            Combine::AllOk,
        ),
        b"msetnx" => match mset_nx(args, shards) {
            Some((shard, pairs)) => Plan::Encoded(shard, pairs),
            None => answer(out, |o| replies::error(o, CROSSSLOT)),
        },
        b"memory" => match args[0].to_ascii_lowercase().as_slice() {
            b"help" | b"doctor" | b"stats" if argc > 1 => {
                let sub = String::from_utf8_lossy(args[0]).to_lowercase();
                answer(out, |o| replies::error(o, &format!("ERR wrong number of arguments for 'memory|{sub}' command")))
            }
            b"help" => answer(out, memory::help),
            b"doctor" => every_shard(shards, Op::MemoryStats, Combine::MemoryDoctor),
            b"stats" => every_shard(shards, Op::MemoryStats, Combine::MemoryStats),
            _ => match memory_usage(args) {
                Ok(key) => one(key, shards, Op::MemoryUsage),
                Err(e) => answer(out, |o| replies::error_bytes(o, &e)),
            },
        },
        b"dbsize" => every_shard(shards, Op::DbSize, Combine::Sum),
        // ASYNC frees the old keys off the cores (`Shards::apply`); SYNC, and no option (Redis'
        // `lazyfree-lazy-user-flush no`), where they are. Anything else is refused, as Redis
        // refuses it, rather than taken for a bare FLUSHALL that empties the store. FLUSHDB
        // empties the one database, so everything.
        b"flushall" | b"flushdb" => match args {
            [] => every_shard(shards, Op::FlushAll { lazy: false }, Combine::AllOk),
            [how] if how.eq_ignore_ascii_case(b"async") || how.eq_ignore_ascii_case(b"sync") => {
                every_shard(shards, Op::FlushAll { lazy: how.eq_ignore_ascii_case(b"async") }, Combine::AllOk)
            }
            _ => answer(out, |o| replies::error(o, SYNTAX)),
        },
        b"info" => every_shard(shards, Op::Info, Combine::Info(Sections::asked(args))),
        // One keyspace, database 0: a client configured for it may still select it. The
        // index is read as Redis reads it, a C int first.
        b"select" => answer(out, |o| match integer(args[0]).map(i32::try_from) {
            Some(Ok(0)) => replies::ok(o),
            Some(Ok(_)) => replies::error(o, "ERR DB index is out of range"),
            Some(Err(_)) => {
                replies::error(o, "ERR value is out of range, value must between -2147483648 and 2147483647")
            }
            None => not_an_integer(o),
        }),
        b"getrange" | b"substr" => match (integer(args[1]), integer(args[2])) {
            (Some(start), Some(end)) => one(args[0], shards, |key| Op::GetRange { key, start, end }),
            _ => answer(out, not_an_integer),
        },
        b"setrange" => match integer(args[1]).map(|offset| range::setrange_offset(offset, args[2].len())) {
            Some(Ok(offset)) => one(args[0], shards, |key| Op::SetRange { key, offset, value: args[2] }),
            Some(Err(e)) => answer(out, |o| replies::error(o, e)),
            None => answer(out, not_an_integer),
        },
        b"rename" | b"renamenx" => {
            let (from, to) = (Key::new(args[0]), Key::new(args[1]));
            match from.shard(shards) {
                shard if shard == to.shard(shards) => {
                    Plan::One(shard, Op::Rename { from, to, only_new: name == b"renamenx" })
                }
                _ => answer(out, |o| replies::error(o, CROSSSLOT)),
            }
        }
        b"randomkey" => every_shard(shards, Op::RandomKey, Combine::AnyOne),
        b"hello" | b"client" | b"config" | b"command" => Plan::Context,
        b"subscribe" | b"unsubscribe" | b"psubscribe" | b"punsubscribe" | b"publish" | b"pubsub" => Plan::PubSub,
        b"auth" => answer(out, |o| session::auth(args, o)),
        b"time" => answer(out, server::time),
        b"shutdown" => match server::shutdown_options(args) {
            Ok(true) => Plan::Shutdown,
            // ABORT: a shutdown here never waits to be aborted.
            Ok(false) => answer(out, |o| replies::error(o, "ERR No shutdown in progress.")),
            Err(e) => answer(out, |o| replies::error(o, e)),
        },
        _ => collection(raw_name, name, args, shards, out),
    }
}

/// A command on a collection (`types`), or an unknown one: its arity checked here, the
/// rest read where the key lives, in the order Redis reads it. Packed into one encoded
/// operation (one allocation per request: these are not the hot path). Out of line, and
/// the name looked up here, not in [`plan`]'s match: there, GET and SET paid 2 instructions
/// each for it (callgrind, one shard, pipeline 16).
#[cold]
#[inline(never)]
fn collection<'a>(raw_name: &[u8], name: &[u8], args: &[&'a [u8]], shards: usize, out: &mut Vec<u8>) -> Plan<'a> {
    if let Some(planned) = transaction_control(name, args.len(), out) {
        return planned;
    }
    if let Some(planned) = transfer(name, args, shards, out) {
        return planned;
    }
    let Some(command) = Command::named(name) else {
        return answer(out, |o| unknown_command(raw_name, args, o));
    };
    if !command.arity_ok(args.len()) {
        let text = format!("ERR wrong number of arguments for '{}' command", command.name());
        return answer(out, |o| replies::error(o, &text));
    }
    let key = Key::new(args[0]);
    let mut encoded = Vec::new();
    // Read back on this core (`Op::decode`), then applied or forwarded for the connection, in
    // its protocol: the one written here is not read.
    Op::Typed { key, command, args: &types::pack(&args[1..]) }.encode(Protocol::Resp2, &mut encoded);
    Plan::Encoded(key.shard(shards), encoded)
}

/// COPY or ZRANGESTORE, if `name` is one (`copy.rs`): its arity and (COPY's) options
/// checked here, the lift encoded for the source's core (ZRANGESTORE's range and options
/// read there, as ZRANGE's are).
fn transfer<'a>(name: &[u8], args: &[&'a [u8]], shards: usize, out: &mut Vec<u8>) -> Option<Plan<'a>> {
    let least = match name {
        b"copy" => 2,
        b"zrangestore" => 4,
        _ => return None,
    };
    if args.len() < least {
        let name = String::from_utf8_lossy(name);
        return Some(answer(out, |o| {
            replies::error(o, &format!("ERR wrong number of arguments for '{name}' command"))
        }));
    }
    let (from, to, how, rest) = match name {
        b"copy" => match copy::copy_options(args) {
            Ok(replace) => (args[0], args[1], Transfer::Copy { replace }, &[][..]),
            Err(e) => return Some(answer(out, |o| replies::error(o, e))),
        },
        _ => (args[1], args[0], Transfer::RangeStore, &args[2..]),
    };
    let (from, packed) = (Key::new(from), copy::pack_lift(to, rest));
    let (source, destination) = (from.shard(shards), Key::new(to).shard(shards));
    let here = source == destination;
    let mut lift = Vec::new();
    // The protocol travels with the plan's own encoding: the one written here is not read.
    Op::Lift { from, packed: &packed, how, here }.encode(Protocol::Resp2, &mut lift);
    Some(match here {
        true => Plan::Encoded(source, lift),
        false => Plan::Lift { from: source, lift, to: destination },
    })
}

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH (`transaction.rs`), if `name` is one: looked up
/// here, out of [`plan`]'s match, as the collections' commands are (there, GET and SET paid
/// for them: 917 to 926 instructions per request, one shard at pipeline 16; 923 here).
fn transaction_control<'a>(name: &[u8], argc: usize, out: &mut Vec<u8>) -> Option<Plan<'a>> {
    let (control, arity_ok) = match name {
        b"multi" => (Some(Control::Multi), argc == 0),
        // Its own refusal, in a transaction or not (`Transaction::exec_with_arguments`).
        b"exec" if argc > 0 => (Some(Control::ExecWithArguments), true),
        b"exec" => (Some(Control::Exec), true),
        b"discard" => (Some(Control::Discard), argc == 0),
        b"watch" => (Some(Control::Watch), argc >= 1),
        b"unwatch" => (None, argc == 0), // nothing is ever watched: `+OK`
        _ => return None,
    };
    if !arity_ok {
        let name = String::from_utf8_lossy(name);
        return Some(answer(out, |o| {
            replies::error(o, &format!("ERR wrong number of arguments for '{name}' command"))
        }));
    }
    Some(control.map_or_else(|| answer(out, replies::ok), Plan::Transaction))
}

/// Redis 7.0's refusal of a command it does not know, byte for byte: the name, then the
/// first arguments, each quoted and followed by a space, while fewer than 128 bytes of them
/// were written, each cut to what is left of the 128 (`processCommand`'s `'%.*s' `).
fn unknown_command(name: &[u8], args: &[&[u8]], out: &mut Vec<u8>) {
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(replies::c_text(name, replies::QUOTED));
    text.extend_from_slice(b"', with args beginning with: ");
    let quoted_from = text.len();
    for arg in args {
        let written = text.len() - quoted_from;
        if written >= replies::QUOTED {
            break;
        }
        text.push(b'\'');
        text.extend_from_slice(replies::c_text(arg, replies::QUOTED - written));
        text.extend_from_slice(b"' ");
    }
    replies::error_bytes(out, &text);
}

/// Redis Cluster's refusal of keys in different slots: MSETNX across shards would need
/// every shard held at once to stay atomic, which kv does not do.
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// MSETNX's pairs as one encoded operation (a batch of SETs inside) for the one shard that
/// owns every key; `None` if the keys live on more than one.
fn mset_nx(args: &[&[u8]], shards: usize) -> Option<(usize, Vec<u8>)> {
    let shard = Key::new(args[0]).shard(shards);
    let mut pairs = Vec::new();
    for kv in args.chunks_exact(2) {
        let key = Key::new(kv[0]);
        if key.shard(shards) != shard {
            return None;
        }
        // The protocol travels with the MSETNX that carries them (its reply is the one).
        Op::Set { key, value: kv[1] }.encode(Protocol::Resp2, &mut pairs);
    }
    let mut op = Vec::new();
    // Read back on this core (`Op::decode`), then applied or forwarded for the connection.
    Op::MsetNx(&pairs).encode(Protocol::Resp2, &mut op);
    Some((shard, op))
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

const SETNX: SetHow = SetHow { only: Only::IfAbsent, reply: SetReply::Flag, expiry: Expiry::Clear };
const GETSET: SetHow = SetHow { only: Only::Always, reply: SetReply::Old, expiry: Expiry::Clear };

const SYNTAX: &str = "ERR syntax error";

/// SET's options after its key and value (NX, XX, GET, KEEPTTL, and one of EX seconds, PX
/// milliseconds, EXAT Unix seconds, PXAT Unix milliseconds), read by [`expiry_options`].
fn set_options(options: &[&[u8]]) -> Result<SetHow, &'static str> {
    let mut how = SetHow::PLAIN;
    let (expiry, keep_ttl) = expiry_options(options, b"keepttl", INVALID_SET_EXPIRY, |option| {
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"nx") && how.only != Only::IfPresent {
            how.only = Only::IfAbsent;
        } else if is(b"xx") && how.only != Only::IfAbsent {
            how.only = Only::IfPresent;
        } else if is(b"get") {
            how.reply = SetReply::Old;
        } else {
            return false;
        }
        true
    })?;
    how.expiry = match expiry {
        Some(expiry) => expiry,
        None if keep_ttl => Expiry::Keep,
        None => Expiry::Clear,
    };
    Ok(how)
}

/// GETEX's options after its key (PERSIST, or one of EX, PX, EXAT, PXAT and its amount), read
/// by [`read_expiry_options`]; `Keep` (the key's time unchanged) without an option. A syntax
/// error is the command's to answer, but an amount Redis refuses is the shard's: Redis looks
/// the key up before it reads the amount, so `GETEX nokey EX 0` is nil, not an error.
fn getex_options(options: &[&[u8]]) -> Result<Result<Expiry, ExpiryRefused>, &'static str> {
    Ok(match read_expiry_options(options, b"persist", |_| false)? {
        (Some((kind, amount)), _) => match integer(amount) {
            None => Err(ExpiryRefused::NotAnInteger),
            Some(amount) => kind.expiry(amount, INVALID_GETEX_EXPIRY).map_err(|_| ExpiryRefused::InvalidTime),
        },
        (None, true) => Ok(Expiry::Clear),
        (None, false) => Ok(Expiry::Keep),
    })
}

/// Reads the options of SET or GETEX as Redis 7 reads them: all of them first, in any case
/// and order (so a later one's syntax error wins over an earlier amount), an option given
/// twice counting once (of an expiry given twice, the last amount); two kinds of expiry, or
/// one with `flag` (KEEPTTL, PERSIST), are a syntax error; `other` takes the command's other
/// options (true if it took one). Then the amount, which must be positive and, in
/// milliseconds (and, for EX and PX, as the Unix time it ends at), fit an i64 (never
/// clamped to another time; `invalid` is the error if not). Returns the expiry given, if
/// any, and whether `flag` was.
fn expiry_options(
    options: &[&[u8]],
    flag: &[u8],
    invalid: &'static str,
    other: impl FnMut(&[u8]) -> bool,
) -> Result<(Option<Expiry>, bool), &'static str> {
    let (expiry, flagged) = read_expiry_options(options, flag, other)?;
    let expiry = match expiry {
        Some((kind, amount)) => Some(kind.expiry(integer(amount).ok_or(NOT_AN_INTEGER)?, invalid)?),
        None => None,
    };
    Ok((expiry, flagged))
}

/// An expiry option as given: its kind and its amount, unread.
type GivenExpiry<'a> = (ExpiryOption, &'a [u8]);

/// The syntax part of [`expiry_options`]: the kind of expiry given and its amount unread,
/// and whether `flag` was given.
fn read_expiry_options<'a>(
    options: &[&'a [u8]],
    flag: &[u8],
    mut other: impl FnMut(&[u8]) -> bool,
) -> Result<(Option<GivenExpiry<'a>>, bool), &'static str> {
    let (mut expiry, mut flagged): (Option<GivenExpiry<'a>>, bool) = (None, false);
    let mut options = options.iter();
    while let Some(option) = options.next() {
        if option.eq_ignore_ascii_case(flag) && expiry.is_none() {
            flagged = true;
        } else if let Some(kind) = ExpiryOption::parse(option) {
            if flagged || expiry.is_some_and(|(given, _)| given != kind) {
                return Err(SYNTAX);
            }
            expiry = Some((kind, *options.next().ok_or(SYNTAX)?));
        } else if !other(option) {
            return Err(SYNTAX);
        }
    }
    Ok((expiry, flagged))
}

/// The key of `MEMORY USAGE key [SAMPLES n]` (`args` after MEMORY, at least one), or Redis
/// 7's error: USAGE is the one subcommand here, and SAMPLES (which Redis uses to estimate
/// collections; a string is measured whole) must be a count, 0 or more.
fn memory_usage<'a>(args: &[&'a [u8]]) -> Result<&'a [u8], Vec<u8>> {
    let (sub, args) = args.split_first().ok_or(SYNTAX)?;
    if !sub.eq_ignore_ascii_case(b"usage") {
        return Err(session::unknown_subcommand(sub, "MEMORY"));
    }
    let (key, mut options) =
        args.split_first().ok_or(&b"ERR wrong number of arguments for 'memory|usage' command"[..])?;
    while let [option, rest @ ..] = options {
        let [samples, rest @ ..] = rest else { return Err(SYNTAX.into()) };
        if !option.eq_ignore_ascii_case(b"samples") {
            return Err(SYNTAX.into());
        }
        match integer(samples) {
            Some(0..) => {}
            Some(_) => return Err(SYNTAX.into()),
            None => return Err(NOT_AN_INTEGER.into()),
        }
        options = rest;
    }
    Ok(key)
}

/// EXPIRE's conditions after its time (NX, XX, GT, LT, in any case, each any number of
/// times), or Redis 7's error: for an option it does not know, and for NX with any other, or
/// GT with LT.
fn expire_conditions(options: &[&[u8]]) -> Result<ExpireIf, Vec<u8>> {
    let mut only = ExpireIf::default();
    for option in options {
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"nx") {
            only.no_time = true;
        } else if is(b"xx") {
            only.has_time = true;
        } else if is(b"gt") {
            only.later = true;
        } else if is(b"lt") {
            only.earlier = true;
        } else {
            // `%s`: the option whole, up to a NUL.
            return Err([&b"ERR Unsupported option "[..], replies::c_text(option, usize::MAX)].concat());
        }
    }
    if only.no_time && (only.has_time || only.later || only.earlier) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if only.later && only.earlier {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(only)
}

/// The options of SET and GETEX that take a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiryOption {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpiryOption {
    const NAMES: [(&[u8], ExpiryOption); 4] = [
        (b"ex", ExpiryOption::Ex),
        (b"px", ExpiryOption::Px),
        (b"exat", ExpiryOption::ExAt),
        (b"pxat", ExpiryOption::PxAt),
    ];

    fn parse(option: &[u8]) -> Option<ExpiryOption> {
        Self::NAMES.iter().find(|(name, _)| option.eq_ignore_ascii_case(name)).map(|&(_, kind)| kind)
    }

    /// The expiry `amount` of this option gives, or Redis' error for it (`invalid`, which
    /// names the command, for a time out of range).
    fn expiry(self, amount: i64, invalid: &'static str) -> Result<Expiry, &'static str> {
        let unit_ms = match self {
            ExpiryOption::Ex | ExpiryOption::ExAt => 1000,
            ExpiryOption::Px | ExpiryOption::PxAt => 1,
        };
        let ms = amount.checked_mul(unit_ms).filter(|&ms| ms > 0).ok_or(invalid)?;
        match self {
            ExpiryOption::Ex | ExpiryOption::Px if past_unix_time_end(ms) => Err(invalid),
            ExpiryOption::Ex | ExpiryOption::Px => Ok(Expiry::After(ms.unsigned_abs())),
            ExpiryOption::ExAt | ExpiryOption::PxAt => Ok(Expiry::At(ms.unsigned_abs())),
        }
    }
}

const INVALID_SET_EXPIRY: &str = "ERR invalid expire time in 'set' command";
const INVALID_GETEX_EXPIRY: &str = "ERR invalid expire time in 'getex' command";
const INVALID_SETEX_EXPIRY: &str = "ERR invalid expire time in 'setex' command";
const INVALID_PSETEX_EXPIRY: &str = "ERR invalid expire time in 'psetex' command";

/// Whether `ms` from now ends past the last Unix time in milliseconds an i64 holds: Redis
/// keeps deadlines so (`now + ms`) and refuses what would overflow there, so `PX i64::MAX`
/// is an error, not a deadline some 292 million years away. (EXPIRE and PEXPIRE take a
/// negative time: it deletes the key.)
fn past_unix_time_end(ms: i64) -> bool {
    ms > i64::MAX - i64::try_from(unix_now().as_millis()).unwrap_or(i64::MAX)
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

fn not_an_integer(out: &mut Vec<u8>) {
    replies::error(out, NOT_AN_INTEGER);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(words: &[&str]) -> Result<SetHow, &'static str> {
        set_options(&words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>())
    }

    fn how(only: Only, reply: SetReply, expiry: Expiry) -> Result<SetHow, &'static str> {
        Ok(SetHow { only, reply, expiry })
    }

    #[test]
    fn set_options_read_as_redis_7_reads_them() {
        use {Expiry::*, Only::*, SetReply::Old};
        let ok = SetReply::Ok;
        let cases: [(&[&str], Result<SetHow, &str>); 16] = [
            (&[], Ok(SetHow::PLAIN)),
            (&["nx"], how(IfAbsent, ok, Clear)),
            (&["XX", "get"], how(IfPresent, Old, Clear)),
            (&["Nx", "nX", "GET", "get"], how(IfAbsent, Old, Clear)),
            (&["keepttl"], how(Always, ok, Keep)),
            (&["KEEPTTL", "xx", "KeepTtl"], how(IfPresent, ok, Keep)),
            (&["ex", "10"], how(Always, ok, After(10_000))),
            (&["NX", "PX", "30000"], how(IfAbsent, ok, After(30_000))),
            (&["px", "5", "GET", "px", "7"], how(Always, Old, After(7))),
            (&["exat", "10"], how(Always, ok, At(10_000))),
            (&["PXAT", "1", "xx"], how(IfPresent, ok, At(1))),
            (&["exat", &(i64::MAX / 1000).to_string()], how(Always, ok, At((i64::MAX / 1000 * 1000) as u64))),
            (&["pxat", &i64::MAX.to_string()], how(Always, ok, At(i64::MAX as u64))),
            (&["ex", "abc", "ex", "1"], how(Always, ok, After(1000))),
            // An amount is an amount, even one that reads like an option.
            (&["ex", "nx"], Err(NOT_AN_INTEGER)),
            (&["px", "007"], Err(NOT_AN_INTEGER)),
        ];
        for (words, want) in cases {
            assert_eq!(options(words), want, "SET k v {words:?}");
        }
    }

    #[test]
    fn bad_set_options_get_redis_7s_errors() {
        let invalid = INVALID_SET_EXPIRY;
        let cases: [(&[&str], &str); 22] = [
            (&["nx", "xx"], SYNTAX),
            (&["xx", "nx"], SYNTAX),
            (&["keepttl", "ex", "10"], SYNTAX),
            (&["ex", "10", "keepttl"], SYNTAX),
            (&["pxat", "10", "keepttl"], SYNTAX),
            (&["ex", "10", "px", "10"], SYNTAX),
            (&["exat", "10", "ex", "10"], SYNTAX),
            (&["pxat", "10", "exat", "10"], SYNTAX),
            (&["px", "10", "pxat", "10"], SYNTAX),
            (&["ex"], SYNTAX),
            (&["ex", "5", "px"], SYNTAX),
            (&["nx", "ex", "abc", "px", "5"], SYNTAX), // the syntax error wins over the amount
            (&["forever"], SYNTAX),
            (&["nxx"], SYNTAX),
            (&["e"], SYNTAX),
            (&["exat", "abc"], NOT_AN_INTEGER),
            (&["ex", "0"], invalid),
            (&["px", "-1"], invalid),
            (&["exat", "0"], invalid),
            (&["ex", &(i64::MAX / 1000 + 1).to_string()], invalid),
            (&["exat", &(i64::MAX / 1000 + 1).to_string()], invalid),
            (&["px", &i64::MAX.to_string()], invalid), // its end, as a Unix time, overflows
        ];
        for (words, want) in cases {
            assert_eq!(options(words), Err(want), "SET k v {words:?}");
        }
    }

    /// The one operation `words` plans, and what was answered at once.
    fn planned<'a>(words: &[&'a str]) -> (Option<Op<'a>>, String) {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut out = Vec::new();
        let op = match plan(&args, 2, &mut out) {
            Plan::One(_, op) => Some(op),
            Plan::Answered => None,
            _ => panic!("{words:?}: neither one operation nor answered"),
        };
        (op, String::from_utf8(out).unwrap())
    }

    #[test]
    fn counters_are_one_operation_with_a_delta() {
        let delta = |words: &[&str]| match planned(words) {
            (Some(Op::Incr(key, delta)), out) if key.bytes == b"n" && out.is_empty() => delta,
            other => panic!("{words:?}: {other:?}"),
        };
        assert_eq!(delta(&["INCR", "n"]), 1);
        assert_eq!(delta(&["decr", "n"]), -1);
        assert_eq!(delta(&["incrby", "n", "-12"]), -12);
        assert_eq!(delta(&["DecrBy", "n", "12"]), -12);
        assert_eq!(delta(&["incrby", "n", &i64::MIN.to_string()]), i64::MIN);
        assert_eq!(delta(&["decrby", "n", &i64::MAX.to_string()]), -i64::MAX);
        let not_an_integer = format!("-{NOT_AN_INTEGER}\r\n");
        for (words, want) in [
            (&["decrby", "n", &i64::MIN.to_string()][..], "-ERR decrement would overflow\r\n"),
            (&["incrby", "n", "x"], &not_an_integer),
            (&["decrby", "n", "01"], &not_an_integer),
            (&["incrby", "n", "99999999999999999999"], &not_an_integer),
            (&["incrby", "n"], "-ERR wrong number of arguments for 'incrby' command\r\n"),
            (&["decr", "n", "1"], "-ERR wrong number of arguments for 'decr' command\r\n"),
        ] {
            assert_eq!(planned(words), (None, want.to_string()), "{words:?}");
        }
    }

    #[test]
    fn setnx_and_getset_are_set_with_options_and_a_plain_set_is_not() {
        let set = |words: &[&str]| match planned(words) {
            (Some(Op::SetWith { key, value, how }), out) if key.bytes == b"k" && value == b"v" && out.is_empty() => how,
            other => panic!("{words:?}: {other:?}"),
        };
        assert_eq!(set(&["setnx", "k", "v"]), SETNX);
        assert_eq!(set(&["GETSET", "k", "v"]), GETSET);
        assert_eq!(set(&["set", "k", "v", "nx"]), SetHow { only: Only::IfAbsent, ..SetHow::PLAIN });
        // Without options, the plain operation: it never looks at what was there.
        assert!(matches!(planned(&["SET", "k", "v"]), (Some(Op::Set { value: b"v", .. }), out) if out.is_empty()));
        let arity = "-ERR wrong number of arguments for 'setnx' command\r\n".to_string();
        assert_eq!(planned(&["setnx", "k", "v", "nx"]), (None, arity));
    }
}
