//! tokio's readiness API on a [`Source`]: wait until a direction is ready, then try the
//! non-blocking syscall yourself.
//!
//! Readiness here is tokio's, not Go's: once an event marks a direction ready it stays so
//! until a try of that direction meets `WouldBlock` (tokio's `try_io` rule). On epoll that
//! is the point: an edge-triggered fd reports no second edge for bytes a try left unread, so
//! a wait that consumed the edge would hang. On io_uring the mark saves a POLL_ADD per wait
//! while the socket stays ready. Either way a mark may be stale (another reader emptied the
//! socket); the try then says `WouldBlock` and the next wait is a real one.
//!
//! A wait runs on its direction's turn, as every operation does, so several tasks waiting on
//! one direction are each woken in turn (the driver keeps one waiter per direction). A wait
//! dropped while pending gives its turn back; what it asked of the driver stays for the next
//! wait of that direction (epoll: the PollDesc's waiter slot; io_uring: the one POLL_ADD the
//! direction may have in flight, which close cancels), so nothing piles up.
//!
//! A try takes no turn and never waits. On io_uring, a receive first takes what dropped
//! receives left, and says `WouldBlock` while one is still in the kernel: its bytes come
//! before the socket's.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice, IoSliceMut};
use std::task::{ready, Context, Poll};

use crate::interest::Interest;
use crate::op::{RecvFromSlice, RecvSlice, RecvVectored, SendSlice, SendToSlice, SendVectored, Syscall};
use crate::sockaddr::SockAddr;
use crate::source::Source;

impl Source {
    /// Ready while the source is ready for `interest` (data, room, end of stream or an
    /// error), without consuming it: the readiness stays until a try meets `WouldBlock`. Fails
    /// with `TimedOut` once the direction's deadline has passed. Unlike
    /// [`readiness`](Self::readiness) it takes no turn: as the other poll-style methods, it
    /// remembers one task per direction, the last that polled.
    pub fn poll_readiness(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A loop of waits that keep finding the socket ready must still let other tasks run.
        ready!(crate::budget::poll_proceed(cx));
        if let Poll::Ready(e) = self.target().poll_deadline(interest, cx) {
            return Poll::Ready(Err(e));
        }
        self.reactor().driver().poll_readiness(self.target(), interest, cx)
    }

    /// Waits until the source is ready for `interest`, on the direction's turn; see
    /// [`poll_readiness`](Self::poll_readiness).
    pub fn readiness(&self, interest: Interest) -> impl Future<Output = io::Result<()>> + '_ {
        self.turned(interest, poll_fn(move |cx| self.poll_readiness(interest, cx)))
    }

    /// Whether the driver has seen the direction of `interest` closed: the peer hung up (for
    /// reads) or the socket failed. A hint that only grows; a read of 0 bytes, or an error,
    /// is the proof.
    pub fn is_closed(&self, interest: Interest) -> bool {
        self.reactor().driver().is_closed(self.target(), interest)
    }

    /// One non-blocking receive into `buf`; `WouldBlock` clears the read readiness. On a
    /// datagram socket, one datagram (the rest of a longer one is discarded).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_syscall(&mut RecvSlice { buf, stream: self.registration().is_stream() })
    }

    /// One non-blocking send of `buf`; `WouldBlock` clears the write readiness.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_syscall(&mut SendSlice { buf, stream: self.registration().is_stream() })
    }

    /// One non-blocking scattered receive of stream bytes into `bufs`, in order.
    pub fn try_recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.try_syscall(&mut RecvVectored { bufs })
    }

    /// One non-blocking gathered send of `bufs` (at most the first 1,024, UIO_MAXIOV).
    pub fn try_send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.try_syscall(&mut SendVectored { bufs, stream: self.registration().is_stream() })
    }

    /// One non-blocking receive of a datagram into `buf`, with its sender.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.try_receive_from(RecvFromSlice::new(buf, false))
    }

    /// As [`try_recv_from`](Self::try_recv_from), but the datagram stays queued (MSG_PEEK).
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.try_receive_from(RecvFromSlice::new(buf, true))
    }

    fn try_receive_from(&self, mut recv: RecvFromSlice<'_>) -> io::Result<(usize, SockAddr)> {
        let n = self.try_syscall(&mut recv)?;
        Ok((n, recv.sender()))
    }

    /// One non-blocking send of `buf` as a datagram to `to`.
    pub fn try_send_to(&self, buf: &[u8], to: SockAddr) -> io::Result<usize> {
        self.try_syscall(&mut SendToSlice { buf, to })
    }

    /// One non-blocking call of the caller's own syscall on the direction of `interest`
    /// (tokio's `try_io`): `WouldBlock` from it clears that readiness, as the built-in tries'
    /// does, so the next wait is a real one; EINTR calls it again. It must not block (the fd
    /// is non-blocking: pass `MSG_DONTWAIT` or the like to calls that take flags). On
    /// io_uring, bytes dropped receives left stay for the next built-in receive: a caller's
    /// syscall that reads would see the socket's bytes after them.
    pub fn try_io<T>(&self, interest: Interest, syscall: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let mut call = crate::op::Custom { interest, syscall, out: None };
        self.try_syscall(&mut call)?;
        Ok(call.out.take().expect("the syscall succeeded"))
    }

    fn try_syscall<S: Syscall>(&self, syscall: &mut S) -> io::Result<usize> {
        self.reactor().driver().try_syscall(self.target(), syscall)
    }
}
