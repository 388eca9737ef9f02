//! Pooled reads mixed with everything else that reads a stream: plain reads, splices and
//! buffered copies, `take_leftovers`, drops. On io_uring a pooled read arms a multishot recv
//! that keeps receiving after the read returns, so the buffers it queued must reach whatever
//! reads next, in order, even when the recv has already ended (end of stream, a pause at the
//! queue limit, -ENOBUFS); and a stream dropped with buffers queued gives them all back.
//!
//! Its own test binary: the ring holds 64 buffers here (`RINGPOLL_POOL_BUFFERS`, read once
//! per core), so buffers that never go back show as pooled reads leaving the ring.

mod support;

use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::net::{copy_bidirectional, CopyOptions, SpliceMode, TcpStream};
use ringpoll::time::{sleep, timeout};
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn small_ring() {
    std::env::set_var("RINGPOLL_POOL_BUFFERS", "64");
}

/// How the next read of [`read_mixed`] goes.
#[derive(Clone, Copy, Debug)]
enum Step {
    Pooled,
    /// A plain read into a buffer of this capacity.
    Plain(usize),
    /// Let the peer's bytes (and its close) queue before the next read.
    Pause,
}

/// Reads until end of stream, cycling through `steps`; returns the bytes in order.
async fn read_mixed(stream: &TcpStream, steps: &[Step]) -> Vec<u8> {
    let mut got = Vec::new();
    for step in steps.iter().cycle() {
        let n = match *step {
            Step::Pause => {
                sleep(Duration::from_millis(3)).await;
                continue;
            }
            Step::Pooled => {
                let buf = stream.read_pooled().await.expect("pooled read");
                got.extend_from_slice(&buf);
                buf.len()
            }
            Step::Plain(cap) => {
                let (n, buf) = stream.read(Vec::with_capacity(cap)).await;
                let n = n.expect("plain read");
                got.extend_from_slice(&buf);
                n
            }
        };
        if n == 0 {
            break;
        }
    }
    got
}

/// Writes `data` in pieces of `sizes` (cycled), pausing now and then so reads find queued
/// buffers; then closes.
async fn write_pieces(stream: TcpStream, data: Rc<Vec<u8>>, sizes: &[usize]) {
    let mut at = 0;
    for (i, size) in sizes.iter().cycle().enumerate() {
        if at == data.len() {
            break;
        }
        let end = (at + size).min(data.len());
        stream.write_all(data[at..end].to_vec()).await.0.expect("write");
        at = end;
        if i % 3 == 2 {
            sleep(Duration::from_millis(2)).await;
        }
    }
    drop(stream);
}

/// One peer writing `sizes` pieces of `len` bytes and closing, one reader doing `steps`: every
/// byte arrives in order, then end of stream (which stays: a read after it sees it again).
fn mixed_round(len: usize, seed: u8, sizes: &'static [usize], steps: &'static [Step]) {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let data = Rc::new(payload(len, seed));
            let writer = ringpoll::spawn(write_pieces(client, data.clone(), sizes));
            let got = timeout(LIMIT, read_mixed(&server, steps)).await.expect("every byte in time");
            writer.await.unwrap();
            assert_eq!(got.len(), data.len(), "steps {steps:?}: no byte lost or repeated");
            assert!(got == *data, "steps {steps:?}: bytes in order");
            let (n, _) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(n.unwrap(), 0, "end of stream is sticky for a plain read");
            assert!(server.read_pooled().await.unwrap().is_empty(), "and for a pooled one");
        });
    });
}

#[test]
fn a_plain_read_gets_the_buffers_of_a_recv_that_ended_at_eof() {
    // Small pieces, then the close: the recv queues them and ends (EOF, no F_MORE) before
    // the plain read comes.
    use Step::*;
    mixed_round(6000, 1, &[100, 900, 3000, 2000], &[Pooled, Pause, Pause, Pause, Plain(64 * 1024)]);
}

#[test]
fn a_plain_read_gets_the_buffers_of_a_paused_recv() {
    // Large writes fill the recv's queue to its limit, which pauses it (cancel, no F_MORE).
    use Step::*;
    mixed_round(2 << 20, 2, &[256 * 1024], &[Pooled, Pause, Pause, Plain(1000), Pooled, Pause, Plain(100_000)]);
}

#[test]
fn alternating_reads_of_every_size_keep_the_stream_whole() {
    use Step::*;
    let steps: &[Step] = &[Pooled, Plain(1), Pooled, Pause, Plain(7), Pooled, Pooled, Pause, Plain(40_000), Plain(3)];
    mixed_round(1 << 20, 3, &[1, 50, 17_000, 300, 64 * 1024, 5], steps);
}

#[test]
fn many_small_mixed_rounds() {
    use Step::*;
    let steps: &[Step] = &[Pooled, Pause, Plain(10), Pause, Pooled, Plain(5000)];
    for seed in 0..20 {
        mixed_round(3000 + seed as usize * 500, seed, &[1, 10, 100, 1000], steps);
    }
}

/// A pooled read, then bytes queued behind it, then `copy_bidirectional` in `mode`: the copy
/// forwards the queued bytes first and everything after them.
fn copy_after_pooled_reads(mode: SpliceMode) {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let (sink, sink_peer) = pair().await;
            let data = payload(1 << 20, 9);
            client.write_all(data[..1000].to_vec()).await.0.unwrap();
            let first = timeout(LIMIT, server.read_pooled()).await.unwrap().unwrap();
            assert!(!first.is_empty());
            let mut got = first.to_vec();
            let first_len = got.len();
            drop(first);
            // What the recv queues now, and what it may still receive, is the copy's first.
            client.write_all(data[got.len()..200_000].to_vec()).await.0.unwrap();
            sleep(Duration::from_millis(5)).await;
            let rest = data[200_000..].to_vec();
            let writer = ringpoll::spawn(async move {
                client.write_all(rest).await.0.unwrap();
                client.shutdown(Shutdown::Write).unwrap();
                client
            });
            let opts = CopyOptions { splice: mode, ..CopyOptions::default() };
            let copy = ringpoll::spawn(async move { copy_bidirectional(server, sink, &opts).await });
            let reader = async {
                loop {
                    let (n, buf) = sink_peer.read(Vec::with_capacity(64 * 1024)).await;
                    if n.unwrap() == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf);
                }
                got
            };
            let got = timeout(LIMIT, reader).await.expect("the copy in time");
            assert_eq!(got.len(), data.len(), "{mode:?}: no byte lost or repeated");
            assert!(got == data, "{mode:?}: bytes in order");
            let client = writer.await.unwrap();
            sink_peer.shutdown(Shutdown::Write).unwrap();
            let stats = timeout(LIMIT, copy).await.unwrap().unwrap().unwrap();
            assert_eq!(stats.a_to_b as usize, data.len() - first_len, "{mode:?}: the copy counts what it moved");
            drop(client);
        });
    });
}

#[test]
fn an_auto_copy_after_pooled_reads_forwards_the_queued_bytes_first() {
    copy_after_pooled_reads(SpliceMode::Auto);
}

#[test]
fn an_auto_copy_after_pooled_reads_reports_a_queued_reset() {
    copy_after_pooled_reset(SpliceMode::Auto);
}

#[test]
fn a_splice_after_pooled_reads_forwards_the_queued_bytes_first() {
    copy_after_pooled_reads(SpliceMode::Readiness);
}

#[test]
fn a_splice_op_after_pooled_reads_forwards_the_queued_bytes_first() {
    copy_after_pooled_reads(SpliceMode::UringOp);
}

#[test]
fn a_buffered_copy_after_pooled_reads_forwards_the_queued_bytes_first() {
    copy_after_pooled_reads(SpliceMode::Off);
}

#[test]
fn a_splice_after_pooled_reads_reports_a_queued_reset() {
    copy_after_pooled_reset(SpliceMode::Readiness);
}

#[test]
fn a_splice_op_after_pooled_reads_reports_a_queued_reset() {
    copy_after_pooled_reset(SpliceMode::UringOp);
}

#[test]
fn a_buffered_copy_after_pooled_reads_reports_a_queued_reset() {
    copy_after_pooled_reset(SpliceMode::Off);
}

/// A pooled read, then bytes and a reset queued behind it (on io_uring the multishot recv
/// took the reset, which the kernel reports once), then `copy_bidirectional` in `mode`: the
/// copy forwards every byte, then fails with ConnectionReset, never ends cleanly as if the
/// peer had closed.
fn copy_after_pooled_reset(mode: SpliceMode) {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let (sink, sink_peer) = pair().await;
            let data = payload(3000, 13);
            client.write_all(data[..1000].to_vec()).await.0.unwrap();
            let first = timeout(LIMIT, server.read_pooled()).await.unwrap().unwrap();
            assert!(!first.is_empty());
            let mut got = first.to_vec();
            drop(first);
            client.write_all(data[got.len()..].to_vec()).await.0.unwrap();
            set_linger_zero(&client);
            drop(client);
            // Let the recv queue the bytes and the reset behind them before the copy starts.
            sleep(Duration::from_millis(20)).await;
            let opts = CopyOptions { splice: mode, ..CopyOptions::default() };
            let copy = ringpoll::spawn(async move { copy_bidirectional(server, sink, &opts).await });
            // Read what reaches the sink until its end, then end the other direction too, so
            // a copy that took the reset for an end of stream finishes (cleanly) instead of
            // waiting for it.
            loop {
                let (n, buf) = timeout(LIMIT, sink_peer.read(Vec::with_capacity(64 * 1024))).await.unwrap();
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => got.extend_from_slice(&buf),
                }
            }
            let _ = sink_peer.shutdown(Shutdown::Write);
            let res = timeout(LIMIT, copy).await.expect("the copy ends in time").unwrap();
            let err = res.expect_err("a reset is no clean end");
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{mode:?}: {err}");
            assert!(got == data, "{mode:?}: every byte before the reset, in order ({} of {})", got.len(), data.len());
        });
    });
}

#[test]
fn take_leftovers_then_into_std_loses_nothing() {
    small_ring();
    assert_no_fd_leak(|| {
        let (std_stream, data) = run(async {
            let (client, server) = pair().await;
            let data = payload(300_000, 11);
            client.write_all(data[..500].to_vec()).await.0.unwrap();
            let mut got = server.read_pooled().await.unwrap().to_vec();
            let writer = {
                let tail = data[got.len()..].to_vec();
                ringpoll::spawn(async move {
                    client.write_all(tail).await.0.unwrap();
                    client
                })
            };
            sleep(Duration::from_millis(5)).await;
            got.extend(timeout(LIMIT, server.as_source().take_leftovers()).await.unwrap());
            let std_stream = server.into_std().unwrap();
            let client = timeout(LIMIT, writer).await.unwrap().unwrap();
            drop(client);
            (std_stream, (data, got))
        });
        let (data, mut got) = data;
        let mut std_stream = std_stream;
        std_stream.set_nonblocking(false).unwrap();
        std_stream.set_read_timeout(Some(LIMIT)).unwrap();
        std::io::Read::read_to_end(&mut std_stream, &mut got).unwrap();
        assert_eq!(got.len(), data.len(), "no byte lost or repeated");
        assert!(got == data, "bytes in order");
    });
}

/// Pooled reads that come from the ring (io_uring) rather than the heap fallback.
fn from_ring(buf: &ringpoll::net::PooledBuf) -> bool {
    format!("{buf:?}").contains("\"ring\"")
}

#[test]
fn streams_dropped_with_buffers_queued_give_every_buffer_back() {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            // 40 streams x 4 queued buffers: 160 buffers, more than the ring's 64, so one that
            // is not given back leaves the ring dry and the last reads on the heap.
            for round in 0..40u8 {
                let (client, server) = pair().await;
                let chunk = vec![round; 16 * 1024];
                client.write_all(chunk.clone()).await.0.unwrap();
                let first = timeout(LIMIT, server.read_pooled()).await.unwrap().unwrap();
                assert!(first.iter().all(|&b| b == round));
                for _ in 0..4 {
                    client.write_all(chunk.clone()).await.0.unwrap();
                }
                sleep(Duration::from_millis(2)).await;
                if round % 2 == 0 {
                    drop(server);
                    drop(first);
                } else {
                    // Retired by a plain read, then dropped: its buffers went to the stash.
                    let (n, _) = server.read(Vec::with_capacity(10)).await;
                    assert_eq!(n.unwrap(), 10);
                    drop(first);
                    drop(server);
                }
                drop(client);
            }
            // 16 buffers held at once: all from the ring when the 64 came back.
            let (client, server) = pair().await;
            let mut held = Vec::new();
            for _ in 0..16 {
                client.write_all(vec![7; 16 * 1024]).await.0.unwrap();
                held.push(timeout(LIMIT, server.read_pooled()).await.unwrap().unwrap());
            }
            if driver() == ringpoll::DriverChoice::Uring {
                let from_heap = held.iter().filter(|b| !from_ring(b)).count();
                assert_eq!(from_heap, 0, "the ring ran dry: buffers of dropped streams were not given back");
            }
        });
    });
}

/// A plain read of `stream` into up to 256 bytes: `read(buf)`, or `poll_read` (`poll`).
async fn plain_read(stream: &TcpStream, poll: bool) -> std::io::Result<Vec<u8>> {
    if poll {
        let mut buf = [0u8; 256];
        let n = std::future::poll_fn(|cx| stream.poll_read(cx, &mut buf)).await?;
        return Ok(buf[..n].to_vec());
    }
    let (res, buf) = stream.read(Vec::with_capacity(256)).await;
    res.map(|_| buf)
}

#[test]
fn a_reset_queued_by_a_pooled_read_reaches_the_plain_read_after_the_bytes() {
    reset_after_pooled_read(false);
}

#[test]
fn a_reset_queued_by_a_pooled_read_reaches_poll_read_after_the_bytes() {
    reset_after_pooled_read(true);
}

/// On io_uring the pooled read's multishot recv takes the bytes and then the reset (the
/// kernel reports a socket error once); a plain read (`poll`: `poll_read`) that takes over
/// must see the bytes, then ConnectionReset, never end of stream first. epoll reads both
/// from the socket.
fn reset_after_pooled_read(poll: bool) {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let data = payload(3000, 11);
            client.write_all(data.clone()).await.0.unwrap();
            set_linger_zero(&client);
            drop(client);
            // Loopback delivers the bytes and the RST at once; this only bounds the race.
            sleep(Duration::from_millis(20)).await;
            let first = timeout(LIMIT, server.read_pooled()).await.unwrap().expect("the bytes come before the reset");
            assert!(!first.is_empty());
            let mut got = first.to_vec();
            drop(first);
            // Let the recv queue the reset behind its bytes before the plain read takes over.
            sleep(Duration::from_millis(20)).await;
            let err = loop {
                match timeout(LIMIT, plain_read(&server, poll)).await.unwrap() {
                    Ok(buf) if buf.is_empty() => {
                        panic!("end of stream before the reset, after {} of {} bytes", got.len(), data.len())
                    }
                    Ok(buf) => got.extend_from_slice(&buf),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
            assert!(got == data, "every byte before the error, in order ({} of {})", got.len(), data.len());
            let rest = timeout(LIMIT, plain_read(&server, poll)).await.unwrap();
            assert!(rest.unwrap().is_empty(), "the error is reported once, then the socket's end of stream");
        });
    });
}

#[test]
fn bytes_a_retired_recv_receives_late_reach_the_plain_read() {
    read_behind_a_retired_recv(1000, false);
}

#[test]
fn bytes_and_a_reset_a_retired_recv_receives_late_reach_the_plain_read() {
    read_behind_a_retired_recv(1000, true);
}

#[test]
fn a_reset_a_retired_recv_receives_late_reaches_the_plain_read() {
    read_behind_a_retired_recv(0, true);
}

/// On io_uring a pooled read that finds nothing queued arms a multishot recv, which the next
/// turn submits; a plain read in the same task poll retires it first. The turn then submits
/// the recv, which takes the bytes (and the reset, `reset`) already in the socket, and the
/// cancel: the recv's completions are reaped after its stream was retired, and must reach
/// the plain read through the stash (bytes, then ConnectionReset), not go back to the ring
/// with their bytes, nor leave the socket saying end of stream where the reset was (the
/// kernel reports it once). epoll's pooled read takes the bytes, or the reset, at once.
fn read_behind_a_retired_recv(len: usize, reset: bool) {
    small_ring();
    assert_no_fd_leak(|| {
        run(async {
            let (client, server) = pair().await;
            let data = payload(len, 17);
            if len > 0 {
                client.write_all(data.clone()).await.0.unwrap();
            }
            if reset {
                set_linger_zero(&client);
            }
            drop(client);
            // Loopback delivers at once; this only bounds the race.
            sleep(Duration::from_millis(20)).await;
            let mut got = Vec::new();
            // Both reads in one poll of this task: no turn between them.
            let first = std::future::poll_fn(|cx| std::task::Poll::Ready(server.poll_read_pooled(cx))).await;
            let mut end = None;
            match first {
                std::task::Poll::Pending => {}
                std::task::Poll::Ready(Ok(buf)) => got.extend_from_slice(&buf),
                std::task::Poll::Ready(Err(e)) => end = Some(Err(e)),
            }
            if server.as_source().prefers_pooled_reads() {
                assert!(got.is_empty() && end.is_none(), "io_uring: the pooled read arms its recv and waits");
            }
            let end = match end {
                Some(end) => end,
                None => loop {
                    match timeout(LIMIT, plain_read(&server, false)).await.expect("the plain read in time") {
                        Ok(buf) if buf.is_empty() => break Ok(()),
                        Ok(buf) => got.extend_from_slice(&buf),
                        Err(e) => break Err(e),
                    }
                },
            };
            assert!(got == data, "every byte, in order ({} of {})", got.len(), data.len());
            match (reset, end) {
                (false, end) => end.expect("then end of stream"),
                (true, Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
                (true, Ok(())) => panic!("end of stream where the reset was"),
            }
        });
    });
}
