//! `TryFrom<std socket>` for every ringpoll socket, as tokio has it: `try_into()` takes a
//! blocking std socket onto the core, made non-blocking as `from_std` makes it, and it works.

mod support;

use std::os::fd::AsRawFd;

use ringpoll::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use support::*;

fn is_nonblocking(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL on a descriptor the caller keeps open; no pointer involved.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn tcp_and_udp_std_sockets_convert_with_try_into() {
    run_leak_free(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!is_nonblocking(&std_listener), "std's sockets block");
        let listener: TcpListener = std_listener.try_into().unwrap();
        assert!(is_nonblocking(&listener));
        let std_client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let client: TcpStream = std_client.try_into().unwrap();
        assert!(is_nonblocking(&client));
        let (server, _) = bounded(listener.accept()).await.unwrap();
        client.write_all(b"over tcp".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(server.read(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"over tcp");

        let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp: UdpSocket = std_udp.try_into().unwrap();
        assert!(is_nonblocking(&udp));
        udp.send_to(b"over udp".to_vec(), udp.local_addr().unwrap()).await.0.unwrap();
        let (res, buf) = bounded(udp.recv_from(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap().0], b"over udp");
    });
}

#[test]
fn unix_std_sockets_convert_with_try_into() {
    let dir = TempDir::new("try-from-unix");
    let path = dir.join("listener.sock");
    run_leak_free(async {
        let listener: UnixListener = std::os::unix::net::UnixListener::bind(&path).unwrap().try_into().unwrap();
        assert!(is_nonblocking(&listener));
        let std_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(!is_nonblocking(&std_client));
        let client: UnixStream = std_client.try_into().unwrap();
        assert!(is_nonblocking(&client));
        let (server, _) = bounded(listener.accept()).await.unwrap();
        client.write_all(b"over a stream".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(server.read(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"over a stream");

        let (std_a, std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (a, b): (UnixDatagram, UnixDatagram) = (std_a.try_into().unwrap(), std_b.try_into().unwrap());
        assert!(is_nonblocking(&a) && is_nonblocking(&b));
        a.send(b"a datagram".to_vec()).await.0.unwrap();
        let (res, buf) = bounded(b.recv(Vec::with_capacity(64))).await;
        assert_eq!(&buf[..res.unwrap()], b"a datagram");
    });
}
