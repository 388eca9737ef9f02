//! Handle: a cloneable, `Send + Sync` reference to a running [`Runtime`](crate::Runtime).
//!
//! A handle names the cores, spawns onto them, reads their stats and starts a graceful
//! shutdown; it owns no thread. Only the `Runtime` joins the core threads, so dropping a
//! handle anywhere is an `Arc` decrement, and a handle that outlives its runtime still works:
//! spawns onto a stopped core complete their `JoinHandle` with `JoinError::Cancelled`, and so
//! do blocking jobs queued once the runtime has shut down: they are dropped unrun, as tokio's.
//! The handle keeps the blocking pool's bookkeeping, not its threads, which exit at the
//! shutdown.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ringpoll_reactor::{DriverKind, Stats, StatsSnapshot};

use crate::blocking::Pool;
use crate::deadline::Deadline;
use crate::join::JoinHandle;
use crate::mailbox::{Mailbox, Msg};
use crate::scoped::{self, Scoped};
use crate::spawn::spawn_remote;

/// What other threads know of one core.
pub(crate) struct CoreRef {
    pub(crate) cpu: usize,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) stats: Arc<Stats>,
}

/// The part of a runtime every handle shares.
pub(crate) struct Shared {
    pub(crate) kind: DriverKind,
    pub(crate) cores: Vec<CoreRef>,
    /// The runtime's blocking pool, here so that any thread holding a handle (a plain thread,
    /// a blocking job) can queue blocking work, not only a core thread.
    pub(crate) pool: Arc<Pool>,
    /// The end of the graceful shutdown's grace, set once one has started: a second request
    /// is then a no-op, and `Runtime::wait` gives the blocking pool's jobs what is left of it.
    shutting_down: Mutex<Option<Deadline>>,
}

impl Shared {
    pub(crate) fn new(kind: DriverKind, cores: Vec<CoreRef>, pool: Arc<Pool>) -> Arc<Shared> {
        Arc::new(Shared { kind, cores, pool, shutting_down: Mutex::new(None) })
    }

    fn live_tasks(&self) -> u64 {
        self.cores.iter().map(|c| c.stats.tasks_live.get()).sum()
    }

    /// Claims the one graceful shutdown, whose grace ends `grace` from now: the deadline for
    /// the first caller only, None for later ones. Decided by the caller's thread, before any
    /// thread is started for the wait, so the first request is the one that counts (two
    /// waiting threads could otherwise race, and a later, longer grace win).
    pub(crate) fn claim_shutdown(&self, grace: Duration) -> Option<Deadline> {
        let mut claimed = self.shutting_down.lock().unwrap_or_else(|e| e.into_inner());
        if claimed.is_some() {
            return None;
        }
        *claimed = Some(Deadline::after(grace));
        *claimed
    }

    /// What is left of the graceful shutdown's grace: zero if none has started, or once the
    /// grace is over.
    pub(crate) fn grace_left(&self) -> Duration {
        let claimed = *self.shutting_down.lock().unwrap_or_else(|e| e.into_inner());
        claimed.map_or(Duration::ZERO, Deadline::left)
    }

    /// Drains every core, waits up to `grace` for their tasks, then stops them (without
    /// joining). Returns how many tasks were still live, or None if a shutdown had started.
    pub(crate) fn shutdown_gracefully(&self, grace: Duration) -> Option<u64> {
        let deadline = self.claim_shutdown(grace)?;
        Some(self.drain_then_stop(deadline))
    }

    /// The shutdown a successful [`Shared::claim_shutdown`] owns: drain, wait until
    /// `deadline` for the tasks, stop. Returns how many tasks were still live.
    pub(crate) fn drain_then_stop(&self, deadline: Deadline) -> u64 {
        let reached = Arc::new(AtomicUsize::new(0));
        for core in &self.cores {
            core.mailbox.send(Msg::Drain);
            // Behind the Drain, so behind every spawn sent before it: a core busy with earlier
            // mail has not made those tasks yet, and counting live tasks before it has would
            // find none and cancel them without their grace.
            let reached = DrainReached(reached.clone());
            core.mailbox.send(Msg::Run(Box::new(move || drop(reached))));
        }
        let every_core_reached = || reached.load(SeqCst) == self.cores.len();
        // A grace of Duration::MAX has no end: wait for the tasks.
        while (!every_core_reached() || self.live_tasks() > 0) && !deadline.passed() {
            thread::sleep(Duration::from_millis(5).min(deadline.left()));
        }
        let cancelled = self.live_tasks();
        self.stop();
        cancelled
    }

    /// Tells every core to drop its tasks and leave its loop.
    pub(crate) fn stop(&self) {
        for core in &self.cores {
            core.mailbox.send(Msg::Shutdown);
            core.mailbox.netpoll_break().force_wake();
        }
    }
}

/// Counts a core that reached a graceful shutdown's Drain: dropped when the core runs the
/// message behind it, or when a core that has exited drops its mail unread.
struct DrainReached(Arc<AtomicUsize>);

impl Drop for DrainReached {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

thread_local! {
    /// The handle of the runtime whose core runs on this thread.
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// A cloneable, `Send + Sync` handle to a [`Runtime`](crate::Runtime): spawn onto any core,
/// queue blocking work ([`Handle::spawn_blocking`]), name the cores, read their stats, start
/// a graceful shutdown.
///
/// Get one with [`Runtime::handle`](crate::Runtime::handle), or on a core thread with
/// [`Handle::current`]. Dropping a handle never blocks; it does not keep the cores running
/// (the `Runtime` does).
///
/// ```no_run
/// use ringpoll::{Handle, Runtime};
///
/// let rt = Runtime::builder().cores([0, 1]).build()?;
/// let answer = rt.spawn_on(0, || async {
///     // Inside a task: ask core 1 for something and await its answer.
///     Handle::current().spawn_on(1, || async { 6 * 7 }).await.unwrap()
/// });
/// assert_eq!(answer.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime the calling thread works for: one of its cores, or one of
    /// its blocking-pool threads while it runs a [`spawn_blocking`](crate::spawn_blocking)
    /// job (as tokio's), so blocking code can spawn onto a core or start the shutdown.
    ///
    /// ```no_run
    /// use ringpoll::{Handle, Runtime};
    ///
    /// let rt = Runtime::builder().cores([0]).build()?;
    /// let answer = rt.spawn_on(0, || async {
    ///     ringpoll::spawn_blocking(|| {
    ///         // On a pool thread: hand the result of blocking work to a core.
    ///         Handle::current().spawn_on(0, || async { 6 * 7 }).join().unwrap()
    ///     })
    ///     .await
    ///     .unwrap()
    /// });
    /// assert_eq!(answer.join().unwrap(), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// Where [`Handle::try_current`] is `None`.
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().expect("Handle::current called outside a ringpoll runtime's core or blocking pool")
    }

    /// The handle of the runtime whose core or blocking job runs the calling thread, if it is
    /// one. `None` on other threads, under `block_on` (which has no runtime) and in its
    /// blocking jobs.
    pub fn try_current() -> Option<Handle> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn mailbox(&self, index: usize) -> &Arc<Mailbox> {
        &self.shared.cores[index].mailbox
    }

    /// Makes this the calling core thread's handle (until the thread exits).
    pub(crate) fn install(&self) {
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = Some(self.clone()));
    }

    /// Makes `handle` the calling thread's current handle until the guard drops, for a
    /// blocking job: the pool thread holds the handle only while the job runs, so an idle
    /// thread does not keep a stopped runtime's mailboxes (and their eventfds) alive.
    pub(crate) fn enter(handle: Option<Handle>) -> Scoped<Handle> {
        scoped::set(&CURRENT, handle)
    }

    /// How many cores the runtime has.
    pub fn core_count(&self) -> usize {
        self.shared.cores.len()
    }

    /// The CPU core `index` is pinned to.
    ///
    /// # Panics
    /// If `index` is not below [`Handle::core_count`].
    #[track_caller]
    pub fn cpu_of(&self, index: usize) -> usize {
        self.core(index).cpu
    }

    /// The driver every core runs.
    pub fn driver(&self) -> DriverKind {
        self.shared.kind
    }

    /// Runs `make()` on core `index` (from any thread or core) and returns a handle to the
    /// future it makes; that future may be `!Send`. If the core has stopped, the handle
    /// completes with `JoinError::Cancelled`.
    ///
    /// # Panics
    /// If `index` is not below [`Handle::core_count`].
    #[track_caller]
    pub fn spawn_on<F, Fut>(&self, index: usize, make: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        spawn_remote(&self.core(index).mailbox, make)
    }

    /// Core `index`, with a panic that names the mistake rather than an index out of bounds.
    #[track_caller]
    fn core(&self, index: usize) -> &CoreRef {
        let count = self.core_count();
        self.shared.cores.get(index).unwrap_or_else(|| panic!("core {index} does not exist: the runtime has {count}"))
    }

    /// Starts the same future on every core: `make(index)` runs on each.
    pub fn run_on_each_core<F, Fut>(&self, make: F) -> Vec<JoinHandle<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let make = Arc::new(make);
        (0..self.core_count())
            .map(|i| {
                let make = make.clone();
                self.spawn_on(i, move || make(i))
            })
            .collect()
    }

    /// Per-core counters, by core index (accepted connections, live tasks, wakes...).
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        self.shared.cores.iter().map(|c| c.stats.snapshot(c.mailbox.netpoll_break())).collect()
    }

    /// Starts a graceful shutdown and returns at once: every listener stops accepting, tasks
    /// get up to `grace` to finish, then the cores drop what is left and stop. Safe to call
    /// from a task or a blocking job (the waiting happens on a thread of its own); a second
    /// call does nothing. [`Runtime::wait`](crate::Runtime::wait) returns once the cores have
    /// stopped and the blocking pool's jobs have finished or the same `grace`, counted from
    /// this call, is over; dropping the `Runtime` meanwhile does the same (so a task may start
    /// the shutdown and `main` just drop the runtime), except on one of its own cores, where
    /// nothing may wait and the shutdown runs on by itself. [`Runtime::shutdown`] cuts it
    /// short.
    ///
    /// [`Runtime::shutdown`]: crate::Runtime::shutdown
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ringpoll::Runtime;
    ///
    /// let rt = Runtime::builder().cores([0]).build()?;
    /// rt.spawn_on(0, || async {
    ///     // A write the service must not lose, left to run on its own.
    ///     ringpoll::spawn_blocking(|| std::fs::write("/tmp/state", b"saved")).detach();
    /// })
    /// .join()
    /// .unwrap();
    /// rt.handle().shutdown_gracefully(Duration::from_secs(5));
    /// rt.wait(); // the write has finished, unless it took more than 5 s
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_gracefully(&self, grace: Duration) {
        let Some(deadline) = self.shared.claim_shutdown(grace) else {
            return;
        };
        let shared = self.shared.clone();
        let started = thread::Builder::new().name("ringpoll-shutdown".into()).spawn(move || {
            shared.drain_then_stop(deadline);
        });
        if started.is_err() {
            // No thread to wait on: stop at once rather than not at all.
            self.shared.stop();
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpus: Vec<_> = self.shared.cores.iter().map(|c| c.cpu).collect();
        f.debug_struct("Handle").field("driver", &self.shared.kind).field("cpus", &cpus).finish()
    }
}
