//! The per-core executor: task slab, run queue and the loop that drives the reactor.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ringpoll_reactor::{Reactor, Stats};

use crate::header::Header;
use crate::join::{JoinHandle, JoinState};
use crate::mailbox::{Mailbox, Msg};
use crate::task::Task;

/// Task polls per turn before the reactor is polled (without blocking) again, so an always
/// ready task cannot starve I/O; Go's scheduler checks netpoll the same way.
const BUDGET: usize = 128;

type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

struct Slot {
    generation: u32,
    scheduled: bool,
    /// None while free, and while the task is being polled.
    task: Option<(BoxedTask, Arc<Header>)>,
}

/// One core's executor. Touched only by its own thread.
pub(crate) struct Executor {
    index: usize,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    queue: RefCell<VecDeque<u32>>,
    mailbox: Arc<Mailbox>,
    inbox: Receiver<Msg>,
    reactor: Rc<Reactor>,
    shutdown: Cell<bool>,
    /// How long the loop polls for work before it parks (zero: park at once).
    spin: Cell<Duration>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

fn pack(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

fn unpack(id: u64) -> (u32, u32) {
    (id as u32, (id >> 32) as u32)
}

/// Whether the calling thread runs a ringpoll core.
pub(crate) fn on_core() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// The calling thread's executor.
pub(crate) fn current() -> Option<Rc<Executor>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Schedules task `id` if `mailbox` is the calling thread's core; false if it is another's.
pub(crate) fn wake_local(mailbox: &Arc<Mailbox>, id: u64) -> bool {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(ex) if Arc::ptr_eq(&ex.mailbox, mailbox) => {
                ex.schedule(id);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

/// A `Waker` for the duration of one poll that borrows the task's header instead of cloning
/// its `Arc` (futures' `waker_ref`): no atomic increment per poll.
fn borrowed_waker(header: &Arc<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: the Waker claims one reference without taking it and is never dropped
    // (ManuallyDrop), so the count is unchanged; `header` outlives it, as the caller keeps the
    // header alive across the poll. Clones made from it take real references.
    ManuallyDrop::new(Waker::from(unsafe { Arc::from_raw(Arc::as_ptr(header)) }))
}

impl Executor {
    pub(crate) fn new(index: usize, reactor: Rc<Reactor>) -> Rc<Executor> {
        let (mailbox, inbox) = Mailbox::new(reactor.netpoll_break().clone());
        Rc::new(Executor {
            index,
            slots: RefCell::default(),
            free: RefCell::default(),
            queue: RefCell::new(VecDeque::with_capacity(256)),
            mailbox,
            inbox,
            reactor,
            shutdown: Cell::new(false),
            spin: Cell::new(Duration::ZERO),
        })
    }

    /// Makes this the thread's executor (and its reactor current) until the guard drops.
    pub(crate) fn enter(self: &Rc<Self>) -> EnterGuard {
        let reactor = self.reactor.enter();
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        EnterGuard { _reactor: reactor }
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
        let header = Header::new(self.mailbox.clone());
        let join = JoinState::new();
        self.insert(Box::pin(Task::new(future, join.clone())), header.clone());
        JoinHandle::new(join, header)
    }

    /// Spawns a task whose handle was made on another thread (spawn_on).
    pub(crate) fn insert(&self, task: BoxedTask, header: Arc<Header>) {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot { generation: 0, scheduled: false, task: None });
                (slots.len() - 1) as u32
            }
        };
        let slot = &mut slots[index as usize];
        header.assign(pack(index, slot.generation));
        slot.task = Some((task, header));
        slot.scheduled = true;
        self.queue.borrow_mut().push_back(index);
        self.stats().tasks_spawned.bump();
        self.stats().tasks_live.bump();
    }

    /// Queues task `id` unless it is queued already or gone.
    fn schedule(&self, id: u64) {
        let (index, generation) = unpack(id);
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(index as usize) else {
            return;
        };
        if slot.generation == generation && !slot.scheduled {
            slot.scheduled = true;
            self.queue.borrow_mut().push_back(index);
        }
    }

    /// Runs up to `budget` queued tasks; returns how many ran.
    fn run_queued(&self, budget: usize) -> usize {
        let mut ran = 0;
        while ran < budget {
            let Some(index) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            let taken = {
                let mut slots = self.slots.borrow_mut();
                let slot = &mut slots[index as usize];
                slot.scheduled = false;
                slot.task.take()
            };
            let Some((mut task, header)) = taken else {
                continue;
            };
            ran += 1;
            if header.is_aborted() {
                self.finish(index, task);
                continue;
            }
            let waker = borrowed_waker(&header);
            #[cfg(feature = "tracing")]
            let _span = tracing::trace_span!("ringpoll.task", core = self.index, task = index).entered();
            let poll = task.as_mut().poll(&mut Context::from_waker(&waker));
            match poll {
                Poll::Pending => self.slots.borrow_mut()[index as usize].task = Some((task, header)),
                Poll::Ready(()) => self.finish(index, task),
            }
        }
        self.stats().tasks_polled.add(ran as u64);
        ran
    }

    /// Frees a finished or aborted task's slot; stale wakes for it are ignored from now on.
    fn finish(&self, index: u32, task: BoxedTask) {
        {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.scheduled = false;
        }
        self.free.borrow_mut().push(index);
        self.stats().tasks_live.sub(1);
        // Dropped last, with nothing borrowed: its destructor may spawn or wake.
        drop(task);
    }

    fn drain_mailbox(&self) {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Msg::Run(f) => f(),
                Msg::Wake(id) => self.schedule(id),
                Msg::Drain => self.reactor.start_draining(),
                Msg::Shutdown => self.shutdown.set(true),
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.queue.borrow().is_empty() || !self.inbox.is_empty()
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
            self.run_queued(BUDGET);
            self.drain_mailbox();
            if self.shutdown.get() {
                return Ok(());
            }
            if !self.queue.borrow().is_empty() || main_woken() {
                self.reactor.poll(Some(Duration::ZERO))?;
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
        let until = Instant::now() + spin;
        loop {
            self.reactor.poll(Some(Duration::ZERO))?;
            if self.has_work() || main_woken() {
                self.stats().spin_hits.bump();
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
    }

    /// Drops every task (their handles report Cancelled), with nothing borrowed, until none
    /// is left: a task's destructor may spawn another.
    pub(crate) fn drop_all_tasks(&self) {
        loop {
            let slots = std::mem::take(&mut *self.slots.borrow_mut());
            self.queue.borrow_mut().clear();
            self.free.borrow_mut().clear();
            if slots.is_empty() {
                break;
            }
            let live = slots.iter().filter(|s| s.task.is_some()).count() as u64;
            drop(slots);
            self.stats().tasks_live.sub(live);
        }
        while let Ok(msg) = self.inbox.try_recv() {
            drop(msg);
        }
    }
}

/// Keeps an executor current on its thread; dropping it restores the previous state.
pub(crate) struct EnterGuard {
    _reactor: ringpoll_reactor::EnterGuard,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}
