//! The per-core reactor: a driver, the timers and the netpollBreak eventfd.

use std::cell::{RefCell, RefMut};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::drain::{self, Drain};
use crate::driver::{Driver, DriverKind};
use crate::netpoll_break::Break;
use crate::pool::HeapPool;
use crate::stats::Stats;
use crate::timer_moves::TimerMoves;
use crate::timers::{until, Timers};

/// One core's reactor. Lives on, and is touched by, its core thread only; other threads reach
/// the core through its [`Break`].
pub struct Reactor {
    /// Unique per process: what a timer or drain registration was made on, so one moved to
    /// another core never touches that core's entries.
    id: u64,
    driver: Driver,
    timers: RefCell<Timers>,
    /// Changes to `timers` posted by other threads (a `Sleep` moved off this core).
    timer_moves: Arc<TimerMoves>,
    brk: Arc<Break>,
    stats: Arc<Stats>,
    /// Wakers collected while the driver is borrowed, woken after it is released. Reused, so
    /// a poll allocates nothing.
    wake: RefCell<Vec<Waker>>,
    drain: Rc<Drain>,
    /// Heap buffers for pooled reads by readiness.
    heap_pool: Rc<HeapPool>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

impl Reactor {
    /// Creates a reactor of `kind` for the calling thread.
    pub fn new(kind: DriverKind) -> io::Result<Rc<Reactor>> {
        let brk = Arc::new(Driver::new_break(kind)?);
        let stats = Arc::default();
        let driver = Driver::new(kind, &brk, &stats)?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Ok(Rc::new(Reactor {
            id,
            driver,
            timers: RefCell::default(),
            timer_moves: TimerMoves::register(id, brk.clone()),
            brk,
            stats,
            wake: RefCell::new(Vec::with_capacity(128)),
            drain: Rc::new(Drain::new(id)),
            heap_pool: Rc::default(),
        }))
    }

    /// This reactor's process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Which driver this reactor runs.
    pub fn kind(&self) -> DriverKind {
        self.driver.kind()
    }

    #[inline]
    pub(crate) fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The eventfd other threads write to wake this core.
    pub fn netpoll_break(&self) -> &Arc<Break> {
        &self.brk
    }

    /// This core's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Makes this the calling thread's current reactor until the guard drops.
    pub fn enter(self: &Rc<Self>) -> EnterGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let previous_drain = drain::enter(Some(self.drain.clone()));
        EnterGuard { previous, previous_drain }
    }

    /// The calling thread's reactor, or an error outside a ringpoll core.
    pub fn current() -> io::Result<Rc<Reactor>> {
        Reactor::try_current()
            .ok_or_else(|| io::Error::other("no ringpoll reactor on this thread: use it inside a Runtime or block_on"))
    }

    /// The calling thread's reactor, if it has one.
    pub fn try_current() -> Option<Rc<Reactor>> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    pub(crate) fn with_current<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
        CURRENT.try_with(|c| c.borrow().as_deref().map(f)).ok().flatten()
    }

    /// Posts a wake for the core of `target` through the calling core's io_uring, if this
    /// thread is an io_uring core. False: the caller writes the eventfd instead.
    pub(crate) fn post_wake(target: &Arc<Break>) -> bool {
        Reactor::with_current(|r| r.driver.post_wake(target)).unwrap_or(false)
    }

    #[inline]
    pub(crate) fn heap_pool(&self) -> &Rc<HeapPool> {
        &self.heap_pool
    }

    pub(crate) fn timers(&self) -> RefMut<'_, Timers> {
        self.timers.borrow_mut()
    }

    /// Starts a graceful shutdown on this core: listeners stop accepting and
    /// [`draining`](crate::drain::draining) futures complete.
    pub fn start_draining(&self) {
        self.drain.start();
    }

    /// Whether this core is draining.
    pub fn is_draining(&self) -> bool {
        self.drain.is_started()
    }

    /// The nearest timer deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow().next_deadline()
    }

    /// Waits for I/O for at most `timeout` (None: until an event, a timer or a break) and for
    /// the nearest timer, then wakes every task whose I/O or timer is ready. Returns how many
    /// events arrived.
    pub fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        self.stats.reactor_polls.bump();
        self.timer_moves.apply(&self.timers);
        let deadline = self.next_deadline();
        // The clock is read only when a timer bounds the wait.
        let timeout = match (timeout, deadline) {
            (t, None) => t,
            (None, Some(d)) => Some(until(d, Instant::now())),
            (Some(t), Some(d)) => Some(t.min(until(d, Instant::now()))),
        };
        let mut wake = self.wake.take();
        let n = self.driver.wait(timeout, &mut wake);
        if deadline.is_some() {
            // A timer disarmed from afar while the core waited must not fire.
            self.timer_moves.apply(&self.timers);
            self.timers.borrow_mut().fire(Instant::now(), &mut wake);
        }
        self.stats.reactor_events.add(*n.as_ref().unwrap_or(&0) as u64);
        self.stats.timers_live.set(self.timers.borrow().len() as u64);
        wake.drain(..).for_each(Waker::wake);
        *self.wake.borrow_mut() = wake;
        n
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").field("driver", &self.kind()).finish_non_exhaustive()
    }
}

/// Restores the previous current reactor when dropped; see [`Reactor::enter`].
#[must_use = "the reactor is current only while the guard lives"]
pub struct EnterGuard {
    previous: Option<Rc<Reactor>>,
    previous_drain: Option<Rc<Drain>>,
}

impl std::fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").field("previous", &self.previous).finish_non_exhaustive()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
        drain::enter(self.previous_drain.take());
    }
}
