//! The kv example's hashes, lists, sets and sorted sets, run in-process on a two-core
//! runtime and driven by the `redis` crate: each command table holds redis-server 7.0.15's
//! replies (`tables_are_redis_servers_replies` checks them against one), compared on a key
//! of each core, alone and pipelined; the keyspace commands on collections; and
//! redis-benchmark's default run, which stopped at LPUSH before these types.

#[path = "../examples/kv/main.rs"]
#[allow(dead_code)]
mod kv;

mod reply_tables;
mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use redis::{Commands, Connection, Value};
use reply_tables::{answers_as_table, request, shown};
use ringpoll::Runtime;
use support::{two_core_runtime, wait_within, KillOnDrop};

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

/// A connection to `addr` and two keys starting with `prefix`, the first owned by core 0
/// and the second by core 1 (told by INFO's key counts as each is set, then deleted).
fn keys_on_both_cores(addr: SocketAddr, prefix: &str) -> (Connection, [String; 2]) {
    let mut con = connect(&addr.to_string());
    let mut found: [Option<String>; 2] = [None, None];
    for i in 0..64 {
        let key = format!("{prefix}:{i}");
        let before = keys_per_core(&mut con);
        let _: () = con.set(&key, "probe").unwrap();
        let after = keys_per_core(&mut con);
        let _: () = con.del(&key).unwrap();
        let core = (0..2).find(|&c| after[c] > before[c]).expect("a core got the key");
        found[core].get_or_insert(key);
        if let [Some(a), Some(b)] = &found {
            return (con, [a.clone(), b.clone()]);
        }
    }
    panic!("64 keys and one core owns them all");
}

fn keys_per_core(con: &mut Connection) -> Vec<u64> {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info.lines().filter_map(|l| l.strip_prefix("keys:")).map(|n| n.trim().parse().unwrap()).collect()
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Hashes, and the string commands on a hash; replies from redis-server 7.0.15 (the order
/// of several fields in `HASH_ORDER`).
const HASHES: &[(&str, &str)] = &[
    ("HSET {k} a 1 b 2", "2"),
    ("HSET {k} a 3 c 4", "1"),
    ("HGET {k} a", "\"3\""),
    ("HGET {k} zz", "nil"),
    ("HMGET {k} a zz c", "[\"3\" nil \"4\"]"),
    ("HLEN {k}", "3"),
    ("HEXISTS {k} b", "1"),
    ("HEXISTS {k} zz", "0"),
    ("HSTRLEN {k} a", "1"),
    ("HSETNX {k} a 9", "0"),
    ("HSETNX {k} d 9", "1"),
    ("HINCRBY {k} d 5", "14"),
    ("HINCRBY {k} n -2", "-2"),
    ("HINCRBY {k} n x", "ERR value is not an integer or out of range"),
    ("HINCRBY {k} n 9223372036854775807", "9223372036854775805"),
    ("HMSET {k} s abc", "OK"),
    ("HINCRBY {k} s 1", "ERR hash value is not an integer"),
    ("HINCRBYFLOAT {k} fl 10.5", "\"10.5\""),
    ("HINCRBYFLOAT {k} fl 0.1", "\"10.6\""),
    ("HINCRBYFLOAT {k} fl inf", "ERR value is NaN or Infinity"),
    ("HINCRBYFLOAT {k} fl x", "ERR value is not a valid float"),
    ("HINCRBYFLOAT {k} s 1", "ERR hash value is not a float"),
    ("HINCRBYFLOAT {k} fl", "ERR wrong number of arguments for 'hincrbyfloat' command"),
    ("HDEL {k} fl", "1"),
    ("HSET {k} a", "ERR wrong number of arguments for 'hset' command"),
    ("HMSET {k} a 1 b", "ERR wrong number of arguments for 'hmset' command"),
    ("HGET {k}", "ERR wrong number of arguments for 'hget' command"),
    ("HGETALL {k} x", "ERR wrong number of arguments for 'hgetall' command"),
    ("TYPE {k}", "hash"),
    ("GET {k}", WRONGTYPE),
    ("SET {k} v GET", WRONGTYPE),
    ("GETSET {k} v", WRONGTYPE),
    ("APPEND {k} x", WRONGTYPE),
    ("STRLEN {k}", WRONGTYPE),
    ("GETRANGE {k} 0 1", WRONGTYPE),
    ("SETRANGE {k} 0 x", WRONGTYPE),
    ("INCR {k}", WRONGTYPE),
    ("INCRBYFLOAT {k} 1", WRONGTYPE),
    ("GETDEL {k}", WRONGTYPE),
    ("GETEX {k}", WRONGTYPE),
    ("GETEX {k} PERSIST", WRONGTYPE),
    ("LPUSH {k} a", WRONGTYPE),
    ("SADD {k} a", WRONGTYPE),
    ("ZADD {k} 1 a", WRONGTYPE),
    ("EXPIRE {k} 100", "1"),
    ("HSET {k} e 5", "1"),
    ("TTL {k}", "100"),
    ("PERSIST {k}", "1"),
    ("EXISTS {k}", "1"),
    ("SETNX {k} v", "0"),
    ("MGET {k}", "[nil]"),
    ("HDEL {k} a b c d e n s zz", "7"),
    ("EXISTS {k}", "0"),
    ("HGETALL {k}", "[]"),
    ("HKEYS {k}", "[]"),
    ("HLEN {k}", "0"),
    ("HSET {k} only 1", "1"),
    ("HGETALL {k}", "[\"only\" \"1\"]"),
    ("HKEYS {k}", "[\"only\"]"),
    ("HVALS {k}", "[\"1\"]"),
    ("RENAME {k} {k}", "OK"),
    ("SET {k} v XX", "OK"),
    ("TYPE {k}", "string"),
    ("HGET {k} only", WRONGTYPE),
    ("HINCRBYFLOAT {k} f x", "ERR value is not a valid float"),
    ("HINCRBYFLOAT {k} f 1", WRONGTYPE),
    ("DEL {k}", "1"),
];

/// A small hash's fields in the order they came, as redis-server 7.0.15 answers (its listpack:
/// at most 512 fields, none and no value over 64 bytes): whatever command brought a field,
/// overwrites and increments in place, HDEL closing the gap, a 64-byte value still small.
const HASH_ORDER: &[(&str, &str)] = &[
    ("HSET {k} c 1 a 2 b 3", "3"),
    ("HSET {k} a 9 d 4", "1"),
    ("HSETNX {k} z 1", "1"),
    ("HSETNX {k} a 7", "0"),
    ("HINCRBY {k} y 5", "5"),
    ("HINCRBY {k} b 5", "8"),
    ("HINCRBYFLOAT {k} x 1.5", "\"1.5\""),
    ("HINCRBYFLOAT {k} c 0.25", "\"1.25\""),
    ("HDEL {k} c q", "1"),
    ("HSET {k} c 0 a 1 a 2", "1"),
    ("HMSET {k} e 1 b 0", "OK"),
    (
        "HGETALL {k}",
        "[\"a\" \"2\" \"b\" \"0\" \"d\" \"4\" \"z\" \"1\" \"y\" \"5\" \"x\" \"1.5\" \"c\" \"0\" \"e\" \"1\"]",
    ),
    ("HKEYS {k}", "[\"a\" \"b\" \"d\" \"z\" \"y\" \"x\" \"c\" \"e\"]"),
    ("HVALS {k}", "[\"2\" \"0\" \"4\" \"1\" \"5\" \"1.5\" \"0\" \"1\"]"),
    ("HSET {k} m yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "1"),
    ("HSET {k} a 3", "0"),
    ("HKEYS {k}", "[\"a\" \"b\" \"d\" \"z\" \"y\" \"x\" \"c\" \"e\" \"m\"]"),
    ("HDEL {k} a b d z y x c e m", "9"),
    ("EXISTS {k}", "0"),
    ("HSET {k} b 1 a 2", "2"),
    ("HGETALL {k}", "[\"b\" \"1\" \"a\" \"2\"]"),
    ("DEL {k}", "1"),
];

/// Lists, and the other types' commands on a list; replies from redis-server 7.0.15.
const LISTS: &[(&str, &str)] = &[
    ("RPUSH {k} b c", "2"),
    ("LPUSH {k} a z", "4"),
    ("LRANGE {k} 0 -1", "[\"z\" \"a\" \"b\" \"c\"]"),
    ("LRANGE {k} -2 100", "[\"b\" \"c\"]"),
    ("LRANGE {k} 3 1", "[]"),
    ("LRANGE {k} x 1", "ERR value is not an integer or out of range"),
    ("LINDEX {k} -1", "\"c\""),
    ("LINDEX {k} 0", "\"z\""),
    ("LINDEX {k} 9", "nil"),
    ("LINDEX {k} x", "ERR value is not an integer or out of range"),
    ("LLEN {k}", "4"),
    ("TYPE {k}", "list"),
    ("LPOP {k}", "\"z\""),
    ("RPOP {k} 0", "[]"),
    ("RPOP {k} 2", "[\"c\" \"b\"]"),
    ("LPOP {k} -1", "ERR value is out of range, must be positive"),
    ("LPOP {k} x", "ERR value is out of range, must be positive"),
    ("LPOP {k} 1 2", "ERR wrong number of arguments for 'lpop' command"),
    ("LRANGE {k} 0", "ERR wrong number of arguments for 'lrange' command"),
    ("HGET {k} a", WRONGTYPE),
    ("SPOP {k}", WRONGTYPE),
    ("ZSCORE {k} a", WRONGTYPE),
    ("GET {k}", WRONGTYPE),
    ("INCR {k}", WRONGTYPE),
    ("LPOP {k} 5", "[\"a\"]"),
    ("EXISTS {k}", "0"),
    ("LPOP {k}", "nil"),
    ("LPOP {k} 2", "nil"),
    ("RPOP {k} 0", "nil"),
    ("LINDEX {k} x", "nil"),
    ("LLEN {k}", "0"),
    ("LRANGE {k} 0 -1", "[]"),
    ("SET {k} v", "OK"),
    ("LPUSH {k} a", WRONGTYPE),
    ("LLEN {k}", WRONGTYPE),
    ("LPOP {k} -1", "ERR value is out of range, must be positive"),
    ("LINDEX {k} x", WRONGTYPE),
    ("LRANGE {k} x 0", "ERR value is not an integer or out of range"),
    ("DEL {k}", "1"),
    ("LPUSH {k}", "ERR wrong number of arguments for 'lpush' command"),
    ("RPUSH {k} a", "1"),
    ("EXPIRE {k} 100", "1"),
    ("RPUSH {k} b", "2"),
    ("TTL {k}", "100"),
    ("RPOP {k} 2", "[\"b\" \"a\"]"),
    ("TTL {k}", "-2"),
    ("RPUSH {k} a b c a b a", "6"),
    ("LSET {k} x y", "ERR value is not an integer or out of range"),
    ("LSET {k} 9 y", "ERR index out of range"),
    ("LSET {k} -1 z", "OK"),
    ("LREM {k} x a", "ERR value is not an integer or out of range"),
    ("LREM {k} -1 a", "1"),
    ("LRANGE {k} 0 -1", "[\"a\" \"b\" \"c\" \"b\" \"z\"]"),
    ("LREM {k} 0 a", "1"),
    ("LREM {k} 1 b", "1"),
    ("LTRIM {k} x 1", "ERR value is not an integer or out of range"),
    ("LTRIM {k} 1 -1", "OK"),
    ("LRANGE {k} 0 -1", "[\"b\" \"z\"]"),
    ("LTRIM {k} 5 1", "OK"),
    ("EXISTS {k}", "0"),
    ("LSET {k} 0 x", "ERR no such key"),
    ("LSET {k} x y", "ERR no such key"),
    ("LTRIM {k} 0 1", "OK"),
    ("LREM {k} 1 a", "0"),
    ("LSET {k} 0", "ERR wrong number of arguments for 'lset' command"),
    ("SET {k} v", "OK"),
    ("LSET {k} x y", WRONGTYPE),
    ("LTRIM {k} x 1", "ERR value is not an integer or out of range"),
    ("LREM {k} x a", "ERR value is not an integer or out of range"),
    ("LREM {k} 1 a", WRONGTYPE),
    ("DEL {k}", "1"),
];

/// Sets; replies from redis-server 7.0.15 (one member where the order of several would be
/// the table's, and SPOP only where it has one member to pick).
const SETS: &[(&str, &str)] = &[
    ("SADD {k} a b a", "2"),
    ("SADD {k} b c", "1"),
    ("SCARD {k}", "3"),
    ("SISMEMBER {k} c", "1"),
    ("SISMEMBER {k} x", "0"),
    ("SREM {k} a x", "1"),
    ("TYPE {k}", "set"),
    ("SPOP {k} 0", "[]"),
    ("SPOP {k} -1", "ERR value is out of range, must be positive"),
    ("SPOP {k} x", "ERR value is out of range, must be positive"),
    ("SPOP {k} 1 2", "ERR syntax error"),
    ("SREM {k} b", "1"),
    ("SMEMBERS {k}", "[\"c\"]"),
    ("HSET {k} a 1", WRONGTYPE),
    ("LLEN {k}", WRONGTYPE),
    ("STRLEN {k}", WRONGTYPE),
    ("SPOP {k}", "\"c\""),
    ("EXISTS {k}", "0"),
    ("SPOP {k}", "nil"),
    ("SPOP {k} 3", "[]"),
    ("SMEMBERS {k}", "[]"),
    ("SCARD {k}", "0"),
    ("SADD {k} only", "1"),
    ("SPOP {k} 5", "[\"only\"]"),
    ("EXISTS {k}", "0"),
    ("SADD {k}", "ERR wrong number of arguments for 'sadd' command"),
    ("SMEMBERS {k} x", "ERR wrong number of arguments for 'smembers' command"),
    ("SET {k} v", "OK"),
    ("SADD {k} a", WRONGTYPE),
    ("SPOP {k} -2", "ERR value is out of range, must be positive"),
    ("SPOP {k} 2", WRONGTYPE),
    ("SISMEMBER {k} a", WRONGTYPE),
    ("DEL {k}", "1"),
    ("SRANDMEMBER {k}", "nil"),
    ("SRANDMEMBER {k} 2", "[]"),
    ("SRANDMEMBER {k} x", "ERR value is not an integer or out of range"),
    ("SRANDMEMBER {k} 1 2", "ERR syntax error"),
    ("SADD {k} a", "1"),
    ("SRANDMEMBER {k}", "\"a\""),
    ("SRANDMEMBER {k} -3", "[\"a\" \"a\" \"a\"]"),
    ("SRANDMEMBER {k} 3", "[\"a\"]"),
    ("SRANDMEMBER {k} 0", "[]"),
    ("SCARD {k}", "1"),
    ("SET {k} v", "OK"),
    ("SRANDMEMBER {k}", WRONGTYPE),
    ("SRANDMEMBER {k} x", "ERR value is not an integer or out of range"),
    ("SRANDMEMBER {k} 2", WRONGTYPE),
    ("DEL {k}", "1"),
];

/// Sorted sets, and scores written as redis-server 7.0.15 writes them.
const SORTED_SETS: &[(&str, &str)] = &[
    ("ZADD {k} 1 a 1.5 b inf c", "3"),
    ("ZADD {k} 2 a 0.5 d", "1"),
    ("ZSCORE {k} a", "\"2\""),
    ("ZSCORE {k} x", "nil"),
    ("ZCARD {k}", "4"),
    ("ZRANGE {k} 0 -1", "[\"d\" \"b\" \"a\" \"c\"]"),
    ("ZRANGE {k} 0 1 WITHSCORES", "[\"d\" \"0.5\" \"b\" \"1.5\"]"),
    ("ZRANGE {k} 0 0 REV WITHSCORES", "[\"c\" \"inf\"]"),
    ("ZRANGE {k} -2 -1 withscores", "[\"a\" \"2\" \"c\" \"inf\"]"),
    ("ZRANGE {k} 0 1 foo", "ERR syntax error"),
    ("ZRANGE {k} x 1", "ERR value is not an integer or out of range"),
    ("ZADD {k} CH 2 a 3 b", "1"),
    ("ZADD {k} INCR 5 a", "\"7\""),
    ("ZADD {k} NX INCR 5 a", "nil"),
    ("ZADD {k} XX INCR 1 nope", "nil"),
    ("ZADD {k} GT 1 a", "0"),
    ("ZADD {k} GT CH 8 a", "1"),
    ("ZADD {k} LT CH 9 a", "0"),
    ("ZADD {k} XX 1 new", "0"),
    ("ZADD {k} 1 a 2", "ERR syntax error"),
    ("ZADD {k} nan a", "ERR value is not a valid float"),
    ("ZADD {k} 1x a", "ERR value is not a valid float"),
    ("ZADD {k} 1e500 a", "ERR value is not a valid float"),
    ("ZADD {k} 1e-500 a", "ERR value is not a valid float"),
    ("ZADD {k} 1.5e-320 tiny 0e10 zero", "2"),
    ("ZSCORE {k} tiny", "\"1.4999833007740245e-320\""),
    ("ZREM {k} tiny zero", "2"),
    ("ZADD {k} NX XX 1 a", "ERR XX and NX options at the same time are not compatible"),
    ("ZADD {k} GT LT 1 a", "ERR GT, LT, and/or NX options at the same time are not compatible"),
    ("ZADD {k} NX GT 1 a", "ERR GT, LT, and/or NX options at the same time are not compatible"),
    ("ZADD {k} INCR 1 a 2 b", "ERR INCR option supports a single increment-element pair"),
    ("ZADD {k} INCR -inf c", "ERR resulting score is not a number (NaN)"),
    ("ZADD {k}", "ERR wrong number of arguments for 'zadd' command"),
    ("ZADD {k} 0.1 e", "1"),
    ("ZSCORE {k} e", "\"0.10000000000000001\""),
    ("ZADD {k} 1e20 e", "0"),
    ("ZSCORE {k} e", "\"1e+20\""),
    ("ZADD {k} 123456789012345678 e", "0"),
    ("ZSCORE {k} e", "\"1.2345678901234568e+17\""),
    ("ZADD {k} -2.5 e", "0"),
    ("ZSCORE {k} e", "\"-2.5\""),
    ("ZREM {k} b e x", "2"),
    ("TYPE {k}", "zset"),
    ("ZPOPMIN {k}", "[\"d\" \"0.5\"]"),
    ("ZPOPMAX {k} 1", "[\"c\" \"inf\"]"),
    ("ZPOPMIN {k} 0", "[]"),
    ("ZPOPMIN {k} -1", "ERR value is out of range, must be positive"),
    ("ZPOPMIN {k} 1 2", "ERR syntax error"),
    ("ZPOPMIN {k} 5", "[\"a\" \"8\"]"),
    ("EXISTS {k}", "0"),
    ("ZPOPMIN {k}", "[]"),
    ("ZPOPMAX {k} 3", "[]"),
    ("ZRANGE {k} 0 -1", "[]"),
    ("ZCARD {k}", "0"),
    ("ZSCORE {k} a", "nil"),
    ("ZADD {k} XX 1 a", "0"),
    ("EXISTS {k}", "0"),
    ("ZADD {k} 1 a 1 b 0 c", "3"),
    ("ZRANGE {k} 0 -1", "[\"c\" \"a\" \"b\"]"),
    ("ZRANGE {k} 0 -1 REV", "[\"b\" \"a\" \"c\"]"),
    ("GET {k}", WRONGTYPE),
    ("LPUSH {k} x", WRONGTYPE),
    ("DEL {k}", "1"),
    ("SET {k} v", "OK"),
    ("ZADD {k} 1 a", WRONGTYPE),
    ("ZADD {k} x a", "ERR value is not a valid float"),
    ("ZSCORE {k} a", WRONGTYPE),
    ("ZPOPMIN {k} 0", WRONGTYPE),
    ("ZRANGE {k} 0 -1", WRONGTYPE),
    ("DEL {k}", "1"),
    ("ZINCRBY {k} 2 a", "\"2\""),
    ("ZINCRBY {k} x a", "ERR value is not a valid float"),
    ("ZINCRBY {k} 0.5 a", "\"2.5\""),
    ("ZINCRBY {k} 1", "ERR wrong number of arguments for 'zincrby' command"),
    ("ZADD {k} 1 b 3 c", "2"),
    ("ZRANK {k} a", "1"),
    ("ZREVRANK {k} a", "1"),
    ("ZRANK {k} c", "2"),
    ("ZREVRANK {k} c", "0"),
    ("ZRANK {k} x", "nil"),
    ("ZREVRANK {k} x", "nil"),
    ("ZREVRANGE {k} 0 0 WITHSCORES", "[\"c\" \"3\"]"),
    ("ZREVRANGE {k} 0 -1", "[\"c\" \"a\" \"b\"]"),
    ("ZREVRANGE {k} -1 -1 withscores", "[\"b\" \"1\"]"),
    ("ZREVRANGE {k} 0 -1 REV", "ERR syntax error"),
    ("ZREVRANGE {k} x 1", "ERR value is not an integer or out of range"),
    ("ZINCRBY {k} -inf c", "\"-inf\""),
    ("ZINCRBY {k} inf c", "ERR resulting score is not a number (NaN)"),
    ("ZRANK {k} c", "0"),
    ("ZREVRANK {k} c", "2"),
    ("SET {k} v", "OK"),
    ("ZINCRBY {k} 1 a", WRONGTYPE),
    ("ZINCRBY {k} x a", "ERR value is not a valid float"),
    ("ZRANK {k} a", WRONGTYPE),
    ("ZREVRANGE {k} 0 1", WRONGTYPE),
    ("ZREVRANGE {k} x 1", "ERR value is not an integer or out of range"),
    ("DEL {k}", "1"),
];

/// LPOS and LINSERT; replies from redis-server 7.0.15.
const LIST_SEARCHES: &[(&str, &str)] = &[
    ("LPOS {k} c", "nil"),
    ("LPOS {k} c COUNT 2", "[]"),
    ("LPOS {k} c COUNT 0", "[]"),
    ("LPOS {k} c RANK 0", "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
    ("LPOS {k} c foo", "ERR syntax error"),
    ("LPOS {k}", "ERR wrong number of arguments for 'lpos' command"),
    ("LINSERT {k} BEFORE c X", "0"),
    ("LINSERT {k} middle c X", "ERR syntax error"),
    ("EXISTS {k}", "0"),
    ("RPUSH {k} a b c 1 2 3 c c", "8"),
    ("LPOS {k} c", "2"),
    ("LPOS {k} x", "nil"),
    ("LPOS {k} c RANK 2", "6"),
    ("LPOS {k} c RANK -1", "7"),
    ("LPOS {k} c RANK -3", "2"),
    ("LPOS {k} c RANK -4", "nil"),
    ("LPOS {k} c RANK x", "ERR value is not an integer or out of range"),
    ("LPOS {k} c RANK -9223372036854775808", "7"),
    ("LPOS {k} c RANK -9223372036854775808 COUNT 1", "[7 6 2]"),
    ("LPOS {k} c COUNT 0", "[2 6 7]"),
    ("LPOS {k} c COUNT 2", "[2 6]"),
    ("LPOS {k} c COUNT -1", "ERR COUNT can't be negative"),
    ("LPOS {k} c COUNT x", "ERR COUNT can't be negative"),
    ("LPOS {k} x COUNT 0", "[]"),
    ("LPOS {k} c RANK -1 COUNT 2", "[7 6]"),
    ("LPOS {k} c rank 2 count 0", "[6 7]"),
    ("LPOS {k} c MAXLEN 3", "2"),
    ("LPOS {k} c MAXLEN 2", "nil"),
    ("LPOS {k} c MAXLEN 2 COUNT 0", "[]"),
    ("LPOS {k} c MAXLEN -1", "ERR MAXLEN can't be negative"),
    ("LPOS {k} c MAXLEN 0", "2"),
    ("LPOS {k} c RANK -1 MAXLEN 1", "7"),
    ("LPOS {k} c RANK -1 MAXLEN 2 COUNT 0", "[7 6]"),
    ("LPOS {k} c RANK", "ERR syntax error"),
    ("LPOS {k} c RANK 1 RANK 2", "6"),
    ("LPOS {k} c RANK 0 COUNT -1", "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
    ("LPOS {k} c COUNT -1 RANK 0", "ERR COUNT can't be negative"),
    ("LINSERT {k} before c X", "9"),
    ("LINSERT {k} AFTER c Y", "10"),
    ("LRANGE {k} 0 -1", "[\"a\" \"b\" \"X\" \"c\" \"Y\" \"1\" \"2\" \"3\" \"c\" \"c\"]"),
    ("LINSERT {k} AFTER nope Y", "-1"),
    ("LINSERT {k} middle c Y", "ERR syntax error"),
    ("LINSERT {k} BEFORE c", "ERR wrong number of arguments for 'linsert' command"),
    ("LPOS {k} c RANK -1 COUNT 0", "[9 8 3]"),
    ("DEL {k}", "1"),
    ("RPUSH {k} x", "1"),
    ("LINSERT {k} AFTER x y", "2"),
    ("LINSERT {k} BEFORE x w", "3"),
    ("LRANGE {k} 0 -1", "[\"w\" \"x\" \"y\"]"),
    ("SET {k} v", "OK"),
    ("LPOS {k} c", WRONGTYPE),
    ("LPOS {k} c COUNT 0", WRONGTYPE),
    ("LPOS {k} c RANK 0", "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
    ("LPOS {k} c foo", "ERR syntax error"),
    ("LINSERT {k} BEFORE c Y", WRONGTYPE),
    ("LINSERT {k} middle c Y", "ERR syntax error"),
    ("DEL {k}", "1"),
];

/// The score and rank ranges: ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGE's BYSCORE, REV and
/// LIMIT, ZCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYRANK; replies from redis-server 7.0.15.
const SCORE_RANGES: &[(&str, &str)] = &[
    ("ZRANGEBYSCORE {k} -inf +inf", "[]"),
    ("ZRANGEBYSCORE {k} x 1", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} 1 2 LIMIT x y", "ERR value is not an integer or out of range"),
    ("ZRANGEBYSCORE {k} 1 2 foo", "ERR syntax error"),
    ("ZRANGE {k} x 1 BYSCORE", "ERR min or max is not a float"),
    ("ZCOUNT {k} 1 2", "0"),
    ("ZCOUNT {k} x 1", "ERR min or max is not a float"),
    ("ZREMRANGEBYSCORE {k} 1 2", "0"),
    ("ZREMRANGEBYSCORE {k} x 1", "ERR min or max is not a float"),
    ("ZREMRANGEBYRANK {k} 0 1", "0"),
    ("ZREMRANGEBYRANK {k} x 1", "ERR value is not an integer or out of range"),
    ("EXISTS {k}", "0"),
    ("ZADD {k} 1 a 2 b 2 c 3 d inf e -inf f 2.5 g", "7"),
    (
        "ZRANGEBYSCORE {k} -inf +inf WITHSCORES",
        "[\"f\" \"-inf\" \"a\" \"1\" \"b\" \"2\" \"c\" \"2\" \"g\" \"2.5\" \"d\" \"3\" \"e\" \"inf\"]",
    ),
    ("ZRANGEBYSCORE {k} (1 (3", "[\"b\" \"c\" \"g\"]"),
    ("ZRANGEBYSCORE {k} 2 2", "[\"b\" \"c\"]"),
    ("ZRANGEBYSCORE {k} (2 2", "[]"),
    ("ZRANGEBYSCORE {k} 2 (2", "[]"),
    ("ZRANGEBYSCORE {k} 3 1", "[]"),
    ("ZRANGEBYSCORE {k} inf inf", "[\"e\"]"),
    ("ZRANGEBYSCORE {k} (inf inf", "[]"),
    ("ZRANGEBYSCORE {k} -inf (-inf", "[]"),
    ("ZRANGEBYSCORE {k} -inf -inf", "[\"f\"]"),
    ("ZRANGEBYSCORE {k} ( 1", "[\"a\"]"),
    ("ZRANGEBYSCORE {k} 1e-500 2", "[\"a\" \"b\" \"c\"]"),
    ("ZRANGEBYSCORE {k} -1e500 (1", "[\"f\"]"),
    ("ZRANGEBYSCORE {k} Infinity +inf", "[\"e\"]"),
    ("ZRANGEBYSCORE {k} 2.25 +3", "[\"g\" \"d\"]"),
    ("ZRANGEBYSCORE {k} x 1", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} 1 x", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} ((1 1", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} nan 1", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} (nan 1", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 1 2", "[\"a\" \"b\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 1 -1", "[\"a\" \"b\" \"c\" \"g\" \"d\" \"e\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 5 -7", "[\"d\" \"e\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT -1 2", "[]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 1 0", "[]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 7 1", "[]"),
    ("ZRANGEBYSCORE {k} (1 +inf LIMIT 4 9", "[\"e\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT x 1", "ERR value is not an integer or out of range"),
    ("ZRANGEBYSCORE {k} -inf +inf LIMIT 1", "ERR syntax error"),
    ("ZRANGEBYSCORE {k} -inf +inf limit 1 2 withscores", "[\"a\" \"1\" \"b\" \"2\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf WITHSCORES LIMIT 1 1 WITHSCORES", "[\"a\" \"1\"]"),
    ("ZRANGEBYSCORE {k} -inf +inf foo", "ERR syntax error"),
    ("ZRANGEBYSCORE {k} -inf +inf REV", "ERR syntax error"),
    ("ZRANGEBYSCORE {k} -inf +inf BYSCORE", "ERR syntax error"),
    ("ZRANGEBYSCORE {k} x +inf foo", "ERR syntax error"),
    ("ZRANGEBYSCORE {k} x +inf LIMIT a b", "ERR value is not an integer or out of range"),
    ("ZRANGEBYSCORE {k} 1", "ERR wrong number of arguments for 'zrangebyscore' command"),
    (
        "ZREVRANGEBYSCORE {k} +inf -inf WITHSCORES",
        "[\"e\" \"inf\" \"d\" \"3\" \"g\" \"2.5\" \"c\" \"2\" \"b\" \"2\" \"a\" \"1\" \"f\" \"-inf\"]",
    ),
    ("ZREVRANGEBYSCORE {k} 3 (1", "[\"d\" \"g\" \"c\" \"b\"]"),
    ("ZREVRANGEBYSCORE {k} -inf +inf", "[]"),
    ("ZREVRANGEBYSCORE {k} +inf -inf LIMIT 1 2", "[\"d\" \"g\"]"),
    ("ZREVRANGEBYSCORE {k} +inf -inf LIMIT 0 -5", "[\"e\" \"d\" \"g\" \"c\" \"b\" \"a\" \"f\"]"),
    ("ZREVRANGEBYSCORE {k} (2 x", "ERR min or max is not a float"),
    ("ZREVRANGEBYSCORE {k} +inf -inf REV", "ERR syntax error"),
    (
        "ZRANGE {k} 0 -1 LIMIT 1 2",
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
    ),
    ("ZRANGE {k} 0 -1 LIMIT 5 -1", "[\"f\" \"a\" \"b\" \"c\" \"g\" \"d\" \"e\"]"),
    (
        "ZRANGE {k} 0 -1 LIMIT 5 -2",
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
    ),
    (
        "ZREVRANGE {k} 0 -1 LIMIT 1 2",
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
    ),
    ("ZREVRANGE {k} 0 1 LIMIT 0 -1", "[\"e\" \"d\"]"),
    ("ZREVRANGE {k} 0 -1 BYSCORE", "ERR syntax error"),
    ("ZRANGE {k} 1 3 BYSCORE", "[\"a\" \"b\" \"c\" \"g\" \"d\"]"),
    ("ZRANGE {k} 3 1 BYSCORE REV", "[\"d\" \"g\" \"c\" \"b\" \"a\"]"),
    ("ZRANGE {k} 1 3 byscore rev", "[]"),
    ("ZRANGE {k} (1 +inf BYSCORE LIMIT 1 2 WITHSCORES", "[\"c\" \"2\" \"g\" \"2.5\"]"),
    ("ZRANGE {k} +inf (1 REV BYSCORE LIMIT 1 2 WITHSCORES", "[\"d\" \"3\" \"g\" \"2.5\"]"),
    ("ZRANGE {k} x 1 BYSCORE", "ERR min or max is not a float"),
    ("ZRANGE {k} 0 1 BYSCORE BYSCORE", "ERR syntax error"),
    ("ZRANGE {k} 0 1 REV REV", "ERR syntax error"),
    ("ZRANGE {k} 0 1 BYSCORE BYLEX", "ERR syntax error"),
    ("ZRANGE {k} 0 1 BYLEX WITHSCORES", "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
    ("ZRANGE {k} 0 1 LIMIT", "ERR syntax error"),
    ("ZRANGE {k} 0 1 BYSCORE LIMIT 1", "ERR syntax error"),
    ("ZRANGE {k} 0 1 BYSCORE LIMIT x 1 foo", "ERR value is not an integer or out of range"),
    ("ZRANGE {k} 0 1 foo LIMIT x 1", "ERR syntax error"),
    ("ZCOUNT {k} -inf +inf", "7"),
    ("ZCOUNT {k} (2 3", "2"),
    ("ZCOUNT {k} 2 2", "2"),
    ("ZCOUNT {k} 3 1", "0"),
    ("ZCOUNT {k} (-inf (inf", "5"),
    ("ZCOUNT {k} x 1", "ERR min or max is not a float"),
    ("ZCOUNT {k} 1", "ERR wrong number of arguments for 'zcount' command"),
    ("ZREMRANGEBYSCORE {k} x 1", "ERR min or max is not a float"),
    ("ZREMRANGEBYSCORE {k} (2 3", "2"),
    ("ZREMRANGEBYSCORE {k} 5 4", "0"),
    ("ZRANGE {k} 0 -1 WITHSCORES", "[\"f\" \"-inf\" \"a\" \"1\" \"b\" \"2\" \"c\" \"2\" \"e\" \"inf\"]"),
    ("ZCARD {k}", "5"),
    ("ZSCORE {k} g", "nil"),
    ("ZREMRANGEBYRANK {k} x 1", "ERR value is not an integer or out of range"),
    ("ZREMRANGEBYRANK {k} 1 2", "2"),
    ("ZREMRANGEBYRANK {k} 5 9", "0"),
    ("ZREMRANGEBYRANK {k} -1 -2", "0"),
    ("ZRANGE {k} 0 -1", "[\"f\" \"c\" \"e\"]"),
    ("ZRANK {k} e", "2"),
    ("ZREMRANGEBYRANK {k} -100 100", "3"),
    ("EXISTS {k}", "0"),
    ("ZADD {k} 1 a 2 b", "2"),
    ("ZREMRANGEBYSCORE {k} -inf +inf", "2"),
    ("EXISTS {k}", "0"),
    ("SET {k} v", "OK"),
    ("ZRANGEBYSCORE {k} 1 2", WRONGTYPE),
    ("ZRANGEBYSCORE {k} x 2", "ERR min or max is not a float"),
    ("ZRANGEBYSCORE {k} 1 2 LIMIT x 1", "ERR value is not an integer or out of range"),
    ("ZRANGEBYSCORE {k} 1 2 foo", "ERR syntax error"),
    ("ZREVRANGEBYSCORE {k} 2 1", WRONGTYPE),
    ("ZRANGE {k} 1 2 BYSCORE", WRONGTYPE),
    ("ZCOUNT {k} 1 2", WRONGTYPE),
    ("ZCOUNT {k} x 2", "ERR min or max is not a float"),
    ("ZREMRANGEBYSCORE {k} 1 2", WRONGTYPE),
    ("ZREMRANGEBYSCORE {k} x 2", "ERR min or max is not a float"),
    ("ZREMRANGEBYRANK {k} 1 2", WRONGTYPE),
    ("ZREMRANGEBYRANK {k} x 2", "ERR value is not an integer or out of range"),
    ("DEL {k}", "1"),
];

/// The lex ranges: ZRANGEBYLEX, ZREVRANGEBYLEX, ZRANGE's BYLEX, ZLEXCOUNT, ZREMRANGEBYLEX;
/// replies from redis-server 7.0.15, on members of one score and (as a small sorted set
/// walks them) of several.
const LEX_RANGES: &[(&str, &str)] = &[
    ("ZRANGEBYLEX {k} - +", "[]"),
    ("ZRANGEBYLEX {k} a +", "ERR min or max not valid string range item"),
    ("ZLEXCOUNT {k} - +", "0"),
    ("ZLEXCOUNT {k} a +", "ERR min or max not valid string range item"),
    ("ZREMRANGEBYLEX {k} - +", "0"),
    ("ZREMRANGEBYLEX {k} a +", "ERR min or max not valid string range item"),
    ("ZADD {k} 0 a 0 b 0 c 0 d 0 e 0 ee 0 f", "7"),
    ("ZRANGEBYLEX {k} - +", "[\"a\" \"b\" \"c\" \"d\" \"e\" \"ee\" \"f\"]"),
    ("ZRANGEBYLEX {k} [b (e", "[\"b\" \"c\" \"d\"]"),
    ("ZRANGEBYLEX {k} (b [e", "[\"c\" \"d\" \"e\"]"),
    ("ZRANGEBYLEX {k} [e [e", "[\"e\"]"),
    ("ZRANGEBYLEX {k} (e [e", "[]"),
    ("ZRANGEBYLEX {k} [e (e", "[]"),
    ("ZRANGEBYLEX {k} [f [a", "[]"),
    ("ZRANGEBYLEX {k} + -", "[]"),
    ("ZRANGEBYLEX {k} - -", "[]"),
    ("ZRANGEBYLEX {k} + +", "[]"),
    ("ZRANGEBYLEX {k} [ +", "[\"a\" \"b\" \"c\" \"d\" \"e\" \"ee\" \"f\"]"),
    ("ZRANGEBYLEX {k} - [", "[]"),
    ("ZRANGEBYLEX {k} ( +", "[\"a\" \"b\" \"c\" \"d\" \"e\" \"ee\" \"f\"]"),
    ("ZRANGEBYLEX {k} (e +", "[\"ee\" \"f\"]"),
    ("ZRANGEBYLEX {k} a +", "ERR min or max not valid string range item"),
    ("ZRANGEBYLEX {k} +x +", "ERR min or max not valid string range item"),
    ("ZRANGEBYLEX {k} - + LIMIT 1 2", "[\"b\" \"c\"]"),
    ("ZRANGEBYLEX {k} - + LIMIT 1 -1", "[\"b\" \"c\" \"d\" \"e\" \"ee\" \"f\"]"),
    ("ZRANGEBYLEX {k} - + LIMIT -1 2", "[]"),
    ("ZRANGEBYLEX {k} [b [d LIMIT 2 9", "[\"d\"]"),
    ("ZRANGEBYLEX {k} - + WITHSCORES", "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
    ("ZRANGEBYLEX {k} - + LIMIT x 1", "ERR value is not an integer or out of range"),
    ("ZRANGEBYLEX {k} a + LIMIT x 1", "ERR value is not an integer or out of range"),
    ("ZRANGEBYLEX {k} a + foo", "ERR syntax error"),
    ("ZRANGEBYLEX {k} - + REV", "ERR syntax error"),
    ("ZRANGEBYLEX {k} - + BYLEX", "ERR syntax error"),
    ("ZRANGEBYLEX {k} - + BYSCORE", "ERR syntax error"),
    ("ZRANGEBYLEX {k} -", "ERR wrong number of arguments for 'zrangebylex' command"),
    ("ZREVRANGEBYLEX {k} + -", "[\"f\" \"ee\" \"e\" \"d\" \"c\" \"b\" \"a\"]"),
    ("ZREVRANGEBYLEX {k} [e (b", "[\"e\" \"d\" \"c\"]"),
    ("ZREVRANGEBYLEX {k} + - LIMIT 2 3", "[\"e\" \"d\" \"c\"]"),
    ("ZREVRANGEBYLEX {k} - +", "[]"),
    ("ZRANGE {k} [e (b BYLEX REV LIMIT 1 1", "[\"d\"]"),
    ("ZRANGE {k} [b [d BYLEX", "[\"b\" \"c\" \"d\"]"),
    ("ZRANGE {k} [b [d BYLEX WITHSCORES", "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
    ("ZRANGE {k} 0 1 BYLEX", "ERR min or max not valid string range item"),
    ("ZLEXCOUNT {k} - +", "7"),
    ("ZLEXCOUNT {k} [b (e", "3"),
    ("ZLEXCOUNT {k} (a (b", "0"),
    ("ZREMRANGEBYLEX {k} [b (e", "3"),
    ("ZRANGE {k} 0 -1", "[\"a\" \"e\" \"ee\" \"f\"]"),
    ("ZREMRANGEBYLEX {k} - +", "4"),
    ("EXISTS {k}", "0"),
    ("ZADD {k} 1 b 2 z 3 c 4 a", "4"),
    ("ZRANGEBYLEX {k} - +", "[\"b\" \"z\" \"c\" \"a\"]"),
    ("ZRANGEBYLEX {k} [a [c", "[\"b\"]"),
    ("ZRANGEBYLEX {k} [a [c LIMIT 2 5", "[\"c\" \"a\"]"),
    ("ZRANGEBYLEX {k} [c +", "[]"),
    ("ZRANGEBYLEX {k} [b [z", "[]"),
    ("ZREVRANGEBYLEX {k} [c [a", "[\"a\" \"c\" \"z\" \"b\"]"),
    ("ZREVRANGEBYLEX {k} [z [a", "[\"a\" \"c\" \"z\" \"b\"]"),
    ("ZREVRANGEBYLEX {k} [c - LIMIT 1 5", "[\"c\" \"z\" \"b\"]"),
    ("ZREVRANGEBYLEX {k} + [b", "[]"),
    ("ZLEXCOUNT {k} [b [z", "0"),
    ("ZLEXCOUNT {k} [a [c", "1"),
    ("ZREMRANGEBYLEX {k} [b [z", "0"),
    ("ZREMRANGEBYLEX {k} [a [c", "1"),
    ("ZRANGE {k} 0 -1", "[\"z\" \"c\" \"a\"]"),
    ("SET {k} v", "OK"),
    ("ZRANGEBYLEX {k} - +", WRONGTYPE),
    ("ZRANGEBYLEX {k} a +", "ERR min or max not valid string range item"),
    ("ZREVRANGEBYLEX {k} + -", WRONGTYPE),
    ("ZLEXCOUNT {k} - +", WRONGTYPE),
    ("ZREMRANGEBYLEX {k} - +", WRONGTYPE),
    ("ZREMRANGEBYLEX {k} a +", "ERR min or max not valid string range item"),
    ("DEL {k}", "1"),
];

const TABLES: [(&str, &[(&str, &str)]); 8] = [
    ("hashes", HASHES),
    ("hash order", HASH_ORDER),
    ("lists", LISTS),
    ("list searches", LIST_SEARCHES),
    ("sets", SETS),
    ("sorted sets", SORTED_SETS),
    ("score ranges", SCORE_RANGES),
    ("lex ranges", LEX_RANGES),
];

#[test]
fn every_type_answers_as_redis_does_on_both_cores_alone_and_pipelined() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut con, keys) = keys_on_both_cores(addr, "typed");
    for (name, table) in TABLES {
        assert!(!table.is_empty(), "{name}");
        for key in &keys {
            answers_as_table(&mut con, table, key);
        }
    }
}

/// The tables against a real redis-server at `REDIS_ADDR` (host:port), which they were
/// written from: `REDIS_ADDR=127.0.0.1:7391 cargo test --test kv_types -- --ignored`.
#[test]
#[ignore = "needs a redis-server 7.0 at REDIS_ADDR"]
fn tables_are_redis_servers_replies() {
    let addr = std::env::var("REDIS_ADDR").expect("REDIS_ADDR=host:port of a redis-server");
    let mut con = connect(&addr);
    for (_, table) in TABLES {
        let key = "kv-types-table";
        let _: () = con.del(key).unwrap();
        for (line, want) in table {
            let got = shown(request(line, key).query::<Value>(&mut con));
            assert_eq!(got, *want, "{line}");
        }
    }
}

/// Redis' listpack limits for a hash (`hash-max-listpack-entries`, `-value`): the most
/// fields, and the longest value, a hash keeps in the order they came.
const LISTED_MOST_FIELDS: usize = 512;
const LISTED_LONGEST: usize = 64;

/// Builds a hash at `key` up to Redis' listpack limits and checks that HGETALL, HKEYS and
/// HVALS keep the order its fields came in (HSET of many fields at once in a scrambled
/// order, values of up to 64 bytes, overwrites and increments in place, HDEL, HSETNX of a
/// deleted field going last), up to 512 fields; then that the 513th leaves every pair there,
/// in whatever order. With `encodings`, that OBJECT ENCODING (which kv lacks) says listpack
/// up to the limit and hashtable past it, as the order's limit is the encoding's.
fn hash_keeps_the_order_its_fields_came(con: &mut Connection, key: &str, encodings: bool) {
    let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
    // 389 is odd, so n * 389 mod 512 visits every n below 512 once, far from sorted.
    let scrambled = |n: usize| format!("f{}", n * 389 % LISTED_MOST_FIELDS);
    let value = |n: usize| if n.is_multiple_of(50) { "v".repeat(LISTED_LONGEST) } else { n.to_string() };
    let mut model: Vec<(String, String)> = (0..400).map(|n| (scrambled(n), value(n))).collect();
    for batch in model.chunks(64) {
        let mut hset = redis::cmd("HSET");
        hset.arg(key);
        for (field, value) in batch {
            hset.arg(field).arg(value);
        }
        let added: usize = hset.query(con).unwrap();
        assert_eq!(added, batch.len());
    }
    let overwritten = model[100].0.clone();
    let _: () = con.hset(key, &overwritten, "new").unwrap();
    model[100].1 = "new".into();
    let incremented = model[201].0.clone();
    let next: i64 = con.hincr(key, &incremented, 5).unwrap();
    assert_eq!(next, 206);
    model[201].1 = "206".into();
    let deleted: Vec<String> = model.iter().step_by(7).map(|(f, _)| f.clone()).collect();
    let removed: usize = con.hdel(key, &deleted).unwrap();
    assert_eq!(removed, deleted.len());
    model.retain(|(f, _)| !deleted.contains(f));
    let readded: bool = con.hset_nx(key, &deleted[3], "back").unwrap();
    assert!(readded);
    model.push((deleted[3].clone(), "back".into()));
    assert_order(con, key, &model);
    let more = LISTED_MOST_FIELDS - model.len();
    for n in 0..more {
        let _: () = con.hset(key, format!("g{n}"), value(n)).unwrap();
        model.push((format!("g{n}"), value(n)));
    }
    assert_order(con, key, &model);
    if encodings {
        let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query(con).unwrap();
        assert_eq!(encoding, "listpack");
    }
    let _: () = con.hset(key, "one-more", "1").unwrap();
    model.push(("one-more".into(), "1".into()));
    let mut all: Vec<(String, String)> = con.hgetall::<_, Vec<(String, String)>>(key).unwrap();
    all.sort();
    model.sort();
    assert_eq!(all, model, "every pair past the limit");
    if encodings {
        let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query(con).unwrap();
        assert_eq!(encoding, "hashtable");
    }
    let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
}

/// HGETALL, HKEYS and HVALS on `key` answer `model`'s pairs in its order.
fn assert_order(con: &mut Connection, key: &str, model: &[(String, String)]) {
    let all: Vec<(String, String)> = con.hgetall(key).unwrap();
    assert_eq!(all, model, "HGETALL {key}");
    let fields: Vec<String> = con.hkeys(key).unwrap();
    assert!(fields.iter().eq(model.iter().map(|(f, _)| f)), "HKEYS {key}");
    let values: Vec<String> = con.hvals(key).unwrap();
    assert!(values.iter().eq(model.iter().map(|(_, v)| v)), "HVALS {key}");
}

#[test]
fn a_small_hash_keeps_the_order_its_fields_came_on_both_cores() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut con, keys) = keys_on_both_cores(addr, "ordered");
    for key in &keys {
        hash_keeps_the_order_its_fields_came(&mut con, key, false);
    }
}

/// The order test against a real redis-server at `REDIS_ADDR`, with its encodings:
/// `REDIS_ADDR=127.0.0.1:7391 cargo test --test kv_types -- --ignored`.
#[test]
#[ignore = "needs a redis-server 7.0 at REDIS_ADDR"]
fn a_small_hashs_order_is_redis_servers() {
    let addr = std::env::var("REDIS_ADDR").expect("REDIS_ADDR=host:port of a redis-server");
    let mut con = connect(&addr);
    hash_keeps_the_order_its_fields_came(&mut con, "kv-types-order", true);
}

/// A key of each type on each core (`{prefix}:{type}:{core}`, found by probing).
fn one_of_each_type(addr: SocketAddr, con: &mut Connection) -> Vec<(String, &'static str)> {
    let mut made = Vec::new();
    for (name, fill) in
        [("hash", "HSET {k} f v"), ("list", "RPUSH {k} a b"), ("set", "SADD {k} m"), ("zset", "ZADD {k} 1 m")]
    {
        let (_, keys) = keys_on_both_cores(addr, &format!("each:{name}"));
        for key in keys {
            let _: Value = request(fill, &key).query(con).unwrap();
            made.push((key, name));
        }
    }
    made
}

/// The commands about keys rather than values treat a collection as a key like any other,
/// on either core: TYPE, EXISTS, KEYS, SCAN (and its TYPE), DBSIZE, RANDOMKEY, MEMORY USAGE,
/// EXPIRE, TTL, PERSIST, RENAME, SET over one, DEL and FLUSHALL.
#[test]
fn keyspace_commands_treat_collections_as_keys() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(&addr.to_string());
    let made = one_of_each_type(addr, &mut con);
    assert_eq!(made.len(), 8);
    for (key, name) in &made {
        assert_eq!(shown(request("TYPE {k}", key).query(&mut con)), *name, "{key}");
        let usage: i64 = request("MEMORY USAGE {k}", key).query(&mut con).unwrap();
        assert!(usage > 0, "{key}: {usage}");
    }
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, 8);
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("each:*").query(&mut con).unwrap();
    keys.sort();
    let mut want: Vec<String> = made.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(keys, want);
    for name in ["hash", "list", "set", "zset", "ZSET", "string"] {
        let mut found = Vec::new();
        let mut cursor = 0u64;
        for _ in 0..100 {
            let (next, batch): (u64, Vec<String>) =
                redis::cmd("SCAN").arg(cursor).arg("TYPE").arg(name).query(&mut con).unwrap();
            found.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(cursor, 0, "SCAN TYPE {name} ended");
        found.sort();
        let mut want: Vec<&String> =
            made.iter().filter(|(_, t)| t.eq_ignore_ascii_case(name)).map(|(k, _)| k).collect();
        want.sort();
        assert_eq!(found.iter().collect::<Vec<_>>(), want, "SCAN TYPE {name}");
    }
    let random: String = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
    assert!(made.iter().any(|(k, _)| *k == random), "{random}");
    let list = &made[2].0;
    for (line, want) in [
        ("EXPIRE {k} 100", "1"),
        ("RPUSH {k} c", "3"),
        ("TTL {k}", "100"),
        ("PERSIST {k}", "1"),
        ("TTL {k}", "-1"),
        ("EXISTS {k} {k}", "2"),
        ("RPOP {k} 3", "[\"c\" \"b\" \"a\"]"),
        ("EXISTS {k}", "0"),
        ("TYPE {k}", "none"),
        ("RPUSH {k} a", "1"),
        ("SET {k} v", "OK"),
        ("GET {k}", "\"v\""),
        ("LPUSH {k} a", WRONGTYPE),
        ("DEL {k}", "1"),
    ] {
        assert_eq!(shown(request(line, list).query(&mut con)), want, "{line} on {list}");
    }
    // RENAME within a shard (a hash tag keeps both names on one) moves the collection.
    let _: () = redis::cmd("HSET").arg("{t}a").arg("f").arg("v").query(&mut con).unwrap();
    let _: () = redis::cmd("RENAME").arg("{t}a").arg("{t}b").query(&mut con).unwrap();
    let moved: Vec<String> = redis::cmd("HGETALL").arg("{t}b").query(&mut con).unwrap();
    assert_eq!(moved, ["f", "v"]);
    assert_eq!(shown(redis::cmd("TYPE").arg("{t}a").query(&mut con)), "none");
    let deleted: usize = redis::cmd("DEL").arg(&made[0].0).arg(&made[7].0).arg("{t}b").query(&mut con).unwrap();
    assert_eq!(deleted, 3);
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, 0);
}

/// Whether redis-benchmark can be run here.
fn have_redis_benchmark() -> bool {
    let found = Command::new("redis-benchmark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: redis-benchmark is not installed");
    }
    found
}

/// `redis-benchmark -q` without `-t`, what many users run first, runs every one of its
/// tests to the end (it stopped at LPUSH, "ERR unknown command", before kv had lists),
/// within a bound, with no error.
#[test]
fn redis_benchmarks_default_run_finishes_every_test() {
    if !have_redis_benchmark() {
        return;
    }
    let rt = runtime();
    let addr = start(&rt);
    let port = addr.port().to_string();
    let child = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port, "-n", "2000", "-c", "10", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-benchmark");
    let mut child = KillOnDrop(child);
    let status = wait_within(&mut child.0, Duration::from_secs(120)).expect("redis-benchmark finished within 120 s");
    let mut output = String::new();
    for pipe in [
        child.0.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.0.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ] {
        pipe.unwrap().read_to_string(&mut output).unwrap();
    }
    assert!(status.success(), "{status}: {output}");
    assert!(!output.contains("ERR"), "{output}");
    // -q prints one "NAME: N requests per second" line per test, after progress lines ending
    // in CR.
    let finished: Vec<&str> = output
        .split(['\r', '\n'])
        .filter(|l| l.contains("requests per second"))
        .map(|l| l.split(':').next().unwrap_or(l))
        .collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100 (first 100 elements)",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ] {
        assert!(finished.contains(&test), "{test} did not finish: {finished:?}\n{output}");
    }
}
