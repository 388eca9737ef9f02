//! The driver layer: the one place that knows there are two drivers.
//!
//! Both drivers expose the same interface (`register`, `close`, `poll_ready`,
//! `wake_waiter`, `wait(timeout)`, and a way to run an [`Op`]), as mio's `Selector` is the
//! same on every platform; this module forwards each call to the one the core runs. Every
//! `match` on the driver in the crate is here.
//!
//! It also holds the readiness loop, [`Driver::poll_syscall`], shared by both drivers: try
//! the non-blocking syscall, on EAGAIN wait for readiness and try again. epoll runs every
//! operation that way; io_uring runs the poll-style methods and caller syscalls that way, and
//! owned-buffer operations as completions (`uring::run`).

mod choice;

pub use choice::{DriverChoice, DriverKind, DRIVER_ENV};

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use crate::epoll::{self, Epoll};
use crate::interest::Interest;
use crate::netpoll_break::Break;
use crate::op::{Op, RecvPooled, Syscall};
use crate::pool::PooledBuf;
use crate::source::Source;
use crate::stats::Stats;
use crate::sys::{interrupted, would_block};
use crate::uring::{self, Uring};

// One per core, built once and never moved: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Epoll(Epoll),
    Uring(Uring),
}

/// What the running driver keeps for one source; opaque outside the driver that made it.
pub(crate) enum Registration {
    Epoll(epoll::Registration),
    Uring(uring::Registration),
}

/// A driver and a registration it made.
enum Parts<'a> {
    Epoll(&'a Epoll, &'a epoll::Registration),
    Uring(&'a Uring, &'a uring::Registration),
}

impl Registration {
    /// Whether the source is a byte stream (see [`Source::new_stream`]).
    pub(crate) fn is_stream(&self) -> bool {
        match self {
            Registration::Epoll(r) => r.is_stream(),
            Registration::Uring(r) => r.is_stream(),
        }
    }
}

impl Driver {
    /// A driver of `kind`, woken by `brk`, counting into `stats`.
    pub(crate) fn new(kind: DriverKind, brk: &Arc<Break>, stats: &Arc<Stats>) -> io::Result<Driver> {
        Ok(match kind {
            DriverKind::Epoll => Driver::Epoll(Epoll::new(brk.clone())?),
            DriverKind::Uring => Driver::Uring(Uring::new(brk.clone(), stats.clone())?),
        })
    }

    pub(crate) fn kind(&self) -> DriverKind {
        match self {
            Driver::Epoll(_) => DriverKind::Epoll,
            Driver::Uring(_) => DriverKind::Uring,
        }
    }

    fn parts<'a>(&'a self, source: &'a Source) -> Parts<'a> {
        match (self, source.registration()) {
            (Driver::Epoll(d), Registration::Epoll(r)) => Parts::Epoll(d, r),
            (Driver::Uring(d), Registration::Uring(r)) => Parts::Uring(d, r),
            _ => unreachable!("a source is registered with its own core's driver"),
        }
    }

    /// Waits for events for at most `timeout` (None: until one arrives), queueing the wakers
    /// of the tasks they concern into `wake`. Returns how many events arrived.
    pub(crate) fn wait(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        match self {
            Driver::Epoll(d) => d.wait(timeout, wake),
            Driver::Uring(d) => d.wait(timeout, wake),
        }
    }

    /// Posts a wake into `target`'s ring with IORING_OP_MSG_RING, if this driver is an
    /// io_uring one and the target runs io_uring too.
    pub(crate) fn post_wake(&self, target: &Arc<Break>) -> bool {
        match self {
            Driver::Epoll(_) => false,
            Driver::Uring(d) => d.post_wake(target),
        }
    }

    /// Registers `fd` with the driver.
    pub(crate) fn register(&self, fd: RawFd, stream: bool) -> io::Result<Registration> {
        Ok(match self {
            Driver::Epoll(d) => Registration::Epoll(d.register(fd, stream)?),
            Driver::Uring(d) => Registration::Uring(d.register(stream)),
        })
    }

    /// Deregisters and closes `fd`; whatever the driver still holds for it is dropped.
    pub(crate) fn close(&self, fd: RawFd, registration: &Registration) {
        match (self, registration) {
            (Driver::Epoll(d), Registration::Epoll(r)) => d.close(fd, r),
            (Driver::Uring(d), Registration::Uring(r)) => d.close(fd, r),
            _ => unreachable!("a source is registered with its own core's driver"),
        }
    }

    /// Ready when `source` is ready for `interest`, without looking at deadlines.
    pub(crate) fn poll_ready(&self, source: &Source, interest: Interest, cx: &Context<'_>) -> Poll<io::Result<()>> {
        match self.parts(source) {
            Parts::Epoll(d, r) => d.poll_ready(r, interest, cx).map(Ok),
            Parts::Uring(d, r) => d.poll_ready(source.fd(), r, interest, cx),
        }
    }

    /// Wakes the task waiting on `interest` of `source`, if any (its deadline moved).
    pub(crate) fn wake_waiter(&self, source: &Source, interest: Interest) {
        let waker = match self.parts(source) {
            Parts::Epoll(d, r) => d.take_waiter(r, interest),
            Parts::Uring(d, r) => d.waiter(r, interest),
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs `op` on `source`: its readiness half on epoll, its completion half on io_uring.
    pub(crate) async fn run<O: Op>(&self, source: &Source, mut op: O) -> O::Output {
        match self.parts(source) {
            Parts::Epoll(..) => {
                let mut waiting = false;
                let res = std::future::poll_fn(|cx| self.poll_syscall(source, cx, &mut op, &mut waiting)).await;
                op.finish(res)
            }
            Parts::Uring(d, r) => d.run(source, r, op).await,
        }
    }

    /// A pooled read on `source`: io_uring's multishot recv into its buffer ring, or readiness
    /// and `recv` into a heap pool buffer (epoll, and io_uring's fallback).
    pub(crate) async fn read_pooled(&self, source: &Source) -> io::Result<PooledBuf> {
        if let Parts::Uring(d, r) = self.parts(source) {
            if let Some(res) = d.read_pooled(source, r).await {
                return res;
            }
        }
        let mut op = RecvPooled::new(source.reactor().heap_pool().clone());
        let mut waiting = false;
        let res = std::future::poll_fn(|cx| self.poll_syscall(source, cx, &mut op, &mut waiting)).await;
        op.finish(res)
    }

    /// Submits `op` once and awaits its result, on io_uring; calls its syscall once on epoll.
    /// `WouldBlock` is the caller's to handle (a splice, which must find out which of its two
    /// sides blocked).
    pub(crate) async fn run_once<O: Op>(&self, source: &Source, mut op: O) -> O::Output {
        match self.parts(source) {
            Parts::Epoll(..) => {
                let res = op.call(source.fd());
                op.finish(res)
            }
            Parts::Uring(d, _) => d.run_once(source.fd(), op).await,
        }
    }

    /// The readiness loop, on either driver: what dropped receives left comes first
    /// (io_uring); then the syscall is tried, and on EAGAIN `cx` waits for readiness, unless
    /// the last transfer showed the socket empty (or full), when it waits first. `waiting`
    /// carries "the last try said EAGAIN" across polls of one operation, so the readiness that
    /// wakes it is consumed before the retry. Pending means the syscall has not succeeded.
    pub(crate) fn poll_syscall<S: Syscall>(
        &self,
        source: &Source,
        cx: &mut Context<'_>,
        syscall: &mut S,
        waiting: &mut bool,
    ) -> Poll<io::Result<usize>> {
        let interest = syscall.interest();
        source.check_deadline(interest)?;
        if let Parts::Uring(d, r) = self.parts(source) {
            if let Some(res) = ready!(d.poll_leftover(source.fd(), r, cx, syscall)) {
                return Poll::Ready(res);
            }
        }
        if self.exhausted(source, interest) {
            ready!(source.poll_ready(interest, cx))?;
            self.note_transfer(source, interest, None);
        }
        loop {
            if *waiting {
                ready!(source.poll_ready(interest, cx))?;
                *waiting = false;
            }
            match syscall.call(source.fd()) {
                Err(e) if would_block(&e) => *waiting = true,
                Err(e) if interrupted(&e) => {}
                res => {
                    if let Ok(n) = res {
                        self.note_transfer(source, interest, syscall.want().map(|want| (n, want)));
                    }
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Whether the last transfer of `interest` left the socket empty (or full).
    fn exhausted(&self, source: &Source, interest: Interest) -> bool {
        match self.parts(source) {
            Parts::Epoll(_, r) => r.exhausted(interest),
            Parts::Uring(_, r) => r.exhausted(interest),
        }
    }

    /// Records a transfer of `n` of `want` bytes (None: readiness came, forget the last one).
    fn note_transfer(&self, source: &Source, interest: Interest, moved: Option<(usize, usize)>) {
        match self.parts(source) {
            Parts::Epoll(d, r) => d.note_transfer(r, interest, moved),
            Parts::Uring(_, r) => r.note_transfer(interest, moved),
        }
    }

    /// Every byte that dropped reads received and no read has returned yet (io_uring; always
    /// empty on epoll, where a dropped read never took anything), once no dropped read is
    /// still in flight.
    pub(crate) async fn take_leftover_bytes(&self, source: &Source) -> Vec<u8> {
        match self.parts(source) {
            Parts::Epoll(..) => Vec::new(),
            Parts::Uring(d, r) => d.take_leftover_bytes(source.fd(), r).await,
        }
    }
}
