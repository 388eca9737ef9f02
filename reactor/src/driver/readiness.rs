//! The readiness loop, written once for both drivers: try the non-blocking syscall; on EAGAIN
//! wait for readiness (or, for an op no readiness event can wake, its own timer) and try
//! again. epoll runs every operation this way; io_uring runs the poll-style methods, caller
//! syscalls and a Unix connect (see `Source::connect`) this way, and its pooled reads
//! when the buffer ring cannot serve them.
//!
//! The loop is generic over [`Readiness`], the little each driver adds (an edge or a
//! POLL_ADD, what dropped receives left), so a future resolves its driver once, when it is
//! made, and every poll after that is straight-line code for that driver.

use std::io;
use std::task::{ready, Context, Poll};

use crate::epoll::{self, Epoll};
use crate::interest::Interest;
use crate::op::Syscall;
use crate::sys::{interrupted, would_block};
use crate::target::Target;
use crate::uring::{self, Uring};

/// What the readiness loop needs of a driver.
pub(crate) trait Readiness {
    /// What the driver keeps for one source.
    type Registration;

    /// For a receive: Ready once earlier, dropped receives have settled, with what they left
    /// (io_uring); Ready(None) when there is nothing to serve first.
    fn poll_leftover<S: Syscall>(
        &self,
        _target: Target<'_, Self::Registration>,
        _cx: &Context<'_>,
        _syscall: &mut S,
    ) -> Poll<Option<io::Result<usize>>> {
        Poll::Ready(None)
    }

    /// Readiness of `interest`, without looking at deadlines. The loop clears a readiness
    /// when its syscall meets EAGAIN and never consumes one otherwise, so a wait that a retry
    /// then satisfied leaves it for the next try or `readable()` (tokio's rule, which an
    /// edge-triggered epoll needs: no second edge comes for what the retry left).
    fn poll_ready(
        &self,
        target: Target<'_, Self::Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>>;

    /// For a try that receives (io_uring): what dropped receives left, or `WouldBlock`
    /// while one is in flight; None when the try goes to the socket.
    fn try_leftover<S: Syscall>(
        &self,
        _target: Target<'_, Self::Registration>,
        _syscall: &mut S,
    ) -> Option<io::Result<usize>> {
        None
    }

    /// tokio's readiness of `interest`, without looking at deadlines: Ready while it is
    /// marked, which only [`clear_readiness`](Self::clear_readiness) undoes. By default the
    /// wait itself, as on epoll, whose edge stays marked until a try meets EAGAIN.
    fn poll_readiness(
        &self,
        target: Target<'_, Self::Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_ready(target, interest, cx)
    }

    /// A try of `interest` met EAGAIN: its readiness is spent.
    fn clear_readiness(&self, registration: &Self::Registration, interest: Interest);

    /// Whether the driver has seen the direction of `interest` closed (a hangup, an error).
    fn is_closed(&self, registration: &Self::Registration, interest: Interest) -> bool;

    /// A syscall failed with `error`. By default nothing: epoll's hangup event marks the
    /// directions closed. io_uring learns it only from a POLL_ADD, and none is asked while a
    /// direction stays marked ready (an error does not clear it), so there the error says it.
    fn note_failure(&self, _registration: &Self::Registration, _error: &io::Error) {}

    /// Whether the last transfer of `interest` left the socket empty (or full).
    fn exhausted(&self, registration: &Self::Registration, interest: Interest) -> bool;

    /// Records a transfer of `n` of `want` bytes (None: readiness came, forget the last one).
    fn note_transfer(&self, registration: &Self::Registration, interest: Interest, moved: Option<(usize, usize)>);
}

impl Readiness for Epoll {
    type Registration = epoll::Registration;

    #[inline]
    fn poll_ready(
        &self,
        target: Target<'_, epoll::Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        Epoll::poll_readiness(self, target.registration, interest, cx).map(Ok)
    }

    fn clear_readiness(&self, registration: &epoll::Registration, interest: Interest) {
        Epoll::clear_readiness(self, registration, interest)
    }

    fn is_closed(&self, registration: &epoll::Registration, interest: Interest) -> bool {
        Epoll::is_closed(self, registration, interest)
    }

    #[inline]
    fn exhausted(&self, registration: &epoll::Registration, interest: Interest) -> bool {
        registration.exhausted(interest)
    }

    #[inline]
    fn note_transfer(&self, registration: &epoll::Registration, interest: Interest, moved: Option<(usize, usize)>) {
        Epoll::note_transfer(self, registration, interest, moved)
    }
}

impl Readiness for Uring {
    type Registration = uring::Registration;

    #[inline]
    fn poll_leftover<S: Syscall>(
        &self,
        target: Target<'_, uring::Registration>,
        cx: &Context<'_>,
        syscall: &mut S,
    ) -> Poll<Option<io::Result<usize>>> {
        Uring::poll_leftover(self, target.fd, target.registration, cx, syscall)
    }

    #[inline]
    fn poll_ready(
        &self,
        target: Target<'_, uring::Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        Uring::poll_ready(self, target.fd, target.registration, interest, cx)
    }

    fn try_leftover<S: Syscall>(
        &self,
        target: Target<'_, uring::Registration>,
        syscall: &mut S,
    ) -> Option<io::Result<usize>> {
        Uring::try_leftover(self, target.fd, target.registration, syscall)
    }

    #[inline]
    fn poll_readiness(
        &self,
        target: Target<'_, uring::Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        Uring::poll_readiness(self, target.fd, target.registration, interest, cx)
    }

    fn clear_readiness(&self, registration: &uring::Registration, interest: Interest) {
        registration.clear_readiness(interest)
    }

    fn is_closed(&self, registration: &uring::Registration, interest: Interest) -> bool {
        registration.is_closed(interest)
    }

    fn note_failure(&self, registration: &uring::Registration, error: &io::Error) {
        registration.note_failure(error)
    }

    #[inline]
    fn exhausted(&self, registration: &uring::Registration, interest: Interest) -> bool {
        registration.exhausted(interest)
    }

    #[inline]
    fn note_transfer(&self, registration: &uring::Registration, interest: Interest, moved: Option<(usize, usize)>) {
        registration.note_transfer(interest, moved)
    }
}

/// The readiness loop: what dropped receives left comes first (io_uring); then the syscall is
/// tried, and on EAGAIN `cx` waits for readiness, unless the last transfer showed the socket
/// empty (or full), when it waits first. `waiting` carries "the last try said EAGAIN" across
/// polls of one operation, so the readiness that wakes it is consumed before the retry.
/// Pending means the syscall has not succeeded.
#[inline]
pub(crate) fn poll_syscall<D: Readiness, S: Syscall>(
    driver: &D,
    target: Target<'_, D::Registration>,
    cx: &mut Context<'_>,
    syscall: &mut S,
    waiting: &mut bool,
) -> Poll<io::Result<usize>> {
    ready!(crate::budget::poll_proceed(cx));
    let interest = syscall.interest();
    if !*waiting {
        // Once waiting, the readiness wait below watches the deadline.
        target.check_deadline(interest)?;
    }
    if syscall.receives() {
        if let Some(res) = ready!(driver.poll_leftover(target, cx, syscall)) {
            return Poll::Ready(res);
        }
    }
    let registration = target.registration;
    if driver.exhausted(registration, interest) {
        ready!(poll_ready_by(driver, target, interest, cx))?;
        driver.note_transfer(registration, interest, None);
    }
    loop {
        if *waiting {
            ready!(poll_retry_by(driver, target, syscall, cx))?;
            *waiting = false;
        }
        match syscall.call(target.fd) {
            Err(e) if interrupted(&e) => {}
            res => {
                record(driver, registration, syscall, &res);
                match res {
                    // Its readiness is spent: wait for a fresh event.
                    Err(e) if would_block(&e) => *waiting = true,
                    res => return Poll::Ready(res),
                }
            }
        }
    }
}

/// Records what a call of `syscall` said of its direction: `WouldBlock` spends the
/// readiness that let it run, a transfer is noted (a short one shows the socket drained or
/// full), a failure may show the direction closed. One place for the waiting loop
/// ([`poll_syscall`]) and the single try ([`try_syscall`]).
#[inline]
fn record<D: Readiness, S: Syscall>(
    driver: &D,
    registration: &D::Registration,
    syscall: &mut S,
    res: &io::Result<usize>,
) {
    let interest = syscall.interest();
    match res {
        Err(e) if would_block(e) => driver.clear_readiness(registration, interest),
        Ok(n) => driver.note_transfer(registration, interest, syscall.want().map(|want| (*n, want))),
        Err(e) => driver.note_failure(registration, e),
    }
}

/// Ready when `syscall` may be tried again after a `WouldBlock`: on its own timer if it has
/// one (no readiness event would come, see `Syscall::poll_timed_retry`), else on readiness;
/// `TimedOut` once the deadline of its direction has passed.
#[inline]
fn poll_retry_by<D: Readiness, S: Syscall>(
    driver: &D,
    target: Target<'_, D::Registration>,
    syscall: &mut S,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let interest = syscall.interest();
    if let Poll::Ready(e) = target.poll_deadline(interest, cx) {
        return Poll::Ready(Err(e));
    }
    match syscall.poll_timed_retry(cx) {
        Some(due) => due.map(Ok),
        None => driver.poll_ready(target, interest, cx),
    }
}

/// Readiness of `interest`, or `TimedOut` once its deadline has passed (as
/// `Source::poll_ready`).
#[inline]
fn poll_ready_by<D: Readiness>(
    driver: &D,
    target: Target<'_, D::Registration>,
    interest: Interest,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Poll::Ready(e) = target.poll_deadline(interest, cx) {
        return Poll::Ready(Err(e));
    }
    driver.poll_ready(target, interest, cx)
}

/// One try of `syscall`, never waiting (tokio's `try_io`): what dropped receives left comes
/// first (io_uring). `WouldBlock` clears the readiness of the syscall's direction, so the
/// next [`Readiness::poll_readiness`] waits for a fresh event; any other result leaves it,
/// since the socket may hold more. EINTR is retried; a passed deadline is `TimedOut`.
pub(crate) fn try_syscall<D: Readiness, S: Syscall>(
    driver: &D,
    target: Target<'_, D::Registration>,
    syscall: &mut S,
) -> io::Result<usize> {
    target.check_deadline(syscall.interest())?;
    let (registration, leftover) = (target.registration, driver.try_leftover(target, syscall));
    let res = match leftover {
        // Served from the stash, which says nothing of what the socket holds.
        Some(Ok(n)) => return Ok(n),
        Some(res) => res,
        None => call_uninterrupted(syscall, target.fd),
    };
    record(driver, registration, syscall, &res);
    res
}

/// `syscall`'s call, again while a signal interrupts it.
fn call_uninterrupted<S: Syscall>(syscall: &mut S, fd: std::os::fd::RawFd) -> io::Result<usize> {
    loop {
        match syscall.call(fd) {
            Err(e) if interrupted(&e) => {}
            res => return res,
        }
    }
}
