//! How the one receiver of a cross-core channel waits for a message.
//!
//! A channel has one receiver, so its wait needs no list of listeners: the receiver leaves its
//! waker and raises a flag; a sender that finds the flag up takes it down and wakes it. A send
//! then costs a fence and a load while the receiver is busy, where a listener list (as
//! `async-channel`'s `event-listener`) takes a lock on every send, the same lock the receiver
//! takes to wait: between two cores that lock was contended (futex calls in the round-trip
//! benchmark).

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Waker;

/// The receiver's side of the handshake. Both sides store, fence (`SeqCst`) and load, crossed
/// (a sender: the message, then `waiting`; the receiver: `waiting`, then the queue), so either
/// the receiver finds the message before it sleeps or the sender finds the flag up and wakes it.
#[derive(Debug, Default)]
pub(super) struct ReceiverWait {
    /// The receiver found the queue empty and waits for a send (or the last sender's drop).
    waiting: AtomicBool,
    /// Its task, left before the flag goes up; locked only to change it or to wake it.
    waker: Mutex<Option<Waker>>,
}

impl ReceiverWait {
    /// After a message was pushed or the last sender dropped: wakes the receiver if it waits.
    #[inline]
    pub(super) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            if let Some(waker) = self.lock().as_ref() {
                waker.wake_by_ref();
            }
        }
    }

    /// Raises the flag with `waker` left for the sender; `registered` is the receiver's copy
    /// of the waker left last time, so an unchanged waker costs no lock. The caller looks at
    /// the queue once more afterwards: a message sent before the flag went up is found there.
    pub(super) fn park(&self, waker: &Waker, registered: &mut Option<Waker>) {
        if !registered.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *self.lock() = Some(waker.clone());
            *registered = Some(waker.clone());
        }
        self.waiting.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The receiver found a message after all: no wake needed (one already on its way is
    /// harmless, an empty poll).
    pub(super) fn unpark(&self) {
        self.waiting.store(false, Ordering::Relaxed);
    }

    /// The receiver is gone: senders outliving it need not keep its task alive.
    pub(super) fn forget(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        // Nothing panics while holding it; a poisoned waker slot is still consistent.
        self.waker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;

    #[test]
    fn a_parked_receiver_is_woken_once_per_park_and_only_while_parked() {
        let wait = ReceiverWait::default();
        let (count, waker) = WakeCount::waker();
        let mut registered = None;
        wait.notify(); // a send before the receiver looked: it finds the message itself
        assert_eq!(count.get(), 0);

        wait.park(&waker, &mut registered);
        wait.notify();
        wait.notify(); // a burst: the first send took the flag down
        assert_eq!(count.get(), 1, "one wake per park");

        wait.park(&waker, &mut registered);
        wait.unpark(); // its second look found a message
        wait.notify();
        assert_eq!(count.get(), 1, "no wake for a receiver that is not waiting");

        wait.park(&waker, &mut registered);
        wait.forget(); // the receiver is gone with the flag up
        wait.notify();
        assert_eq!(count.get(), 1, "nobody left to wake");
    }

    #[test]
    fn a_receiver_moved_to_another_task_is_woken_there_only() {
        let wait = ReceiverWait::default();
        let ((old, old_waker), (new, new_waker)) = (WakeCount::waker(), WakeCount::waker());
        let mut registered = None;
        wait.park(&old_waker, &mut registered);
        // Its first task dropped the wait unwoken; the flag is still up when the next parks.
        wait.park(&new_waker, &mut registered);
        wait.notify();
        assert_eq!((old.get(), new.get()), (0, 1));
        wait.park(&new_waker, &mut registered); // the same waker: no lock, still woken
        wait.notify();
        assert_eq!((old.get(), new.get()), (0, 2));
    }
}
