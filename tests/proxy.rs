//! The proxy example, run in-process in front of an echo server and a "reverse" server:
//! several connections, MiBs each, bytes compared, half-close in both directions, the idle
//! timeout, with splice and with buffers, on whichever driver RINGPOLL_DRIVER picks; and
//! `copy_bidirectional` on its own: a reset on either side reaches the other side as a reset,
//! after every byte sent before it.

#[path = "../examples/proxy.rs"]
#[allow(dead_code)]
mod proxy_example;
mod support;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ringpoll::net::{copy_bidirectional, CopyOptions, CopyStats, SpliceMode, TcpListener, TcpStream};
use support::*;

/// Every test here runs through this, one at a time (`fd_lock`), so the descriptor count must
/// come back exactly.
fn run<F: Future<Output = ()>>(test: F) {
    assert_fds_restored(|| support::run(test));
}

async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    loop {
        let (n, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        if n? == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf);
    }
}

/// Serves each connection with `handle` on a task of its own; returns the address.
fn start_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ringpoll::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            ringpoll::spawn(handle(s)).detach();
        }
    })
    .detach();
    addr
}

/// Echoes until EOF, then closes its write half.
async fn echo(s: TcpStream) {
    let mut buf = Vec::with_capacity(32 * 1024);
    loop {
        let (n, b) = s.read(buf).await;
        match n {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (res, b) = s.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
    let _ = s.shutdown(Shutdown::Write);
}

/// Reads everything until EOF, and only then answers with the bytes reversed: the answer
/// can only arrive if the client's half-close reached it and the other direction still works.
async fn reverse(s: TcpStream) {
    let Ok(mut all) = read_to_end(&s).await else { return };
    all.reverse();
    let (res, _) = s.write_all(all).await;
    if res.is_ok() {
        let _ = s.shutdown(Shutdown::Write);
    }
}

fn start_proxy(upstream: SocketAddr, copy: CopyOptions) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ringpoll::spawn(proxy_example::serve(listener, upstream, copy, false)).detach();
    addr
}

/// Sends `data` (then a half-close) while reading what comes back until EOF.
async fn exchange(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let stream = Rc::new(TcpStream::connect(addr).await.unwrap());
    let writer = stream.clone();
    let send = ringpoll::spawn(async move {
        let (res, _) = writer.write_all(data).await;
        res.unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_to_end(&stream).await.unwrap();
    send.await.unwrap();
    got
}

fn modes() -> Vec<CopyOptions> {
    let idle_timeout = Some(Duration::from_secs(30));
    [SpliceMode::Auto, SpliceMode::Readiness, SpliceMode::UringOp, SpliceMode::Off]
        .into_iter()
        .map(|splice| CopyOptions { idle_timeout, splice, ..CopyOptions::default() })
        .collect()
}

#[test]
fn concurrent_connections_echo_mibs_intact() {
    for copy in modes() {
        run(async move {
            let proxy = start_proxy(start_server(echo), copy);
            let clients: Vec<_> = (0..6u8)
                .map(|i| {
                    let data = payload((1 << 20) + i as usize * 333_333, i);
                    ringpoll::spawn(async move { (exchange(proxy, data.clone()).await, data) })
                })
                .collect();
            for c in clients {
                let (got, sent) = c.await.unwrap();
                assert_eq!(got.len(), sent.len());
                assert!(got == sent, "bytes through the proxy differ");
            }
        });
    }
}

#[test]
fn half_close_reaches_upstream_and_the_answer_still_flows_back() {
    for copy in modes() {
        run(async move {
            let proxy = start_proxy(start_server(reverse), copy);
            let sent = payload(3 << 20, 7);
            let mut expected = sent.clone();
            expected.reverse();
            let got = exchange(proxy, sent).await;
            assert!(got == expected, "reversed answer differs");
        });
    }
}

#[test]
fn upstream_half_close_reaches_the_client_which_keeps_sending() {
    run(async {
        // Upstream greets, closes its write half, then counts what the client sends.
        let upstream = start_server(|s: TcpStream| async move {
            let (res, _) = s.write_all(b"hello, then EOF".to_vec()).await;
            res.unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let n = read_to_end(&s).await.unwrap().len();
            let _ = s.write_all(n.to_string().into_bytes()).await;
        });
        let proxy = start_proxy(upstream, CopyOptions::default());
        let c = TcpStream::connect(proxy).await.unwrap();
        assert_eq!(read_to_end(&c).await.unwrap(), b"hello, then EOF");
        let (res, _) = c.write_all(payload(500_000, 1)).await;
        res.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        // Upstream's write half is already shut: whatever it sends now is dropped, and the
        // client sees no more bytes, only EOF (or a reset once upstream closes).
        match read_to_end(&c).await {
            Ok(rest) => assert!(rest.is_empty()),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        }
    });
}

/// A timed-out pair is no clean end: the client is reset, not sent EOF.
#[test]
fn idle_pairs_are_reset() {
    run(async {
        let copy = CopyOptions { idle_timeout: Some(Duration::from_millis(100)), ..CopyOptions::default() };
        let proxy = start_proxy(start_server(echo), copy);
        let c = TcpStream::connect(proxy).await.unwrap();
        // One round trip shows the pair works, then silence: the proxy must hang up.
        let (res, _) = c.write_all(b"ping".to_vec()).await;
        res.unwrap();
        let (n, buf) = c.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"ping");
        let e = c.read(Vec::with_capacity(16)).await.0.expect_err("an idle pair is reset, not closed");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    });
}

/// A client whose upstream cannot be reached is reset: an empty answer is no answer.
#[test]
fn an_unreachable_upstream_resets_the_client() {
    run(async {
        let gone = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let proxy = start_proxy(gone, CopyOptions::default());
        let c = TcpStream::connect(proxy).await.unwrap();
        let e = c.read(Vec::with_capacity(16)).await.0.expect_err("the client is reset, not closed");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    });
}

/// An upstream that never answers the proxy's SYN (its accept queue full: the kernel drops
/// the SYN) resets the client once the idle timeout passes, instead of leaving it waiting
/// while the kernel retries the SYN for two minutes.
#[test]
fn an_upstream_that_never_accepts_resets_the_client_after_the_idle_timeout() {
    run_bounded(async {
        // Backlog 0 holds one connection, never accepted; every SYN after it is dropped.
        let stuck = ringpoll::net::TcpBuilder::new().backlog(0).listen("127.0.0.1:0").unwrap();
        let upstream = stuck.local_addr().unwrap();
        let _queued = TcpStream::connect(upstream).await.unwrap();
        let copy = CopyOptions { idle_timeout: Some(Duration::from_millis(300)), ..CopyOptions::default() };
        let proxy = start_proxy(upstream, copy);
        let started = std::time::Instant::now();
        let c = TcpStream::connect(proxy).await.unwrap();
        let e = c.read(Vec::with_capacity(16)).await.0.expect_err("the client is reset, not closed");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(10), "reset after {waited:?}, not about the idle timeout");
    });
}

/// With `--verbose`, the proxy binary logs a client whose upstream refused it, naming the
/// upstream; a pair reset for being idle is no failure and is not logged.
#[test]
fn verbose_names_the_upstream_that_failed_and_not_idle_pairs() {
    use std::io::Read;
    let Some(bin) = example("proxy") else { return };
    // The child's pipes are descriptors of this process, as the copies' tests count them.
    let _guard = fd_lock();
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    // Accepted by the kernel into its queue, never by a program: the pair goes idle.
    let quiet = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stderr = String::new();
    for (upstream, reset_after) in [(gone, Duration::ZERO), (quiet.local_addr().unwrap(), Duration::from_millis(200))] {
        let to = upstream.to_string();
        let args = ["--listen", "127.0.0.1:0", "--upstream", &to, "--cores", "0", "--idle-timeout", "0.2", "--verbose"];
        let mut proxy = run_example(&bin, &args, "proxy ");
        let mut client = std::net::TcpStream::connect(proxy.listening_addr()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = std::time::Instant::now();
        let e = client.read(&mut [0; 16]).expect_err("the client is reset");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        assert!(started.elapsed() >= reset_after);
        let child = &mut proxy.child.0;
        // SAFETY: kill takes no pointers; the pid is our own child's, not reaped yet.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        assert!(wait_within(child, Duration::from_secs(10)).is_some_and(|s| s.success()));
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    }
    let logged: Vec<&str> = stderr.lines().filter(|l| l.starts_with("proxy: 127.0.0.1:")).collect();
    assert_eq!(logged.len(), 1, "one failure logged: {stderr}");
    assert!(logged[0].contains(&format!("upstream {gone}: Connection refused")), "{stderr}");
}

/// Reads until EOF or an error: the bytes that came first, and how the stream ended.
async fn read_until_end(stream: &TcpStream) -> (Vec<u8>, io::Result<()>) {
    let mut all = Vec::new();
    loop {
        let (n, buf) = stream.read(Vec::with_capacity(64 * 1024)).await;
        match n {
            Ok(0) => return (all, Ok(())),
            Ok(_) => all.extend_from_slice(&buf),
            Err(e) => return (all, Err(e)),
        }
    }
}

/// Waits until the peer has acknowledged every byte written to `stream` (SIOCOUTQ is 0), so
/// a reset that follows cannot discard them on this side.
async fn acknowledged(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    for _ in 0..5_000 {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one c_int, through a pointer to `queued`.
        let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
        assert_eq!(rc, 0, "SIOCOUTQ: {}", io::Error::last_os_error());
        if queued == 0 {
            return;
        }
        ringpoll::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the peer did not acknowledge the bytes within seconds");
}

/// Accepts one client, connects it to `upstream` and copies: the task's output is the copy's.
fn proxy_once(upstream: SocketAddr, copy: CopyOptions) -> (SocketAddr, ringpoll::JoinHandle<io::Result<CopyStats>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let copier = ringpoll::spawn(async move {
        let (client, _) = listener.accept().await?;
        let server = TcpStream::connect(upstream).await?;
        copy_bidirectional(client, server, &copy).await
    });
    (addr, copier)
}

/// Runs `test` under a bound: a lost reset must fail the test, not hang it.
fn run_bounded<F: Future<Output = ()>>(test: F) {
    run(async {
        ringpoll::time::timeout(Duration::from_secs(30), test).await.expect("the test hung");
    });
}

fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

#[test]
fn an_upstream_reset_reaches_the_client_after_every_byte_it_sent() {
    for copy in modes() {
        run_bounded(async move {
            const N: usize = 300_001;
            let upstream = start_server(|s: TcpStream| async move {
                let (res, _) = s.write_all(payload(N, 5)).await;
                res.unwrap();
                acknowledged(&s).await;
                s.abort();
            });
            let (proxy, copier) = proxy_once(upstream, copy.clone());
            let c = TcpStream::connect(proxy).await.unwrap();
            let (got, end) = read_until_end(&c).await;
            assert_eq!(got.len(), N, "{:?}: bytes before the reset", copy.splice);
            assert!(got == payload(N, 5), "{:?}: bytes differ", copy.splice);
            let e = end.expect_err("a reset upstream must not reach the client as EOF");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{:?}: {e}", copy.splice);
            let e = copier.await.unwrap().expect_err("the copy reports the reset");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{:?}: {e}", copy.splice);
        });
    }
}

#[test]
fn a_client_reset_reaches_upstream_after_every_byte_it_sent() {
    for copy in modes() {
        run_bounded(async move {
            const N: usize = 200_003;
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (proxy, copier) = proxy_once(listener.local_addr().unwrap(), copy.clone());
            let c = TcpStream::connect(proxy).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            let (res, _) = c.write_all(payload(N, 6)).await;
            res.unwrap();
            acknowledged(&c).await;
            c.abort();
            let (got, end) = read_until_end(&s).await;
            assert!(got == payload(N, 6), "{:?}: {} of {N} bytes", copy.splice, got.len());
            let e = end.expect_err("a reset client must not reach upstream as EOF");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{:?}: {e}", copy.splice);
            let e = copier.await.unwrap().expect_err("the copy reports the reset");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{:?}: {e}", copy.splice);
        });
    }
}

/// A copy dropped half-way (here by a timeout around it) resets both streams: neither side
/// may take what it got for the whole.
#[test]
fn a_copy_dropped_half_way_resets_both_streams() {
    run_bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = listener.local_addr().unwrap();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = front.local_addr().unwrap();
        let copier = ringpoll::spawn(async move {
            let (client, _) = front.accept().await.unwrap();
            let server = TcpStream::connect(upstream).await.unwrap();
            let copy = CopyOptions::default();
            let copy = copy_bidirectional(client, server, &copy);
            ringpoll::time::timeout(Duration::from_millis(100), copy).await.expect_err("nothing ends the copy");
        });
        let c = TcpStream::connect(proxy).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let (res, _) = s.write_all(b"partial".to_vec()).await;
        res.unwrap();
        let (got, end) = read_until_end(&c).await;
        assert_eq!(got, b"partial");
        assert_eq!(end.expect_err("the client is reset").kind(), io::ErrorKind::ConnectionReset);
        let (got, end) = read_until_end(&s).await;
        assert!(got.is_empty());
        assert_eq!(end.expect_err("upstream is reset").kind(), io::ErrorKind::ConnectionReset);
        copier.await.unwrap();
    });
}

/// Writes to `stream` until it takes no more (its peer stopped reading), leaving no write in
/// flight: a poll-style write sends nothing when it returns `Pending`.
async fn fill(stream: &TcpStream) {
    let chunk = payload(16 * 1024, 9);
    let mut stalls = 0;
    while stalls < 3 {
        match stream.poll_write(&mut Context::from_waker(Waker::noop()), &chunk) {
            Poll::Ready(res) => {
                res.unwrap();
                stalls = 0;
            }
            Poll::Pending => {
                stalls += 1;
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Upstream answers (say, "413") without reading what the client sent, and resets. The
/// proxy's write of the client's bytes to upstream is waiting, so it meets the reset (which
/// the kernel reports once) and the proxy's read of upstream only sees EOF: the proxy must
/// still deliver the answer, and then reset the client instead of passing that EOF on.
#[test]
fn an_answer_survives_the_reset_that_the_other_direction_meets() {
    for copy in modes() {
        run_bounded(async move {
            const N: usize = 1 << 20;
            let (go_tx, go_rx) = ringpoll::channel::local::oneshot::<()>();
            let (reset_tx, reset_rx) = ringpoll::channel::local::oneshot();
            let channels = Rc::new(Cell::new(Some((go_rx, reset_tx))));
            let upstream = start_server(move |s: TcpStream| {
                let channels = channels.take();
                async move {
                    let (go_rx, reset_tx) = channels.expect("one connection");
                    go_rx.await.unwrap();
                    let (res, _) = s.write_all(payload(N, 8)).await;
                    res.unwrap();
                    acknowledged(&s).await;
                    s.abort();
                    reset_tx.send(()).unwrap();
                }
            });
            let (proxy, copier) = proxy_once(upstream, copy.clone());
            let c = TcpStream::connect(proxy).await.unwrap();
            // The client writes until every buffer on the way to upstream is full, then stops,
            // so that no write of its own takes the reset the proxy sends it.
            fill(&c).await;
            go_tx.send(()).unwrap();
            reset_rx.await.unwrap();
            let (got, end) = read_until_end(&c).await;
            assert!(got == payload(N, 8), "{:?}: {} of {N} bytes", copy.splice, got.len());
            let e = end.expect_err("a reset upstream must not reach the client as EOF");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{:?}: {e}", copy.splice);
            let e = copier.await.unwrap().expect_err("the copy reports the reset");
            assert!(is_reset(&e), "{:?}: {e}", copy.splice);
        });
    }
}

/// `copy_bidirectional` on Unix streams: splice works on them too, and both EOFs travel.
#[test]
fn copy_bidirectional_between_unix_streams() {
    use ringpoll::net::UnixStream;
    for copy in modes() {
        run(async move {
            let (client, proxy_a) = UnixStream::pair().unwrap();
            let (proxy_b, server) = UnixStream::pair().unwrap();
            let copier = ringpoll::spawn(async move { copy_bidirectional(proxy_a, proxy_b, &copy).await });
            let (up, down) = (payload(2 << 20, 3), payload(1 << 20, 4));
            let (up2, down2) = (up.clone(), down.clone());
            let server = ringpoll::spawn(async move {
                let (res, _) = server.write_all(down2).await;
                res.unwrap();
                server.shutdown(Shutdown::Write).unwrap();
                let mut all = Vec::new();
                loop {
                    let (n, buf) = server.read(Vec::with_capacity(64 * 1024)).await;
                    if n.unwrap() == 0 {
                        return all;
                    }
                    all.extend_from_slice(&buf);
                }
            });
            let client = Rc::new(client);
            let writer = client.clone();
            let send = ringpoll::spawn(async move {
                let (res, _) = writer.write_all(up2).await;
                res.unwrap();
                writer.shutdown(Shutdown::Write).unwrap();
            });
            let mut got_down = Vec::new();
            loop {
                let (n, buf) = client.read(Vec::with_capacity(64 * 1024)).await;
                if n.unwrap() == 0 {
                    break;
                }
                got_down.extend_from_slice(&buf);
            }
            send.await.unwrap();
            assert!(got_down == down, "server -> client bytes differ");
            assert!(server.await.unwrap() == up, "client -> server bytes differ");
            let stats = copier.await.unwrap().unwrap();
            assert_eq!((stats.a_to_b, stats.b_to_a), (up.len() as u64, down.len() as u64));
        });
    }
}

/// A proxy that can listen on no core (an address not on this host) exits with the error,
/// instead of waiting for a signal with nothing listening.
#[test]
fn the_proxy_exits_when_no_core_can_listen() {
    // Its runtime's descriptors would look like a leak to the tests that count them.
    let _guard = fd_lock();
    let argv = ["--listen", "192.0.2.1:80", "--upstream", "127.0.0.1:1", "--cores", "0"];
    let args = proxy_example::parse_args(&mut proxy_example::cli::Flags::new(argv.map(String::from))).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(proxy_example::run(args)));
    let res = rx.recv_timeout(Duration::from_secs(10)).expect("exits instead of waiting for a signal");
    let err = res.expect_err("nothing listens");
    assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable, "{err}");
}

/// Both peers reset with bytes queued both ways: nothing can be delivered any more, so the
/// copy ends at once, not after waiting out its patience (a second) for the send queue of a
/// connection that is over.
#[test]
fn a_pair_reset_on_both_sides_ends_without_waiting_for_its_queues() {
    for copy in modes() {
        run_bounded(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let (proxy, copier) = proxy_once(listener.local_addr().unwrap(), copy.clone());
            let c = TcpStream::connect(proxy).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            fill(&c).await;
            fill(&s).await;
            let reset = std::time::Instant::now();
            c.abort();
            s.abort();
            let e = copier.await.unwrap().expect_err("the copy reports the reset");
            assert!(is_reset(&e), "{:?}: {e}", copy.splice);
            let took = reset.elapsed();
            assert!(took < Duration::from_millis(800), "{:?}: the copy took {took:?} to end", copy.splice);
        });
    }
}

/// `SpliceMode::Auto` copies small messages through user space (no pipe) and splices a
/// direction once it carries bulk (a pipe of its own), and the bytes survive the switch, also
/// those pooled reads had queued when it came.
#[test]
fn auto_copies_small_messages_and_splices_bulk() {
    // `run` holds the fd lock throughout: no other test of this binary opens a pipe meanwhile.
    run_bounded(async {
        let copy = CopyOptions { idle_timeout: Some(Duration::from_secs(30)), ..CopyOptions::default() };
        assert_eq!(copy.splice, SpliceMode::Auto, "the default");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (proxy, copier) = proxy_once(listener.local_addr().unwrap(), copy);
        let before = open_pipes();
        let c = TcpStream::connect(proxy).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        // Small messages both ways: copied.
        for round in 0..20u8 {
            let (res, _) = c.write_all(vec![round; 100]).await;
            res.unwrap();
            let (n, got) = s.read(Vec::with_capacity(1024)).await;
            assert_eq!((n.unwrap(), got), (100, vec![round; 100]));
            let (res, _) = s.write_all(vec![round; 200]).await;
            res.unwrap();
            let mut back = Vec::new();
            while back.len() < 200 {
                let (n, got) = c.read(Vec::with_capacity(1024)).await;
                assert!(n.unwrap() > 0);
                back.extend(got);
            }
            assert_eq!(back, vec![round; 200]);
        }
        assert_eq!(open_pipes(), before, "small messages are copied, not spliced");
        // Bulk from the client while upstream reads nothing: the proxy switches to splicing
        // and its pipe waits full.
        const N: usize = 8 << 20;
        let data = payload(N, 7);
        let sent = data.clone();
        let writer = ringpoll::spawn(async move {
            let c = c;
            let (res, _) = c.write_all(sent).await;
            res.unwrap();
            c
        });
        let mut piped = false;
        for _ in 0..500 {
            if open_pipes() > before {
                piped = true;
                break;
            }
            ringpoll::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(piped, "a direction carrying bulk is spliced");
        let mut got = Vec::with_capacity(N);
        while got.len() < N {
            let (n, buf) = s.read(Vec::with_capacity(256 * 1024)).await;
            assert!(n.unwrap() > 0, "upstream got {} of {N} bytes", got.len());
            got.extend(buf);
        }
        assert!(got == data, "the bytes survive the switch");
        let c = writer.await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let (n, _) = s.read(Vec::with_capacity(16)).await;
        assert_eq!(n.unwrap(), 0, "the client's half-close reaches upstream");
        let stats = copier.await.unwrap().unwrap();
        assert_eq!(stats.a_to_b as usize, 20 * 100 + N);
        assert_eq!(stats.b_to_a as usize, 20 * 200);
    });
}
