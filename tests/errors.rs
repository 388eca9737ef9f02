//! Bad peers and bad input give the right io::Error (or EOF), never a panic or a leak.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;

use ringpoll::net::{TcpListener, TcpStream};
use support::*;

/// A plain blocking peer on another thread: accepts one connection and hands it to `f`.
fn std_peer(
    f: impl FnOnce(std::net::TcpStream) + Send + 'static,
) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || f(listener.accept().unwrap().0));
    (addr, t)
}

#[test]
fn a_reset_peer_gives_connection_reset_on_read_and_an_error_on_write() {
    assert_no_fd_leak(|| {
        let (addr, peer) = std_peer(|mut s| {
            let mut b = [0u8; 5];
            s.read_exact(&mut b).unwrap();
            set_linger_zero(&s);
            drop(s);
        });
        run(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (w, _) = stream.write_all(b"hello".to_vec()).await;
            w.unwrap();
            let (res, _) = stream.read(Vec::with_capacity(64)).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
            let (res, _) = stream.write_all(vec![1u8; 1 << 16]).await;
            let kind = res.unwrap_err().kind();
            assert!(matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "write after reset: {kind:?}");
        });
        peer.join().unwrap();
    });
}

#[test]
fn a_half_close_is_eof_one_way_while_the_other_way_flows() {
    assert_no_fd_leak(|| {
        let (addr, peer) = std_peer(|mut s| {
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"request");
            s.write_all(b"response after your FIN").unwrap();
        });
        run(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (w, _) = stream.write_all(b"request".to_vec()).await;
            w.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            loop {
                let (n, buf) = stream.read(Vec::with_capacity(64)).await;
                if n.unwrap() == 0 {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, b"response after your FIN");
        });
        peer.join().unwrap();
    });
}

#[test]
fn a_peer_closing_gives_eof_not_an_error() {
    assert_no_fd_leak(|| {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (server, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
            drop(server);
            let (n, _) = client.read(Vec::with_capacity(8)).await;
            assert_eq!(n.unwrap(), 0);
        });
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    assert_no_fd_leak(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        run(async move {
            let err = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        });
    });
}

#[test]
fn bad_addresses_are_errors() {
    assert_no_fd_leak(|| {
        run(async {
            assert_eq!(TcpStream::connect("not an address").await.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert!(TcpListener::bind("127.0.0.1:99999").is_err());
            // An address this host does not have.
            assert_eq!(TcpListener::bind("192.0.2.1:0").unwrap_err().kind(), ErrorKind::AddrNotAvailable);
            // A port held without SO_REUSEPORT cannot be shared.
            let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let err = TcpListener::bind(held.local_addr().unwrap()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
        });
    });
}

#[test]
fn nodelay_and_addresses_report_the_socket() {
    assert_no_fd_leak(|| {
        run(async {
            let listener = TcpListener::bind("[::1]:0").unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(addr.is_ipv6());
            let client = TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            assert!(client.nodelay().unwrap());
            client.set_nodelay(false).unwrap();
            assert!(!client.nodelay().unwrap());
            assert_eq!(client.peer_addr().unwrap(), addr);
            assert!(client.take_error().unwrap().is_none());
        });
    });
}

/// accept on a socket that is not listening is EINVAL at once: on io_uring the multishot
/// accept's EINVAL sends the listener to one-shot accepts (the path of kernels without
/// multishot accept), whose own EINVAL is returned, twice over, with no hang.
#[test]
fn accept_on_a_socket_that_is_not_listening_is_einval() {
    use std::os::fd::FromRawFd;
    run_leak_free(async {
        // SAFETY: socket takes no pointers; the descriptor is owned right after the check.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let not_listening = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        let listener = TcpListener::from_std(not_listening).unwrap();
        for _ in 0..2 {
            let accept = ringpoll::time::timeout(std::time::Duration::from_secs(5), listener.accept());
            let err = accept.await.expect("no hang").expect_err("nothing to accept");
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        }
        let reactor = ringpoll::io::Reactor::current().unwrap();
        let tried = u64::from(reactor.kind() == ringpoll::DriverKind::Uring);
        assert_eq!(reactor.stats().accept_arms.get(), tried, "multishot tried once, then one-shot for good");
    });
}
