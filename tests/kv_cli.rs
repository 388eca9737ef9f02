//! The kv example (run in-process on a two-core runtime) driven by the real `redis-cli`, in
//! the modes users run against a Redis server: `--pipe` mass insertion, `--scan`,
//! `--memkeys`, `shutdown`, `client list`; and the kv binary run on its own. Each test skips, saying so, where redis-cli is not installed (CI installs
//! redis-tools).

#[path = "../examples/kv/main.rs"]
#[allow(dead_code)]
mod kv;

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::Commands;
use ringpoll::Runtime;
use support::{example, run_example, two_core_runtime, wait_within, KillOnDrop};

/// How long one redis-cli run may take.
const CLI_LIMIT: Duration = Duration::from_secs(60);

/// Whether redis-cli can be run here.
fn have_redis_cli() -> bool {
    let found = Command::new("redis-cli").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: redis-cli is not installed");
    }
    found
}

/// The built kv example, where redis-cli can drive it; `None` (and why, on stderr) if not.
fn kv_binary() -> Option<std::path::PathBuf> {
    if !have_redis_cli() {
        return None;
    }
    let bin = example("kv");
    if bin.is_none() {
        eprintln!("skipping: the kv example is not built (`cargo test` builds it, `--test` alone does not)");
    }
    bin
}

/// The runtime and the server on it, the runtime built on a thread of its own (see tests/kv.rs).
fn server() -> (Runtime, SocketAddr) {
    let rt = std::thread::spawn(two_core_runtime).join().unwrap();
    let addr = kv::start(&rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, kv::admission::REDIS_MAX_CLIENTS)
        .expect("kv server")
        .addr;
    (rt, addr)
}

fn connect(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    con
}

/// Everything `pipe` gives until it closes, read on a thread of its own.
fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs `redis-cli -h HOST -p PORT args...` on `input` within [`CLI_LIMIT`] (killed past
/// it); its stdout and stderr. It must exit successfully.
fn redis_cli(addr: SocketAddr, args: &[&str], input: Vec<u8>) -> (String, String) {
    let mut child = KillOnDrop(
        Command::new("redis-cli")
            .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn redis-cli"),
    );
    let mut stdin = child.0.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input)); // closed when done
    let (stdout, stderr) = (read_all(child.0.stdout.take().unwrap()), read_all(child.0.stderr.take().unwrap()));
    let status =
        wait_within(&mut child.0, CLI_LIMIT).unwrap_or_else(|| panic!("redis-cli {args:?} ran past {CLI_LIMIT:?}"));
    let _ = writer.join();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "redis-cli {args:?}: {status}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// `SET key:i value:i` for i below `n`, as RESP, what `redis-cli --pipe` reads.
fn sets(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let (key, value) = (format!("key:{i}"), format!("value:{i}"));
        out.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).as_bytes(),
        );
    }
    out
}

/// `redis-cli --pipe` sends 50,000 SETs without waiting, then an ECHO of a random marker, and
/// counts replies until the marker's: every SET lands on its shard and is answered; then
/// `redis-cli --scan --pattern` walks every shard and lists each key once.
#[test]
fn redis_cli_pipe_inserts_everything_and_scan_lists_it() {
    if !have_redis_cli() {
        return;
    }
    let (_rt, addr) = server();
    let n = 50_000;
    let mut con = connect(addr);
    let _: () = con.set("other", "not a key:*").unwrap();
    let (out, errors) = redis_cli(addr, &["--pipe"], sets(n));
    assert!(out.contains(&format!("errors: 0, replies: {n}")), "redis-cli --pipe said: {out}{errors}");
    assert_eq!(redis::cmd("DBSIZE").query::<usize>(&mut con).unwrap(), n + 1);
    for i in [0, 1, 12_345, n - 1] {
        assert_eq!(con.get::<_, String>(format!("key:{i}")).unwrap(), format!("value:{i}"));
    }
    let (listed, _) = redis_cli(addr, &["--scan", "--pattern", "key:*"], Vec::new());
    let lines: Vec<&str> = listed.lines().collect();
    let unique: BTreeSet<&str> = lines.iter().copied().collect();
    let want: BTreeSet<String> = (0..n).map(|i| format!("key:{i}")).collect();
    assert_eq!(lines.len(), n, "each key once");
    assert!(unique.iter().copied().eq(want.iter().map(String::as_str)), "the keys written, and only those");
}

/// `redis-cli --memkeys` asks MEMORY USAGE of every key it scans: each string counts its
/// bytes (without MEMORY USAGE, it counted 0 for all); `--bigkeys` finds the biggest.
#[test]
fn redis_cli_memkeys_and_bigkeys_measure_every_key() {
    if !have_redis_cli() {
        return;
    }
    let (_rt, addr) = server();
    let mut con = connect(addr);
    for i in 0..100 {
        let _: () = con.set(format!("k{i}"), "x".repeat(10 + i)).unwrap();
    }
    let (mem, _) = redis_cli(addr, &["--memkeys"], Vec::new());
    let strings = mem.lines().find(|l| l.contains(" strings with ")).unwrap_or_else(|| panic!("no summary: {mem}"));
    let bytes: usize = strings.split(" strings with ").nth(1).and_then(|r| r.split(' ').next()?.parse().ok()).unwrap();
    assert!(strings.starts_with("100 strings") && bytes > (10..110).sum(), "{strings}");
    let (big, _) = redis_cli(addr, &["--bigkeys"], Vec::new());
    assert!(big.contains("Biggest string found '\"k99\"' has 109 bytes"), "{big}");
}

/// `redis-cli client list` shows every connection of the server, on both cores, whichever
/// core redis-cli's own landed on: one line per client (those kept open, and redis-cli), each
/// id once, in id order; `redis-cli info` counts them all.
#[test]
fn redis_cli_client_list_shows_every_cores_connections() {
    if !have_redis_cli() {
        return;
    }
    let (rt, addr) = server();
    // Clients kept open (each answered once, so its core has it) until both cores hold some.
    let mut kept = Vec::new();
    while rt.stats().iter().any(|core| core.accepted == 0) {
        assert!(kept.len() < 200, "200 connections and one core got none");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(b"PING\r\n").unwrap();
        let mut pong = [0; 7];
        client.read_exact(&mut pong).expect("PONG within 10 s");
        kept.push(client);
    }
    let (list, _) = redis_cli(addr, &["client", "list"], Vec::new());
    let ids: Vec<u64> = list
        .lines()
        .map(|line| {
            let id = line.strip_prefix("id=").and_then(|rest| rest.split(' ').next()?.parse().ok());
            assert!(line.contains(" addr=127.0.0.1:") && line.ends_with(" resp=2"), "{line}");
            id.unwrap_or_else(|| panic!("no id: {line}"))
        })
        .collect();
    assert_eq!(ids.len(), kept.len() + 1, "the clients kept and redis-cli: {list}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "each once, in id order: {ids:?}");
    // The first redis-cli's close reaches the server on its own time.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (info, _) = redis_cli(addr, &["info"], Vec::new());
        if info.contains(&format!("connected_clients:{}\r\n", kept.len() + 1)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "kept {} and redis-cli: {info}", kept.len());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(kept);
}

/// `redis-cli info server` shows the Server section alone, `info keyspace` the db0 line
/// (both cores' keys, those with a time), `info nosuch` nothing: as redis-cli shows
/// redis-server 7.0.15's (checked against it, byte for byte but for avg_ttl).
#[test]
fn redis_cli_info_shows_the_sections_asked_for() {
    if !have_redis_cli() {
        return;
    }
    let (_rt, addr) = server();
    let mut con = connect(addr);
    for i in 0..10 {
        let _: () = redis::cmd("SET").arg(format!("timed:{i}")).arg(i).arg("EX").arg(100).query(&mut con).unwrap();
        let _: () = con.set(format!("plain:{i}"), i).unwrap();
    }
    let (server, _) = redis_cli(addr, &["info", "server"], Vec::new());
    assert!(server.starts_with("# Server\r\nredis_version:7.0.15\r\n"), "{server}");
    assert!(!server.contains("\r\n\r\n") && server.matches('#').count() == 1, "the Server section alone: {server}");
    let (keyspace, _) = redis_cli(addr, &["info", "keyspace"], Vec::new());
    let avg_ttl =
        keyspace.strip_prefix("# Keyspace\r\ndb0:keys=20,expires=10,avg_ttl=").unwrap_or_else(|| panic!("{keyspace}"));
    let avg_ttl: u64 = avg_ttl.trim_end().parse().unwrap_or_else(|_| panic!("{keyspace}"));
    assert!((90_000..=100_000).contains(&avg_ttl), "about 100 s left: {keyspace}");
    let (nothing, _) = redis_cli(addr, &["info", "nosuch"], Vec::new());
    assert_eq!(nothing, "", "an empty text, as redis-cli prints Redis' (nothing, not even a newline)");
}

/// SHUTDOWN stops the kv binary as SIGTERM does, with its usual output and exit status 0:
/// sent by `redis-cli shutdown`, and pipelined by a client (`SET`, `SHUTDOWN NOSAVE`, `PING`:
/// the SET is answered, then the connection closes without a reply, as Redis closes it).
/// Another client's idle connection does not hold the stop past the grace.
#[test]
fn shutdown_stops_the_kv_binary_as_sigterm_does() {
    let Some(bin) = kv_binary() else {
        return;
    };
    for pipelined in [false, true] {
        let mut server = run_example(&bin, &["--addr", "127.0.0.1:0", "--cores", "0,0"], "kv on ");
        let addr = server.listening_addr();
        let _idle = std::net::TcpStream::connect(addr).expect("connect");
        if pipelined {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"SET k v\r\nSHUTDOWN NOSAVE\r\nPING\r\n").unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("the server closes the connection");
            assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n", "the SET's reply, then the close");
        } else {
            let (out, err) = redis_cli(addr, &["shutdown"], Vec::new());
            assert_eq!((out.as_str(), err.as_str()), ("", ""), "redis-cli says nothing, as for Redis");
        }
        let child = &mut server.child.0;
        let status = wait_within(child, Duration::from_secs(10)).expect("kv stopped within 10 s of SHUTDOWN");
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(status.code(), Some(0), "{stderr}");
        let said: Vec<&str> = stderr.lines().collect();
        assert_eq!(said[..2], ["kv: SHUTDOWN from a client", "kv: signal 15, shutting down"], "{stderr}");
        assert!(said[2].starts_with("kv: stopped in "), "{stderr}");
    }
}

/// Under a limit of 80 descriptors, the kv binary lowers its client limit (as redis-server
/// does) so that it never runs out: of 40 clients, each sending PING in turn and keeping its
/// connection, the first (80 - 32 reserved - 8 per core) / 2 = 16 get PONG and every other
/// one Redis' refusal at once. Before the limit, the 17th waited in the listen queue for a
/// descriptor that none of the first 16 gave back, and redis-benchmark hung there.
#[test]
fn the_kv_binary_refuses_clients_its_descriptors_cannot_hold() {
    let Some(bin) = example("kv") else {
        eprintln!("skipping: the kv example is not built (`cargo test` builds it, `--test` alone does not)");
        return;
    };
    // `ulimit -n` sets both limits, so the binary cannot raise its soft limit past 80.
    let script = format!("ulimit -n 80 && exec '{}' --addr 127.0.0.1:0 --cores 0,1", bin.display());
    let server = run_example(std::path::Path::new("sh"), &["-c", &script], "kv on ");
    let addr = server.listening_addr();
    let mut kept = Vec::new();
    let (mut served, mut refused) = (0, 0);
    for _ in 0..40 {
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(b"PING\r\n").unwrap();
        let mut got = vec![0; 64];
        let n = client.read(&mut got).expect("an answer within 10 s, not a wait in the listen queue");
        match &got[..n] {
            b"+PONG\r\n" => {
                served += 1;
                kept.push(client);
            }
            b"-ERR max number of clients reached\r\n" => refused += 1,
            other => panic!("unexpected answer {:?}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!((served, refused), (16, 24));
    drop(kept);
}

/// CONFIG GET `maxclients` answers the limit the binary serves by (16, lowered as Redis lowers
/// it, under a limit of 80 descriptors), by name or pattern; CONFIG SET changes it at once,
/// for the next client, and refuses a count the descriptors cannot hold with Redis' error.
#[test]
fn config_gets_and_sets_maxclients_as_redis_does() {
    let Some(bin) = kv_binary() else {
        return;
    };
    let script = format!("ulimit -n 80 && exec '{}' --addr 127.0.0.1:0 --cores 0,1", bin.display());
    let server = run_example(std::path::Path::new("sh"), &["-c", &script], "kv on ");
    let addr = server.listening_addr();
    let (got, _) = redis_cli(addr, &["config", "get", "maxclients"], Vec::new());
    assert_eq!(got, "maxclients\n16\n");
    let (got, _) = redis_cli(addr, &["config", "get", "MAX*"], Vec::new());
    assert!(got.starts_with("maxclients\n16\nmaxmemory\n0\n"), "{got}");
    let (got, _) = redis_cli(addr, &["config", "set", "maxclients", "17"], Vec::new());
    let refusal = "ERR CONFIG SET failed (possibly related to argument 'maxclients') - \
                   The operating system is not able to handle the specified number of clients, try with 16";
    assert_eq!(got.trim_end(), refusal);
    let exchange = |client: &mut std::net::TcpStream, request: &str| -> String {
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(request.as_bytes()).unwrap();
        let mut got = vec![0; 256];
        let n = client.read(&mut got).expect("an answer within 10 s");
        String::from_utf8_lossy(&got[..n]).into_owned()
    };
    let connect = || std::net::TcpStream::connect(addr).expect("connect");
    let mut admin = connect();
    admin.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // redis-cli's connections above count until the server has seen them close: under load
    // (io_uring, the whole suite running) one was still counted, and `second` was refused.
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    let connected = |client: &mut std::net::TcpStream| -> String {
        client.write_all(b"INFO\r\n").unwrap();
        let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
        let mut head = String::new();
        std::io::BufRead::read_line(&mut reader, &mut head).expect("INFO's length within 10 s");
        let len: usize = head.trim_start_matches('$').trim_end().parse().expect("a bulk reply");
        let mut body = vec![0; len + 2];
        reader.read_exact(&mut body).expect("INFO within 10 s");
        let body = String::from_utf8_lossy(&body).into_owned();
        body.lines().find(|l| l.starts_with("connected_clients:")).unwrap_or_default().to_owned()
    };
    while connected(&mut admin) != "connected_clients:1" {
        assert!(std::time::Instant::now() < give_up, "redis-cli's connections still counted after 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = exchange(&mut admin, "CONFIG SET maxclients 2\r\nCONFIG GET maxclients\r\n");
    assert_eq!(got, "+OK\r\n*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n");
    let mut second = connect();
    assert_eq!(exchange(&mut second, "PING\r\n"), "+PONG\r\n");
    assert_eq!(exchange(&mut connect(), "PING\r\n"), "-ERR max number of clients reached\r\n");
    assert_eq!(exchange(&mut admin, "CONFIG SET maxclients 3\r\n"), "+OK\r\n");
    assert_eq!(exchange(&mut connect(), "PING\r\n"), "+PONG\r\n", "the raised limit admits the next");
}

/// The process's resident megabytes, from `/proc`.
fn resident_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|kb| kb.parse::<u64>().ok()).expect("VmRSS in /proc/PID/status") / 1024
}

/// Freed big values go back to the system: after eight clients set and read five 4 MiB
/// values each, on both cores, FLUSHALL and their close leave the kv binary under 64 MB
/// resident. glibc's malloc used to keep what it had freed: 200-390 MB for sixteen such
/// clients, against redis-server's 13 MB.
#[test]
fn freed_big_values_leave_the_kv_binary() {
    let Some(bin) = example("kv") else {
        eprintln!("skipping: the kv example is not built (`cargo test` builds it, `--test` alone does not)");
        return;
    };
    let server = run_example(&bin, &["--addr", "127.0.0.1:0", "--cores", "0,1"], "kv on ");
    let (addr, pid) = (server.listening_addr(), server.child.0.id());
    let clients: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut con = connect(addr);
                let big = vec![b'x'; 4 << 20];
                let mut pipe = redis::pipe();
                for j in 0..5 {
                    pipe.set(format!("big{i}:{j}"), &big).ignore();
                }
                for j in 0..5 {
                    pipe.get(format!("big{i}:{j}"));
                }
                let values: Vec<Vec<u8>> = pipe.query(&mut con).expect("the pipeline's replies");
                assert!(values.iter().all(|v| *v == big), "every value read back whole");
                con
            })
        })
        .collect();
    let cons: Vec<redis::Connection> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let peak = resident_mb(pid);
    let _: () = redis::cmd("FLUSHALL").query(&mut connect(addr)).unwrap();
    drop(cons);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = resident_mb(pid);
        if now < 64 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now} MB resident 5 s after FLUSHALL (peak {peak} MB)");
        std::thread::sleep(Duration::from_millis(100));
    }
}
