//! A FIFO of parked tasks, each under a key so a dropped future can leave the queue.
//!
//! Keys grow monotonically, so a `BTreeMap` is a queue (first key = longest waiting) with
//! O(log n) removal from the middle, which cancellation needs.

use std::collections::BTreeMap;
use std::task::{Poll, Waker};

/// One parked task: what it asked for, whether it has been served, its waker.
pub(crate) struct Waiter {
    /// Permits wanted (semaphore); what served it (`Notify`); unused by `Barrier`.
    pub(crate) wants: usize,
    /// Set by the releasing side when the request is granted (or notified).
    pub(crate) served: bool,
    pub(crate) waker: Option<Waker>,
}

/// The queue of parked tasks.
#[derive(Default)]
pub(crate) struct Waiters {
    next: u64,
    queue: BTreeMap<u64, Waiter>,
}

impl Waiters {
    /// Parks a new waiter at the back; returns its key.
    pub(crate) fn push(&mut self, wants: usize, waker: Waker) -> u64 {
        let key = self.next;
        self.next += 1;
        self.queue.insert(key, Waiter { wants, served: false, waker: Some(waker) });
        key
    }

    pub(crate) fn remove(&mut self, key: u64) -> Option<Waiter> {
        self.queue.remove(&key)
    }

    /// The longest-waiting waiter not served yet.
    pub(crate) fn first_unserved(&mut self) -> Option<&mut Waiter> {
        self.queue.values_mut().find(|w| !w.served)
    }

    /// The most recent waiter not served yet.
    pub(crate) fn last_unserved(&mut self) -> Option<&mut Waiter> {
        self.queue.values_mut().rev().find(|w| !w.served)
    }

    /// The parked waiter under `key`, once served: `Pending` (keeping `waker` for the serve)
    /// while it is not, `Ready(Some)` removed from the queue when it is, `Ready(None)` if it
    /// is not queued.
    pub(crate) fn poll_served(&mut self, key: u64, waker: &Waker) -> Poll<Option<Waiter>> {
        match self.queue.get_mut(&key) {
            Some(w) if !w.served => {
                w.waker = Some(waker.clone());
                Poll::Pending
            }
            _ => Poll::Ready(self.queue.remove(&key)),
        }
    }

    /// Serves every waiter not served yet, front to back, after `mark` says with what.
    pub(crate) fn serve_all(&mut self, mut mark: impl FnMut(&mut Waiter)) {
        for w in self.queue.values_mut().filter(|w| !w.served) {
            mark(w);
            w.serve();
        }
    }

    /// Every waiter, front to back.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Waiter> {
        self.queue.values_mut()
    }
}

impl Waiter {
    /// Marks the waiter served and wakes its task.
    pub(crate) fn serve(&mut self) {
        self.served = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}
