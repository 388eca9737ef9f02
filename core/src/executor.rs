//! The per-core executor: the loop that runs a core's tasks, its mailbox and its reactor.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ringpoll_reactor::slab::Key;
use ringpoll_reactor::{budget, Reactor, Stats};

use crate::deadline::Deadline;
use crate::join::JoinHandle;
use crate::mailbox::{Inbox, Mailbox, Msg};
use crate::scheduler::{self, Scheduler};
use crate::task::{self, LocalTask};

/// Task polls per turn before the reactor is polled (without blocking) again, so an always
/// ready task cannot starve I/O; Go's scheduler checks netpoll the same way.
const BUDGET: usize = 128;

/// One core's executor. Touched only by its own thread.
pub(crate) struct Executor {
    index: usize,
    scheduler: Rc<Scheduler>,
    mailbox: Arc<Mailbox>,
    inbox: Inbox,
    reactor: Rc<Reactor>,
    shutdown: Cell<bool>,
    /// How long the loop polls for work before it parks (zero: park at once).
    spin: Cell<Duration>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// The calling thread's executor.
pub(crate) fn current() -> Option<Rc<Executor>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

impl Executor {
    pub(crate) fn new(index: usize, reactor: Rc<Reactor>) -> Rc<Executor> {
        let (mailbox, inbox) = Mailbox::new(reactor.netpoll_break().clone());
        Rc::new(Executor {
            index,
            scheduler: Scheduler::new(mailbox.clone()),
            mailbox,
            inbox,
            reactor,
            shutdown: Cell::new(false),
            spin: Cell::new(Duration::ZERO),
        })
    }

    /// Makes this the thread's executor (its scheduler and reactor current) until the guard
    /// drops.
    pub(crate) fn enter(self: &Rc<Self>) -> EnterGuard {
        let reactor = self.reactor.enter();
        let scheduler = self.scheduler.enter();
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        EnterGuard { _scheduler: scheduler, _reactor: reactor }
    }

    /// Polls for up to `spin` before each sleep; see `Builder::spin_before_park`.
    pub(crate) fn set_spin(&self, spin: Duration) {
        self.spin.set(spin);
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    pub(crate) fn reactor(&self) -> &Rc<Reactor> {
        &self.reactor
    }

    fn stats(&self) -> &Stats {
        self.reactor.stats()
    }

    /// Spawns a task on this core.
    pub(crate) fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        let (task, handle) = task::new_local(future, self.mailbox.clone());
        self.insert(task);
        handle
    }

    /// Stores a task (made here, or started here by spawn_on) and queues it.
    pub(crate) fn insert(&self, task: LocalTask) {
        self.scheduler.insert(|key| {
            task.assign(key);
            task
        });
        self.stats().tasks_spawned.bump();
        self.stats().tasks_live.bump();
    }

    /// Runs up to `budget` queued tasks; returns how many ran.
    fn run_queued(&self, budget: usize) -> usize {
        let mut ran = 0;
        while ran < budget {
            let Some((key, mut task)) = self.scheduler.next() else {
                break;
            };
            ran += 1;
            #[cfg(feature = "tracing")]
            let _span = tracing::trace_span!("ringpoll.task", core = self.index, task = key.index()).entered();
            // Under a budget of operations, so a task whose sockets never run dry yields.
            budget::open();
            match task.poll() {
                Poll::Pending => self.scheduler.put_back(key, task),
                Poll::Ready(()) => self.finish(key, task),
            }
        }
        budget::close();
        self.stats().tasks_polled.add(ran as u64);
        ran
    }

    /// Frees a finished or aborted task's slot; stale wakes for it are ignored from now on.
    fn finish(&self, key: Key, task: LocalTask) {
        self.scheduler.remove(key);
        self.stats().tasks_live.sub(1);
        // Dropped last, with nothing borrowed: its destructor may spawn or wake.
        drop(task);
    }

    fn drain_mailbox(&self) {
        // Checked first: one load, and the inbox is empty on almost every turn.
        if self.inbox.is_empty() {
            return;
        }
        for msg in self.inbox.take() {
            match msg {
                Msg::Run(f) => f(),
                Msg::Wake(key) => self.scheduler.schedule(key),
                Msg::Drain => self.reactor.start_draining(),
                Msg::Shutdown => self.shutdown.set(true),
            }
        }
    }

    fn has_work(&self) -> bool {
        self.scheduler.has_queued() || !self.inbox.is_empty()
    }

    /// Runs tasks and I/O until `main()` reports it is finished, or shutdown. `main` is
    /// called every turn (block_on polls its future there when woken); `main_woken` tells the
    /// loop not to sleep.
    pub(crate) fn run(&self, mut main: impl FnMut() -> bool, main_woken: impl Fn() -> bool) -> io::Result<()> {
        let brk = self.reactor.netpoll_break().clone();
        loop {
            if main() {
                return Ok(());
            }
            // The mailbox first: tasks that other cores woke while this one slept (a reply
            // it waited for, say) then run in the same pass as those its I/O woke, instead
            // of after another reactor poll (on io_uring, an extra enter per cross-core wake).
            self.drain_mailbox();
            self.run_queued(BUDGET);
            self.drain_mailbox();
            if self.shutdown.get() {
                return Ok(());
            }
            if self.scheduler.has_queued() || self.scheduler.has_deferred() || main_woken() {
                self.reactor.poll(Some(Duration::ZERO))?;
                // Tasks that woke themselves run now, behind those the poll woke.
                self.scheduler.requeue_deferred();
                continue;
            }
            if self.spin_for_work(&main_woken)? {
                continue;
            }
            brk.park();
            if self.has_work() || main_woken() {
                brk.unpark();
                continue;
            }
            #[cfg(feature = "tracing")]
            let _span = tracing::trace_span!("ringpoll.reactor.wait", core = self.index).entered();
            let polled = self.reactor.poll(None);
            brk.unpark();
            polled?;
        }
    }

    /// Polls the reactor and the mailbox, without sleeping, for up to the spin time. True if
    /// work turned up: the core then never parked, so a sender found it awake and skipped the
    /// eventfd write, and the wake cost no futex round trip.
    fn spin_for_work(&self, main_woken: &impl Fn() -> bool) -> io::Result<bool> {
        let spin = self.spin.get();
        if spin.is_zero() {
            return Ok(false);
        }
        // A spin of Duration::MAX spins until work comes.
        let until = Deadline::after(spin);
        loop {
            self.reactor.poll(Some(Duration::ZERO))?;
            if self.has_work() || main_woken() {
                self.stats().spin_hits.bump();
                return Ok(true);
            }
            if until.passed() {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
    }

    /// Drops every task (their handles report Cancelled), with nothing borrowed, until none
    /// is left: a task's destructor may spawn another.
    pub(crate) fn drop_all_tasks(&self) {
        loop {
            let tasks = self.scheduler.take_all();
            if tasks.is_empty() {
                break;
            }
            self.stats().tasks_live.sub(tasks.len() as u64);
            drop(tasks);
        }
        for msg in self.inbox.take() {
            drop(msg);
        }
    }
}

/// Keeps an executor current on its thread; dropping it restores the previous state.
pub(crate) struct EnterGuard {
    _scheduler: scheduler::EnterGuard,
    _reactor: ringpoll_reactor::EnterGuard,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}
