//! hyper 1.x on ringpoll (feature `hyper`): [`Io`] (hyper's `Read`/`Write` over a stream),
//! [`CoreExecutor`] (connection tasks on the current core) and [`CoreTimer`] (the core's
//! timers, for header read timeouts and keep-alive).
//!
//! hyper's server and client connections are plain futures: serve a connection with
//! `http1::Builder::new().timer(CoreTimer).serve_connection(Io::new(stream), service)` and run
//! it with `CoreExecutor` (or `ringpoll::spawn`). The `http` example of the `interop/` crate
//! is a whole server: `cargo run --release -p ringpoll-interop --example http`.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{ReadBufCursor, Sleep};

use crate::buf::PooledBuf;
use crate::net::{TcpStream, UnixStream};

/// hyper's I/O traits over a ringpoll stream ([`TcpStream`] or [`UnixStream`]).
///
/// Reads on io_uring are pooled: the connection's multishot recv fills buffers of the core's
/// ring as requests arrive, and a read copies from there into hyper's buffer, so a request
/// costs no `recv` syscall and an idle keep-alive connection holds no read buffer of ours.
/// When hyper's buffer has less room than a pooled buffer holds, the rest stays here for the
/// next read. On epoll, where a pooled read would add a copy and save no syscall, a read is
/// readiness plus one non-blocking `recv` straight into hyper's buffer.
///
/// On io_uring a client's end of stream often arrives in the same read as its request. A
/// server whose clients may shut down their write side after a request (`nc -N`, scripts)
/// should set hyper's `http1::Builder::half_close(true)`: without it hyper takes an end of
/// stream read before it answers for an abort and drops the response.
///
/// ```no_run
/// # async fn demo(stream: ringpoll::net::TcpStream) {
/// use ringpoll::hyper::Io;
///
/// let io = Io::new(stream);
/// // ... hyper serves a connection on `io` ...
/// let (stream, unread) = io.into_parts();
/// // `unread` came off the socket before anything `stream` reads next.
/// # drop((stream, unread));
/// # }
/// ```
#[derive(Debug)]
pub struct Io<S> {
    stream: S,
    /// The unread rest of the last pooled buffer, and how much of it was read.
    rest: Option<(PooledBuf, usize)>,
}

impl<S> Io<S> {
    /// Wraps `stream` for hyper.
    pub fn new(stream: S) -> Io<S> {
        Io { stream, rest: None }
    }

    /// The stream. Bytes [`into_parts`](Self::into_parts) would return come before what a
    /// read on it returns.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream back, with the bytes already received that no read has returned yet (the
    /// rest of a pooled buffer hyper's buffer had no room for; empty on epoll). They come
    /// before anything the stream reads next (and after hyper's own read buffer, for an
    /// upgraded connection's `Parts`).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let unread = self.rest.map(|(buf, at)| buf[at..].to_vec()).unwrap_or_default();
        (self.stream, unread)
    }
}
/// Views a slice of maybe-uninitialised bytes as bytes, for a syscall to write into.
///
/// # Safety
/// The caller must not read bytes of the result that nothing has written.
unsafe fn as_bytes(buf: &mut [MaybeUninit<u8>]) -> &mut [u8] {
    // SAFETY: MaybeUninit<u8> has u8's layout; reads are excluded by the caller's contract.
    unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) }
}

macro_rules! impl_io {
    ($stream:ty) => {
        #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
        impl ::hyper::rt::Read for Io<$stream> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                let pooled = this.stream.as_source().prefers_pooled_reads();
                if !pooled && this.rest.is_none() {
                    // SAFETY: the bytes are only handed to recv(2), which writes and never
                    // reads them; only the `n` bytes recv reports are advanced over below.
                    let n = ready!(this.stream.poll_read(cx, unsafe { as_bytes(buf.as_mut()) }))?;
                    // SAFETY: recv initialised the first n bytes of the cursor's unfilled part.
                    unsafe { buf.advance(n) };
                    return Poll::Ready(Ok(()));
                }
                if buf.remaining() == 0 {
                    return Poll::Ready(Ok(()));
                }
                let (pooled, at) = match &mut this.rest {
                    Some(rest) => rest,
                    None => {
                        let pooled = ready!(this.stream.poll_read_pooled(cx))?;
                        // End of stream: nothing put is hyper's EOF.
                        this.rest.insert((pooled, 0))
                    }
                };
                let n = buf.remaining().min(pooled.len() - *at);
                buf.put_slice(&pooled[*at..*at + n]);
                *at += n;
                if *at == pooled.len() {
                    // Back to the ring now, not at the next read.
                    this.rest = None;
                }
                Poll::Ready(Ok(()))
            }
        }

        #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
        impl ::hyper::rt::Write for Io<$stream> {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.stream.poll_write(cx, buf)
            }

            /// Sockets keep no user-space buffer: written bytes are already the kernel's.
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.stream.shutdown(Shutdown::Write))
            }
        }
    };
}

impl_io!(TcpStream);
impl_io!(UnixStream);

/// hyper's executor: runs futures as tasks on the current core (they need not be `Send`).
///
/// # Panics
/// `execute` panics off a ringpoll core, as [`crate::spawn`] does.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreExecutor;

impl<F> hyper::rt::Executor<F> for CoreExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        crate::spawn(future).detach();
    }
}

/// hyper's timer, on the current core's timers (header read timeouts, keep-alive).
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreTimer;

/// A ringpoll sleep as hyper's `Sleep`.
struct CoreSleep(crate::time::Sleep);

impl Future for CoreSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll_elapsed(cx)
    }
}

impl Sleep for CoreSleep {}

impl ::hyper::rt::Timer for CoreTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoreSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoreSleep(crate::time::sleep_until(deadline)))
    }

    /// Moves our own sleeps in place instead of allocating a new one per keep-alive request.
    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoreSleep>() {
            Some(ours) => ours.get_mut().0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
