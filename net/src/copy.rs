//! Copying between two streams in both directions, for proxies.
//!
//! Each direction moves bytes until its reader sees EOF, then shuts down the write half of
//! the other stream, so a half-close travels through while the other direction keeps
//! flowing. A direction that fails instead ends the pair with a reset of both streams, once
//! what can still be delivered is (see [`copy_bidirectional`]). Bytes move through user-space
//! buffers (on io_uring the core's pool: pooled reads, several buffers per gathered write; on
//! epoll one buffer per direction) until a direction carries bulk, and from then on with
//! `splice(2)` through a pipe of its own (zero-copy, on both drivers): see [`SpliceMode`].

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringpoll_reactor::time::{sleep, Sleep};
use ringpoll_reactor::{IoBuf, Pipe, PooledBuf, Slice, Source};

use crate::{reset, TcpStream, UnixStream};

/// How [`copy_bidirectional`] moves bytes.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Fail with `TimedOut`, resetting both streams, when no byte has moved either way for
    /// this long (None: never).
    pub idle_timeout: Option<Duration>,
    /// Whether and how to splice through a pipe where the descriptors support it.
    pub splice: SpliceMode,
    /// Bytes per step: the pipe size asked for when splicing, the buffer size when copying on
    /// epoll (io_uring copies through the core's pool, in up to 16 buffers of
    /// `POOL_BUF_SIZE` per write).
    pub chunk: usize,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions { idle_timeout: None, splice: SpliceMode::Auto, chunk: 64 * 1024 }
    }
}

/// How [`copy_bidirectional`] moves bytes.
///
/// Splicing costs two syscalls per step (socket to pipe, pipe to socket) and copies nothing;
/// copying costs a read and a write and copies every byte. Through a proxy on loopback (one
/// core, `examples/proxy`), splicing took 2-2.5x less CPU per 5 MB body than copying, and
/// copying 10-20% less per small HTTP request and response: hence [`SpliceMode::Auto`], which
/// copies until a direction turns out to carry bulk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpliceMode {
    /// Copies (as `Off`) until one step moves at least [`SPLICE_FROM`] bytes, a sign of a
    /// bulk transfer, then splices the rest of that direction (as `Readiness`).
    #[default]
    Auto,
    /// Through a user-space buffer (read, then write).
    Off,
    /// `splice(2)` through a pipe, non-blocking, with readiness
    /// ([`Source::splice_to`]), from the first byte.
    Readiness,
    /// IORING_OP_SPLICE ops on io_uring ([`Source::splice_op_to`]); as `Readiness` on epoll.
    UringOp,
}

impl std::str::FromStr for SpliceMode {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<SpliceMode> {
        match s {
            "auto" => Ok(SpliceMode::Auto),
            "off" => Ok(SpliceMode::Off),
            "readiness" | "on" => Ok(SpliceMode::Readiness),
            "op" => Ok(SpliceMode::UringOp),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("splice mode {s:?}: auto, off, readiness or op"),
            )),
        }
    }
}

/// Bytes moved by [`copy_bidirectional`], per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// From the first stream to the second.
    pub a_to_b: u64,
    /// From the second stream to the first.
    pub b_to_a: u64,
}

mod sealed {
    pub trait Sealed {}
}

/// A connected stream [`copy_bidirectional`] can drive: TCP, Unix, or a bare [`Source`].
pub trait Duplex: sealed::Sealed {
    /// The registered descriptor the copy runs on; the stream is consumed.
    fn into_source(self) -> io::Result<Source>;
}

impl sealed::Sealed for Source {}
impl Duplex for Source {
    fn into_source(self) -> io::Result<Source> {
        Ok(self)
    }
}

impl sealed::Sealed for UnixStream {}
impl Duplex for UnixStream {
    fn into_source(self) -> io::Result<Source> {
        Ok(UnixStream::into_source(self))
    }
}

impl sealed::Sealed for TcpStream {}
impl Duplex for TcpStream {
    fn into_source(self) -> io::Result<Source> {
        Ok(TcpStream::into_source(self))
    }
}

/// Copies `a -> b` and `b -> a` until both directions reach EOF, passing each EOF on as a
/// shutdown of the write half; then closes both. Fails on the first I/O error, or with
/// `TimedOut` after `idle_timeout` without traffic.
///
/// **A failed copy resets both streams.** A copy that ends in an error (a reset or a read
/// error on one stream, a failed write to the other, the idle timeout) closes both TCP streams
/// with a reset (RST, through SO_LINGER 0) instead of FIN, and returns the error, as haproxy,
/// nginx and envoy abort the other side: a peer that reads until end of stream (an HTTP/1.0
/// response, anything delimited by the close) then sees `ConnectionReset`, never a truncated
/// stream that looks complete. Before the reset, what can still be delivered is: the bytes
/// already read from a stream that failed go out to the other first; when a write fails (its
/// peer is gone), the other direction goes on reading the broken stream until its end, so a
/// reply that arrived just before the reset still reaches its client; and the reset waits
/// until the kernel has sent, and the peer acknowledged, every byte copied to the stream that
/// is still healthy. Both of those waits give up after a second without progress (or the idle
/// timeout, if shorter). A timed-out pair is reset at once: it is no clean end either, and
/// whatever did not move within the idle timeout will not. So is a copy whose future is
/// dropped before it ends, once polled: a future dropped before its first poll has not taken
/// the streams over yet, and they close as any dropped stream does (FIN). Unix streams have
/// no reset: their peers read end of stream (or `ConnectionReset` when bytes they sent were
/// left unread).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::{copy_bidirectional, CopyOptions, TcpStream};
///
/// let client = TcpStream::connect("127.0.0.1:7000").await?;
/// let upstream = TcpStream::connect("127.0.0.1:8000").await?;
/// let stats = copy_bidirectional(client, upstream, &CopyOptions::default()).await?;
/// println!("{} bytes up, {} down", stats.a_to_b, stats.b_to_a);
/// # Ok(()) }
/// ```
pub async fn copy_bidirectional<A: Duplex, B: Duplex>(a: A, b: B, opts: &CopyOptions) -> io::Result<CopyStats> {
    let mut pair = Streams { a: a.into_source()?, b: b.into_source()?, clean: false };
    match copy_pair(&pair.a, &pair.b, opts).await {
        Ok(stats) => {
            pair.clean = true;
            Ok(stats)
        }
        Err(Abort { error, healthy }) => {
            if let Some(stream) = healthy {
                reset::sent(stream, drain_limit(opts)).await;
            }
            Err(error)
        }
    }
}

/// The two streams of a copy, reset when dropped unless the copy ended cleanly: a copy that
/// fails, and one dropped half-way (a timeout around it, a runtime shutting down), are no
/// clean end either.
struct Streams {
    a: Source,
    b: Source,
    clean: bool,
}

impl Drop for Streams {
    fn drop(&mut self) {
        if !self.clean {
            // Best effort: a stream that takes no SO_LINGER (not a socket) just closes.
            let _ = reset::on_close(&self.a);
            let _ = reset::on_close(&self.b);
        }
    }
}

/// How long the waits before a reset go on without progress at most (see
/// [`copy_bidirectional`]): the other direction's drain, and the healthy stream's send queue.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// [`DRAIN_IDLE`], or the idle timeout if that is shorter.
fn drain_limit(opts: &CopyOptions) -> Duration {
    opts.idle_timeout.map_or(DRAIN_IDLE, |idle| idle.min(DRAIN_IDLE))
}

/// How a direction failed: which of its streams is broken decides what the pair can still
/// deliver.
#[derive(Debug)]
enum Failure {
    /// Reading `from` failed (its peer reset it): the other direction writes to a dead peer.
    Read(io::Error),
    /// Writing `to` failed (its peer is gone): the other direction reads it to its end.
    Write(io::Error),
}

impl Failure {
    fn into_error(self) -> io::Error {
        match self {
            Failure::Read(e) | Failure::Write(e) => e,
        }
    }
}

/// A failed copy, about to reset both streams: the error to return, and the stream that is
/// still healthy and was copied to, whose send queue the reset waits for.
struct Abort<'s> {
    error: io::Error,
    healthy: Option<&'s Source>,
}

/// Both directions of a pair, until both end cleanly or one fails.
async fn copy_pair<'s>(a: &'s Source, b: &'s Source, opts: &CopyOptions) -> Result<CopyStats, Abort<'s>> {
    let activity = Cell::new(Instant::now());
    // One async fn called twice: both directions are futures of one type, so they fit in an array.
    let (ab, ba) = (pin!(forward(a, b, opts, &activity)), pin!(forward(b, a, opts, &activity)));
    let mut pair = Pair {
        legs: [Leg::new(ab, a, b), Leg::new(ba, b, a)],
        failure: None,
        idle: opts.idle_timeout.map(IdleWatch::new),
        drain: None,
        drain_limit: drain_limit(opts),
        activity: &activity,
    };
    poll_fn(|cx| pair.poll(cx)).await
}

/// One direction of a [`Pair`].
struct Leg<'p, 's, F> {
    /// The copy, until it ends.
    copy: Option<Pin<&'p mut F>>,
    from: &'s Source,
    to: &'s Source,
    /// Bytes moved, once it ended cleanly.
    moved: u64,
    /// It read EOF and has not passed it on yet.
    eof: bool,
}

impl<'p, 's, F> Leg<'p, 's, F> {
    fn new(copy: Pin<&'p mut F>, from: &'s Source, to: &'s Source) -> Leg<'p, 's, F> {
        Leg { copy: Some(copy), from, to, moved: 0, eof: false }
    }
}

/// The two directions polled together. The first failure wins; what follows it is decided
/// in [`Pair::poll`].
struct Pair<'p, 's, F> {
    legs: [Leg<'p, 's, F>; 2],
    /// The first failure, with the index of its leg.
    failure: Option<(usize, Failure)>,
    idle: Option<IdleWatch>,
    /// The bound on draining the other direction after a failed write.
    drain: Option<IdleWatch>,
    drain_limit: Duration,
    activity: &'p Cell<Instant>,
}

impl<'s, F: Future<Output = Result<u64, Failure>>> Pair<'_, 's, F> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<CopyStats, Abort<'s>>> {
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let Some(copy) = &mut leg.copy else { continue };
            let Poll::Ready(end) = copy.as_mut().poll(cx) else { continue };
            leg.copy = None;
            match end {
                Ok(n) => (leg.moved, leg.eof) = (n, true),
                Err(failure) => {
                    self.failure.get_or_insert((i, failure));
                }
            }
        }
        // An EOF goes on as a half-close only now that both directions have been polled, and
        // only if neither failed: the kernel reports a reset once, so when a write took it,
        // the read of that stream in the other direction sees a plain EOF, which is no clean
        // end, and a FIN sent for it would make a truncated stream look complete.
        if self.failure.is_none() {
            for (i, leg) in self.legs.iter_mut().enumerate() {
                if std::mem::take(&mut leg.eof) {
                    if let Err(e) = shutdown_write(leg.to) {
                        self.failure = Some((i, Failure::Write(e)));
                        break;
                    }
                }
            }
        }
        let Some((failed, failure)) = self.failure.take() else {
            if self.legs.iter().all(|leg| leg.copy.is_none()) {
                let stats = CopyStats { a_to_b: self.legs[0].moved, b_to_a: self.legs[1].moved };
                return Poll::Ready(Ok(stats));
            }
            return match &mut self.idle {
                Some(watch) => watch.poll(cx, self.activity.get()).map(|error| Err(Abort { error, healthy: None })),
                None => Poll::Pending,
            };
        };
        if matches!(failure, Failure::Write(_)) && self.legs[1 - failed].copy.is_some() {
            // The other direction reads the stream whose write failed: what its peer sent
            // before it went away is still queued there, and the read ends soon after it,
            // with an error or an EOF. Bounded, in case the healthy peer takes nothing; then
            // there is no point waiting for its send queue either.
            let watch = self.drain.get_or_insert_with(|| IdleWatch::new(self.drain_limit));
            if watch.poll(cx, self.activity.get()).is_pending() {
                self.failure = Some((failed, failure));
                return Poll::Pending;
            }
            return Poll::Ready(Err(Abort { error: failure.into_error(), healthy: None }));
        }
        let leg = &self.legs[failed];
        let healthy = match failure {
            Failure::Read(_) => leg.to,
            Failure::Write(_) => leg.from,
        };
        Poll::Ready(Err(Abort { error: failure.into_error(), healthy: Some(healthy) }))
    }
}

/// The idle timer: one sleep, pushed forward lazily when it fires after recent traffic, so
/// traffic itself never touches the timer heap.
struct IdleWatch {
    limit: Duration,
    sleep: Sleep,
}

impl IdleWatch {
    fn new(limit: Duration) -> IdleWatch {
        IdleWatch { limit, sleep: sleep(limit) }
    }

    fn poll(&mut self, cx: &mut Context<'_>, last_activity: Instant) -> Poll<io::Error> {
        loop {
            std::task::ready!(self.sleep.poll_elapsed(cx));
            // A limit past the end of time (Duration::MAX) never fires.
            let Some(deadline) = last_activity.checked_add(self.limit) else { return Poll::Pending };
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "connection idle"));
            }
            self.sleep.reset(deadline);
        }
    }
}

/// One direction: bytes `from -> to` until EOF (which the [`Pair`] passes on). Every byte
/// read from `from` is written to `to` before a failure is returned, so a reset loses none.
async fn forward(from: &Source, to: &Source, opts: &CopyOptions, activity: &Cell<Instant>) -> Result<u64, Failure> {
    let mut total = forward_leftovers(from, to).await?;
    let splice = match opts.splice {
        SpliceMode::Off => None,
        SpliceMode::Auto => match copy(from, to, opts, activity, Some(SPLICE_FROM)).await? {
            Copied::End(n) => return Ok(total + n),
            Copied::Bulk(n) => {
                // What the pooled reads' stream received meanwhile goes before the splice.
                total += n + forward_leftovers(from, to).await?;
                Some(SpliceMode::Readiness)
            }
        },
        mode => Some(mode),
    };
    if let Some(mode) = splice {
        if let Some(n) = forward_spliced(from, to, mode, opts.chunk, activity).await? {
            return Ok(total + n);
        }
    }
    match copy(from, to, opts, activity, None).await? {
        Copied::End(n) | Copied::Bulk(n) => Ok(total + n),
    }
}

/// The bytes one step of [`SpliceMode::Auto`] must move for the rest of its direction to be
/// spliced: a full buffer on epoll (64 KiB by default), four pool buffers' worth queued at
/// once on io_uring.
pub const SPLICE_FROM: usize = 64 * 1024;

/// How a stretch of copying ended.
enum Copied {
    /// End of stream, after this many bytes.
    End(u64),
    /// A step moved the bulk threshold it was given: this many bytes so far.
    Bulk(u64),
}

/// Writes to `to` the bytes earlier reads took off `from` and did not return (a dropped read,
/// a retired pooled stream, on io_uring): a splice would skip them. Returns their count.
async fn forward_leftovers(from: &Source, to: &Source) -> Result<u64, Failure> {
    let leftovers = from.take_leftovers().await;
    let n = leftovers.len() as u64;
    if n > 0 {
        let (res, _) = to.write_all(leftovers).await;
        res.map_err(Failure::Write)?;
    }
    Ok(n)
}

/// Copies through user space, through the core's pool where reads prefer it, until the end
/// of stream, or until one step moves `bulk` bytes or more.
async fn copy(
    from: &Source,
    to: &Source,
    opts: &CopyOptions,
    activity: &Cell<Instant>,
    bulk: Option<usize>,
) -> Result<Copied, Failure> {
    if from.prefers_pooled_reads() {
        if let Some(copied) = forward_pooled(from, to, activity, bulk).await? {
            return Ok(copied);
        }
        // Not a byte stream (a bare datagram Source): one datagram per read.
    }
    let chunk = opts.chunk.max(1);
    forward_buffered(from, to, chunk, activity, bulk.map(|b| b.min(chunk))).await
}

/// Splices through a pipe of its own. `None` when splice is not possible on these
/// descriptors (no pipe, or EINVAL before any byte moved): the caller copies instead.
async fn forward_spliced(
    from: &Source,
    to: &Source,
    mode: SpliceMode,
    chunk: usize,
    activity: &Cell<Instant>,
) -> Result<Option<u64>, Failure> {
    let Ok(pipe) = Pipe::new() else { return Ok(None) };
    // A bigger pipe means fewer steps; the kernel's cap (or an error) just leaves it smaller.
    let Ok(step) = pipe.set_capacity(chunk).or_else(|_| pipe.capacity()) else { return Ok(None) };
    let mut total = 0u64;
    loop {
        // The pipe is empty here: a failed read leaves nothing read behind.
        let n = match splice(mode, from, pipe.writer(), step).await {
            Err(e) if total == 0 && e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            res => res.map_err(Failure::Read)?,
        };
        if n == 0 {
            return Ok(Some(total));
        }
        let mut left = n;
        while left > 0 {
            left -= splice(mode, pipe.reader(), to, left).await.map_err(Failure::Write)?;
        }
        total += n as u64;
        activity.set(Instant::now());
    }
}

/// One splice step, the way `mode` asks.
async fn splice(mode: SpliceMode, from: &Source, to: &Source, len: usize) -> io::Result<usize> {
    match mode {
        SpliceMode::UringOp => from.splice_op_to(to, len).await,
        _ => from.splice_to(to, len).await,
    }
}

/// Buffers of one gathered write at most ([`forward_pooled`]): 256 KiB of 16 KiB buffers.
const POOLED_BATCH: usize = 16;

/// Copies through the core's pool (io_uring): the multishot recv fills ring buffers, and
/// every buffer it has queued by the time one arrives goes out in one `writev`, so a bulk
/// transfer costs about as many sends as with a large buffer of its own, while an idle
/// direction holds no buffer at all.
/// `None`: `from` is no byte stream, nothing was read.
async fn forward_pooled(
    from: &Source,
    to: &Source,
    activity: &Cell<Instant>,
    bulk: Option<usize>,
) -> Result<Option<Copied>, Failure> {
    let mut total = 0u64;
    let mut batch: Vec<Slice<PooledBuf>> = Vec::with_capacity(POOLED_BATCH);
    loop {
        let first = match from.read_pooled().await {
            Err(e) if total == 0 && e.kind() == io::ErrorKind::Unsupported => return Ok(None),
            res => res.map_err(Failure::Read)?,
        };
        if first.is_empty() {
            return Ok(Some(Copied::End(total)));
        }
        batch.push(first.slice(..));
        // Whatever is queued already, without waiting; an end or an error after it waits
        // until the bytes before it are written.
        let mut after: Option<io::Result<()>> = None;
        let mut cx = Context::from_waker(Waker::noop());
        while batch.len() < POOLED_BATCH {
            match from.poll_read_pooled(&mut cx) {
                Poll::Ready(Ok(buf)) if buf.is_empty() => after = Some(Ok(())),
                Poll::Ready(Ok(buf)) => {
                    batch.push(buf.slice(..));
                    continue;
                }
                Poll::Ready(Err(e)) => after = Some(Err(e)),
                Poll::Pending => {}
            }
            break;
        }
        let written = write_batch(to, &mut batch).await.map_err(Failure::Write)?;
        total += written as u64;
        activity.set(Instant::now());
        match after {
            Some(Ok(())) => return Ok(Some(Copied::End(total))),
            Some(Err(e)) => return Err(Failure::Read(e)),
            None if bulk.is_some_and(|b| written >= b) => return Ok(Some(Copied::Bulk(total))),
            None => {}
        }
    }
}

/// Writes every byte of `batch` with gathered writes, emptying it (each buffer goes back to
/// the pool as soon as it is sent); returns the bytes written.
async fn write_batch(to: &Source, batch: &mut Vec<Slice<PooledBuf>>) -> io::Result<usize> {
    let mut written = 0;
    while !batch.is_empty() {
        let (res, mut bufs) = to.writev(std::mem::take(batch)).await;
        let mut n = res?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
        // Drop what went out whole; resume a partly written buffer where it stopped.
        let mut rest = Vec::with_capacity(bufs.len());
        for buf in bufs.drain(..) {
            let len = buf.bytes_init();
            if n >= len {
                n -= len;
                continue;
            }
            let (begin, whole) = (buf.begin(), buf.into_inner());
            rest.push(whole.slice(begin + n..));
            n = 0;
        }
        *batch = rest;
    }
    Ok(written)
}

/// Copies through one reused buffer.
async fn forward_buffered(
    from: &Source,
    to: &Source,
    chunk: usize,
    activity: &Cell<Instant>,
    bulk: Option<usize>,
) -> Result<Copied, Failure> {
    let mut buf = Vec::with_capacity(chunk);
    let mut total = 0u64;
    loop {
        let (n, b) = from.read(buf).await;
        let n = n.map_err(Failure::Read)?;
        if n == 0 {
            return Ok(Copied::End(total));
        }
        let (res, b) = to.write_all(b).await;
        res.map_err(Failure::Write)?;
        buf = b;
        total += n as u64;
        activity.set(Instant::now());
        if bulk.is_some_and(|b| n >= b) {
            return Ok(Copied::Bulk(total));
        }
    }
}

/// Passes EOF on. A peer that is already gone (ENOTCONN) has nothing left to tell.
fn shutdown_write(to: &Source) -> io::Result<()> {
    match to.shutdown(std::net::Shutdown::Write) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
        other => other,
    }
}
