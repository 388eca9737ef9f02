//! An outside check of what users of the networking layer rely on, written from the public
//! docs alone, on both drivers: deadlines within bounds and of the right kind, bytes intact
//! through reads and writes cut short by timeouts, half-close and reset kinds, UDP truncation
//! and ICMP errors, Unix names (paths, unnamed, abstract), std hand-overs.

mod support;

use std::io::{ErrorKind, Read, Write as _};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{SockAddr, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ringpoll::time::{sleep, timeout};
use support::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn read_to_end(s: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        let (n, b) = s.read(Vec::with_capacity(64 * 1024)).await;
        let n = n?;
        if n == 0 {
            return Ok(got);
        }
        got.extend_from_slice(&b[..n]);
    }
}

#[test]
fn read_deadline_fires_within_bounds_for_every_read_kind() {
    run_leak_free(async {
        let (client, server) = pair().await;
        for kind in 0..3 {
            let start = Instant::now();
            server.set_read_deadline(Some(start + ms(100)));
            let err = match kind {
                0 => server.read(Vec::with_capacity(8)).await.0.unwrap_err(),
                1 => server.read_pooled().await.unwrap_err(),
                _ => std::future::poll_fn(|cx| server.poll_read(cx, &mut [0u8; 8])).await.unwrap_err(),
            };
            let took = start.elapsed();
            assert_eq!(err.kind(), ErrorKind::TimedOut, "kind {kind}");
            assert!(took >= ms(100) && took < ms(600), "kind {kind}: fired after {took:?}");
            server.set_read_deadline(None);
            client.write_all(vec![kind as u8; 3]).await.0.unwrap();
            let (n, b) = bounded(server.read(Vec::with_capacity(8))).await;
            assert_eq!(&b[..n.unwrap()], &[kind as u8; 3]);
        }
    });
}

#[test]
fn write_deadline_on_plain_write_is_timed_out_and_reset_works() {
    run_leak_free(async {
        let (client, server) = pair().await;
        // Fill the pipe.
        client.set_write_deadline(Some(Instant::now() + ms(200)));
        let mut sent = 0usize;
        let err = loop {
            let (res, _) = client.write(vec![7u8; 1 << 16]).await;
            match res {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        client.set_write_deadline(None);
        let reader = ringpoll::spawn(async move {
            let mut total = 0;
            loop {
                let (n, b) = server.read(Vec::with_capacity(1 << 16)).await;
                let n = n.unwrap();
                if n == 0 {
                    return total;
                }
                assert!(b.iter().all(|&x| x == 7));
                total += n;
            }
        });
        bounded(client.write_all(vec![7u8; 100_000])).await.0.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(bounded(reader).await.unwrap(), sent + 100_000);
    });
}

#[test]
fn udp_recv_deadline_and_truncation() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        a.set_read_deadline(Some(start + ms(80)));
        let (res, _) = a.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= ms(80) && start.elapsed() < ms(600));
        a.set_read_deadline(None);
        b.send_to(b"0123456789".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        b.send_to(b"ab".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(4))).await;
        let (n, from) = res.unwrap();
        assert_eq!((n, &buf[..], from), (4, &b"0123"[..], b.local_addr().unwrap()));
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(4))).await;
        assert_eq!(&buf[..res.unwrap().0], b"ab", "the rest of a truncated datagram is discarded");
    });
}

#[test]
fn udp_connected_filters_and_unconnected_ignores_icmp() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        // Unconnected: a send to a closed port is not an error later.
        a.send_to(b"x".to_vec(), closed).await.0.unwrap();
        sleep(ms(20)).await;
        b.send_to(b"fromb".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..res.unwrap().0], b"fromb");
        // Connected to b: c's datagrams are filtered out.
        a.connect(b.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        c.send_to(b"fromc".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        b.send_to(b"fromb2".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        let (n, buf) = bounded(a.recv(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"fromb2");
        // Reconnect to the closed port: send then recv is refused.
        a.connect(closed).await.unwrap();
        a.send(b"y".to_vec()).await.0.unwrap();
        let (n, _) = bounded(a.recv(Vec::with_capacity(16))).await;
        assert_eq!(n.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn half_close_then_peer_answers_and_reset_is_connection_reset() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"question".to_vec()).await.0.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(bounded(read_to_end(&server)).await.unwrap(), b"question");
        server.write_all(b"answer".to_vec()).await.0.unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        assert_eq!(bounded(read_to_end(&client)).await.unwrap(), b"answer");
        // A write after our own shutdown(Write) is BrokenPipe.
        let (res, _) = client.write(b"late".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
        let (c2, s2) = pair().await;
        s2.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s2);
        let (res, _) = bounded(c2.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
        let (res, _) = bounded(c2.read(Vec::with_capacity(8))).await;
        assert_eq!(res.unwrap(), 0, "after the reset is reported once, EOF");
    });
}

#[test]
fn abort_resets_the_peer_pooled_read() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"partial".to_vec()).await.0.unwrap();
        let got = bounded(server.read_pooled()).await.unwrap();
        assert_eq!(&got[..], b"partial");
        drop(got);
        client.abort();
        let err = bounded(server.read_pooled()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn accept_dropped_by_timeout_repeatedly_then_connection_arrives_intact() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..20 {
            assert!(timeout(ms(2), listener.accept()).await.is_err());
        }
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = bounded(listener.accept()).await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        client.write_all(b"hi".to_vec()).await.0.unwrap();
        let (n, b) = bounded(server.read(Vec::with_capacity(8))).await;
        assert_eq!(&b[..n.unwrap()], b"hi");
    });
}

#[test]
fn reads_raced_by_timeouts_lose_no_reported_byte() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let client = Rc::new(client);
        let data = payload(2 << 20, 1);
        let writer = {
            let (client, data) = (client.clone(), data.clone());
            ringpoll::spawn(async move {
                for chunk in data.chunks(7919) {
                    client.write_all(chunk.to_vec()).await.0.unwrap();
                    if chunk[0] % 3 == 0 {
                        sleep(Duration::from_micros(200)).await;
                    }
                }
                client.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut got = Vec::new();
        let mut i = 0u64;
        loop {
            i += 1;
            let t = Duration::from_micros(50 + (i * 37) % 400);
            match read_racing(&server, i, 2000 + 1000 * i.is_multiple_of(3) as usize, t).await {
                None => continue,
                Some(b) if b.is_empty() => break,
                Some(b) => got.extend_from_slice(&b),
            }
            assert!(i < 10_000_000);
        }
        bounded(writer).await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes intact");
    });
}

#[test]
fn unix_names_and_unlink() {
    let dir = TempDir::new("netprobe-unix");
    let path = dir.path().join("s.sock");
    run_leak_free(async {
        let l = UnixListener::bind(&path).unwrap();
        assert_eq!(l.local_addr().unwrap().as_unix_path().as_deref(), Some(path.as_path()));
        let c = UnixStream::connect(&path).await.unwrap();
        let (s, peer) = bounded(l.accept()).await.unwrap();
        assert_eq!(peer.as_unix_path().as_deref(), Some(std::path::Path::new("")), "unnamed: {peer:?}");
        assert_eq!(c.peer_addr().unwrap().as_unix_path().as_deref(), Some(path.as_path()));
        let _ = format!("{:?} {:?}", s.local_addr().unwrap(), c.local_addr().unwrap());
        drop(l);
        assert_eq!(UnixListener::bind(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
        assert_eq!(UnixStream::connect(&path).await.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        std::fs::remove_file(&path).unwrap();
        let _l = UnixListener::bind(&path).unwrap();
        let abs = UnixListener::bind("\0ringpoll-netprobe");
        assert_eq!(abs.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (a, b) = UnixStream::pair().unwrap();
        let _ = format!("{:?} {:?}", a.peer_addr().unwrap(), b.local_addr().unwrap());
    });
}

#[test]
fn into_std_and_back_after_a_dropped_accept_and_read() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"one".to_vec()).await.0.unwrap();
        let (n, b) = bounded(server.read(Vec::with_capacity(8))).await;
        assert_eq!(&b[..n.unwrap()], b"one");
        let mut std_server = server.into_std().unwrap();
        std_server.set_nonblocking(false).unwrap();
        client.write_all(b"two".to_vec()).await.0.unwrap();
        let mut buf = [0u8; 3];
        std_server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std_server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"two");
        std_server.write_all(b"three").unwrap();
        let server = TcpStream::from_std(std_server).unwrap();
        let (n, b) = bounded(client.read(Vec::with_capacity(8))).await;
        assert_eq!(&b[..n.unwrap()], b"three");
        drop(server);
        assert_eq!(bounded(read_to_end(&client)).await.unwrap(), b"");
    });
}

#[test]
fn connecting_to_a_closed_port_by_address_or_by_name_is_refused() {
    run_leak_free(async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = TcpStream::connect(closed).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let e = TcpStream::connect(("localhost", closed.port())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_reset_under_a_large_write_all_is_reset_or_broken_pipe() {
    run_leak_free(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = vec![0u8; 1000];
            s.read_exact(&mut b).unwrap();
            std::thread::sleep(ms(100));
            set_linger_zero(&s);
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let (res, _) = bounded(c.write_all(vec![1u8; 64 << 20])).await;
        let k = res.unwrap_err().kind();
        assert!(matches!(k, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{k:?}");
        t.join().unwrap();
    });
}

/// Reads everything until EOF, bounded.
async fn drain(s: TcpStream) -> Vec<u8> {
    bounded(read_to_end(&s)).await.unwrap()
}

#[test]
fn dropped_write_alls_never_interleave_with_later_writes() {
    run_leak_free(async {
        for round in 0..6u8 {
            let (client, server) = pair().await;
            client.set_nodelay(true).unwrap();
            let a = vec![b'a'; 8 << 20];
            // The peer is not reading yet: the write fills the socket and waits; drop it.
            let cut = timeout(ms(20 + round as u64 * 7), client.write_all(a)).await;
            assert!(cut.is_err(), "8 MiB cannot fit an unread loopback socket");
            let reader = ringpoll::spawn(drain(server));
            let b = vec![b'b'; 1 << 20];
            bounded(client.write_all(b)).await.0.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let got = bounded(reader).await.unwrap();
            let a_len = got.iter().take_while(|&&c| c == b'a').count();
            assert!(got[a_len..].iter().all(|&c| c == b'b'), "round {round}: an 'a' after a 'b' (a_len {a_len})");
            assert_eq!(got.len() - a_len, 1 << 20, "round {round}: every 'b' arrives");
        }
    });
}

#[test]
fn dropped_writes_never_interleave_with_later_writes() {
    run_leak_free(async {
        for round in 0..6u8 {
            let (client, server) = pair().await;
            // Fill the socket with single writes, then drop a write that waits.
            let mut filled = 0usize;
            loop {
                match timeout(ms(30), client.write(vec![b'a'; 1 << 16])).await {
                    Ok((res, _)) => filled += res.unwrap(),
                    Err(_) => break,
                }
                assert!(filled < 256 << 20);
            }
            let reader = ringpoll::spawn(drain(server));
            bounded(client.write_all(vec![b'b'; 300_000])).await.0.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let got = bounded(reader).await.unwrap();
            let a_len = got.iter().take_while(|&&c| c == b'a').count();
            assert!(a_len >= filled, "round {round}: reported bytes lost");
            assert!(got[a_len..].iter().all(|&c| c == b'b'), "round {round}: interleaved");
            assert_eq!(got.len() - a_len, 300_000);
        }
    });
}

#[test]
fn two_readers_with_a_deadline_both_time_out() {
    run_leak_free(async {
        let (_client, server) = pair().await;
        let server = Rc::new(server);
        let start = Instant::now();
        server.set_read_deadline(Some(start + ms(100)));
        let r1 = ringpoll::spawn({
            let s = server.clone();
            async move { s.read(Vec::with_capacity(8)).await.0.map(drop) }
        });
        let r2 = ringpoll::spawn({
            let s = server.clone();
            async move { s.read_pooled().await.map(drop) }
        });
        assert_eq!(bounded(r1).await.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(bounded(r2).await.unwrap().unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() < ms(700), "{:?}", start.elapsed());
    });
}

#[test]
fn names_resolve_for_connect_bind_and_udp() {
    run_leak_free(async {
        let l = TcpListener::bind("localhost:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = bounded(TcpStream::connect(("localhost", port))).await.unwrap();
        let (s, _) = bounded(l.accept()).await.unwrap();
        c.write_all(b"x".to_vec()).await.0.unwrap();
        let (n, _) = bounded(s.read(Vec::with_capacity(1))).await;
        assert_eq!(n.unwrap(), 1);
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let v = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.connect(format!("localhost:{}", v.local_addr().unwrap().port())).await.unwrap();
        u.send(b"dgram".to_vec()).await.0.unwrap();
        let (r, b) = bounded(v.recv_from(Vec::with_capacity(8))).await;
        assert_eq!(&b[..r.unwrap().0], b"dgram");
    });
}

#[test]
fn a_stream_survives_a_reader_dropped_by_timeout_then_hands_over_to_std() {
    run_leak_free(async {
        let (client, server) = pair().await;
        assert!(timeout(ms(10), server.read(Vec::with_capacity(8))).await.is_err());
        let leftovers = server.as_source().take_leftovers().await;
        assert!(leftovers.is_empty());
        let mut s = server.into_std().unwrap();
        client.write_all(b"after".to_vec()).await.0.unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"after");
    });
}

#[test]
fn abort_and_drop_after_pooled_reads_reach_the_peer() {
    run_leak_free(async {
        for abort in [true, false] {
            let (client, server) = pair().await;
            client.write_all(b"one".to_vec()).await.0.unwrap();
            assert_eq!(&bounded(server.read_pooled()).await.unwrap()[..], b"one");
            // A read_pooled dropped while it waits, leaving its multishot armed on io_uring.
            assert!(timeout(ms(10), server.read_pooled()).await.is_err());
            if abort {
                server.abort();
                let (res, _) = bounded(client.read(Vec::with_capacity(8))).await;
                assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
            } else {
                drop(server);
                assert_eq!(drain(client).await, b"");
            }
        }
    });
}

#[test]
fn leftovers_of_pooled_reads_then_into_std_lose_nothing() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"one".to_vec()).await.0.unwrap();
        assert_eq!(&bounded(server.read_pooled()).await.unwrap()[..], b"one");
        client.write_all(b"more".to_vec()).await.0.unwrap();
        sleep(ms(20)).await;
        let mut got = server.as_source().take_leftovers().await;
        let mut s = server.into_std().unwrap();
        client.write_all(b"+std".to_vec()).await.0.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"more+std");
    });
}

#[test]
fn unix_pair_half_close_and_reset_kinds() {
    run_leak_free(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"ping".to_vec()).await.0.unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        loop {
            let buf = bounded(b.read_pooled()).await.unwrap();
            if buf.is_empty() {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, b"ping");
        b.write_all(b"pong".to_vec()).await.0.unwrap();
        let (n, buf) = bounded(a.read(Vec::with_capacity(8))).await;
        assert_eq!(&buf[..n.unwrap()], b"pong");
        // Closing with unread data is a reset on Unix streams too.
        b.write_all(b"unread".to_vec()).await.0.unwrap();
        drop(a);
        let (res, _) = b.write_all(vec![0u8; 1 << 20]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

/// A blocking Unix stream bound to `local` and connected to `server`: std cannot bind a
/// client before it connects, so through libc.
fn unix_client_bound_to(local: &std::path::Path, server: &std::path::Path) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) with constant arguments; a descriptor it returns is ours to own.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let (local, server) = (SockAddr::from_unix_path(local).unwrap(), SockAddr::from_unix_path(server).unwrap());
    // SAFETY: the pointers and lengths describe live sockaddr_un values for the calls.
    assert_eq!(unsafe { libc::bind(owned.as_raw_fd(), local.as_ptr(), local.len()) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::connect(owned.as_raw_fd(), server.as_ptr(), server.len()) }, 0);
    owned
}

#[test]
fn unix_peer_names_path_and_abstract() {
    use std::os::linux::net::SocketAddrExt;
    let dir = TempDir::new("netprobe-unix-peer");
    let (server_path, client_path) = (dir.join("srv.sock"), dir.join("cli.sock"));
    run_leak_free(async {
        let l = UnixListener::bind(&server_path).unwrap();
        let client = unix_client_bound_to(&client_path, &server_path);
        let (_s, peer) = bounded(l.accept()).await.unwrap();
        assert_eq!(peer.as_unix_path().as_deref(), Some(client_path.as_path()), "{peer:?}");
        drop(client);
        // An abstract listener handed over from std.
        let name = format!("ringpoll-netprobe-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let std_l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        let l = UnixListener::from_std(std_l).unwrap();
        let local = l.local_addr().unwrap();
        let c = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
        let (s, _) = bounded(l.accept()).await.unwrap();
        let seen = s.local_addr().unwrap();
        for (what, a) in [("listener", local), ("accepted", seen)] {
            assert_eq!(a.as_unix_path(), None, "{what}: an abstract name is no path (nor unnamed): {a:?}");
            assert_eq!(a.as_abstract_name().as_deref(), Some(name.as_bytes()), "{what}: {a:?}");
        }
        drop(c);
    });
}

/// As the read docs say: a `Vec` is cut to the bytes read, a `Box<[u8]>` keeps its length.
#[test]
fn a_vec_is_cut_to_the_count_and_a_boxed_slice_keeps_its_length() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"hi".to_vec()).await.0.unwrap();
        let (n, boxed) = bounded(server.read(vec![9u8; 16].into_boxed_slice())).await;
        assert_eq!((n.unwrap(), boxed.len(), &boxed[..3]), (2, 16, &b"hi\x09"[..]));
        client.write_all(b"yo".to_vec()).await.0.unwrap();
        let (n, v) = bounded(server.read(Vec::with_capacity(16))).await;
        assert_eq!((n.unwrap(), &v[..]), (2, &b"yo"[..]));
    });
}

/// One reader of many on a core: reads of every kind, each raced by a short timeout.
async fn read_all_through_timeouts(server: TcpStream, seed: u64) -> Vec<u8> {
    let mut got = Vec::new();
    let mut i = seed;
    loop {
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let t = Duration::from_micros(20 + (i >> 33) % 300);
        match read_racing(&server, i >> 40, 1 + (i >> 20) as usize % 5000, t).await {
            None => continue,
            Some(b) if b.is_empty() => return got,
            Some(b) => got.extend_from_slice(&b),
        }
    }
}

/// One read of up to `len` bytes raced by a timeout of `t`, of the kind `kind % 3` picks:
/// an owned-buffer read, a pooled read, or `poll_read`. None if the timeout won; the bytes
/// (none at the end of the stream) if the read did.
async fn read_racing(server: &TcpStream, kind: u64, len: usize, t: Duration) -> Option<Vec<u8>> {
    let read = match kind % 3 {
        0 => timeout(t, server.read(Vec::with_capacity(len))).await.map(|(n, b)| n.map(|n| b[..n].to_vec())),
        1 => timeout(t, server.read_pooled()).await.map(|r| r.map(|b| b.to_vec())),
        _ => {
            let mut b = vec![0u8; len];
            timeout(t, std::future::poll_fn(|cx| server.poll_read(cx, &mut b)))
                .await
                .map(|n| n.map(|n| b[..n].to_vec()))
        }
    };
    read.ok().map(|r| r.expect("read"))
}

#[test]
fn many_connections_read_through_random_timeouts_lose_no_byte() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = Vec::new();
        for c in 0..48u64 {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let data = payload(256 * 1024 + c as usize * 777, c as u8);
            let writer = {
                let data = data.clone();
                ringpoll::spawn(async move {
                    for (k, chunk) in data.chunks(1000 + c as usize * 131).enumerate() {
                        client.write_all(chunk.to_vec()).await.0.unwrap();
                        if k % 7 == 0 {
                            sleep(Duration::from_micros(100)).await;
                        }
                    }
                })
            };
            let reader = ringpoll::spawn(read_all_through_timeouts(server, c));
            tasks.push((data, writer, reader));
        }
        let all = async {
            for (c, (data, writer, reader)) in tasks.into_iter().enumerate() {
                writer.await.unwrap();
                let got = reader.await.unwrap();
                assert_eq!(got.len(), data.len(), "connection {c}");
                assert!(got == data, "connection {c}: bytes intact");
            }
        };
        timeout(Duration::from_secs(60), all).await.expect("within 60 s");
    });
}

/// SO_LINGER as the kernel has it on this socket: (on, seconds).
fn so_linger(s: &impl std::os::fd::AsRawFd) -> (i32, i32) {
    let mut l = libc::linger { l_onoff: 0, l_linger: 0 };
    let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `l`, a live linger struct.
    let rc =
        unsafe { libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, (&raw mut l).cast(), &mut len) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    (l.l_onoff, l.l_linger)
}

/// A lingering close blocks the thread that closes (the core, on both drivers: a 2 s linger
/// to a peer that does not read froze every task of the core for 2 s), so it is refused;
/// the reset close (`Some(ZERO)`) stays, and closes at once.
#[test]
fn a_lingering_close_is_refused_and_a_reset_close_does_not_stall_the_core() {
    run_leak_free(async {
        let (client, server) = pair().await;
        for linger in [Duration::from_secs(2), ms(500)] {
            let err = client.set_linger(Some(linger)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{linger:?}");
            assert_eq!(so_linger(&client).0, 0, "a refused linger leaves the option off");
            let builder = ringpoll::net::TcpBuilder::new().linger(Some(linger));
            assert_eq!(builder.listen("127.0.0.1:0").unwrap_err().kind(), ErrorKind::InvalidInput);
            let addr = server.local_addr().unwrap();
            assert_eq!(builder.connect(addr).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        client.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(so_linger(&client), (1, 0));
        client.set_linger(None).unwrap();
        assert_eq!(so_linger(&client).0, 0);
        client.set_linger(Some(Duration::ZERO)).unwrap();
        // Unsent bytes queued toward a peer that does not read: the close a linger would wait on.
        while timeout(ms(50), client.write(vec![1u8; 1 << 16])).await.is_ok() {}
        let ticker = ringpoll::spawn(async {
            let mut worst = Duration::ZERO;
            for _ in 0..10 {
                let t = Instant::now();
                sleep(ms(10)).await;
                worst = worst.max(t.elapsed());
            }
            worst
        });
        sleep(ms(15)).await;
        let closing = Instant::now();
        drop(client);
        assert!(closing.elapsed() < ms(200), "the close took {:?}", closing.elapsed());
        assert!(bounded(ticker).await.unwrap() < ms(500), "the core stalled");
        let mut reset = false;
        for _ in 0..10_000 {
            match bounded(server.read(Vec::with_capacity(1 << 16))).await.0 {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
                    reset = true;
                    break;
                }
            }
        }
        assert!(reset, "the peer sees a reset, not an end of stream");
    });
}

/// The peer's credentials (SO_PEERCRED) of anything with a descriptor.
fn peer_cred(s: &impl std::os::fd::AsFd) -> libc::ucred {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let fd = s.as_fd().as_raw_fd();
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a live ucred.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, (&raw mut cred).cast(), &mut len) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    cred
}

/// Unix sockets have what TCP ones have: `AsFd` (so the peer's credentials can be read), and
/// an accept deadline that fires within bounds, as TimedOut, and clears.
#[test]
fn unix_peer_credentials_through_as_fd_and_an_accept_deadline() {
    let dir = TempDir::new("netprobe-unix-cred");
    let path = dir.join("s.sock");
    run_leak_free(async {
        let l = UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        l.set_accept_deadline(Some(start + ms(80)));
        let err = bounded(l.accept()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= ms(80) && start.elapsed() < ms(600), "{:?}", start.elapsed());
        l.set_accept_deadline(None);
        let c = UnixStream::connect(&path).await.unwrap();
        let (s, _) = bounded(l.accept()).await.unwrap();
        let cred = peer_cred(&s);
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((cred.pid as u32, cred.uid, cred.gid), (std::process::id(), uid, gid));
        assert_eq!(peer_cred(&c).pid as u32, std::process::id());
        let _listener_fd = std::os::fd::AsFd::as_fd(&l);
    });
}

/// Connections that reached a listener and that no accept returned, when the listener
/// closes: the kernel resets those in its accept queue (epoll), and io_uring's multishot
/// accept, which takes connections off that queue before any accept asks, must do the same
/// with the ones it holds, not close them with FIN: a client reading a reply to end of stream
/// would take the FIN for a whole, empty reply.
#[test]
fn connections_a_closed_listener_never_handed_out_are_reset_not_ended() {
    run_leak_free(async {
        for convert in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let first = TcpStream::connect(addr).await.unwrap();
            // The accept arms io_uring's multishot accept, which stays armed after it returns.
            let (_accepted, _) = bounded(listener.accept()).await.unwrap();
            let mut later = Vec::new();
            for _ in 0..3 {
                later.push(TcpStream::connect(addr).await.unwrap());
            }
            sleep(ms(30)).await;
            let mut handed_over = 0;
            if convert {
                // into_std hands over what is still in the kernel's queue (all of it on epoll).
                let std_listener = listener.into_std().unwrap();
                while std_listener.accept().is_ok() {
                    handed_over += 1;
                }
            } else {
                drop(listener);
            }
            for (i, c) in later.iter().enumerate().skip(handed_over) {
                let (res, _) = bounded(c.read(Vec::with_capacity(8))).await;
                assert_eq!(
                    res.map_err(|e| e.kind()),
                    Err(ErrorKind::ConnectionReset),
                    "client {i}, into_std {convert}"
                );
            }
            drop(first);
        }
    });
}

/// The Unix side of the closed listener: a client that sent bytes its connection was never
/// accepted for reads a reset on both drivers. One that sent nothing reads one on epoll and
/// an end of stream on io_uring (a Unix socket cannot be closed with a reset from user
/// space; the listener docs say so).
#[test]
fn a_unix_client_whose_bytes_were_never_accepted_is_reset_when_the_listener_closes() {
    let dir = TempDir::new("netprobe-unix-closed");
    let path = dir.join("s.sock");
    run_leak_free(async {
        let l = UnixListener::bind(&path).unwrap();
        let first = UnixStream::connect(&path).await.unwrap();
        let (_accepted, _) = bounded(l.accept()).await.unwrap();
        let c = UnixStream::connect(&path).await.unwrap();
        c.write_all(b"request".to_vec()).await.0.unwrap();
        sleep(ms(30)).await;
        drop(l);
        let (res, _) = bounded(c.read(Vec::with_capacity(8))).await;
        assert_eq!(res.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
        drop(first);
    });
}
