//! The driver layer: the one place that knows there are two drivers.
//!
//! Both drivers expose the same interface (`register`, `close`, `poll_ready`,
//! `wake_waiter`, `wait(timeout)`, and a way to run an [`Op`]), as mio's `Selector` is the
//! same on every platform; this module forwards each call to the one the core runs. Every
//! `match` on the driver in the crate is in this module: here, and beside the two operations
//! whose io_uring form is a multishot op rather than an [`Op`] (`accept`, `read_pooled`).
//!
//! The readiness loop shared by both drivers (try the non-blocking syscall, on EAGAIN wait for
//! readiness and try again) is in `readiness`. epoll runs every operation that way; io_uring
//! runs the poll-style methods, caller syscalls and a Unix connect (see `Source::connect`)
//! that way, and owned-buffer operations as completions (`uring::run`).

mod accept;
mod choice;
mod read_pooled;
mod readiness;

pub(crate) use accept::Accepting;
pub use choice::{DriverChoice, DriverKind, DRIVER_ENV};
pub(crate) use read_pooled::ReadPooled;
use readiness::Readiness;

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use crate::epoll::{self, Epoll};
use crate::interest::Interest;
use crate::netpoll_break::Break;
use crate::op::file::FileOp;
use crate::op::{Op, Syscall};
use crate::stats::Stats;
use crate::target::Target;
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
#[derive(Clone, Copy)]
enum Parts<'a> {
    Epoll(&'a Epoll, &'a epoll::Registration),
    Uring(&'a Uring, &'a uring::Registration),
}

impl Registration {
    /// Whether the source is a byte stream (see `Source::new_stream`).
    #[inline]
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

    /// The core's eventfd, as a driver of `kind` reads it: epoll consumes it with a
    /// non-blocking read, io_uring parks a blocking read in the ring.
    pub(crate) fn new_break(kind: DriverKind) -> io::Result<Break> {
        Break::new(kind == DriverKind::Epoll)
    }

    pub(crate) fn kind(&self) -> DriverKind {
        match self {
            Driver::Epoll(_) => DriverKind::Epoll,
            Driver::Uring(_) => DriverKind::Uring,
        }
    }

    #[inline]
    fn parts<'a>(&'a self, target: Target<'a, Registration>) -> Parts<'a> {
        match (self, target.registration) {
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
            Driver::Uring(d) => d.wait_or_trim(timeout, wake),
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

    /// Ready when the source is ready for `interest`, without looking at deadlines.
    pub(crate) fn poll_ready(
        &self,
        target: Target<'_, Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.parts(target).poll_ready(target, interest, cx)
    }

    /// tokio's readiness of the source for `interest`, without looking at deadlines: it
    /// stays until a try meets EAGAIN ([`Driver::try_syscall`]).
    pub(crate) fn poll_readiness(
        &self,
        target: Target<'_, Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        match self.parts(target) {
            Parts::Epoll(d, r) => Readiness::poll_readiness(d, target.with(r), interest, cx),
            Parts::Uring(d, r) => Readiness::poll_readiness(d, target.with(r), interest, cx),
        }
    }

    /// Whether the driver has seen the source's direction of `interest` closed.
    pub(crate) fn is_closed(&self, target: Target<'_, Registration>, interest: Interest) -> bool {
        match self.parts(target) {
            Parts::Epoll(d, r) => Readiness::is_closed(d, r, interest),
            Parts::Uring(d, r) => Readiness::is_closed(d, r, interest),
        }
    }

    /// One try of `syscall` ([`readiness::try_syscall`]), never waiting.
    pub(crate) fn try_syscall<S: Syscall>(
        &self,
        target: Target<'_, Registration>,
        syscall: &mut S,
    ) -> io::Result<usize> {
        match self.parts(target) {
            Parts::Epoll(d, r) => readiness::try_syscall(d, target.with(r), syscall),
            Parts::Uring(d, r) => readiness::try_syscall(d, target.with(r), syscall),
        }
    }

    /// Wakes the task waiting on `interest` of the source, if any (its deadline moved).
    pub(crate) fn wake_waiter(&self, target: Target<'_, Registration>, interest: Interest) {
        let waker = match self.parts(target) {
            Parts::Epoll(d, r) => d.take_waiter(r, interest),
            Parts::Uring(d, r) => d.waiter(r, interest),
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs `op` on the source: its readiness half on epoll, its completion half on io_uring.
    #[inline]
    pub(crate) fn run<'a, O: Op>(&'a self, target: Target<'a, Registration>, op: O) -> Run<'a, O> {
        match self.parts(target) {
            Parts::Epoll(d, r) => Run::Epoll { epoll: d, target: target.with(r), op: Some(op), waiting: false },
            Parts::Uring(d, r) => Run::Uring(d.run(target.with(r), op)),
        }
    }

    /// Runs a file op as a completion on io_uring; hands it back on epoll, where the kernel
    /// lacks its opcode, or where the ring's answer was its non-blocking try's, for the
    /// blocking pool.
    pub(crate) async fn run_file<O: FileOp>(&self, op: O) -> Result<O::Output, O> {
        match self {
            Driver::Uring(d) if uring::supports(O::CODE) => d.run_file(op).await,
            _ => Err(op),
        }
    }

    /// Submits `op` once and awaits its result, on io_uring; calls its syscall once on epoll.
    /// `WouldBlock` is the caller's to handle (a splice, which must find out which of its two
    /// sides blocked).
    pub(crate) async fn run_once<O: Op>(&self, target: Target<'_, Registration>, mut op: O) -> O::Output {
        match self.parts(target) {
            Parts::Epoll(..) => {
                let res = op.call(target.fd);
                op.finish(res)
            }
            Parts::Uring(d, _) => d.run_once(target.fd, op).await,
        }
    }

    /// The readiness loop ([`readiness::poll_syscall`]) on this core's driver, for one
    /// poll; the futures of whole operations resolve the driver once instead.
    #[inline]
    pub(crate) fn poll_syscall<S: Syscall>(
        &self,
        target: Target<'_, Registration>,
        cx: &mut Context<'_>,
        syscall: &mut S,
        waiting: &mut bool,
    ) -> Poll<io::Result<usize>> {
        match self.parts(target) {
            Parts::Epoll(d, r) => readiness::poll_syscall(d, target.with(r), cx, syscall, waiting),
            Parts::Uring(d, r) => readiness::poll_syscall(d, target.with(r), cx, syscall, waiting),
        }
    }

    /// Every byte that dropped reads received and no read has returned yet (io_uring; always
    /// empty on epoll, where a dropped read never took anything), once no dropped read is
    /// still in flight.
    pub(crate) async fn take_leftover_bytes(&self, target: Target<'_, Registration>) -> Vec<u8> {
        match self.parts(target) {
            Parts::Epoll(..) => Vec::new(),
            Parts::Uring(d, r) => d.take_leftover_bytes(target.fd, r).await,
        }
    }

    /// Before a splice moves bytes from `target` past its reads: the error that ended what
    /// dropped or pooled reads received (io_uring: a reset the kernel reported to them, and
    /// will not again), taken; `InvalidInput` while their bytes wait; else `Ok`. Always `Ok`
    /// on epoll, where only a read takes anything off a socket.
    pub(crate) async fn take_stream_end(&self, target: Target<'_, Registration>) -> io::Result<()> {
        match self.parts(target) {
            Parts::Epoll(..) => Ok(()),
            Parts::Uring(d, r) => d.take_stream_end(target.fd, r).await,
        }
    }
}

impl Parts<'_> {
    /// Readiness of `interest`, without looking at deadlines.
    #[inline]
    fn poll_ready(
        self,
        target: Target<'_, Registration>,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Parts::Epoll(d, r) => d.poll_ready(r, interest, cx).map(Ok),
            Parts::Uring(d, r) => d.poll_ready(target.fd, r, interest, cx),
        }
    }
}

/// The future of [`Driver::run`]: the driver is resolved once, when the op starts.
pub(crate) enum Run<'a, O: Op> {
    /// The readiness loop; `waiting` says the last try met EAGAIN.
    Epoll {
        epoll: &'a Epoll,
        target: Target<'a, epoll::Registration>,
        op: Option<O>,
        waiting: bool,
    },
    Uring(uring::Run<'a, O>),
}

// The op is moved by value and never pinned.
impl<O: Op> Unpin for Run<'_, O> {}

impl<O: Op> Future for Run<'_, O> {
    type Output = O::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        match self.get_mut() {
            Run::Epoll { epoll, target, op, waiting } => {
                let syscall = op.as_mut().expect("driver::Run polled after completion");
                let res = ready!(readiness::poll_syscall(*epoll, *target, cx, syscall, waiting));
                Poll::Ready(op.take().expect("taken once").finish(res))
            }
            Run::Uring(run) => Pin::new(run).poll(cx),
        }
    }
}
