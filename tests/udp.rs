//! UDP sockets on whichever driver RINGPOLL_DRIVER picks: datagrams byte-compared, errors of
//! the right kind, and no descriptor left open.

use std::io;
use std::net::SocketAddr;

mod support;

use ringpoll::net::UdpSocket;
use support::*;

#[test]
fn send_to_and_recv_from_carry_datagrams_intact() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        for (i, len) in [0, 1, 100, 1472, 8000, 60_000].into_iter().enumerate() {
            let sent = payload(len, i as u8);
            let (res, _) = a.send_to(sent.clone(), b_addr).await;
            assert_eq!(res.unwrap(), len);
            let (res, got) = b.recv_from(Vec::with_capacity(65_536)).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, from), (len, a_addr));
            assert_eq!(got, sent);
        }
    });
}

#[test]
fn connected_sockets_send_and_recv() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(a.peer_addr().unwrap_err().kind(), io::ErrorKind::NotConnected);
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        for round in 0..20u8 {
            let (res, _) = a.send(payload(500 + round as usize, round)).await;
            res.unwrap();
            let (n, got) = b.recv(Vec::with_capacity(2048)).await;
            assert_eq!(n.unwrap(), 500 + round as usize);
            assert_eq!(got, payload(500 + round as usize, round));
            let (res, _) = b.send(got).await;
            res.unwrap();
            let (n, echoed) = a.recv(Vec::with_capacity(2048)).await;
            assert_eq!(n.unwrap(), 500 + round as usize);
            assert_eq!(echoed, payload(500 + round as usize, round));
        }
    });
}

#[test]
fn poll_send_and_poll_recv_use_borrowed_slices() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        let sent = payload(1000, 7);
        let n = std::future::poll_fn(|cx| a.poll_send(cx, &sent)).await.unwrap();
        assert_eq!(n, 1000);
        let mut got = [0u8; 2000];
        let n = std::future::poll_fn(|cx| b.poll_recv(cx, &mut got)).await.unwrap();
        assert_eq!(&got[..n], &sent[..]);
    });
}

#[test]
fn a_closed_peer_port_is_connection_refused() {
    run_leak_free(async {
        let gone: SocketAddr = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(gone).await.unwrap();
        let (res, _) = a.send(b"anyone?".to_vec()).await;
        res.unwrap();
        // The ICMP port-unreachable arrives as the socket's error, reported by the next recv.
        let (res, _) = a.recv(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn reuseport_lets_two_sockets_share_a_port_and_ipv6_works() {
    run_leak_free(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
        let Ok(v6) = UdpSocket::bind("[::1]:0") else { return };
        let other = UdpSocket::bind("[::1]:0").unwrap();
        let (res, _) = v6.send_to(b"six".to_vec(), other.local_addr().unwrap()).await;
        res.unwrap();
        let (res, got) = other.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap().1, v6.local_addr().unwrap());
        assert_eq!(got, b"six");
    });
}

#[test]
fn bad_addresses_are_errors_not_panics() {
    run_leak_free(async {
        assert!(UdpSocket::bind("not an address").is_err());
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(a.connect("nor this").await.is_err());
        // Binding a non-local address is refused by the kernel.
        assert_eq!(UdpSocket::bind("192.0.2.1:0").unwrap_err().kind(), io::ErrorKind::AddrNotAvailable);
    });
}

#[test]
fn a_dropped_recv_from_neither_loses_the_datagram_nor_writes_freed_memory() {
    run_leak_free(async {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sock.local_addr().unwrap();
        for round in 0..50u8 {
            peer.send_to(&[round; 200], to).unwrap();
            // One poll: on epoll it may complete at once (the datagram is there); on io_uring
            // it submits the op. Either way the future is then dropped.
            let early = poll_once_then_drop(sock.recv_from(Vec::with_capacity(200))).await;
            // Memory the dropped buffer had may be handed out again at once: the kernel must
            // not write into it. (A heap allocation on purpose: it may reuse the freed buffer.)
            #[allow(clippy::useless_vec)]
            let victim = vec![0xAAu8; 200];
            ringpoll::time::sleep(std::time::Duration::from_millis(1)).await;
            assert!(victim.iter().all(|&b| b == 0xAA), "round {round}: freed memory was written");
            // What the first poll returned is the datagram; otherwise the next receive has it.
            let (res, buf) = match early {
                Some(out) => out,
                None => sock.recv_from(Vec::with_capacity(256)).await,
            };
            let (n, from) = res.unwrap();
            assert_eq!(from, peer.local_addr().unwrap());
            assert_eq!(&buf[..n], &[round; 200][..], "round {round}: the datagram is not lost");
        }
    });
}

#[test]
fn an_icmp_error_on_a_connected_socket_does_not_spin_the_core() {
    run_leak_free(async {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.connect(dead).await.unwrap();
        let (res, _) = sock.send(b"x".to_vec()).await;
        res.unwrap();
        ringpoll::time::sleep(std::time::Duration::from_millis(20)).await;
        let (res, _) = sock.recv(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
        // Nothing else arrives: the next receive must wait (and time out), not busy-loop.
        let waited =
            ringpoll::time::timeout(std::time::Duration::from_millis(50), sock.recv(Vec::with_capacity(16))).await;
        assert!(waited.is_err(), "the receive waits for data");
    });
}
