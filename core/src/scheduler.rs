//! Which task runs next: a core's task slots, its run queue, and the thread's link to them
//! that lets a local wake skip the mailbox.
//!
//! Tasks live in a generational [`Slab`]; a task's [`Key`] is its id, carried by its waker.
//! Once the task finishes, its slot is freed and the key goes stale, so a wake that arrives
//! late (a waker kept by a timer, or still in the mailbox) finds nothing and is ignored.
//!
//! A task is in the queue at most once: `scheduled` is set when it is queued and cleared when
//! it is taken to be polled, so a burst of wakes costs one queue entry. While its task is being
//! polled, a slot stays occupied but holds no task, and the executor puts the task back
//! afterwards.
//!
//! A task woken during its own poll (`yield_now`, an operation budget spent, any self-wake) is
//! deferred: it waits in `deferred`, not the queue, until the executor has polled the reactor
//! ([`Scheduler::requeue_deferred`]), then goes behind the tasks that poll woke. Otherwise it
//! ran again in the same pass, with a fresh budget, up to the pass's 128 polls before a timer
//! or a socket was looked at; tokio defers `yield_now` and a spent budget the same way. Tasks
//! woken by other tasks still run in the pass (a same-core ping-pong costs no reactor poll).
//!
//! Only the owning thread touches any of this; wakes from elsewhere arrive through the mailbox.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use ringpoll_reactor::slab::{Key, Slab};

use crate::mailbox::Mailbox;
use crate::task::LocalTask;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Scheduler>>> = const { RefCell::new(None) };
}

struct Slot {
    scheduled: bool,
    /// None while the task is being polled.
    task: Option<LocalTask>,
}

/// One core's tasks and run queue.
pub(crate) struct Scheduler {
    /// Whose core this is: a waker whose task lives behind this mailbox may schedule locally.
    mailbox: Arc<Mailbox>,
    slots: RefCell<Slab<Slot>>,
    queue: RefCell<VecDeque<Key>>,
    /// Tasks woken during their own poll, queued once the reactor has been polled.
    deferred: RefCell<Vec<Key>>,
    /// Whether `deferred` holds a task: the executor checks it every turn, and a `Cell` costs
    /// that check no borrow flag.
    any_deferred: Cell<bool>,
}

/// Schedules task `key` if `mailbox` is the calling thread's core; false if it is another's
/// (then the caller sends the wake through the mailbox).
pub(crate) fn wake_local(mailbox: &Arc<Mailbox>, key: Key) -> bool {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(s) if Arc::ptr_eq(&s.mailbox, mailbox) => {
                s.schedule(key);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

/// Whether the calling thread runs a ringpoll core.
pub(crate) fn on_core() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

impl Scheduler {
    pub(crate) fn new(mailbox: Arc<Mailbox>) -> Rc<Scheduler> {
        Rc::new(Scheduler {
            mailbox,
            slots: RefCell::default(),
            queue: RefCell::new(VecDeque::with_capacity(256)),
            deferred: RefCell::default(),
            any_deferred: Cell::new(false),
        })
    }

    /// Makes this the thread's scheduler until the guard drops.
    pub(crate) fn enter(self: &Rc<Self>) -> EnterGuard {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        EnterGuard(())
    }

    /// Stores a task and queues it; `make` learns the task's key first, for its waker.
    pub(crate) fn insert(&self, make: impl FnOnce(Key) -> LocalTask) -> Key {
        let mut slots = self.slots.borrow_mut();
        let key = slots.vacant_key();
        let task = make(key);
        let inserted = slots.insert(Slot { scheduled: true, task: Some(task) });
        debug_assert_eq!(inserted, key);
        self.queue.borrow_mut().push_back(key);
        key
    }

    /// Queues task `key` unless it is queued already or gone; defers it if it is the task
    /// being polled (its slot holds no task), so it runs after the reactor's next poll.
    #[inline]
    pub(crate) fn schedule(&self, key: Key) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(key) {
            if !slot.scheduled {
                slot.scheduled = true;
                if slot.task.is_some() {
                    self.queue.borrow_mut().push_back(key);
                } else {
                    self.deferred.borrow_mut().push(key);
                    self.any_deferred.set(true);
                }
            }
        }
    }

    /// Whether a task woke itself during this pass: the executor then polls the reactor
    /// without sleeping, and calls [`Scheduler::requeue_deferred`].
    #[inline]
    pub(crate) fn has_deferred(&self) -> bool {
        self.any_deferred.get()
    }

    /// Queues the deferred tasks, behind those the reactor's poll just woke.
    #[inline]
    pub(crate) fn requeue_deferred(&self) {
        if self.any_deferred.replace(false) {
            self.queue.borrow_mut().extend(self.deferred.borrow_mut().drain(..));
        }
    }

    /// Takes the next queued task out of its slot to be polled.
    #[inline]
    pub(crate) fn next(&self) -> Option<(Key, LocalTask)> {
        loop {
            let key = self.queue.borrow_mut().pop_front()?;
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = slots.get_mut(key) else { continue };
            slot.scheduled = false;
            if let Some(task) = slot.task.take() {
                return Some((key, task));
            }
        }
    }

    /// Returns a task that is still pending to its slot.
    #[inline]
    pub(crate) fn put_back(&self, key: Key, task: LocalTask) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(key) {
            slot.task = Some(task);
        }
    }

    /// Frees the slot of a task that finished (taken out by [`Scheduler::next`]); wakes still
    /// on their way for it are ignored from now on.
    pub(crate) fn remove(&self, key: Key) {
        self.slots.borrow_mut().remove(key);
    }

    /// Whether a task is queued.
    #[inline]
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.borrow().is_empty()
    }

    /// Takes every task out (to be dropped by the caller with nothing borrowed: a task's
    /// destructor may spawn another) and empties the queue.
    pub(crate) fn take_all(&self) -> Vec<LocalTask> {
        let mut slots = std::mem::take(&mut *self.slots.borrow_mut());
        self.queue.borrow_mut().clear();
        self.deferred.borrow_mut().clear();
        self.any_deferred.set(false);
        slots.iter_mut().filter_map(|(_, slot)| slot.task.take()).collect()
    }
}

/// Keeps a scheduler current on its thread; dropping it clears it.
pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::Break;

    fn mailbox() -> Arc<Mailbox> {
        Mailbox::new(Arc::new(Break::new(true).expect("eventfd"))).0
    }

    fn task() -> LocalTask {
        crate::task::new_local(std::future::pending::<()>(), mailbox()).0
    }

    #[test]
    fn a_burst_of_wakes_queues_a_task_once() {
        let s = Scheduler::new(mailbox());
        let key = s.insert(|_| task());
        s.schedule(key);
        s.schedule(key);
        let (taken, t) = s.next().expect("queued on insert");
        assert_eq!(taken, key);
        assert!(s.next().is_none(), "queued once");
        s.put_back(key, t);
        s.schedule(key);
        s.schedule(key);
        assert!(s.next().is_some());
        assert!(s.next().is_none());
    }

    #[test]
    fn a_wake_during_the_poll_defers_the_task_until_the_reactor_was_polled() {
        let s = Scheduler::new(mailbox());
        let key = s.insert(|_| task());
        let other = s.insert(|_| task());
        let (_, t) = s.next().unwrap();
        s.schedule(key);
        s.schedule(key);
        s.put_back(key, t);
        assert!(s.has_deferred());
        let (_, o) = s.next().expect("the other task");
        assert!(s.next().is_none(), "deferred, not queued");
        s.put_back(other, o);
        s.schedule(other); // woken by the reactor's poll, say
        s.requeue_deferred();
        assert!(!s.has_deferred());
        assert_eq!(s.next().map(|(k, _)| k), Some(other), "behind what the reactor woke");
        assert_eq!(s.next().map(|(k, _)| k), Some(key), "then polled again, once");
        assert!(s.next().is_none());
    }

    #[test]
    fn wakes_for_a_finished_task_are_ignored_even_once_its_slot_is_reused() {
        let s = Scheduler::new(mailbox());
        let old = s.insert(|_| task());
        s.next().unwrap();
        s.remove(old);
        let new = s.insert(|key| {
            assert_eq!(key.index(), old.index(), "make learns the reused slot's key");
            task()
        });
        assert_ne!(old, new);
        assert_eq!(s.next().map(|(k, _)| k), Some(new));
        s.schedule(old);
        assert!(!s.has_queued(), "a stale wake queues nothing");
    }

    #[test]
    fn only_the_owning_core_schedules_locally() {
        let (mine, theirs) = (mailbox(), mailbox());
        let s = Scheduler::new(mine.clone());
        let key = s.insert(|_| task());
        let (_, t) = s.next().unwrap();
        s.put_back(key, t); // polled, and waiting
        assert!(!on_core() && !wake_local(&mine, key), "no scheduler is current yet");
        let guard = s.enter();
        assert!(on_core());
        assert!(!wake_local(&theirs, key), "another core's task goes through its mailbox");
        assert!(!s.has_queued());
        assert!(wake_local(&mine, key));
        assert!(s.has_queued());
        drop(guard);
        assert!(!on_core());
    }

    #[test]
    fn take_all_hands_back_every_stored_task() {
        let s = Scheduler::new(mailbox());
        let keys: Vec<Key> = (0..3).map(|_| s.insert(|_| task())).collect();
        let (running, _t) = s.next().unwrap();
        assert_eq!(running, keys[0]);
        assert_eq!(s.take_all().len(), 2, "the task being polled is its poller's to drop");
        assert!(!s.has_queued());
        s.schedule(keys[1]);
        assert!(!s.has_queued(), "the keys are gone with their tasks");
    }
}
