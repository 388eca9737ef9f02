//! Pooled reads (`read_pooled`) on the driver under test: bytes intact and in order, nothing
//! lost when a read is dropped, mixed with plain reads, or when the pool runs dry.

mod support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpStream, UnixStream};
use ringpoll::time::{sleep, timeout};
use support::*;

/// Echoes with pooled reads until end of stream; returns the bytes echoed.
async fn pooled_echo(stream: &TcpStream) -> u64 {
    let mut total = 0;
    loop {
        let buf = stream.read_pooled().await.expect("pooled read");
        if buf.is_empty() {
            return total;
        }
        assert!(buf.len() <= ringpoll::net::POOL_BUF_SIZE);
        total += buf.len() as u64;
        stream.write_all(buf).await.0.expect("echo write");
    }
}

/// Reads exactly `len` bytes with plain reads.
async fn read_exact(stream: &TcpStream, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let (n, buf) = stream.read(Vec::with_capacity(len - out.len())).await;
        assert!(n.expect("read") > 0, "early end of stream");
        out.extend_from_slice(&buf);
    }
    out
}

#[test]
fn a_pooled_echo_returns_every_byte_in_order() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let echo = ringpoll::spawn(async move { pooled_echo(&server).await });
            let data = payload(1 << 20, 7);
            let writer = Rc::new(client);
            let w = writer.clone();
            let sent = data.clone();
            let send = ringpoll::spawn(async move {
                w.write_all(sent).await.0.unwrap();
                w.shutdown(std::net::Shutdown::Write).unwrap();
            });
            let back = timeout(Duration::from_secs(20), read_exact(&writer, data.len())).await.expect("echo in time");
            assert!(back == data, "echoed bytes differ");
            send.await.unwrap();
            assert_eq!(echo.await.unwrap(), data.len() as u64, "end of stream is an empty buffer");
        });
    });
}

#[test]
fn a_dropped_pooled_read_loses_nothing() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            for i in 0..100u8 {
                let mut read = Box::pin(server.read_pooled());
                assert!(poll_once_then_drop(read.as_mut()).await.is_none());
                client.write_all(vec![i; 3]).await.0.unwrap();
                sleep(Duration::from_millis(1)).await;
                drop(read);
                let buf = timeout(Duration::from_secs(5), server.read_pooled()).await.unwrap().unwrap();
                assert_eq!(&buf[..], [i; 3], "round {i}");
            }
        });
    });
}

#[test]
fn pooled_and_plain_reads_share_one_ordered_stream() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let data = payload(64 * 1024, 3);
            let mut got = Vec::new();
            let mut sent = 0;
            for round in 0..16 {
                // Bytes arrive while nobody reads: a multishot recv may have queued them.
                client.write_all(data[sent..sent + 4096].to_vec()).await.0.unwrap();
                sent += 4096;
                sleep(Duration::from_millis(2)).await;
                if round % 2 == 0 {
                    let buf = server.read_pooled().await.unwrap();
                    got.extend_from_slice(&buf);
                } else {
                    let (n, buf) = server.read(Vec::with_capacity(1000)).await;
                    assert!(n.unwrap() > 0);
                    got.extend_from_slice(&buf);
                }
            }
            drop(client);
            loop {
                let buf = timeout(Duration::from_secs(5), server.read_pooled()).await.unwrap().unwrap();
                if buf.is_empty() {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            assert_eq!(got.len(), data.len(), "no byte lost or repeated");
            assert!(got == data, "bytes in order");
        });
    });
}

#[test]
fn a_read_deadline_fails_a_pooled_read_and_keeps_the_stream() {
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            server.set_read_deadline(Some(Instant::now() + Duration::from_millis(20)));
            let err = timeout(Duration::from_secs(5), server.read_pooled()).await.unwrap().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
            server.set_read_deadline(None);
            client.write_all(b"late".to_vec()).await.0.unwrap();
            let buf = timeout(Duration::from_secs(5), server.read_pooled()).await.unwrap().unwrap();
            assert_eq!(&buf[..], b"late");
        });
    });
}

#[test]
fn dropping_a_stream_with_queued_buffers_leaks_nothing() {
    assert_no_fd_leak(|| {
        run(async {
            for _ in 0..50 {
                let (client, server) = pair().await;
                let first = server.read_pooled();
                client.write_all(payload(200 * 1024, 1)).await.0.ok();
                let _ = timeout(Duration::from_millis(5), first).await;
                sleep(Duration::from_millis(1)).await;
                drop(server);
                drop(client);
            }
            // The pool still serves: its buffers came back.
            let (client, server) = pair().await;
            client.write_all(b"still".to_vec()).await.0.unwrap();
            let buf = timeout(Duration::from_secs(5), server.read_pooled()).await.unwrap().unwrap();
            assert_eq!(&buf[..], b"still");
        });
    });
}

#[test]
fn unix_streams_read_pooled_too() {
    assert_no_fd_leak(|| {
        run(async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"over unix".to_vec()).await.0.unwrap();
            let buf = timeout(Duration::from_secs(5), b.read_pooled()).await.unwrap().unwrap();
            assert_eq!(&buf[..], b"over unix");
            drop(a);
            let eof = timeout(Duration::from_secs(5), b.read_pooled()).await.unwrap().unwrap();
            assert!(eof.is_empty());
        });
    });
}
