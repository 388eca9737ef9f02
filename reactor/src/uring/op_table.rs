//! The io_uring op table: what each in-flight operation's `user_data` refers to.
//!
//! A slot is taken when an SQE is pushed and freed only after its final CQE has been seen,
//! so a `user_data` is never reused while the kernel may still complete it. Slots live in the
//! crate's generational [`Slab`], and an id is the slot's key: a cancel still queued for an op
//! that has since completed and been freed names a dead id, not the op that reuses the slot. An op future that is dropped while its SQE is in flight
//! moves whatever the kernel may still touch (buffers, socket addresses) into the slot as
//! [`Slot::Abandoned`], inside an [`Orphan`] that also says what to do with a late result;
//! the CQE runs and frees it. Pure bookkeeping, no syscalls: tested under Miri.

use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::stash::Stash;
use super::Uring;
use crate::slab::{Key, Slab};

/// What a dropped op does with its completion; runs once the CQE arrives.
pub(crate) type Orphan = Box<dyn FnOnce(Completion, &mut Stash)>;

/// The receiver of a multishot op's completions (a connection's recv stream). Its slot lives
/// until a completion without IORING_CQE_F_MORE.
pub(crate) trait Stream {
    /// Handles one completion; called with nothing of the driver borrowed.
    fn deliver(&self, uring: &Uring, done: Completion);
}

/// Identifies an in-flight op; the SQE's `user_data`: its slot's key ([`Key::to_u64`]), never
/// all ones in its high half, so `u64::MAX` down to `u64::MAX - 2` are free for the driver.
pub(crate) type OpId = u64;

/// "No op" where an [`OpId`] is stored in one word (an idle multishot recv, a direction with
/// no op in flight): no id the table hands out is all ones.
pub(crate) const NO_OP: OpId = u64::MAX;

/// A completion: the CQE's result (`-errno` on failure) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completion {
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

enum Slot {
    /// Submitted; the waker of the task awaiting the CQE, once it has polled.
    Submitted(Option<Waker>),
    /// The CQE arrived; the future has not collected it yet.
    Done(Completion),
    /// The future is gone; the kernel may still use what this holds.
    Abandoned(Orphan),
    /// A multishot op: every completion goes to its stream.
    Stream(Rc<dyn Stream>),
}

/// What a completion asks the driver to do once the table is no longer borrowed.
pub(crate) enum Finished {
    /// Wake the task awaiting it.
    Wake(Waker),
    /// Settle an abandoned op: run its orphan with the completion, freeing what it kept.
    Settle(Orphan, Completion),
    /// Hand the completion to a multishot op's stream.
    Deliver(Rc<dyn Stream>, Completion),
    /// Nothing: no task has polled the op yet, or the id is unknown.
    Nothing,
}

/// All in-flight ops of one ring.
#[derive(Default)]
pub(crate) struct OpTable {
    slots: Slab<Slot>,
}

impl OpTable {
    /// Takes a slot for an SQE about to be pushed.
    #[inline]
    pub(crate) fn insert(&mut self) -> OpId {
        self.slots.insert(Slot::Submitted(None)).to_u64()
    }

    /// Takes a slot for an SQE about to be pushed whose task is known: `waker` is woken by
    /// the completion without a first poll (which would only find the slot in flight).
    #[inline]
    pub(crate) fn insert_awaited(&mut self, waker: Waker) -> OpId {
        self.slots.insert(Slot::Submitted(Some(waker))).to_u64()
    }

    /// Takes a slot for a multishot SQE whose completions all go to `stream`.
    pub(crate) fn insert_stream(&mut self, stream: Rc<dyn Stream>) -> OpId {
        self.slots.insert(Slot::Stream(stream)).to_u64()
    }

    /// The slot of `id`, which must be live: a future or orphan holds the only copy.
    #[inline]
    fn live(&mut self, id: OpId) -> &mut Slot {
        self.slots.get_mut(Key::from_u64(id)).unwrap_or_else(|| unreachable!("op {id:#x} used after it was freed"))
    }

    #[inline]
    fn release(&mut self, id: OpId) {
        self.slots.remove(Key::from_u64(id));
    }

    /// Records a CQE.
    pub(crate) fn complete(&mut self, id: OpId, done: Completion) -> Finished {
        let Some(slot) = self.slots.get_mut(Key::from_u64(id)) else {
            return Finished::Nothing;
        };
        if let Slot::Stream(stream) = slot {
            let stream = stream.clone();
            if !io_uring::cqueue::more(done.flags) {
                self.release(id);
            }
            return Finished::Deliver(stream, done);
        }
        match std::mem::replace(slot, Slot::Done(done)) {
            Slot::Submitted(Some(waker)) => Finished::Wake(waker),
            Slot::Submitted(None) => Finished::Nothing,
            Slot::Abandoned(orphan) => {
                self.release(id);
                Finished::Settle(orphan, done)
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
    #[inline]
    pub(crate) fn poll(&mut self, id: OpId, cx: &Context<'_>) -> Poll<Completion> {
        match self.live(id) {
            Slot::Done(done) => {
                let done = *done;
                let freed = self.slots.remove(Key::from_u64(id));
                // A `Done` holds a `Completion`, which is `Copy`: forgetting the freed slot
                // drops nothing, and saves a call to the slot's drop glue per op.
                debug_assert!(matches!(freed, Some(Slot::Done(_))));
                std::mem::forget(freed);
                Poll::Ready(done)
            }
            Slot::Submitted(Some(w)) if w.will_wake(cx.waker()) => Poll::Pending,
            Slot::Submitted(waiter) => {
                *waiter = Some(cx.waker().clone());
                Poll::Pending
            }
            Slot::Abandoned(_) | Slot::Stream(_) => unreachable!("op {id:#x} is not a one-shot in flight"),
        }
    }

    /// A clone of the waker of a submitted op.
    pub(crate) fn waker_of(&self, id: OpId) -> Option<Waker> {
        match self.slots.get(Key::from_u64(id)) {
            Some(Slot::Submitted(Some(w))) => Some(w.clone()),
            _ => None,
        }
    }

    /// The future of `id` is dropped. If the op is still in flight, `orphan` waits for the
    /// CQE (the caller should cancel the op) and None is returned; if its completion already
    /// arrived, the slot is freed and the orphan comes back with it, to be settled now.
    pub(crate) fn abandon(&mut self, id: OpId, orphan: Orphan) -> Option<(Orphan, Completion)> {
        let slot = self.live(id);
        match slot {
            Slot::Submitted(_) => {
                *slot = Slot::Abandoned(orphan);
                None
            }
            Slot::Done(done) => {
                let done = *done;
                self.release(id);
                Some((orphan, done))
            }
            Slot::Abandoned(_) | Slot::Stream(_) => unreachable!("op {id:#x} abandoned twice"),
        }
    }

    /// How many ops await their CQE or their future.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many ops still await their CQE.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight_ids().len()
    }

    /// The ops still awaiting their CQE (the teardown cancels them).
    pub(crate) fn in_flight_ids(&self) -> Vec<OpId> {
        let pending = |(_, s): &(Key, &Slot)| matches!(s, Slot::Submitted(_) | Slot::Abandoned(_) | Slot::Stream(_));
        self.slots.iter().filter(pending).map(|(key, _)| key.to_u64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;
    use std::cell::Cell;
    use std::rc::Rc;

    const OK: Completion = Completion { result: 5, flags: 0 };

    #[test]
    fn completion_wakes_the_poller_and_is_collected_once() {
        let mut ops = OpTable::default();
        let (count, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        let id = ops.insert();
        assert!(ops.poll(id, &cx).is_pending());
        match ops.complete(id, OK) {
            Finished::Wake(w) => w.wake(),
            _ => panic!("the poller must be woken"),
        }
        assert_eq!(count.get(), 1);
        assert_eq!(ops.poll(id, &cx), Poll::Ready(OK));
        assert_eq!(ops.len(), 0);
        let reused = ops.insert();
        assert_eq!(reused & 0xffff_ffff, id & 0xffff_ffff, "the freed slot is reused");
        assert_ne!(reused, id, "under a new id: a late cancel of the old one misses it");
        assert!(matches!(ops.complete(id, OK), Finished::Nothing), "a stale CQE or cancel touches nothing");
        assert!(ops.waker_of(id).is_none());
    }

    #[test]
    fn an_op_inserted_with_its_waker_is_woken_without_a_poll() {
        let mut ops = OpTable::default();
        let (count, waker) = WakeCount::waker();
        let id = ops.insert_awaited(waker.clone());
        match ops.complete(id, OK) {
            Finished::Wake(w) => w.wake(),
            _ => panic!("the waker given with the op must be woken"),
        }
        assert_eq!(count.get(), 1);
        let cx = Context::from_waker(&waker);
        assert_eq!(ops.poll(id, &cx), Poll::Ready(OK));
        assert_eq!(ops.len(), 0, "collected: the slot is free");
    }

    #[test]
    fn a_stream_slot_lives_until_a_completion_without_more() {
        struct Sink;
        impl Stream for Sink {
            fn deliver(&self, _: &Uring, _: Completion) {}
        }
        let mut ops = OpTable::default();
        let id = ops.insert_stream(Rc::new(Sink));
        // IORING_CQE_F_MORE
        let more = Completion { result: 10, flags: 1 << 1 };
        for _ in 0..3 {
            assert!(matches!(ops.complete(id, more), Finished::Deliver(_, c) if c == more));
        }
        assert_eq!(ops.in_flight_ids(), [id], "teardown cancels a live stream");
        let last = Completion { result: 0, flags: 0 };
        assert!(matches!(ops.complete(id, last), Finished::Deliver(_, c) if c == last));
        assert_eq!(ops.len(), 0, "the final completion frees the slot");
        assert!(matches!(ops.complete(id, more), Finished::Nothing), "a stale id reaches nothing");
    }

    #[test]
    fn abandoned_op_keeps_its_buffer_until_the_cqe() {
        let mut ops = OpTable::default();
        let buf = Rc::new(vec![0u8; 64]);
        let id = ops.insert();
        let kept = buf.clone();
        assert!(ops.abandon(id, Box::new(move |_, _| drop(kept))).is_none(), "in flight: must be cancelled");
        assert_eq!(Rc::strong_count(&buf), 2, "the table keeps the buffer alive");
        let other = ops.insert();
        assert_ne!(other, id, "an abandoned slot is not reused before its CQE");
        let cancelled = Completion { result: -libc::ECANCELED, flags: 0 };
        match ops.complete(id, cancelled) {
            Finished::Settle(orphan, done) => {
                assert_eq!(done, cancelled);
                orphan(done, &mut Stash::default());
            }
            _ => panic!("the CQE must settle the orphan"),
        }
        assert_eq!(Rc::strong_count(&buf), 1);
        assert_eq!(ops.in_flight(), 1);
    }

    #[test]
    fn abandoning_a_finished_op_hands_back_its_completion() {
        let mut ops = OpTable::default();
        let id = ops.insert();
        assert!(matches!(ops.complete(id, OK), Finished::Nothing));
        let settled = Rc::new(Cell::new(None));
        let seen = settled.clone();
        let (orphan, done) = ops.abandon(id, Box::new(move |c, _| seen.set(Some(c)))).expect("already complete");
        assert_eq!(ops.len(), 0, "the slot is free at once");
        orphan(done, &mut Stash::default());
        assert_eq!(settled.get(), Some(OK), "a result that arrived is not silently dropped");
    }

    #[test]
    fn thousands_of_abandoned_ops_are_all_released() {
        let mut ops = OpTable::default();
        let buf = Rc::new(());
        let ids: Vec<_> = (0..2000).map(|_| ops.insert()).collect();
        for &id in &ids {
            let kept = buf.clone();
            assert!(ops.abandon(id, Box::new(move |_, _| drop(kept))).is_none());
        }
        let mut stash = Stash::default();
        for &id in ids.iter().rev() {
            if let Finished::Settle(orphan, done) = ops.complete(id, OK) {
                orphan(done, &mut stash);
            }
        }
        assert_eq!(Rc::strong_count(&buf), 1);
        assert_eq!(ops.len(), 0);
    }

    /// A deterministic fuzz of the table against a model: random interleavings of submit,
    /// poll, completion and abandonment. Every completion reaches exactly one of its future or
    /// its orphan, exactly once, and no id is reused while the kernel may still complete it.
    #[test]
    fn random_interleavings_match_the_model() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum Model {
            InFlight { polled: bool },
            Done,
            Abandoned,
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let settled = Rc::new(Cell::new(0u32));
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        let mut ops = OpTable::default();
        let mut stash = Stash::default();
        let mut model: std::collections::HashMap<OpId, Model> = Default::default();
        let (mut collected, mut expected_settles) = (0u32, 0u32);
        let rounds = if cfg!(miri) { 300 } else { 5_000 };
        for _ in 0..rounds {
            let mut ids: Vec<OpId> = model.keys().copied().collect();
            ids.sort_unstable();
            let choice = next(4);
            let picked = if ids.is_empty() { None } else { Some(ids[next(ids.len() as u64) as usize]) };
            match (choice, picked) {
                (0, _) => {
                    let id = ops.insert();
                    assert!(model.insert(id, Model::InFlight { polled: false }).is_none(), "id {id} reused while live");
                }
                (1, Some(id)) => {
                    if let Model::InFlight { .. } = model[&id] {
                        let result = next(100) as i32 - 50;
                        match ops.complete(id, Completion { result, flags: 0 }) {
                            Finished::Wake(_) => assert_eq!(model[&id], Model::InFlight { polled: true }),
                            Finished::Nothing => assert_eq!(model[&id], Model::InFlight { polled: false }),
                            Finished::Settle(..) => panic!("a live op settled"),
                            Finished::Deliver(..) => panic!("a one-shot op delivered like a stream"),
                        }
                        model.insert(id, Model::Done);
                    } else if model[&id] == Model::Abandoned {
                        match ops.complete(id, OK) {
                            Finished::Settle(orphan, done) => orphan(done, &mut stash),
                            _ => panic!("an abandoned op must settle"),
                        }
                        model.remove(&id);
                    }
                }
                (2, Some(id)) => match model[&id] {
                    Model::InFlight { .. } => {
                        assert!(ops.poll(id, &cx).is_pending());
                        model.insert(id, Model::InFlight { polled: true });
                    }
                    Model::Done => {
                        assert!(ops.poll(id, &cx).is_ready());
                        collected += 1;
                        model.remove(&id);
                    }
                    Model::Abandoned => {}
                },
                (3, Some(id)) => {
                    let seen = settled.clone();
                    let orphan: Orphan = Box::new(move |_, _| seen.set(seen.get() + 1));
                    match model[&id] {
                        Model::InFlight { .. } => {
                            assert!(ops.abandon(id, orphan).is_none());
                            expected_settles += 1;
                            model.insert(id, Model::Abandoned);
                        }
                        Model::Done => {
                            let (orphan, done) = ops.abandon(id, orphan).expect("finished");
                            orphan(done, &mut stash);
                            expected_settles += 1;
                            model.remove(&id);
                        }
                        Model::Abandoned => {}
                    }
                }
                _ => {}
            }
            assert_eq!(ops.len(), model.len());
            assert_eq!(ops.in_flight(), model.values().filter(|m| !matches!(m, Model::Done)).count());
        }
        let pending_abandoned = model.values().filter(|m| **m == Model::Abandoned).count() as u32;
        assert_eq!(settled.get() + pending_abandoned, expected_settles, "every orphan settles once");
        assert!(collected > 0 && expected_settles > 0, "the fuzz exercised both paths");
    }
}
