//! Nothing a dropped receive took is lost, on any path and either driver: bytes reach the
//! next reader through `copy_bidirectional`'s splice modes too, an empty datagram is still
//! delivered, and `recv_from` after a dropped `recv` gets the datagram and its sender.

mod support;

use std::future::Future;
use std::time::Duration;

use ringpoll::net::{copy_bidirectional, CopyOptions, SpliceMode, TcpStream, UdpSocket};
use ringpoll::time::sleep;
use support::*;

/// Reads `stream` to EOF.
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (n, b) = bounded(stream.read(buf)).await;
        if n.unwrap() == 0 {
            return all;
        }
        all.extend_from_slice(&b);
        buf = b;
    }
}

/// A read of `server` is in flight when `sent` arrives, and its future is then dropped: on
/// io_uring the bytes are already off the socket. Returns what the dropped read delivered
/// itself, if its one poll completed it (epoll, when the bytes beat the poll).
async fn drop_a_read_that_receives(client: &TcpStream, server: &TcpStream, sent: &[u8]) -> Vec<u8> {
    let mut read = std::pin::pin!(server.read(Vec::with_capacity(64)));
    let early = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
    let (res, _) = client.write_all(sent.to_vec()).await;
    res.unwrap();
    sleep(Duration::from_millis(5)).await;
    match early {
        std::task::Poll::Ready((n, buf)) => buf[..n.unwrap()].to_vec(),
        std::task::Poll::Pending => Vec::new(),
    }
}

fn bytes_a_dropped_read_took_are_forwarded_by_copy(mode: SpliceMode) {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let (upstream, backend) = pair().await;
            let early = drop_a_read_that_receives(&client, &server, b"hello ").await;
            let opts = CopyOptions { splice: mode, ..CopyOptions::default() };
            let copy = ringpoll::spawn(async move { copy_bidirectional(server, upstream, &opts).await });
            let (res, _) = client.write_all(b"world".to_vec()).await;
            res.unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = early;
            got.extend(read_to_end(&backend).await);
            assert_eq!(got, b"hello world", "{mode:?}: the bytes the dropped read took come first");
            backend.shutdown(std::net::Shutdown::Write).unwrap();
            assert!(read_to_end(&client).await.is_empty());
            let stats = bounded(copy).await.unwrap().unwrap();
            assert_eq!(stats.b_to_a, 0);
        });
    });
}

#[test]
fn bytes_a_dropped_read_took_reach_the_next_reader_through_an_auto_copy() {
    bytes_a_dropped_read_took_are_forwarded_by_copy(SpliceMode::Auto);
}

#[test]
fn bytes_a_dropped_read_took_reach_the_next_reader_through_splice() {
    bytes_a_dropped_read_took_are_forwarded_by_copy(SpliceMode::Readiness);
}

#[test]
fn bytes_a_dropped_read_took_reach_the_next_reader_through_splice_ops() {
    bytes_a_dropped_read_took_are_forwarded_by_copy(SpliceMode::UringOp);
}

#[test]
fn bytes_a_dropped_read_took_reach_the_next_reader_through_buffered_copy() {
    bytes_a_dropped_read_took_are_forwarded_by_copy(SpliceMode::Off);
}

/// Starts a receive on `sock`, sends `datagram` to it from `peer`, and drops the receive.
/// Returns what the receive delivered itself if its first poll completed it.
async fn drop_a_recv_that_receives(sock: &UdpSocket, peer: &UdpSocket, datagram: &[u8]) -> Option<Vec<u8>> {
    let mut recv = std::pin::pin!(sock.recv(Vec::with_capacity(64)));
    let early = std::future::poll_fn(|cx| std::task::Poll::Ready(recv.as_mut().poll(cx))).await;
    let (res, _) = peer.send_to(datagram.to_vec(), sock.local_addr().unwrap()).await;
    res.unwrap();
    sleep(Duration::from_millis(5)).await;
    match early {
        std::task::Poll::Ready((n, buf)) => Some(buf[..n.unwrap()].to_vec()),
        std::task::Poll::Pending => None,
    }
}

#[test]
fn an_empty_datagram_a_dropped_recv_took_is_still_delivered() {
    assert_no_fd_leak(|| {
        run(async {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.connect(peer.local_addr().unwrap()).await.unwrap();
            for round in 0..20 {
                if drop_a_recv_that_receives(&sock, &peer, b"").await.is_none() {
                    let (n, _) = bounded(sock.recv(Vec::with_capacity(64))).await;
                    assert_eq!(n.unwrap(), 0, "round {round}: the empty datagram");
                }
                let (res, _) = peer.send_to(b"next".to_vec(), sock.local_addr().unwrap()).await;
                res.unwrap();
                let (n, buf) = bounded(sock.recv(Vec::with_capacity(64))).await;
                assert_eq!(&buf[..n.unwrap()], b"next", "round {round}: datagrams stay in order");
            }
        });
    });
}

#[test]
fn recv_from_after_a_dropped_recv_gets_the_datagram_and_its_sender() {
    assert_no_fd_leak(|| {
        run(async {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            for round in 0..20u8 {
                let datagram = [round; 33];
                if drop_a_recv_that_receives(&sock, &peer, &datagram).await.is_none() {
                    let (res, buf) = bounded(sock.recv_from(Vec::with_capacity(64))).await;
                    let (n, from) = res.unwrap();
                    assert_eq!(from, peer.local_addr().unwrap(), "round {round}: the sender is kept");
                    assert_eq!(&buf[..n], &datagram[..], "round {round}: the datagram is intact");
                }
            }
        });
    });
}
