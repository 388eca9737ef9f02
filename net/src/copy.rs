//! Copying between two streams in both directions, for proxies.
//!
//! Each direction moves bytes until its reader sees EOF, then shuts down the write half of
//! the other stream, so a half-close travels through while the other direction keeps
//! flowing. Bytes move with `splice(2)` through a pipe per direction where the descriptors
//! allow it (zero-copy, on both drivers), through user-space buffers otherwise: on io_uring
//! the core's pool (pooled reads, several buffers per gathered write), on epoll one buffer
//! per direction.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringpoll_reactor::time::{sleep_until, Sleep};
use ringpoll_reactor::{IoBuf, Pipe, PooledBuf, Slice, Source};

use crate::{TcpStream, UnixStream};

/// How [`copy_bidirectional`] moves bytes.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Fail with `TimedOut` when no byte has moved either way for this long (None: never).
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
        CopyOptions { idle_timeout: None, splice: SpliceMode::Readiness, chunk: 64 * 1024 }
    }
}

/// How [`copy_bidirectional`] moves bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SpliceMode {
    /// Through a user-space buffer (read, then write).
    Off,
    /// `splice(2)` through a pipe, non-blocking, with readiness
    /// ([`Source::splice_to`]): the cheapest on both drivers.
    #[default]
    Readiness,
    /// IORING_OP_SPLICE ops on io_uring ([`Source::splice_op_to`]); as `Readiness` on epoll.
    UringOp,
}

impl std::str::FromStr for SpliceMode {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<SpliceMode> {
        match s {
            "off" => Ok(SpliceMode::Off),
            "readiness" | "on" => Ok(SpliceMode::Readiness),
            "op" => Ok(SpliceMode::UringOp),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("splice mode {s:?}: off, readiness or op"))),
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
/// `TimedOut` after `idle_timeout` without traffic; either way both streams are closed.
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
    let (a, b) = (a.into_source()?, b.into_source()?);
    let activity = Cell::new(Instant::now());
    let ab = pin!(forward(&a, &b, opts, &activity));
    let ba = pin!(forward(&b, &a, opts, &activity));
    let mut both = Join { a: Some(ab), b: Some(ba), out: (None, None) };
    let mut idle = opts.idle_timeout.map(|t| IdleWatch { limit: t, sleep: sleep_until(Instant::now() + t) });
    poll_fn(|cx| {
        if let Poll::Ready(res) = both.poll(cx) {
            return Poll::Ready(res.map(|(a_to_b, b_to_a)| CopyStats { a_to_b, b_to_a }));
        }
        match &mut idle {
            Some(watch) => watch.poll(cx, activity.get()).map(Err),
            None => Poll::Pending,
        }
    })
    .await
}

/// Two fallible futures polled together; the first error wins.
struct Join<F1, F2> {
    a: Option<F1>,
    b: Option<F2>,
    out: (Option<u64>, Option<u64>),
}

impl<F1, F2> Join<F1, F2>
where
    F1: Future<Output = io::Result<u64>> + Unpin,
    F2: Future<Output = io::Result<u64>> + Unpin,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(u64, u64)>> {
        if let Some(f) = &mut self.a {
            if let Poll::Ready(res) = pin!(f).poll(cx) {
                self.out.0 = Some(res?);
                self.a = None;
            }
        }
        if let Some(f) = &mut self.b {
            if let Poll::Ready(res) = pin!(f).poll(cx) {
                self.out.1 = Some(res?);
                self.b = None;
            }
        }
        match self.out {
            (Some(x), Some(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    }
}

/// The idle timer: one sleep, pushed forward lazily when it fires after recent traffic, so
/// traffic itself never touches the timer heap.
struct IdleWatch {
    limit: Duration,
    sleep: Sleep,
}

impl IdleWatch {
    fn poll(&mut self, cx: &mut Context<'_>, last_activity: Instant) -> Poll<io::Error> {
        loop {
            std::task::ready!(self.sleep.poll_elapsed(cx));
            let deadline = last_activity + self.limit;
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "connection idle"));
            }
            self.sleep.reset(deadline);
        }
    }
}

/// One direction: bytes `from -> to` until EOF, then shutdown(Write) on `to`.
async fn forward(from: &Source, to: &Source, opts: &CopyOptions, activity: &Cell<Instant>) -> io::Result<u64> {
    // Bytes a dropped read took off `from` (io_uring) go first: a splice would skip them.
    let leftovers = from.take_leftovers().await;
    let mut total = leftovers.len() as u64;
    if !leftovers.is_empty() {
        let (res, _) = to.write_all(leftovers).await;
        res?;
    }
    let spliced = match opts.splice {
        SpliceMode::Off => None,
        mode => forward_spliced(from, to, mode, opts.chunk, activity).await?,
    };
    total += match spliced {
        Some(n) => n,
        None if from.prefers_pooled_reads() => match forward_pooled(from, to, activity).await? {
            Some(n) => n,
            // Not a byte stream (a bare datagram Source): one datagram per read.
            None => forward_buffered(from, to, opts.chunk, activity).await?,
        },
        None => forward_buffered(from, to, opts.chunk, activity).await?,
    };
    shutdown_write(to)?;
    Ok(total)
}

/// Splices through a pipe of its own. `None` when splice is not possible on these
/// descriptors (no pipe, or EINVAL before any byte moved): the caller copies instead.
async fn forward_spliced(
    from: &Source,
    to: &Source,
    mode: SpliceMode,
    chunk: usize,
    activity: &Cell<Instant>,
) -> io::Result<Option<u64>> {
    let Ok(pipe) = Pipe::new() else { return Ok(None) };
    // A bigger pipe means fewer steps; the kernel's cap (or an error) just leaves it smaller.
    let step = pipe.set_capacity(chunk).or_else(|_| pipe.capacity())?;
    let mut total = 0u64;
    loop {
        let n = match splice(mode, from, pipe.writer(), step).await {
            Err(e) if total == 0 && e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            res => res?,
        };
        if n == 0 {
            return Ok(Some(total));
        }
        let mut left = n;
        while left > 0 {
            left -= splice(mode, pipe.reader(), to, left).await?;
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
async fn forward_pooled(from: &Source, to: &Source, activity: &Cell<Instant>) -> io::Result<Option<u64>> {
    let mut total = 0u64;
    let mut batch: Vec<Slice<PooledBuf>> = Vec::with_capacity(POOLED_BATCH);
    loop {
        let first = match from.read_pooled().await {
            Err(e) if total == 0 && e.kind() == io::ErrorKind::Unsupported => return Ok(None),
            res => res?,
        };
        if first.is_empty() {
            return Ok(Some(total));
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
        total += write_batch(to, &mut batch).await? as u64;
        activity.set(Instant::now());
        match after {
            Some(Ok(())) => return Ok(Some(total)),
            Some(Err(e)) => return Err(e),
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
async fn forward_buffered(from: &Source, to: &Source, chunk: usize, activity: &Cell<Instant>) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(chunk.max(1));
    let mut total = 0u64;
    loop {
        let (n, b) = from.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(total);
        }
        let (res, b) = to.write_all(b).await;
        res?;
        buf = b;
        total += n as u64;
        activity.set(Instant::now());
    }
}

/// Passes EOF on. A peer that is already gone (ENOTCONN) has nothing left to tell.
fn shutdown_write(to: &Source) -> io::Result<()> {
    match to.shutdown(std::net::Shutdown::Write) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(()),
        other => other,
    }
}
