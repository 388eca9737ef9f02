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

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::{self, Accepting, Run};
use crate::interest::Interest;
use crate::op::{Connect, Op, Recv, RecvFrom, RecvSlice, Send, SendSlice, SendTo, Writev};
use crate::pool::PooledBuf;
use crate::sockaddr::SockAddr;
use crate::source::Source;
use crate::sys;
use crate::turn::Turned;
pub use crate::write_all::PartialWrite;
use crate::write_all::WriteAll;

impl Source {
    /// Receives into `buf` (from its start, up to its capacity; [`IoBufMut::spare`] reads
    /// after the bytes a buffer holds). `Ok(0)` is end of stream, so on a stream socket a
    /// buffer with no room is `InvalidInput` instead. On a datagram socket it receives one
    /// datagram (the rest of a longer one is discarded).
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.receive(buf, false)
    }

    /// Copies what [`read`](Self::read) would receive into `buf`, but leaves it queued
    /// (MSG_PEEK): the next read or peek gets the same bytes (or datagram). It waits until
    /// something arrives; a peek never waits for `buf` to fill, so peeking for a whole
    /// header means peeking again once more has arrived (wait with `readable()`). Bytes a
    /// dropped io_uring read took come first, as they do for the next read.
    pub fn peek<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.receive(buf, true)
    }

    fn receive<B: IoBufMut>(&self, mut buf: B, peek: bool) -> Read<'_, B> {
        if !self.registration().is_stream() {
            return Read::Datagram(self.run(if peek { RecvFrom::peek(buf) } else { RecvFrom::new(buf) }));
        }
        if buf.bytes_total() == 0 {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "read into a buffer with no room");
            return Read::Refused(Some((err, buf)));
        }
        Read::Stream(self.run(if peek { Recv::peek(buf) } else { Recv::new(buf) }))
    }

    /// Receives whatever arrives next on a byte stream into a buffer of the core's pool; an
    /// empty [`PooledBuf`] is end of stream. The buffer is taken when data arrives, not
    /// before, so a connection waiting here holds none; dropping the `PooledBuf` gives it
    /// back. On io_uring a multishot recv fills buffers of the core's provided-buffer ring;
    /// on epoll readiness is followed by `recv` into a pool buffer. Dropping the future loses
    /// nothing: bytes received meanwhile wait for the next read, pooled or not.
    pub fn read_pooled(&self) -> impl Future<Output = io::Result<PooledBuf>> + '_ {
        if let Err(err) = self.check_pooled() {
            return ReadPooled::Refused(Some(err));
        }
        let pool = self.reactor().heap_pool().clone();
        ReadPooled::Reading(self.turned(Interest::Read, self.reactor().driver().read_pooled(self.target(), pool)))
    }

    /// [`read_pooled`](Self::read_pooled) in poll style, for compatibility layers that keep
    /// no future between polls (hyper's `Read`): the next buffer, or `cx` registered for the
    /// data. A `Pending` holds nothing: what arrives meanwhile waits for the next read, pooled
    /// or not. Unlike `read_pooled` it does not take turns with other readers of the source.
    pub fn poll_read_pooled(&self, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        self.check_pooled()?;
        let pool = self.reactor().heap_pool().clone();
        // Every state of the read lives in the source (io_uring's multishot recv) or is
        // rebuilt by a fresh try (readiness), so a new future per poll loses nothing.
        let mut read = self.reactor().driver().read_pooled(self.target(), pool);
        Pin::new(&mut read).poll(cx)
    }

    /// Whether [`read_pooled`](Self::read_pooled) is the cheaper way to read here: true on
    /// io_uring, where a multishot recv fills the core's buffers with no syscall per read;
    /// false on epoll, where it is a `recv` into a pool buffer, so code that already holds a
    /// buffer (a compatibility layer, a copy loop) is better off reading into that.
    pub fn prefers_pooled_reads(&self) -> bool {
        self.reactor().driver().prefers_pooled_reads()
    }

    /// Pooled reads are for byte streams: a datagram's bounds would be lost in a pool buffer.
    fn check_pooled(&self) -> io::Result<()> {
        match self.registration().is_stream() {
            true => Ok(()),
            false => Err(io::Error::new(io::ErrorKind::Unsupported, "pooled reads are for byte streams")),
        }
    }

    /// Sends the initialised bytes of `buf`; returns how many were taken (maybe fewer).
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.send(buf)
    }

    /// The one send of [`write`](Self::write), named, so [`WriteAll`] can hold it.
    #[inline]
    pub(crate) fn send<B: IoBuf>(&self, buf: B) -> Turned<'_, Run<'_, Send<B>>> {
        self.run(self.send_op(buf))
    }

    /// The send operation for `buf`, which [`WriteAll`] also runs for the rest of a buffer on
    /// the turn of the send before (`Turned::continue_with`).
    #[inline]
    pub(crate) fn send_op<B: IoBuf>(&self, buf: B) -> Send<B> {
        Send::new(buf, self.registration().is_stream())
    }

    /// Sends all of `buf`, however many sends it takes. An error after some bytes went out
    /// (a write deadline, a reset) carries their count: see [`PartialWrite`].
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> + '_ {
        WriteAll::new(self, buf)
    }

    /// Sends several buffers in one gathered write (sendmsg; SENDMSG on io_uring): at most
    /// the first 1,024 (UIO_MAXIOV), so the count may stop short of a longer list.
    pub fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> impl Future<Output = BufResult<usize, Vec<B>>> + '_ {
        self.run(Writev::new(bufs))
    }

    /// Accepts a connection: a non-blocking, close-on-exec socket and its peer's address.
    /// ECONNABORTED (the peer gave up in the queue) is retried; EMFILE and ENFILE are returned.
    /// On io_uring one multishot accept per listener queues connections (up to 64) between
    /// calls; dropping the listener closes the queued ones.
    pub fn accept(&self) -> impl Future<Output = io::Result<(OwnedFd, SockAddr)>> + '_ {
        AcceptConn { source: self, accepting: self.accepting() }
    }

    /// One accept on the read turn.
    fn accepting(&self) -> Turned<'_, Accepting<'_>> {
        self.turned(Interest::Read, self.reactor().driver().accept(self.target()))
    }

    /// Connects a non-blocking socket to `addr`, reporting the connection's own error. A Unix
    /// stream socket whose listener's backlog is full waits for room, as a blocking connect
    /// does (trying again after 1 ms, doubling to 50 ms: no readiness event announces room);
    /// bound it with a write deadline or a `timeout`.
    pub fn connect(&self, addr: SockAddr) -> impl Future<Output = io::Result<()>> + '_ {
        let mut connect = Connect::new(addr);
        async move {
            if !connect.is_unix() {
                return self.run(connect).await;
            }
            // By its readiness half on both drivers: the ring's CONNECT would spin on a full
            // backlog (see `Connect`).
            let res = self.run_by_readiness(&mut connect).await;
            connect.finish(res)
        }
    }

    /// Shuts down the read half, the write half (sends FIN: the peer reads EOF), or both.
    /// Operations waiting on the socket see EOF or an error and end.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.fd(), how)
    }

    /// Every byte that dropped reads received and no read has returned yet: on io_uring a
    /// read whose future is dropped may already have taken bytes off the socket, and a read
    /// hands them out first; code that moves bytes past `read` (a splice) must take them
    /// here first. Always empty on epoll, where a dropped read never took anything. An error
    /// that ended them (a reset) is not taken: the next read, receive or splice reports it.
    pub async fn take_leftovers(&self) -> Vec<u8> {
        self.reactor().driver().take_leftover_bytes(self.target()).await
    }

    /// The socket's pending error (SO_ERROR), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_socket_error(self.fd())
    }

    /// Receives a datagram into `buf` and the sender's address.
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<(usize, SockAddr), B>> + '_ {
        self.run(RecvFrom::new(buf))
    }

    /// Copies the next datagram into `buf` with its sender, as
    /// [`recv_from`](Self::recv_from) does, but leaves it queued (MSG_PEEK): the next receive
    /// or peek gets the same datagram.
    pub fn peek_from<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<(usize, SockAddr), B>> + '_ {
        self.run(RecvFrom::peek(buf))
    }

    /// Sends `buf` as one datagram to `addr`.
    pub fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.run(SendTo::new(buf, addr))
    }

    /// Non-blocking receive into a borrowed slice, parking on readiness: no internal copy on
    /// either driver. For compatibility layers (`AsyncRead`). What dropped owned-buffer reads
    /// left (io_uring) comes first.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_syscall(cx, &mut RecvSlice { buf, stream: self.registration().is_stream() })
    }

    /// Non-blocking send from a borrowed slice, parking on readiness (`AsyncWrite`). On both
    /// drivers `Pending` means nothing was sent, as tokio promises.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_syscall(cx, &mut SendSlice { buf, stream: self.registration().is_stream() })
    }
}

/// The future of [`Source::read`]: a stream receive, a datagram receive, or a refusal.
enum Read<'a, B: IoBufMut> {
    Stream(Turned<'a, Run<'a, Recv<B>>>),
    Datagram(Turned<'a, Run<'a, RecvFrom<B>>>),
    Refused(Option<(io::Error, B)>),
}

// Only the ops' futures are inside, which are Unpin.
impl<B: IoBufMut> Unpin for Read<'_, B> {}

impl<B: IoBufMut> Future for Read<'_, B> {
    type Output = BufResult<usize, B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Read::Stream(recv) => Pin::new(recv).poll(cx),
            Read::Datagram(recv) => {
                let (res, buf) = ready!(Pin::new(recv).poll(cx));
                Poll::Ready((res.map(|(n, _from)| n), buf))
            }
            Read::Refused(refusal) => {
                let (err, buf) = refusal.take().expect("Source::read polled after completion");
                Poll::Ready((Err(err), buf))
            }
        }
    }
}

/// The future of [`Source::read_pooled`].
enum ReadPooled<'a> {
    Reading(Turned<'a, driver::ReadPooled<'a>>),
    Refused(Option<io::Error>),
}

impl Future for ReadPooled<'_> {
    type Output = io::Result<PooledBuf>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ReadPooled::Reading(read) => Pin::new(read).poll(cx),
            ReadPooled::Refused(err) => Poll::Ready(Err(err.take().expect("read_pooled polled after completion"))),
        }
    }
}

/// The future of [`Source::accept`]: accepts until a connection did not abort in the queue.
struct AcceptConn<'a> {
    source: &'a Source,
    accepting: Turned<'a, Accepting<'a>>,
}

impl Future for AcceptConn<'_> {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match ready!(Pin::new(&mut this.accepting).poll(cx)) {
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => this.accepting = this.source.accepting(),
                other => return Poll::Ready(other),
            }
        }
    }
}
