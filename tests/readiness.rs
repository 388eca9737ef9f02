//! tokio's readiness half of the socket API on both drivers: `readable()`, `writable()` and
//! `ready()` with the `try_` methods. A readiness stays until a try meets `WouldBlock`; a
//! try never waits; a dropped wait leaves nothing behind; a closed peer wakes a reader.

mod support;

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{Interest, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use ringpoll::time::sleep;
use support::*;

/// A stream either socket type gives: the tries and waits under test.
trait Stream: 'static {
    async fn readable(&self) -> io::Result<()>;
    async fn writable(&self) -> io::Result<()>;
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

macro_rules! stream {
    ($ty:ty) => {
        impl Stream for $ty {
            async fn readable(&self) -> io::Result<()> {
                <$ty>::readable(self).await
            }
            async fn writable(&self) -> io::Result<()> {
                <$ty>::writable(self).await
            }
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$ty>::try_read(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$ty>::try_write(self, buf)
            }
        }
    };
}
stream!(TcpStream);
stream!(UnixStream);

async fn tcp_pair() -> (TcpStream, TcpStream) {
    pair().await
}

async fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}

fn would_block<T: std::fmt::Debug>(res: io::Result<T>) -> bool {
    matches!(&res, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// Reads into `buf` the tokio way: wait, try, and wait again on `WouldBlock`.
async fn read_some<S: Stream>(stream: &S, buf: &mut [u8]) -> usize {
    loop {
        bounded(stream.readable()).await.unwrap();
        match stream.try_read(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            res => return res.unwrap(),
        }
    }
}

/// Writes all of `data` the tokio way.
async fn write_all<S: Stream>(stream: &S, mut data: &[u8]) {
    while !data.is_empty() {
        bounded(stream.writable()).await.unwrap();
        match stream.try_write(data) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            res => data = &data[res.unwrap()..],
        }
    }
}

/// Echoes with readable/try_read and writable/try_write until end of stream; a small buffer
/// makes most tries leave bytes behind, which the next wait must still see.
async fn echo_by_readiness<S: Stream>(stream: Rc<S>) {
    let mut buf = [0u8; 1000];
    loop {
        let n = read_some(&*stream, &mut buf).await;
        if n == 0 {
            return;
        }
        write_all(&*stream, &buf[..n]).await;
    }
}

/// Sends `data` through an echo by readiness and reads it back with the same methods.
async fn echo_round_trip<S: Stream>(client: S, server: S, shutdown: impl Fn(&S)) {
    let echo = ringpoll::spawn(echo_by_readiness(Rc::new(server)));
    let client = Rc::new(client);
    let data = payload(300_000, 7);
    let writer = {
        let (client, data) = (client.clone(), data.clone());
        ringpoll::spawn(async move { write_all(&*client, &data).await })
    };
    let mut got = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; 7000];
    while got.len() < data.len() {
        let n = read_some(&*client, &mut buf).await;
        assert_ne!(n, 0, "the echo ended early, after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    bounded(writer).await.unwrap();
    assert!(got == data, "the bytes came back intact and in order");
    shutdown(&client);
    bounded(echo).await.unwrap();
}

#[test]
fn a_readable_try_read_loop_echoes_bytes_intact() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        echo_round_trip(client, server, |c| c.shutdown(Shutdown::Write).unwrap()).await;
        let (client, server) = unix_pair().await;
        echo_round_trip(client, server, |c| c.shutdown(Shutdown::Write).unwrap()).await;
    });
}

async fn try_read_would_block_until_data<S: Stream>(client: S, server: S) {
    let mut buf = [0u8; 64];
    assert!(would_block(server.try_read(&mut buf)), "nothing was sent");
    let mut wait = std::pin::pin!(server.readable());
    assert!(!poll_once(wait.as_mut()).await, "an empty socket is not readable");
    sleep(Duration::from_millis(20)).await;
    assert!(!poll_once(wait.as_mut()).await, "nor later, with nothing sent");
    assert_eq!(client.try_write(b"hello").unwrap(), 5);
    bounded(wait).await.unwrap();
    assert_eq!(server.try_read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert!(would_block(server.try_read(&mut buf)), "read out");
}

#[test]
fn try_read_on_an_empty_socket_would_block_and_readable_waits_for_data() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        try_read_would_block_until_data(client, server).await;
        let (client, server) = unix_pair().await;
        try_read_would_block_until_data(client, server).await;
    });
}

#[test]
fn bytes_a_try_leaves_keep_the_socket_readable() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        client.write_all(b"0123456789".to_vec()).await.0.unwrap();
        let mut byte = [0u8; 1];
        for expected in b"0123456789" {
            // On epoll no second edge comes for the bytes left: the readiness must stay.
            bounded(server.readable()).await.unwrap();
            assert_eq!(server.try_read(&mut byte).unwrap(), 1);
            assert_eq!(byte[0], *expected);
        }
        assert!(would_block(server.try_read(&mut byte)));
    });
}

/// Fills `stream`'s send buffer with tries until `WouldBlock`; returns how many bytes went.
fn fill<S: Stream>(stream: &S) -> usize {
    let chunk = vec![0x5a; 64 * 1024];
    let mut sent = 0;
    for _ in 0..10_000 {
        match stream.try_write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("try_write: {e}"),
        }
    }
    panic!("the send buffer never filled ({sent} bytes)");
}

/// Reads exactly `len` bytes with owned-buffer reads.
async fn drain(stream: &impl Drain, len: usize) {
    let mut left = len;
    while left > 0 {
        left -= stream.read_some(left.min(64 * 1024)).await;
    }
}

trait Drain {
    async fn read_some(&self, max: usize) -> usize;
}

impl Drain for TcpStream {
    async fn read_some(&self, max: usize) -> usize {
        let (n, _) = bounded(self.read(Vec::with_capacity(max))).await;
        n.unwrap()
    }
}

impl Drain for UnixStream {
    async fn read_some(&self, max: usize) -> usize {
        let (n, _) = bounded(self.read(Vec::with_capacity(max))).await;
        n.unwrap()
    }
}

async fn fill_then_drain<S: Stream + Drain>(client: S, server: S, expect_pending: bool) {
    bounded(client.writable()).await.unwrap();
    let sent = fill(&client);
    assert!(sent > 0);
    let mut wait = std::pin::pin!(client.writable());
    if expect_pending {
        assert!(!poll_once(wait.as_mut()).await, "a full socket is not writable");
    }
    drain(&server, sent).await;
    bounded(wait).await.unwrap();
    assert!(client.try_write(b"more").unwrap() > 0, "room again");
}

#[test]
fn writable_and_try_write_fill_a_socket_then_writable_waits_for_room() {
    run_leak_free(async {
        // A Unix socket's buffer is fixed: full stays full until the peer reads. TCP's may
        // grow under autotuning, so only its refill is checked.
        let (client, server) = unix_pair().await;
        fill_then_drain(client, server, true).await;
        let (client, server) = tcp_pair().await;
        fill_then_drain(client, server, false).await;
    });
}

#[test]
fn vectored_tries_move_every_slice() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        bounded(client.writable()).await.unwrap();
        let sent = client.try_write_vectored(&[IoSlice::new(b"head"), IoSlice::new(b"-body")]).unwrap();
        assert_eq!(sent, 9);
        let (mut head, mut body) = ([0u8; 4], [0u8; 16]);
        let mut got = 0;
        while got < 9 {
            bounded(server.readable()).await.unwrap();
            // Loopback delivers both slices at once; a short read would be legal but rare.
            match server.try_read_vectored(&mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)]) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                res => got += res.unwrap(),
            }
        }
        assert_eq!((&head, &body[..5]), (b"head", &b"-body"[..]));
    });
}

#[test]
fn udp_readable_try_recv_from_gets_each_datagram_with_its_sender() {
    run_leak_free(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let clients = [UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap()];
        let mut expected = Vec::new();
        for i in 0..20u8 {
            let client = &clients[usize::from(i % 2)];
            bounded(client.writable()).await.unwrap();
            assert_eq!(client.try_send_to(&[i; 3], addr).unwrap(), 3);
            expected.push((vec![i; 3], client.local_addr().unwrap()));
        }
        let mut got: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut buf = [0u8; 1500];
        while got.len() < expected.len() {
            bounded(server.readable()).await.unwrap();
            match server.try_recv_from(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                res => {
                    let (n, from) = res.unwrap();
                    got.push((buf[..n].to_vec(), from));
                }
            }
        }
        assert_eq!(got, expected, "every datagram, in order, with its sender");
        assert!(would_block(server.try_recv_from(&mut buf)));
        // And back, to a connected client: try_send from the server's side of a connect.
        let back = &clients[0];
        server.connect(back.local_addr().unwrap()).await.unwrap();
        assert_eq!(server.try_send(b"reply").unwrap(), 5);
        bounded(back.readable()).await.unwrap();
        let (n, from) = back.try_recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"reply"[..], addr));
    });
}

#[test]
fn peek_sender_gives_the_sender_and_leaves_the_datagram() {
    run_leak_free(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        assert!(would_block(server.try_peek_sender()), "nothing queued");
        client.send_to(b"datagram".to_vec(), server.local_addr().unwrap()).await.0.unwrap();
        let sender = client.local_addr().unwrap();
        assert_eq!(bounded(server.peek_sender()).await.unwrap(), sender);
        assert_eq!(server.try_peek_sender().unwrap(), sender, "still queued");
        let (n, from) = server.try_peek_from(&mut buf[..4]).unwrap();
        assert_eq!((&buf[..n], from), (&b"data"[..], sender), "a peek of its start");
        let (n, from) = server.try_recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"datagram"[..], sender), "whole, after the peeks");
        assert!(would_block(server.try_recv_from(&mut buf)), "and gone");
    });
}

#[test]
fn unix_datagram_peeks_and_tries() {
    run_leak_free(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut buf = [0u8; 64];
        assert!(would_block(b.try_recv(&mut buf)));
        bounded(a.writable()).await.unwrap();
        assert_eq!(a.try_send(b"first").unwrap(), 5);
        a.send(b"second".to_vec()).await.0.unwrap();
        let (n, head) = bounded(b.peek(vec![0u8; 3])).await;
        assert_eq!(&head[..n.unwrap()], b"fir");
        let (res, whole) = bounded(b.peek_from(Vec::with_capacity(64))).await;
        let (n, from) = res.unwrap();
        assert!(from.is_unnamed(), "a pair's peer has no name");
        assert_eq!(&whole[..n], b"first", "a peek leaves the datagram");
        bounded(b.readable()).await.unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), 5);
        let (n, from) = b.try_recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.is_unnamed()), (&b"second"[..], true));
        assert!(would_block(b.try_recv_from(&mut buf)));

        let dir = TempDir::new("readiness-dgram");
        let path = dir.path().join("server.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        assert_eq!(client.try_send_to(b"to a path", &path).unwrap(), 9);
        bounded(server.readable()).await.unwrap();
        let (n, _) = server.try_recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"to a path");
    });
}

async fn dropped_waits_leave_nothing<S: Stream>(client: S, server: S) {
    let ops = || ringpoll::io::Reactor::current().unwrap().stats().ops_in_flight.get();
    let before = ops();
    for _ in 0..100 {
        start_and_drop(server.readable()).await;
    }
    // io_uring keeps the one POLL_ADD the direction may have for the next wait; epoll none.
    assert!(ops() <= before + 1, "dropped waits piled up: {before} ops before, {} after", ops());
    let server = Rc::new(server);
    // Two tasks waiting at once on one direction are both woken, each on its turn.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let server = server.clone();
            ringpoll::spawn(async move { server.readable().await })
        })
        .collect();
    sleep(Duration::from_millis(10)).await;
    assert_eq!(client.try_write(b"x").unwrap(), 1);
    for waiter in waiters {
        bounded(waiter).await.unwrap().unwrap();
    }
    let mut buf = [0u8; 8];
    assert_eq!(server.try_read(&mut buf).unwrap(), 1);
}

#[test]
fn a_dropped_readable_then_a_new_one_still_works() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        dropped_waits_leave_nothing(client, server).await;
        let (client, server) = unix_pair().await;
        dropped_waits_leave_nothing(client, server).await;
    });
}

async fn peer_close_wakes_the_reader<S: Stream>(client: S, server: S, ready: impl AsyncFn(&S) -> ringpoll::net::Ready) {
    let mut wait = std::pin::pin!(server.readable());
    assert!(!poll_once(wait.as_mut()).await);
    drop(client);
    bounded(wait).await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(server.try_read(&mut buf).unwrap(), 0, "end of stream");
    let ready = ready(&server).await;
    assert!(ready.is_readable() && ready.is_read_closed(), "{ready:?}");
    assert_eq!(server.try_read(&mut buf).unwrap(), 0, "and again");
}

#[test]
fn peer_close_makes_readable_resolve_and_try_read_return_zero() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        peer_close_wakes_the_reader(client, server, async |s: &TcpStream| {
            bounded(s.ready(Interest::READABLE)).await.unwrap()
        })
        .await;
        let (client, server) = unix_pair().await;
        peer_close_wakes_the_reader(client, server, async |s: &UnixStream| {
            bounded(s.ready(Interest::READABLE)).await.unwrap()
        })
        .await;
    });
}

#[test]
fn ready_reports_each_direction() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        let both = Interest::READABLE | Interest::WRITABLE;
        let ready = bounded(server.ready(both)).await.unwrap();
        assert!(ready.is_writable() && !ready.is_readable(), "a fresh connection: {ready:?}");
        client.write_all(b"ping".to_vec()).await.0.unwrap();
        let ready = bounded(server.ready(Interest::READABLE)).await.unwrap();
        assert!(ready.is_readable() && !ready.is_writable() && !ready.is_read_closed(), "{ready:?}");
    });
}

#[test]
fn readable_fails_once_the_read_deadline_passes() {
    run_leak_free(async {
        let (_client, server) = tcp_pair().await;
        server.set_read_deadline(Some(Instant::now() + Duration::from_millis(30)));
        let err = bounded(server.readable()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let err = server.try_read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "a try checks the deadline too");
    });
}

#[test]
fn a_try_read_after_a_dropped_read_gets_its_bytes_first() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        // On io_uring the dropped read's recv is in the kernel: it takes "first" off the
        // socket, and the tries must hand it out before anything sent after.
        start_and_drop(server.read(Vec::with_capacity(64))).await;
        client.write_all(b"first".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(10)).await;
        client.write_all(b"-second".to_vec()).await.0.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 12 {
            let n = read_some(&server, &mut buf).await;
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"first-second");
    });
}

/// Writes to a peer that closed until a write fails (its reset came back), bounded.
async fn write_until_refused(stream: &TcpStream) -> io::Error {
    for _ in 0..200 {
        bounded(stream.writable()).await.unwrap();
        match stream.try_write(b"x") {
            Err(e) if e.kind() != ErrorKind::WouldBlock => return e,
            _ => sleep(Duration::from_millis(5)).await,
        }
    }
    panic!("writes to a closed peer kept succeeding");
}

#[test]
fn a_write_the_peer_refused_shows_the_write_side_closed() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        drop(client);
        let error = write_until_refused(&server).await;
        assert!(matches!(error.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{error:?}");
        // A turn of the reactor, so epoll has taken the hangup event too.
        sleep(Duration::from_millis(10)).await;
        let ready = bounded(server.ready(Interest::READABLE | Interest::WRITABLE)).await.unwrap();
        // io_uring asked no POLL_ADD (the directions stayed marked ready): the error says it.
        assert!(ready.is_writable() && ready.is_write_closed(), "{ready:?}");
    });
}

#[test]
fn ready_debug_names_each_flag_as_tokio_does() {
    let ready = ringpoll::net::Ready::READABLE | ringpoll::net::Ready::READ_CLOSED;
    assert_eq!(
        format!("{ready:?}"),
        "Ready { is_readable: true, is_writable: false, is_read_closed: true, is_write_closed: false }"
    );
}

/// One poll of `poll`, as a value.
async fn poll_now<T>(mut poll: impl FnMut(&mut std::task::Context<'_>) -> std::task::Poll<T>) -> std::task::Poll<T> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(poll(cx))).await
}

#[test]
fn poll_ready_methods_follow_the_readiness_as_tokio_s() {
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        assert!(poll_now(|cx| server.poll_read_ready(cx)).await.is_pending(), "nothing sent yet");
        bounded(std::future::poll_fn(|cx| server.poll_write_ready(cx))).await.unwrap();
        client.write_all(b"ping".to_vec()).await.0.unwrap();
        bounded(std::future::poll_fn(|cx| server.poll_read_ready(cx))).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(server.try_read(&mut buf).unwrap(), 4);
        assert!(would_block(server.try_read(&mut buf)));
        assert!(poll_now(|cx| server.poll_read_ready(cx)).await.is_pending(), "WouldBlock spent it");

        let (a, b) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
        assert!(poll_now(|cx| b.poll_recv_ready(cx)).await.is_pending());
        bounded(std::future::poll_fn(|cx| a.poll_send_ready(cx))).await.unwrap();
        a.try_send_to(b"dgram", b.local_addr().unwrap()).unwrap();
        bounded(std::future::poll_fn(|cx| b.poll_recv_ready(cx))).await.unwrap();
        assert_eq!(b.try_recv_from(&mut buf).unwrap().0, 5);
    });
}

/// `recv(2)` on `fd` into `buf`, non-blocking, as a caller's own syscall would be.
fn raw_recv(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length during the call.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[test]
fn async_io_runs_a_callers_syscall_until_it_has_data() {
    use std::os::fd::AsRawFd;
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        let writer = ringpoll::spawn(async move {
            sleep(Duration::from_millis(20)).await;
            client.write_all(b"custom".to_vec()).await.0.unwrap();
            client
        });
        let mut buf = [0u8; 16];
        let calls = std::cell::Cell::new(0);
        let n = bounded(server.async_io(Interest::READABLE, || {
            calls.set(calls.get() + 1);
            raw_recv(server.as_raw_fd(), &mut buf)
        }))
        .await
        .unwrap();
        assert_eq!(&buf[..n], b"custom");
        assert!(calls.get() <= 3, "it waited for readiness rather than spinning: {} calls", calls.get());
        drop(bounded(writer).await.unwrap());
    });
}

#[test]
fn try_io_would_block_clears_the_readiness_and_both_directions_are_refused() {
    use std::os::fd::AsRawFd;
    run_leak_free(async {
        let (client, server) = tcp_pair().await;
        let fd = server.as_raw_fd();
        let mut buf = [0u8; 16];
        assert!(would_block(server.try_io(Interest::READABLE, || raw_recv(fd, &mut buf))));
        client.write_all(b"abc".to_vec()).await.0.unwrap();
        bounded(server.readable()).await.unwrap();
        assert_eq!(server.try_io(Interest::READABLE, || raw_recv(fd, &mut buf)).unwrap(), 3);
        assert!(would_block(server.try_io(Interest::READABLE, || raw_recv(fd, &mut buf))));
        // The readiness is spent: a wait now waits for the next bytes.
        let mut wait = std::pin::pin!(server.readable());
        assert!(!poll_once(wait.as_mut()).await, "readable() resolved with nothing to read");
        client.write_all(b"d".to_vec()).await.0.unwrap();
        bounded(wait).await.unwrap();
        assert_eq!(server.try_io(Interest::READABLE, || raw_recv(fd, &mut buf)).unwrap(), 1);

        let both = server.try_io(Interest::READABLE | Interest::WRITABLE, || Ok(()));
        assert_eq!(both.unwrap_err().kind(), ErrorKind::InvalidInput);
        let both = bounded(server.async_io(Interest::READABLE | Interest::WRITABLE, || Ok(()))).await;
        assert_eq!(both.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn a_callers_syscall_honours_the_read_deadline() {
    use std::os::fd::AsRawFd;
    run_leak_free(async {
        let (_client, server) = tcp_pair().await;
        server.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
        let fd = server.as_raw_fd();
        let mut buf = [0u8; 4];
        let res = bounded(server.async_io(Interest::READABLE, || raw_recv(fd, &mut buf))).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        let res = server.try_io(Interest::READABLE, || -> io::Result<()> { panic!("called past the deadline") });
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn udp_async_io_sends_and_receives_with_a_callers_syscalls() {
    use std::os::fd::AsRawFd;
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        let sent = bounded(a.async_io(Interest::WRITABLE, || {
            // SAFETY: the bytes are readable for their length during the call.
            let n = unsafe { libc::send(a.as_raw_fd(), b"dgram".as_ptr().cast(), 5, libc::MSG_DONTWAIT) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }))
        .await
        .unwrap();
        assert_eq!(sent, 5);
        let mut buf = [0u8; 16];
        let n = bounded(b.async_io(Interest::READABLE, || raw_recv(b.as_raw_fd(), &mut buf))).await.unwrap();
        assert_eq!(&buf[..n], b"dgram");
    });
}
