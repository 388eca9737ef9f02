//! The receivers of a [`watch`](super::watch) or [`broadcast`](super::broadcast) channel that
//! wait for the next change, on any core or thread.
//!
//! Many receivers, so a list (unlike `cross_core`'s one `ReceiverWait`). Each receiver owns a
//! slot in it for its life ([`Slot`]), so waiting again reuses the slot and an unchanged waker
//! costs no clone. A notify takes every waker out under the lock and wakes them after it:
//! a wake from another core goes through that core's mailbox and maybe an eventfd write, not
//! something to do while receivers on other cores wait for the lock. A waker taken is a wake
//! spent: each waiting receiver is woken once per wait, however many notifies come.
//!
//! A notify while nobody waits costs a fence and a load: the count of parked wakers and the
//! channel's state are crossed with a fence on both sides (a receiver: its waker, then the
//! state; a notifier: the state, then the count), so either the receiver sees the change or
//! the notifier sees the receiver.

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// The waiting receivers of one channel.
#[derive(Debug, Default)]
pub(super) struct WaitList {
    /// Wakers parked in `slots`, to read without the lock.
    parked: AtomicUsize,
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    /// Indexed by slot key; `None` while its receiver is not waiting (or was woken).
    wakers: Vec<Option<Waker>>,
    /// Keys released by dropped receivers, for the next to take.
    free: Vec<usize>,
}

/// A receiver's place in a [`WaitList`]: taken at its first wait, given back with
/// [`WaitList::release`] when the receiver goes.
#[derive(Debug, Default)]
pub(super) struct Slot {
    key: Option<usize>,
    /// A waker was left since the last [`WaitList::unpark`]: that one must look.
    parked: bool,
}

impl WaitList {
    /// Leaves `waker` in `slot` for the next notify. The caller looks at the channel once
    /// more afterwards: a change made before the waker was left is found there.
    pub(super) fn park(&self, slot: &mut Slot, waker: &Waker) {
        let mut slots = self.lock();
        let key = *slot.key.get_or_insert_with(|| slots.take_key());
        let parked = &mut slots.wakers[key];
        match parked {
            Some(old) if old.will_wake(waker) => {}
            Some(old) => old.clone_from(waker),
            None => {
                *parked = Some(waker.clone());
                self.parked.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(slots);
        slot.parked = true;
        fence(Ordering::SeqCst);
    }

    /// The receiver stops waiting (it found a change, or its wait was dropped): a later
    /// notify need not wake its task.
    pub(super) fn unpark(&self, slot: &mut Slot) {
        if !std::mem::take(&mut slot.parked) {
            return;
        }
        let Some(key) = slot.key else { return };
        if self.lock().wakers[key].take().is_some() {
            self.parked.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The receiver is gone: its slot goes back to the list.
    pub(super) fn release(&self, slot: &mut Slot) {
        let Some(key) = slot.key.take() else { return };
        let mut slots = self.lock();
        if slots.wakers[key].take().is_some() {
            self.parked.fetch_sub(1, Ordering::Relaxed);
        }
        slots.free.push(key);
    }

    /// After the channel changed: wakes every receiver waiting, each once.
    pub(super) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let woken: Vec<Waker> = {
            let mut slots = self.lock();
            let woken: Vec<Waker> = slots.wakers.iter_mut().filter_map(Option::take).collect();
            self.parked.fetch_sub(woken.len(), Ordering::Relaxed);
            woken
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// Wakers parked now.
    #[cfg(test)]
    pub(super) fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing panics while holding it; a poisoned list is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One wait of a receiver that keeps its [`Slot`]: parks in it, and takes its waker back out
/// when the wait ends, done or dropped.
#[derive(Debug)]
pub(super) struct Waiting<'a> {
    list: &'a WaitList,
    slot: &'a mut Slot,
}

impl<'a> Waiting<'a> {
    pub(super) fn new(list: &'a WaitList, slot: &'a mut Slot) -> Waiting<'a> {
        Waiting { list, slot }
    }

    /// [`WaitList::park`]s the receiver's slot.
    pub(super) fn park(&mut self, waker: &Waker) {
        self.list.park(self.slot, waker);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.list.unpark(self.slot);
    }
}

/// One wait with a slot of its own (several may wait on one `&self`), released when the wait
/// ends, done or dropped.
#[derive(Debug)]
pub(super) struct OneWait<'a> {
    list: &'a WaitList,
    slot: Slot,
}

impl<'a> OneWait<'a> {
    pub(super) fn new(list: &'a WaitList) -> OneWait<'a> {
        OneWait { list, slot: Slot::default() }
    }

    /// [`WaitList::park`]s its slot.
    pub(super) fn park(&mut self, waker: &Waker) {
        self.list.park(&mut self.slot, waker);
    }
}

impl Drop for OneWait<'_> {
    fn drop(&mut self) {
        self.list.release(&mut self.slot);
    }
}

impl Slots {
    fn take_key(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.wakers.push(None);
            self.wakers.len() - 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;

    #[test]
    fn each_waiting_receiver_is_woken_once_per_wait() {
        let list = WaitList::default();
        let ((a, a_waker), (b, b_waker)) = (WakeCount::waker(), WakeCount::waker());
        let (mut a_slot, mut b_slot) = (Slot::default(), Slot::default());
        list.notify_all(); // nobody waits: nothing to do
        list.park(&mut a_slot, &a_waker);
        list.park(&mut a_slot, &a_waker); // polled again before the change: still one waker
        list.park(&mut b_slot, &b_waker);
        assert_eq!(list.parked(), 2);
        list.notify_all();
        list.notify_all(); // a second change before they ran: their wakes are spent
        assert_eq!((a.get(), b.get()), (1, 1));
        assert_eq!(list.parked(), 0);
        list.unpark(&mut a_slot);
        list.unpark(&mut b_slot);
        assert_eq!(list.parked(), 0, "a woken receiver has nothing to take back");
    }

    #[test]
    fn an_unparked_or_released_receiver_is_not_woken_and_its_slot_is_reused() {
        let list = WaitList::default();
        let ((a, a_waker), (b, b_waker)) = (WakeCount::waker(), WakeCount::waker());
        let (mut a_slot, mut b_slot) = (Slot::default(), Slot::default());
        list.park(&mut a_slot, &a_waker);
        list.unpark(&mut a_slot); // it found the change on its second look
        list.park(&mut b_slot, &b_waker);
        list.release(&mut b_slot); // dropped while waiting
        assert_eq!(list.parked(), 0);
        list.notify_all();
        assert_eq!((a.get(), b.get()), (0, 0));

        let mut c_slot = Slot::default();
        list.park(&mut c_slot, &b_waker);
        assert_eq!(c_slot.key, Some(1), "the released key is taken again");
        assert_eq!(list.lock().wakers.len(), 2);
    }

    #[test]
    fn a_receiver_waiting_in_another_task_is_woken_there() {
        let list = WaitList::default();
        let ((old, old_waker), (new, new_waker)) = (WakeCount::waker(), WakeCount::waker());
        let mut slot = Slot::default();
        list.park(&mut slot, &old_waker);
        list.park(&mut slot, &new_waker);
        list.notify_all();
        assert_eq!((old.get(), new.get()), (0, 1));
    }
}
