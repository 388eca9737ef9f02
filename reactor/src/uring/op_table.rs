//! The io_uring op table: what each in-flight operation's `user_data` refers to.
//!
//! A slot is taken when an SQE is pushed and freed only after its final CQE has been seen,
//! so a `user_data` is never reused while the kernel may still complete it, and no
//! generation counter is needed. An op future that is dropped while its SQE is in flight
//! moves whatever the kernel may still touch (buffers, socket addresses) into the slot as
//! [`Slot::Abandoned`]; the CQE frees it. Pure bookkeeping, no syscalls: tested under Miri.

use std::any::Any;
use std::task::{Context, Poll, Waker};

/// Identifies an in-flight op; the SQE's `user_data`.
pub(crate) type OpId = u32;

/// A completion: the CQE's result (`-errno` on failure) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

enum Slot {
    Vacant,
    /// Submitted; the waker of the task awaiting the CQE, once it has polled.
    Submitted(Option<Waker>),
    /// The CQE arrived; the future has not collected it yet.
    Done(Completion),
    /// The future is gone; the kernel may still use what this holds.
    Abandoned(#[allow(dead_code)] Box<dyn Any>),
}

/// What a completion asks the driver to do once the table is no longer borrowed.
pub(crate) enum Finished {
    /// Wake the task awaiting it.
    Wake(Waker),
    /// Free what an abandoned op kept alive.
    Release(Box<dyn Any>),
    /// Nothing: no task has polled the op yet, or the id is unknown.
    Nothing,
}

/// All in-flight ops of one ring.
#[derive(Default)]
pub(crate) struct OpTable {
    slots: Vec<Slot>,
    free: Vec<OpId>,
}

impl OpTable {
    /// Takes a slot for an SQE about to be pushed.
    pub(crate) fn insert(&mut self) -> OpId {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Slot::Submitted(None);
                id
            }
            None => {
                self.slots.push(Slot::Submitted(None));
                (self.slots.len() - 1) as OpId
            }
        }
    }

    fn release(&mut self, id: OpId) {
        self.slots[id as usize] = Slot::Vacant;
        self.free.push(id);
    }

    /// Records a CQE.
    pub(crate) fn complete(&mut self, id: OpId, done: Completion) -> Finished {
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return Finished::Nothing;
        };
        match std::mem::replace(slot, Slot::Done(done)) {
            Slot::Submitted(Some(waker)) => Finished::Wake(waker),
            Slot::Submitted(None) => Finished::Nothing,
            Slot::Abandoned(keep) => {
                self.release(id);
                Finished::Release(keep)
            }
            // A CQE for a slot that is not in flight would be a kernel or driver bug; keep the
            // slot as it was rather than corrupt a live op.
            other => {
                *slot = other;
                Finished::Nothing
            }
        }
    }

    /// Collects the completion, freeing the slot, or parks `cx` until it arrives.
    pub(crate) fn poll(&mut self, id: OpId, cx: &Context<'_>) -> Poll<Completion> {
        let slot = &mut self.slots[id as usize];
        match slot {
            Slot::Done(done) => {
                let done = *done;
                self.release(id);
                Poll::Ready(done)
            }
            Slot::Submitted(Some(w)) if w.will_wake(cx.waker()) => Poll::Pending,
            Slot::Submitted(waiter) => {
                *waiter = Some(cx.waker().clone());
                Poll::Pending
            }
            Slot::Vacant | Slot::Abandoned(_) => unreachable!("op {id} polled after it was freed"),
        }
    }

    /// The future of `id` is dropped. Returns true if the op is still in flight (the caller
    /// should cancel it); `keep` then lives until the CQE. A finished op is freed at once.
    pub(crate) fn abandon(&mut self, id: OpId, keep: Box<dyn Any>) -> bool {
        let slot = &mut self.slots[id as usize];
        if let Slot::Submitted(_) = slot {
            *slot = Slot::Abandoned(keep);
            true
        } else {
            self.release(id);
            false
        }
    }

    /// How many ops await their CQE or their future.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// How many ops still await their CQE.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight_ids().len()
    }

    /// The ops still awaiting their CQE (the teardown cancels them).
    pub(crate) fn in_flight_ids(&self) -> Vec<OpId> {
        let pending = |(_, s): &(usize, &Slot)| matches!(s, Slot::Submitted(_) | Slot::Abandoned(_));
        self.slots.iter().enumerate().filter(pending).map(|(i, _)| i as OpId).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    const OK: Completion = Completion { result: 5, flags: 0 };

    #[test]
    fn completion_wakes_the_poller_and_is_collected_once() {
        let mut ops = OpTable::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let cx = Context::from_waker(&waker);
        let id = ops.insert();
        assert!(ops.poll(id, &cx).is_pending());
        match ops.complete(id, OK) {
            Finished::Wake(w) => w.wake(),
            _ => panic!("the poller must be woken"),
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(ops.poll(id, &cx), Poll::Ready(OK));
        assert_eq!(ops.len(), 0);
        assert_eq!(ops.insert(), id, "the freed slot is reused");
    }

    #[test]
    fn abandoned_op_keeps_its_buffer_until_the_cqe() {
        let mut ops = OpTable::default();
        let buf = Rc::new(vec![0u8; 64]);
        let id = ops.insert();
        assert!(ops.abandon(id, Box::new(buf.clone())), "in flight: must be cancelled");
        assert_eq!(Rc::strong_count(&buf), 2, "the table keeps the buffer alive");
        let other = ops.insert();
        assert_ne!(other, id, "an abandoned slot is not reused before its CQE");
        match ops.complete(id, Completion { result: -libc::ECANCELED, flags: 0 }) {
            Finished::Release(keep) => drop(keep),
            _ => panic!("the CQE must release the buffer"),
        }
        assert_eq!(Rc::strong_count(&buf), 1);
        assert_eq!(ops.in_flight(), 1);
    }

    #[test]
    fn abandoning_a_finished_op_frees_it_now() {
        let mut ops = OpTable::default();
        let id = ops.insert();
        assert!(matches!(ops.complete(id, OK), Finished::Nothing));
        let buf = Rc::new(0u8);
        assert!(!ops.abandon(id, Box::new(buf.clone())));
        assert_eq!(Rc::strong_count(&buf), 1, "the keep-alive is dropped at once");
        assert_eq!(ops.len(), 0);
    }

    #[test]
    fn thousands_of_abandoned_ops_are_all_released() {
        let mut ops = OpTable::default();
        let buf = Rc::new(());
        let ids: Vec<_> = (0..2000).map(|_| ops.insert()).collect();
        for &id in &ids {
            assert!(ops.abandon(id, Box::new(buf.clone())));
        }
        for &id in ids.iter().rev() {
            drop(ops.complete(id, OK));
        }
        assert_eq!(Rc::strong_count(&buf), 1);
        assert_eq!(ops.len(), 0);
    }
}
