//! What a tokio user porting a UDP service reaches for: TTL, broadcast and multicast options
//! under tokio's names, `peek`/`peek_from` (MSG_PEEK: the datagram stays for the next
//! receive, also around dropped receives on io_uring), and `send_to` taking any address
//! `connect` takes.

mod support;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::UdpSocket;
use ringpoll::time::sleep;
use support::*;

fn pair() -> (UdpSocket, UdpSocket) {
    (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap())
}

/// Asserts that nothing arrives on `sock` for 100 ms.
async fn assert_nothing_arrives(sock: &UdpSocket, why: &str) {
    sock.set_read_deadline(Some(Instant::now() + Duration::from_millis(100)));
    let (res, buf) = bounded(sock.recv_from(Vec::with_capacity(64))).await;
    sock.set_read_deadline(None);
    match res {
        Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{why}"),
        Ok((n, from)) => panic!("{why}: got {:?} from {from}", &buf[..n]),
    }
}

#[test]
fn ttl_and_broadcast_read_back_what_was_set() {
    run_leak_free(async {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_ttl(42).unwrap();
        assert_eq!(sock.ttl().unwrap(), 42);
        assert!(!sock.broadcast().unwrap(), "off by default");
        sock.set_broadcast(true).unwrap();
        assert!(sock.broadcast().unwrap());
        assert_eq!(sock.set_ttl(0).unwrap_err().kind(), ErrorKind::InvalidInput, "the kernel's EINVAL");
    });
}

#[test]
fn multicast_options_read_back_what_was_set() {
    run_leak_free(async {
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(v4.multicast_loop_v4().unwrap(), "on by default");
        v4.set_multicast_loop_v4(false).unwrap();
        assert!(!v4.multicast_loop_v4().unwrap());
        assert_eq!(v4.multicast_ttl_v4().unwrap(), 1, "the local network by default");
        v4.set_multicast_ttl_v4(7).unwrap();
        assert_eq!(v4.multicast_ttl_v4().unwrap(), 7);
        let v6 = UdpSocket::bind("[::1]:0").unwrap();
        assert!(v6.multicast_loop_v6().unwrap(), "on by default");
        v6.set_multicast_loop_v6(false).unwrap();
        assert!(!v6.multicast_loop_v6().unwrap());
        assert!(v4.set_multicast_loop_v6(true).is_err(), "an IPv6 option on an IPv4 socket");
    });
}

/// Keeps `sock`'s IPv4 multicast on the loopback interface: the test's datagrams never leave
/// the host (the default route would otherwise take them).
fn multicast_out_of_loopback(sock: &UdpSocket) {
    let lo = libc::in_addr { s_addr: u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets()) };
    let len = std::mem::size_of::<libc::in_addr>() as libc::socklen_t;
    // SAFETY: a live socket, and a pointer to an in_addr of `len` bytes alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&lo as *const libc::in_addr).cast(),
            len,
        )
    };
    assert_eq!(rc, 0, "IP_MULTICAST_IF: {}", std::io::Error::last_os_error());
}

/// Joining a group on `lo` is refused where the sandbox gives the loopback interface no
/// multicast (ENODEV) or no IPv4 address to name it by (EADDRNOTAVAIL): the test then checks
/// only that the refusal is one of those, and says so.
fn sandbox_refuses_multicast(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV | libc::EADDRNOTAVAIL))
}

#[test]
fn a_joined_ipv4_group_receives_over_loopback_until_it_is_left() {
    run_leak_free(async {
        let group = Ipv4Addr::new(224, 0, 0, 251);
        let receiver = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        if let Err(e) = receiver.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            assert!(sandbox_refuses_multicast(&e), "joining {group} on lo: {e}");
            eprintln!("skipping the loopback delivery: joining {group} on lo fails here ({e})");
            return;
        }
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        multicast_out_of_loopback(&sender);
        // TTL 0: delivered on this host, forwarded nowhere.
        sender.set_multicast_ttl_v4(0).unwrap();
        let (res, _) = sender.send_to(b"to the group".to_vec(), (group, port)).await;
        assert_eq!(res.unwrap(), 12);
        let (res, buf) = bounded(receiver.recv_from(Vec::with_capacity(64))).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&b"to the group"[..], sender.local_addr().unwrap()));

        receiver.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
        sender.send_to(b"after leaving".to_vec(), (group, port)).await.0.unwrap();
        assert_nothing_arrives(&receiver, "a group left delivers nothing").await;
        let again = receiver.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EADDRNOTAVAIL), "leaving a group not joined");
    });
}

#[test]
fn an_ipv6_group_is_joined_and_left_on_loopback() {
    run_leak_free(async {
        let group: Ipv6Addr = "ff02::fb".parse().unwrap();
        // SAFETY: a NUL-terminated name, alive for the call.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        assert_ne!(lo, 0, "the loopback interface has an index");
        let sock = UdpSocket::bind("[::1]:0").unwrap();
        if let Err(e) = sock.join_multicast_v6(&group, lo) {
            assert!(sandbox_refuses_multicast(&e), "joining {group} on lo: {e}");
            eprintln!("skipping: joining {group} on lo fails here ({e})");
            return;
        }
        sock.leave_multicast_v6(&group, lo).unwrap();
        assert!(sock.leave_multicast_v6(&group, lo).is_err(), "left already");
    });
}

#[test]
fn peek_from_leaves_the_datagram_for_the_next_receive() {
    run_leak_free(async {
        let (a, b) = pair();
        let to_a = a.local_addr().unwrap();
        let datagram = payload(1000, 1);
        b.send_to(datagram.clone(), to_a).await.0.unwrap();
        b.send_to(b"second".to_vec(), to_a).await.0.unwrap();

        let (res, buf) = bounded(a.peek_from(Vec::with_capacity(5))).await;
        assert_eq!((res.unwrap(), &buf[..]), ((5, b.local_addr().unwrap()), &datagram[..5]), "a short peek");
        let (res, buf) = bounded(a.peek_from(Vec::with_capacity(2000))).await;
        assert_eq!(&buf[..res.unwrap().0], &datagram[..], "the datagram stayed whole");
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(2000))).await;
        let (n, from) = res.unwrap();
        assert_eq!((&buf[..n], from), (&datagram[..], b.local_addr().unwrap()), "received once peeked");
        let (res, buf) = bounded(a.recv_from(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap().0], b"second", "the next datagram, not the peeked one again");
    });
}

#[test]
fn peek_waits_for_a_datagram_on_a_connected_socket() {
    run_leak_free(async {
        let (a, b) = pair();
        let a = Rc::new(a);
        a.connect(b.local_addr().unwrap()).await.unwrap();
        let peeking = ringpoll::spawn({
            let a = a.clone();
            async move { a.peek(Vec::with_capacity(64)).await }
        });
        sleep(Duration::from_millis(20)).await;
        b.send_to(b"late".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        let (res, buf) = bounded(peeking).await.expect("peeking task");
        assert_eq!(&buf[..res.unwrap()], b"late");
        let (res, buf) = bounded(a.recv(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"late", "still there after the peek");
        a.set_read_deadline(Some(Instant::now()));
        let (res, _) = a.peek(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut, "peek keeps the read deadline");
    });
}

/// Starts `receive` (io_uring submits it), sends `datagram` from `from` to `to`, gives the
/// completion time to arrive, then drops `receive` unfinished.
async fn dropped_while_it_arrives<F: std::future::Future>(
    receive: F,
    from: &UdpSocket,
    datagram: Vec<u8>,
    to: SocketAddr,
) {
    let mut receive = std::pin::pin!(receive);
    assert!(!poll_once(receive.as_mut()).await, "nothing to receive yet");
    from.send_to(datagram, to).await.0.unwrap();
    sleep(Duration::from_millis(5)).await;
}

#[test]
fn a_dropped_peek_leaves_nothing_behind_and_a_peek_sees_what_a_dropped_recv_took() {
    run_leak_free(async {
        let (a, b) = pair();
        let to_a = a.local_addr().unwrap();
        for round in 0..10u8 {
            // A peek in flight (io_uring) or parked (epoll) while the datagram arrives, then
            // dropped: what it copied is still the kernel's, so it arrives exactly once.
            dropped_while_it_arrives(a.peek_from(Vec::with_capacity(64)), &b, vec![round; 9], to_a).await;
            let (res, buf) = bounded(a.recv_from(Vec::with_capacity(64))).await;
            assert_eq!(&buf[..res.unwrap().0], &[round; 9], "round {round}");
            assert_nothing_arrives(&a, "a dropped peek's datagram is not delivered twice").await;

            // A receive that takes a datagram (io_uring keeps it for the next receive), then
            // dropped: a peek sees it, and the receive after gets it, sender included.
            dropped_while_it_arrives(a.recv_from(Vec::with_capacity(64)), &b, vec![round; 17], to_a).await;
            let (res, buf) = bounded(a.peek_from(Vec::with_capacity(64))).await;
            assert_eq!((&buf[..], res.unwrap().1), (&[round; 17][..], b.local_addr().unwrap()), "round {round}");
            let (res, buf) = bounded(a.recv_from(Vec::with_capacity(64))).await;
            assert_eq!((&buf[..], res.unwrap().1), (&[round; 17][..], b.local_addr().unwrap()), "round {round}");
        }
    });
}

#[test]
fn send_to_takes_what_connect_takes() {
    run_leak_free(async {
        let (a, b) = pair();
        let port = a.local_addr().unwrap().port();
        let text = format!("127.0.0.1:{port}");
        b.send_to(b"str".to_vec(), text.as_str()).await.0.unwrap();
        b.send_to(b"string".to_vec(), text.clone()).await.0.unwrap();
        b.send_to(b"host-port".to_vec(), ("127.0.0.1", port)).await.0.unwrap();
        b.send_to(b"ip-port".to_vec(), (Ipv4Addr::LOCALHOST, port)).await.0.unwrap();
        b.send_to(b"socketaddr".to_vec(), a.local_addr().unwrap()).await.0.unwrap();
        for want in [&b"str"[..], b"string", b"host-port", b"ip-port", b"socketaddr"] {
            let (res, buf) = bounded(a.recv_from(Vec::with_capacity(64))).await;
            assert_eq!(&buf[..res.unwrap().0], want);
        }
        let none: &[SocketAddr] = &[];
        let (res, buf) = b.send_to(b"kept".to_vec(), none).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput, "no address to send to");
        assert_eq!(buf, b"kept", "the buffer comes back");
    });
}
