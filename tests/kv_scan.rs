//! The kv example's collection scans (HSCAN, SSCAN, ZSCAN), COPY and ZRANGESTORE, run
//! in-process on a two-core runtime and compared, reply for reply, with a redis-server 7.0
//! started beside it (`redis-server` on the PATH; the comparisons skip without one): the
//! same scripts sent to both, on keys of each core, errors included. The scans of big
//! collections, whose order is each server's table's, are compared as sets, and checked to
//! meet every member there for the whole scan while the collection grows and shrinks.

#[path = "../examples/kv/main.rs"]
#[allow(dead_code)]
mod kv;

#[allow(dead_code)] // the tables' runner: the scripts here run on two servers
mod reply_tables;
mod support;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use reply_tables::shown;
use ringpoll::Runtime;
use support::{two_core_runtime, KillOnDrop};

/// The runtime, built on a thread of its own (see tests/kv.rs for why).
fn runtime() -> Runtime {
    std::thread::spawn(two_core_runtime).join().unwrap()
}

fn start(rt: &Runtime) -> SocketAddr {
    let max = kv::admission::REDIS_MAX_CLIENTS;
    kv::start(rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, max).expect("kv server").addr
}

fn connect(addr: &str) -> Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

/// A redis-server of this test's own, on a free port, killed when dropped.
struct RedisServer {
    _child: KillOnDrop,
    addr: String,
}

/// Starts `redis-server` (no persistence) and waits, at most 10 s, until it takes a
/// connection; `None` if there is no `redis-server` to start.
fn redis_server() -> Option<RedisServer> {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    let child = Command::new("redis-server").args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let Ok(child) = child else {
        eprintln!("no redis-server on the PATH: skipping the comparison");
        return None;
    };
    let child = KillOnDrop(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen on {addr} within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(RedisServer { _child: child, addr })
}

/// Two keys owned by core 0, then two owned by core 1 (told by INFO's key counts as each
/// is set, then deleted).
fn keys_on_both_cores(con: &mut Connection, prefix: &str) -> [[String; 2]; 2] {
    let mut found: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 0..256 {
        let key = format!("{prefix}:{i}");
        let before = keys_per_core(con);
        let _: () = redis::cmd("SET").arg(&key).arg("probe").query(con).unwrap();
        let after = keys_per_core(con);
        let _: () = redis::cmd("DEL").arg(&key).query(con).unwrap();
        let core = (0..2).find(|&c| after[c] > before[c]).expect("a core got the key");
        if found[core].len() < 2 {
            found[core].push(key);
        }
        if found.iter().all(|keys| keys.len() == 2) {
            return found.map(|keys| [keys[0].clone(), keys[1].clone()]);
        }
    }
    panic!("256 keys and one core owns them all");
}

fn keys_per_core(con: &mut Connection) -> Vec<u64> {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info.lines().filter_map(|l| l.strip_prefix("keys:")).map(|n| n.trim().parse().unwrap()).collect()
}

/// `line` as a command: `{a}` and `{a2}` replaced by `keys[0]` (keys of one core), `{b}` and
/// `{b2}` by `keys[1]` (keys of the other).
fn request(line: &str, keys: &[[String; 2]; 2]) -> redis::Cmd {
    let mut words = line.split(' ').map(|w| {
        w.replace("{a2}", &keys[0][1])
            .replace("{a}", &keys[0][0])
            .replace("{b2}", &keys[1][1])
            .replace("{b}", &keys[1][0])
    });
    let mut cmd = redis::cmd(&words.next().unwrap());
    words.for_each(|w| {
        cmd.arg(w);
    });
    cmd
}

/// Both servers, and kv's keys of each core (named alike on redis-server).
struct Pair {
    kv: Connection,
    redis: Connection,
    keys: [[String; 2]; 2],
    _server: RedisServer,
}

/// kv on a two-core runtime and a redis-server beside it; `None` without a redis-server.
fn pair(rt: &Runtime, prefix: &str) -> Option<Pair> {
    let server = redis_server()?;
    let mut kv = connect(&start(rt).to_string());
    let keys = keys_on_both_cores(&mut kv, prefix);
    let redis = connect(&server.addr);
    Some(Pair { kv, redis, keys, _server: server })
}

impl Pair {
    /// Sends each line of `script` to both servers (keys of core 0 as `{a}`, then again with
    /// the cores swapped), one at a time, then all in one pipeline, and asserts the same
    /// replies.
    fn same_replies(&mut self, script: &[&str]) {
        for (swapped, pipelined) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut keys = self.keys.clone();
            if swapped {
                keys.swap(0, 1);
            }
            let run = |con: &mut Connection| -> Vec<String> {
                for key in keys.iter().flatten() {
                    let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
                }
                if !pipelined {
                    return script.iter().map(|line| shown(request(line, &keys).query::<Value>(con))).collect();
                }
                let mut pipe = redis::pipe();
                script.iter().for_each(|line| _ = pipe.add_command(request(line, &keys)));
                let replies: Vec<redis::RedisResult<Value>> = pipe.ignore_errors().query(con).unwrap();
                replies.into_iter().map(shown).collect()
            };
            let (want, got) = (run(&mut self.redis), run(&mut self.kv));
            for ((line, want), got) in script.iter().zip(want).zip(got) {
                assert_eq!(got, want, "{line} (keys {keys:?}, pipelined: {pipelined})");
            }
        }
    }
}

/// Small collections, answered whole with cursor 0 in Redis' order (a hash's fields as
/// they came, an intset ascending, a sorted set by score), MATCH, and the errors in the
/// order Redis finds them: the cursor, then the key's type (no key: an empty scan, whatever
/// the options), then the options.
const SMALL_SCANS: &[&str] = &[
    "HSET {a} f1 1 f2 2 g 3 f0 0",
    "HSCAN {a} 0",
    "HSCAN {a} 0 MATCH f*",
    "HSCAN {a} 0 match f? COUNT 1",
    "HSCAN {a} 0 COUNT 1 MATCH x* COUNT 5",
    "HSCAN {a} 123",
    "HSCAN {a} 0 COUNT 0",
    "HSCAN {a} 0 COUNT -1",
    "HSCAN {a} 0 COUNT x",
    "HSCAN {a} 0 COUNT 01",
    "HSCAN {a} 0 COUNT",
    "HSCAN {a} 0 MATCH",
    "HSCAN {a} 0 TYPE hash",
    "HSCAN {a} 0 NOVALUES",
    "HSCAN {a} 0 FOO bar",
    "HSCAN {a} x",
    "HSCAN {a} 1.5",
    "HSCAN {a} -1",
    "HSCAN {a} 18446744073709551616",
    "HSCAN {a}",
    "HSCAN",
    "HSCAN {b} 0",
    "HSCAN {b} 0 COUNT 0",
    "HSCAN {b} x",
    "SSCAN {a} 0",
    "ZSCAN {a} 0 COUNT 0",
    "SSCAN {a} x",
    "SADD {b} 10 -3 7 100 0 -20",
    "SSCAN {b} 0",
    "SSCAN {b} 0 MATCH 1*",
    "SSCAN {b} 0 COUNT 2",
    "SSCAN {b} 0 COUNT 0",
    "SSCAN {b} 0 TYPE set",
    "SSCAN {b} nope",
    "SSCAN {b}",
    "HSCAN {b} 0",
    "SREM {b} 10 -3 7 100 0",
    "SSCAN {b} 0",
    "SADD {a2} solo",
    "SSCAN {a2} 0",
    "SSCAN {a2} 0 MATCH s*o",
    "SSCAN {a2} 0 MATCH x",
    "ZADD {b2} 1.5 a 0.1 b 1e20 c inf d -0 e 3 f -inf g 2 h",
    "ZSCAN {b2} 0",
    "ZSCAN {b2} 0 MATCH [a-c]",
    "ZSCAN {b2} 0 COUNT 1",
    "ZSCAN {b2} 0 COUNT 0",
    "ZSCAN {b2} 0 TYPE zset",
    "ZSCAN {b2} abc",
    "ZSCAN {b2}",
    "SSCAN {b2} 0",
    "ZSCAN nokey 0",
    "SET {a} text",
    "HSCAN {a} 0",
    "SSCAN {a} 0 COUNT 0",
    "ZSCAN {a} 0 MATCH *",
    "HSCAN {a} bad",
];

#[test]
fn small_collections_scan_as_redis_does_on_both_cores() {
    let rt = runtime();
    let Some(mut both) = pair(&rt, "scan-small") else { return };
    both.same_replies(SMALL_SCANS);
}

/// A whole scan of `key` by `command` at COUNT `count`, calling `between` after each call
/// (with the next cursor); every element (a hash's field, a sorted set's member) met, and
/// the calls it took. At most 100,000 calls.
fn scan_all(
    con: &mut Connection,
    command: &str,
    key: &str,
    count: usize,
    mut between: impl FnMut(&mut Connection, u64),
) -> (BTreeSet<String>, usize) {
    let (mut cursor, mut met, mut calls) = (0u64, BTreeSet::new(), 0);
    let pairs = command != "SSCAN";
    loop {
        let (next, items): (String, Vec<String>) =
            redis::cmd(command).arg(key).arg(cursor).arg("COUNT").arg(count).query(con).unwrap();
        calls += 1;
        assert!(calls < 100_000, "{command} {key} did not end");
        met.extend(items.iter().step_by(if pairs { 2 } else { 1 }).cloned());
        cursor = next.parse().unwrap();
        if cursor == 0 {
            return (met, calls);
        }
        between(con, cursor);
    }
}

/// The commands that fill a collection of each type with `n` elements named `{prefix}{i}`.
fn fill(kind: &str, key: &str, prefix: &str, range: std::ops::Range<usize>) -> redis::Cmd {
    let mut cmd = redis::cmd(match kind {
        "HSCAN" => "HSET",
        "SSCAN" => "SADD",
        _ => "ZADD",
    });
    cmd.arg(key);
    for i in range {
        match kind {
            "SSCAN" => cmd.arg(format!("{prefix}{i}")),
            "HSCAN" => cmd.arg(format!("{prefix}{i}")).arg(i),
            _ => cmd.arg(i as f64 / 3.0).arg(format!("{prefix}{i}")),
        };
    }
    cmd
}

/// Big collections (past Redis' listpack and intset sizes) on both cores: a whole scan
/// takes several calls and meets every element, on kv as on redis-server (compared as
/// sets: the order is each server's table's); redis' own iterators agree; MATCH filters;
/// a scan of a collection that grows by 100 elements and loses 40 between calls meets every
/// element that was there throughout.
#[test]
fn big_collections_scan_every_element_as_redis_does() {
    let rt = runtime();
    let mut kv = connect(&start(&rt).to_string());
    let keys = keys_on_both_cores(&mut kv, "scan-big");
    let server = redis_server();
    let mut redis = server.as_ref().map(|s| connect(&s.addr));
    for key in keys.iter().flatten() {
        for kind in ["HSCAN", "SSCAN", "ZSCAN"] {
            let _: () = redis::cmd("DEL").arg(key).query(&mut kv).unwrap();
            let _: () = fill(kind, key, "m", 0..2000).query(&mut kv).unwrap();
            let all: BTreeSet<String> = (0..2000).map(|i| format!("m{i}")).collect();
            let (met, calls) = scan_all(&mut kv, kind, key, 10, |_, _| {});
            assert_eq!(met, all, "{kind} {key}");
            assert!(calls > 20, "{kind} {key}: a big collection in {calls} calls");
            if let Some(redis) = redis.as_mut() {
                let _: () = redis::cmd("DEL").arg(key).query(redis).unwrap();
                let _: () = fill(kind, key, "m", 0..2000).query(redis).unwrap();
                assert_eq!(scan_all(redis, kind, key, 10, |_, _| {}).0, met, "{kind} {key} as on redis-server");
                let matching = |con: &mut Connection| {
                    let reply: (String, Vec<String>) = redis::cmd(kind)
                        .arg(key)
                        .arg(0)
                        .arg("MATCH")
                        .arg("m19*")
                        .arg("COUNT")
                        .arg(100_000)
                        .query(con)
                        .unwrap();
                    (reply.0, reply.1.into_iter().collect::<BTreeSet<String>>())
                };
                assert_eq!(matching(&mut kv), matching(redis), "{kind} {key} MATCH m19* COUNT 100000");
            }
            if kind == "HSCAN" {
                // As a client iterates: the redis crate's own iterator, fields and values.
                let iter: redis::Iter<String> = redis::Commands::hscan(&mut kv, key).unwrap();
                let items: BTreeSet<String> = iter.map(|item| item.unwrap()).collect();
                assert!(all.iter().all(|f| items.contains(f)), "hscan's iterator, {key}");
            }
            let refused = redis::cmd(kind).arg(key).arg(0).arg("COUNT").arg(0).query::<Value>(&mut kv);
            assert_eq!(shown(refused), "ERR syntax error", "{kind} {key} COUNT 0");
        }
    }
    for key in keys.iter().flatten() {
        for kind in ["HSCAN", "SSCAN", "ZSCAN"] {
            let _: () = redis::cmd("DEL").arg(key).query(&mut kv).unwrap();
            let _: () = fill(kind, key, "stay", 0..1000).query(&mut kv).unwrap();
            let _: () = fill(kind, key, "gone", 0..4000).query(&mut kv).unwrap();
            let (mut added, mut removed) = (0, 0);
            let (met, _) = scan_all(&mut kv, kind, key, 20, |con, _| {
                let _: () = fill(kind, key, "new", added..added + 100).query(con).unwrap();
                added += 100;
                let remove = if kind == "HSCAN" {
                    "HDEL"
                } else if kind == "SSCAN" {
                    "SREM"
                } else {
                    "ZREM"
                };
                let mut cmd = redis::cmd(remove);
                cmd.arg(key);
                (removed..removed + 40).for_each(|i| {
                    cmd.arg(format!("gone{i}"));
                });
                removed += 40;
                let _: () = cmd.query(con).unwrap();
            });
            let missed: Vec<String> = (0..1000).map(|i| format!("stay{i}")).filter(|m| !met.contains(m)).collect();
            assert!(missed.is_empty(), "{kind} {key}: grown by {added}, shrunk by {removed}, missed {missed:?}");
        }
    }
}

/// COPY of each type, on one core (`{a}` to `{a2}`) and across cores (`{a}` to `{b}`): the
/// value, its expiry (an EXAT time, given back exactly), REPLACE, and the refusals in Redis'
/// order (DB 16 and -1 are out of range on redis-server too; kv has database 0 alone).
const COPIES: &[&str] = &[
    "SET {a} hello",
    "COPY {a} {b}",
    "GET {b}",
    "COPY {a} {b}",
    "COPY {a} {b} REPLACE",
    "COPY {a} {a2}",
    "GET {a2}",
    "COPY {a} {a}",
    "COPY {a} {a} REPLACE",
    "COPY {a} {b} DB 0 REPLACE replace",
    "COPY {a} {b} DB 16",
    "COPY {a} {b} DB -1",
    "COPY {a} {a} DB 16",
    "COPY {a} {b} DB x",
    "COPY {a} {b} DB 99999999999",
    "COPY {a} {b} DB",
    "COPY {a} {b} FOO",
    "COPY {a}",
    "COPY",
    "COPY {b2} {b} REPLACE",
    "GET {b}",
    "DEL {b} {a2}",
    "SET {a} v EXAT 4102444800",
    "COPY {a} {b}",
    "EXPIRETIME {b}",
    "COPY {a} {a2}",
    "EXPIRETIME {a2}",
    "HSET {a} f1 v1 f2 v2 f3 v3",
    "COPY {a} {b} REPLACE",
    "EXPIRETIME {b}",
    "HGETALL {b}",
    "RPUSH {b2} x y z x",
    "COPY {b2} {a} REPLACE",
    "LRANGE {a} 0 -1",
    "SADD {a2} m",
    "COPY {a2} {b} REPLACE",
    "SMEMBERS {b}",
    "ZADD {b} 1 a 2.5 b 3 c -1 d 1e300 e 0.1 f",
    "COPY {b} {a} REPLACE",
    "ZRANGE {a} 0 -1 WITHSCORES",
    "COPY {b} {b2} REPLACE",
    "ZRANGE {b2} 0 -1 WITHSCORES",
    "ZADD {a} 5 g",
    "ZCARD {b}",
    "GET {b}",
    "COPY {a} {b}",
    "HSET {b} f v",
    "COPY {a2} {b}",
    "TYPE {b}",
];

/// ZRANGESTORE on one core and across cores: by rank, BYSCORE, BYLEX, REV, LIMIT; nothing
/// taken (the destination deleted), a destination of another type or with an expiry
/// replaced, a source of another type, and the refusals in Redis' order.
const RANGE_STORES: &[&str] = &[
    "ZADD {a} 1 a 2.5 b 3 c -1 d 3 e",
    "ZRANGESTORE {b} {a} 0 -1",
    "ZRANGE {b} 0 -1 WITHSCORES",
    "ZRANGESTORE {a2} {a} 1 2",
    "ZRANGE {a2} 0 -1 WITHSCORES",
    "ZRANGESTORE {b} {a} 1 3 BYSCORE",
    "ZRANGE {b} 0 -1 WITHSCORES",
    "ZRANGESTORE {b} {a} +inf (1 BYSCORE REV LIMIT 0 2",
    "ZRANGE {b} 0 -1 WITHSCORES",
    "ZRANGESTORE {b} {a} -2 -1 REV",
    "ZRANGE {b} 0 -1",
    "ZADD {b2} 0 a 0 b 0 c 0 d",
    "ZRANGESTORE {a} {b2} [b + BYLEX",
    "ZRANGE {a} 0 -1",
    "ZRANGESTORE {a} {b2} + - BYLEX REV LIMIT 1 2",
    "ZRANGE {a} 0 -1",
    "ZRANGESTORE {b} {b2} 0 -1 WITHSCORES",
    "ZRANGESTORE {b} {b2} 0 -1 LIMIT 0 1",
    "ZRANGESTORE {b} {b2} x 1",
    "ZRANGESTORE {b} {b2} 0 1 BYSCORE LIMIT x 1",
    "ZRANGESTORE {b} {b2} a b BYSCORE",
    "ZRANGESTORE {b} {b2} a b BYLEX",
    "ZRANGESTORE {b} {b2} 0 1 BYSCORE BYLEX",
    "ZRANGESTORE {b} {b2} 5 10",
    "EXISTS {b}",
    "SET {b} text EX 100",
    "ZRANGESTORE {b} {b2} 0 0",
    "TYPE {b}",
    "TTL {b}",
    "ZRANGESTORE {b} nokey 0 -1",
    "EXISTS {b}",
    "SET {a2} text",
    "ZRANGESTORE {b} {a2} 0 -1",
    "ZRANGESTORE {b} {a2} x -1",
    "ZRANGESTORE {b} {b2} 0",
    "ZRANGESTORE {b2} {b2} 1 2",
    "ZRANGE {b2} 0 -1",
];

#[test]
fn copy_and_zrangestore_answer_as_redis_does_on_one_core_and_across() {
    let rt = runtime();
    let Some(mut both) = pair(&rt, "copy") else { return };
    both.same_replies(COPIES);
    both.same_replies(RANGE_STORES);
}

/// A big collection of each type copied across cores arrives whole; inside EXEC, COPY runs
/// on one core, and across two when the connection's core owns the source (the lift runs
/// there and then), and is refused when another core does (EXEC cannot wait for the lift):
/// of `a` to `b` and `b` to `a`, one runs and one is refused, whichever core serves the
/// connection; the other requests run.
#[test]
fn big_values_travel_and_exec_copies_on_one_core() {
    let rt = runtime();
    let mut kv = connect(&start(&rt).to_string());
    let [[a, a2], [b, _]] = keys_on_both_cores(&mut kv, "copy-big");
    for kind in ["HSCAN", "SSCAN", "ZSCAN"] {
        let _: () = redis::cmd("DEL").arg(&a).arg(&b).query(&mut kv).unwrap();
        let _: () = fill(kind, &a, "m", 0..3000).query(&mut kv).unwrap();
        let copied: i64 = redis::cmd("COPY").arg(&a).arg(&b).query(&mut kv).unwrap();
        assert_eq!(copied, 1, "{kind}");
        let (source, _) = scan_all(&mut kv, kind, &a, 1000, |_, _| {});
        let (copy, _) = scan_all(&mut kv, kind, &b, 1000, |_, _| {});
        assert_eq!((copy.len(), &copy), (3000, &source), "{kind}");
    }
    let mut exec = redis::pipe();
    exec.atomic().cmd("SET").arg(&a).arg("v").cmd("COPY").arg(&a).arg(&a2).arg("REPLACE");
    exec.cmd("COPY").arg(&a).arg(&b).arg("REPLACE").cmd("COPY").arg(&b).arg(&a).arg("REPLACE");
    exec.cmd("GET").arg(&a2);
    let replies: Vec<redis::RedisResult<Value>> = exec.ignore_errors().query(&mut kv).unwrap();
    let mut shown_all: Vec<String> = replies.into_iter().map(shown).collect();
    assert_eq!(shown_all.len(), 5, "{shown_all:?}");
    shown_all[2..4].sort();
    let crossslot = "CROSSSLOT Keys in request don't hash to the same slot";
    assert_eq!(shown_all, ["OK", "1", "1", crossslot, "\"v\""]);
}
