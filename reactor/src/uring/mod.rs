//! The io_uring driver: completion-based ops on one ring per core.
//!
//! SQEs pushed while tasks run are submitted together by the next [`Uring::wait`], one
//! io_uring_enter per loop turn (two when the core is busy and nothing needs the kernel:
//! zero). The ring is set up with COOP_TASKRUN, SINGLE_ISSUER, DEFER_TASKRUN and
//! TASKRUN_FLAG where the kernel has them: the core is the ring's only user, and completions
//! are then processed when the core asks for them rather than by interrupting it.
//!
//! Completion storms (many connections, multishot ops, a small ring) may fill the CQ. The
//! driver relies on IORING_FEAT_NODROP (every kernel with the EXT_ARG it requires has it):
//! the kernel keeps what does not fit in an overflow list and flags IORING_SQ_CQ_OVERFLOW.
//! An enter moves at most a CQ's worth of them over, so a turn that reaped while the flag
//! showed enters and reaps again until the list is empty (bounded): the list is a FIFO that
//! new completions join at the back, and draining one CQ per turn left a completion minutes
//! behind under load (an accept's CQE sat 0.5-4 s in it while 148 connections waited, and
//! tests/completion_storm.rs's accepters gave up). A submission the kernel refuses meanwhile
//! (EBUSY) reaps first and tries again.
//!
//! Cross-core wakes between two io_uring cores are messages posted into the target's ring
//! (IORING_OP_MSG_RING with `user_data` [`MAILBOX_DATA`]), not eventfd writes; see
//! [`Break::wake`](crate::Break::wake). A wake is submitted at once, not with the turn's
//! batch: its target sleeps until it arrives.

mod accept_stream;
mod buf_ledger;
mod buf_ring;
mod idle_trim;
mod in_flight;
mod multishot;
mod op_table;
mod probe;
mod receive_gate;
mod recv_stream;
mod run;
pub(crate) mod stash;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

use crate::netpoll_break::Break;
use crate::stats::Stats;
pub(crate) use buf_ring::BufRing;
use op_table::{Completion, Finished, OpId, OpTable, Orphan, Stream};
pub(crate) use probe::{probe, supports};
pub(crate) use run::{Registration, Run};
use stash::Stash;

/// SQ entries per ring; a full SQ is submitted and pushed again, never an error.
const ENTRIES: u32 = 1024;
/// `user_data` of the read on the core's eventfd.
const BREAK_DATA: u64 = u64::MAX;
/// `user_data` of entries nobody awaits (cancels, closes).
const UNAWAITED_DATA: u64 = u64::MAX - 1;
/// `user_data` of a wake another core posted into this ring (IORING_OP_MSG_RING).
const MAILBOX_DATA: u64 = u64::MAX - 2;
/// `user_data` of a wake this core posted into another's ring: the sender's own completion,
/// which says whether the message got there.
const POSTED_DATA: u64 = u64::MAX - 3;
/// Enters per turn that move the kernel's CQ overflow list over: each moves up to a CQ's
/// worth (4 x the SQ entries), so a turn drains at least this many CQs of a storm.
const OVERFLOW_ROUNDS: usize = 64;
/// IORING_ENTER_GETEVENTS: the enter reaps (and runs deferred task work), not only submits.
const ENTER_GETEVENTS: u32 = 1;

/// Overrides [`ENTRIES`] (the CQ holds four times as many): a tiny ring overflows its
/// completion queue under load, which the tests use to show that nothing is lost.
pub(crate) const ENTRIES_ENV: &str = "RINGPOLL_URING_ENTRIES";

fn build_ring() -> io::Result<IoUring> {
    let wanted = std::env::var(ENTRIES_ENV).ok().and_then(|v| v.parse::<u32>().ok());
    let entries = wanted.filter(|n| (1..=ENTRIES).contains(n)).unwrap_or(ENTRIES);
    let tuned = IoUring::builder()
        .setup_cqsize(entries * 4)
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries);
    // Kernels before 6.1 reject the newer flags with EINVAL: fall back silently. (All or
    // none: `BufRing` takes SINGLE_ISSUER as the sign of DEFER_TASKRUN, which its trim needs.)
    tuned.or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))
}

pub(crate) struct Uring {
    ring: RefCell<IoUring>,
    ops: RefCell<OpTable>,
    /// Late results of dropped reads and accepts, handed to the next read or accept.
    stash: RefCell<Stash>,
    /// Cancels and closes nobody awaits whose CQE has not arrived.
    unawaited: Cell<usize>,
    /// The eventfd read's target; the kernel writes it while the read is armed.
    break_buf: *mut u64,
    break_armed: Cell<bool>,
    /// The eventfd read completed and is not re-armed yet. A flag rather than a return
    /// value, so a completion reaped anywhere (even on the SQ-full path) is acted on.
    break_fired: Cell<bool>,
    brk: Arc<Break>,
    /// Where the ring's enters and completions are counted.
    stats: Arc<Stats>,
    /// Multishot completions reaped, handed to their streams once nothing is borrowed.
    deliveries: RefCell<Vec<(Rc<dyn Stream>, Completion)>>,
    /// Wakers of completions reaped while the ring was borrowed (a full SQ), woken by the
    /// next wait.
    reaped_wakes: RefCell<Vec<Waker>>,
    /// The provided-buffer ring of pooled reads, registered on first use. Declared after
    /// `ring`, so it is dropped after the ring that reads it.
    buf_ring: RefCell<Option<Rc<BufRing>>>,
    /// Targets of MSG_RING wakes posted and not yet completed, oldest first: their breaks
    /// keep the target ring's descriptor open until the kernel has resolved it, and a wake
    /// that failed falls back to their eventfds (see [`Uring::posted_completed`]).
    posted: RefCell<VecDeque<Arc<Break>>>,
    /// When to give the buffer ring's pages back.
    idle_trim: idle_trim::IdleTrim,
    /// Streams retired by a plain read while their recv is in the kernel (see `recv_stream`).
    retired: RefCell<recv_stream::Retired>,
}

impl Uring {
    pub(crate) fn new(brk: Arc<Break>, stats: Arc<Stats>) -> io::Result<Uring> {
        let uring = Uring {
            ring: RefCell::new(build_ring()?),
            ops: RefCell::default(),
            stash: RefCell::default(),
            unawaited: Cell::new(0),
            break_buf: Box::into_raw(Box::new(0u64)),
            break_armed: Cell::new(false),
            break_fired: Cell::new(false),
            brk,
            stats,
            deliveries: RefCell::default(),
            reaped_wakes: RefCell::default(),
            buf_ring: RefCell::default(),
            posted: RefCell::default(),
            idle_trim: Default::default(),
            retired: RefCell::default(),
        };
        uring.brk.attach_ring(uring.ring.borrow().as_raw_fd())?;
        uring.arm_break()?;
        Ok(uring)
    }

    /// Reads the eventfd in the ring, so a wake from another thread completes a CQE and ends
    /// the core's io_uring_enter. The eventfd is blocking for this driver: the kernel parks
    /// the read internally instead of failing it with EAGAIN.
    fn arm_break(&self) -> io::Result<()> {
        let read = opcode::Read::new(types::Fd(self.brk.fd()), self.break_buf.cast(), 8).build();
        self.push(read.user_data(BREAK_DATA))?;
        self.break_armed.set(true);
        Ok(())
    }

    /// Queues an SQE; a full SQ is submitted first.
    fn push(&self, entry: squeue::Entry) -> io::Result<()> {
        let mut ring = self.ring.borrow_mut();
        loop {
            // SAFETY: every pointer in the entries this driver builds refers to memory owned by
            // the op table (or the driver) until the op's CQE arrives.
            if unsafe { ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            match ring.submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => self.reap_now(&mut ring),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// CQ overflow made the kernel refuse new submissions: collect completions now.
    fn reap_now(&self, ring: &mut IoUring) {
        let mut wake = Vec::new();
        let (_, orphans) = self.reap(ring, &mut wake);
        // The ring is borrowed: tasks are woken, and streams get their completions, by the
        // next wait, which then does not block.
        self.settle_orphans(orphans);
        self.reaped_wakes.borrow_mut().extend(wake);
    }

    /// Hands over what [`Uring::reap_now`] left: wakers into `wake`, multishot completions to
    /// their streams. True if there was anything.
    #[inline]
    fn settle_reaped(&self, wake: &mut Vec<Waker>) -> bool {
        if self.reaped_wakes.borrow().is_empty() && self.deliveries.borrow().is_empty() {
            return false;
        }
        wake.extend(self.reaped_wakes.take());
        self.deliver_reaped();
        true
    }

    /// Settles abandoned ops, then hands multishot completions to their streams, in the
    /// order they came. Each step is a branch when there is nothing to do, as on most turns.
    #[inline]
    fn settle(&self, orphans: Vec<(Orphan, Completion)>) {
        if !orphans.is_empty() {
            self.settle_orphans(orphans);
        }
        if !self.deliveries.borrow().is_empty() {
            self.deliver_reaped();
        }
    }

    #[cold]
    fn settle_orphans(&self, orphans: Vec<(Orphan, Completion)>) {
        let mut stash = self.stash.borrow_mut();
        for (orphan, done) in orphans {
            orphan(done, &mut stash);
        }
    }

    /// Hands the multishot completions reaped so far to their streams. The queue's buffer is
    /// kept for the next turn, so a delivery costs no allocation.
    fn deliver_reaped(&self) {
        let mut deliveries = self.deliveries.take();
        // Iterated, then cleared: a `drain` costs more to drop than the delivery it makes.
        for (stream, done) in &deliveries {
            stream.deliver(self, *done);
        }
        deliveries.clear();
        // A stream may have queued more meanwhile: those wait for the next turn, as before.
        let mut queued = self.deliveries.borrow_mut();
        if queued.is_empty() {
            *queued = deliveries;
        }
    }

    /// Queues a multishot `entry` whose completions all go to `stream`.
    pub(crate) fn submit_stream(&self, entry: squeue::Entry, stream: Rc<dyn Stream>) -> OpId {
        let id = self.ops.borrow_mut().insert_stream(stream);
        if let Err(e) = self.push(entry.user_data(id)) {
            let failed = Completion { result: -e.raw_os_error().unwrap_or(libc::EIO), flags: 0 };
            if let Finished::Deliver(stream, done) = self.ops.borrow_mut().complete(id, failed) {
                self.deliveries.borrow_mut().push((stream, done));
            }
        }
        id
    }

    /// Queues `entry` as a new op; the returned id is polled with [`Uring::poll_op`].
    pub(crate) fn submit(&self, entry: squeue::Entry) -> OpId {
        let id = self.ops.borrow_mut().insert();
        self.push_op(id, entry);
        id
    }

    /// Queues `entry` as a new op whose completion wakes `waker`, as if it had been polled
    /// once already (it could only have been found in flight: the entry is not submitted
    /// yet). Saves every op a table lookup.
    #[inline]
    pub(crate) fn submit_awaited(&self, entry: squeue::Entry, waker: &Waker) -> OpId {
        let id = self.ops.borrow_mut().insert_awaited(waker.clone());
        self.push_op(id, entry);
        id
    }

    /// Pushes the entry of op `id`; if that fails, the op completes with the error, and a
    /// task already waiting on it is woken to collect it.
    #[inline]
    fn push_op(&self, id: OpId, entry: squeue::Entry) {
        if let Err(e) = self.push(entry.user_data(id)) {
            self.fail_op(id, e);
        }
    }

    #[cold]
    fn fail_op(&self, id: OpId, e: io::Error) {
        let failed = Completion { result: -e.raw_os_error().unwrap_or(libc::EIO), flags: 0 };
        let finished = self.ops.borrow_mut().complete(id, failed);
        if let Finished::Wake(waker) = finished {
            waker.wake();
        }
    }

    /// A clone of the waker awaiting op `id`, if a task awaits it.
    pub(crate) fn waker_of(&self, id: OpId) -> Option<Waker> {
        self.ops.borrow().waker_of(id)
    }

    pub(crate) fn poll_op(&self, id: OpId, cx: &Context<'_>) -> Poll<Completion> {
        self.ops.borrow_mut().poll(id, cx)
    }

    /// The op's future is gone: keep `orphan` until the CQE, and ask the kernel to cancel.
    pub(crate) fn abandon(&self, id: OpId, orphan: Orphan) {
        let finished = self.ops.borrow_mut().abandon(id, orphan);
        match finished {
            None => self.push_unawaited(opcode::AsyncCancel::new(id).build()),
            Some(settle) => self.settle(vec![settle]),
        }
    }

    /// Closes `fd` with IORING_OP_CLOSE, submitted at once rather than with the next turn, so
    /// a peer sees the close when the socket is dropped (a deferred close would leave a
    /// dropped listener accepting). SQEs run in order, so every op queued before on this fd
    /// has taken its own file reference first, and the number cannot be reused under them.
    ///
    /// The same enter runs the ring's deferred completion work (GETEVENTS; under
    /// DEFER_TASKRUN it would wait for the core's next wait): an op of the source still in
    /// the kernel (an accept or a receive, cancelled just before) holds the socket until its
    /// completion has run, and a socket that outlives its close keeps its port, so binding
    /// the port again at once failed with `AddrInUse`.
    fn close_fd(&self, fd: RawFd) {
        self.push_unawaited(opcode::Close::new(types::Fd(fd)).build());
        self.submit_and_run_task_work();
    }

    /// Submits whatever SQEs are queued and runs the deferred completion work, in one enter
    /// with GETEVENTS that waits for nothing, making room if the CQ is full.
    fn submit_and_run_task_work(&self) {
        let mut ring = self.ring.borrow_mut();
        // Bounded: a kernel that keeps refusing (EBUSY with nothing to reap) must not hang us.
        for _ in 0..8 {
            match self.enter_now(&ring, queued(&ring), ENTER_GETEVENTS) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => self.reap_now(&mut ring),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                _ => return,
            }
        }
    }

    /// Submits what is queued in one enter, for a wake that must not wait for the turn.
    /// Unlike [`Uring::submit_and_run_task_work`] it never reaps, since a wake may come from
    /// code that holds the op table or the stash (a buffer's drop), nor touches a ring
    /// already in use: then, or on EBUSY, the entries stay queued for the turn's own enter.
    fn submit_wake(&self) {
        let Ok(ring) = self.ring.try_borrow() else { return };
        let _ = self.enter_now(&ring, queued(&ring), 0);
    }

    /// One io_uring_enter that waits for nothing, counted in the stats: submits `pending`
    /// queued entries and passes `flags` (the turn's non-blocking enter, a close's, a wake's,
    /// the overflow drain's).
    fn enter_now(&self, ring: &IoUring, pending: usize, flags: u32) -> io::Result<usize> {
        self.stats.uring_enters.bump();
        // SAFETY: the SQ's tail is published (every push syncs it), at least `pending` entries
        // wait behind it, and no argument pointer is passed.
        unsafe { ring.submitter().enter::<libc::sigset_t>(pending as u32, 0, flags, None) }
    }

    /// Posts a MSG_RING wake into `target`'s ring, submitted at once (with whatever else is
    /// queued). Only a parked core is woken, so waiting for this core's next enter would
    /// keep it asleep for the rest of this turn: a cross-core round trip between two
    /// io_uring cores ran at 0.6M/s that way, 1.3-1.9M/s submitted at once (epoll: 1.2-1.4M/s,
    /// whose eventfd write is immediate too; `cargo bench -p ringpoll-benches --bench
    /// channels`). A task waking N parked cores pays N enters, as epoll pays N eventfd writes.
    /// False if the target has no ring (an epoll core): it needs its eventfd.
    pub(crate) fn post_wake(&self, target: &Arc<Break>) -> bool {
        let Some(fd) = target.ring_fd() else { return false };
        let msg = opcode::MsgRingData::new(types::Fd(fd), 0, MAILBOX_DATA, None).build();
        if self.push(msg.user_data(POSTED_DATA)).is_err() {
            return false;
        }
        self.unawaited.set(self.unawaited.get() + 1);
        self.posted.borrow_mut().push_back(target.clone());
        self.submit_wake();
        true
    }

    /// A posted wake's own completion. If it failed (the target's ring gone, or the kernel
    /// out of memory), its target's `signaled` flag is still up, and every later wake would
    /// be skipped as already sent: so the eventfd is written instead. Messages to different
    /// rings need not complete in the order they were posted, so a failure writes the
    /// eventfd of every target still in flight; a spare wake costs a target one empty turn,
    /// a missed one would cost it every wake after.
    fn posted_completed(&self, result: i32) {
        self.unawaited.set(self.unawaited.get().saturating_sub(1));
        let mut posted = self.posted.borrow_mut();
        let oldest = posted.pop_front();
        if result < 0 {
            oldest.iter().chain(posted.iter()).for_each(|target| target.force_wake());
        }
    }

    /// Queues an entry whose completion nobody awaits (a cancel, a close).
    fn push_unawaited(&self, entry: squeue::Entry) {
        if self.push(entry.user_data(UNAWAITED_DATA)).is_ok() {
            self.unawaited.set(self.unawaited.get() + 1);
        }
    }

    /// Submits what is queued and collects completions, waiting up to `timeout` (None:
    /// until something completes) for the first one.
    pub(crate) fn wait(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        let stats = &*self.stats;
        // A break reaped on the SQ-full path must be re-armed before this turn may block.
        self.rearm_break()?;
        // Completions reaped on the SQ-full path (their tasks, their streams) are owed now,
        // and this turn must not block while a woken task waits to run.
        let owed = self.settle_reaped(wake);
        let timeout = if owed { Some(Duration::ZERO) } else { timeout };
        let mut ring = self.ring.borrow_mut();
        let ready = !ring.completion().is_empty();
        let result = match timeout {
            _ if ready => self.enter_if_needed(&ring),
            Some(Duration::ZERO) => self.enter_if_needed(&ring),
            Some(wait) => {
                stats.uring_enters.bump();
                let ts = types::Timespec::from(wait);
                ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts))
            }
            None => {
                stats.uring_enters.bump();
                ring.submitter().submit_and_wait(1)
            }
        };
        match result {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        let (mut n, mut orphans) = self.reap(&mut ring, wake);
        // SAFETY: this thread is the ring's only user; reading the SQ flags touches no entry.
        if n > 0 && unsafe { ring.submission_shared().cq_overflow() } {
            let (more, late) = self.drain_overflow(&mut ring, wake);
            n += more;
            orphans.extend(late);
        }
        drop(ring);
        self.settle(orphans);
        stats.uring_completions.add(n as u64);
        stats.ops_in_flight.set(self.ops_in_flight() as u64);
        self.rearm_break()?;
        Ok(n)
    }

    /// The eventfd read completed: let senders signal again and read the eventfd anew.
    fn rearm_break(&self) -> io::Result<()> {
        if self.break_fired.take() {
            self.brk.rearm();
            self.arm_break()?;
        }
        Ok(())
    }

    /// A non-blocking turn enters the kernel only if there is something to submit or
    /// deferred completion work to run.
    fn enter_if_needed(&self, ring: &IoUring) -> io::Result<usize> {
        // SAFETY: this thread is the ring's only user and holds no other SQ handle; reading
        // the queue's length and flags touches no entry.
        let (pending, taskrun, overflow) = unsafe {
            let sq = ring.submission_shared();
            (sq.len(), sq.taskrun(), sq.cq_overflow())
        };
        // With IORING_FEAT_NODROP a full CQ parks completions in the kernel's overflow list;
        // only an enter moves them over, so one is owed as soon as the flag shows.
        if pending == 0 && !taskrun && !overflow {
            return Ok(0);
        }
        // Under DEFER_TASKRUN the kernel runs deferred completion work only in an enter that
        // carries GETEVENTS, and moves overflowed completions only then too. Said here rather
        // than left to the io-uring crate's `submit` (0.7.15 adds it for these flags; 0.6 did
        // not, and then such an enter ran nothing).
        let flags = if taskrun || overflow { ENTER_GETEVENTS } else { 0 };
        self.enter_now(ring, pending, flags)
    }

    /// Empties the kernel's CQ overflow list into the op table, a CQ's worth per enter (an
    /// enter with GETEVENTS moves them, and submits nothing here), up to
    /// [`OVERFLOW_ROUNDS`] enters. Completions are only recorded here: tasks run after.
    #[cold]
    fn drain_overflow(&self, ring: &mut IoUring, wake: &mut Vec<Waker>) -> (usize, Vec<(Orphan, Completion)>) {
        let (mut n, mut orphans) = (0, Vec::new());
        for _ in 0..OVERFLOW_ROUNDS {
            // SAFETY: this thread is the ring's only user; reading the SQ flags touches no entry.
            if !unsafe { ring.submission_shared().cq_overflow() } {
                break;
            }
            // Submits nothing: only moves completions over.
            match self.enter_now(ring, 0, ENTER_GETEVENTS) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(_) => break,
            }
            let (more, late) = self.reap(ring, wake);
            n += more;
            orphans.extend(late);
        }
        (n, orphans)
    }

    /// Moves every CQE into the op table. Returns the count and the abandoned ops to settle
    /// once nothing is borrowed.
    fn reap(&self, ring: &mut IoUring, wake: &mut Vec<Waker>) -> (usize, Vec<(Orphan, Completion)>) {
        let mut ops = self.ops.borrow_mut();
        let mut n = 0;
        let mut orphans = Vec::new();
        for cqe in ring.completion() {
            n += 1;
            match cqe.user_data() {
                BREAK_DATA => {
                    self.break_armed.set(false);
                    self.break_fired.set(true);
                }
                UNAWAITED_DATA => self.unawaited.set(self.unawaited.get().saturating_sub(1)),
                // Another core's wake: like the eventfd firing, senders may signal again.
                MAILBOX_DATA => self.brk.rearm(),
                POSTED_DATA => self.posted_completed(cqe.result()),
                id => {
                    let done = Completion { result: cqe.result(), flags: cqe.flags() };
                    match ops.complete(id, done) {
                        Finished::Wake(w) => wake.push(w),
                        Finished::Settle(orphan, done) => orphans.push((orphan, done)),
                        Finished::Deliver(stream, done) => self.deliveries.borrow_mut().push((stream, done)),
                        Finished::Nothing => {}
                    }
                }
            }
        }
        (n, orphans)
    }

    fn ops_in_flight(&self) -> usize {
        self.ops.borrow().len()
    }

    /// Cancels everything in flight and waits (bounded) for the CQEs, so no buffer is freed
    /// while the kernel may still write it.
    fn quiesce(&mut self) -> bool {
        let ids = self.ops.borrow().in_flight_ids();
        for id in ids {
            self.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
        if self.break_armed.get() {
            self.push_unawaited(opcode::AsyncCancel::new(BREAK_DATA).build());
        }
        let give_up = Instant::now() + Duration::from_secs(2);
        let mut wake = Vec::new();
        loop {
            let settled = self.ops.borrow().in_flight() == 0 && !self.break_armed.get() && self.unawaited.get() == 0;
            if settled {
                return true;
            }
            if Instant::now() > give_up {
                return false;
            }
            let ring = self.ring.borrow();
            let ts = types::Timespec::from(Duration::from_millis(50));
            let _ = ring.submitter().submit_with_args(1, &types::SubmitArgs::new().timespec(&ts));
            drop(ring);
            let mut ring = self.ring.borrow_mut();
            let (_, orphans) = self.reap(&mut ring, &mut wake);
            drop(ring);
            self.settle(orphans);
            wake.clear();
        }
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        if self.quiesce() {
            // SAFETY: the break read has completed (quiesce saw its CQE), so the kernel no longer
            // writes the buffer, and it came from Box::into_raw in `new`.
            drop(unsafe { Box::from_raw(self.break_buf) });
        } else {
            // The kernel did not give everything back in time: leaking the buffers is the only
            // choice that cannot corrupt memory.
            std::mem::forget(std::mem::take(&mut *self.ops.borrow_mut()));
        }
        // Accepted sockets nobody will ask for are closed here.
        drop(std::mem::take(&mut *self.stash.borrow_mut()));
    }
}

/// The entries queued in the SQ, not yet submitted.
fn queued(ring: &IoUring) -> usize {
    // SAFETY: this thread is the ring's only user; reading the SQ length touches no entry.
    unsafe { ring.submission_shared().len() }
}
