//! Orders the receives (reads, accepts) of one source around abandoned ones.
//!
//! A receive whose future was dropped may still complete with data; that data is stashed
//! for the next receive. If the next receive were submitted before the late completion
//! arrived, it would wait for data the stash already holds. So a receive first waits until no
//! earlier receive of the source is in flight, then looks in the stash, then submits.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// Per-source count of receives in flight, and the tasks waiting for it to reach zero.
///
/// Every io_uring socket has one, and an idle connection's armed recv keeps it: so the
/// waiters, which only a read racing a dropped one ever has, are boxed, and the gate fits
/// the allocator's 48-byte class with its `Rc` counts.
#[derive(Default)]
pub(crate) struct ReceiveGate {
    in_flight: Cell<usize>,
    // One word instead of a Vec's three, to fit the malloc class (see above).
    #[allow(clippy::box_collection)]
    waiters: RefCell<Option<Box<Vec<Waker>>>>,
}

impl ReceiveGate {
    /// Ready when no receive of the source is in flight.
    pub(crate) fn poll_clear(&self, cx: &Context<'_>) -> Poll<()> {
        if self.in_flight.get() == 0 {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        let waiters = waiters.get_or_insert_with(Default::default);
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

/// A source's gate, made by its first receive that may outlive its future.
///
/// Most sockets never need one: a connection read with pooled reads enters the gate only
/// when a plain read retires its multishot recv while the recv is still in the kernel (see
/// `recv_stream`), so an idle pooled connection holds no gate (48 bytes of heap fewer).
#[derive(Default)]
pub(crate) struct SourceGate(OnceCell<Rc<ReceiveGate>>);

impl SourceGate {
    /// Ready when no receive of the source is in flight (at once if none ever was).
    #[inline]
    pub(crate) fn poll_clear(&self, cx: &Context<'_>) -> Poll<()> {
        match self.0.get() {
            None => Poll::Ready(()),
            Some(gate) => gate.poll_clear(cx),
        }
    }

    /// Whether no receive of the source is in flight.
    #[inline]
    pub(crate) fn is_clear(&self) -> bool {
        self.0.get().is_none_or(|gate| gate.in_flight.get() == 0)
    }

    /// Marks a receive in flight until the returned guard drops; see [`ReceiveGate::enter`].
    pub(crate) fn enter(&self) -> Receiving {
        match self.0.get() {
            Some(gate) => gate.enter(),
            None => self.first_enter(),
        }
    }

    #[cold]
    fn first_enter(&self) -> Receiving {
        self.0.get_or_init(Rc::default).enter()
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
            let waiters = gate.waiters.borrow_mut().take();
            waiters.into_iter().flat_map(|w| *w).for_each(Waker::wake);
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

    #[test]
    fn a_source_gate_is_made_by_its_first_receive() {
        let gate = SourceGate::default();
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(gate.poll_clear(&cx).is_ready());
        assert!(gate.0.get().is_none(), "no receive yet: nothing allocated");
        let receiving = gate.enter();
        assert!(gate.poll_clear(&cx).is_pending());
        assert!(receiving.source_alive());
        drop(receiving);
        assert!(gate.poll_clear(&cx).is_ready());
        let late = gate.enter();
        drop(gate);
        assert!(!late.source_alive(), "the source is gone");
        assert_eq!(std::mem::size_of::<SourceGate>(), 8, "one word in every registration");
    }

    #[test]
    fn a_gate_fits_the_48_byte_malloc_class() {
        // glibc hands out 16-byte steps plus an 8-byte header: 40 bytes (the Rc's two counts
        // and the gate) is the most that still takes 48.
        assert!(std::mem::size_of::<ReceiveGate>() + 16 <= 40);
    }

    #[test]
    fn every_waiter_is_woken_when_the_last_receive_settles() {
        let gate = Rc::new(ReceiveGate::default());
        let (count, waker) = WakeCount::waker();
        let (other_count, other) = WakeCount::waker();
        let receiving = gate.enter();
        assert!(gate.poll_clear(&Context::from_waker(&waker)).is_pending());
        assert!(gate.poll_clear(&Context::from_waker(&other)).is_pending());
        drop(receiving);
        assert_eq!((count.get(), other_count.get()), (1, 1));
        assert!(gate.waiters.borrow().is_none(), "the waiters' box is freed");
    }
}
