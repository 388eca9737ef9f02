//! `accept_backoff` out of descriptors: the accept deadline still ends it on time, and the
//! proxy example, which accepts through it, serves again once descriptors are free. Each runs
//! in a child process (`rerun_as_child`), so the lowered descriptor limit touches no other test.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use ringpoll::net::{CopyOptions, TcpListener, UnixListener};
use support::*;

#[path = "../examples/proxy.rs"]
#[allow(dead_code)]
mod proxy_example;

/// How late past the deadline an accept may return: timer slack on a loaded machine, far
/// below the backoff's own pauses (which reach 640 ms by then).
const SLACK: Duration = Duration::from_millis(250);

/// Runs test `name` again as a child with `env` set, and checks it printed `done`.
fn in_child(name: &str, env: &str, done: &str) {
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) = rerun_as_child(name, env, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains(done), "the child's part did not run: {out:?}");
}

const DEADLINE_CHILD: &str = "RINGPOLL_TEST_BACKOFF_DEADLINE_CHILD";

/// An accept with a deadline returns `TimedOut` at the deadline even while `accept_backoff`
/// sleeps between EMFILE retries: before, it slept its whole pause (doubling to a second)
/// past the deadline.
#[test]
fn accept_backoff_times_out_at_the_deadline_while_out_of_descriptors() {
    if std::env::var_os(DEADLINE_CHILD).is_some() {
        return deadline_ends_the_backoff();
    }
    in_child("accept_backoff_times_out_at_the_deadline_while_out_of_descriptors", DEADLINE_CHILD, "timed out on time");
}

fn deadline_ends_the_backoff() {
    run(async {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let path = std::env::temp_dir().join(format!("ringpoll-{}-backoff-deadline.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = UnixListener::bind(&path).unwrap();
        // A queued connection each: accept meets EMFILE rather than waiting for one.
        let _tcp_client = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let _unix_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let held = exhaust_descriptors();
        let err = bounded(tcp.accept()).await.expect_err("accept with no descriptor left");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

        // 700 ms: the backoff's pauses end at 5, 15, ... 635 ms, then one would end at 1275.
        let wait = Duration::from_millis(700);
        let start = Instant::now();
        tcp.set_accept_deadline(Some(start + wait));
        let err = bounded(tcp.accept_backoff()).await.expect_err("no descriptor to accept with");
        let took = start.elapsed();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(took >= wait && took <= wait + SLACK, "TCP accept_backoff took {took:?} for a {wait:?} deadline");

        let start = Instant::now();
        unix.set_accept_deadline(Some(start + wait));
        let err = bounded(unix.accept_backoff()).await.expect_err("no descriptor to accept with");
        let took = start.elapsed();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(took >= wait && took <= wait + SLACK, "Unix accept_backoff took {took:?} for a {wait:?} deadline");

        // With the deadline cleared and descriptors back, the queued connection is accepted.
        tcp.set_accept_deadline(None);
        drop(held);
        let (stream, _) = bounded(tcp.accept_backoff()).await.expect("accepts once descriptors are free");
        assert!(stream.peer_addr().is_ok());
        let _ = std::fs::remove_file(&path);
    });
    println!("timed out on time");
}

const MOVED_CHILD: &str = "RINGPOLL_TEST_BACKOFF_MOVED_DEADLINE_CHILD";

/// An accept deadline set while `accept_backoff` sleeps between EMFILE retries ends that
/// pause at the deadline: before, the pause read the deadline only when it began, and ran on
/// to its own end (here 575 ms past the deadline).
#[test]
fn accept_backoff_times_out_at_a_deadline_set_during_its_pause() {
    if std::env::var_os(MOVED_CHILD).is_some() {
        return a_deadline_set_mid_pause_ends_it();
    }
    in_child("accept_backoff_times_out_at_a_deadline_set_during_its_pause", MOVED_CHILD, "timed out mid-pause");
}

fn a_deadline_set_mid_pause_ends_it() {
    run(async {
        let tcp = std::rc::Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        // A queued connection: accept meets EMFILE rather than waiting for one.
        let _client = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let held = exhaust_descriptors();
        let err = bounded(tcp.accept()).await.expect_err("accept with no descriptor left");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

        // The backoff's pauses end at 5, 15, ... 635 ms, then one runs to 1275: the deadline
        // is set at 700 ms, inside that one, for 50 ms later.
        let start = Instant::now();
        let (set_at, deadline) = (start + Duration::from_millis(700), start + Duration::from_millis(750));
        let setter = ringpoll::spawn({
            let tcp = tcp.clone();
            async move {
                ringpoll::time::sleep_until(set_at).await;
                tcp.set_accept_deadline(Some(deadline));
            }
        });
        let err = bounded(tcp.accept_backoff()).await.expect_err("no descriptor to accept with");
        let took = start.elapsed();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        let due = deadline - start;
        assert!(took >= due && took <= due + SLACK, "accept_backoff took {took:?} for a deadline due at {due:?}");
        bounded(setter).await.unwrap();
        drop(held);
    });
    println!("timed out mid-pause");
}

const PROXY_CHILD: &str = "RINGPOLL_TEST_BACKOFF_PROXY_CHILD";

/// The proxy's accept loop goes on through descriptor exhaustion (it accepts through
/// `accept_backoff`, which backs off on EMFILE, ENFILE, ENOBUFS and ENOMEM alike) and
/// proxies the client that queued meanwhile once descriptors are free, bytes intact.
#[test]
fn the_proxy_serves_again_after_descriptor_exhaustion() {
    if std::env::var_os(PROXY_CHILD).is_some() {
        return proxy_rides_out_exhaustion();
    }
    in_child("the_proxy_serves_again_after_descriptor_exhaustion", PROXY_CHILD, "proxied after EMFILE");
}

fn proxy_rides_out_exhaustion() {
    // Lowered before the runtime and its accepts start (see `lower_descriptor_limit`).
    lower_descriptor_limit(64);
    run(async {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        ringpoll::spawn(async move {
            let (stream, _) = upstream.accept().await.unwrap();
            let (n, buf) = stream.read(Vec::with_capacity(64)).await;
            let n = n.unwrap();
            let (res, _) = stream.write_all(buf[..n].to_ascii_uppercase()).await;
            res.unwrap();
        })
        .detach();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let copy = CopyOptions { idle_timeout: Some(Duration::from_secs(10)), ..CopyOptions::default() };
        let serving = ringpoll::spawn(proxy_example::serve(listener, upstream_addr, copy, true));
        // The proxy and the upstream wait in their accepts before the descriptors run out, as
        // a server's do. With the limit lowered only now, their io_uring accepts, armed
        // before it, took descriptors past it (the kernel reads the limit at submission): the
        // proxy accepted with no descriptor free, and the test failed half the time.
        ringpoll::time::sleep(Duration::from_millis(50)).await;
        let mut held = take_free_descriptors();
        // One descriptor back, which the client's socket takes: the proxy's accept of its
        // connection then meets EMFILE. A blocking client on a thread, so the core runs on.
        held.pop();
        let client = std::thread::spawn(move || {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            client.write_all(b"through the proxy").unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        ringpoll::time::sleep(Duration::from_millis(500)).await;
        assert!(!client.is_finished(), "the client was served while the proxy had no descriptor");
        assert!(!serving.is_finished(), "the proxy's accept loop ended while out of descriptors");
        drop(held);
        bounded(async {
            while !client.is_finished() {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(client.join().unwrap(), b"THROUGH THE PROXY");
        assert!(!serving.is_finished(), "the proxy's accept loop ended");
    });
    println!("proxied after EMFILE");
}
