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
use std::mem;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use io_uring::{opcode, types};

use super::accept_stream::AcceptStream;
use super::in_flight::{InFlight, Late};
use super::op_table::{Completion, OpId, NO_OP};
use super::receive_gate::{Receiving, SourceGate};
use super::recv_stream::{PooledRead, RecvStream};
use super::stash::Stash;
use super::Uring;
use crate::interest::Interest;
use crate::op::file::FileOp;
use crate::op::{Op, Syscall};
use crate::pool::PooledBuf;
use crate::sys::{cqe_result, would_block};
use crate::target::Target;

/// What the io_uring driver keeps for one source. Every connection's task holds one (inside
/// its socket), so it is kept small: op ids in single words, the pooled stream in a `Cell`.
#[derive(Default)]
pub(crate) struct Registration {
    /// The POLL_ADD in flight per direction (the poll-style methods' readiness).
    polls: [OpSlot; 2],
    /// The op each direction waits on, so a moved deadline can wake it.
    parked: [OpSlot; 2],
    /// Orders receives around dropped ones.
    pub(super) gate: SourceGate,
    stream: bool,
    /// The last transfer of each direction left the socket empty (or full).
    exhausted: [Cell<bool>; 2],
    /// tokio's readiness per direction: a POLL_ADD completed and no try has met EAGAIN since.
    ready: [Cell<bool>; 2],
    /// A POLL_ADD reported the direction closed (a hangup, an error); it stays so.
    closed: [Cell<bool>; 2],
    /// The multishot recv of pooled reads, from the first one until a plain read or close.
    /// Taken out to be used and put back, never borrowed.
    pooled: Cell<Option<Rc<RefCell<RecvStream>>>>,
    /// A listener's multishot accept, from the first accept until close; taken out to be
    /// used and put back, never borrowed.
    pub(super) accepting: Cell<Option<Rc<RefCell<AcceptStream>>>>,
}

/// An op id or none, in one word ([`NO_OP`] says none), saving `Option`'s extra word.
struct OpSlot(Cell<OpId>);

impl OpSlot {
    #[inline]
    fn get(&self) -> Option<OpId> {
        Some(self.0.get()).filter(|&id| id != NO_OP)
    }

    #[inline]
    fn set(&self, id: Option<OpId>) {
        self.0.set(id.unwrap_or(NO_OP));
    }

    #[inline]
    fn take(&self) -> Option<OpId> {
        let id = self.get();
        self.0.set(NO_OP);
        id
    }
}

impl Default for OpSlot {
    fn default() -> OpSlot {
        OpSlot(Cell::new(NO_OP))
    }
}

impl Registration {
    pub(crate) fn new(stream: bool) -> Registration {
        Registration { stream, ..Registration::default() }
    }

    #[inline]
    pub(crate) fn is_stream(&self) -> bool {
        self.stream
    }

    #[inline]
    pub(crate) fn exhausted(&self, interest: Interest) -> bool {
        self.exhausted[interest as usize].get()
    }

    /// Notes the directions a POLL_ADD's `revents` report closed.
    fn note_closed(&self, revents: usize) {
        let revents = revents as libc::c_short;
        let hangup = libc::POLLHUP | libc::POLLERR;
        if revents & (hangup | libc::POLLRDHUP) != 0 {
            self.closed[Interest::Read as usize].set(true);
        }
        if revents & hangup != 0 {
            self.closed[Interest::Write as usize].set(true);
        }
    }

    /// Notes the directions a failed syscall shows closed: a broken pipe the write side, a
    /// reset both (what a POLL_ADD would report as POLLERR | POLLHUP).
    pub(crate) fn note_failure(&self, error: &io::Error) {
        match error.raw_os_error() {
            Some(libc::ECONNRESET) => self.note_closed((libc::POLLERR | libc::POLLHUP) as usize),
            Some(libc::EPIPE) => self.closed[Interest::Write as usize].set(true),
            _ => {}
        }
    }

    /// Whether a POLL_ADD reported the direction of `interest` closed.
    pub(crate) fn is_closed(&self, interest: Interest) -> bool {
        self.closed[interest as usize].get()
    }

    /// A try met EAGAIN: the readiness of `interest` is spent.
    pub(crate) fn clear_readiness(&self, interest: Interest) {
        self.ready[interest as usize].set(false);
    }

    /// Records a transfer of `n` of `want` bytes (None: readiness came). A short one shows
    /// the socket empty: the next read asks the kernel to poll first.
    #[inline]
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

/// Settles an op whose future was dropped: a receive keeps what it took, if its source lives;
/// if not, what it took is released. A one-shot accept that beat its closed listener's cancel
/// brings a descriptor that no accept will return: closed here (reset, as the kernel resets a
/// closed listener's queue), or it leaked. One-shot accepts serve kernels before 5.19 (no
/// multishot accept) and the connections dropped one-shot accepts took; on newer kernels a
/// listener's multishot accept, which closes its own late connections, takes the rest.
impl<O: Op> Late for Carried<O> {
    fn settle(self, done: Completion, stash: &mut Stash) {
        let alive = self.receiving.as_ref().is_none_or(Receiving::source_alive);
        if alive {
            self.op.keep_late(done.result, stash, self.fd);
        } else {
            self.op.release_late(done.result);
        }
    }
}

/// A file op in flight.
struct FileCarried<O>(O);

/// Settles a file op whose future was dropped: its output is made and dropped.
impl<O: FileOp> Late for FileCarried<O> {
    fn settle(self, done: Completion, _: &mut Stash) {
        drop(self.0.finish(cqe_result(done.result)));
    }
}

impl Uring {
    pub(crate) fn register(&self, stream: bool) -> Registration {
        Registration::new(stream)
    }

    /// Runs `op` on the source as completions, until it has a result other than EAGAIN.
    #[inline]
    pub(crate) fn run<'a, O: Op>(&'a self, target: Target<'a, Registration>, op: O) -> Run<'a, O> {
        Run { uring: self, target, interest: op.interest(), state: State::Submit(op) }
    }

    /// Runs a file op: one completion, no readiness, no deadline (files have neither). A
    /// dropped future's late result is finished and dropped: an opened descriptor closes.
    /// A result that is the kernel's non-blocking try speaking (`Halves::wants_blocking`)
    /// hands the op back, for its blocking half.
    pub(crate) async fn run_file<O: FileOp>(&self, mut op: O) -> Result<O::Output, O> {
        let entry = op.entry();
        // SAFETY: `Halves`' contract: the entry points only into what `op` owns on the heap,
        // and `op` travels in the future's data until the completion.
        let (done, FileCarried(op)) = unsafe { InFlight::new(self, entry, FileCarried(op)) }.await;
        if op.wants_blocking(done.result) {
            return Err(op);
        }
        Ok(op.finish(cqe_result(done.result)))
    }

    /// One poll of a pooled read: the next buffer of the source's multishot recv, armed on
    /// first use. Ready(None): read with readiness instead (the buffer ring is exhausted or
    /// unavailable, or dropped plain reads left bytes, which the readiness path serves first).
    pub(crate) fn poll_read_pooled(
        &self,
        target: Target<'_, Registration>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<PooledBuf>>> {
        if let Poll::Ready(e) = target.poll_deadline(Interest::Read, cx) {
            return Poll::Ready(Some(Err(e)));
        }
        let (fd, registration) = (target.fd, target.registration);
        let stream = registration.pooled.take().unwrap_or_else(|| Rc::new(RefCell::new(RecvStream::new())));
        registration.pooled.set(Some(stream.clone()));
        if !stream.borrow().armed() {
            // Not in the kernel: earlier dropped reads settle first, and what they left (bytes,
            // then the error that ended them) is read before anything new.
            ready!(registration.gate.poll_clear(cx));
            if self.stash.borrow().has_stream(fd) {
                return Poll::Ready(None);
            }
        }
        match ready!(self.poll_pooled(fd, &stream, cx)) {
            Ok(PooledRead::Buf(buf)) => Poll::Ready(Some(Ok(buf))),
            Ok(PooledRead::Fallback) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    /// Submits `op` once and awaits its completion, EAGAIN included.
    pub(crate) async fn run_once<O: Op>(&self, fd: RawFd, mut op: O) -> O::Output {
        let entry = op.entry(fd, false);
        let carried = Carried { op, receiving: None, fd };
        // SAFETY: as in `run`: the entry points only into what `op` owns.
        let (done, carried) = unsafe { InFlight::new(self, entry, carried) }.await;
        carried.op.finish(cqe_result(done.result))
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
        ready!(self.poll_receives_settled(fd, registration, cx));
        Poll::Ready(syscall.take_leftover(&mut self.stash.borrow_mut(), fd))
    }

    /// Before anything but a pooled read takes bytes from `fd`: retires its pooled reads'
    /// stream (what it queued, or still receives, goes to the stash), then is Ready once no
    /// earlier receive of the source is in flight, so the stash holds all they left.
    #[inline]
    fn poll_receives_settled(&self, fd: RawFd, registration: &Registration, cx: &Context<'_>) -> Poll<()> {
        self.retire_pooled(fd, registration);
        registration.gate.poll_clear(cx)
    }

    /// As [`poll_receives_settled`](Self::poll_receives_settled) without waiting: whether
    /// no earlier receive of the source is in flight, for a try that must not take bytes
    /// past theirs.
    fn receives_settled(&self, fd: RawFd, registration: &Registration) -> bool {
        self.retire_pooled(fd, registration);
        registration.gate.is_clear()
    }

    /// Ends the pooled reads' stream of `fd`, if it has one: what it queued, or still
    /// receives, goes to the stash, behind the gate of the source's receives.
    #[inline]
    fn retire_pooled(&self, fd: RawFd, registration: &Registration) {
        if let Some(stream) = registration.pooled.take() {
            self.end_stream(&stream, Some((&registration.gate, fd)));
        }
    }

    /// For a try that receives: what dropped receives left, or `WouldBlock` while one is
    /// still in flight (what it takes comes before anything the socket holds); None when the
    /// try may go to the socket.
    pub(crate) fn try_leftover<S: Syscall>(
        &self,
        fd: RawFd,
        registration: &Registration,
        syscall: &mut S,
    ) -> Option<io::Result<usize>> {
        if !syscall.receives() {
            return None;
        }
        if !self.receives_settled(fd, registration) {
            return Some(Err(io::ErrorKind::WouldBlock.into()));
        }
        syscall.take_leftover(&mut self.stash.borrow_mut(), fd)
    }

    /// tokio's readiness of `interest`: Ready while it is marked (a POLL_ADD completed and
    /// no try has met EAGAIN since), else once a POLL_ADD completes. A read is ready too once
    /// dropped receives have settled and left something, which the next try serves first.
    pub(crate) fn poll_readiness(
        &self,
        fd: RawFd,
        registration: &Registration,
        interest: Interest,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        if interest == Interest::Read {
            ready!(self.poll_receives_settled(fd, registration, cx));
            if self.stash.borrow().has_any(fd) {
                return Poll::Ready(Ok(()));
            }
        }
        let ready = &registration.ready[interest as usize];
        if !ready.get() {
            ready!(self.poll_ready(fd, registration, interest, cx))?;
            ready.set(true);
        }
        Poll::Ready(Ok(()))
    }

    /// Every stashed byte of `fd`, once no dropped receive is in flight.
    pub(crate) async fn take_leftover_bytes(&self, fd: RawFd, registration: &Registration) -> Vec<u8> {
        // What a pooled read's stream queued or still receives is left over too.
        poll_fn(|cx| self.poll_receives_settled(fd, registration, cx)).await;
        self.stash.borrow_mut().take_all_bytes(fd)
    }

    /// Before bytes move from `fd` without a read (a splice), once no dropped receive is in
    /// flight: the error that ended the stream's leftovers (a reset a pooled read's recv took:
    /// the kernel reports it once, so the socket itself would now say end of stream), taken;
    /// `InvalidInput` if leftover bytes wait (they would be skipped); else `Ok`.
    pub(crate) async fn take_stream_end(&self, fd: RawFd, registration: &Registration) -> io::Result<()> {
        poll_fn(|cx| self.poll_receives_settled(fd, registration, cx)).await;
        self.stash.borrow_mut().take_stream_end(fd)
    }

    /// Readiness of `interest` as an IORING_OP_POLL_ADD, one in flight per direction.
    #[inline]
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
        Poll::Ready(cqe_result(done.result).map(|revents| registration.note_closed(revents)))
    }

    /// The waker of whatever waits on `interest`: its op or its readiness poll.
    pub(crate) fn waiter(&self, registration: &Registration, interest: Interest) -> Option<Waker> {
        let ops = [registration.parked[interest as usize].get(), registration.polls[interest as usize].get()];
        let op_waiter = ops.into_iter().flatten().find_map(|id| self.waker_of(id));
        let pooled = || {
            let stream = registration.pooled.take();
            let waker = stream.as_ref().and_then(|s| s.borrow().waker());
            registration.pooled.set(stream);
            waker
        };
        let reader = || pooled().or_else(|| self.accept_waiter(registration));
        op_waiter.or_else(|| if interest == Interest::Read { reader() } else { None })
    }

    /// The source is gone: cancel its readiness polls, drop its leftovers, close `fd`.
    pub(crate) fn close(&self, fd: RawFd, registration: &Registration) {
        for slot in &registration.polls {
            if let Some(id) = slot.take() {
                self.abandon(id, Box::new(|_, _| {}));
            }
        }
        if let Some(stream) = registration.pooled.take() {
            self.end_stream(&stream, None);
        }
        self.end_accept(registration);
        self.stash.borrow_mut().forget(fd);
        self.close_fd(fd);
    }
}

/// The future of [`Uring::run`]: a hand-written state machine, so the op is stored once
/// (a chain of async fns would keep a copy per layer in every connection's task).
pub(crate) struct Run<'a, O: Op> {
    uring: &'a Uring,
    target: Target<'a, Registration>,
    interest: Interest,
    state: State<'a, O>,
}

enum State<'a, O: Op> {
    /// About to check the deadline, serve what dropped receives left, and submit.
    Submit(O),
    /// Submitted; awaiting the completion. `true` once the deadline cancelled the entry.
    InFlight(InFlight<'a, Carried<O>>, bool),
    /// The completion said EAGAIN: waiting for readiness before submitting again.
    Ready(O),
    Done,
}

impl<O: Op> State<'_, O> {
    /// Moves to `next` from a state that owns nothing: the `Done` that `mem::replace` left
    /// while the previous state was handled, or an `InFlight` whose completion and data were
    /// taken. Forgetting it rather than dropping it saves a call to the state's drop glue,
    /// which the compiler does not see is a no-op, on every step of every op.
    #[inline]
    fn step(&mut self, next: Self) {
        let spent = mem::replace(self, next);
        debug_assert!(match &spent {
            State::Done => true,
            State::InFlight(in_flight, _) => in_flight.is_spent(),
            State::Submit(_) | State::Ready(_) => false,
        });
        mem::forget(spent);
    }
}

// The op is moved by value and never pinned; InFlight is Unpin.
impl<O: Op> Unpin for Run<'_, O> {}

impl<O: Op> Future for Run<'_, O> {
    type Output = O::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O::Output> {
        let this = self.get_mut();
        let (uring, target, interest) = (this.uring, this.target, this.interest);
        let (fd, registration) = (target.fd, target.registration);
        // Under the deadline: when it passes, cancel and keep awaiting, so the buffer comes
        // back and a result that beat the cancel is kept.
        let park = |in_flight: &InFlight<'_, Carried<O>>, timed_out: &mut bool, cx: &mut Context<'_>| {
            registration.parked[interest as usize].set(in_flight.id());
            if !*timed_out && target.poll_deadline(interest, cx).is_ready() {
                in_flight.cancel();
                *timed_out = true;
            }
            Poll::Pending
        };
        loop {
            if let State::InFlight(in_flight, timed_out) = &mut this.state {
                let Poll::Ready((mut done, carried)) = Pin::new(&mut *in_flight).poll(cx) else {
                    return park(in_flight, timed_out, cx);
                };
                registration.parked[interest as usize].set(None);
                if *timed_out && done.result == -libc::ECANCELED {
                    done.result = -libc::ETIMEDOUT;
                }
                let mut op = carried.op;
                match cqe_result(done.result) {
                    Err(e) if would_block(&e) => this.state.step(State::Ready(op)),
                    res => {
                        this.state.step(State::Done);
                        if let (Ok(n), Some(want)) = (&res, op.want()) {
                            registration.note_transfer(interest, Some((*n, want)));
                        }
                        return Poll::Ready(op.finish(res));
                    }
                }
            }
            match mem::replace(&mut this.state, State::Done) {
                State::Submit(mut op) => {
                    if let Err(e) = target.check_deadline(interest) {
                        return Poll::Ready(op.finish(Err(e)));
                    }
                    if op.receives() {
                        match uring.poll_leftover(fd, registration, cx, &mut op) {
                            Poll::Pending => {
                                this.state.step(State::Submit(op));
                                return Poll::Pending;
                            }
                            Poll::Ready(Some(res)) => return Poll::Ready(op.finish(res)),
                            Poll::Ready(None) => {}
                        }
                    }
                    let entry = op.entry(fd, registration.exhausted[interest as usize].replace(false));
                    let receiving = op.receives().then(|| registration.gate.enter());
                    let carried = Carried { op, receiving, fd };
                    // SAFETY: the entry points only into memory `op` owns on the heap (the `Op`
                    // contract), and `op` travels in the future's data until the completion.
                    let in_flight = unsafe { InFlight::new_awaited(uring, entry, carried, cx.waker()) };
                    this.state.step(State::InFlight(in_flight, false));
                    // Not polled now: the entry is not even submitted, and its completion
                    // wakes this task.
                    let State::InFlight(in_flight, timed_out) = &mut this.state else { unreachable!() };
                    return park(in_flight, timed_out, cx);
                }
                State::InFlight(..) => unreachable!("handled in place above"),
                State::Ready(op) => {
                    if let Poll::Ready(e) = target.poll_deadline(interest, cx) {
                        return Poll::Ready(op.finish(Err(e)));
                    }
                    match uring.poll_ready(fd, registration, interest, cx) {
                        Poll::Pending => {
                            this.state.step(State::Ready(op));
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(op.finish(Err(e))),
                        Poll::Ready(Ok(())) => this.state.step(State::Submit(op)),
                    }
                }
                State::Done => panic!("uring::Run polled after completion"),
            }
        }
    }
}
