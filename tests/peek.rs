//! `peek` on byte streams, on both drivers: the bytes stay for the next read, a peek waits for
//! data but not for a full buffer, a short peek does not make the next read wait for an
//! edge that never comes, end of stream and a reset read as they would for `read`, and bytes
//! a dropped io_uring read (or a pooled read's stream) took come first.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use ringpoll::net::{TcpStream, UnixStream};
use ringpoll::time::sleep;
use support::*;

/// Peeks `stream` once into a buffer of `room` bytes: what it saw.
async fn peeked(stream: &TcpStream, room: usize) -> Vec<u8> {
    let (n, buf) = bounded(stream.peek(Vec::with_capacity(room))).await;
    assert_eq!(n.unwrap(), buf.len());
    buf
}

/// Runs `test` on the driver under test; it must leave no descriptor open (every test here
/// takes the fd lock through this, so none sees another's sockets).
fn leak_free(test: impl std::future::Future<Output = ()>) {
    assert_no_fd_leak(|| run(test));
}

async fn read(stream: &TcpStream, room: usize) -> Vec<u8> {
    let (n, buf) = bounded(stream.read(Vec::with_capacity(room))).await;
    assert_eq!(n.unwrap(), buf.len());
    buf
}

#[test]
fn peeked_bytes_come_again_to_the_next_peek_and_read() {
    leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\n".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        assert_eq!(peeked(&server, 3).await, b"GET", "a short buffer gets the start");
        assert_eq!(peeked(&server, 64).await, b"GET / HTTP/1.1\r\n", "nothing was taken");
        assert_eq!(read(&server, 64).await, b"GET / HTTP/1.1\r\n");
    });
}

#[test]
fn a_peek_waits_for_data_but_not_for_a_full_buffer() {
    leak_free(async {
        let (client, server) = pair().await;
        let writer = ringpoll::spawn(async move {
            sleep(Duration::from_millis(30)).await;
            client.write_all(b"hi".to_vec()).await.0.unwrap();
            client
        });
        assert_eq!(peeked(&server, 100).await, b"hi", "two bytes of a hundred: no wait for more");
        drop(bounded(writer).await.unwrap());
    });
}

/// After a peek that filled less than its buffer, the socket still holds the bytes: on epoll
/// a short read marks it drained, so a peek that did would leave the next read waiting for
/// an edge the peer never sends (it is waiting for the answer).
#[test]
fn a_short_peek_does_not_make_the_next_read_wait() {
    leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"ping".to_vec()).await.0.unwrap();
        assert_eq!(peeked(&server, 4096).await, b"ping");
        assert_eq!(read(&server, 4096).await, b"ping", "bounded: a hang would fail here");
        client.write_all(b"again".to_vec()).await.0.unwrap();
        assert_eq!(read(&server, 4096).await, b"again");
    });
}

#[test]
fn a_peek_sees_end_of_stream_and_a_reset() {
    leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"last".to_vec()).await.0.unwrap();
        drop(client);
        sleep(Duration::from_millis(5)).await;
        assert_eq!(peeked(&server, 64).await, b"last", "the bytes before the FIN");
        assert_eq!(read(&server, 64).await, b"last");
        assert!(peeked(&server, 64).await.is_empty(), "end of stream");
        assert!(read(&server, 64).await.is_empty(), "and again for the read");

        let (client, server) = pair().await;
        set_linger_zero(&client);
        drop(client);
        sleep(Duration::from_millis(5)).await;
        let (res, _) = bounded(server.peek(Vec::with_capacity(64))).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

/// On io_uring a read dropped once the bytes arrived has taken them off the socket; a peek
/// shows them (they come first) and leaves them for the read.
#[test]
fn a_peek_sees_what_a_dropped_read_took_first() {
    leak_free(async {
        let (client, server) = pair().await;
        let early = poll_once_then_drop(server.read(Vec::with_capacity(64))).await;
        assert!(early.is_none(), "nothing to read yet");
        client.write_all(b"taken ".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        client.write_all(b"queued".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        let first = peeked(&server, 64).await;
        assert!(b"taken queued".starts_with(&first) && first.len() >= 6, "{first:?}");
        let mut all = Vec::new();
        while all.len() < 12 {
            all.extend(read(&server, 64).await);
        }
        assert_eq!(all, b"taken queued", "nothing lost, nothing twice");
    });
}

/// Pooled reads (a multishot recv on io_uring) may hold bytes the socket no longer has: a
/// peek ends their stream and sees those bytes first.
#[test]
fn a_peek_after_pooled_reads_sees_their_bytes() {
    leak_free(async {
        let (client, server) = pair().await;
        client.write_all(b"one".to_vec()).await.0.unwrap();
        let buf = bounded(server.read_pooled()).await.unwrap();
        assert_eq!(&buf[..], b"one");
        drop(buf);
        client.write_all(b"two".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(5)).await;
        assert_eq!(peeked(&server, 64).await, b"two");
        assert_eq!(read(&server, 64).await, b"two");
    });
}

#[test]
fn a_unix_stream_peeks_too() {
    leak_free(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"unix".to_vec()).await.0.unwrap();
        let (n, buf) = bounded(b.peek(Vec::with_capacity(2))).await;
        assert_eq!((n.unwrap(), &buf[..]), (2, &b"un"[..]));
        let (n, buf) = bounded(b.read(Vec::with_capacity(8))).await;
        assert_eq!((n.unwrap(), &buf[..]), (4, &b"unix"[..]));
    });
}

#[test]
fn a_peek_into_no_room_is_refused() {
    leak_free(async {
        let (_client, server) = pair().await;
        let (res, _) = bounded(server.peek(Vec::new())).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}
