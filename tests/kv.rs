//! The kv example (a sharded RESP2 and RESP3 server), run in-process on a two-core runtime and driven
//! by a real Redis client (the `redis` crate), plus a bounded fuzz of its request parser.

#[path = "../examples/kv/main.rs"]
#[allow(dead_code)]
mod kv;

mod reply_tables;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kv::admission::REDIS_MAX_CLIENTS;
use kv::resp::{parse_request, Arrival, Decoded, ProtocolError, MAX_BULK};
use redis::{Commands, Connection, RedisResult, Value};
use reply_tables::{answers_as_table, shown};
use ringpoll::Runtime;
use support::{cpu_ticks, two_core_runtime};

/// The runtime, built on a thread of its own. Building it probes io_uring on the calling
/// thread, and on this kernel that probe ring's teardown later interrupts a blocking syscall
/// of that thread with EINTR (seen in the client's recvfrom with no signal delivered), which
/// the sync redis client reports as an error. The test thread stays clean this way.
fn runtime() -> Runtime {
    std::thread::spawn(two_core_runtime).join().unwrap()
}

fn start(rt: &Runtime) -> SocketAddr {
    kv::start(rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, REDIS_MAX_CLIENTS).expect("kv server").addr
}

fn connect(addr: SocketAddr) -> Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

/// A connection that the kernel handed to `core` (told by the per-core accepted counts).
fn connect_to_core(rt: &Runtime, addr: SocketAddr, core: usize) -> Connection {
    for _ in 0..200 {
        let before = rt.stats();
        let mut con = connect(addr);
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
        let after = rt.stats();
        if after[core].accepted > before[core].accepted {
            return con;
        }
    }
    panic!("200 connections and none landed on core {core}");
}

#[test]
fn keys_written_on_one_core_are_read_back_on_the_other() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut on0, mut on1) = (connect_to_core(&rt, addr, 0), connect_to_core(&rt, addr, 1));
    for i in 0..200 {
        let _: () = on0.set(format!("key:{i}"), format!("value:{i}")).unwrap();
    }
    for i in 0..200 {
        let got: String = on1.get(format!("key:{i}")).unwrap();
        assert_eq!(got, format!("value:{i}"));
    }
    // Both shards hold keys: the writes crossed cores.
    let info: String = redis::cmd("INFO").query(&mut on1).unwrap();
    let keys: Vec<u64> =
        info.lines().filter_map(|l| l.strip_prefix("keys:")).map(|n| n.trim().parse().unwrap()).collect();
    assert_eq!(keys.len(), 2, "one INFO section per core: {info}");
    assert!(keys.iter().all(|&k| k > 50), "keys spread over both shards: {keys:?}");
    assert_eq!(keys.iter().sum::<u64>(), 200);
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut on0).unwrap();
    assert_eq!(dbsize, 200);
    // KEYS asks every shard and joins their answers, from either core.
    for con in [&mut on0, &mut on1] {
        let mut all: Vec<String> = redis::cmd("KEYS").arg("key:*").query(con).unwrap();
        all.sort_by_key(|k| k[4..].parse::<u32>().unwrap());
        assert_eq!(all, (0..200).map(|i| format!("key:{i}")).collect::<Vec<_>>());
        let mut some: Vec<String> = redis::cmd("KEYS").arg("key:1[0-2]?").query(con).unwrap();
        some.sort();
        assert_eq!(some, (100..130).map(|i| format!("key:{i}")).collect::<Vec<_>>());
        let none: Vec<String> = redis::cmd("KEYS").arg("nothing*").query(con).unwrap();
        assert!(none.is_empty());
    }
}

/// Sets `{prefix}:{i}` to `i` for each `i` of `range`, in one pipeline.
fn set_many(con: &mut Connection, prefix: &str, range: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    range.for_each(|i| {
        pipe.set(format!("{prefix}:{i}"), i).ignore();
    });
    let _: () = pipe.query(con).unwrap();
}

/// One SCAN call: the next cursor and the keys returned.
fn scan(con: &mut Connection, cursor: u64, options: &[&str]) -> (u64, Vec<String>) {
    let (next, keys): (String, Vec<String>) = redis::cmd("SCAN").arg(cursor).arg(options).query(con).unwrap();
    (next.parse().expect("a numeric cursor"), keys)
}

/// SCAN from cursor 0 until it ends, bounded; every key returned, and the calls made.
/// `between` runs after each call, as other clients change the store mid-iteration.
fn scan_all(con: &mut Connection, options: &[&str], between: impl FnMut()) -> (Vec<String>, usize) {
    scan_from(con, 0, options, between)
}

/// [`scan_all`] from `cursor`; no reply holds more keys than a COUNT among `options` says,
/// but one that ends a shard (its next cursor is a shard's start, 0 or 1 of two): a shard
/// whose table moved twice within a pass is answered whole (`scan.rs`).
fn scan_from(
    con: &mut Connection,
    mut cursor: u64,
    options: &[&str],
    mut between: impl FnMut(),
) -> (Vec<String>, usize) {
    let count = options.windows(2).find(|w| w[0].eq_ignore_ascii_case("count")).map_or(10, |w| w[1].parse().unwrap());
    let (mut all, mut calls) = (Vec::new(), 0);
    loop {
        let (next, keys) = scan(con, cursor, options);
        assert!(keys.len() <= count || next < 2, "{} keys for COUNT {count}", keys.len());
        all.extend(keys);
        calls += 1;
        if next == 0 {
            return (all, calls);
        }
        assert!(calls < 100_000, "SCAN never came back to cursor 0");
        between();
        cursor = next;
    }
}

/// SCAN walks every shard a COUNT at a time: with MATCH, COUNT and TYPE string it returns
/// each key written (through connections on either core) and present throughout, even as
/// other keys come and go between calls; from either core; TYPE of another kind returns
/// nothing.
#[test]
fn scan_returns_every_key_on_every_shard() {
    let rt = runtime();
    let addr = start(&rt);
    let mut cons = [connect_to_core(&rt, addr, 0), connect_to_core(&rt, addr, 1)];
    let written: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    for (i, key) in written.iter().enumerate() {
        let _: () = cons[i % 2].set(key, i).unwrap();
        let _: () = cons[(i + 1) % 2].set(format!("other:{i}"), i).unwrap();
    }
    let mut want = written.clone();
    want.sort();
    let mut churn = connect(addr);
    for (core, con) in cons.iter_mut().enumerate() {
        let mut round = 0;
        let (mut got, calls) = scan_all(con, &["MATCH", "key:*", "COUNT", "7", "TYPE", "string"], || {
            // Keys added and removed mid-iteration may or may not be returned; the rest must be.
            round += 1;
            let _: () = churn.set(format!("key:new:{core}:{round}"), 1).unwrap();
            let _: () = churn.del(format!("key:new:{core}:{}", round - 1)).unwrap();
        });
        // 600 keys, 7 at a time (before MATCH), over two tables.
        assert!(calls >= 600 / 7, "{calls} calls: COUNT bounds each");
        got.retain(|k| !k.starts_with("key:new:"));
        got.sort();
        got.dedup();
        assert_eq!(got, want, "SCAN from core {core}: every key written");
        let (all, _) = scan_all(con, &[], || {});
        assert!(all.len() >= 600, "no MATCH: every key ({} returned)", all.len());
        let (hashes, _) = scan_all(con, &["TYPE", "hash"], || {});
        assert!(hashes.is_empty(), "every key is a string: {hashes:?}");
    }
    // Pipelined, a shard's scan is forwarded in a batch and answered back (not written
    // straight to the client): the same keys. A COUNT past the table's size takes a shard
    // whole, and cursor 1 is the second shard's start.
    let mut pipe = redis::pipe();
    for cursor in [0, 1] {
        pipe.cmd("SCAN").arg(cursor).arg("MATCH").arg("key:[0-9]*").arg("COUNT").arg(1u64 << 40);
    }
    let pages: Vec<(String, Vec<String>)> = pipe.query(&mut cons[0]).unwrap();
    assert_eq!((pages[0].0.as_str(), pages[1].0.as_str()), ("1", "0"));
    let mut got: Vec<String> = pages.into_iter().flat_map(|(_, keys)| keys).collect();
    got.sort();
    assert_eq!(got, want, "pipelined SCAN");
    // A cursor this server never gave is a cursor still, as any number is to Redis: the
    // iteration ends.
    for made_up in [12345, u64::MAX, 1 << 63] {
        scan_from(&mut cons[0], made_up, &[], || {});
    }
}

/// Keys written mid-scan grow the tables, which moves their entries: a cursor from before
/// the move starts its shard again, so every key present throughout is still returned, and
/// the scan ends once the writes stop.
#[test]
fn scan_returns_every_key_across_the_tables_growth() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    let mut writer = connect(addr);
    set_many(&mut writer, "old", 0..3000);
    let mut round = 0;
    let (mut got, calls) = scan_all(&mut con, &["COUNT", "50"], || {
        // 20,000 new keys over the first 40 calls: each table grows past 8,000 keys.
        if round < 40 {
            set_many(&mut writer, "new", round * 500..(round + 1) * 500);
        }
        round += 1;
    });
    assert!(round >= 40, "the writes all came mid-scan ({calls} calls)");
    got.retain(|k| k.starts_with("old:"));
    got.sort();
    got.dedup();
    let mut want: Vec<String> = (0..3000).map(|i| format!("old:{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every key present throughout");
}

/// A scan ends in a bounded number of calls however fast writers add keys: here 1,000 new
/// keys before every call, for as long as the scan goes on, grow each table many times over
/// while a pass of COUNT 50 could read it, so a scan that started its shard again at each
/// move never ended; each shard now takes two passes at most and the call that meets a
/// second move, and every key present throughout is returned.
#[test]
fn scan_ends_while_writers_keep_growing_the_tables() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut con, mut writer) = (connect(addr), connect(addr));
    set_many(&mut writer, "old", 0..3000);
    let (mut cursor, mut got, mut calls) = (0, Vec::new(), 0);
    loop {
        set_many(&mut writer, "new", calls * 1000..(calls + 1) * 1000);
        let (next, keys) = scan(&mut con, cursor, &["COUNT", "50"]);
        got.extend(keys.into_iter().filter(|k| k.starts_with("old:")));
        calls += 1;
        if next == 0 {
            break;
        }
        assert!(calls < 200, "no end after {calls} calls, {} keys written mid-scan", calls * 1000);
        cursor = next;
    }
    got.sort();
    got.dedup();
    let mut want: Vec<String> = (0..3000).map(|i| format!("old:{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every key present throughout, after {calls} calls");
}

/// FLUSHALL ASYNC of tables big enough to be freed off the cores (more than a thousand keys
/// on each): answered, every key gone at once from every shard, the store usable at once.
#[test]
fn flushall_async_empties_every_shard_at_once() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    for round in 0..3 {
        let mut pipe = redis::pipe();
        (0..10_000).for_each(|i| {
            pipe.set(format!("f{i}"), i).ignore();
        });
        let _: () = pipe.query(&mut con).unwrap();
        let info: String = redis::cmd("INFO").query(&mut con).unwrap();
        let keys: Vec<u64> =
            info.lines().filter_map(|l| l.strip_prefix("keys:")).map(|n| n.trim().parse().unwrap()).collect();
        assert!(keys.len() == 2 && keys.iter().all(|&k| k > 1000), "both shards past the threshold: {keys:?}");
        let got =
            raw_exchange(addr, b"FLUSHALL ASYNC\r\nDBSIZE\r\nGET f1\r\nGET f2\r\nSET f1 x\r\nGET f1\r\nDBSIZE\r\n");
        assert_eq!(got, b"+OK\r\n:0\r\n$-1\r\n$-1\r\n+OK\r\n$1\r\nx\r\n:1\r\n", "round {round}");
        let (left, _) = scan_all(&mut con, &["COUNT", "1000"], || {});
        assert_eq!(left, ["f1"], "round {round}");
    }
}

/// CLIENT LIST lists connections each with its id, addresses and name; a closed one is gone;
/// CLIENT INFO is the asking connection's line; the options' refusals are redis-server
/// 7.0.15's.
#[test]
fn client_list_shows_each_connections_fields() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut a, mut b) = (connect_to_core(&rt, addr, 0), connect_to_core(&rt, addr, 0));
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("alpha").query(&mut a).unwrap();
    let (id_a, id_b): (u64, u64) =
        (redis::cmd("CLIENT").arg("ID").query(&mut a).unwrap(), redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap());
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut b).unwrap();
    let line = |id: u64| list.lines().find(|l| l.starts_with(&format!("id={id} "))).map(str::to_owned);
    let line_a = line(id_a).unwrap_or_else(|| panic!("{id_a} in {list}"));
    assert!(line_a.contains(" name=alpha ") && line_a.contains(&format!(" laddr={addr} ")), "{line_a}");
    assert!(line(id_b).is_some_and(|l| l.contains(" name= ")), "{list}");
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    let without_age =
        |l: &str| l.trim_end().split(' ').filter(|f| !f.starts_with("age=")).collect::<Vec<_>>().join(" ");
    assert_eq!(without_age(&info), without_age(&line_a), "CLIENT INFO: the asking connection's line");
    let only: String = redis::cmd("CLIENT").arg("LIST").arg("ID").arg(id_b).arg(999_999).query(&mut a).unwrap();
    assert!(only.starts_with(&format!("id={id_b} ")) && only.lines().count() == 1, "{only}");
    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list: String = redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("normal").query(&mut b).unwrap();
        if !list.contains(&format!("id={id_a} ")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a closed connection still listed: {list}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_answers(
        addr,
        &[
            ("CLIENT LIST TYPE foo", "-ERR Unknown client type 'foo'\r\n"),
            ("CLIENT LIST TYPE master", "$0\r\n\r\n"),
            ("CLIENT LIST ID abc", "-ERR Invalid client ID\r\n"),
            ("CLIENT LIST ID 0", "$0\r\n\r\n"),
            ("CLIENT LIST ID", "-ERR syntax error\r\n"),
            ("CLIENT LIST TYPE normal ID 1", "-ERR syntax error\r\n"),
            ("CLIENT INFO x", "-ERR wrong number of arguments for 'client|info' command\r\n"),
        ],
    );
}

/// The ids CLIENT LIST lists, asked on `con` with `options`, in the order listed.
fn listed_ids(con: &mut Connection, options: &[u64]) -> Vec<u64> {
    let mut cmd = redis::cmd("CLIENT");
    cmd.arg("LIST");
    if !options.is_empty() {
        cmd.arg("ID").arg(options);
    }
    let list: String = cmd.query(con).unwrap();
    let id = |line: &str| line.strip_prefix("id=")?.split(' ').next()?.parse().ok();
    list.lines().map(|line| id(line).unwrap_or_else(|| panic!("a line without an id: {list}"))).collect()
}

/// INFO's `name:` fields (the head's, then one per core's section for the per-core ones).
fn info_fields(con: &mut Connection, name: &str) -> Vec<u64> {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info.lines().filter_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).collect()
}

/// CLIENT LIST, asked on either core, lists the connections of both, as Redis lists every
/// client of the server: each once, in id order; `ID` finds connections on either core, in
/// the order asked; INFO's connected_clients counts them all. A client that sent QUIT is
/// neither listed nor counted, and no CLIENT KILL finds it, once its reply is written (Redis
/// frees it then), though the server still lingers on its connection for a second.
#[test]
fn client_list_and_info_show_every_cores_connections() {
    let rt = runtime();
    let addr = start(&rt);
    let mut cons: Vec<Connection> = [0, 1, 0, 1].into_iter().map(|core| connect_to_core(&rt, addr, core)).collect();
    let ids: Vec<u64> = cons.iter_mut().map(|con| redis::cmd("CLIENT").arg("ID").query(con).unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "ids unique across the cores: {ids:?}");
    // The connections that landed on the wrong core close on the server's own time.
    let deadline = Instant::now() + Duration::from_secs(5);
    while listed_ids(&mut cons[0], &[]) != sorted {
        assert!(Instant::now() < deadline, "listed {:?}, open {sorted:?}", listed_ids(&mut cons[0], &[]));
        std::thread::sleep(Duration::from_millis(10));
    }
    for con in &mut cons {
        assert_eq!(listed_ids(con, &[]), sorted, "the same list from either core");
        assert_eq!(info_fields(con, "connected_clients"), [4]);
        assert_eq!(info_fields(con, "connections"), [2, 2], "two on each core");
    }
    let asked = [ids[3], 999_999, ids[0], ids[1], ids[3]];
    assert_eq!(listed_ids(&mut cons[2], &asked), [ids[3], ids[0], ids[1], ids[3]], "in the order asked");
    assert_eq!(listed_ids(&mut cons[1], &[ids[2]]), [ids[2]], "one on the other core");
    // A client that quit, its connection kept open: gone within the linger.
    let (mut quitting, quitting_id) = raw_to_core(&rt, addr, 1);
    assert_eq!(ask(&mut quitting, "QUIT\r\n"), "+OK\r\n");
    let quit = Instant::now();
    while listed_ids(&mut cons[0], &[]).contains(&quitting_id) {
        assert!(quit.elapsed() < Duration::from_millis(700), "listed until the linger ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(quitting_id).query(&mut cons[0]).unwrap();
    assert_eq!(kill, 0, "no kill finds it");
    assert_eq!(info_fields(&mut cons[0], "connected_clients"), [4]);
    assert!(quit.elapsed() < Duration::from_millis(900), "all within the linger: {:?}", quit.elapsed());
    drop(quitting);
}

/// A raw connection the kernel handed to `core`, and its id (CLIENT ID).
fn raw_to_core(rt: &Runtime, addr: SocketAddr, core: usize) -> (TcpStream, u64) {
    for _ in 0..200 {
        let before = rt.stats();
        let mut s = TcpStream::connect(addr).unwrap();
        let id = ask(&mut s, "CLIENT ID\r\n");
        if rt.stats()[core].accepted > before[core].accepted {
            return (s, id.trim_start_matches(':').trim_end().parse().expect("an id"));
        }
    }
    panic!("200 connections and none landed on core {core}");
}

/// Sends `request` and reads what comes back in one read, within 5 s.
fn ask(s: &mut TcpStream, request: &str) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = vec![0; 1024];
    let n = s.read(&mut got).expect("an answer within 5 s");
    String::from_utf8_lossy(&got[..n]).into_owned()
}

/// Asserts the server closed `s`: what it still sends is `rest`, then the end, within 2 s.
fn closed_by_server(s: &mut TcpStream, rest: &str) {
    let killed = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("a close, not a timeout");
    assert_eq!(String::from_utf8_lossy(&got), rest);
    assert!(killed.elapsed() < Duration::from_secs(2), "closed only after {:?}", killed.elapsed());
}

/// CLIENT KILL closes the connections it names on whichever core they live, at once (the
/// victim's next read ends), in each of Redis' forms: ID, ADDR, LADDR and the old `ip:port`
/// (`+OK` or `-ERR No such client`); the new form counts the connections killed and spares
/// the asking one unless SKIPME no, the old one kills it too; either way the asking one gets
/// its reply, then the close, and nothing it sent after runs. Refusals in Redis' words.
#[test]
fn client_kill_closes_connections_on_every_core_as_redis_does() {
    let rt = runtime();
    let addr = start(&rt);
    let (mut killer, killer_id) = raw_to_core(&rt, addr, 0);
    for core in [1, 0] {
        let (mut victim, id) = raw_to_core(&rt, addr, core);
        assert_eq!(ask(&mut killer, &format!("CLIENT KILL ID {id}\r\n")), ":1\r\n", "on core {core}");
        closed_by_server(&mut victim, "");
        assert_eq!(ask(&mut killer, &format!("CLIENT KILL ID {id}\r\n")), ":0\r\n", "gone already");
        let (mut victim, _) = raw_to_core(&rt, addr, core);
        let from = victim.local_addr().unwrap();
        assert_eq!(ask(&mut killer, &format!("CLIENT KILL {from}\r\n")), "+OK\r\n", "the old form, core {core}");
        closed_by_server(&mut victim, "");
        assert_eq!(ask(&mut killer, &format!("CLIENT KILL {from}\r\n")), "-ERR No such client\r\n");
        let (mut victim, id) = raw_to_core(&rt, addr, core);
        let from = victim.local_addr().unwrap();
        let other = format!("CLIENT KILL ADDR {from} LADDR 127.0.0.1:1 ID {id}\r\n");
        assert_eq!(ask(&mut killer, &other), ":0\r\n", "every filter must match");
        let both = format!("client kill addr {from} laddr {addr} skipme yes\r\n");
        assert_eq!(ask(&mut killer, &both), ":1\r\n");
        closed_by_server(&mut victim, "");
    }
    // The asking connection: spared by default, killed after its reply with SKIPME no.
    assert_eq!(ask(&mut killer, &format!("CLIENT KILL ID {killer_id}\r\n")), ":0\r\n");
    assert_eq!(ask(&mut killer, &format!("CLIENT KILL ID {killer_id} TYPE normal USER default\r\n")), ":0\r\n");
    assert_eq!(ask(&mut killer, "CLIENT KILL TYPE master SKIPME no\r\n"), ":0\r\n");
    killer.write_all(format!("CLIENT KILL ID {killer_id} SKIPME no\r\nPING\r\n").as_bytes()).unwrap();
    closed_by_server(&mut killer, ":1\r\n");
    let (mut killer, _) = raw_to_core(&rt, addr, 1);
    let me = killer.local_addr().unwrap();
    killer.write_all(format!("CLIENT KILL {me}\r\nPING\r\n").as_bytes()).unwrap();
    closed_by_server(&mut killer, "+OK\r\n");
    assert_answers(
        addr,
        &[
            ("CLIENT KILL", "-ERR wrong number of arguments for 'client|kill' command\r\n"),
            ("CLIENT KILL ID", "-ERR No such client\r\n"),
            ("CLIENT KILL ID 1 ADDR", "-ERR syntax error\r\n"),
            ("CLIENT KILL FOO bar", "-ERR syntax error\r\n"),
            ("CLIENT KILL SKIPME maybe", "-ERR syntax error\r\n"),
            ("CLIENT KILL ID 0", "-ERR client-id should be greater than 0\r\n"),
            ("CLIENT KILL ID abc", "-ERR client-id should be greater than 0\r\n"),
            ("CLIENT KILL TYPE foo", "-ERR Unknown client type 'foo'\r\n"),
            ("CLIENT KILL USER bob", "-ERR No such user 'bob'\r\n"),
            ("CLIENT KILL ID 999999 ADDR 1.2.3.4:5", ":0\r\n"),
        ],
    );
}

/// 20,000 keys, SCAN's default COUNT: replies of 10 keys at most (as Redis' 10), every key.
#[test]
fn scan_takes_count_keys_a_call() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let mut pipe = redis::pipe();
    (0..20_000).for_each(|i| {
        pipe.set(format!("k{i}"), i).ignore();
    });
    let _: () = pipe.query(&mut con).unwrap();
    let (mut got, calls) = scan_all(&mut con, &[], || {});
    assert!(calls >= 2000, "{calls} calls");
    got.sort();
    assert_eq!(got.len(), 20_000, "each key once: the tables did not move");
    got.dedup();
    assert_eq!(got.len(), 20_000);
}

/// SCAN's and MEMORY USAGE's refusals, with the replies redis-server 7.0.15 gave to the
/// same requests (`{k}` is a key that does not exist).
const SCAN_AND_MEMORY_ERRORS: [(&str, &str); 29] = [
    ("SCAN", "ERR wrong number of arguments for 'scan' command"),
    ("SCAN abc", "ERR invalid cursor"),
    ("SCAN 1.5", "ERR invalid cursor"),
    ("SCAN -", "ERR invalid cursor"),
    ("SCAN 18446744073709551616", "ERR invalid cursor"),
    ("SCAN -18446744073709551616", "ERR invalid cursor"),
    ("SCAN abc COUNT 0", "ERR invalid cursor"),
    ("SCAN 0 COUNT 0", "ERR syntax error"),
    ("SCAN 0 COUNT -1", "ERR syntax error"),
    ("SCAN 0 COUNT abc", "ERR value is not an integer or out of range"),
    ("SCAN 0 COUNT 007", "ERR value is not an integer or out of range"),
    ("SCAN 0 COUNT 9223372036854775808", "ERR value is not an integer or out of range"),
    ("SCAN 0 COUNT abc FOO", "ERR value is not an integer or out of range"),
    ("SCAN 0 COUNT", "ERR syntax error"),
    ("SCAN 0 MATCH", "ERR syntax error"),
    ("SCAN 0 FOO", "ERR syntax error"),
    ("SCAN 0 FOO bar", "ERR syntax error"),
    ("SCAN 0 COUNT 5 TYPE", "ERR syntax error"),
    ("MEMORY", "ERR wrong number of arguments for 'memory' command"),
    ("MEMORY USAGE", "ERR wrong number of arguments for 'memory|usage' command"),
    ("MEMORY FOO", "ERR unknown subcommand 'FOO'. Try MEMORY HELP."),
    ("MEMORY USAGE {k} SAMPLES", "ERR syntax error"),
    ("MEMORY USAGE {k} SAMPLES -1", "ERR syntax error"),
    ("MEMORY USAGE {k} SAMPLES abc", "ERR value is not an integer or out of range"),
    ("MEMORY USAGE {k} FOO 1", "ERR syntax error"),
    ("MEMORY USAGE {k} SAMPLES 0", "nil"),
    ("MEMORY HELP {k}", "ERR wrong number of arguments for 'memory|help' command"),
    ("MEMORY doctor {k}", "ERR wrong number of arguments for 'memory|doctor' command"),
    ("MEMORY Stats {k}", "ERR wrong number of arguments for 'memory|stats' command"),
];

#[test]
fn scan_and_memory_refuse_what_redis_refuses() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    for key in one_key_per_core(&mut con, "mem") {
        // MEMORY USAGE measures a key where it lives (both cores' answers, alone and
        // pipelined, through the table below with the key gone).
        let usage: i64 = redis::cmd("MEMORY").arg("USAGE").arg(&key).query(&mut con).unwrap();
        assert!(usage > key.len() as i64, "MEMORY USAGE {key}: {usage}");
        answers_as_table(&mut con, &SCAN_AND_MEMORY_ERRORS, &key);
    }
}

/// EXPIREAT and PEXPIREAT take a Unix time (a past one deletes the key, as Redis does), with
/// EXPIRE's NX/XX/GT/LT; TOUCH counts the keys that exist. Keys on both shards.
#[test]
fn expireat_pexpireat_and_touch_answer_as_redis_does() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let keys: Vec<String> = (0..8).map(|i| format!("at{i}")).collect();
    for key in &keys {
        let _: () = con.set(key, 1).unwrap();
        let set: i64 = redis::cmd("EXPIREAT").arg(key).arg(now + 100).query(&mut con).unwrap();
        assert_eq!(set, 1);
        let ttl: i64 = con.ttl(key).unwrap();
        assert!((98..=100).contains(&ttl), "{key}: TTL {ttl}");
        let set: i64 = redis::cmd("PEXPIREAT").arg(key).arg(now * 1000 + 5_000).query(&mut con).unwrap();
        assert_eq!(set, 1);
        let pttl: i64 = con.pttl(key).unwrap();
        assert!((2_000..=5_000).contains(&pttl), "{key}: PTTL {pttl}");
        let refused: i64 = redis::cmd("EXPIREAT").arg(key).arg(now + 1).arg("GT").query(&mut con).unwrap();
        assert_eq!(refused, 0, "GT: not later than the expiry it has");
    }
    let touched: i64 = redis::cmd("TOUCH").arg(&keys).arg("nothing").query(&mut con).unwrap();
    assert_eq!(touched, 8, "TOUCH counts existing keys on both shards");
    let past: i64 = redis::cmd("EXPIREAT").arg(&keys[0]).arg(now - 10).query(&mut con).unwrap();
    assert_eq!(past, 1, "a past time deletes the key");
    assert_eq!(con.exists::<_, i64>(&keys[0]).unwrap(), 0);
    let missing: i64 = redis::cmd("EXPIREAT").arg("nothing").arg(now + 100).query(&mut con).unwrap();
    assert_eq!(missing, 0);
    let bad: RedisResult<i64> = redis::cmd("EXPIREAT").arg(&keys[1]).arg(i64::MAX).query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("invalid expire time in 'expireat' command"));
    let bad: RedisResult<i64> = redis::cmd("EXPIREAT").arg(&keys[1]).arg("soon").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("not an integer"));
    let bad: RedisResult<i64> = redis::cmd("TOUCH").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("wrong number of arguments for 'touch' command"));
}

/// EXPIRETIME and PEXPIRETIME give back the Unix time EXPIREAT or PEXPIREAT set (to the
/// millisecond: kv keeps a deadline on the monotonic clock, and the two clocks are read a
/// moment apart), -1 for a key without one and -2 for no key, as Redis 7; keys on both shards.
#[test]
fn expiretime_and_pexpiretime_give_back_the_time_set() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let at_ms = (now + 100) * 1000 + 500; // mid-second: its seconds do not move with a millisecond
    for key in (0..8).map(|i| format!("et{i}")) {
        let _: () = con.set(&key, 1).unwrap();
        let time = |con: &mut Connection, name: &str| -> i64 { redis::cmd(name).arg(&key).query(con).unwrap() };
        assert_eq!(time(&mut con, "EXPIRETIME"), -1, "{key}: no expiry");
        assert_eq!(time(&mut con, "PEXPIRETIME"), -1);
        let _: i64 = redis::cmd("PEXPIREAT").arg(&key).arg(at_ms).query(&mut con).unwrap();
        let ms = time(&mut con, "PEXPIRETIME");
        assert_eq!(ms, at_ms, "{key}: PEXPIRETIME gives back the time set, however late the request ran");
        assert_eq!(time(&mut con, "EXPIRETIME"), now + 100, "{key}");
        let _: i64 = redis::cmd("DEL").arg(&key).query(&mut con).unwrap();
        assert_eq!(time(&mut con, "EXPIRETIME"), -2, "{key}: gone");
        assert_eq!(time(&mut con, "PEXPIRETIME"), -2);
    }
    let bad: RedisResult<i64> = redis::cmd("EXPIRETIME").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("wrong number of arguments for 'expiretime' command"));
}

#[test]
fn every_command_answers_as_redis_does() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = redis::cmd("ECHO").arg("hi there").query(&mut con).unwrap();
    assert_eq!(echo, "hi there");
    let _: () = con.set("n", 41).unwrap();
    assert_eq!(redis::cmd("INCR").arg("n").query::<i64>(&mut con).unwrap(), 42);
    let _: () = con.set("text", "abc").unwrap();
    let err: RedisResult<i64> = redis::cmd("INCR").arg("text").query(&mut con);
    assert!(err.unwrap_err().to_string().contains("not an integer"));
    assert_eq!(redis::cmd("INCR").arg("fresh").query::<i64>(&mut con).unwrap(), 1);
    // MSET/MGET across both shards (20 keys hash to both cores).
    let pairs: Vec<(String, String)> = (0..20).map(|i| (format!("m{i}"), format!("v{i}"))).collect();
    let _: () = con.mset(&pairs).unwrap();
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).chain(["missing".into()]).collect();
    let values: Vec<Option<String>> = con.mget(&keys).unwrap();
    assert_eq!(values.len(), 21);
    assert!(values[..20].iter().zip(&pairs).all(|(v, (_, want))| v.as_deref() == Some(want.as_str())));
    assert_eq!(values[20], None);
    assert_eq!(con.exists::<_, i64>(&keys).unwrap(), 20);
    assert_eq!(con.del::<_, i64>(&keys[..10]).unwrap(), 10);
    assert_eq!(con.exists::<_, i64>(&keys).unwrap(), 10);
    // Expiry: EX, PX, EXPIRE, TTL.
    let _: () = redis::cmd("SET").arg("ex").arg("v").arg("EX").arg(100).query(&mut con).unwrap();
    assert_eq!(con.ttl::<_, i64>("ex").unwrap(), 100);
    assert_eq!(con.ttl::<_, i64>("n").unwrap(), -1);
    assert_eq!(con.ttl::<_, i64>("nothing").unwrap(), -2);
    let _: () = redis::cmd("SET").arg("px").arg("v").arg("PX").arg(50).query(&mut con).unwrap();
    assert!(con.expire::<_, bool>("n", 1).unwrap());
    assert!(!con.expire::<_, bool>("nothing", 1).unwrap());
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(con.get::<_, Option<String>>("px").unwrap(), None, "PX 50 expired");
    let bad: RedisResult<()> = redis::cmd("SET").arg("k").arg("v").arg("EX").arg(0).query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("invalid expire time"));
    let bad: RedisResult<()> = redis::cmd("SET").arg("k").arg("v").arg("FOREVER").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("syntax error"));
    let bad: RedisResult<()> = redis::cmd("GET").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("wrong number of arguments"));
    let bad: RedisResult<()> = redis::cmd("NOSUCH").arg("x").query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("unknown command"));
    // DBSIZE and FLUSHALL over both shards. DBSIZE counts an expired key until the sweeper
    // reclaims it, as Redis' does until its expiry cycle does: within a sweep or two.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let size = loop {
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert!(size == 14 || size == 15, "DBSIZE {size}");
        if size == 14 || std::time::Instant::now() > deadline {
            break size;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(size, 14, "n, text, fresh, 10 m-keys and ex (px expired and swept, k was never set)");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
    // What client libraries send on connecting: database 0, and their own names.
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let bad: RedisResult<()> = redis::cmd("SELECT").arg(1).query(&mut con);
    assert!(bad.unwrap_err().to_string().contains("DB index is out of range"));
    // Redis reads the index as a C int first, and says so past one.
    for index in ["2147483648", "-2147483649", "9223372036854775807"] {
        let bad: RedisResult<()> = redis::cmd("SELECT").arg(index).query(&mut con);
        let err = bad.unwrap_err().to_string();
        assert!(err.contains("value is out of range, value must between -2147483648 and 2147483647"), "{index}: {err}");
    }
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("tests").query(&mut con).unwrap();
    let _: () = redis::cmd("CLIENT").arg("SETINFO").arg("LIB-NAME").arg("redis-rs").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    assert!(info.contains("# core0") && info.contains("# core1") && info.contains("accepted:"));
    // First, what redis-cli --stat reads (the first field of each name), summed over the cores.
    let field = |name: &str| -> u64 {
        let line = info.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("{name} in {info}"));
        line.trim().parse().unwrap()
    };
    assert!(!info.contains("db0:"), "flushed: no keyspace line, as Redis has none without keys: {info}");
    assert_eq!(field("connected_clients:"), 1);
    assert!(field("total_commands_processed:") >= 30 && field("used_memory:") > 0, "the requests above: {info}");
    let bye: String = redis::cmd("QUIT").query(&mut con).unwrap();
    assert_eq!(bye, "OK");
}

/// INFO names the server as redis-server 7.0.15's does, for the tools and libraries that
/// check the version or the role before going on (`redis-cli info server` showed nothing).
#[test]
fn info_names_the_server_and_its_role() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let info: String = redis::cmd("INFO").arg("server").arg("replication").query(&mut con).unwrap();
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim);
    assert!(info.starts_with("# Server\r\n"), "{info}");
    assert_eq!(field("redis_version"), Some("7.0.15"), "{info}");
    assert_eq!(field("redis_mode"), Some("standalone"), "{info}");
    assert_eq!(field("role"), Some("master"), "{info}");
    assert_eq!(field("connected_slaves"), Some("0"), "{info}");
    assert_eq!(field("process_id"), Some(std::process::id().to_string().as_str()), "{info}");
    let uptime: u64 = field("uptime_in_seconds").and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{info}"));
    assert!(uptime < 24 * 3600, "this test's own process: {uptime} s");
}

/// INFO's text for the sections `args` (none: the default).
fn info(con: &mut Connection, args: &[&str]) -> String {
    redis::cmd("INFO").arg(args).query(con).unwrap()
}

/// The section headers of an INFO text, in order.
fn headers(info: &str) -> Vec<&str> {
    info.split("\r\n").filter_map(|line| line.strip_prefix("# ")).collect()
}

/// INFO's text for `args` parsed as redis-py's `info()` parses it: every line a `# Section`
/// header, a `name:value` field, or one blank line before a header, each ended by CRLF
/// (asserted); the fields by name (a later section's field of a name taking its place).
fn parsed(info: &str) -> std::collections::HashMap<&str, &str> {
    assert!(info.is_empty() || (info.ends_with("\r\n") && !info.ends_with("\r\n\r\n")), "{info:?}");
    let lines: Vec<&str> = info.strip_suffix("\r\n").map_or(Vec::new(), |text| text.split("\r\n").collect());
    let mut fields = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        assert!(!line.contains(['\r', '\n']), "a bare CR or LF: {info:?}");
        if line.is_empty() {
            assert!(i > 0 && lines.get(i + 1).is_some_and(|next| next.starts_with("# ")), "{info:?}");
        } else if !line.starts_with("# ") {
            let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("{line:?} in {info:?}"));
            assert!(!name.is_empty(), "{info:?}");
            fields.insert(name, value);
        }
    }
    fields
}

/// The keys and keys with a time (`expires:`) of each core's own INFO section.
fn per_core(con: &mut Connection) -> Vec<(u64, u64)> {
    let text = info(con, &["cores"]);
    let fields = |name: &str| -> Vec<u64> {
        text.lines().filter_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).collect()
    };
    fields("keys").into_iter().zip(fields("expires")).collect()
}

/// `INFO keyspace` as redis-server 7.0.15 answers it: `db0:keys=N,expires=E,avg_ttl=T` over
/// both cores' keys, E the keys with a time (SET EX, EXPIRE; not after PERSIST, a plain SET
/// over, DEL), T the average time they have left in ms; only the header with no keys.
#[test]
fn info_keyspace_counts_the_keys_and_their_times_over_both_cores() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    assert_eq!(info(&mut con, &["keyspace"]), "# Keyspace\r\n", "no keys: no db0 line");
    let keyspace = |con: &mut Connection| -> (u64, u64, u64) {
        let text = info(con, &["keyspace"]);
        assert_eq!(headers(&text), ["Keyspace"], "{text}");
        let fields = parsed(&text);
        let db0 = fields.get("db0").unwrap_or_else(|| panic!("a db0 line: {text}"));
        let mut values = db0.split(',').map(|pair| pair.split_once('=').unwrap());
        let mut next = |name: &str| -> u64 {
            let (named, value) = values.next().unwrap_or_else(|| panic!("{name} in {text}"));
            assert_eq!(named, name, "{text}");
            value.parse().unwrap()
        };
        let counts = (next("keys"), next("expires"), next("avg_ttl"));
        assert!(values.next().is_none(), "three fields: {text}");
        counts
    };
    for i in 0..20 {
        let _: () = con.set(format!("plain:{i}"), i).unwrap();
    }
    assert_eq!(keyspace(&mut con), (20, 0, 0), "no key with a time, avg_ttl 0");
    for i in 0..20 {
        let _: () = redis::cmd("SET").arg(format!("timed:{i}")).arg(i).arg("EX").arg(1000).query(&mut con).unwrap();
    }
    let (keys, expires, avg_ttl) = keyspace(&mut con);
    assert_eq!((keys, expires), (40, 20));
    assert!((990_000..=1_000_000).contains(&avg_ttl), "about 1000 s left: {avg_ttl}");
    let cores = per_core(&mut con);
    assert!(cores.len() == 2 && cores.iter().all(|&(_, expires)| expires > 0), "keys with a time on both: {cores:?}");
    assert_eq!(cores.iter().map(|c| c.1).sum::<u64>(), 20, "{cores:?}");

    for i in 0..5 {
        let persisted: i64 = redis::cmd("PERSIST").arg(format!("timed:{i}")).query(&mut con).unwrap();
        assert_eq!(persisted, 1);
    }
    let (keys, expires, _) = keyspace(&mut con);
    assert_eq!((keys, expires), (40, 15), "PERSIST: the keys stay, their times go");
    let deleted: i64 = con.del((5..10).map(|i| format!("timed:{i}")).collect::<Vec<_>>()).unwrap();
    assert_eq!(deleted, 5);
    let _: () = con.set("timed:10", "plain now").unwrap();
    let _: () = redis::cmd("SET").arg("timed:11").arg("kept").arg("KEEPTTL").query(&mut con).unwrap();
    let set: bool = con.expire("plain:0", 500).unwrap();
    assert!(set);
    let (keys, expires, avg_ttl) = keyspace(&mut con);
    assert_eq!((keys, expires), (35, 10), "DEL took 5 keys with a time, the plain SET one more, EXPIRE added one");
    assert!((900_000..=1_000_000).contains(&avg_ttl), "nine keys with about 1000 s, one with 500: {avg_ttl}");
    let cores = per_core(&mut con);
    assert_eq!(cores.iter().fold((0, 0), |sum, c| (sum.0 + c.0, sum.1 + c.1)), (35, 10), "{cores:?}");

    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    assert_eq!(info(&mut con, &["keyspace"]), "# Keyspace\r\n", "flushed");
    assert_eq!(per_core(&mut con), [(0, 0), (0, 0)]);
}

/// INFO's sections as redis-server 7.0.15 gives them: one named comes alone, under its
/// header; several (any case, repeated) come once each, in INFO's order; a name it has no
/// section for gives an empty text; none, `default`, `all` and `everything` give every
/// section, kv's per-core ones (`cores`) last. Every line parses as redis-py reads it.
#[test]
fn info_gives_the_sections_asked_for() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let _: () = con.set("a", 1).unwrap();
    let server = info(&mut con, &["server"]);
    assert_eq!(headers(&server), ["Server"], "{server}");
    assert!(!server.contains("\r\n\r\n") && !server.contains("role:"), "{server}");
    assert_eq!(parsed(&server)["redis_version"], "7.0.15");
    assert_eq!(headers(&info(&mut con, &["Keyspace", "SERVER", "server"])), ["Server", "Keyspace"]);
    let two = info(&mut con, &["clients", "stats"]);
    assert_eq!(headers(&two), ["Clients", "Stats"], "{two}");
    assert!(two.contains("blocked_clients:0\r\n\r\n# Stats\r\n"), "a blank line between the two: {two}");
    assert_eq!(parsed(&two)["connected_clients"], "1");
    for nothing in [&["nosuch"][..], &["cpu"], &["nosuch", "persistence"]] {
        assert_eq!(info(&mut con, nothing), "", "{nothing:?}: an empty text, as Redis gives");
    }
    assert_eq!(headers(&info(&mut con, &["nosuch", "replication"])), ["Replication"]);
    assert_eq!(headers(&info(&mut con, &["cores"])), ["core0", "core1"]);
    let every = ["Server", "Clients", "Memory", "Stats", "Replication", "Keyspace", "core0", "core1"];
    for all in [&[][..], &["default"], &["all"], &["EVERYTHING"], &["server", "all"]] {
        let text = info(&mut con, all);
        assert_eq!(headers(&text), every, "{all:?}: {text}");
        assert_eq!(parsed(&text)["db0"], "keys=1,expires=0,avg_ttl=0", "{all:?}");
    }
}

/// DBSIZE takes no argument and FLUSHALL only ASYNC or SYNC, as in redis-server 7.0.15:
/// anything else is refused and the keys stay (a `FLUSHALL x` once emptied the store).
#[test]
fn dbsize_and_flushall_refuse_arguments_they_do_not_take() {
    let rt = runtime();
    let addr = start(&rt);
    let out = raw_exchange(addr, b"SET k v\r\nDBSIZE x\r\nFLUSHALL x\r\nFLUSHALL async now\r\nDBSIZE\r\n");
    let want: &[u8] = b"+OK\r\n-ERR wrong number of arguments for 'dbsize' command\r\n\
        -ERR syntax error\r\n-ERR syntax error\r\n:1\r\n";
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(want));
    let out = raw_exchange(addr, b"FLUSHALL SYNC\r\nSET k v\r\nflushall Async\r\nDBSIZE\r\n");
    assert_eq!(out, b"+OK\r\n+OK\r\n+OK\r\n:0\r\n");
}

/// Expiry times are refused as Redis 7 refuses them (the time in milliseconds, and the Unix
/// time in milliseconds it ends at, must fit an i64), never clamped to another time and
/// never a panic, on the connection's own shard and the other core's alike.
#[test]
fn expiry_times_too_large_are_refused_not_clamped() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    // The last millisecond left to an i64 of Unix time, less a day of slack for the test.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let far_ms = i64::MAX - now_ms - 86_400_000;
    for key in one_key_per_core(&mut con, "far") {
        let expire = |con: &mut Connection, secs: i64| redis::cmd("EXPIRE").arg(&key).arg(secs).query::<i64>(con);
        for secs in [i64::MAX, i64::MIN, i64::MAX / 1000 + 1, i64::MAX / 1000, i64::MIN / 1000 - 1] {
            let err = expire(&mut con, secs).unwrap_err().to_string();
            assert!(err.contains("invalid expire time in 'expire' command"), "EXPIRE {secs}: {err}");
        }
        assert_eq!(con.ttl::<_, i64>(&key).unwrap(), -1, "a refused EXPIRE leaves the key as it was");
        assert_eq!(expire(&mut con, far_ms / 1000).unwrap(), 1);
        assert_eq!(con.ttl::<_, i64>(&key).unwrap(), far_ms / 1000);
        let set = |con: &mut Connection, unit: &str, amount: i64| {
            redis::cmd("SET").arg(&key).arg("v").arg(unit).arg(amount).query::<()>(con)
        };
        for (unit, amount) in [("EX", i64::MAX), ("EX", i64::MAX / 1000 + 1), ("EX", i64::MAX / 1000), ("PX", i64::MAX)]
        {
            let err = set(&mut con, unit, amount).unwrap_err().to_string();
            assert!(err.contains("invalid expire time in 'set' command"), "SET {unit} {amount}: {err}");
        }
        assert_eq!(con.ttl::<_, i64>(&key).unwrap(), far_ms / 1000, "a refused SET leaves the key as it was");
        // Formerly clamped to u32::MAX seconds (136 years) without a word.
        set(&mut con, "EX", 1 << 40).unwrap();
        assert_eq!(con.ttl::<_, i64>(&key).unwrap(), 1 << 40);
        set(&mut con, "PX", far_ms).unwrap();
        let ttl = con.ttl::<_, i64>(&key).unwrap();
        assert!((ttl - far_ms / 1000).abs() <= 1, "PX near the end of time: a TTL, not a wrap: {ttl}");
    }
    assert_eq!(redis::cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
}

/// SET's options are read as Redis 7 reads them: all of them before the amount, the last
/// of a repeated EX counting, EX with PX a syntax error.
#[test]
fn set_options_are_read_as_redis_reads_them() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let set =
        |con: &mut Connection, options: &[&str]| redis::cmd("SET").arg("k").arg("v").arg(options).query::<()>(con);
    for (options, error) in [
        (&["EX", "10", "PX", "10"][..], "syntax error"),
        (&["EX", "abc", "PX", "5"], "syntax error"),
        (&["PX", "10", "EX", "5"], "syntax error"),
        (&["EX", "10", "EX"], "syntax error"),
        (&["EX", "10", "EX", "abc"], "not an integer"),
        (&["EX", "0"], "invalid expire time in 'set' command"),
        (&["PX", "-1"], "invalid expire time in 'set' command"),
    ] {
        let err = set(&mut con, options).unwrap_err().to_string();
        assert!(err.contains(error), "SET k v {options:?}: {err}");
    }
    set(&mut con, &["EX", "0", "ex", "20"]).unwrap();
    assert_eq!(con.ttl::<_, i64>("k").unwrap(), 20, "the last EX counts");
    set(&mut con, &["px", "5000", "PX", "30000"]).unwrap();
    assert_eq!(con.ttl::<_, i64>("k").unwrap(), 30);
}

/// SET's options, SETNX, GETSET, INCRBY, DECR and DECRBY on one key, each with the reply
/// redis-server 7.0.15 gave to the same requests (`{k}` is the key).
const SET_AND_COUNT: [(&str, &str); 34] = [
    ("SET {k} 1 XX", "nil"),
    ("SET {k} 1 NX", "OK"),
    ("SET {k} 2 NX", "nil"),
    ("SET {k} 2 nx get", "\"1\""),
    ("SET {k} 3 XX GET PX 100000", "\"1\""),
    ("TTL {k}", "100"),
    ("SET {k} 4 xx keepttl", "OK"),
    ("TTL {k}", "100"),
    ("GET {k}", "\"4\""),
    ("SET {k} 5 KEEPTTL EX 1", "ERR syntax error"),
    ("SET {k} 5 NX XX", "ERR syntax error"),
    ("SET {k} 5 EX 1 PXAT 1", "ERR syntax error"),
    ("SET {k} 5 EXAT 0", "ERR invalid expire time in 'set' command"),
    ("SET {k} 5 EXAT abc", "ERR value is not an integer or out of range"),
    ("SET {k} 5 GET", "\"4\""),
    ("TTL {k}", "-1"),
    ("SET {k} 6 PXAT 1 GET", "\"5\""),
    ("EXISTS {k}", "0"),
    ("SETNX {k} a", "1"),
    ("SETNX {k} b", "0"),
    ("GETSET {k} c", "\"a\""),
    ("GET {k}", "\"c\""),
    ("INCRBY {k} 1", "ERR value is not an integer or out of range"),
    ("SET {k} 10", "OK"),
    ("INCRBY {k} 5", "15"),
    ("DECRBY {k} 20", "-5"),
    ("DECR {k}", "-6"),
    ("INCR {k}", "-5"),
    ("DECRBY {k} -9223372036854775808", "ERR decrement would overflow"),
    ("INCRBY {k} 9223372036854775807", "9223372036854775802"),
    ("INCRBY {k} 6", "ERR increment or decrement would overflow"),
    ("INCRBY {k} 007", "ERR value is not an integer or out of range"),
    ("GET {k}", "\"9223372036854775802\""),
    ("DEL {k}", "1"),
];

/// INCRBYFLOAT on one key, with the replies redis-server 7.0.15 gave to the same requests
/// (`{k}` is the key): its `long double` sums, written to 17 decimals without trailing
/// zeros, what it takes as a float (hexadecimal, `inf`) and what it refuses.
const INCR_BY_FLOAT: [(&str, &str); 48] = [
    ("INCRBYFLOAT {k} 10.5", "\"10.5\""),
    ("INCRBYFLOAT {k} 0.1", "\"10.6\""),
    ("GET {k}", "\"10.6\""),
    ("SET {k} 3.0e3", "OK"),
    ("INCRBYFLOAT {k} 0", "\"3000\""),
    ("SET {k} 5.0e3", "OK"),
    ("INCRBYFLOAT {k} 2e-4", "\"5000.00019999999999998\""),
    ("SET {k} 0.1", "OK"),
    ("INCRBYFLOAT {k} 0.2", "\"0.3\""),
    ("INCRBYFLOAT {k} -0.3", "\"0\""),
    ("INCRBYFLOAT {k} 1.23456789012345678901234", "\"1.23456789012345679\""),
    ("INCRBYFLOAT {k} 0x10", "\"17.23456789012345679\""),
    ("INCRBYFLOAT {k} -1e-20", "\"17.23456789012345679\""),
    ("INCRBYFLOAT {k} 1e18", "\"1000000000000000017.25\""),
    ("INCRBYFLOAT {k} -1e18", "\"17.25\""),
    ("SET {k} 7 EX 100", "OK"),
    ("INCRBYFLOAT {k} 1.5", "\"8.5\""),
    ("TTL {k}", "100"),
    ("INCRBYFLOAT {k} inf", "ERR increment would produce NaN or Infinity"),
    ("INCRBYFLOAT {k} -Infinity", "ERR increment would produce NaN or Infinity"),
    ("INCRBYFLOAT {k} nan", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} abc", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} 1e5000", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} 1e-5000", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} 1e", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} 0x", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} .5", "\"9\""),
    ("INCRBYFLOAT {k} 1E2", "\"109\""),
    ("INCRBYFLOAT {k} +1.", "\"110\""),
    ("INCRBYFLOAT {k} -0x1p-2", "\"109.75\""),
    ("INCRBYFLOAT {k} -109.75", "\"0\""),
    ("SET {k} abc", "OK"),
    ("INCRBYFLOAT {k} 1", "ERR value is not a valid float"),
    ("SET {k} 1e4932", "OK"),
    ("INCRBYFLOAT {k} 1e4932", "ERR increment would produce NaN or Infinity"),
    ("SET {k} 1.5e-4000", "OK"),
    ("INCRBYFLOAT {k} 0", "\"0\""),
    ("SET {k} 9007199254740993", "OK"),
    ("INCRBYFLOAT {k} 0.5", "\"9007199254740993.5\""),
    ("INCRBYFLOAT {k}", "ERR wrong number of arguments for 'incrbyfloat' command"),
    ("INCRBYFLOAT {k} 1 2", "ERR wrong number of arguments for 'incrbyfloat' command"),
    // A NUL stops strtold short of the whole text: refused (a value "\0" "5" was once read as
    // 0 and overwritten with the increment).
    ("SET {k} \u{0}5", "OK"),
    ("INCRBYFLOAT {k} 1", "ERR value is not a valid float"),
    ("SET {k} 5", "OK"),
    ("INCRBYFLOAT {k} 2\u{0}3", "ERR value is not a valid float"),
    ("INCRBYFLOAT {k} \u{0}", "ERR value is not a valid float"),
    ("GET {k}", "\"5\""),
    ("DEL {k}", "1"),
];

/// PEXPIRE, PTTL, PERSIST, GETDEL, GETEX, SETEX, PSETEX, UNLINK, TYPE, STRLEN, APPEND and
/// EXPIRE's NX, XX, GT and LT on one key, with the replies redis-server 7.0.15 gave (times
/// chosen so that the reply does not depend on how long a request takes).
const TIMES_AND_TAKES: [(&str, &str); 109] = [
    ("SET {k} 5", "OK"),
    ("PTTL {k}", "-1"),
    ("PERSIST {k}", "0"),
    ("PEXPIRE {k} 100000", "1"),
    ("TTL {k}", "100"),
    ("PERSIST {k}", "1"),
    ("PERSIST {k}", "0"),
    ("TTL {k}", "-1"),
    ("PEXPIRE {k} abc", "ERR value is not an integer or out of range"),
    ("PEXPIRE {k} 9223372036854775000", "ERR invalid expire time in 'pexpire' command"),
    ("EXPIRE {k} 9223372036854775", "ERR invalid expire time in 'expire' command"),
    ("PEXPIRE {k} -1", "1"),
    ("EXISTS {k}", "0"),
    ("PTTL {k}", "-2"),
    ("PERSIST {k}", "0"),
    ("PEXPIRE {k} 10", "0"),
    ("SET {k} 7 EX 100", "OK"),
    ("GETDEL {k}", "\"7\""),
    ("GETDEL {k}", "nil"),
    ("TTL {k}", "-2"),
    ("PTTL {k} a", "ERR wrong number of arguments for 'pttl' command"),
    ("GETDEL {k} a", "ERR wrong number of arguments for 'getdel' command"),
    ("SET {k} 5", "OK"),
    ("GETEX {k}", "\"5\""),
    ("TTL {k}", "-1"),
    ("GETEX {k} EX 100", "\"5\""),
    ("TTL {k}", "100"),
    ("GETEX {k} PERSIST", "\"5\""),
    ("TTL {k}", "-1"),
    ("GETEX {k} EX 0", "ERR invalid expire time in 'getex' command"),
    ("GETEX {k} EX abc", "ERR value is not an integer or out of range"),
    ("GETEX {k} EX 10 PX 10", "ERR syntax error"),
    ("GETEX {k} PERSIST EX 10", "ERR syntax error"),
    ("GETEX {k} EX", "ERR syntax error"),
    ("GETEX {k} ex 10 ex 20", "\"5\""),
    ("TTL {k}", "20"),
    ("GETEX {k} EX 9223372036854775", "ERR invalid expire time in 'getex' command"),
    ("GETEX {k} EXAT 1", "\"5\""),
    ("EXISTS {k}", "0"),
    ("GETEX {k} EX 10", "nil"),
    // Redis looks the key up before it reads the amount: no key is nil, whatever the amount;
    // the syntax is checked first.
    ("GETEX {k} EX 0", "nil"),
    ("GETEX {k} EX abc", "nil"),
    ("GETEX {k} PX -1", "nil"),
    ("GETEX {k} EX 9223372036854775", "nil"),
    ("GETEX {k} EX 0 PX 1", "ERR syntax error"),
    ("EXISTS {k}", "0"),
    ("GETEX", "ERR wrong number of arguments for 'getex' command"),
    ("SETEX {k} 100 v", "OK"),
    ("TTL {k}", "100"),
    ("GET {k}", "\"v\""),
    ("SETEX {k} 0 v", "ERR invalid expire time in 'setex' command"),
    ("SETEX {k} abc v", "ERR value is not an integer or out of range"),
    ("SETEX {k} 100", "ERR wrong number of arguments for 'setex' command"),
    ("PSETEX {k} 100000 w", "OK"),
    ("TTL {k}", "100"),
    ("GET {k}", "\"w\""),
    ("PSETEX {k} 9223372036854775000 v", "ERR invalid expire time in 'psetex' command"),
    ("UNLINK {k}", "1"),
    ("UNLINK {k}", "0"),
    ("TYPE {k}", "none"),
    ("STRLEN {k}", "0"),
    ("APPEND {k} abc", "3"),
    ("TYPE {k}", "string"),
    ("EXPIRE {k} 100", "1"),
    ("APPEND {k} d", "4"),
    ("TTL {k}", "100"),
    ("STRLEN {k}", "4"),
    ("GET {k}", "\"abcd\""),
    ("SET {k} 10", "OK"),
    ("APPEND {k} 5", "3"),
    ("INCR {k}", "106"),
    ("APPEND {k}", "ERR wrong number of arguments for 'append' command"),
    ("SET {k} v", "OK"),
    ("EXPIRE {k} 100 XX", "0"),
    ("EXPIRE {k} 100 GT", "0"),
    ("EXPIRE {k} 100 LT", "1"),
    ("TTL {k}", "100"),
    ("EXPIRE {k} 50 NX", "0"),
    ("EXPIRE {k} 200 LT", "0"),
    ("EXPIRE {k} 200 GT", "1"),
    ("TTL {k}", "200"),
    ("EXPIRE {k} 100 GT", "0"),
    ("EXPIRE {k} 100 LT", "1"),
    ("TTL {k}", "100"),
    ("EXPIRE {k} 300 XX", "1"),
    ("TTL {k}", "300"),
    ("EXPIRE {k} 10 NX XX", "ERR NX and XX, GT or LT options at the same time are not compatible"),
    ("EXPIRE {k} 10 GT LT", "ERR GT and LT options at the same time are not compatible"),
    ("EXPIRE {k} 10 NX GT", "ERR NX and XX, GT or LT options at the same time are not compatible"),
    ("EXPIRE {k} 10 XX GT", "0"),
    ("TTL {k}", "300"),
    ("EXPIRE {k} 10 FOO", "ERR Unsupported option FOO"),
    ("EXPIRE {k} abc FOO", "ERR Unsupported option FOO"),
    ("EXPIRE {k} abc NX", "ERR value is not an integer or out of range"),
    ("EXPIRE {k} 10 nx nx", "0"),
    ("PEXPIRE {k} 100000 lt", "1"),
    ("TTL {k}", "100"),
    ("SET {k} v", "OK"),
    ("EXPIRE {k} -1 XX", "0"),
    ("EXISTS {k}", "1"),
    ("EXPIRE {k} 0 GT", "0"),
    ("EXISTS {k}", "1"),
    ("EXPIRE {k} -1 NX", "1"),
    ("EXISTS {k}", "0"),
    ("EXPIRE {k} 10 NX", "0"),
    ("SET {k} v EX 100", "OK"),
    ("EXPIRE {k} -5 GT", "0"),
    ("EXPIRE {k} -5 LT", "1"),
    ("EXISTS {k}", "0"),
];

/// Every new command answers as Redis 7 does on each of the three paths a request takes:
/// a key of the connection's own core, the other core's at pipeline 1 (that core writes the
/// reply to the client itself), and the other core's in a pipeline (forwarded in a batch,
/// answered back).
#[test]
fn set_options_and_counters_answer_as_redis_does_on_every_path() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let [local, remote] = one_key_per_core(&mut con, "opt");
    for key in [&local, &remote] {
        answers_as_table(&mut con, &SET_AND_COUNT, key);
    }
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    let remote_ops: Vec<u64> =
        info.lines().filter_map(|l| l.strip_prefix("ops_remote:")).map(|n| n.trim().parse().unwrap()).collect();
    // 27 requests of the table reach a shard (the rest are refused where they are read).
    assert!(remote_ops[1] >= 2 * 27, "core 1 served its key alone and pipelined: {info}");
}

#[test]
fn incrbyfloat_answers_as_redis_does_on_every_path() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    for key in one_key_per_core(&mut con, "float") {
        answers_as_table(&mut con, &INCR_BY_FLOAT, &key);
    }
}

/// MSETNX of two keys `{k}` and `{j}` that live on one shard, with the replies redis-server
/// 7.0.15 gave (an expired key counts as absent).
const MSETNX_ONE_SHARD: [(&str, &str); 17] = [
    ("SET {j} 0", "OK"),
    ("DEL {k} {j}", "1"),
    ("MSETNX {k} 1 {j} 2", "1"),
    ("GET {k}", "\"1\""),
    ("GET {j}", "\"2\""),
    ("MSETNX {k} 3 {j} 4", "0"),
    ("GET {k}", "\"1\""),
    ("DEL {k}", "1"),
    ("MSETNX {k} 5 {j} 6", "0"),
    ("EXISTS {k}", "0"),
    ("SET {j} 7 PXAT 1", "OK"),
    ("MSETNX {k} a {k} b {j} c", "1"),
    ("GET {k}", "\"b\""),
    ("GET {j}", "\"c\""),
    ("MSETNX {k}", "ERR wrong number of arguments for 'msetnx' command"),
    ("MSETNX {k} 1 {j}", "ERR wrong number of arguments for 'msetnx' command"),
    ("DEL {k} {j}", "2"),
];

/// MSETNX is one operation on the shard that owns its keys, on every path (keys of the
/// connection's core, the other core's alone and pipelined); keys on two shards are refused
/// as Redis Cluster refuses keys in two slots, and none is written.
#[test]
fn msetnx_sets_all_or_none_on_one_shard_and_refuses_two() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let [on0, on1] = two_keys_per_core(&mut con, "nx");
    for [k, j] in [&on0, &on1] {
        let table: Vec<(String, &str)> =
            MSETNX_ONE_SHARD.iter().map(|(line, want)| (line.replace("{j}", j), *want)).collect();
        let table: Vec<(&str, &str)> = table.iter().map(|(line, want)| (line.as_str(), *want)).collect();
        answers_as_table(&mut con, &table, k);
    }
    let _: () = con.del(&[&on0[0], &on1[0]]).unwrap();
    let crossed = redis::cmd("MSETNX").arg(&on0[0]).arg(1).arg(&on1[0]).arg(2).query::<Value>(&mut con);
    assert_eq!(shown(crossed), "CROSSSLOT Keys in request don't hash to the same slot");
    assert_eq!(con.exists::<_, i64>(&[&on0[0], &on1[0]]).unwrap(), 0, "neither key written");
}

/// Keys sharing a hash tag (`{...}`, as in Redis Cluster) share a shard, so the commands of
/// several keys that refuse two shards run on them: a write-then-RENAME over a key of the
/// other core, MSETNX. The same keys without their tags are on two shards and refused; a
/// tagged key is read back on either core.
#[test]
fn keys_sharing_a_hash_tag_share_a_shard() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let [on0, on1] = one_key_per_core(&mut con, "plain");
    // Tagged by the other core's key: both land there, whatever the rest of the name.
    let (tmp, live) = (format!("{{{on1}}}.tmp"), format!("{{{on1}}}.live"));
    let _: () = con.set(&live, "v1").unwrap();
    let _: () = con.set(&tmp, "v2").unwrap();
    assert_eq!(redis::cmd("RENAME").arg(&tmp).arg(&live).query::<String>(&mut con).unwrap(), "OK");
    let on_other = connect_to_core(&rt, addr, 1).get::<_, String>(&live).unwrap();
    assert_eq!((con.get::<_, String>(&live).unwrap(), on_other), ("v2".into(), "v2".into()));
    assert_eq!(con.exists::<_, i64>(&tmp).unwrap(), 0);
    let (a, b) = (format!("{{{on0}}}a"), format!("x{{{on0}}}"));
    assert_eq!(redis::cmd("MSETNX").arg(&a).arg(1).arg(&b).arg(2).query::<i64>(&mut con).unwrap(), 1);
    let _: () = con.set(&on0, "a").unwrap();
    let crossed = redis::cmd("RENAME").arg(&on0).arg(&on1).query::<Value>(&mut con);
    assert_eq!(shown(crossed), "CROSSSLOT Keys in request don't hash to the same slot");
}

/// MEMORY HELP and DOCTOR as redis-server 7.0.15 gives them (the doctor's empty-instance
/// text below 5 MiB of data), and STATS' fields in Redis' order, with the keys as DBSIZE
/// counts them and their bytes as MEMORY USAGE measures them, summed over both shards.
#[test]
fn memory_help_doctor_and_stats_answer_as_redis_does() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let help: Vec<String> = redis::cmd("MEMORY").arg("help").query(&mut con).unwrap();
    assert_eq!(help.len(), 14);
    assert_eq!(help[0], "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    assert_eq!(help[13], "    Prints this help.");
    let doctor: String = redis::cmd("MEMORY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.starts_with("Hi Sam, this instance is empty") && doctor.ends_with("rebooting.\n"), "{doctor}");
    let keys: Vec<String> = (0..40).map(|i| format!("mem:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let _: () = con.set(key, "x".repeat(i * 10)).unwrap();
    }
    let usage: i64 =
        keys.iter().map(|k| redis::cmd("MEMORY").arg("USAGE").arg(k).query::<i64>(&mut con).unwrap()).sum();
    let stats: Vec<(String, i64)> = redis::cmd("MEMORY").arg("stats").query(&mut con).unwrap();
    let names: Vec<&str> = stats.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["total.allocated", "keys.count", "keys.bytes-per-key", "dataset.bytes"]);
    assert!(stats[0].1 > usage, "the process holds more than its keys: {stats:?}");
    assert_eq!(stats[1].1, 40);
    assert_eq!(stats[2].1, usage / 40);
    assert_eq!(stats[3].1, usage, "the keys' bytes, from both shards");
}

#[test]
fn times_and_takes_answer_as_redis_does_on_every_path() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    for key in one_key_per_core(&mut con, "time") {
        answers_as_table(&mut con, &TIMES_AND_TAKES, &key);
    }
}

/// EXAT and PXAT are Unix times: a TTL counted from the wall clock, on either core.
#[test]
fn set_at_a_unix_time_expires_then() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let unix_now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    for key in one_key_per_core(&mut con, "at") {
        let now = unix_now();
        let exat = (now.as_secs() + 1000).to_string();
        let _: () = redis::cmd("SET").arg(&key).arg("v").arg("EXAT").arg(&exat).query(&mut con).unwrap();
        let ttl = con.ttl::<_, i64>(&key).unwrap();
        assert!((998..=1000).contains(&ttl), "EXAT {exat}: TTL {ttl}");
        let pxat = (unix_now().as_millis() + 1000).to_string();
        let _: () = redis::cmd("SET").arg(&key).arg("v").arg("PXAT").arg(&pxat).query(&mut con).unwrap();
        assert_eq!(con.get::<_, Option<String>>(&key).unwrap().as_deref(), Some("v"));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(con.get::<_, Option<String>>(&key).unwrap(), None, "PXAT {pxat} passed");
    }
}

/// Times are whole milliseconds, as Redis keeps them: PTTL just after `SET PX 100000` is
/// 100000, and `EXPIRE k 100 GT` right after `EXPIRE k 100` is refused, unless a millisecond
/// passed between the two requests (so each is tried a few times, on either core). Counted
/// in nanoseconds, kv answered 99999 and 1 every time.
#[test]
fn times_are_whole_milliseconds_as_redis_keeps_them() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    for key in one_key_per_core(&mut con, "ms") {
        let pttls: Vec<i64> = (0..50)
            .map(|_| {
                let _: () = redis::cmd("SET").arg(&key).arg("v").arg("PX").arg(100_000).query(&mut con).unwrap();
                con.pttl(&key).unwrap()
            })
            .collect();
        assert!(pttls.contains(&100_000), "PTTL after SET PX 100000 on {key}: {pttls:?}");
        let later: Vec<i64> = (0..50)
            .map(|_| {
                let _: i64 = redis::cmd("EXPIRE").arg(&key).arg(100).query(&mut con).unwrap();
                redis::cmd("EXPIRE").arg(&key).arg(100).arg("GT").query(&mut con).unwrap()
            })
            .collect();
        assert!(later.contains(&0), "EXPIRE 100 GT after EXPIRE 100 on {key}: {later:?}");
    }
}

/// SET NX is a lock: of clients racing for one key from both cores, exactly one wins, as
/// the owning core decides, and the key holds the winner's value.
#[test]
fn set_nx_has_one_winner_among_clients_on_both_cores() {
    let rt = runtime();
    let addr = start(&rt);
    let (clients, rounds) = (6, 200);
    let won: Vec<Vec<bool>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|t| {
                let mut con = connect_to_core(&rt, addr, t % 2);
                scope.spawn(move || {
                    (0..rounds)
                        .map(|round| {
                            let mut set = redis::cmd("SET");
                            set.arg(format!("lock:{round}")).arg(t).arg("NX").arg("PX").arg(60_000);
                            set.query::<Option<String>>(&mut con).unwrap().is_some_and(|ok| ok == "OK")
                        })
                        .collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("a client failed")).collect()
    });
    let mut con = connect(addr);
    for round in 0..rounds {
        let winners: Vec<usize> = won.iter().enumerate().filter(|(_, w)| w[round]).map(|(t, _)| t).collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let holder: usize = con.get(format!("lock:{round}")).unwrap();
        assert_eq!(holder, winners[0], "round {round}");
    }
}

/// CPU time, in clock ticks, that the threads `tids` have used (utime + stime).
fn threads_cpu_ticks(tids: &[String]) -> u64 {
    tids.iter().map(|tid| cpu_ticks(&format!("/proc/self/task/{tid}/stat"))).sum()
}

/// Sends `input` in 2 KiB pieces a millisecond apart (so the server reads it piece by
/// piece), then reads `reply_len` bytes of replies.
fn trickle(addr: SocketAddr, input: &[u8], reply_len: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    for piece in input.chunks(2048) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut reply = vec![0; reply_len];
    s.read_exact(&mut reply).unwrap();
    assert!(reply.starts_with(b"*"), "{:?}", String::from_utf8_lossy(&reply[..reply.len().min(64)]));
}

/// A request of many arguments that arrives over many reads costs its core about what the
/// same arguments in small requests cost: the part already arrived is not parsed again at
/// every read (which made it quadratic, ~2 s of a core for a 7 MB MGET sent slowly).
#[test]
fn a_big_request_arriving_slowly_is_parsed_once() {
    // In a process of its own: it measures its cores' CPU time, and its requests of several
    // MiB, once freed, raise glibc's mmap threshold for the whole process, which changes
    // what the tests of memory here measure.
    const ALONE: &str = "KV_TEST_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let name = "a_big_request_arriving_slowly_is_parsed_once";
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&child.stdout) + String::from_utf8_lossy(&child.stderr);
        assert!(child.status.success() && said.contains("1 passed"), "{said}");
        return;
    }
    let rt = runtime();
    let addr = start(&rt);
    let tids: Vec<String> = rt
        .run_on_each_core(|_| async { std::fs::read_link("/proc/thread-self").unwrap() })
        .into_iter()
        .map(|h| h.join().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let (keys, per_request) = (400_000, 1000);
    let mget = |n: usize| {
        let mut req = format!("*{}\r\n$4\r\nMGET\r\n", n + 1).into_bytes();
        (0..n).for_each(|_| req.extend_from_slice(b"$1\r\nk\r\n"));
        req
    };
    let replies = |n: usize| format!("*{n}\r\n").len() + n * b"$-1\r\n".len();
    let small: Vec<u8> = (0..keys / per_request).flat_map(|_| mget(per_request)).collect();
    let before = threads_cpu_ticks(&tids);
    trickle(addr, &small, keys / per_request * replies(per_request));
    let small_cost = threads_cpu_ticks(&tids) - before;
    let before = threads_cpu_ticks(&tids);
    trickle(addr, &mget(keys), replies(keys));
    let big_cost = threads_cpu_ticks(&tids) - before;
    assert!(
        big_cost <= 3 * small_cost + 20,
        "one request of {keys} keys took {big_cost} ticks, {} requests of {per_request} took {small_cost}",
        keys / per_request
    );
}

#[test]
fn a_pipeline_gets_its_replies_in_order() {
    let rt = runtime();
    let mut con = connect(start(&rt));
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    for i in 0..500 {
        pipe.cmd("INCR").arg(format!("p{i}"));
    }
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(got, (1..=500).collect::<Vec<i64>>());
}

/// At pipeline 1 the core owning a key writes its reply straight to the client; a reply
/// larger than the socket takes at once is finished by the connection's own core, intact.
#[test]
fn a_reply_too_big_for_the_socket_arrives_whole_from_either_core() {
    let rt = runtime();
    let addr = start(&rt);
    let big: Vec<u8> = (0..12 << 20).map(|i| b'a' + (i % 23) as u8).collect();
    let mut setter = connect(addr);
    let _: () = setter.set("big", &big[..]).unwrap();
    // One connection per core: for one of them the key lives on the other core.
    for core in 0..2 {
        let mut con = connect_to_core(&rt, addr, core);
        for _ in 0..3 {
            let got: Vec<u8> = con.get("big").unwrap();
            assert!(got == big, "core {core}: {} bytes back of {}", got.len(), big.len());
            let pong: String = redis::cmd("PING").query(&mut con).unwrap();
            assert_eq!(pong, "PONG", "the next reply follows the big one");
        }
    }
}

/// Held by the tests that measure this process's memory, so that neither counts the other's.
static MEASURING_RSS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Per-core key counts, from INFO.
fn keys_per_core(con: &mut Connection) -> Vec<u64> {
    let info: String = redis::cmd("INFO").query(con).unwrap();
    info.lines().filter_map(|l| l.strip_prefix("keys:")).map(|n| n.trim().parse().unwrap()).collect()
}

/// Names starting with `prefix`, the first owned by core 0 and the second by core 1 (told by
/// INFO's key counts as each is set).
fn one_key_per_core(con: &mut Connection, prefix: &str) -> [String; 2] {
    let mut found: [Option<String>; 2] = [None, None];
    for i in 0..64 {
        let key = format!("{prefix}:{i}");
        let before = keys_per_core(con);
        let _: () = con.set(&key, "probe").unwrap();
        let after = keys_per_core(con);
        let core = (0..2).find(|&c| after[c] > before[c]).expect("a core got the key");
        found[core].get_or_insert(key);
        if let [Some(a), Some(b)] = &found {
            return [a.clone(), b.clone()];
        }
    }
    panic!("64 keys and one core owns them all");
}

/// Two names starting with `prefix` owned by core 0, and two owned by core 1.
fn two_keys_per_core(con: &mut Connection, prefix: &str) -> [[String; 2]; 2] {
    let [a0, a1] = one_key_per_core(con, &format!("{prefix}a"));
    let [b0, b1] = one_key_per_core(con, &format!("{prefix}b"));
    [[a0, b0], [a1, b1]]
}

/// This process's resident memory (the server runs in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// A bulk reply's bytes as RESP sends them.
fn bulk_reply(value: &[u8]) -> Vec<u8> {
    [format!("${}\r\n", value.len()).as_bytes(), value, b"\r\n"].concat()
}

/// Reads `want` from `s` in small slices with pauses (a slow client), comparing as it goes
/// rather than keeping it; calls `sample` between slices. Bounded by the socket's timeout.
fn read_slowly_and_compare(s: &mut TcpStream, want: &[&[u8]], mut sample: impl FnMut()) {
    let mut buf = vec![0; 256 * 1024];
    for (i, reply) in want.iter().enumerate() {
        let mut at = 0;
        while at < reply.len() {
            let n = (reply.len() - at).min(buf.len());
            s.read_exact(&mut buf[..n]).unwrap_or_else(|e| panic!("reply {i}: {e} after {at} bytes"));
            assert!(buf[..n] == reply[at..at + n], "reply {i}: bytes {at}..{} differ", at + n);
            at += n;
            std::thread::sleep(Duration::from_micros(200));
            sample();
        }
    }
}

/// One write of 200 GETs of a 4 MiB value (800 MiB of replies) from a client that reads
/// slowly: the server owes a bounded amount at a time, and every reply arrives intact and in
/// order. Before the replies were bounded the server built all 800 MiB first.
#[test]
fn a_pipeline_of_big_replies_to_a_slow_reader_keeps_memory_bounded() {
    let rt = runtime();
    let addr = start(&rt);
    let big: Vec<u8> = (0..4 << 20).map(|i| b'a' + (i % 23) as u8).collect();
    let mut setter = connect(addr);
    // One on each shard, so that one is forwarded whichever core serves the client.
    let keys = one_key_per_core(&mut setter, "big");
    for key in &keys {
        let _: () = setter.set(key, &big[..]).unwrap();
    }
    let _alone = MEASURING_RSS.lock().unwrap_or_else(|e| e.into_inner());
    let before = rss();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let gets: Vec<u8> = (0..200).flat_map(|i| format!("GET {}\r\n", keys[i % 2]).into_bytes()).collect();
    s.write_all(&gets).unwrap();
    let reply = bulk_reply(&big);
    let want: Vec<&[u8]> = (0..200).map(|_| reply.as_slice()).collect();
    let mut peak = 0;
    read_slowly_and_compare(&mut s, &want, || peak = peak.max(rss()));
    let grown = peak.saturating_sub(before);
    // A few replies in flight (~30 MiB here), plus what other tests hold; not 800 MiB (1.6 GiB
    // of RSS before replies were bounded).
    assert!(grown < 128 << 20, "RSS grew by {} MiB while 800 MiB of replies went out", grown >> 20);
    // The connection still serves.
    s.write_all(b"PING\r\n").unwrap();
    let mut pong = [0; 7];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
}

/// Big and small replies, local and forwarded, mixed in one write: the budget splits the
/// pipeline into runs, and the replies keep the requests' order across them (MGET and MSET
/// spanning both shards included), up to a QUIT whose OK is the last thing sent.
#[test]
fn a_mixed_pipeline_of_big_and_small_replies_keeps_its_order() {
    let rt = runtime();
    let addr = start(&rt);
    let big: Vec<u8> = (0..3 << 20).map(|i| b'A' + (i % 19) as u8).collect();
    let mut setter = connect(addr);
    // One on each shard: whichever core serves the client, one is forwarded.
    let [big1, big2] = one_key_per_core(&mut setter, "mixed:big");
    let _: () = setter.set(&big1, &big[..]).unwrap();
    let _: () = setter.set(&big2, &big[..1 << 20]).unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut input = Vec::new();
    let mut want: Vec<Vec<u8>> = Vec::new();
    for i in 0..60 {
        input.extend_from_slice(format!("SET mixed:{i} v{i}\r\nGET {}\r\n", [&big1, &big2][i % 2]).as_bytes());
        want.push(b"+OK\r\n".to_vec());
        want.push(bulk_reply(if i % 2 == 0 { &big } else { &big[..1 << 20] }));
        input.extend_from_slice(format!("INCR mixed:n\r\nMGET mixed:{i} {big2} nothing\r\n").as_bytes());
        want.push(format!(":{}\r\n", i + 1).into_bytes());
        want.push(
            [
                format!("*3\r\n{}", String::from_utf8(bulk_reply(format!("v{i}").as_bytes())).unwrap()).as_bytes(),
                &bulk_reply(&big[..1 << 20]),
                b"$-1\r\n",
            ]
            .concat(),
        );
        input.extend_from_slice(format!("MSET mixed:x{i} 1 mixed:y{i} 2\r\nPING\r\n").as_bytes());
        want.push(b"+OK\r\n".to_vec());
        want.push(b"+PONG\r\n".to_vec());
    }
    input.extend_from_slice(b"QUIT\r\nPING\r\n");
    want.push(b"+OK\r\n".to_vec());
    s.write_all(&input).unwrap();
    let want: Vec<&[u8]> = want.iter().map(Vec::as_slice).collect();
    read_slowly_and_compare(&mut s, &want, || {});
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after QUIT's OK: {:?}", String::from_utf8_lossy(&rest));
}

/// Requests sent one write at a time without waiting for replies: a read may complete
/// while another core still owes the previous reply, which must still come first.
#[test]
fn requests_sent_without_waiting_get_replies_in_order() {
    let rt = runtime();
    let addr = start(&rt);
    let clients: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut out = TcpStream::connect(addr).unwrap();
                out.set_nodelay(true).unwrap();
                let mut input = out.try_clone().unwrap();
                input.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let n = 1000;
                let writer = std::thread::spawn(move || {
                    for i in 0..n {
                        let (key, value) = (format!("w{t}:{}", i % 37), i.to_string());
                        let set =
                            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len());
                        let get = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
                        // Gaps of a few tens of microseconds, so that requests often
                        // arrive alone, and sometimes before the previous reply went out.
                        out.write_all(set.as_bytes()).unwrap();
                        std::thread::sleep(Duration::from_micros((i % 4 * 20) as u64));
                        out.write_all(get.as_bytes()).unwrap();
                    }
                    out
                });
                let want: Vec<u8> = (0..n)
                    .flat_map(|i: usize| format!("+OK\r\n${}\r\n{i}\r\n", i.to_string().len()).into_bytes())
                    .collect();
                let mut got = vec![0; want.len()];
                input.read_exact(&mut got).unwrap();
                assert!(got == want, "client {t}: replies out of order");
                drop(writer.join().unwrap());
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
}

/// Each request, sent alone on a connection of its own, gets exactly its answer.
fn assert_answers(addr: SocketAddr, cases: &[(&str, &str)]) {
    for &(request, want) in cases {
        let got = raw_exchange(addr, format!("{request}\r\n").as_bytes());
        assert_eq!(String::from_utf8_lossy(&got), want, "{request}");
    }
}

/// Raw bytes in, everything the server says until it closes (or 5 s pass).
fn raw_exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(input).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn malformed_input_gets_an_error_and_the_server_carries_on() {
    let rt = runtime();
    let addr = start(&rt);
    let cases: [&[u8]; 7] = [
        b"*1\r\n$99999999999\r\n",       // a huge bulk length
        b"*1\r\n$-5\r\n",                // negative
        b"*1\r\n$04\r\nPING\r\n",        // a leading zero (redis-server refuses it too)
        b"*1\r\n$00\r\n\r\n",            // the same on a zero length
        b"*2\r\n:4\r\nPING\r\n",         // not a bulk string
        b"*x\r\n",                       // not a number
        b"*99999999999999999999999\r\n", // overflows
    ];
    for case in cases {
        let out = raw_exchange(addr, case);
        assert!(
            out.starts_with(b"-ERR Protocol error"),
            "{:?} -> {:?}",
            String::from_utf8_lossy(case),
            String::from_utf8_lossy(&out)
        );
    }
    // Inline requests, and replies before the error are kept.
    let out = raw_exchange(addr, b"PING\r\nECHO hello\r\n*1\r\n$-9\r\n");
    assert_eq!(out, b"+PONG\r\n$5\r\nhello\r\n-ERR Protocol error: invalid bulk length\r\n");
    let mut con = connect(addr);
    assert_eq!(redis::cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
}

/// What ends a header or a bulk string, read as Redis 7.0's `processMultibulkBuffer` reads
/// it: a header line ends at its first CR, and the byte after that CR, whatever it is, goes
/// with it; the two bytes after a bulk string's payload are skipped unread. So a request
/// whose line ends or bulk strings are followed by something else than CRLF is answered as
/// Redis answers it (it was a protocol error here), and one with bare LFs waits for a CR,
/// as in Redis, until the client closes.
#[test]
fn line_ends_are_skipped_as_redis_skips_them() {
    let rt = runtime();
    let addr = start(&rt);
    let cases: [(&[u8], &str); 6] = [
        (b"*1\r\n$4\r\nPINGxx", "+PONG\r\n"),
        (b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\n\n*1\r\n$4\r\nPING\r\n", "$2\r\nhi\r\n+PONG\r\n"),
        (b"*1\rX$4\r\nPING\r\n", "+PONG\r\n"),
        (b"*2\r\n$4\rxECHO\0\0$1\r\na\r\n", "$1\r\na\r\n"),
        (b"*1\r\r$4\r\nPING\r\n", "+PONG\r\n"),
        (b"*1\n$4\nPING\n", ""),
    ];
    for (input, want) in cases {
        let out = raw_exchange(addr, input);
        assert_eq!(String::from_utf8_lossy(&out), want, "{:?}", String::from_utf8_lossy(input));
    }
}

/// The protocol errors' texts, byte for byte as redis-server 7.0.15 sent them for the same
/// input (each answered, then the connection closed): the byte found where a bulk string's
/// `$` should be is quoted, CR as a space (Redis turns CR and LF in errors into spaces).
#[test]
fn protocol_errors_read_as_redis_7s() {
    let rt = runtime();
    let addr = start(&rt);
    let cases: [(&[u8], &[u8]); 11] = [
        (b"*1\r\nx\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
        (b"*1\r\n:5\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
        (b"*1\r\n*1\r\n", b"-ERR Protocol error: expected '$', got '*'\r\n"),
        (b"*1\r\n\xff\r\n", b"-ERR Protocol error: expected '$', got '\xff'\r\n"),
        (b"*1\r\n\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),
        (b"*2\r\n$3\r\nget\r\nxy\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
        (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"set 'a\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    for (input, want) in cases {
        let out = raw_exchange(addr, input);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(out, want);
    }
}

/// Inline lines are split as Redis' sdssplitargs splits them (each case checked against
/// redis-server 7.0.15): double quotes with their escapes, single quotes with `\'` only, a
/// quote inside an argument, an empty quoted argument; an unbalanced quote, or a closing
/// one followed by anything but a blank, is a protocol error.
#[test]
fn inline_arguments_split_as_redis_splits_them() {
    let split: [(&[u8], &[&[u8]]); 14] = [
        (b"SET k v", &[b"SET", b"k", b"v"]),
        (b"  a \t b\x0bc \x0c d\rx ", &[b"a", b"b\x0bc", b"d", b"x"]),
        (br#"ECHO "a b\n\r\t\b\a\\\"\q""#, &[b"ECHO", b"a b\n\r\t\x08\x07\\\"q"]),
        (br#""\x41\x4g\xfF\x" x"#, &[b"Ax4g\xffx", b"x"]),
        (br"'it\'s \n' x", &[b"it's \\n", b"x"]),
        (br#"a"b c"d"#, &[]), // the closing quote is not followed by a blank
        (br#"a"b c" d"#, &[b"ab c", b"d"]),
        (br#""" ''"#, &[b"", b""]),
        (br#""a"	'b'"#, &[b"a", b"b"]),
        (br#"'say "hi"' "it's""#, &[b"say \"hi\"", b"it's"]),
        (b"\"a\"\x0b", &[b"a"]),
        (br#"ECHO "abc\""#, &[]),
        (b"ECHO 'abc", &[]),
        (br#"ECHO "a"b"#, &[]),
    ];
    for (line, want) in split {
        let input = [line, b"\r\n"].concat();
        let (mut args, mut scratch) = (Vec::new(), Vec::new());
        let got = parse_request(&input, &mut args, &mut Decoded::new(&mut scratch));
        let text = String::from_utf8_lossy(line);
        if want.is_empty() {
            assert_eq!(got, Err(ProtocolError(b"unbalanced quotes in request")), "{text}");
        } else {
            assert_eq!((got, args.as_slice()), (Ok(Some(input.len())), want), "{text}");
        }
    }
    // Without a quote the arguments are borrowed in place and nothing is allocated.
    let input = b"SET key value\r\n";
    let (mut args, mut scratch) = (Vec::new(), Vec::new());
    parse_request(input, &mut args, &mut Decoded::new(&mut scratch)).unwrap();
    assert!(args.iter().all(|a| input.as_ptr_range().contains(&a.as_ptr())));
    assert_eq!(scratch.capacity(), 0, "an unquoted line allocates nothing");
    // Quoted lines one after another share one `Decoded`, and what it handed out stays put.
    let input = b"SET \"a\\tb\" 'c d'\r\nPING\r\nECHO x\"y\"\r\n*1\r\n$1\r\nz\r\n";
    let (mut args, mut scratch) = (Vec::new(), Vec::new());
    let mut decoded = Decoded::new(&mut scratch);
    let (mut all, mut at) = (Vec::new(), 0);
    while let Ok(Some(used)) = parse_request(&input[at..], &mut args, &mut decoded) {
        all.extend_from_slice(&args);
        at += used;
    }
    let want: [&[u8]; 7] = [b"SET", b"a\tb", b"c d", b"PING", b"ECHO", b"xy", b"z"];
    assert_eq!((at, all.as_slice()), (input.len(), &want[..]));
}

/// Quoted inline requests through the live server, several in one read: the replies Redis
/// gives, and an unbalanced quote ends the connection with Redis' error after the replies
/// before it.
#[test]
fn quoted_inline_requests_are_answered_as_redis_answers_them() {
    let rt = runtime();
    let addr = start(&rt);
    let out = raw_exchange(addr, b"SET \"k 1\" 'it\\'s'\r\nGET \"k\\x201\"\r\nSET e \"\"\nGET e\nECHO \"a\\r\\n\"\r\n");
    assert_eq!(out, b"+OK\r\n$4\r\nit's\r\n+OK\r\n$0\r\n\r\n$3\r\na\r\n\r\n");
    let out = raw_exchange(addr, b"ECHO 'ok'\r\nECHO \"open\r\nPING\r\n");
    assert_eq!(out, b"$2\r\nok\r\n-ERR Protocol error: unbalanced quotes in request\r\n");
    let mut con = connect(addr);
    assert_eq!(con.get::<_, String>("k 1").unwrap(), "it's", "a quoted key is the key");
}

/// The largest bulk length allowed is accepted as a promise, not allocated: the server holds
/// only what has arrived.
#[test]
fn a_huge_bulk_header_allocates_nothing() {
    let rt = runtime();
    let addr = start(&rt);
    let _alone = MEASURING_RSS.lock().unwrap_or_else(|e| e.into_inner());
    let before = rss();
    let mut clients = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(format!("*2\r\n$3\r\nGET\r\n${MAX_BULK}\r\nabc").as_bytes()).unwrap();
        clients.push(s);
    }
    let mut con = connect(addr);
    assert_eq!(redis::cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
    // Allocated, they would be 256 MiB; other tests of this binary run alongside, hence slack.
    let grown = rss().saturating_sub(before);
    assert!(grown < 64 * 1024 * 1024, "16 promised {MAX_BULK}-byte values grew RSS by {grown} bytes");
}

/// xorshift64*: a deterministic generator, so a failing input can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let words = ["SET", "GET", "k", "value", "EX", "10", "", "MGET", "\r\n", "*1", "$3"];
    let argc = 1 + rng.below(4);
    let mut out = format!("*{argc}\r\n").into_bytes();
    for _ in 0..argc {
        let w = words[rng.below(words.len())];
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// Random bytes, half of them what inline requests are made of (quotes and escapes too).
fn inline_noise(rng: &mut Rng) -> Vec<u8> {
    let alphabet = b"ab \"'\\xf0\t\r\n\x0b";
    let mut input = Vec::new();
    for _ in 0..rng.below(64) {
        let byte = if rng.below(2) == 0 { rng.next() as u8 } else { alphabet[rng.below(alphabet.len())] };
        input.push(byte);
    }
    input
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let alphabet = b"*$:+-\r\n0123456789ab \"'\\";
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(4) {
            0 if at < input.len() => input[at] = alphabet[rng.below(alphabet.len())],
            1 if at < input.len() => drop(input.remove(at)),
            2 => input.insert(at, alphabet[rng.below(alphabet.len())]),
            _ => input.truncate(at),
        }
    }
}

/// The parser on random and mutated input: never panics, never claims more bytes than it
/// was given, never allocates from a declared length, and a valid request split at any point
/// parses as "incomplete" and then whole. Bounded: about 50,000 inputs, well under a second.
#[test]
fn fuzz_the_request_parser() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    for round in 0..50_000 {
        let mut input = valid_request(&mut rng);
        if round % 2 == 0 {
            let whole = input.clone();
            let (mut scratch, mut unused) = (Vec::new(), Vec::new());
            let mut args = Vec::new();
            let used = parse_request(&whole, &mut args, &mut Decoded::new(&mut scratch)).unwrap().expect("whole");
            assert_eq!(used, whole.len());
            assert!(!args.is_empty());
            // The arguments are borrowed from the input, in place.
            assert!(args.iter().all(|a| whole.as_ptr_range().contains(&a.as_ptr()) || a.is_empty()));
            let cut = rng.below(whole.len());
            let prefix = parse_request(&whole[..cut], &mut args, &mut Decoded::new(&mut unused));
            assert_eq!(prefix, Ok(None), "a prefix of {whole:?} is incomplete");
        }
        match round % 3 {
            0 => mutate(&mut rng, &mut input),
            1 => input = inline_noise(&mut rng),
            _ => input.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
        }
        // Fed a growing prefix piece by piece, `Arrival` waits exactly while the parser would.
        let mut arrival = Arrival::default();
        let mut end = 0;
        while end < input.len() {
            end = (end + 1 + rng.below(8)).min(input.len());
            let (mut args, mut scratch) = (Vec::new(), Vec::new());
            let waits = matches!(parse_request(&input[..end], &mut args, &mut Decoded::new(&mut scratch)), Ok(None));
            assert_eq!(arrival.complete(&input[..end]), !waits, "{:?}", &input[..end]);
        }
        // Its requests one after another, with one `Decoded` as a connection's run uses it.
        let (mut args, mut scratch) = (Vec::new(), Vec::new());
        let mut decoded = Decoded::new(&mut scratch);
        let mut at = 0;
        while at < input.len() {
            match parse_request(&input[at..], &mut args, &mut decoded) {
                Ok(Some(used)) => {
                    assert!(used > 0 && at + used <= input.len(), "used {used} of {}", input.len() - at);
                    at += used;
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(!e.to_string().contains("out of its input"), "{input:?}: {e}");
                    break;
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the fuzz is bounded in time");
    }
}

/// The same kind of input, through the live server: every connection gets an answer or a
/// close, and the server keeps serving.
#[test]
fn fuzzed_connections_never_take_the_server_down() {
    let rt = runtime();
    let addr = start(&rt);
    let mut rng = Rng(7);
    for _ in 0..200 {
        let mut input = valid_request(&mut rng);
        mutate(&mut rng, &mut input);
        input.extend_from_slice(b"\r\n");
        raw_exchange(addr, &input);
    }
    let mut con = connect(addr);
    let _: () = con.set("alive", 1).unwrap();
    assert_eq!(con.get::<_, i64>("alive").unwrap(), 1);
    let stats = rt.stats();
    assert!(stats.iter().all(|s| s.accepted > 0), "both cores served fuzzed connections: {stats:?}");
    let _ = Value::Nil;
}

/// Every accept mode serves the store: keys written on one connection read back on others,
/// whichever core the kernel (hash), the receiving CPU (cpu) or a waiting accept (shared)
/// gave them to.
#[test]
fn every_accept_mode_serves_the_sharded_store() {
    for accept in [kv::Accept::Hash, kv::Accept::Cpu, kv::Accept::Shared] {
        let rt = runtime();
        let addr = kv::start(&rt, "127.0.0.1:0".parse().unwrap(), accept, REDIS_MAX_CLIENTS).expect("kv server").addr;
        let mut writer = connect(addr);
        for i in 0..50 {
            let _: () = writer.set(format!("{accept:?}:{i}"), i).unwrap();
        }
        for _ in 0..4 {
            let mut reader = connect(addr);
            let keys: Vec<String> = (0..50).map(|i| format!("{accept:?}:{i}")).collect();
            let values: Vec<i64> = reader.mget(&keys).unwrap();
            assert_eq!(values, (0..50).collect::<Vec<i64>>(), "{accept:?}");
        }
    }
}

/// Many connections at once, each pipelining requests for keys on both shards: their
/// forwarded requests share batches (one per core and turn), and every reply still reaches
/// its own connection, in order.
#[test]
fn concurrent_pipelines_across_shards_get_their_own_replies() {
    let rt = runtime();
    let addr = start(&rt);
    let clients: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut con = connect(addr);
                for round in 0..30 {
                    let mut pipe = redis::pipe();
                    for i in 0..10 {
                        pipe.cmd("SET").arg(format!("c{t}:{round}:{i}")).arg(format!("v{t}.{round}.{i}")).ignore();
                        pipe.cmd("INCR").arg("shared").ignore();
                    }
                    for i in 0..10 {
                        pipe.cmd("GET").arg(format!("c{t}:{round}:{i}"));
                    }
                    let got: Vec<String> = pipe.query(&mut con).unwrap();
                    let want: Vec<String> = (0..10).map(|i| format!("v{t}.{round}.{i}")).collect();
                    assert_eq!(got, want, "client {t}, round {round}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    let mut con = connect(addr);
    assert_eq!(con.get::<_, i64>("shared").unwrap(), 8 * 30 * 10, "no INCR lost or doubled");
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 8 * 30 * 10 + 1);
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    let remote: u64 =
        info.lines().filter_map(|l| l.strip_prefix("ops_remote:")).map(|n| n.trim().parse::<u64>().unwrap()).sum();
    assert!(remote > 1000, "requests crossed cores: {info}");
}

/// A graceful shutdown with no client left ends every task of the store by itself (accept
/// loops, the per-core flush and inbox tasks, the sweeper): none has to be cut off.
#[test]
fn a_graceful_shutdown_cuts_off_no_task() {
    let rt = runtime();
    let addr = start(&rt);
    {
        let mut con = connect(addr);
        let keys: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let _: () = con.mset(&keys.iter().map(|k| (k, 1)).collect::<Vec<_>>()).unwrap();
        assert_eq!(con.exists::<_, i64>(&keys).unwrap(), 20);
    }
    std::thread::sleep(Duration::from_millis(100)); // the server sees the close
    let started = Instant::now();
    let cut_off = rt.shutdown_gracefully(Duration::from_secs(5));
    assert_eq!(cut_off, 0, "tasks cut off instead of ending");
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown took {:?}", started.elapsed());
}

/// GETRANGE, SUBSTR and SETRANGE on one key, with the replies redis-server 7.0.15 gave to the
/// same requests (`{k}` is the key; a key that does not exist reads as an empty string).
const RANGES: [(&str, &str); 36] = [
    ("DEL {k}", "0"),
    ("SET {k} Hello", "OK"),
    ("GETRANGE {k} 0 -1", "\"Hello\""),
    ("GETRANGE {k} 1 2", "\"el\""),
    ("GETRANGE {k} -3 -1", "\"llo\""),
    ("GETRANGE {k} 3 1", "\"\""),
    ("GETRANGE {k} 10 20", "\"\""),
    ("GETRANGE {k} -100 100", "\"Hello\""),
    ("GETRANGE {k} 0 -100", "\"H\""),
    ("GETRANGE {k} -1 -2", "\"\""),
    ("GETRANGE {k} 9223372036854775807 -9223372036854775808", "\"\""),
    ("GETRANGE {k} a 1", "ERR value is not an integer or out of range"),
    ("GETRANGE {k} 1 99999999999999999999", "ERR value is not an integer or out of range"),
    ("GETRANGE {k} 0", "ERR wrong number of arguments for 'getrange' command"),
    ("GETRANGE {k} 0 1 2", "ERR wrong number of arguments for 'getrange' command"),
    ("SUBSTR {k} 0 2", "\"Hel\""),
    ("SUBSTR {k} 0", "ERR wrong number of arguments for 'substr' command"),
    ("SETRANGE {k} 5 !", "6"),
    ("GET {k}", "\"Hello!\""),
    ("SETRANGE {k} 8 ab", "10"),
    ("GET {k}", "\"Hello!\\0\\0ab\""),
    ("SETRANGE {k} -1 x", "ERR offset is out of range"),
    ("SETRANGE {k} a x", "ERR value is not an integer or out of range"),
    ("SETRANGE {k} 9223372036854775807 x", "ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
    ("SETRANGE {k} 1", "ERR wrong number of arguments for 'setrange' command"),
    ("SETRANGE {k} 1 x y", "ERR wrong number of arguments for 'setrange' command"),
    ("SET {k} 5 EX 100", "OK"),
    ("SETRANGE {k} 1 x", "2"),
    ("TTL {k}", "100"),
    ("GET {k}", "\"5x\""),
    ("DEL {k}", "1"),
    ("GETRANGE {k} 0 -1", "\"\""),
    ("EXISTS {k}", "0"),
    ("SETRANGE {k} 2 ab", "4"),
    ("GET {k}", "\"\\0\\0ab\""),
    ("DEL {k}", "1"),
];

/// RENAME and RENAMENX of two keys `{k}` and `{j}` of one shard, with the replies redis-server
/// 7.0.15 gave (the value moves with its time; an expired key is no key).
const RENAMES: [(&str, &str); 30] = [
    ("DEL {k} {j}", "0"),
    ("RENAME {k} {j}", "ERR no such key"),
    ("RENAMENX {k} {j}", "ERR no such key"),
    ("RENAME {k} {k}", "ERR no such key"),
    ("SET {k} 1 EX 100", "OK"),
    ("RENAME {k} {k}", "OK"),
    ("RENAMENX {k} {k}", "0"),
    ("TTL {k}", "100"),
    ("RENAME {k} {j}", "OK"),
    ("EXISTS {k}", "0"),
    ("GET {j}", "\"1\""),
    ("TTL {j}", "100"),
    ("SET {k} 2", "OK"),
    ("RENAMENX {j} {k}", "0"),
    ("GET {k}", "\"2\""),
    ("RENAME {j} {k}", "OK"),
    ("GET {k}", "\"1\""),
    ("TTL {k}", "100"),
    ("EXISTS {j}", "0"),
    ("RENAMENX {k} {j}", "1"),
    ("GET {j}", "\"1\""),
    ("TTL {j}", "100"),
    ("SET {k} 3 PXAT 1", "OK"),
    ("RENAME {k} {j}", "ERR no such key"),
    ("RENAMENX {k} {j}", "ERR no such key"),
    ("RENAME {k}", "ERR wrong number of arguments for 'rename' command"),
    ("RENAME {k} {j} x", "ERR wrong number of arguments for 'rename' command"),
    ("RENAMENX {k}", "ERR wrong number of arguments for 'renamenx' command"),
    ("RENAMENX {k} {j} x", "ERR wrong number of arguments for 'renamenx' command"),
    ("DEL {k} {j}", "1"),
];

/// GETRANGE, SUBSTR and SETRANGE answer as Redis 7 does on every path (the connection's own
/// core, the other core's alone and pipelined); SETRANGE stops at the largest value a
/// request may carry (16 MiB here), refusing past it before anything is allocated.
#[test]
fn ranges_answer_as_redis_does_on_every_path() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    for key in one_key_per_core(&mut con, "range") {
        answers_as_table(&mut con, &RANGES, &key);
    }
    let _alone = MEASURING_RSS.lock().unwrap_or_else(|e| e.into_inner());
    let before = rss();
    for key in one_key_per_core(&mut con, "big") {
        let setrange = |con: &mut Connection, offset: i64, value: &str| {
            shown(redis::cmd("SETRANGE").arg(&key).arg(offset).arg(value).query::<Value>(con))
        };
        let too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        // Redis (512 MiB allowed) would allocate half a gigabyte for this one.
        assert_eq!(setrange(&mut con, (512 << 20) - 1, "x"), too_big);
        assert_eq!(setrange(&mut con, MAX_BULK as i64, "x"), too_big);
        assert_eq!(setrange(&mut con, MAX_BULK as i64 - 1, "xy"), too_big);
        assert_eq!(con.get::<_, String>(&key).unwrap(), "probe", "a refused SETRANGE wrote nothing");
        assert_eq!(setrange(&mut con, i64::MAX, ""), "5", "an empty value writes nothing, at any offset");
        assert_eq!(setrange(&mut con, MAX_BULK as i64 - 1, "x"), MAX_BULK.to_string());
        let tail: String = redis::cmd("GETRANGE").arg(&key).arg(-2).arg(-1).query(&mut con).unwrap();
        assert_eq!(tail, "\0x");
        let _: () = con.del(&key).unwrap();
    }
    let grown = rss().saturating_sub(before);
    assert!(grown < 256 << 20, "two 16 MiB values at most, not half a gigabyte: {grown} bytes");
}

/// RENAME and RENAMENX of two keys of one shard are one operation there, on every path;
/// keys on two shards are refused as Redis Cluster refuses keys in two slots (moving a key
/// between shards would not be atomic), and neither key changes.
#[test]
fn renames_on_one_shard_answer_as_redis_does_and_two_shards_are_refused() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let [on0, on1] = two_keys_per_core(&mut con, "ren");
    for [k, j] in [&on0, &on1] {
        let table: Vec<(String, &str)> = RENAMES.iter().map(|(line, want)| (line.replace("{j}", j), *want)).collect();
        let table: Vec<(&str, &str)> = table.iter().map(|(line, want)| (line.as_str(), *want)).collect();
        let _: () = con.del(j).unwrap(); // set by the probe that found it
        answers_as_table(&mut con, &table, k);
    }
    let _: () = con.set(&on0[0], "zero").unwrap();
    let _: () = con.set(&on1[0], "one").unwrap();
    for command in ["RENAME", "RENAMENX"] {
        for (from, to) in [(&on0[0], &on1[0]), (&on1[0], &on0[0]), (&on0[1], &on1[1])] {
            let crossed = redis::cmd(command).arg(from).arg(to).query::<Value>(&mut con);
            assert_eq!(shown(crossed), "CROSSSLOT Keys in request don't hash to the same slot", "{command}");
        }
    }
    let values: Vec<Option<String>> = con.mget(&[&on0[0], &on1[0], &on0[1], &on1[1]]).unwrap();
    assert_eq!(values, [Some("zero".into()), Some("one".into()), None, None], "nothing moved");
}

/// A RESP2 array of bulk strings and integers, as `SERVER_MAP` needs.
fn bulk_strings(words: &[&str]) -> String {
    words.iter().map(|w| format!("${}\r\n{w}\r\n", w.len())).collect()
}

/// HELLO's answer to a RESP2 client, byte for byte as redis-server 7.0.15 gives it, for the
/// connection numbered `id`.
fn server_map(id: i64) -> String {
    let head = bulk_strings(&["server", "redis", "version", "7.0.15", "proto"]);
    let middle = bulk_strings(&["mode", "standalone", "role", "master", "modules"]);
    format!("*14\r\n{head}:2\r\n$2\r\nid\r\n:{id}\r\n{middle}*0\r\n")
}

/// The id CLIENT ID gives a new connection, and what that connection then got for `input`.
fn exchange_with_id(addr: SocketAddr, input: &str) -> (i64, String) {
    let out = String::from_utf8(raw_exchange(addr, format!("CLIENT ID\r\n{input}").as_bytes())).unwrap();
    let (id, rest) = out.strip_prefix(':').and_then(|o| o.split_once("\r\n")).expect("an id first");
    (id.parse().unwrap(), rest.to_string())
}

/// What client libraries send on connecting: HELLO (go-redis, lettuce and redis-py 8 start
/// with `HELLO 3`: see the RESP3 tests), AUTH, CLIENT SETNAME; each answered byte for byte as
/// redis-server 7.0.15 answers it without a password configured, and a connection's id and
/// name are its own.
#[test]
fn hello_auth_and_client_answer_as_redis_does() {
    let rt = runtime();
    let addr = start(&rt);
    let (id, out) = exchange_with_id(addr, "HELLO\r\nHELLO 2\r\nhello 4\r\nCLIENT GETNAME\r\n");
    let noproto = "-NOPROTO unsupported protocol version\r\n";
    assert_eq!(out, format!("{}{}{noproto}$-1\r\n", server_map(id), server_map(id)));
    let (other, _) = exchange_with_id(addr, "");
    assert_ne!(other, id, "each connection its own id");
    let (id, out) = exchange_with_id(addr, "HELLO 2 AUTH default secret SETNAME app\r\nCLIENT GETNAME\r\n");
    assert_eq!(out, format!("{}$3\r\napp\r\n", server_map(id)));
    // Each option acts as it is read, as in redis-server 7.0.15: a name is set before a
    // later option is refused, and an unknown user stops the rest (the arguments after it
    // included) from being read.
    let in_order = "HELLO 2 SETNAME ok FOO\r\nCLIENT GETNAME\r\nHELLO 2 AUTH nobody x SETNAME \"a b\"\r\n\
                    HELLO 2 AUTH a b c\r\nHELLO 2 AUTH default x SETNAME n2 BAR\r\nCLIENT GETNAME\r\n";
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    let (_, out) = exchange_with_id(addr, in_order);
    let want = format!(
        "-ERR Syntax error in HELLO option 'FOO'\r\n$2\r\nok\r\n{wrongpass}{wrongpass}\
         -ERR Syntax error in HELLO option 'BAR'\r\n$2\r\nn2\r\n"
    );
    assert_eq!(out, want);
    let refused: [(&str, &str); 16] = [
        ("HELLO 1", noproto),
        ("HELLO 4 SETNAME x", noproto),
        ("HELLO 3 AUTH", "-ERR Syntax error in HELLO option 'AUTH'\r\n"),
        ("HELLO 3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n"),
        ("HELLO abc", "-ERR Protocol version is not an integer or out of range\r\n"),
        ("HELLO 99999999999999999999", "-ERR Protocol version is not an integer or out of range\r\n"),
        ("HELLO 2 AUTH default", "-ERR Syntax error in HELLO option 'AUTH'\r\n"),
        ("HELLO 2 SETNAME", "-ERR Syntax error in HELLO option 'SETNAME'\r\n"),
        ("HELLO 2 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n"),
        ("HELLO 2 SETNAME \"a b\"", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        ("HELLO 2 AUTH bob pw SETNAME n", wrongpass),
        ("AUTH", "-ERR wrong number of arguments for 'auth' command\r\n"),
        ("AUTH pw", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
        ("AUTH Default pw", wrongpass),
        ("AUTH a b c", "-ERR syntax error\r\n"),
        ("AUTH default pw", "+OK\r\n"),
    ];
    let client: [(&str, &str); 10] = [
        ("CLIENT", "-ERR wrong number of arguments for 'client' command\r\n"),
        ("CLIENT FOO", "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"),
        ("CLIENT GETNAME x", "-ERR wrong number of arguments for 'client|getname' command\r\n"),
        ("CLIENT ID x", "-ERR wrong number of arguments for 'client|id' command\r\n"),
        ("CLIENT SETNAME", "-ERR wrong number of arguments for 'client|setname' command\r\n"),
        ("CLIENT SETNAME a b", "-ERR wrong number of arguments for 'client|setname' command\r\n"),
        ("CLIENT SETNAME \"a\\nb\"", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        ("CLIENT SETNAME x", "+OK\r\n"),
        ("client setname \"\"", "+OK\r\n"),
        ("CLIENT GETNAME", "$-1\r\n"),
    ];
    for (request, want) in refused.iter().chain(&client) {
        let (_, got) = exchange_with_id(addr, &format!("{request}\r\n"));
        assert_eq!(got, *want, "{request}");
    }
    // Pipelined on one connection, in order, the name set by one request read by the next.
    let lines: String = refused.iter().chain(&client).map(|(request, _)| format!("{request}\r\n")).collect();
    let (_, got) = exchange_with_id(addr, &lines);
    assert_eq!(got, refused.iter().chain(&client).map(|(_, want)| *want).collect::<String>());
}

/// HELLO's answer to a RESP3 client, byte for byte as redis-server 7.0.15 gives it (`HELLO 3`,
/// then a bare `HELLO`), for the connection numbered `id`.
fn server_map_resp3(id: u64) -> String {
    let head = bulk_strings(&["server", "redis", "version", "7.0.15", "proto"]);
    let middle = bulk_strings(&["mode", "standalone", "role", "master", "modules"]);
    format!("%7\r\n{head}:3\r\n$2\r\nid\r\n:{id}\r\n{middle}*0\r\n")
}

/// Sends `request` and reads until as many bytes as `want` has came back (or 5 s passed),
/// then compares them.
fn ask_for(s: &mut TcpStream, request: &str, want: &str) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).unwrap_or_else(|e| panic!("{request:?}: {e}, got {:?}", String::from_utf8_lossy(&got)));
    assert_eq!(String::from_utf8_lossy(&got), want, "{request:?}");
}

/// Sends `request`, whose reply is one verbatim string, and gives its text (after `txt:`).
fn ask_verbatim(s: &mut TcpStream, request: &str) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n") {
        let mut byte = [0];
        s.read_exact(&mut byte).expect("a reply within 5 s");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize =
        head.strip_prefix('=').and_then(|h| h.trim_end().parse().ok()).unwrap_or_else(|| panic!("{head:?}"));
    let mut body = vec![0; len + 2];
    s.read_exact(&mut body).expect("the rest within 5 s");
    let body = String::from_utf8(body).unwrap();
    body.strip_prefix("txt:").and_then(|b| b.strip_suffix("\r\n")).expect("txt:, the text, CRLF").to_string()
}

/// A connection on each core speaks RESP3 after `HELLO 3`, byte for byte as redis-server
/// 7.0.15 does: its nulls are `_` whichever core owns the key (its own, or the other, which
/// answers a lone request on the client's socket and a pipeline's through its core), inside
/// MGET across both shards too; maps and verbatim strings where Redis has them. A request
/// before `HELLO 3` in the same pipeline is answered in RESP2; `HELLO 2` goes back, and a
/// RESP2 connection beside it keeps RESP2 throughout.
#[test]
fn resp3_connections_get_resp3_from_both_shards() {
    let rt = runtime();
    let addr = start(&rt);
    let [[k0, missing0], [k1, missing1]] = two_keys_per_core(&mut connect(addr), "resp3");
    let _: () = connect(addr).del(&[&missing0, &missing1]).unwrap();
    for core in [0, 1] {
        let (mut s, id) = raw_to_core(&rt, addr, core);
        let mut plain = raw_to_core(&rt, addr, core).0;
        // Each reply in the protocol of its request's turn, the other core's ones too.
        let switched = format!("GET {missing1}\r\nGET {missing0}\r\nHELLO 3\r\nGET {missing1}\r\nGET {missing0}\r\n");
        ask_for(&mut s, &switched, &format!("$-1\r\n$-1\r\n{}_\r\n_\r\n", server_map_resp3(id)));
        for missing in [&missing0, &missing1] {
            // Alone in its read, so the owning core answers it, on its core or on the socket.
            ask_for(&mut s, &format!("GET {missing}\r\n"), "_\r\n");
            ask_for(&mut plain, &format!("GET {missing}\r\n"), "$-1\r\n");
            ask_for(&mut s, &format!("GETDEL {missing}\r\n"), "_\r\n");
            ask_for(&mut s, &format!("MEMORY USAGE {missing}\r\n"), "_\r\n");
        }
        let pipelined = format!(
            "SET {k0} v0\r\nSET {k1} v1\r\nMGET {k1} {missing0} {k0} {missing1}\r\nGET {missing1}\r\n\
             GET {missing0}\r\nSET {k1} x NX\r\nSET {missing0} x XX\r\nGETEX {missing1} PERSIST\r\n\
             SET {missing1} x GET\r\nDEL {missing1}\r\nGET {k1}\r\n"
        );
        let want =
            "+OK\r\n+OK\r\n*4\r\n$2\r\nv1\r\n_\r\n$2\r\nv0\r\n_\r\n_\r\n_\r\n_\r\n_\r\n_\r\n_\r\n:1\r\n$2\r\nv1\r\n";
        ask_for(&mut s, &pipelined, want);
        ask_for(
            &mut plain,
            &format!("MGET {k1} {missing0} {k0} {missing1}\r\n"),
            "*4\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv0\r\n$-1\r\n",
        );
        ask_for(&mut s, "CLIENT GETNAME\r\n", "_\r\n");
        ask_for(&mut s, "CONFIG GET maxmemory\r\n", "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        ask_for(&mut s, "CONFIG GET nosuch\r\n", "%0\r\n");
        ask_for(&mut s, "COMMAND DOCS get\r\n", "%0\r\n");
        ask_for(&mut s, "TTL nosuch\r\nGETRANGE nosuch 0 1\r\nEXISTS nosuch\r\n", ":-2\r\n$0\r\n\r\n:0\r\n");
        assert!(ask_verbatim(&mut s, "INFO\r\n").starts_with("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(ask_verbatim(&mut s, "CLIENT INFO\r\n").ends_with(" resp=3\n"));
        let listed = ask_verbatim(&mut s, &format!("CLIENT LIST ID {id}\r\n"));
        assert!(listed.starts_with(&format!("id={id} ")) && listed.ends_with(" resp=3\n"), "{listed}");
        assert_eq!(ask_verbatim(&mut s, "CLIENT LIST TYPE pubsub\r\n"), "");
        assert!(ask_verbatim(&mut s, "MEMORY DOCTOR\r\n").starts_with("Hi Sam"));
        let stats = ask(&mut s, "MEMORY STATS\r\n");
        assert!(stats.starts_with("%4\r\n$15\r\ntotal.allocated\r\n:"), "{stats}");
        // A bare HELLO keeps the protocol; HELLO 2 goes back, its map an array again.
        ask_for(&mut s, "HELLO\r\n", &server_map_resp3(id));
        ask_for(&mut s, "HELLO 2\r\n", &server_map(id as i64));
        ask_for(&mut s, &format!("GET {missing0}\r\nGET {missing1}\r\n"), "$-1\r\n$-1\r\n");
        ask_for(&mut s, "CONFIG GET nosuch\r\n", "*0\r\n");
        // A refused HELLO changes nothing, as in Redis.
        ask_for(&mut s, "HELLO 3 AUTH\r\nGET nosuch\r\n", "-ERR Syntax error in HELLO option 'AUTH'\r\n$-1\r\n");
        ask_for(
            &mut s,
            "HELLO 4\r\nHELLO abc\r\nGET nosuch\r\n",
            "-NOPROTO unsupported protocol version\r\n\
             -ERR Protocol version is not an integer or out of range\r\n$-1\r\n",
        );
        let _: () = connect(addr).del(&[&k0, &k1]).unwrap();
    }
}

/// The `redis` crate speaking RESP3 (`?protocol=resp3`: it sends `HELLO 3` on connecting)
/// to a connection on each core: GET, SET and MGET across both shards, their nulls read as
/// nulls; HELLO, CONFIG GET and MEMORY STATS are maps, INFO a verbatim string.
#[test]
fn the_redis_crate_speaks_resp3_to_either_core() {
    let rt = runtime();
    let addr = start(&rt);
    let [[k0, missing0], [k1, missing1]] = two_keys_per_core(&mut connect(addr), "crate3");
    let _: () = connect(addr).del(&[&missing0, &missing1]).unwrap();
    for core in [0, 1] {
        let mut con = connect_resp3_to_core(&rt, addr, core);
        for missing in [&missing0, &missing1] {
            assert_eq!(con.get::<_, Value>(missing).unwrap(), Value::Nil);
            assert_eq!(con.get::<_, Option<String>>(missing).unwrap(), None);
        }
        let _: () = con.set(&k0, "zero").unwrap();
        let _: () = con.set(&k1, "one").unwrap();
        let values: Vec<Option<String>> = con.mget(&[&missing1, &k0, &missing0, &k1]).unwrap();
        assert_eq!(values, [None, Some("zero".into()), None, Some("one".into())]);
        let nx: Option<String> = redis::cmd("SET").arg(&k1).arg("x").arg("NX").query(&mut con).unwrap();
        assert_eq!(nx, None);
        let Value::Map(hello) = redis::cmd("HELLO").query::<Value>(&mut con).unwrap() else { panic!("HELLO: a map") };
        assert!(hello.contains(&(Value::BulkString(b"proto".to_vec()), Value::Int(3))), "{hello:?}");
        let config = redis::cmd("CONFIG").arg("GET").arg("maxmemory").query::<Value>(&mut con).unwrap();
        assert_eq!(
            config,
            Value::Map(vec![(Value::BulkString(b"maxmemory".to_vec()), Value::BulkString(b"0".to_vec()))])
        );
        let stats = redis::cmd("MEMORY").arg("STATS").query::<Value>(&mut con).unwrap();
        assert!(matches!(stats, Value::Map(ref pairs) if pairs.len() == 4), "{stats:?}");
        let info = redis::cmd("INFO").query::<Value>(&mut con).unwrap();
        assert!(matches!(info, Value::VerbatimString { ref text, .. } if text.starts_with("# Server")), "{info:?}");
        let _: () = con.del(&[&k0, &k1]).unwrap();
    }
}

/// A `redis` crate connection speaking RESP3 that the kernel handed to `core`.
fn connect_resp3_to_core(rt: &Runtime, addr: SocketAddr, core: usize) -> Connection {
    for _ in 0..200 {
        let before = rt.stats();
        let client = redis::Client::open(format!("redis://{addr}/?protocol=resp3")).unwrap();
        let mut con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
        if rt.stats()[core].accepted > before[core].accepted {
            return con;
        }
    }
    panic!("200 connections and none landed on core {core}");
}
/// A request as RESP2 bulk strings, for bytes an inline line cannot carry (CR, LF, NUL).
fn resp_request(words: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What a client sent, quoted back in an error, as redis-server 7.0.15 quotes it (each reply
/// below is its own, byte for byte): an unknown command's name and first arguments (each
/// as C's `%.*s` prints it: up to a NUL, within 128 bytes of them together), an unknown
/// subcommand or option; CR and LF as spaces, other bytes as they came. kv once answered
/// `-ERR unknown command 'FOO'` alone, its controls as `?`, cut at 64 characters.
#[test]
fn what_a_client_sent_is_quoted_back_in_errors_as_redis_quotes_it() {
    let rt = runtime();
    let addr = start(&rt);
    let a60 = [b'a'; 60];
    let long = |head: &[u8], fill: &[u8], tail: &[u8]| [head, fill, tail].concat();
    let cases: [(&[&[u8]], Vec<u8>); 14] = [
        (&[b"FOO", b"a", b"b"], b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n".to_vec()),
        (&[b"foo"], b"-ERR unknown command 'foo', with args beginning with: \r\n".to_vec()),
        (
            &[b"bad\r\nname", b"a\r\nb"],
            b"-ERR unknown command 'bad  name', with args beginning with: 'a  b' \r\n".to_vec(),
        ),
        (&[b"ab\0cd", b"x\0y", b"z"], b"-ERR unknown command 'ab', with args beginning with: 'x' 'z' \r\n".to_vec()),
        (
            &[b"\x01\xc3\xbf", b"\x7f"],
            b"-ERR unknown command '\x01\xc3\xbf', with args beginning with: '\x7f' \r\n".to_vec(),
        ),
        (&[&[b'y'; 130]], long(b"-ERR unknown command '", &[b'y'; 128], b"', with args beginning with: \r\n")),
        (
            &[b"FOO", &a60, &a60, &a60],
            long(
                b"-ERR unknown command 'FOO', with args beginning with: '",
                &[&a60[..], b"' '", &a60].concat(),
                b"' 'aa' \r\n",
            ),
        ),
        (
            &[b"FOO", &[b'a'; 130], b"b"],
            long(b"-ERR unknown command 'FOO', with args beginning with: '", &[b'a'; 128], b"' \r\n"),
        ),
        (&[b"MEMORY", b"f\0oo"], b"-ERR unknown subcommand 'f'. Try MEMORY HELP.\r\n".to_vec()),
        (&[b"CONFIG", b"b\xc3\xbfd\r\n"], b"-ERR unknown subcommand 'b\xc3\xbfd  '. Try CONFIG HELP.\r\n".to_vec()),
        (&[b"COMMAND", b"info\0x"], b"-ERR unknown subcommand 'info'. Try COMMAND HELP.\r\n".to_vec()),
        (&[b"EXPIRE", b"k", b"10", b"f\0oo"], b"-ERR Unsupported option f\r\n".to_vec()),
        (&[b"EXPIRE", b"k", b"10", &[b'x'; 200]], long(b"-ERR Unsupported option ", &[b'x'; 200], b"\r\n")),
        (&[b"HELLO", b"2", b"a\r\nb"], b"-ERR Syntax error in HELLO option 'a  b'\r\n".to_vec()),
    ];
    let (mut all_in, mut all_out) = (Vec::new(), Vec::new());
    for (words, want) in &cases {
        let got = raw_exchange(addr, &resp_request(words));
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want), "{words:?}");
        all_in.extend(resp_request(words));
        all_out.extend_from_slice(want);
    }
    // Pipelined, every reply in its place.
    assert_eq!(String::from_utf8_lossy(&raw_exchange(addr, &all_in)), String::from_utf8_lossy(&all_out));
}
/// The empty key, as redis-server 7.0.15 matches it (its replies, byte for byte): by KEYS `*`
/// and the empty pattern, never by `**` or another pattern that a run of stars could empty;
/// SCAN likewise, on whichever shard holds it.
#[test]
fn the_empty_key_is_matched_as_redis_matches_it() {
    let rt = runtime();
    let addr = start(&rt);
    let set = resp_request(&[b"SET", b"", b"v"]);
    let keys = |pattern: &[u8]| resp_request(&[b"KEYS", pattern]);
    let input = [set, keys(b"*"), keys(b""), keys(b"**"), keys(b"*\\*"), keys(b"?*")].concat();
    let want = "+OK\r\n*1\r\n$0\r\n\r\n*1\r\n$0\r\n\r\n*0\r\n*0\r\n*0\r\n";
    assert_eq!(String::from_utf8_lossy(&raw_exchange(addr, &input)), want);
    // SCAN: one call per shard (cursors 0 and 1), the key on one of them.
    for (pattern, found) in [(&b"*"[..], 1), (b"**", 0)] {
        let scan = |cursor: &[u8]| resp_request(&[b"SCAN", cursor, b"MATCH", pattern]);
        let out = raw_exchange(addr, &[scan(b"0"), scan(b"1")].concat());
        let out = String::from_utf8_lossy(&out);
        assert_eq!(out.matches("*1\r\n$0\r\n\r\n").count(), found, "SCAN MATCH {pattern:?}: {out:?}");
        assert_eq!(out.matches("*0\r\n").count(), 2 - found, "SCAN MATCH {pattern:?}: {out:?}");
    }
}
/// Sends `input` from a thread of its own while reading everything the server says until it
/// closes (at most 20 s): a client that pipelines without waiting for replies.
fn pipeline_past_the_end(addr: SocketAddr, input: Vec<u8>) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut writer = s.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let sending = std::thread::spawn(move || {
        // Once the server has closed, the rest of the input has nowhere to go.
        let _ = writer.write_all(&input);
    });
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out);
    sending.join().unwrap();
    read.unwrap_or_else(|e| panic!("reset after {} bytes: {e}", out.len()));
    out
}

/// A client that pipelines past QUIT, or past malformed input, gets every reply before it,
/// then `+OK` or the protocol error, then EOF, as from redis-server. kv stopped reading at
/// the QUIT and closed with the rest of the input unread, so the kernel reset the
/// connection, and the reset threw away the replies still on their way (megabytes of them,
/// the `+OK` too).
#[test]
fn replies_before_quit_or_malformed_input_all_arrive() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    let keys = one_key_per_core(&mut con, "linger");
    let value = vec![b'v'; 128 * 1024];
    for key in &keys {
        let _: () = con.set(key, &value).unwrap();
    }
    let gets = |n: usize| -> Vec<u8> { (0..n).flat_map(|i| resp_request(&[b"GET", keys[i % 2].as_bytes()])).collect() };
    let replies: Vec<u8> = (0..100).flat_map(|_| bulk_reply(&value)).collect();
    for (end, reply) in [
        (&b"*1\r\n$4\r\nQUIT\r\n"[..], &b"+OK\r\n"[..]),
        (b"*1\r\nx\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
    ] {
        let input = [gets(100), end.to_vec(), gets(3000)].concat();
        let out = pipeline_past_the_end(addr, input);
        assert_eq!(out.len(), replies.len() + reply.len(), "{:?}", String::from_utf8_lossy(end));
        assert!(out.starts_with(&replies) && out.ends_with(reply), "{:?}", String::from_utf8_lossy(end));
    }
    assert_eq!(redis::cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
}

/// FLUSHDB, TIME, CONFIG GET, COMMAND COUNT and DOCS, RANDOMKEY, and SHUTDOWN's refusals,
/// byte for byte as redis-server 7.0.15 answers them (CONFIG GET databases aside: kv has
/// one). A server run inside a test has no way to stop its process: SHUTDOWN is refused
/// there with Redis' error for a shutdown that failed.
#[test]
fn server_commands_answer_as_redis_does() {
    let rt = runtime();
    let addr = start(&rt);
    let cases: [(&str, &str); 28] = [
        // CONFIG SET: kv's own values are taken, what Redis refuses is refused as Redis does.
        ("CONFIG SET save \"\" appendonly no", "+OK\r\n"),
        ("CONFIG SET foo bar", "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"),
        ("CONFIG SET maxmemory", "-ERR wrong number of arguments for 'config|set' command\r\n"),
        (
            "CONFIG SET timeout abc",
            "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n",
        ),
        ("CONFIG GET maxmemory", "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
        ("CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        ("CONFIG GET appendonly", "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
        ("CONFIG GET databases", "*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n"),
        ("config get MAXMEMORY maxmemory", "*2\r\n$9\r\nMAXMEMORY\r\n$1\r\n0\r\n"),
        ("CONFIG GET nosuch", "*0\r\n"),
        ("CONFIG GET", "-ERR wrong number of arguments for 'config|get' command\r\n"),
        ("CONFIG", "-ERR wrong number of arguments for 'config' command\r\n"),
        ("CONFIG FOO", "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"),
        ("COMMAND COUNT x", "-ERR wrong number of arguments for 'command|count' command\r\n"),
        ("COMMAND FOO", "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"),
        ("COMMAND DOCS", "*0\r\n"),
        ("TIME x", "-ERR wrong number of arguments for 'time' command\r\n"),
        ("RANDOMKEY x", "-ERR wrong number of arguments for 'randomkey' command\r\n"),
        ("FLUSHDB x", "-ERR syntax error\r\n"),
        ("FLUSHDB async now", "-ERR syntax error\r\n"),
        ("SHUTDOWN FOO", "-ERR syntax error\r\n"),
        ("SHUTDOWN NOSAVE SAVE", "-ERR syntax error\r\n"),
        ("SHUTDOWN ABORT", "-ERR No shutdown in progress.\r\n"),
        ("SHUTDOWN NOSAVE", "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"),
        ("CONFIG HELP x", "-ERR wrong number of arguments for 'config|help' command\r\n"),
        ("client help x", "-ERR wrong number of arguments for 'client|help' command\r\n"),
        ("COMMAND Help x", "-ERR wrong number of arguments for 'command|help' command\r\n"),
        (
            "config help",
            "*11\r\n+CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+GET <pattern>\r\n\
             +    Return parameters matching the glob-like <pattern> and their values.\r\n+SET <directive> <value>\r\n\
             +    Set the configuration <directive> to <value>.\r\n+RESETSTAT\r\n\
             +    Reset statistics reported by the INFO command.\r\n+REWRITE\r\n+    Rewrite the configuration file.\r\n\
             +HELP\r\n+    Prints this help.\r\n",
        ),
    ];
    assert_answers(addr, &cases);
    // CLIENT and COMMAND HELP: Redis' lines (48 and 21 of them), not "unknown subcommand
    // 'HELP'. Try CLIENT HELP." as kv once answered.
    for (command, lines) in [("CLIENT", 48), ("COMMAND", 21)] {
        let got = String::from_utf8(raw_exchange(addr, format!("{command} HELP\r\n").as_bytes())).unwrap();
        let head = format!("*{lines}\r\n+{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n");
        assert!(got.starts_with(&head) && got.ends_with("+HELP\r\n+    Prints this help.\r\n"), "{got}");
        assert_eq!(got.matches("\r\n+").count(), lines, "{got}");
    }
    let mut con = connect(addr);
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    assert!(count > 40, "{count}");
    // TIME: now, as seconds and microseconds.
    let (secs, micros): (String, String) = redis::cmd("TIME").query(&mut con).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let said = secs.parse::<f64>().unwrap() + micros.parse::<f64>().unwrap() / 1e6;
    assert!((now - said).abs() < 5.0 && micros.parse::<u32>().unwrap() < 1_000_000, "{secs} {micros}");
    // RANDOMKEY: nil for no key, else one of the keys, from either shard.
    assert_eq!(raw_exchange(addr, b"FLUSHALL\r\nRANDOMKEY\r\n"), b"+OK\r\n$-1\r\n");
    let [on0, on1] = one_key_per_core(&mut con, "rnd");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap(); // the probes' other keys
    let _: () = con.mset(&[(&on0, 0), (&on1, 1)]).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let key: String = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
        assert!(key == on0 || key == on1, "{key}");
        seen.insert(key);
    }
    assert_eq!(seen.len(), 2, "both shards' keys come up");
    // FLUSHDB empties every shard, as FLUSHALL does.
    for flush in ["FLUSHDB", "flushdb ASYNC", "FLUSHDB sync", "FLUSHALL async"] {
        let _: () = con.set(&on0, 1).unwrap();
        let _: () = con.set(&on1, 1).unwrap();
        let got = raw_exchange(addr, format!("{flush}\r\nDBSIZE\r\nRANDOMKEY\r\n").as_bytes());
        assert_eq!(got, b"+OK\r\n:0\r\n$-1\r\n", "{flush}");
    }
}

/// Past `max_clients`, a client is told so in Redis' words and closed, never left waiting
/// unanswered; a client's close makes room for the next.
#[test]
fn clients_past_the_limit_are_told_so_and_closed() {
    let rt = runtime();
    let addr = kv::start(&rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, 3).expect("kv server").addr;
    let ping = |stream: &mut TcpStream| -> Vec<u8> {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"PING\r\n").unwrap();
        let mut got = vec![0; 64];
        let n = stream.read(&mut got).expect("an answer within 10 s");
        got.truncate(n);
        got
    };
    let mut admitted: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for stream in &mut admitted {
        assert_eq!(ping(stream), b"+PONG\r\n");
    }
    let mut refused = TcpStream::connect(addr).unwrap();
    assert_eq!(ping(&mut refused), b"-ERR max number of clients reached\r\n");
    let mut rest = Vec::new();
    refused.read_to_end(&mut rest).expect("the server closes the refused connection");
    assert!(rest.is_empty(), "nothing after the refusal: {rest:?}");
    drop(admitted.pop());
    // The server sees the close on its own time: within 5 s, a new client gets in.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = ping(&mut TcpStream::connect(addr).unwrap());
        if got == b"+PONG\r\n" {
            break;
        }
        assert_eq!(got, b"-ERR max number of clients reached\r\n");
        assert!(Instant::now() < deadline, "a closed client's place was never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client the server is done with (QUIT, or malformed input) stops counting against
/// `max_clients` when its last reply is written, as in Redis, which frees it then: not once
/// the client also closes, which the server waits up to a second for (`conn::linger`).
#[test]
fn a_client_that_quit_frees_its_place_while_the_server_lingers() {
    let rt = runtime();
    let addr = kv::start(&rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, 1).expect("kv server").addr;
    let exchange = |stream: &mut TcpStream, request: &[u8]| -> Vec<u8> {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request).unwrap();
        let mut got = vec![0; 64];
        let n = stream.read(&mut got).expect("an answer within 10 s");
        got.truncate(n);
        got
    };
    let mut quitting = TcpStream::connect(addr).unwrap();
    assert_eq!(exchange(&mut quitting, b"PING\r\n"), b"+PONG\r\n");
    assert_eq!(exchange(&mut quitting, b"QUIT\r\n"), b"+OK\r\n");
    let quit = Instant::now();
    // `quitting` stays open: the server lingers on it for a second.
    loop {
        let got = exchange(&mut TcpStream::connect(addr).unwrap(), b"PING\r\n");
        if got == b"+PONG\r\n" {
            break;
        }
        assert_eq!(got, b"-ERR max number of clients reached\r\n");
        assert!(quit.elapsed() < Duration::from_millis(700), "the place came free only when the linger ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(quitting);
}

/// During a graceful shutdown a client still open on one core is served whole, its keys on
/// the other core included, though that core has no client left of its own: the shard there
/// lives until no client is open anywhere. (It was dropped when the drain began, and every
/// request forwarded to it got "the shard owning this key is shutting down".) Once the client
/// closes, the shutdown ends without cutting a task off.
#[test]
fn a_draining_store_serves_its_open_clients_on_every_shard() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect_to_core(&rt, addr, 0);
    let stopping = std::thread::spawn(move || rt.shutdown_gracefully(Duration::from_secs(10)));
    // The drain has begun once the listeners are closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "the listeners still accept 5 s into the shutdown");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Twenty keys: both shards own some (a shard owning none of them has odds of 2^-20).
    for i in 0..20 {
        let _: () = con.set(format!("draining:{i}"), i).expect("SET served during the drain");
    }
    let keys: Vec<String> = (0..20).map(|i| format!("draining:{i}")).collect();
    assert_eq!(con.mget::<_, Vec<i64>>(&keys).unwrap(), (0..20).collect::<Vec<i64>>());
    drop(con);
    let started = Instant::now();
    let cut_off = stopping.join().unwrap();
    assert_eq!(cut_off, 0, "tasks cut off instead of ending once the client closed");
    assert!(started.elapsed() < Duration::from_secs(5), "the shutdown took {:?} after the close", started.elapsed());
}

/// A raw exchange on a connection the kernel handed to `core`: what the server says to
/// `input` until it closes (the write side is shut after it), within 10 s.
fn raw_exchange_on(rt: &Runtime, addr: SocketAddr, core: usize, input: &[u8]) -> Vec<u8> {
    let (mut s, _) = raw_to_core(rt, addr, core);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(input).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `reply` with HELLO's connection id (which differs from run to run) written `ID`.
fn without_hello_id(reply: &str) -> String {
    let mut parts = reply.split("$2\r\nid\r\n:");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("$2\r\nid\r\n:ID");
        out.push_str(&part[part.find('\r').unwrap_or(0)..]);
    }
    out
}

/// HELLO 3's reply (its id written `ID`).
const HELLO_3: &str = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:ID\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH, and the requests between, answer as redis-server
/// 7.0.15 answered the same bytes (`{0}` and `{1}` are keys of core 0 and core 1, `{n}` the
/// first's length, the first
/// absent and the second `x` before each exchange, which runs from a connection on each
/// core): refusals before queueing abort, errors of a queued command are its reply in EXEC's
/// array, EXEC's header is in RESP2 whatever a queued HELLO switches to. WATCH outside MULTI
/// is kv's own: refused, not ignored.
#[test]
fn multi_exec_and_discard_answer_as_redis_does() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    let [k0, k1] = one_key_per_core(&mut con, "tx");
    let aborted = "-EXECABORT Transaction discarded because of previous errors.\r\n";
    let hello_inside = format!("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n{HELLO_3}_\r\n$1\r\nx\r\n");
    let hello_before = format!("{HELLO_3}+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n:0\r\n$1\r\nx\r\n_\r\n*2\r\n_\r\n$1\r\nx\r\n");
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let cases: [(&str, &str); 20] = [
        ("MULTI\r\nSET {0} 1\r\nSET {1} 2\r\nINCR {0}\r\nGET {1}\r\nMGET {0} {1} nokey\r\nDEL {0} {1}\r\nEXEC\r\n",
         "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*6\r\n+OK\r\n+OK\r\n:2\r\n$1\r\n2\r\n*3\r\n$1\r\n2\r\n$1\r\n2\r\n$-1\r\n:2\r\n"),
        ("*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n${n}\r\n{0}\r\n$1\r\n7\r\n*2\r\n$3\r\nGET\r\n${n}\r\n{0}\r\n*1\r\n$4\r\nEXEC\r\n",
         "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n7\r\n"),
        ("MULTI\r\nEXEC\r\n", "+OK\r\n*0\r\n"),
        ("MULTI\r\nFOO\r\nGET {0} b\r\nSET {1} 1\r\nEXEC\r\nGET {1}\r\n",
         &format!("+OK\r\n-ERR unknown command 'FOO', with args beginning with: \r\n-ERR wrong number of arguments for 'get' command\r\n+QUEUED\r\n{aborted}$1\r\nx\r\n")),
        ("EXEC\r\nDISCARD\r\nUNWATCH\r\nMULTI\r\nUNWATCH\r\nSHUTDOWN\r\nEXEC\r\n",
         &format!("-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n+OK\r\n+QUEUED\r\n-ERR Command not allowed inside a transaction\r\n{aborted}")),
        ("MULTI\r\nMULTI\r\nPING\r\nEXEC\r\n", "+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n*1\r\n+PONG\r\n"),
        ("MULTI\r\nWATCH {0}\r\nPING\r\nEXEC\r\n", "+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+PONG\r\n"),
        ("WATCH {0}\r\n", "-ERR WATCH is not supported by kv\r\n"),
        ("MULTI\r\nSET {1} 1\r\nDISCARD\r\nEXEC\r\nGET {1}\r\n", "+OK\r\n+QUEUED\r\n+OK\r\n-ERR EXEC without MULTI\r\n$1\r\nx\r\n"),
        ("MULTI\r\nSET {1} 1\r\nEXEC x\r\nEXEC\r\nGET {1}\r\n",
         "+OK\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n-ERR EXEC without MULTI\r\n$1\r\nx\r\n"),
        ("MULTI\r\nDISCARD x\r\nEXEC\r\n", &format!("+OK\r\n-ERR wrong number of arguments for 'discard' command\r\n{aborted}")),
        ("MULTI x\r\nEXEC x\r\nDISCARD x\r\nWATCH\r\nUNWATCH x\r\n",
         "-ERR wrong number of arguments for 'multi' command\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n-ERR wrong number of arguments for 'discard' command\r\n-ERR wrong number of arguments for 'watch' command\r\n-ERR wrong number of arguments for 'unwatch' command\r\n"),
        ("MULTI\r\nSET {0} b badopt\r\nSET {1} x\r\nINCR {1}\r\nEXEC\r\n",
         "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n-ERR syntax error\r\n+OK\r\n-ERR value is not an integer or out of range\r\n"),
        ("MULTI\r\nMEMORY FOO\r\nEXEC\r\n", &format!("+OK\r\n-ERR unknown subcommand 'FOO'. Try MEMORY HELP.\r\n{aborted}")),
        // QUIT is not queued: the connection closes, nothing queued runs.
        ("MULTI\r\nSET {1} 1\r\nQUIT\r\nEXEC\r\n", "+OK\r\n+QUEUED\r\n+OK\r\n"),
        ("HELLO 3\r\nMULTI\r\nDEL {0}\r\nGET {1}\r\nGET {0}\r\nMGET {0} {1}\r\nEXEC\r\n", &hello_before),
        ("MULTI\r\nHELLO 3\r\nGET {0}\r\nGET {1}\r\nEXEC\r\n", &hello_inside),
        ("MULTI\r\nRPUSH {0} a\r\nLPUSH {1} b\r\nHSET {0} f v\r\nLRANGE {0} 0 -1\r\nEXEC\r\n",
         &format!("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n:1\r\n{wrongtype}{wrongtype}*1\r\n$1\r\na\r\n")),
        ("MULTI\r\nRPUSH {0} a\r\nHSET {1}\r\nEXEC\r\nEXISTS {0}\r\n",
         &format!("+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'hset' command\r\n{aborted}:0\r\n")),
        ("MULTI\r\nFOO\r\nDISCARD\r\nMULTI\r\nPING\r\nEXEC\r\n",
         "+OK\r\n-ERR unknown command 'FOO', with args beginning with: \r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+PONG\r\n"),
    ];
    for core in 0..2 {
        for (input, want) in &cases {
            let _: () = con.del(&k0).unwrap();
            let _: () = con.set(&k1, "x").unwrap();
            let input = input.replace("{0}", &k0).replace("{1}", &k1).replace("{n}", &k0.len().to_string());
            let got = String::from_utf8(raw_exchange_on(&rt, addr, core, input.as_bytes())).unwrap();
            assert_eq!(without_hello_id(&got), *want, "core {core}: {input:?}");
        }
    }
}

/// The `redis` crate's atomic pipeline (MULTI ... EXEC) with keys on both cores, from a
/// connection on each core: the replies come back in order, and the writes are there after.
#[test]
fn an_atomic_pipeline_runs_keys_of_both_cores_in_order() {
    let rt = runtime();
    let addr = start(&rt);
    let [k0, k1] = one_key_per_core(&mut connect(addr), "atomic");
    for core in 0..2 {
        let mut con = connect_to_core(&rt, addr, core);
        let (old0, old1, n, both, gone): (String, String, i64, Vec<String>, i64) = redis::pipe()
            .atomic()
            .getset(&k0, "a")
            .getset(&k1, "b")
            .incr(format!("{k1}:n"), 5)
            .set(&k0, "c")
            .ignore()
            .mget(&[&k0, &k1])
            .del(format!("{k1}:n"))
            .query(&mut con)
            .unwrap();
        let olds = if core == 0 { ["probe", "probe"] } else { ["c", "b"] };
        assert_eq!(([old0.as_str(), old1.as_str()], n, gone), (olds, 5, 1));
        assert_eq!(both, ["c", "b"]);
        let failed: RedisResult<(String,)> = redis::pipe().atomic().cmd("NOSUCHCOMMAND").query(&mut con);
        assert!(failed.is_err(), "EXECABORT is an error: {failed:?}");
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG", "the connection is out of its transaction");
    }
}

/// A transaction whose keys live on one core runs with no other client's command between
/// its commands, whichever core its connection is on: writers on both cores add 1 ten times
/// in each transaction, and readers on both cores never see a count but a multiple of ten.
#[test]
fn a_transaction_of_one_cores_keys_is_never_seen_half_done() {
    let rt = runtime();
    let addr = start(&rt);
    let keys = one_key_per_core(&mut connect(addr), "isolated");
    for key in keys {
        let _: () = connect(addr).set(&key, 0).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|core| {
                let (mut con, key) = (connect_to_core(&rt, addr, core), key.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let mut pipe = redis::pipe();
                        pipe.atomic();
                        (0..10).for_each(|_| {
                            pipe.incr(&key, 1);
                        });
                        let counts: Vec<i64> = pipe.query(&mut con).unwrap();
                        assert!(counts.windows(2).all(|w| w[1] == w[0] + 1), "{counts:?}");
                        assert_eq!(counts[9] % 10, 0, "{counts:?}: another transaction ran between");
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|core| {
                let (mut con, key, done) = (connect_to_core(&rt, addr, core), key.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut reads = 0;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) || reads < 100 {
                        let n: i64 = con.get(&key).unwrap();
                        assert_eq!(n % 10, 0, "read {n}: a transaction half done");
                        reads += 1;
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().expect("a writer failed"));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        readers.into_iter().for_each(|r| r.join().expect("a reader failed"));
        let n: i64 = connect(addr).get(&key).unwrap();
        assert_eq!(n, 4000);
    }
}

/// EXEC's reply may pass the reply budget and the socket's room: big values of either core,
/// in RESP2 and RESP3, arrive whole and in order, and the connection carries on after.
/// A connection that closes before reading its EXEC's reply leaves the server serving.
#[test]
fn a_huge_exec_reply_arrives_whole_and_a_close_mid_exec_is_harmless() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    let [k0, k1] = one_key_per_core(&mut con, "huge");
    let big: Vec<u8> = (0..6 << 20).map(|i| b'a' + (i % 23) as u8).collect();
    let _: () = con.set(&k0, &big[..]).unwrap();
    let _: () = con.set(&k1, &big[..]).unwrap();
    for (hello, null) in [("", "$-1\r\n"), ("HELLO 3\r\n", "_\r\n")] {
        for core in 0..2 {
            let (mut s, _) = raw_to_core(&rt, addr, core);
            let input = format!("{hello}MULTI\r\nGET {k1}\r\nGET nokey\r\nGET {k0}\r\nGET {k1}\r\nEXEC\r\nPING\r\n");
            s.write_all(input.as_bytes()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let queued = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n";
            let want = [
                queued.as_bytes(),
                &bulk_reply(&big),
                null.as_bytes(),
                &bulk_reply(&big),
                &bulk_reply(&big),
                b"+PONG\r\n",
            ]
            .concat();
            let mut got = Vec::new();
            let _ = s.shutdown(std::net::Shutdown::Write);
            s.read_to_end(&mut got).expect("the replies within 10 s");
            let got = match hello {
                "" => &got[..],
                _ => &got[got.windows(5).position(|w| w == b"+OK\r\n").expect("MULTI's +OK")..],
            };
            assert!(got == want, "core {core} {hello:?}: {} bytes back of {}", got.len(), want.len());
        }
    }
    for core in 0..2 {
        let (mut s, _) = raw_to_core(&rt, addr, core);
        s.write_all(format!("MULTI\r\nGET {k0}\r\nGET {k1}\r\nGET {k0}\r\nGET {k1}\r\nEXEC\r\n").as_bytes()).unwrap();
        drop(s);
    }
    let mut after = connect(addr);
    let got: Vec<Vec<u8>> = redis::pipe().atomic().get(&k0).get(&k1).query(&mut after).unwrap();
    assert!(got == [big.clone(), big], "served whole after the closes");
}

/// A transaction queues at most 64 MiB of requests: the request past it is refused and the
/// transaction aborted (its queue let go), and the connection carries on.
#[test]
fn a_transaction_past_its_bound_is_refused_and_aborted() {
    let rt = runtime();
    let addr = start(&rt);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let value = vec![b'v'; 15 << 20];
    let mut input = b"MULTI\r\n".to_vec();
    for i in 0..5 {
        input.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$5\r\nbig:{i}\r\n${}\r\n", value.len()).as_bytes());
        input.extend_from_slice(&value);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"EXEC\r\nEXISTS big:0\r\n");
    let writer = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || s.write_all(&input))
    };
    let want = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n-ERR Transaction too big: kv queues at most 64 MiB of requests between MULTI and EXEC\r\n-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n";
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).expect("the replies within 20 s");
    assert_eq!(String::from_utf8_lossy(&got), want);
    writer.join().unwrap().unwrap();
}

/// A connection that kills itself inside EXEC gets the replies up to the kill's, as from
/// redis-server 7.0.15 (the array cut short), then the close; the requests after the kill
/// still run, there as here.
#[test]
fn a_connection_killing_itself_inside_exec_closes_after_the_kills_reply() {
    let rt = runtime();
    let addr = start(&rt);
    let mut con = connect(addr);
    let [k0, k1] = one_key_per_core(&mut con, "suicide");
    for core in 0..2 {
        let _: () = con.del(&[&k0, &k1]).unwrap();
        let (mut s, id) = raw_to_core(&rt, addr, core);
        let input =
            format!("MULTI\r\nCLIENT KILL ID {id} SKIPME no\r\nPING\r\nSET {k0} 1\r\nSET {k1} 1\r\nEXEC\r\nPING\r\n");
        s.write_all(input.as_bytes()).unwrap();
        closed_by_server(&mut s, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n:1\r\n");
        let set: Vec<Option<String>> = con.mget(&[&k0, &k1]).unwrap();
        assert_eq!(set, [Some("1".to_string()), Some("1".to_string())], "core {core}");
    }
}
