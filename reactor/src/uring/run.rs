//! How the io_uring driver runs an operation: the completion loop, written once.
//!
//! An [`Op`] is submitted as its entry and awaited under its direction's deadline: when the
//! deadline passes, the entry is cancelled and still awaited, so the op's buffer comes back
//! and a result that beat the cancel is kept. A completion of `-EAGAIN` (older kernels, on
//! non-blocking sockets) means "wait for readiness, then submit again". A receive first lets
//! earlier, dropped receives of the source settle (see `receive_gate`) and takes what they
//! left (see `stash`); if its own future is dropped, what it receives is kept the same way.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use io_uring::{opcode, types};

use super::in_flight::InFlight;
use super::op_table::{Completion, OpId};
use super::receive_gate::{ReceiveGate, Receiving};
use super::recv_stream::{PooledRead, RecvStream};
use super::stash::Stash;
use super::Uring;
use crate::interest::Interest;
use crate::op::{Op, Syscall};
use crate::pool::PooledBuf;
use crate::source::Source;
use crate::sys::{cqe_result, would_block};

/// What the io_uring driver keeps for one source.
#[derive(Default)]
pub(crate) struct Registration {
    /// The POLL_ADD in flight per direction (the poll-style methods' readiness).
    polls: [Cell<Option<OpId>>; 2],
    /// The op each direction waits on, so a moved deadline can wake it.
    parked: [Cell<Option<OpId>>; 2],
    /// Orders receives around dropped ones.
    gate: Rc<ReceiveGate>,
    stream: bool,
    /// The last transfer of each direction left the socket empty (or full).
    exhausted: [Cell<bool>; 2],
    /// The multishot recv of pooled reads, from the first one until a plain read or close.
    pooled: RefCell<Option<Rc<RefCell<RecvStream>>>>,
}

impl Registration {
    pub(crate) fn new(stream: bool) -> Registration {
        Registration { stream, ..Registration::default() }
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.stream
    }

    pub(crate) fn exhausted(&self, interest: Interest) -> bool {
        self.exhausted[interest as usize].get()
    }

    /// Records a transfer of `n` of `want` bytes (None: readiness came). A short one shows
    /// the socket empty: the next read asks the kernel to poll first.
    pub(crate) fn note_transfer(&self, interest: Interest, moved: Option<(usize, usize)>) {
        let short = matches!(moved, Some((n, want)) if n > 0 && n < want);
        self.exhausted[interest as usize].set(short && self.stream);
    }
}

/// What an op's future carries to its completion: the op, and for a receive its place in
/// the gate (whose `Weak` also says whether the source still exists).
struct Carried<O> {
    op: O,
    receiving: Option<Receiving>,
    fd: RawFd,
}

/// Settles an op whose future was dropped: a receive keeps what it took, if its source lives.
fn keep_late<O: Op>(carried: Carried<O>, done: Completion, stash: &mut Stash) {
    let alive = carried.receiving.as_ref().is_none_or(Receiving::source_alive);
    if alive {
        carried.op.keep_late(done.result, stash, carried.fd);
    }
}

impl Uring {
    pub(crate) fn register(&self, stream: bool) -> Registration {
        Registration::new(stream)
    }

    /// Runs `op` on `source` as completions, until it has a result other than EAGAIN.
    pub(crate) async fn run<O: Op>(&self, source: &Source, registration: &Registration, mut op: O) -> O::Output {
        let (fd, interest) = (source.fd(), op.interest());
        loop {
            if let Err(e) = source.check_deadline(interest) {
                return op.finish(Err(e));
            }
            if let Some(res) = poll_fn(|cx| self.poll_leftover(fd, registration, cx, &mut op)).await {
                return op.finish(res);
            }
            let entry = op.entry(fd, registration.exhausted[interest as usize].replace(false));
            let receiving = op.receives().then(|| registration.gate.enter());
            let carried = Carried { op, receiving, fd };
            // SAFETY: the entry points only into memory `op` owns on the heap (the `Op`
            // contract), and `op` travels in the future's data until the completion.
            let in_flight = unsafe { InFlight::new(self, entry, carried, keep_late::<O>) };
            let (done, carried) = self.complete(source, registration, interest, in_flight).await;
            op = carried.op;
            match cqe_result(done.result) {
                Err(e) if would_block(&e) => {
                    if let Err(e) = source.ready(interest).await {
                        return op.finish(Err(e));
                    }
                }
                res => {
                    if let (Ok(n), Some(want)) = (&res, op.want()) {
                        registration.note_transfer(interest, Some((*n, want)));
                    }
                    return op.finish(res);
                }
            }
        }
    }

    /// A pooled read: the next buffer of the source's multishot recv, armed on first use.
    /// None: the buffer ring is exhausted (or unavailable), read with readiness instead.
    /// What dropped plain reads left is served first, by the caller's readiness path.
    pub(crate) async fn read_pooled(
        &self,
        source: &Source,
        registration: &Registration,
    ) -> Option<io::Result<PooledBuf>> {
        let stream = {
            let mut pooled = registration.pooled.borrow_mut();
            pooled.get_or_insert_with(|| Rc::new(RefCell::new(RecvStream::new(source.fd())))).clone()
        };
        let read = poll_fn(|cx| {
            if source.deadlines().poll_expired(Interest::Read, cx).is_ready() {
                return Poll::Ready(Err(crate::deadline::exceeded()));
            }
            if !stream.borrow().armed() {
                // Not in the kernel: earlier dropped reads settle first, and what they left
                // is read before anything new.
                ready!(registration.gate.poll_clear(cx));
                if self.stash.borrow().has_bytes(source.fd()) {
                    return Poll::Ready(Ok(PooledRead::Fallback));
                }
            }
            self.poll_pooled(&stream, || registration.gate.enter(), cx)
        })
        .await;
        match read {
            Ok(PooledRead::Buf(buf)) => Some(Ok(buf)),
            Ok(PooledRead::Fallback) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Submits `op` once and awaits its completion, EAGAIN included.
    pub(crate) async fn run_once<O: Op>(&self, fd: RawFd, mut op: O) -> O::Output {
        let entry = op.entry(fd, false);
        let carried = Carried { op, receiving: None, fd };
        // SAFETY: as in `run`: the entry points only into what `op` owns.
        let (done, carried) = unsafe { InFlight::new(self, entry, carried, keep_late::<O>) }.await;
        carried.op.finish(cqe_result(done.result))
    }

    /// Awaits `in_flight` under the deadline of `interest`: when it passes, the entry is
    /// cancelled and still awaited. A cancelled entry reports ETIMEDOUT.
    async fn complete<T: 'static>(
        &self,
        source: &Source,
        registration: &Registration,
        interest: Interest,
        mut in_flight: InFlight<'_, T>,
    ) -> (Completion, T) {
        let mut timed_out = false;
        let parked = &registration.parked[interest as usize];
        let (mut done, data) = poll_fn(|cx| {
            if let Poll::Ready(out) = Pin::new(&mut in_flight).poll(cx) {
                parked.set(None);
                return Poll::Ready(out);
            }
            parked.set(in_flight.id());
            if !timed_out && source.deadlines().poll_expired(interest, cx).is_ready() {
                in_flight.cancel();
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

    /// For a receive: Ready once no earlier receive of the source is in flight, with what
    /// dropped receives left, if anything.
    pub(crate) fn poll_leftover<S: Syscall>(
        &self,
        fd: RawFd,
        registration: &Registration,
        cx: &Context<'_>,
        syscall: &mut S,
    ) -> Poll<Option<io::Result<usize>>> {
        if !syscall.receives() {
            return Poll::Ready(None);
        }
        // A plain read takes over from pooled reads: the stream's bytes go to the stash first.
        if let Some(stream) = registration.pooled.take() {
            self.end_stream(&stream, true);
        }
        ready!(registration.gate.poll_clear(cx));
        Poll::Ready(syscall.take_leftover(&mut self.stash.borrow_mut(), fd))
    }

    /// Every stashed byte of `fd`, once no dropped receive is in flight.
    pub(crate) async fn take_leftover_bytes(&self, fd: RawFd, registration: &Registration) -> Vec<u8> {
        poll_fn(|cx| registration.gate.poll_clear(cx)).await;
        self.stash.borrow_mut().take_all_bytes(fd)
    }

    /// Readiness of `interest` as an IORING_OP_POLL_ADD, one in flight per direction.
    pub(crate) fn poll_ready(
        &self,
        fd: RawFd,
        registration: &Registration,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        let slot = &registration.polls[interest as usize];
        let id = match slot.get() {
            Some(id) => id,
            None => {
                let mask = match interest {
                    Interest::Read => libc::POLLIN | libc::POLLRDHUP,
                    Interest::Write => libc::POLLOUT,
                };
                let id = self.submit(opcode::PollAdd::new(types::Fd(fd), mask as u32).build());
                slot.set(Some(id));
                id
            }
        };
        let done = ready!(self.poll_op(id, cx));
        slot.set(None);
        Poll::Ready(cqe_result(done.result).map(drop))
    }

    /// The waker of whatever waits on `interest`: its op or its readiness poll.
    pub(crate) fn waiter(&self, registration: &Registration, interest: Interest) -> Option<Waker> {
        let ops = [registration.parked[interest as usize].get(), registration.polls[interest as usize].get()];
        let op_waiter = ops.into_iter().flatten().find_map(|id| self.waker_of(id));
        let pooled = || registration.pooled.borrow().as_ref().and_then(|s| s.borrow().waker());
        op_waiter.or_else(|| if interest == Interest::Read { pooled() } else { None })
    }

    /// The source is gone: cancel its readiness polls, drop its leftovers, close `fd`.
    pub(crate) fn close(&self, fd: RawFd, registration: &Registration) {
        for slot in &registration.polls {
            if let Some(id) = slot.take() {
                self.abandon(id, Box::new(|_, _| {}));
            }
        }
        if let Some(stream) = registration.pooled.take() {
            self.end_stream(&stream, false);
        }
        self.stash.borrow_mut().forget(fd);
        self.close_fd(fd);
    }
}
