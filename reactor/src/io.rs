//! The owned-buffer socket operations of a [`Source`]: each builds its op (see `op/`) and
//! hands it to the driver layer. Nothing here knows which driver runs.
//!
//! **What a dropped future may have done.** On epoll an operation's syscall runs inside a
//! poll of its future: a future dropped before it completed has moved nothing. On io_uring
//! the kernel may have carried out the operation between the submission and the drop:
//! a dropped read or accept hands what it took to the next one (nothing is lost); a dropped
//! write or send may have sent some or all of its bytes, and there is no one left to tell.
//! Code that must know (a protocol that cannot repeat bytes) should await writes rather than
//! drop them, or use the poll-style [`Source::poll_send`], whose `Pending` means nothing was
//! sent on both drivers.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::interest::Interest;
use crate::op::{Accept, Connect, Recv, RecvFrom, RecvSlice, Send, SendSlice, SendTo, Writev};
use crate::pool::PooledBuf;
use crate::sockaddr::SockAddr;
use crate::source::Source;
use crate::sys;

/// The error of a [`Source::write_all`] that stopped part way, with how many bytes went out
/// before it (Go's `Write` returns `n` with its error). Its [`io::ErrorKind`] is the cause's;
/// find it with [`PartialWrite::of`].
#[derive(Debug)]
pub struct PartialWrite {
    /// Bytes sent before the error.
    pub written: usize,
    /// What stopped the write.
    pub cause: io::Error,
}

impl PartialWrite {
    /// How many bytes a failed `write_all` had sent, if `err` came from one that sent any.
    pub fn of(err: &io::Error) -> Option<usize> {
        err.get_ref().and_then(|e| e.downcast_ref::<PartialWrite>()).map(|p| p.written)
    }
}

impl fmt::Display for PartialWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} after {} bytes were written", self.cause, self.written)
    }
}

impl std::error::Error for PartialWrite {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

impl Source {
    /// Receives into `buf` (from its start, up to its capacity; [`IoBufMut::spare`] reads
    /// after the bytes a buffer holds). `Ok(0)` is end of stream, so on a stream socket a
    /// buffer with no room is `InvalidInput` instead. On a datagram socket it receives one
    /// datagram (the rest of a longer one is discarded).
    pub async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        if self.registration().is_stream() {
            if buf.bytes_total() == 0 {
                let err = io::Error::new(io::ErrorKind::InvalidInput, "read into a buffer with no room");
                return (Err(err), buf);
            }
            return self.run(Recv::new(buf)).await;
        }
        let (res, buf) = self.run(RecvFrom::new(buf)).await;
        (res.map(|(n, _from)| n), buf)
    }

    /// Receives whatever arrives next on a byte stream into a buffer of the core's pool; an
    /// empty [`PooledBuf`] is end of stream. The buffer is taken when data arrives, not
    /// before, so a connection waiting here holds none; dropping the `PooledBuf` gives it
    /// back. On io_uring a multishot recv fills buffers of the core's provided-buffer ring;
    /// on epoll readiness is followed by `recv` into a pool buffer. Dropping the future loses
    /// nothing: bytes received meanwhile wait for the next read, pooled or not.
    pub async fn read_pooled(&self) -> io::Result<PooledBuf> {
        if !self.registration().is_stream() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "pooled reads are for byte streams"));
        }
        let pool = self.reactor().heap_pool().clone();
        self.turned(Interest::Read, self.reactor().driver().read_pooled(self.target(), pool)).await
    }

    /// [`read_pooled`](Self::read_pooled) in poll style, for compatibility layers that keep
    /// no future between polls (hyper's `Read`): the next buffer, or `cx` registered for the
    /// data. A `Pending` holds nothing: what arrives meanwhile waits for the next read, pooled
    /// or not. Unlike `read_pooled` it does not take turns with other readers of the source.
    pub fn poll_read_pooled(&self, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        if !self.registration().is_stream() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::Unsupported, "pooled reads are for byte streams")));
        }
        let pool = self.reactor().heap_pool().clone();
        // Every state of the read lives in the source (io_uring's multishot recv) or is
        // rebuilt by a fresh try (readiness), so a new future per poll loses nothing.
        let mut read = self.reactor().driver().read_pooled(self.target(), pool);
        std::pin::Pin::new(&mut read).poll(cx)
    }

    /// Sends the initialised bytes of `buf`; returns how many were taken (maybe fewer).
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.run(Send::new(buf, self.registration().is_stream())).await
    }

    /// Sends all of `buf`, however many sends it takes. An error after some bytes went out
    /// (a write deadline, a reset) carries their count: see [`PartialWrite`].
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut slice = buf.slice(..);
        while slice.begin() < total {
            let (res, s) = self.write(slice).await;
            let (begin, whole) = (s.begin(), s.into_inner());
            match res {
                Ok(0) => return (Err(partial(begin, io::ErrorKind::WriteZero.into())), whole),
                Ok(n) => slice = whole.slice(begin + n..),
                Err(e) => return (Err(partial(begin, e)), whole),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// Sends several buffers in one gathered write (sendmsg; SENDMSG on io_uring).
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.run(Writev::new(bufs)).await
    }

    /// Accepts a connection: a non-blocking, close-on-exec socket and its peer's address.
    /// ECONNABORTED (the peer gave up in the queue) is retried; EMFILE and ENFILE are returned.
    pub async fn accept(&self) -> io::Result<(OwnedFd, SockAddr)> {
        loop {
            match self.run(Accept::new()).await {
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                other => return other,
            }
        }
    }

    /// Connects a non-blocking socket to `addr`, reporting the connection's own error.
    pub async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        self.run(Connect::new(addr)).await
    }

    /// Shuts down the read half, the write half (sends FIN: the peer reads EOF), or both.
    /// Operations waiting on the socket see EOF or an error and end.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.fd(), how)
    }

    /// Every byte that dropped reads received and no read has returned yet: on io_uring a
    /// read whose future is dropped may already have taken bytes off the socket, and a read
    /// hands them out first; code that moves bytes past `read` (a splice) must take them
    /// here first. Always empty on epoll, where a dropped read never took anything.
    pub async fn take_leftovers(&self) -> Vec<u8> {
        self.reactor().driver().take_leftover_bytes(self.target()).await
    }

    /// The socket's pending error (SO_ERROR), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_socket_error(self.fd())
    }

    /// Receives a datagram into `buf` and the sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SockAddr), B> {
        self.run(RecvFrom::new(buf)).await
    }

    /// Sends `buf` as one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        self.run(SendTo::new(buf, addr)).await
    }

    /// Non-blocking receive into a borrowed slice, parking on readiness: no internal copy on
    /// either driver. For compatibility layers (`AsyncRead`). What dropped owned-buffer reads
    /// left (io_uring) comes first.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_syscall(cx, RecvSlice { buf, stream: self.registration().is_stream() })
    }

    /// Non-blocking send from a borrowed slice, parking on readiness (`AsyncWrite`). On both
    /// drivers `Pending` means nothing was sent, as tokio promises.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_syscall(cx, SendSlice { buf, stream: self.registration().is_stream() })
    }
}

/// `err` with the count of bytes already sent, if any were.
fn partial(written: usize, cause: io::Error) -> io::Error {
    match written {
        0 => cause,
        _ => io::Error::new(cause.kind(), PartialWrite { written, cause }),
    }
}
