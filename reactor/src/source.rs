//! Source: a descriptor owned by the current core's reactor, as tokio's `Registration` is a
//! socket's handle on its driver.
//!
//! A source holds the descriptor, its registration (opaque: whatever the running driver keeps
//! for it), its Go-style deadlines and its turns. It never looks at which driver runs: every
//! operation goes to the driver layer ([`Driver`](crate::driver::Driver)), which runs it the
//! way its driver does.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use crate::deadline::{self, Deadlines};
use crate::driver::{Registration, Run};
use crate::interest::Interest;
use crate::op::{Op, Syscall};
use crate::reactor::Reactor;
use crate::target::Target;
use crate::turn::{HasTurns, Turned, Turns};

/// A socket registered with the current core's reactor; closing it is the reactor's job.
///
/// A `Source` is bound to the core that created it (`!Send`).
///
/// **Several tasks on one direction.** The owned-buffer operations (`read`, `write`,
/// `accept`, `recv_from`...) take turns per direction, in arrival order, as Go's `fdMutex`
/// makes them: two tasks reading one socket both get data, one after the other; two accepters
/// both get connections. A deadline, a shutdown or a hangup that ends the running operation
/// ends each queued one too, when its turn comes. The poll-style methods (`poll_recv`,
/// `poll_send`, [`Source::poll_ready`]) do not queue: as tokio's, they remember one task per
/// direction, the last that polled.
pub struct Source {
    reactor: Rc<Reactor>,
    fd: RawFd,
    registration: Registration,
    deadlines: Deadlines,
    turns: Turns,
}

impl Source {
    /// Takes ownership of `fd` (which must be non-blocking) and registers it with the calling
    /// thread's reactor.
    pub fn new(fd: OwnedFd) -> io::Result<Source> {
        Source::register(fd, false)
    }

    /// As [`Source::new`], for a byte-stream socket (TCP, Unix stream): a short read or write
    /// then proves the socket empty (or full), which saves the EAGAIN syscall that would
    /// confirm it. Not for datagrams, where a short read says nothing about the next one.
    pub fn new_stream(fd: OwnedFd) -> io::Result<Source> {
        Source::register(fd, true)
    }

    fn register(fd: OwnedFd, stream: bool) -> io::Result<Source> {
        let reactor = Reactor::current()?;
        let registration = reactor.driver().register(fd.as_raw_fd(), stream)?;
        reactor.stats().sources_open.bump();
        Ok(Source {
            reactor,
            fd: fd.into_raw_fd(),
            registration,
            deadlines: Deadlines::default(),
            turns: Turns::default(),
        })
    }

    /// The descriptor, still owned by the source.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The reactor the source is registered with.
    #[inline]
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    #[inline]
    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The source as its driver sees it.
    #[inline]
    pub(crate) fn target(&self) -> Target<'_, Registration> {
        Target { fd: self.fd, registration: &self.registration, deadlines: &self.deadlines }
    }

    /// Sets (or clears, with None) the deadline of `interest`, as Go's `SetReadDeadline` and
    /// `SetWriteDeadline` do: it applies to an operation already waiting and to later ones,
    /// which fail with `TimedOut` once it has passed. A waiting operation is woken to pick up
    /// the change.
    pub fn set_deadline(&self, interest: Interest, at: Option<Instant>) {
        self.deadlines.set(interest, at);
        self.reactor.driver().wake_waiter(self.target(), interest);
    }

    /// The deadline of `interest`.
    pub fn deadline(&self, interest: Interest) -> Option<Instant> {
        self.deadlines.get(interest)
    }

    /// The deadline of `interest`, with `cx` woken when [`set_deadline`](Self::set_deadline)
    /// next changes it: for a task that waits on the deadline outside an operation (a pause
    /// between retries), which the wake of a waiting operation does not reach.
    pub fn watch_deadline(&self, interest: Interest, cx: &Context<'_>) -> Option<Instant> {
        self.deadlines.watch(interest, cx)
    }

    /// `TimedOut` if the deadline of `interest` has passed: checked before an operation
    /// starts, so it fails even when it could complete at once (Go's `netpollcheckerr`).
    #[inline]
    pub fn check_deadline(&self, interest: Interest) -> io::Result<()> {
        match self.deadlines.expired(interest) {
            true => Err(deadline::exceeded()),
            false => Ok(()),
        }
    }

    /// Go's wait half: Ready when the descriptor is ready for `interest` (an edge on epoll, a
    /// POLL_ADD completion on io_uring); the caller then retries its non-blocking syscall.
    /// Fails with `TimedOut` once the direction's deadline has passed. On epoll it consumes
    /// the edge: retry until `WouldBlock` before a [`readiness`](Self::readiness) wait, which
    /// keeps an edge until a try meets `WouldBlock` and would otherwise miss this one.
    pub fn poll_ready(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.deadlines.poll_expired(interest, cx).is_ready() {
            return Poll::Ready(Err(deadline::exceeded()));
        }
        self.reactor.driver().poll_ready(self.target(), interest, cx)
    }

    /// Waits until the descriptor is ready for `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<()> {
        poll_fn(|cx| self.poll_ready(interest, cx)).await
    }

    /// Runs a non-blocking syscall Go's way: try it; on EAGAIN wait for readiness and retry;
    /// retry EINTR. Fails with `TimedOut` once the direction's deadline has passed. For I/O
    /// the socket types do not wrap; it runs the same loop as every built-in operation.
    pub async fn retry<T>(&self, interest: Interest, syscall: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        let mut call = crate::op::Custom { interest, syscall, out: None };
        self.run_by_readiness(&mut call).await?;
        Ok(call.out.take().expect("the syscall succeeded"))
    }

    /// [`retry`](Self::retry) in poll style, for a `poll_` method that keeps no future: try
    /// `syscall`; on EAGAIN register `cx` for the readiness of `interest`. `Pending` means the
    /// syscall did not succeed. It takes no turn: only the task of the last poll is woken.
    pub fn poll_retry<T>(
        &self,
        interest: Interest,
        cx: &mut Context<'_>,
        syscall: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        let mut call = crate::op::Custom { interest, syscall, out: None };
        ready!(self.poll_syscall(cx, &mut call))?;
        Poll::Ready(Ok(call.out.take().expect("the syscall succeeded")))
    }

    /// Runs `syscall` by the readiness loop on its direction's turn, on either driver (on
    /// io_uring too, where it is not a ring entry): for caller syscalls, and for an op that
    /// must keep out of the ring (a Unix connect, see `Source::connect`).
    pub(crate) async fn run_by_readiness<S: Syscall>(&self, syscall: &mut S) -> io::Result<usize> {
        let interest = syscall.interest();
        let mut waiting = false;
        let attempts = poll_fn(|cx| self.reactor.driver().poll_syscall(self.target(), cx, syscall, &mut waiting));
        self.turned(interest, attempts).await
    }

    /// Runs `op` on its direction's turn, the way the core's driver runs operations.
    #[inline]
    pub(crate) fn run<O: Op>(&self, op: O) -> Turned<'_, Run<'_, O>> {
        self.turned(op.interest(), self.run_on_turn_held(op))
    }

    /// Runs `op` without taking a turn: for an operation that goes on a turn already held
    /// (`Turned::continue_with`).
    #[inline]
    pub(crate) fn run_on_turn_held<O: Op>(&self, op: O) -> Run<'_, O> {
        self.reactor.driver().run(self.target(), op)
    }

    /// Runs `operation` on the turn of `interest`.
    #[inline]
    pub(crate) fn turned<F>(&self, interest: Interest, operation: F) -> Turned<'_, F> {
        Turned::new(self, interest, operation)
    }

    /// Runs the readiness half of `syscall` once in poll style, on either driver: try it, and
    /// on EAGAIN register `cx` for readiness. `Pending` means the syscall did not happen.
    pub(crate) fn poll_syscall<S: Syscall>(&self, cx: &mut Context<'_>, syscall: &mut S) -> Poll<io::Result<usize>> {
        self.reactor.driver().poll_syscall(self.target(), cx, syscall, &mut false)
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
        self.reactor.driver().close(self.fd, &self.registration);
    }
}

impl HasTurns for Source {
    #[inline]
    fn turns(&self) -> &Turns {
        &self.turns
    }
}
