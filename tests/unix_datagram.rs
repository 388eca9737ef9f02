//! `UnixDatagram`, as tokio's: bound, unbound, paired and connected sockets on both drivers,
//! datagrams intact and bounded, senders' addresses, the error kinds std gives, and no
//! descriptor left once dropped.

mod support;

use std::io::ErrorKind;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::UnixDatagram;
use ringpoll::time::sleep;
use support::*;

#[test]
fn bound_sockets_exchange_datagrams_intact_and_see_each_others_paths() {
    let dir = TempDir::new("dgram-bound");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    run_leak_free(async {
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        assert_eq!(a.local_addr().unwrap().as_unix_path().unwrap(), a_path);
        let datagram = payload(4000, 3);
        let (res, _) = b.send_to(datagram.clone(), &a_path).await;
        assert_eq!(res.unwrap(), 4000);
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(8192))).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from.as_unix_path().unwrap()), (&datagram[..], b_path.clone()));
        // An answer to the sender's address.
        a.send_to(b"back".to_vec(), from.as_unix_path().unwrap()).await.0.unwrap();
        let (res, buf) = bounded(b.recv(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"back");
    });
}

#[test]
fn a_datagram_keeps_its_bounds_and_a_short_buffer_gets_its_start() {
    run_leak_free(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"0123456789".to_vec()).await.0.unwrap();
        a.send(b"".to_vec()).await.0.unwrap();
        a.send(b"ab".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(b.recv(Vec::with_capacity(4))).await;
        assert_eq!(&buf[..res.unwrap()], b"0123", "truncated, the rest discarded");
        let (res, _) = bounded(b.recv(Vec::with_capacity(4))).await;
        assert_eq!(res.unwrap(), 0, "an empty datagram is one of its own");
        let (res, buf) = bounded(b.recv(Vec::with_capacity(4))).await;
        assert_eq!(&buf[..res.unwrap()], b"ab");
    });
}

#[test]
fn a_pair_talks_both_ways_and_is_unnamed() {
    run_leak_free(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(a.peer_addr().unwrap().is_unnamed());
        a.send(b"ping".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(b.recv_from(Vec::with_capacity(16))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert!(from.is_unnamed(), "{from:?}");
        b.send(b"pong".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(a.recv(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..res.unwrap()], b"pong");
    });
}

#[test]
fn an_unbound_socket_sends_from_an_unnamed_address_and_connects() {
    let dir = TempDir::new("dgram-unbound");
    let server_path = dir.join("server.sock");
    run_leak_free(async {
        let server = UnixDatagram::bind(&server_path).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        assert!(client.local_addr().unwrap().is_unnamed());
        assert_eq!(client.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        client.send_to(b"anonymous".to_vec(), &server_path).await.0.unwrap();
        let (res, buf) = bounded(server.recv_from(Vec::with_capacity(64))).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"anonymous");
        assert!(from.is_unnamed(), "the sender bound no path: {from:?}");

        client.connect(&server_path).unwrap();
        assert_eq!(client.peer_addr().unwrap().as_unix_path().unwrap(), server_path);
        client.send(b"connected".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(server.recv(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"connected");
    });
}

#[test]
fn a_waiting_receive_gets_a_later_datagram_and_deadlines_bound_it() {
    run_leak_free(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let b = Rc::new(b);
        let receiving = ringpoll::spawn({
            let b = b.clone();
            async move { b.recv(Vec::with_capacity(64)).await }
        });
        sleep(Duration::from_millis(20)).await;
        a.send(b"late".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(receiving).await.expect("receiving task");
        assert_eq!(&buf[..res.unwrap()], b"late");

        let start = Instant::now();
        b.set_read_deadline(Some(start + Duration::from_millis(50)));
        let (res, _) = bounded(b.recv_from(Vec::with_capacity(64))).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

#[test]
fn errors_have_std_kinds() {
    let dir = TempDir::new("dgram-errors");
    let taken = dir.join("taken.sock");
    let plain_file = dir.join("file");
    std::fs::write(&plain_file, b"not a socket").unwrap();
    run_leak_free(async {
        let _bound = UnixDatagram::bind(&taken).unwrap();
        assert_eq!(UnixDatagram::bind(&taken).unwrap_err().kind(), ErrorKind::AddrInUse);
        assert_eq!(UnixDatagram::bind("a\0b").unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(UnixDatagram::bind("x".repeat(200)).unwrap_err().kind(), ErrorKind::InvalidInput);

        let sock = UnixDatagram::unbound().unwrap();
        let nowhere = dir.join("nowhere.sock");
        assert_eq!(sock.connect(&nowhere).unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(sock.connect(&plain_file).unwrap_err().kind(), ErrorKind::ConnectionRefused);
        assert_eq!(sock.connect("a\0b").unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, buf) = sock.send_to(b"lost".to_vec(), &nowhere).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(buf, b"lost", "the buffer comes back");
        let (res, _) = sock.send_to(b"x".to_vec(), "a\0b").await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, _) = sock.send(b"x".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected, "send needs a peer");

        let (a, b) = UnixDatagram::pair().unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(a.send(b"x".to_vec()).await.0.unwrap_err().kind(), ErrorKind::BrokenPipe);
        drop(b);
        let (c, d) = UnixDatagram::pair().unwrap();
        drop(d);
        let (res, _) = c.send(b"to a closed peer".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn dropping_closes_the_descriptor_and_std_conversions_round_trip() {
    run_leak_free(async {
        let (std_a, std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let a: UnixDatagram = std_a.try_into().unwrap();
        let b = UnixDatagram::from_std(std_b).unwrap();
        a.send(b"adopted".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(b.recv(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"adopted");
        let back = b.into_std().unwrap();
        a.send(b"to std".to_vec()).await.0.unwrap();
        let mut buf = [0u8; 16];
        let n = within(10, move || {
            back.set_nonblocking(false).unwrap();
            back.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = back.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        assert_eq!(n, b"to std");
    });
}
