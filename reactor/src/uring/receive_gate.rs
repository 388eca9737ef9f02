//! Orders the receives (reads, accepts) of one source around abandoned ones.
//!
//! A receive whose future was dropped may still complete with data; that data is stashed
//! for the next receive. If the next receive were submitted before the late completion
//! arrived, it would wait for data the stash already holds. So a receive first waits until no
//! earlier receive of the source is in flight, then looks in the stash, then submits.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// Per-source count of receives in flight, and the tasks waiting for it to reach zero.
#[derive(Default)]
pub(crate) struct ReceiveGate {
    in_flight: Cell<usize>,
    waiters: RefCell<Vec<Waker>>,
}

impl ReceiveGate {
    /// Ready when no receive of the source is in flight.
    pub(crate) fn poll_clear(&self, cx: &Context<'_>) -> Poll<()> {
        if self.in_flight.get() == 0 {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Marks a receive in flight until the returned guard drops (with the op's data, so an
    /// abandoned receive counts until its completion has been settled).
    pub(crate) fn enter(self: &Rc<Self>) -> Receiving {
        self.in_flight.set(self.in_flight.get() + 1);
        Receiving { gate: Rc::downgrade(self) }
    }
}

/// A receive in flight; see [`ReceiveGate::enter`].
pub(crate) struct Receiving {
    gate: Weak<ReceiveGate>,
}

impl Receiving {
    /// Whether the source still exists (a late result is worth stashing).
    pub(crate) fn source_alive(&self) -> bool {
        self.gate.strong_count() > 0
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let Some(gate) = self.gate.upgrade() else { return };
        gate.in_flight.set(gate.in_flight.get() - 1);
        if gate.in_flight.get() == 0 {
            let waiters = std::mem::take(&mut *gate.waiters.borrow_mut());
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;

    #[test]
    fn waits_for_every_receive_then_opens() {
        let gate = Rc::new(ReceiveGate::default());
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(gate.poll_clear(&cx).is_ready());
        let a = gate.enter();
        let b = gate.enter();
        assert!(gate.poll_clear(&cx).is_pending());
        drop(a);
        assert!(gate.poll_clear(&cx).is_pending());
        assert!(b.source_alive());
        drop(b);
        assert!(gate.poll_clear(&cx).is_ready());
        let late = gate.enter();
        drop(gate);
        assert!(!late.source_alive(), "the source is gone: nothing to stash for");
    }
}
