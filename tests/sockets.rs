//! Socket builders and std conversions: every option read back with getsockopt, SO_REUSEPORT
//! on and off, bind-before-connect, and sockets handed to and from std with bytes intact and
//! no descriptor left open, on whichever driver RINGPOLL_DRIVER picks.

use std::io::{self, Read, Write};
use std::mem::{size_of, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

mod support;

use ringpoll::net::{Keepalive, TcpBuilder, TcpListener, TcpStream, UdpBuilder, UdpSocket};
use support::*;

/// getsockopt of a value of type T.
fn getsockopt<T: Copy>(fd: RawFd, level: libc::c_int, name: libc::c_int) -> T {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: value and len are live locals of the size passed; the kernel writes at most len.
    let ret = unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr().cast(), &mut len) };
    assert_eq!(ret, 0, "getsockopt({level}, {name}): {}", io::Error::last_os_error());
    assert_eq!(len as usize, size_of::<T>(), "getsockopt({level}, {name}) length");
    // SAFETY: zero-initialised, then filled by the kernel; T is plain data.
    unsafe { value.assume_init() }
}

fn int_opt(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    getsockopt(fd.as_raw_fd(), level, name)
}

fn keepalive() -> Keepalive {
    Keepalive { idle: Some(Duration::from_secs(42)), interval: Some(Duration::from_secs(7)), retries: Some(4) }
}

#[test]
fn listener_options_read_back() {
    run_leak_free(async {
        let listener = TcpBuilder::new()
            .backlog(77)
            .nodelay(true)
            .keepalive(keepalive())
            .linger(Some(Duration::ZERO))
            .send_buffer_size(64 * 1024)
            .recv_buffer_size(96 * 1024)
            .tos(0x10)
            .listen("127.0.0.1:0")
            .unwrap();
        let l = &listener;
        assert_eq!(int_opt(l, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
        assert_eq!(int_opt(l, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
        assert_eq!(int_opt(l, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
        assert_eq!(int_opt(l, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(int_opt(l, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 42);
        assert_eq!(int_opt(l, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 7);
        assert_eq!(int_opt(l, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 4);
        let linger: libc::linger = getsockopt(l.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER);
        assert_eq!((linger.l_onoff, linger.l_linger), (1, 0));
        // Linux doubles the requested sizes for its bookkeeping.
        assert_eq!(int_opt(l, libc::SOL_SOCKET, libc::SO_SNDBUF), 2 * 64 * 1024);
        assert_eq!(int_opt(l, libc::SOL_SOCKET, libc::SO_RCVBUF), 2 * 96 * 1024);
        assert_eq!(int_opt(l, libc::IPPROTO_IP, libc::IP_TOS), 0x10);
        // For a listening socket, TCP_INFO's tcpi_sacked is the backlog (sk_max_ack_backlog).
        let info: libc::tcp_info = getsockopt(l.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO);
        assert_eq!(info.tcpi_sacked, 77);

        // Accepted connections inherit them.
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(int_opt(&server, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(int_opt(&server, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 42);
        assert!(server.nodelay().unwrap());
        assert_eq!(int_opt(&client, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        assert!(!client.nodelay().unwrap());
    });
}

#[test]
fn stream_setters_read_back() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        client.set_keepalive(Some(keepalive())).unwrap();
        assert_eq!(int_opt(&client, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(int_opt(&client, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 7);
        client.set_keepalive(None).unwrap();
        assert_eq!(int_opt(&client, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        client.set_linger(Some(Duration::ZERO)).unwrap();
        let linger: libc::linger = getsockopt(client.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER);
        assert_eq!((linger.l_onoff, linger.l_linger), (1, 0));
        assert_eq!(client.linger().unwrap(), Some(Duration::ZERO));
        client.set_linger(None).unwrap();
        assert_eq!(client.linger().unwrap(), None);
        client.set_nodelay(true).unwrap();
        assert_eq!(int_opt(&client, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
        assert!(client.nodelay().unwrap());
        client.set_ttl(23).unwrap();
        assert_eq!((client.ttl().unwrap(), int_opt(&client, libc::IPPROTO_IP, libc::IP_TTL)), (23, 23));
    });
}

#[test]
fn reuseport_is_on_by_default_and_can_be_turned_off() {
    run_leak_free(async {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        // The default shares the port: a second copy binds it too.
        let second = TcpListener::bind(addr).unwrap();
        drop(second);
        // Off, the port is taken.
        let err = TcpBuilder::new().reuseport(false).listen(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let alone = TcpBuilder::new().reuseport(false).listen("127.0.0.1:0").unwrap();
        assert_eq!(int_opt(&alone, libc::SOL_SOCKET, libc::SO_REUSEPORT), 0);
        let err = TcpListener::bind(alone.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");

        let udp = UdpBuilder::new().reuseport(false).bind("127.0.0.1:0").unwrap();
        assert_eq!(int_opt(&udp, libc::SOL_SOCKET, libc::SO_REUSEPORT), 0);
        let err = UdpSocket::bind(udp.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn v6only_and_traffic_class_on_ipv6() {
    run_leak_free(async {
        let listener = match TcpBuilder::new().only_v6(true).tos(0xb8).listen("[::1]:0") {
            Ok(l) => l,
            // A machine without IPv6 loopback cannot run this check.
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => return,
            Err(e) => panic!("[::1]: {e}"),
        };
        assert_eq!(int_opt(&listener, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1);
        assert_eq!(int_opt(&listener, libc::IPPROTO_IPV6, libc::IPV6_TCLASS), 0xb8);
        let dual = TcpBuilder::new().only_v6(false).listen("[::]:0").unwrap();
        assert_eq!(int_opt(&dual, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 0);
    });
}

#[test]
fn udp_options_read_back() {
    run_leak_free(async {
        let socket =
            UdpBuilder::new().broadcast(true).recv_buffer_size(256 * 1024).tos(0x20).bind("127.0.0.1:0").unwrap();
        assert_eq!(int_opt(&socket, libc::SOL_SOCKET, libc::SO_BROADCAST), 1);
        assert_eq!(int_opt(&socket, libc::SOL_SOCKET, libc::SO_RCVBUF), 2 * 256 * 1024);
        assert_eq!(int_opt(&socket, libc::IPPROTO_IP, libc::IP_TOS), 0x20);
        assert_eq!(int_opt(&socket, libc::SOL_SOCKET, libc::SO_REUSEPORT), 1);
    });
}

#[test]
fn bind_before_connect_uses_the_local_address() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let client = TcpBuilder::new().bind_local(local).connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), local.ip());
        assert_eq!(client.local_addr().unwrap(), peer);
        assert_eq!(server.peer_addr().unwrap(), peer);
    });
}

#[test]
fn listeners_and_streams_move_to_and_from_std_with_bytes_intact() {
    run_leak_free(async {
        // std -> ringpoll: a std listener accepts through ringpoll.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let mut std_client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let sent = payload(50_000, 1); // fits the socket buffers: the write does not block
        std_client.write_all(&sent).unwrap();
        let (res, got) = read_exact_vec(&server, sent.len()).await;
        res.unwrap();
        assert!(got == sent, "bytes from std differ");

        // ringpoll -> std: the stream keeps its connection and its bytes.
        let mut std_server = server.into_std().unwrap();
        std_server.set_nonblocking(false).unwrap();
        std_server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std_client.write_all(b"after").unwrap();
        let mut five = [0; 5];
        std_server.read_exact(&mut five).unwrap();
        assert_eq!(&five, b"after");

        // A ringpoll stream from std, and a listener back to std that still accepts.
        let stream = TcpStream::from_std(std_client).unwrap();
        let (res, _) = stream.write_all(b"back".to_vec()).await;
        res.unwrap();
        std_server.read_exact(&mut five[..4]).unwrap();
        assert_eq!(&five[..4], b"back");
        let std_listener = listener.into_std().unwrap();
        std_listener.set_nonblocking(false).unwrap();
        let _late = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = std_listener.accept().unwrap();
        assert_eq!(accepted.local_addr().unwrap(), addr);

        let udp = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let back = udp.into_std().unwrap();
        assert!(back.local_addr().unwrap().port() != 0);
    });
}

/// Reads exactly `len` bytes, or the error that stopped it.
async fn read_exact_vec(stream: &TcpStream, len: usize) -> (io::Result<()>, Vec<u8>) {
    let mut all = Vec::with_capacity(len);
    while all.len() < len {
        let (res, buf) = stream.read(Vec::with_capacity(len - all.len())).await;
        match res {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), all),
            Ok(_) => all.extend_from_slice(&buf),
            Err(e) => return (Err(e), all),
        }
    }
    (Ok(()), all)
}
