//! netpollBreak: how another thread wakes a core sleeping in its reactor.
//!
//! Each core owns an eventfd registered in its reactor. A sender first publishes its message
//! (the core's mailbox), then calls [`Break::wake`]. The core advertises that it is about to
//! sleep with [`Break::park`], re-checks its queues, and only then blocks. Two flags keep the
//! eventfd quiet, after Go's `netpollWakeSig`:
//!
//! - `parked`: a busy core never needs a write, it will drain its mailbox on the next turn.
//! - `signaled`: one write per sleep is enough; the rest of a burst of wakes is free.
//!
//! Both sides store, fence (`SeqCst`) and then load (sender: message then `parked`; core:
//! `parked` then mailbox), so at least one of them sees the other's store: either the core
//! sees the message before sleeping, or the sender sees `parked` and writes the eventfd.
//!
//! # Spinning before the park
//!
//! With `Builder::spin_before_park(d)`, a core with nothing to do first spins for up to `d`:
//! it polls its reactor without blocking (io_uring: reads the CQ in user space and enters
//! the kernel only with entries to submit; epoll: `epoll_wait` with a zero timeout, a
//! syscall per pass) and checks its run queue and mailbox, with `parked` still false. The
//! protocol, in the order the core runs it:
//!
//! 1. **Spin** (`parked == false`): a sender that publishes now sees `parked == false` and
//!    neither writes the eventfd nor posts a ring wake; the core finds the message on its
//!    next check (a *spin hit*, counted in the stats). An io_uring core posting a MSG_RING
//!    wake never does so here either, so a hop between two spinning io_uring cores stays in
//!    user space: the message is in the mailbox, not in the ring.
//! 2. **Give up**: the spin time passed with nothing found.
//! 3. **Park**: [`Break::park`] stores `parked = true` and fences, then the core checks its
//!    queues once more. This re-check is what makes the end of a spin safe: a message
//!    published between 2 and 3 was published before the sender loaded `parked` (false: no
//!    write), so the re-check after the fence finds it; a message published after 3 is seen
//!    by the sender's load of `parked` (true: a write or a ring wake). The store/fence/load on
//!    both sides is the same Dekker pattern as without spinning; spinning only adds polls
//!    before step 3, never a path that blocks without it.
//! 4. **Sleep** in the reactor until the eventfd, a ring wake or I/O; then
//!    [`Break::unpark`].
//!
//! `tests/spin.rs` drives tens of thousands of wakes into the gap between 2 and 3 (a spin of
//! a microsecond or two), bounded in time, so a lost wake fails it instead of hanging.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, OnceLock};

use crate::sys::{cvt, owned, syscall};

/// The per-core eventfd plus the flags that deduplicate writes to it.
#[derive(Debug)]
pub struct Break {
    eventfd: OwnedFd,
    parked: AtomicBool,
    signaled: AtomicBool,
    writes: AtomicU64,
    /// The core's io_uring, if it runs one: a duplicate of the ring's descriptor, so another
    /// io_uring core can post a wake into it (IORING_OP_MSG_RING) instead of writing the
    /// eventfd. Being a duplicate, it stays valid for as long as this break lives.
    ring: OnceLock<OwnedFd>,
    ring_wakes: AtomicU64,
}

impl Break {
    /// Creates the eventfd (close-on-exec). The epoll driver watches it edge-triggered and
    /// never reads it (every write is a fresh edge); the io_uring driver wants it blocking, so
    /// its in-ring read parks in the kernel instead of completing with EAGAIN.
    pub fn new(nonblocking: bool) -> io::Result<Break> {
        let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
        // SAFETY: eventfd takes no pointers; the result is checked before use.
        let fd = cvt(unsafe { libc::eventfd(0, flags) })?;
        Ok(Break {
            eventfd: owned(fd),
            parked: AtomicBool::new(false),
            signaled: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            ring: OnceLock::new(),
            ring_wakes: AtomicU64::new(0),
        })
    }

    /// Wakes the core if it sleeps (or is about to). Call after publishing the work.
    ///
    /// From an io_uring core to an io_uring core the wake is a message posted into the
    /// target's ring, submitted at once by the sender; from any other thread
    /// (a foreign one, an epoll core) it is an eventfd write.
    ///
    /// A wake from the core's own thread (a `block_on` future woken by the I/O its reactor
    /// just reaped) needs neither: that thread is running, not asleep, and the core re-checks
    /// its queues after `park` and before it blocks.
    pub fn wake(self: &Arc<Self>) {
        fence(SeqCst);
        if self.parked.load(SeqCst) && !self.is_own_core() && !self.signaled.swap(true, SeqCst) {
            let posted = self.ring.get().is_some() && crate::reactor::Reactor::post_wake(self);
            if posted {
                self.ring_wakes.fetch_add(1, Relaxed);
            } else {
                self.force_wake();
            }
        }
    }

    /// Whether the calling thread is this break's core.
    fn is_own_core(self: &Arc<Self>) -> bool {
        crate::reactor::Reactor::with_current(|r| Arc::ptr_eq(r.netpoll_break(), self)).unwrap_or(false)
    }

    /// Records the core's ring (duplicated), so io_uring cores wake it through the ring.
    pub(crate) fn attach_ring(&self, ring_fd: RawFd) -> io::Result<()> {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers.
        let dup = syscall!(fcntl(ring_fd, libc::F_DUPFD_CLOEXEC, 0))?;
        let _ = self.ring.set(owned(dup));
        Ok(())
    }

    /// The core's ring descriptor, for a MSG_RING wake.
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        self.ring.get().map(AsRawFd::as_raw_fd)
    }

    /// Writes the eventfd unconditionally (shutdown, or a wake that must not be skipped).
    pub fn force_wake(&self) {
        self.writes.fetch_add(1, Relaxed);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an fd this struct owns. A full counter
        // (EAGAIN) still leaves the eventfd readable, which is all a wake needs.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The core is about to sleep. Re-check the queues after this and before blocking.
    pub fn park(&self) {
        self.parked.store(true, SeqCst);
        fence(SeqCst);
    }

    /// The core is awake again: senders need not write until the next [`Break::park`].
    pub fn unpark(&self) {
        self.parked.store(false, SeqCst);
    }

    /// The eventfd fired (io_uring: its read completed; epoll: its edge came): the next sleep
    /// may be signaled again.
    pub fn rearm(&self) {
        self.signaled.store(false, SeqCst);
    }

    /// How many times the eventfd was written since creation.
    pub fn writes(&self) -> u64 {
        self.writes.load(Relaxed)
    }

    /// How many wakes other io_uring cores posted into this core's ring (MSG_RING).
    pub fn ring_wakes(&self) -> u64 {
        self.ring_wakes.load(Relaxed)
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}

// Real rings and eventfds: not for Miri.
#[cfg(all(test, not(miri)))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Break;
    use crate::{DriverKind, Reactor};

    /// A ring wake the kernel refuses must not leave the target's `signaled` flag up with
    /// nothing sent (every later wake would then be skipped): the eventfd goes instead.
    #[test]
    fn a_ring_wake_that_fails_writes_the_eventfd() {
        if crate::uring::probe().is_err() {
            eprintln!("io_uring unavailable: nothing to test");
            return;
        }
        let reactor = Reactor::new(DriverKind::Uring).expect("an io_uring reactor");
        let _entered = reactor.enter();
        let target = Arc::new(Break::new(true).expect("eventfd"));
        // An eventfd where a ring should be: IORING_OP_MSG_RING fails on it (EBADFD).
        let not_a_ring = Break::new(true).expect("eventfd");
        target.attach_ring(not_a_ring.fd()).expect("dup");
        target.park();

        target.wake();
        assert_eq!((target.ring_wakes(), target.writes()), (1, 0), "posted into the ring, no eventfd yet");
        reactor.poll(Some(Duration::ZERO)).expect("a turn");
        assert_eq!(target.writes(), 1, "the failed post fell back to the eventfd");

        // The target's turn sees the eventfd and takes the flag down: the next wake goes out.
        target.rearm();
        target.wake();
        reactor.poll(Some(Duration::ZERO)).expect("a turn");
        assert_eq!((target.ring_wakes(), target.writes()), (2, 2));
    }
}
