//! Source: a descriptor owned by the current core's reactor, and its readiness.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;

use io_uring::{opcode, types};

use crate::deadline::{self, Deadlines};
use crate::poll_desc::{Interest, Token};
use crate::reactor::{Driver, Reactor};
use crate::sys::cqe_result;
use crate::uring::op_table::{Completion, OpId};
use crate::uring::receive_gate::ReceiveGate;
use crate::uring::Op;

/// A socket registered with the current core's reactor; closing it is the reactor's job.
///
/// On epoll it owns a PollDesc; on io_uring it needs no registration, and readiness (for the
/// poll-style methods) is an IORING_OP_POLL_ADD per direction. A `Source` is bound to the core
/// that created it (`!Send`).
pub struct Source {
    reactor: Rc<Reactor>,
    fd: RawFd,
    token: Option<Token>,
    /// io_uring POLL_ADD ops in flight, for Read and Write.
    polls: [Cell<Option<OpId>>; 2],
    /// Orders receives around dropped ones on io_uring (see `ReceiveGate`).
    pub(crate) gate: Rc<ReceiveGate>,
    deadlines: Deadlines,
    /// The io_uring op each direction waits on, so a moved deadline can wake it.
    parked: [Cell<Option<OpId>>; 2],
    /// A byte stream: a short read or write means the socket is drained (see `transfer`).
    stream: bool,
    /// The last transfer of each direction drained the socket: wait for readiness before the
    /// next syscall instead of paying for an EAGAIN (what tokio does after a short read).
    drained: [Cell<bool>; 2],
}

impl Source {
    /// Takes ownership of `fd` (which must be non-blocking) and registers it with the calling
    /// thread's reactor.
    pub fn new(fd: OwnedFd) -> io::Result<Source> {
        Source::register(fd, false)
    }

    /// As [`Source::new`], for a byte-stream socket (TCP, Unix stream): a short read or write
    /// then proves the socket drained, which saves the EAGAIN syscall that would confirm it.
    /// Not for datagrams, where a short read says nothing about the next one.
    pub fn new_stream(fd: OwnedFd) -> io::Result<Source> {
        Source::register(fd, true)
    }

    fn register(fd: OwnedFd, stream: bool) -> io::Result<Source> {
        let reactor = Reactor::current()?;
        let token = match &reactor.driver {
            Driver::Epoll(epoll) => Some(epoll.register(fd.as_raw_fd())?),
            Driver::Uring(_) => None,
        };
        reactor.stats().sources_open.bump();
        Ok(Source {
            reactor,
            fd: fd.into_raw_fd(),
            token,
            polls: Default::default(),
            gate: Rc::default(),
            deadlines: Deadlines::default(),
            parked: Default::default(),
            stream,
            drained: Default::default(),
        })
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.stream
    }

    /// The descriptor, still owned by the source.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The reactor the source is registered with.
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// Sets (or clears, with None) the deadline of `interest`, as Go's `SetReadDeadline` and
    /// `SetWriteDeadline` do: it applies to an operation already waiting and to later ones,
    /// which fail with `TimedOut` once it has passed. A waiting operation is woken to pick up
    /// the change.
    pub fn set_deadline(&self, interest: Interest, at: Option<Instant>) {
        self.deadlines.set(interest, at);
        let mut wake = Vec::new();
        match &self.reactor.driver {
            Driver::Epoll(epoll) => epoll.take_waiters(self.token(), interest, &mut wake),
            Driver::Uring(uring) => {
                let ops = [self.parked[interest as usize].get(), self.polls[interest as usize].get()];
                wake.extend(ops.into_iter().flatten().filter_map(|id| uring.waker_of(id)));
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// The deadline of `interest`.
    pub fn deadline(&self, interest: Interest) -> Option<Instant> {
        self.deadlines.get(interest)
    }

    fn token(&self) -> Token {
        self.token.expect("epoll source without a token")
    }

    /// Awaits an io_uring op of direction `interest`, under that direction's deadline: when it
    /// passes, the op is cancelled and still awaited, so its buffer comes back and a result
    /// that beat the cancel is kept. A cancelled op reports ETIMEDOUT.
    pub(crate) async fn complete<T: 'static>(&self, interest: Interest, mut op: Op<'_, T>) -> (Completion, T) {
        let mut timed_out = false;
        let (mut done, data) = poll_fn(|cx| {
            if let Poll::Ready(out) = Pin::new(&mut op).poll(cx) {
                self.parked[interest as usize].set(None);
                return Poll::Ready(out);
            }
            self.parked[interest as usize].set(op.id());
            if !timed_out && self.deadlines.poll_expired(interest, cx).is_ready() {
                op.cancel();
                timed_out = true;
            }
            Poll::Pending
        })
        .await;
        if timed_out && done.result == -libc::ECANCELED {
            done.result = -libc::ETIMEDOUT;
        }
        (done, data)
    }

    /// Go's wait half: Ready when an edge (epoll) or a POLL_ADD completion (io_uring) says the
    /// descriptor is ready for `interest`; the caller then retries its non-blocking syscall.
    /// Fails with `TimedOut` once the direction's deadline has passed.
    pub fn poll_ready(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.deadlines.poll_expired(interest, cx).is_ready() {
            return Poll::Ready(Err(deadline::exceeded()));
        }
        match &self.reactor.driver {
            Driver::Epoll(epoll) => epoll.poll_ready(self.token(), interest, cx).map(Ok),
            Driver::Uring(uring) => {
                let slot = &self.polls[interest as usize];
                let id = match slot.get() {
                    Some(id) => id,
                    None => {
                        let mask = match interest {
                            Interest::Read => libc::POLLIN | libc::POLLRDHUP,
                            Interest::Write => libc::POLLOUT,
                        };
                        let id = uring.submit(opcode::PollAdd::new(types::Fd(self.fd), mask as u32).build());
                        slot.set(Some(id));
                        id
                    }
                };
                let done = ready!(uring.poll_op(id, cx));
                slot.set(None);
                Poll::Ready(cqe_result(done.result).map(drop))
            }
        }
    }

    /// Waits until the descriptor is ready for `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<()> {
        poll_fn(|cx| self.poll_ready(interest, cx)).await
    }

    /// `TimedOut` if the deadline of `interest` has passed: checked before an operation
    /// starts, so it fails even when it could complete at once (Go's `netpollcheckerr`).
    pub fn check_deadline(&self, interest: Interest) -> io::Result<()> {
        match self.deadlines.expired(interest) {
            true => Err(deadline::exceeded()),
            false => Ok(()),
        }
    }

    /// Runs a non-blocking syscall Go's way: try it; on EAGAIN wait for readiness and retry;
    /// retry EINTR. Fails with `TimedOut` once the direction's deadline has passed.
    pub async fn retry<T>(&self, interest: Interest, mut syscall: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        self.check_deadline(interest)?;
        loop {
            match syscall() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready(interest).await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// [`Source::retry`] for a syscall that moves up to `want` bytes (recv, send). On a stream
    /// socket a short transfer proves the socket drained: its edge is dropped and the next
    /// transfer waits for a fresh one before trying, so the echo-style loop costs one syscall
    /// per read instead of two. EOF (0) is never taken as drained, nor is anything after the
    /// peer hung up. One exception, shared with tokio: TCP urgent data stops a read short at
    /// the urgent mark with bytes still queued; those are read when the next edge comes.
    pub async fn transfer(
        &self,
        interest: Interest,
        want: usize,
        mut syscall: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.drained[interest as usize].get() {
            self.ready(interest).await?;
            self.drained[interest as usize].set(false);
        }
        let n = self.retry(interest, &mut syscall).await?;
        self.note_transfer(interest, n, want);
        Ok(n)
    }

    /// Poll form of [`Source::transfer`].
    pub fn poll_transfer(
        &self,
        interest: Interest,
        cx: &mut Context<'_>,
        want: usize,
        syscall: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if self.drained[interest as usize].get() {
            ready!(self.poll_ready(interest, cx))?;
            self.drained[interest as usize].set(false);
        }
        let n = ready!(self.poll_retry(interest, cx, syscall))?;
        self.note_transfer(interest, n, want);
        Poll::Ready(Ok(n))
    }

    /// Whether the last transfer of `interest` drained the socket, clearing the flag.
    pub(crate) fn take_drained(&self, interest: Interest) -> bool {
        self.drained[interest as usize].replace(false)
    }

    pub(crate) fn note_transfer(&self, interest: Interest, n: usize, want: usize) {
        let short = self.stream && n > 0 && n < want;
        let drained = short
            && match &self.reactor.driver {
                Driver::Epoll(epoll) => epoll.clear_drained(self.token(), interest),
                Driver::Uring(_) => true,
            };
        self.drained[interest as usize].set(drained);
    }

    /// Poll form of [`Source::retry`], for `poll_read`-style methods.
    pub fn poll_retry<T>(
        &self,
        interest: Interest,
        cx: &mut Context<'_>,
        mut syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        self.check_deadline(interest)?;
        loop {
            match syscall() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.poll_ready(interest, cx))?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Poll::Ready(other),
            }
        }
    }
}

impl AsRawFd for Source {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("fd", &self.fd).field("driver", &self.reactor.kind()).finish()
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.reactor.stats().sources_open.sub(1);
        match &self.reactor.driver {
            Driver::Epoll(epoll) => {
                epoll.deregister(self.fd, self.token());
                // SAFETY: the source owns fd and nobody uses it after this point.
                unsafe { libc::close(self.fd) };
            }
            Driver::Uring(uring) => {
                for slot in &self.polls {
                    if let Some(id) = slot.take() {
                        uring.abandon(id, Box::new(|_, _| {}));
                    }
                }
                uring.stash.borrow_mut().forget(self.fd);
                uring.close(self.fd);
            }
        }
    }
}
