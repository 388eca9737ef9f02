//! The kv example's pub/sub, run in-process on a two-core runtime and driven over raw RESP,
//! so the frames are compared byte for byte: each expected reply is what redis-server 7.0.15
//! sent for the same session (PUBSUB CHANNELS' order aside: Redis' is its hash table's).
//! Subscribers sit on both cores, publishers on either; every wait is bounded.

#[path = "../examples/kv/main.rs"]
#[allow(dead_code)]
mod kv;

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringpoll::Runtime;
use support::two_core_runtime;

/// The runtime, built on a thread of its own (see tests/kv.rs for why).
fn runtime() -> Runtime {
    std::thread::spawn(two_core_runtime).join().unwrap()
}

fn start(rt: &Runtime) -> SocketAddr {
    let max = kv::admission::REDIS_MAX_CLIENTS;
    kv::start(rt, "127.0.0.1:0".parse().unwrap(), kv::Accept::Hash, max).expect("kv server").addr
}

/// One raw RESP connection.
struct Client(TcpStream);

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Client(stream)
    }

    /// A connection that the kernel handed to `core` (told by the per-core accepted counts).
    fn on_core(rt: &Runtime, addr: SocketAddr, core: usize) -> Client {
        for _ in 0..200 {
            let before = rt.stats()[core].accepted;
            let mut client = Client::connect(addr);
            client.ask(&["PING"], b"+PONG\r\n");
            if rt.stats()[core].accepted > before {
                return client;
            }
        }
        panic!("200 connections and none landed on core {core}");
    }

    fn send(&mut self, args: &[&str]) {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request += &format!("${}\r\n{arg}\r\n", arg.len());
        }
        self.0.write_all(request.as_bytes()).unwrap();
    }

    /// Reads exactly `expected`'s length (within the read timeout) and compares.
    fn expect(&mut self, expected: &[u8]) {
        let mut got = vec![0; expected.len()];
        self.0.read_exact(&mut got).unwrap_or_else(|e| panic!("waiting for {:?}: {e}", shown(expected)));
        assert_eq!(shown(&got), shown(expected));
    }

    fn ask(&mut self, args: &[&str], expected: &[u8]) {
        self.send(args);
        self.expect(expected);
    }

    /// Nothing arrives for a while.
    fn expect_nothing(&mut self) {
        self.0.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut byte = [0; 1];
        match self.0.read(&mut byte) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected nothing, got {other:?} {:?}", shown(&byte)),
        }
        self.0.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }

    /// The reply to `args`, read until `complete` says it is whole.
    fn reply(&mut self, args: &[&str], complete: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        self.send(args);
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        while !complete(&got) {
            let n = self.0.read(&mut buf).expect("reply");
            assert!(n > 0, "closed while waiting: {:?}", shown(&got));
            got.extend_from_slice(&buf[..n]);
        }
        got
    }
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn message(channel: &str, text: &str) -> Vec<u8> {
    format!("*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{text}\r\n", channel.len(), text.len()).into_bytes()
}

fn pmessage(pattern: &str, channel: &str, text: &str) -> Vec<u8> {
    format!(
        "*4\r\n$8\r\npmessage\r\n${}\r\n{pattern}\r\n${}\r\n{channel}\r\n${}\r\n{text}\r\n",
        pattern.len(),
        channel.len(),
        text.len()
    )
    .into_bytes()
}

fn confirmed(verb: &str, name: &str, count: usize) -> Vec<u8> {
    format!("*3\r\n${}\r\n{verb}\r\n${}\r\n{name}\r\n:{count}\r\n", verb.len(), name.len()).into_bytes()
}

/// NUMSUB of one channel, asked until it is `want` (a closed connection is forgotten by its
/// core after the close is seen), for at most five seconds.
fn wait_for_numsub(client: &mut Client, channel: &str, want: usize) {
    let expected = format!("*2\r\n${}\r\n{channel}\r\n:{want}\r\n", channel.len()).into_bytes();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got =
            client.reply(&["PUBSUB", "NUMSUB", channel], |r| r.ends_with(b"\r\n") && r.len() > 4 + channel.len() + 6);
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "NUMSUB {channel} still {:?}", shown(&got));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_publish_on_either_core_reaches_subscribers_on_both() {
    let rt = runtime();
    let addr = start(&rt);
    let mut sub0 = Client::on_core(&rt, addr, 0);
    let mut sub1 = Client::on_core(&rt, addr, 1);
    let mut psub1 = Client::on_core(&rt, addr, 1);
    sub0.ask(
        &["SUBSCRIBE", "news", "sport"],
        &[confirmed("subscribe", "news", 1), confirmed("subscribe", "sport", 2)].concat(),
    );
    sub1.ask(&["SUBSCRIBE", "news"], &confirmed("subscribe", "news", 1));
    psub1.ask(
        &["PSUBSCRIBE", "n*", "ne?s"],
        &[confirmed("psubscribe", "n*", 1), confirmed("psubscribe", "ne?s", 2)].concat(),
    );
    for core in [0, 1] {
        let mut publisher = Client::on_core(&rt, addr, core);
        let text = format!("from core {core}");
        // Redis counts the receiving subscriptions: two channel subscribers, two patterns.
        publisher.ask(&["PUBLISH", "news", &text], b":4\r\n");
        sub0.expect(&message("news", &text));
        sub1.expect(&message("news", &text));
        // Patterns match in no set order (Redis' is its hash table's).
        let (first, second) = (pmessage("n*", "news", &text), pmessage("ne?s", "news", &text));
        let mut got = vec![0; first.len() + second.len()];
        psub1.0.read_exact(&mut got).expect("pmessages");
        assert!(got == [&first[..], &second].concat() || got == [&second[..], &first].concat(), "{}", shown(&got));
        publisher.ask(&["PUBLISH", "sport", &text], b":1\r\n");
        sub0.expect(&message("sport", &text));
        publisher.ask(&["PUBLISH", "weather", "rain"], b":0\r\n");
    }
    sub1.expect_nothing();
    psub1.expect_nothing();
}

#[test]
fn messages_from_one_publisher_arrive_in_order() {
    let rt = runtime();
    let addr = start(&rt);
    let mut subscriber = Client::on_core(&rt, addr, 1);
    subscriber.ask(&["SUBSCRIBE", "seq"], &confirmed("subscribe", "seq", 1));
    let mut publisher = Client::on_core(&rt, addr, 0);
    let mut pipelined = String::new();
    for i in 0..500 {
        pipelined += &format!("*3\r\n$7\r\nPUBLISH\r\n$3\r\nseq\r\n${}\r\n{i}\r\n", i.to_string().len());
    }
    publisher.0.write_all(pipelined.as_bytes()).unwrap();
    publisher.expect(":1\r\n".repeat(500).as_bytes());
    let expected: Vec<u8> = (0..500).flat_map(|i| message("seq", &i.to_string())).collect();
    subscriber.expect(&expected);
}

#[test]
fn pubsub_counts_every_cores_subscriptions() {
    let rt = runtime();
    let addr = start(&rt);
    let mut on0 = Client::on_core(&rt, addr, 0);
    let mut on1 = Client::on_core(&rt, addr, 1);
    let mut asker = Client::connect(addr);
    asker.ask(&["PUBSUB", "NUMPAT"], b":0\r\n");
    asker.ask(&["PUBSUB", "CHANNELS"], b"*0\r\n");
    on0.ask(&["SUBSCRIBE", "a", "b"], &[confirmed("subscribe", "a", 1), confirmed("subscribe", "b", 2)].concat());
    on1.ask(&["SUBSCRIBE", "a", "c"], &[confirmed("subscribe", "a", 1), confirmed("subscribe", "c", 2)].concat());
    on0.ask(&["PSUBSCRIBE", "x*"], &confirmed("psubscribe", "x*", 3));
    on1.ask(
        &["PSUBSCRIBE", "x*", "y*"],
        &[confirmed("psubscribe", "x*", 3), confirmed("psubscribe", "y*", 4)].concat(),
    );
    asker.ask(
        &["PUBSUB", "NUMSUB", "a", "b", "c", "d"],
        b"*8\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:1\r\n$1\r\nc\r\n:1\r\n$1\r\nd\r\n:0\r\n",
    );
    asker.ask(&["PUBSUB", "NUMSUB"], b"*0\r\n");
    // A pattern counts once, however many clients (and cores) have it, as in Redis.
    asker.ask(&["PUBSUB", "NUMPAT"], b":2\r\n");
    let all = asker.reply(&["PUBSUB", "CHANNELS"], |r| r.len() >= 4 + 3 * 7);
    assert_eq!(&all[..4], b"*3\r\n", "{}", shown(&all));
    for channel in ["a", "b", "c"] {
        assert!(shown(&all).contains(&format!("$1\r\n{channel}\r\n")), "{}", shown(&all));
    }
    let matching = asker.reply(&["PUBSUB", "CHANNELS", "[ab]"], |r| r.len() >= 4 + 2 * 7);
    let matching = shown(&matching);
    assert!(matching == "*2\r\n$1\r\na\r\n$1\r\nb\r\n" || matching == "*2\r\n$1\r\nb\r\n$1\r\na\r\n", "{matching}");
    asker.ask(&["PUBSUB", "NUMPAT", "x"], b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n");
    asker.ask(&["PUBSUB", "FOO"], b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n");
    asker.ask(&["PUBLISH", "x"], b"-ERR wrong number of arguments for 'publish' command\r\n");
    asker.ask(&["SUBSCRIBE"], b"-ERR wrong number of arguments for 'subscribe' command\r\n");
}

#[test]
fn a_subscribed_resp2_connection_runs_only_what_redis_allows() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::connect(addr);
    client.ask(&["SET", "k", "v"], b"+OK\r\n");
    client.ask(&["SUBSCRIBE", "c"], &confirmed("subscribe", "c", 1));
    client.ask(&["PING"], b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    client.ask(&["PING", "hi"], b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    let refused = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    client.ask(&["GET", "k"], refused.as_bytes());
    client.ask(&["SET", "k"], b"-ERR wrong number of arguments for 'set' command\r\n");
    client.ask(&["NOSUCH"], b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    let refused_id = "-ERR Can't execute 'client|id': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    client.ask(&["CLIENT", "ID"], refused_id.as_bytes());
    client.ask(&["PSUBSCRIBE", "p*"], &confirmed("psubscribe", "p*", 2));
    // Unsubscribing from every channel leaves the pattern: still subscribed.
    client.ask(&["UNSUBSCRIBE"], &confirmed("unsubscribe", "c", 1));
    client.ask(&["UNSUBSCRIBE"], b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n");
    client.ask(&["GET", "k"], refused.as_bytes());
    client.ask(&["PUNSUBSCRIBE"], &confirmed("punsubscribe", "p*", 0));
    client.ask(&["PUNSUBSCRIBE"], b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
    client.ask(&["UNSUBSCRIBE", "never"], &confirmed("unsubscribe", "never", 0));
    client.ask(&["GET", "k"], b"$1\r\nv\r\n");
    client.ask(&["PING"], b"+PONG\r\n");
    let mut publisher = Client::connect(addr);
    publisher.ask(&["PUBLISH", "c", "gone"], b":0\r\n");
    client.expect_nothing();
}

#[test]
fn a_resp3_subscriber_gets_pushes_and_runs_any_command() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::on_core(&rt, addr, 1);
    client.send(&["HELLO", "3"]);
    let _ = client.reply(&["PING"], |r| r.ends_with(b"+PONG\r\n"));
    client.ask(&["SUBSCRIBE", "c"], b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    client.ask(&["PING"], b"+PONG\r\n");
    client.ask(&["SET", "k", "v"], b"+OK\r\n");
    client.ask(&["GET", "nothing"], b"_\r\n");
    let mut publisher = Client::on_core(&rt, addr, 0);
    publisher.ask(&["PUBLISH", "c", "v"], b":1\r\n");
    client.expect(b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nv\r\n");
    client.ask(&["PSUBSCRIBE", "*"], b">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n");
    // Its own message comes before its PUBLISH's reply, as Redis writes them.
    client.ask(
        &["PUBLISH", "c", "me"],
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nme\r\n>4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$2\r\nme\r\n:2\r\n",
    );
    client.ask(&["UNSUBSCRIBE"], b">3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:1\r\n");
    client.ask(&["PUNSUBSCRIBE"], b">3\r\n$12\r\npunsubscribe\r\n$1\r\n*\r\n:0\r\n");
    client.ask(&["UNSUBSCRIBE"], b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n");
}

#[test]
fn a_subscriber_that_closes_is_forgotten() {
    let rt = runtime();
    let addr = start(&rt);
    let mut asker = Client::on_core(&rt, addr, 0);
    for core in [0, 1] {
        let mut subscriber = Client::on_core(&rt, addr, core);
        subscriber.ask(&["SUBSCRIBE", "bye"], &confirmed("subscribe", "bye", 1));
        wait_for_numsub(&mut asker, "bye", 1);
        drop(subscriber);
        wait_for_numsub(&mut asker, "bye", 0);
        asker.ask(&["PUBLISH", "bye", "x"], b":0\r\n");
        let mut quitter = Client::on_core(&rt, addr, core);
        quitter.ask(&["PSUBSCRIBE", "b*"], &confirmed("psubscribe", "b*", 1));
        quitter.ask(&["QUIT"], b"+OK\r\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while asker.reply(&["PUBSUB", "NUMPAT"], |r| r.ends_with(b"\r\n")) != b":0\r\n" {
            assert!(Instant::now() < deadline, "the pattern outlived its connection");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_past_the_limit() {
    let rt = runtime();
    let addr = start(&rt);
    let mut slow = Client::on_core(&rt, addr, 1);
    slow.ask(&["SUBSCRIBE", "flood"], &confirmed("subscribe", "flood", 1));
    let mut publisher = Client::on_core(&rt, addr, 0);
    let big = "x".repeat(1 << 20);
    // 32 MiB waiting in its mailbox, beside what the socket buffers hold, and it is closed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut published = 0;
    loop {
        let got = publisher.reply(&["PUBLISH", "flood", &big], |r| r.ends_with(b"\r\n"));
        published += 1;
        if got == b":0\r\n" {
            break;
        }
        assert_eq!(got, b":1\r\n");
        assert!(Instant::now() < deadline && published < 1000, "still subscribed after {published} MiB");
    }
    assert!(published > 32, "closed after only {published} MiB");
    wait_for_numsub(&mut publisher, "flood", 0);
}

#[test]
fn exec_runs_what_was_queued_before_the_subscription() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::connect(addr);
    client.ask(&["MULTI"], b"+OK\r\n");
    client.ask(&["SUBSCRIBE", "m"], b"+QUEUED\r\n");
    client.ask(&["PUBLISH", "m", "x"], b"+QUEUED\r\n");
    client.ask(&["GET", "k"], b"+QUEUED\r\n");
    // As redis-server 7.0.15 answers: the message inside EXEC's array, before PUBLISH's count,
    // and the GET run, though the connection is subscribed by then.
    client.ask(
        &["EXEC"],
        &[&b"*3\r\n"[..], &confirmed("subscribe", "m", 1), &message("m", "x"), b":1\r\n$-1\r\n"].concat(),
    );
    let refused = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    client.ask(&["GET", "k"], refused.as_bytes());
}

#[test]
fn the_redis_crates_pubsub_works_against_it() {
    let rt = runtime();
    let addr = start(&rt);
    let connect = || {
        let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
        let con = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        con
    };
    let mut subscriber = connect();
    let mut publisher = connect();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("crate").unwrap();
    pubsub.psubscribe("cr*").unwrap();
    let reached: i64 = redis::cmd("PUBLISH").arg("crate").arg("hello").query(&mut publisher).unwrap();
    assert_eq!(reached, 2);
    let mut got = Vec::new();
    for _ in 0..2 {
        let msg = pubsub.get_message().expect("a message within the read timeout");
        let pattern: Option<String> = msg.get_pattern().ok();
        got.push((msg.get_channel_name().to_string(), msg.get_payload::<String>().unwrap(), pattern));
    }
    got.sort();
    assert_eq!(
        got,
        [("crate".into(), "hello".into(), None), ("crate".into(), "hello".into(), Some("cr*".to_string()))]
    );
    pubsub.unsubscribe("crate").unwrap();
    pubsub.punsubscribe("cr*").unwrap();
    drop(pubsub);
    // Out of subscribed mode, the connection runs commands again.
    let pong: String = redis::cmd("PING").query(&mut subscriber).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn requests_pipelined_behind_a_subscribe_are_refused_as_redis_refuses_them() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::connect(addr);
    client.0.write_all(b"SUBSCRIBE c\r\nGET k\r\nPING\r\nUNSUBSCRIBE\r\nGET k\r\n").unwrap();
    let refused = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    let pong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    client.expect(
        &[
            &confirmed("subscribe", "c", 1),
            refused.as_bytes(),
            pong.as_bytes(),
            &confirmed("unsubscribe", "c", 0),
            b"$-1\r\n",
        ]
        .concat(),
    );
}

/// As redis-server 7.0.15 types them: a connection with a subscription, in either protocol,
/// is of type `pubsub` (`flags=P`), not `normal`, for CLIENT LIST and CLIENT KILL, on
/// whichever core it lives.
#[test]
fn subscribers_are_of_type_pubsub_for_client_list_and_kill() {
    let rt = runtime();
    let addr = start(&rt);
    let mut asker = Client::on_core(&rt, addr, 0);
    let mut plain = Client::on_core(&rt, addr, 1);
    let mut subscribers: Vec<Client> = [0, 1].iter().map(|&core| Client::on_core(&rt, addr, core)).collect();
    subscribers[0].ask(&["SUBSCRIBE", "t"], &confirmed("subscribe", "t", 1));
    subscribers[1].reply(&["HELLO", "3"], |r| r.ends_with(b"*0\r\n"));
    subscribers[1].reply(&["PSUBSCRIBE", "t*"], |r| r.ends_with(b":1\r\n"));
    let lines = |asker: &mut Client, kind: &str| {
        let got = asker.reply(&["CLIENT", "LIST", "TYPE", kind], |r| {
            r.starts_with(b"$0\r\n\r\n") || (r.ends_with(b"\n\r\n") && r.len() > 4)
        });
        shown(&got).lines().filter(|l| l.contains("id=")).map(|l| l.contains("flags=P")).collect::<Vec<bool>>()
    };
    assert_eq!(lines(&mut asker, "pubsub"), [true, true]);
    assert_eq!(lines(&mut asker, "normal"), [false, false]);
    asker.ask(&["CLIENT", "KILL", "TYPE", "normal"], b":1\r\n");
    plain.0.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(plain.0.read(&mut [0; 1]), Ok(0) | Err(_)), "the normal client is closed");
    asker.ask(&["CLIENT", "KILL", "TYPE", "pubsub"], b":2\r\n");
    wait_for_numsub(&mut asker, "t", 0);
}

/// As redis-server 7.0.15 runs it: a connection subscribed by an EXEC is in subscribed mode
/// for the requests pipelined behind that EXEC too.
#[test]
fn requests_pipelined_behind_an_exec_that_subscribed_are_refused() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::connect(addr);
    client.0.write_all(b"MULTI\r\nSUBSCRIBE x\r\nEXEC\r\nPING\r\nGET k\r\n").unwrap();
    let refused = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    let pong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    let exec = [&b"*1\r\n"[..], &confirmed("subscribe", "x", 1)].concat();
    client.expect(&[&b"+OK\r\n+QUEUED\r\n"[..], &exec, pong.as_bytes(), refused.as_bytes()].concat());
}

/// As redis-server 7.0.15 runs it: a RESP3 subscriber that turns to RESP2 with HELLO 2 is in
/// subscribed mode for the requests pipelined behind the HELLO too.
#[test]
fn requests_pipelined_behind_a_hello_2_of_a_subscriber_are_refused() {
    let rt = runtime();
    let addr = start(&rt);
    let mut client = Client::connect(addr);
    client.reply(&["HELLO", "3"], |r| r.ends_with(b"*0\r\n"));
    client.0.write_all(b"SUBSCRIBE x\r\nHELLO 2\r\nPUBLISH x y\r\nPING\r\n").unwrap();
    client.expect(b">3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n");
    client.expect(b"*14\r\n");
    let mut hello = Vec::new();
    while !hello.ends_with(b"*0\r\n") {
        let mut byte = [0; 1];
        client.0.read_exact(&mut byte).expect("HELLO's reply");
        hello.push(byte[0]);
    }
    let refused = "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    client.expect(&[refused.as_bytes(), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"].concat());
}
