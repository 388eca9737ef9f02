//! Writes say what happened, and every connection type has Go's deadlines, on both drivers:
//! a `write_all` cut off by its write deadline reports how many bytes went out, `poll_write`'s
//! `Pending` means nothing was sent, and UdpSocket and UnixStream time out like TcpStream.

mod support;

use std::io::ErrorKind;
use std::task::Poll;
use std::time::{Duration, Instant};

use ringpoll::net::{PartialWrite, TcpStream, UdpSocket, UnixStream};
use support::*;

/// Long enough for a first write to go out on a loaded machine.
fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(300))
}

/// Reads `stream` to EOF; returns how many bytes came and checks they are `sent`'s prefix.
async fn read_prefix_to_end(stream: &TcpStream, sent: &[u8]) -> usize {
    let mut total = 0;
    let mut buf = Vec::with_capacity(256 * 1024);
    loop {
        let (n, b) = bounded(stream.read(buf)).await;
        let n = n.unwrap();
        if n == 0 {
            return total;
        }
        assert_eq!(&b[..], &sent[total..total + n], "bytes arrive intact and in order");
        total += n;
        buf = b;
    }
}

#[test]
fn a_write_all_cut_off_by_its_deadline_reports_the_bytes_sent() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            // Far more than the socket buffers hold, with a peer that does not read yet.
            let sent = payload(32 << 20, 7);
            let copy = sent.clone();
            client.set_write_deadline(soon());
            let (res, _) = bounded(client.write_all(copy)).await;
            let err = res.expect_err("the deadline cuts the write off");
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            let written = PartialWrite::of(&err).expect("some bytes went out before the deadline");
            assert!(written > 0 && written < sent.len());
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let received = read_prefix_to_end(&server, &sent).await;
            assert_eq!(received, written, "the reported count is exactly what the peer got");
        });
    });
}

#[test]
fn a_write_after_its_deadline_sends_nothing() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            client.set_write_deadline(Some(Instant::now()));
            let (res, _) = client.write_all(b"never".to_vec()).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            assert_eq!(PartialWrite::of(&err), None, "nothing was written");
            client.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(read_prefix_to_end(&server, b"").await, 0);
        });
    });
}

#[test]
fn poll_write_pending_means_nothing_was_sent() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let sent = payload(64 << 20, 3);
            let (mut total, mut pendings) = (0, 0);
            // Fill the socket: each Pending must have sent nothing, or the count below is off.
            while pendings < 3 && total < sent.len() {
                let polled = std::future::poll_fn(|cx| Poll::Ready(client.poll_write(cx, &sent[total..]))).await;
                match polled {
                    Poll::Ready(n) => total += n.unwrap(),
                    Poll::Pending => {
                        pendings += 1;
                        ringpoll::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            assert!(pendings > 0, "the socket filled up");
            client.shutdown(std::net::Shutdown::Write).unwrap();
            assert_eq!(read_prefix_to_end(&server, &sent).await, total);
        });
    });
}

#[test]
fn udp_sockets_have_read_and_write_deadlines() {
    assert_no_fd_leak(|| {
        run(async {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = sock.local_addr().unwrap();
            sock.set_read_deadline(soon());
            assert!(sock.read_deadline().is_some());
            let start = Instant::now();
            let (res, _) = bounded(sock.recv_from(Vec::with_capacity(16))).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            assert!(start.elapsed() >= Duration::from_millis(290));
            sock.set_read_deadline(None);
            sock.set_write_deadline(Some(Instant::now()));
            let (res, _) = sock.send_to(b"late".to_vec(), to).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            sock.set_write_deadline(None);
            assert_eq!(sock.write_deadline(), None);
            let (res, _) = sock.send_to(b"now".to_vec(), to).await;
            assert_eq!(res.unwrap(), 3);
            let (res, buf) = bounded(sock.recv_from(Vec::with_capacity(16))).await;
            assert_eq!(&buf[..res.unwrap().0], b"now");
        });
    });
}

#[test]
fn unix_streams_have_read_and_write_deadlines() {
    assert_no_fd_leak(|| {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.set_read_deadline(soon());
            let (res, _) = bounded(a.read(Vec::with_capacity(16))).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
            let sent = payload(32 << 20, 1);
            let copy = sent.clone();
            a.set_write_deadline(soon());
            let (res, _) = bounded(a.write_all(copy)).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            let written = PartialWrite::of(&err).unwrap_or_else(|| panic!("part of the buffer went out: {err:?}"));
            a.shutdown(std::net::Shutdown::Write).unwrap();
            let mut total = 0;
            let mut buf = Vec::with_capacity(256 * 1024);
            loop {
                let (n, r) = bounded(b.read(buf)).await;
                let n = n.unwrap();
                if n == 0 {
                    break;
                }
                assert_eq!(&r[..], &sent[total..total + n]);
                total += n;
                buf = r;
            }
            assert_eq!(total, written);
        });
    });
}
