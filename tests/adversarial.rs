//! An outside check of the guarantees in the README's "Guarantees": futures dropped at random
//! points, resets under a waiting read or write, truncated datagrams, closed peers with
//! SIGPIPE at its default, readers that give up their turn, and files whose metadata lies
//! about their size. Each test states the promise it holds the library to.

use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

mod support;

use ringpoll::buf::IoBufMut;
use ringpoll::io::{Interest, Source};
use ringpoll::net::{copy_bidirectional, CopyOptions, SpliceMode, TcpStream, UdpSocket, UnixStream};
use ringpoll::time::{sleep, timeout};
use support::*;

/// xorshift64*: the same choices for the same seed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

const STREAM_BYTES: usize = 256 * 1024;

/// Writes `data` in pieces of random size with random pauses, then half-closes.
async fn write_in_random_pieces(source: &Source, data: Vec<u8>, seed: u64) -> io::Result<()> {
    let mut rng = Rng(seed ^ 0xdead_beef);
    let mut at = 0;
    while at < data.len() {
        let end = (at + 1 + rng.below(20_000) as usize).min(data.len());
        let (res, _) = source.write_all(data[at..end].to_vec()).await;
        res?;
        at = end;
        if rng.below(4) == 0 {
            sleep(Duration::from_micros(rng.below(300))).await;
        }
    }
    source.shutdown(Shutdown::Write)
}

/// One read of a random kind into `got`: `Some(0)` is end of stream, `None` a read given up
/// (dropped, or cut off by a read deadline set just before it).
/// `poll_style` lets it pick `poll_recv`, which does not take turns (it remembers one task,
/// the last that polled, as tokio's does): only for a stream with one reader.
async fn one_random_read(source: &Source, rng: &mut Rng, got: &mut Vec<u8>, poll_style: bool) -> Option<usize> {
    let how = rng.below(6);
    let pause = Duration::from_micros(rng.below(400));
    if rng.below(5) == 0 {
        source.set_deadline(Interest::Read, Some(std::time::Instant::now() + pause));
    }
    let kind = match rng.below(4) {
        2 if !poll_style => 0,
        kind => kind,
    };
    let n = read_of_kind(source, kind, (how, pause), rng, got).await;
    source.set_deadline(Interest::Read, None);
    n
}

/// One read of `kind` (see [`one_random_read`]), awaited or given up as `how` says.
async fn read_of_kind(
    source: &Source,
    kind: u64,
    (how, pause): (u64, Duration),
    rng: &mut Rng,
    got: &mut Vec<u8>,
) -> Option<usize> {
    match kind {
        0 => {
            let buf = Vec::with_capacity(1 + rng.below(9_000) as usize);
            let (n, buf) = give_up_or_finish(source.read(buf), how, pause).await?;
            kept(n).inspect(|&n| got.extend_from_slice(&buf[..n]))
        }
        1 => {
            let buf = give_up_or_finish(source.read_pooled(), how, pause).await?;
            kept(buf).map(|buf| {
                got.extend_from_slice(&buf);
                buf.len()
            })
        }
        2 => {
            let mut slice = vec![0u8; 1 + rng.below(5_000) as usize];
            let n = give_up_or_finish(poll_fn(|cx| source.poll_recv(cx, &mut slice)), how, pause).await?;
            kept(n).inspect(|&n| got.extend_from_slice(&slice[..n]))
        }
        _ => {
            // A framed read: appends after three bytes the buffer already holds.
            let mut held = b"xyz".to_vec();
            held.reserve(1 + rng.below(3_000) as usize);
            let (n, spare) = give_up_or_finish(source.read(held.spare()), how, pause).await?;
            let whole = spare.into_inner();
            assert_eq!(&whole[..3], b"xyz", "the bytes held were overwritten");
            kept(n).inspect(|&n| got.extend_from_slice(&whole[3..3 + n]))
        }
    }
}

/// A read's result: `None` if its deadline cut it off; any other error fails the test.
fn kept<T>(res: io::Result<T>) -> Option<T> {
    match res {
        Ok(v) => Some(v),
        Err(e) if e.kind() == ErrorKind::TimedOut => None,
        Err(e) => panic!("a read failed: {e}"),
    }
}

/// Awaits `fut` (how 0..=1), polls it once and drops it (2..=3), or races it with a timer
/// of `pause` (4..=5); `None` when it was dropped unfinished.
async fn give_up_or_finish<F: std::future::Future>(fut: F, how: u64, pause: Duration) -> Option<F::Output> {
    match how {
        0 | 1 => Some(bounded(fut).await),
        2 | 3 => poll_once_then_drop(fut).await,
        _ => timeout(pause, fut).await.ok(),
    }
}

/// Reads to end of stream with reads of every kind dropped at random points.
async fn read_through_random_drops(source: &Source, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut got = Vec::with_capacity(STREAM_BYTES);
    loop {
        if one_random_read(source, &mut rng, &mut got, true).await == Some(0) {
            return got;
        }
        assert!(got.len() <= STREAM_BYTES, "more bytes came than were sent: some repeated");
    }
}

/// Sends a known stream from `writer` and reads it at `reader` through random drops.
async fn stream_survives_random_drops(writer: Rc<Source>, reader: &Source, seed: u64) {
    let sent = payload(STREAM_BYTES, seed as u8);
    let sending = ringpoll::spawn({
        let sent = sent.clone();
        async move { write_in_random_pieces(&writer, sent, seed).await }
    });
    let got = bounded(read_through_random_drops(reader, seed)).await;
    bounded(sending).await.expect("writer task").expect("writes");
    assert_eq!(got.len(), sent.len(), "seed {seed}: bytes lost or repeated");
    assert!(got == sent, "seed {seed}: the bytes came in another order");
}

/// Guarantee: "Dropping a future with an operation in flight loses nothing and leaks
/// nothing" -- for plain, pooled, poll-style and appending reads mixed on one TCP stream,
/// dropped after one poll or by a timer at random points.
#[test]
fn tcp_reads_dropped_at_random_points_lose_and_repeat_no_byte() {
    run_leak_free(async {
        for seed in 1..=6u64 {
            let (client, server) = pair().await;
            let writer = Rc::new(client.into_source());
            stream_survives_random_drops(writer, server.as_source(), seed).await;
        }
    });
}

/// As above, on a Unix stream pair.
#[test]
fn unix_reads_dropped_at_random_points_lose_and_repeat_no_byte() {
    run_leak_free(async {
        for seed in 11..=14u64 {
            let (a, b) = UnixStream::pair().unwrap();
            let writer = Rc::new(UnixStreamSource::take(a));
            stream_survives_random_drops(writer, b.as_source(), seed).await;
        }
    });
}

/// UnixStream's source, taken through std (it has no public `into_source`).
struct UnixStreamSource;

impl UnixStreamSource {
    fn take(stream: UnixStream) -> Source {
        let std = stream.into_std().unwrap();
        Source::new_stream(std.into()).unwrap()
    }
}

/// Guarantee: "A reset ... is an io::Error (ConnectionReset, BrokenPipe) ... never a panic" --
/// here with the read already waiting when the RST lands, for each kind of read.
#[test]
fn a_reset_under_a_waiting_read_fails_it_with_connection_reset() {
    run_leak_free(async {
        for kind in 0..3 {
            let (client, server) = pair().await;
            let server = Rc::new(server);
            let reading = ringpoll::spawn({
                let server = server.clone();
                async move {
                    match kind {
                        0 => server.read(Vec::with_capacity(64)).await.0.map(|_| ()),
                        1 => server.read_pooled().await.map(|_| ()),
                        _ => poll_fn(|cx| server.poll_read(cx, &mut [0u8; 64])).await.map(|_| ()),
                    }
                }
            });
            sleep(Duration::from_millis(20)).await;
            client.abort();
            let err = bounded(reading).await.expect("reader task").expect_err("a reset is not data");
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "read kind {kind}: {err}");
        }
    });
}

/// The same for a write waiting on a full send buffer: the peer never reads, then resets.
#[test]
fn a_reset_under_a_waiting_write_fails_it_not_hangs() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let writing = ringpoll::spawn({
            let server = server.clone();
            async move { server.write_all(vec![7u8; 32 << 20]).await.0 }
        });
        sleep(Duration::from_millis(50)).await;
        assert!(!writing.is_finished(), "32 MiB cannot fit in loopback's buffers");
        client.abort();
        let err = bounded(writing).await.expect("writer task").expect_err("the peer is gone");
        assert!(
            matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "a write to a reset peer: {err}"
        );
        let partial = ringpoll::net::PartialWrite::of(&err).expect("write_all says how much went out");
        assert!(partial > 0 && partial < 32 << 20, "{partial} bytes reported sent");
    });
}

/// Guarantee: a datagram longer than the buffer is cut to the buffer ("the rest of a longer
/// datagram is discarded"), and the count is what the buffer holds, never the datagram's
/// length; the next datagram is whole. Also through a receive dropped with a bigger buffer.
#[test]
fn datagrams_longer_than_the_buffer_are_cut_to_it_even_through_a_dropped_receive() {
    run_leak_free(async {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let long = payload(3_000, 3);
        for dropped_first in [false, true] {
            if dropped_first {
                // A receive with room for all of it takes the datagram, then is dropped.
                let mut recv = std::pin::pin!(rx.recv_from(Vec::with_capacity(65_536)));
                assert!(!poll_once(recv.as_mut()).await, "nothing was sent yet");
                tx.send_to(long.clone(), to).await.0.unwrap();
                sleep(Duration::from_millis(20)).await;
            } else {
                tx.send_to(long.clone(), to).await.0.unwrap();
            }
            tx.send_to(b"next".to_vec(), to).await.0.unwrap();
            let (res, buf) = bounded(rx.recv_from(Vec::with_capacity(100))).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, buf.len()), (100, 100), "dropped first: {dropped_first}");
            assert_eq!(buf, long[..100], "dropped first: {dropped_first}");
            assert_eq!(from, tx.local_addr().unwrap());
            let (res, buf) = bounded(rx.recv_from(Vec::with_capacity(100))).await;
            assert_eq!(res.unwrap().0, 4);
            assert_eq!(buf, b"next", "the rest of the long datagram came as a datagram");
        }
    });
}

/// A buffer with no room receives a datagram as recv(2) does: the datagram is consumed and
/// the count is 0 (no panic, no `InvalidInput` -- that refusal is for streams, where 0 would
/// look like end of stream). An empty datagram arrives as a count of 0 too.
#[test]
fn zero_room_and_zero_length_datagrams_are_received_not_refused() {
    run_leak_free(async {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        tx.send_to(b"dropped on the floor".to_vec(), to).await.0.unwrap();
        tx.send_to(Vec::new(), to).await.0.unwrap();
        tx.send_to(b"after".to_vec(), to).await.0.unwrap();
        let (res, _) = bounded(rx.recv_from(Vec::new())).await;
        assert_eq!(res.unwrap().0, 0, "cut to a buffer of no room");
        let (res, buf) = bounded(rx.recv_from(Vec::with_capacity(64))).await;
        assert_eq!((res.unwrap().0, buf.len()), (0, 0), "the empty datagram");
        let (res, buf) = bounded(rx.recv_from(Vec::with_capacity(64))).await;
        assert_eq!(res.unwrap().0, 5);
        assert_eq!(buf, b"after");
    });
}

/// Guarantee: "Several tasks on one socket: operations take turns per direction, in arrival
/// order". A reader that gives up its place in the queue (its future dropped while it
/// waits for its turn, or while it holds it) must not stall the readers behind it.
#[test]
fn readers_that_give_up_their_turn_do_not_stall_the_rest() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let read_one = |server: Rc<TcpStream>| async move {
            let (n, buf) = server.read(Vec::with_capacity(64)).await;
            n.map(|_| buf)
        };
        // a holds the turn, b and c queue behind it.
        let mut a = Box::pin(read_one(server.clone()));
        let mut b = Box::pin(read_one(server.clone()));
        let c = ringpoll::spawn(read_one(server.clone()));
        assert!(!poll_once(a.as_mut()).await);
        assert!(!poll_once(b.as_mut()).await);
        ringpoll::yield_now().await;
        drop(b); // gives up its place in the queue
        drop(a); // gives up the turn itself, with its read in flight
        client.write_all(b"for c".to_vec()).await.0.unwrap();
        let got = bounded(c).await.expect("reader task").expect("read");
        assert_eq!(got, b"for c");
        // And the stream reads on afterwards, from the next byte.
        client.write_all(b"then me".to_vec()).await.0.unwrap();
        assert_eq!(bounded(read_one(server.clone())).await.unwrap(), b"then me");
    });
}

/// Guarantee: "a deadline, a shutdown or a hangup ends every one of them" -- three readers
/// waiting in turn all see end of stream when the peer closes.
#[test]
fn a_hangup_ends_every_waiting_reader() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let server = server.clone();
                ringpoll::spawn(async move { server.read(Vec::with_capacity(16)).await.0 })
            })
            .collect();
        sleep(Duration::from_millis(20)).await;
        drop(client);
        for r in readers {
            assert_eq!(bounded(r).await.expect("reader task").expect("EOF, not an error"), 0);
        }
    });
}

/// Guarantee (deadlines, "as in Go"): a deadline in the past fails every kind of read at once
/// with `TimedOut`, even with data waiting; moved into the future, the same stream reads the
/// waiting bytes, none lost to the reads that timed out.
#[test]
fn a_passed_read_deadline_fails_every_read_kind_and_moving_it_loses_nothing() {
    run_leak_free(async {
        let (client, server) = pair().await;
        server.set_read_deadline(Some(std::time::Instant::now() - Duration::from_millis(1)));
        client.write_all(b"kept".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(10)).await;
        let kinds: [io::Result<usize>; 3] = [
            bounded(server.read(Vec::with_capacity(8))).await.0,
            bounded(server.read_pooled()).await.map(|b| b.len()),
            bounded(poll_fn(|cx| server.poll_read(cx, &mut [0u8; 8]))).await,
        ];
        for (i, res) in kinds.into_iter().enumerate() {
            assert_eq!(res.expect_err("past its deadline").kind(), ErrorKind::TimedOut, "read kind {i}");
        }
        server.set_read_deadline(Some(std::time::Instant::now() + Duration::from_secs(5)));
        let (n, buf) = bounded(server.read(Vec::with_capacity(8))).await;
        assert_eq!(n.unwrap(), 4);
        assert_eq!(buf, b"kept");
    });
}

/// A pooled read (io_uring: a multishot recv) waiting when its deadline is pulled in fails
/// with `TimedOut`; bytes that arrive after are read whole once the deadline is cleared.
#[test]
fn a_deadline_pulled_in_under_a_waiting_pooled_read_times_it_out() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let reading = ringpoll::spawn({
            let server = server.clone();
            async move { server.read_pooled().await.map(|b| b.len()) }
        });
        sleep(Duration::from_millis(10)).await;
        server.set_read_deadline(Some(std::time::Instant::now() + Duration::from_millis(10)));
        let err = bounded(reading).await.expect("reader task").expect_err("cut off");
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        server.set_read_deadline(None);
        client.write_all(payload(10_000, 5)).await.0.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        loop {
            let buf = bounded(server.read_pooled()).await.unwrap();
            if buf.is_empty() {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert!(got == payload(10_000, 5), "bytes lost or reordered after the timeout");
    });
}

/// A receive waiting on a connected UDP socket when an ICMP port-unreachable comes back fails
/// with `ConnectionRefused` (the next receive on the socket, as the docs say), and the socket
/// goes on receiving afterwards.
#[test]
fn a_waiting_recv_on_a_connected_udp_socket_sees_connection_refused() {
    run_leak_free(async {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let sock = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        sock.connect(dead).await.unwrap();
        let receiving = ringpoll::spawn({
            let sock = sock.clone();
            async move { sock.recv(Vec::with_capacity(16)).await.0 }
        });
        sleep(Duration::from_millis(10)).await;
        sock.send(b"anyone?".to_vec()).await.0.unwrap();
        let err = bounded(receiving).await.expect("receiver task").expect_err("port unreachable");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

/// Sizes the kernel refuses are errors: a datagram over UDP's 65,507-byte limit is
/// `EMSGSIZE`, and an empty `write_all` finishes at once (a loop on `Ok(0)` would spin).
#[test]
fn oversized_datagrams_and_empty_writes_are_answered_not_hung() {
    run_leak_free(async {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sock.local_addr().unwrap();
        let (res, _) = bounded(sock.send_to(vec![0u8; 70_000], to)).await;
        assert_eq!(res.expect_err("too long for UDP").raw_os_error(), Some(libc::EMSGSIZE));
        let (client, server) = pair().await;
        bounded(client.write_all(Vec::new())).await.0.unwrap();
        let (n, _) = bounded(client.writev(Vec::<Vec<u8>>::new())).await;
        assert_eq!(n.unwrap(), 0);
        client.write_all(b"still fine".to_vec()).await.0.unwrap();
        let (n, buf) = bounded(server.read(Vec::with_capacity(32))).await;
        assert_eq!(&buf[..n.unwrap()], b"still fine");
    });
}

/// Guarantee: "no fd left open" -- a connect dropped while the handshake is in flight (to a
/// listener whose backlog is full, so the SYN waits) closes its socket, on both drivers.
#[test]
fn a_connect_dropped_in_flight_leaves_no_descriptor() {
    run_leak_free(async {
        let listener = ringpoll::net::TcpBuilder::new().backlog(0).listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Fill the accept queue (backlog 0 holds one) so later SYNs are dropped and retried.
        let mut held = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) = timeout(Duration::from_millis(50), TcpStream::connect(addr)).await {
                held.push(s);
            }
        }
        for _ in 0..50 {
            let _ = poll_once_then_drop(TcpStream::connect(addr)).await;
            let _ = timeout(Duration::from_micros(200), TcpStream::connect(addr)).await;
        }
        drop(held);
        drop(listener);
    });
}

/// A file whose size is beyond what memory could hold (a sparse file of 1 PiB, more than the
/// address space): `fs::read` sizes its buffer from the metadata, so it must report
/// `OutOfMemory` as `std::fs::read` does, not abort the process on a failed allocation.
/// On tmpfs (/dev/shm), which takes sizes ext4 refuses.
#[test]
fn reading_a_file_too_large_for_memory_is_an_error_not_an_abort() {
    // Its files must not look like a neighbour's leak.
    let _serial = fd_lock();
    let path = std::path::Path::new("/dev/shm").join(format!("ringpoll-adversarial-{}", std::process::id()));
    let file = std::fs::File::create(&path).expect("/dev/shm holds the sparse file");
    file.set_len(1 << 50).expect("tmpfs takes a 1 PiB sparse file");
    let std_kind = std::fs::read(&path).expect_err("std cannot read it either").kind();
    let ours = run(ringpoll::fs::read(&path));
    let _ = std::fs::remove_file(&path);
    assert_eq!(std_kind, ErrorKind::OutOfMemory);
    assert_eq!(ours.expect_err("1 PiB cannot be held").kind(), ErrorKind::OutOfMemory);
}

const SIGPIPE_CHILD: &str = "RINGPOLL_TEST_SIGPIPE_CHILD";

/// Writes to `stream` with `write` until the closed peer makes it fail; that error.
async fn write_until_refused(
    mut attempt: impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<usize>>>>,
) -> io::Error {
    for _ in 0..100 {
        if let Err(e) = bounded(attempt()).await {
            return e;
        }
        sleep(Duration::from_millis(2)).await;
    }
    panic!("100 writes to a closed peer all succeeded");
}

/// The child's part: with SIGPIPE at its default action (a C host, or a Rust binary built to
/// die on a broken pipe), every kind of write to a closed peer must be an error.
fn write_to_closed_peers_with_sigpipe_at_default() {
    // SAFETY: setting a signal's disposition to its default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    ringpoll::try_block_on(driver(), async {
        for kind in 0..4 {
            let (client, server) = pair().await;
            drop(server);
            let client = Rc::new(client);
            let err = write_until_refused(|| {
                let c = client.clone();
                Box::pin(async move {
                    match kind {
                        0 => c.write(vec![1u8; 1000]).await.0,
                        1 => c.write_all(vec![1u8; 1000]).await.0.map(|()| 1000),
                        2 => c.writev(vec![vec![1u8; 500], vec![2u8; 500]]).await.0,
                        _ => poll_fn(|cx| c.poll_write(cx, &[1u8; 1000])).await,
                    }
                })
            })
            .await;
            assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "kind {kind}: {err}");
        }
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let (res, _) = bounded(a.write(b"gone".to_vec())).await;
        assert_eq!(res.expect_err("the peer closed").kind(), ErrorKind::BrokenPipe);
        for mode in [SpliceMode::Readiness, SpliceMode::UringOp, SpliceMode::Off] {
            splice_into_a_reset_upstream(mode).await;
        }
    })
    .unwrap();
    println!("survived every write");
}

/// A proxy (`copy_bidirectional`, splicing or copying) whose upstream resets while a client
/// sends bulk: the copy ends with the reset's error (splice(2) has no MSG_NOSIGNAL).
async fn splice_into_a_reset_upstream(mode: SpliceMode) {
    let (client, proxy_a) = pair().await;
    let (proxy_b, upstream) = pair().await;
    let opts = CopyOptions { splice: mode, ..Default::default() };
    let copying = ringpoll::spawn(async move { copy_bidirectional(proxy_a, proxy_b, &opts).await });
    let sending = ringpoll::spawn(async move { client.write_all(vec![5u8; 8 << 20]).await.0 });
    let (n, _) = bounded(upstream.read(Vec::with_capacity(100_000))).await;
    assert!(n.unwrap() > 0, "{mode:?}: the proxy forwarded nothing");
    upstream.abort();
    let err = bounded(copying).await.expect("copy task").expect_err("the upstream reset");
    assert!(matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{mode:?}: {err}");
    let _ = bounded(sending).await.expect("client task");
}

/// Guarantee: "writes after the peer closed give BrokenPipe", not death by SIGPIPE -- even
/// in a process that did not ignore SIGPIPE, since the sends pass MSG_NOSIGNAL.
#[test]
fn writes_to_a_closed_peer_are_broken_pipe_even_with_sigpipe_at_its_default() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        return write_to_closed_peers_with_sigpipe_at_default();
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) =
        rerun_as_child("writes_to_a_closed_peer_are_broken_pipe_even_with_sigpipe_at_its_default", SIGPIPE_CHILD, 60);
    assert!(status.success(), "the child died: {status:?}, said {out:?}");
    assert!(out.contains("survived every write"), "the child's part did not run: {out:?}");
}

const EMFILE_CHILD: &str = "RINGPOLL_TEST_ADVERSARIAL_EMFILE_CHILD";

fn assert_emfile<T: std::fmt::Debug>(what: &str, res: io::Result<T>) {
    let err = res.expect_err(what);
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{what}: {err}");
}

/// The child's part: out of descriptors, every call that needs one says EMFILE at once; with
/// a few freed, the listeners accept the connections that waited meanwhile, bytes intact.
fn out_of_descriptors_then_recover() {
    ringpoll::try_block_on(driver(), async {
        let tcp = ringpoll::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let path = std::env::temp_dir().join(format!("ringpoll-adv-emfile-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = ringpoll::net::UnixListener::bind(&path).unwrap();
        let mut tcp_client = std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let mut unix_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        io::Write::write_all(&mut tcp_client, b"tcp waited").unwrap();
        io::Write::write_all(&mut unix_client, b"unix waited").unwrap();
        let mut held = exhaust_descriptors();
        for _ in 0..3 {
            assert_emfile("accept", bounded(tcp.accept()).await);
            assert_emfile("unix accept", bounded(unix.accept()).await);
        }
        assert_emfile("connect", bounded(TcpStream::connect(tcp.local_addr().unwrap())).await);
        assert_emfile("udp bind", UdpSocket::bind("127.0.0.1:0"));
        assert_emfile("socketpair", UnixStream::pair());
        assert_emfile("file open", bounded(ringpoll::fs::File::open("/dev/null")).await);
        held.truncate(held.len() - 4);
        let (stream, _) = bounded(tcp.accept()).await.expect("accepts once descriptors are free");
        let (n, buf) = bounded(stream.read(Vec::with_capacity(32))).await;
        assert_eq!(&buf[..n.unwrap()], b"tcp waited");
        let (stream, _) = bounded(unix.accept()).await.expect("unix accepts once descriptors are free");
        let (n, buf) = bounded(stream.read(Vec::with_capacity(32))).await;
        assert_eq!(&buf[..n.unwrap()], b"unix waited");
        let _ = std::fs::remove_file(&path);
    })
    .unwrap();
    println!("recovered from EMFILE");
}

/// Guarantee: "fd exhaustion: accept returns EMFILE/ENFILE as errors" -- and so does every
/// other call that needs a descriptor, without hanging; once descriptors free up, connections
/// that queued meanwhile are accepted with their bytes (TCP and Unix listeners). In a child
/// process, so the lowered limit touches no other test.
#[test]
fn out_of_descriptors_every_call_says_emfile_and_the_listeners_recover() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return out_of_descriptors_then_recover();
    }
    // Its pipes to the child must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (status, out) =
        rerun_as_child("out_of_descriptors_every_call_says_emfile_and_the_listeners_recover", EMFILE_CHILD, 60);
    assert!(status.success(), "the child failed: {status:?}, said {out:?}");
    assert!(out.contains("recovered from EMFILE"), "the child's part did not run: {out:?}");
}

/// Guarantee: "a deadline, a shutdown or a hangup ends every one of them" -- the local side
/// shutting down its read half ends a waiting read of each kind with end of stream, and
/// shutting down its write half ends a write waiting on a full buffer with `BrokenPipe`.
#[test]
fn a_local_shutdown_ends_the_operation_waiting_on_that_half() {
    run_leak_free(async {
        for kind in 0..3 {
            let (_client, server) = pair().await;
            let server = Rc::new(server);
            let reading = ringpoll::spawn({
                let server = server.clone();
                async move {
                    match kind {
                        0 => server.read(Vec::with_capacity(64)).await.0,
                        1 => server.read_pooled().await.map(|b| b.len()),
                        _ => poll_fn(|cx| server.poll_read(cx, &mut [0u8; 64])).await,
                    }
                }
            });
            sleep(Duration::from_millis(10)).await;
            server.shutdown(Shutdown::Read).unwrap();
            assert_eq!(bounded(reading).await.expect("reader task").expect("end of stream"), 0, "kind {kind}");
        }
        let (_client, server) = pair().await;
        let server = Rc::new(server);
        let writing = ringpoll::spawn({
            let server = server.clone();
            async move { server.write_all(vec![9u8; 32 << 20]).await.0 }
        });
        sleep(Duration::from_millis(30)).await;
        server.shutdown(Shutdown::Write).unwrap();
        let err = bounded(writing).await.expect("writer task").expect_err("the write half is shut");
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    });
}

/// `writev` with more buffers than one call takes (UIO_MAXIOV, 1,024) and empty ones among
/// them: the count says how far it got, and sending the rest from there delivers the exact
/// concatenation.
#[test]
fn writev_of_thousands_of_buffers_with_empty_ones_reports_an_exact_count() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let bufs: Vec<Vec<u8>> = (0..3000).map(|i| payload(i % 7, i as u8)).collect();
        let whole: Vec<u8> = bufs.concat();
        let reading = ringpoll::spawn(async move {
            let mut got = Vec::new();
            loop {
                let (n, buf) = server.read(Vec::with_capacity(4096)).await;
                match n.expect("read") {
                    0 => return got,
                    _ => got.extend_from_slice(&buf),
                }
            }
        });
        let mut rest = bufs;
        while !rest.is_empty() {
            let (n, sent) = bounded(client.writev(rest)).await;
            let mut n = n.unwrap();
            assert!(n > 0, "writev of {} buffers sent nothing", sent.len());
            // Skip the buffers (and the part of one) that went.
            rest = sent.into_iter().skip_while(|b| b.is_empty()).collect();
            let mut kept = Vec::new();
            for b in rest {
                if n >= b.len() {
                    n -= b.len();
                } else {
                    kept.push(b[n..].to_vec());
                    n = 0;
                }
            }
            rest = kept.into_iter().filter(|b| !b.is_empty()).collect();
        }
        client.shutdown(Shutdown::Write).unwrap();
        let got = bounded(reading).await.expect("reader task");
        assert_eq!(got.len(), whole.len());
        assert!(got == whole, "writev's count did not match what went");
    });
}

/// `fs::read` of a FIFO whose writer has not come yet waits for it and reads what it writes,
/// as `std::fs::read` does (open(2) of a FIFO's read end waits for a writer): an empty `Ok`
/// there would lose everything the writer sends.
#[test]
fn reading_a_fifo_before_its_writer_comes_waits_for_the_writer() {
    // Its files must not look like a neighbour's leak.
    let _serial = fd_lock();
    let dir = TempDir::new("adv-fifo");
    let fifo = dir.fifo("fifo");
    let data = payload(100_000, 21);
    let writer = std::thread::spawn({
        let (fifo, data) = (fifo.clone(), data.clone());
        move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(fifo, data)
        }
    });
    let got = within(20, {
        let fifo = fifo.clone();
        move || run(ringpoll::fs::read(fifo))
    });
    // A writer left waiting for a reader that came and went: be its reader, so it ends.
    let give_up = std::time::Instant::now() + Duration::from_secs(5);
    let mut release = std::fs::OpenOptions::new().read(true).custom_flags_nonblock().open(&fifo).unwrap();
    while !writer.is_finished() && std::time::Instant::now() < give_up {
        let _ = io::Read::read(&mut release, &mut [0u8; 65_536]);
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(release);
    let _ = writer.join();
    let got = got.expect("fs::read of a FIFO");
    assert_eq!(got.len(), data.len(), "read {} of the writer's {} bytes", got.len(), data.len());
    assert!(got == data);
}

/// A read that cannot finish by itself (a FIFO whose writer never comes: the open waits for
/// it on epoll, the read on io_uring) can be given up with a timeout, and the runtime still
/// ends: its teardown does not wait for the abandoned operation.
#[test]
fn a_fifo_read_waiting_for_a_writer_can_be_given_up() {
    // Its files must not look like a neighbour's leak.
    let _serial = fd_lock();
    let dir = TempDir::new("adv-fifo-abandoned");
    let fifo = dir.fifo("fifo");
    let path = fifo.clone();
    let started = std::time::Instant::now();
    let res =
        within(20, move || run(async move { timeout(Duration::from_millis(100), ringpoll::fs::read(&path)).await }));
    let took = started.elapsed();
    // A writer, so a helper thread still waiting in the open ends.
    let _ = std::fs::OpenOptions::new().write(true).custom_flags_nonblock().open(&fifo);
    assert!(res.is_err(), "a FIFO with no writer read something: {res:?}");
    assert!(took < Duration::from_secs(5), "the runtime took {took:?} to end");
}

/// `O_NONBLOCK` on std's OpenOptions, to release an open of a FIFO's other end.
trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_NONBLOCK)
    }
}

/// A directory read as a file, and a read of a write-only file, are errors of the kinds std
/// gives, not panics; a read past the end is `Ok(0)`.
#[test]
fn misused_files_give_the_errors_std_gives() {
    // Its files must not look like a neighbour's leak.
    let _serial = fd_lock();
    let dir = TempDir::new("adv-misuse");
    let file_path = dir.join("w");
    run(async {
        let d = ringpoll::fs::File::open(dir.path()).await.expect("a directory opens read-only");
        let (res, _) = d.read(Vec::with_capacity(16)).await;
        assert_eq!(res.expect_err("a directory is no file").kind(), ErrorKind::IsADirectory);
        assert_eq!(
            ringpoll::fs::read(dir.path()).await.expect_err("fs::read of a directory").kind(),
            ErrorKind::IsADirectory
        );
        let w = ringpoll::fs::OpenOptions::new().write(true).create(true).open(&file_path).await.unwrap();
        w.write_all_at(b"abc".to_vec(), 0).await.0.unwrap();
        let (res, _) = w.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.expect_err("opened write-only").raw_os_error(), Some(libc::EBADF));
        let r = ringpoll::fs::File::open(&file_path).await.unwrap();
        let (res, _) = r.read_at(Vec::with_capacity(8), 1 << 40).await;
        assert_eq!(res.unwrap(), 0, "past the end is Ok(0)");
    });
}

/// Opening a FIFO's write end before its reader comes waits for the reader, as open(2) and
/// std do, on both drivers (io_uring's non-blocking first try would say ENXIO), and every
/// byte written reaches the reader.
#[test]
fn writing_a_fifo_before_its_reader_comes_waits_for_the_reader() {
    // Its files must not look like a neighbour's leak.
    let _serial = fd_lock();
    let dir = TempDir::new("adv-fifo-w");
    let fifo = dir.fifo("fifo");
    let data = payload(100_000, 22);
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            std::thread::sleep(Duration::from_millis(200));
            std::fs::read(fifo)
        }
    });
    let wrote = within(20, {
        let (fifo, data) = (fifo.clone(), data.clone());
        move || {
            run(async move {
                let file = ringpoll::fs::OpenOptions::new().write(true).open(&fifo).await?;
                file.write_all(data).await.0
            })
        }
    });
    // A reader left waiting for a writer that never came: be its writer, so it ends.
    let give_up = std::time::Instant::now() + Duration::from_secs(5);
    while !reader.is_finished() && std::time::Instant::now() < give_up {
        let _ = std::fs::OpenOptions::new().write(true).custom_flags_nonblock().open(&fifo);
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = reader.join().unwrap();
    wrote.expect("opening and writing a FIFO's write end");
    assert!(got.unwrap() == data, "the reader did not get every byte");
}

/// Guarantee: "a datagram (even an empty one, with its sender) a dropped receive took ... is
/// handed to the next recv_from, in order". Datagrams numbered in their first bytes (some
/// empty), received through receives dropped at random points: each arrives once, whole,
/// in order, with its sender.
#[test]
fn datagrams_received_through_random_drops_arrive_once_whole_and_in_order() {
    run_leak_free(async {
        const COUNT: usize = 400;
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let (to, from) = (rx.local_addr().unwrap(), tx.local_addr().unwrap());
        let datagram = |i: usize| match i % 10 {
            0 => Vec::new(),
            _ => [&(i as u32).to_be_bytes()[..], &payload(i * 7 % 1500, i as u8)].concat(),
        };
        let received = Rc::new(std::cell::Cell::new(0usize));
        let sending = ringpoll::spawn({
            let (tx, received) = (tx.clone(), received.clone());
            async move {
                for i in 0..COUNT {
                    // Stay a few datagrams ahead, so the socket's buffer never drops one.
                    while i >= received.get() + 16 {
                        sleep(Duration::from_micros(100)).await;
                    }
                    tx.send_to(datagram(i), to).await.0.unwrap();
                }
            }
        });
        let mut rng = Rng(77);
        let mut next = 0;
        while next < COUNT {
            let buf = Vec::with_capacity(2048);
            let how = rng.below(6);
            let pause = Duration::from_micros(rng.below(300));
            let Some((res, buf)) = give_up_or_finish(rx.recv_from(buf), how, pause).await else { continue };
            let (n, sender) = res.unwrap();
            assert_eq!(sender, from);
            assert_eq!(buf.len(), n);
            assert!(buf == datagram(next), "datagram {next} came as {n} bytes: lost, repeated or cut");
            next += 1;
            received.set(next);
        }
        bounded(sending).await.expect("sender task");
    });
}

/// Guarantee: "two readers both get data" in turns -- two tasks reading one stream, each
/// dropping reads at random points, together get every byte once, in order.
#[test]
fn two_readers_dropping_reads_at_random_share_the_stream_without_loss() {
    run_leak_free(async {
        let (client, server) = pair().await;
        let server = Rc::new(server);
        let sent = payload(STREAM_BYTES, 31);
        let writer = Rc::new(client.into_source());
        let sending = ringpoll::spawn({
            let sent = sent.clone();
            async move { write_in_random_pieces(&writer, sent, 31).await }
        });
        let got = Rc::new(std::cell::RefCell::new(Vec::with_capacity(STREAM_BYTES)));
        let readers: Vec<_> = (0..2u64)
            .map(|r| {
                let (server, got) = (server.clone(), got.clone());
                ringpoll::spawn(async move {
                    let mut rng = Rng(100 + r);
                    let mut mine = Vec::new();
                    loop {
                        // Appended to the shared stream as soon as the read returns, before
                        // anything else can run.
                        let before = mine.len();
                        let n = one_random_read(server.as_source(), &mut rng, &mut mine, false).await;
                        got.borrow_mut().extend_from_slice(&mine[before..]);
                        if n == Some(0) {
                            return;
                        }
                    }
                })
            })
            .collect();
        for r in readers {
            bounded(r).await.expect("reader task");
        }
        bounded(sending).await.expect("writer task").expect("writes");
        let got = got.borrow();
        assert_eq!(got.len(), sent.len(), "bytes lost or repeated");
        assert!(*got == sent, "bytes reordered between the readers");
    });
}

/// A Unix connect to a listener whose backlog is full (nonblocking connect(2) says EAGAIN
/// there, not EINPROGRESS) waits for room as a blocking connect does -- without spinning a
/// core -- and once the listener accepts, the connection works; it never reports a socket
/// that is not connected as connected.
#[test]
fn a_unix_connect_to_a_full_backlog_waits_for_room_without_spinning() {
    run_leak_free(async {
        let path = std::env::temp_dir().join(format!("ringpoll-adv-backlog-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Listening again sets the backlog: 0 holds one connection.
        // SAFETY: listen(2) on an open socket.
        assert_eq!(unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&std_listener), 0) }, 0);
        let listener = ringpoll::net::UnixListener::from_std(std_listener).unwrap();
        let first = bounded(UnixStream::connect(&path)).await.expect("room for one");
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let stat = format!("/proc/self/task/{tid}/stat");
        let waiting = ringpoll::spawn({
            let path = path.clone();
            async move { UnixStream::connect(&path).await }
        });
        let before = cpu_ticks(&stat);
        sleep(Duration::from_millis(500)).await;
        let spent = cpu_ticks(&stat) - before;
        assert!(spent <= 20, "the core burned {spent} ticks in 0.5 s waiting for room in a backlog");
        if waiting.is_finished() {
            let res = bounded(waiting).await.expect("connect task");
            let err = res.expect_err("a connect cannot succeed with no room in the backlog");
            panic!("a connect with no room failed instead of waiting: {err}");
        }
        let (a, _) = bounded(listener.accept()).await.unwrap();
        let (b, _) = bounded(listener.accept()).await.unwrap();
        let second = bounded(waiting).await.expect("connect task").expect("connected once there was room");
        second.write_all(b"second".to_vec()).await.0.unwrap();
        first.write_all(b"first".to_vec()).await.0.unwrap();
        let (n, buf) = bounded(b.read(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"second");
        let (n, buf) = bounded(a.read(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"first");
        let _ = std::fs::remove_file(&path);
    });
}

/// The same wait, one layer down: `Source::connect` (the Connect op, which every caller
/// goes through) on a raw Unix socket to a full backlog waits on a timer without spinning
/// the core, ends with `TimedOut` at its write deadline, and without a deadline connects
/// once the listener makes room -- on both drivers (io_uring's CONNECT op would spin).
#[test]
fn a_source_connect_to_a_full_backlog_waits_on_a_timer_and_keeps_its_deadline() {
    run_leak_free(async {
        let dir = TempDir::new("adv-source-backlog");
        let path = dir.join("sock");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // Listening again sets the backlog: 0 holds one connection.
        // SAFETY: listen(2) on an open socket.
        assert_eq!(unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&std_listener), 0) }, 0);
        let listener = ringpoll::net::UnixListener::from_std(std_listener).unwrap();
        let addr = || ringpoll::net::SockAddr::from_unix_path(&path).unwrap();
        let first = unix_source();
        bounded(first.connect(addr())).await.expect("room for one");
        // SAFETY: gettid has no preconditions.
        let stat = format!("/proc/self/task/{}/stat", unsafe { libc::gettid() });

        let timed = unix_source();
        timed.set_deadline(Interest::Write, Some(std::time::Instant::now() + Duration::from_millis(300)));
        let (before, started) = (cpu_ticks(&stat), std::time::Instant::now());
        let err = bounded(timed.connect(addr())).await.expect_err("no room, and the deadline passed");
        let (spent, took) = (cpu_ticks(&stat) - before, started.elapsed());
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(took >= Duration::from_millis(290), "gave up after {took:?}, before its deadline");
        assert!(spent <= 12, "the core burned {spent} ticks in {took:?} waiting for room in a backlog");

        let waiting = Rc::new(unix_source());
        let connecting = ringpoll::spawn({
            let (waiting, addr) = (waiting.clone(), addr());
            async move { waiting.connect(addr).await }
        });
        sleep(Duration::from_millis(200)).await;
        assert!(!connecting.is_finished(), "a connect with no room in the backlog ended: {:?}", connecting.await);
        let (a, _) = bounded(listener.accept()).await.unwrap();
        bounded(connecting).await.expect("connect task").expect("connected once there was room");
        let (b, _) = bounded(listener.accept()).await.unwrap();
        waiting.write_all(b"waited".to_vec()).await.0.unwrap();
        first.write_all(b"first".to_vec()).await.0.unwrap();
        let (n, buf) = bounded(b.read(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"waited");
        let (n, buf) = bounded(a.read(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"first");
    });
}

/// A fresh non-blocking Unix stream socket, registered as a bare `Source`.
fn unix_source() -> Source {
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: a descriptor just opened, owned by nothing else.
    Source::new_stream(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }).unwrap()
}

/// Guarantee: "Several tasks on one socket: operations take turns per direction ... (Go's
/// fdMutex)": two tasks each `write_all` a buffer far larger than the socket holds, at once.
/// Both finish, and the peer reads one buffer whole, then the other -- never pieces of one
/// between pieces of the other, which would garble any framing (Go holds the write lock for
/// a whole `Write`).
#[test]
fn two_write_alls_at_once_do_not_interleave() {
    run_leak_free(async {
        const LEN: usize = 4 << 20;
        let (client, server) = pair().await;
        let client = Rc::new(client);
        let (first, second) = (vec![b'a'; LEN], vec![b'b'; LEN]);
        let writers: Vec<_> = [first, second]
            .into_iter()
            .map(|data| {
                let client = client.clone();
                ringpoll::spawn(async move { client.write_all(data).await.0 })
            })
            .collect();
        let mut got = Vec::with_capacity(2 * LEN);
        while got.len() < 2 * LEN {
            let (n, buf) = bounded(server.read(Vec::with_capacity(64 * 1024))).await;
            assert!(n.unwrap() > 0, "end of stream before both buffers");
            got.extend_from_slice(&buf);
        }
        for w in writers {
            bounded(w).await.expect("writer task").expect("write_all");
        }
        let switches = got.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(switches, 1, "the two buffers came in {} pieces", switches + 1);
    });
}

/// A connection waiting in the listener's queue (on io_uring, maybe already taken by the
/// multishot accept) survives accepts that a passed deadline fails and accepts that are
/// dropped: once the deadline is cleared, the next accept returns it, bytes and all.
#[test]
fn a_queued_connection_survives_timed_out_and_dropped_accepts() {
    run_leak_free(async {
        let listener = ringpoll::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // One accept waits first, so io_uring's multishot accept is armed when the client comes.
        let _ = timeout(Duration::from_millis(10), listener.accept()).await;
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        client.write_all(b"queued".to_vec()).await.0.unwrap();
        sleep(Duration::from_millis(10)).await;
        listener.set_accept_deadline(Some(std::time::Instant::now() - Duration::from_millis(1)));
        for _ in 0..3 {
            let err = bounded(listener.accept()).await.expect_err("past the accept deadline");
            assert_eq!(err.kind(), ErrorKind::TimedOut);
        }
        listener.set_accept_deadline(None);
        let (stream, peer) = bounded(listener.accept()).await.expect("the queued connection");
        assert_eq!(peer, client.local_addr().unwrap());
        let (n, buf) = bounded(stream.read(Vec::with_capacity(16))).await;
        assert_eq!(&buf[..n.unwrap()], b"queued");
    });
}

/// Shutting down both halves: reads are end of stream, writes `BrokenPipe`, on the side
/// that shut down; the peer reads end of stream.
#[test]
fn after_shutdown_both_reads_end_and_writes_are_broken_pipe() {
    run_leak_free(async {
        let (client, server) = pair().await;
        client.shutdown(Shutdown::Both).unwrap();
        let (n, _) = bounded(client.read(Vec::with_capacity(8))).await;
        assert_eq!(n.unwrap(), 0);
        assert_eq!(bounded(client.read_pooled()).await.unwrap().len(), 0);
        let (res, _) = bounded(client.write(b"late".to_vec())).await;
        assert_eq!(res.expect_err("the write half is shut").kind(), ErrorKind::BrokenPipe);
        let (n, _) = bounded(server.read(Vec::with_capacity(8))).await;
        assert_eq!(n.unwrap(), 0, "the peer reads end of stream");
    });
}
