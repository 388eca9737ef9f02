//! Senders waiting for room in a full bounded channel.
//!
//! Waiters queue in arrival order, and each message taken wakes the one that waited longest,
//! so a sender that keeps sending cannot starve the others. The queue is behind a lock, but
//! the receiver takes it only when its count says someone waits: a channel that is not full
//! costs each receive a fence and a load.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The senders waiting for room. Their count and the queue are crossed with a fence on both
/// sides (a waiter: its entry, then the queue's fill; the receiver: the pop, then the count),
/// so either the waiter sees the room or the receiver sees the waiter.
#[derive(Debug, Default)]
pub(super) struct Room {
    /// Entries in `waiters.queue`, to read without the lock.
    waiting: AtomicUsize,
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    next_id: u64,
    queue: VecDeque<(u64, Waker)>,
}

impl Room {
    /// Waits until `has_room` (checked after the waiter is queued, so a message taken
    /// meanwhile is not missed) or a wake for room. Room seen is not room kept: another
    /// sender may take it first, and the caller then waits again, at the back.
    pub(super) fn wait<F: Fn() -> bool>(&self, has_room: F) -> RoomWait<'_, F> {
        RoomWait { room: self, has_room, id: None }
    }

    /// After a message was taken: wakes the sender that waited longest, if one waits.
    #[inline]
    pub(super) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) > 0 {
            let waker = self.lock().pop_front(&self.waiting);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// The channel closed: every waiting sender wakes and finds it so.
    pub(super) fn notify_all(&self) {
        let woken = std::mem::take(&mut self.lock().queue);
        self.waiting.store(0, Ordering::Relaxed);
        woken.into_iter().for_each(|(_, waker)| waker.wake());
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Nothing panics while holding it; a poisoned queue is still consistent.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Waiters {
    fn pop_front(&mut self, waiting: &AtomicUsize) -> Option<Waker> {
        let (_, waker) = self.queue.pop_front()?;
        waiting.store(self.queue.len(), Ordering::Relaxed);
        Some(waker)
    }

    /// Removes entry `id`; `false` if it is not queued, because a wake for room took it out.
    fn remove(&mut self, id: u64, waiting: &AtomicUsize) -> bool {
        let Some(at) = self.queue.iter().position(|(queued, _)| *queued == id) else { return false };
        self.queue.remove(at);
        waiting.store(self.queue.len(), Ordering::Relaxed);
        true
    }
}

/// A sender's wait for room ([`Room::wait`]). Dropped after a wake it did not use, it passes
/// the wake on to the next waiter, so a cancelled send never strands the room it was given.
#[derive(Debug)]
pub(super) struct RoomWait<'a, F> {
    room: &'a Room,
    has_room: F,
    /// The entry queued, while queued (or woken and not yet polled).
    id: Option<u64>,
}

impl<F: Fn() -> bool + Unpin> Future for RoomWait<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let room = this.room;
        let mut waiters = room.lock();
        let Some(id) = this.id else {
            let id = waiters.next_id;
            waiters.next_id += 1;
            waiters.queue.push_back((id, cx.waker().clone()));
            room.waiting.store(waiters.queue.len(), Ordering::Relaxed);
            drop(waiters);
            fence(Ordering::SeqCst);
            if (this.has_room)() {
                room.lock().remove(id, &room.waiting);
                return Poll::Ready(()); // whether or not a wake took the entry: it is used now
            }
            this.id = Some(id);
            return Poll::Pending;
        };
        match waiters.queue.iter_mut().find(|(queued, _)| *queued == id) {
            Some((_, waker)) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                Poll::Pending
            }
            None => {
                this.id = None;
                Poll::Ready(())
            }
        }
    }
}

impl<F> Drop for RoomWait<'_, F> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let removed = self.room.lock().remove(id, &self.room.waiting);
            if !removed {
                self.room.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringpoll_reactor::counting_waker::WakeCount;
    use std::cell::Cell;
    use std::sync::Arc;

    fn poll<F: Fn() -> bool + Unpin>(wait: &mut RoomWait<'_, F>, count: &Arc<WakeCount>) -> Poll<()> {
        let waker = Waker::from(count.clone());
        Pin::new(wait).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn room_goes_to_the_longest_waiting_sender_and_a_dropped_one_passes_it_on() {
        let room = Room::default();
        let full = Cell::new(true);
        let (a, b) = (Arc::new(WakeCount::default()), Arc::new(WakeCount::default()));
        let mut wait_a = room.wait(|| !full.get());
        let mut wait_b = room.wait(|| !full.get());
        assert!(poll(&mut wait_a, &a).is_pending());
        assert!(poll(&mut wait_b, &b).is_pending());
        assert_eq!(room.waiting.load(Ordering::Relaxed), 2);

        room.notify_one(); // a message was taken
        assert_eq!((a.get(), b.get()), (1, 0), "the first to wait is woken first");
        drop(wait_a); // its send was cancelled before it used the room
        assert_eq!(b.get(), 1, "the room it was given went to the next sender");
        assert!(poll(&mut wait_b, &b).is_ready());
        assert_eq!(room.waiting.load(Ordering::Relaxed), 0);
        drop(wait_b);
        assert_eq!((a.get(), b.get()), (1, 1), "a used wake is not passed on");
    }

    #[test]
    fn room_seen_after_queueing_is_not_waited_for_and_close_wakes_everyone() {
        let room = Room::default();
        let count = Arc::new(WakeCount::default());
        let mut has_room = room.wait(|| true);
        assert!(poll(&mut has_room, &count).is_ready(), "room taken meanwhile is found");
        assert_eq!(room.waiting.load(Ordering::Relaxed), 0, "and its entry is gone");

        let mut waits: Vec<_> = (0..3).map(|_| room.wait(|| false)).collect();
        waits.iter_mut().for_each(|w| assert!(poll(w, &count).is_pending()));
        room.notify_all();
        assert_eq!(count.get(), 3);
        waits.iter_mut().for_each(|w| assert!(poll(w, &count).is_ready()));
        drop(waits);
        assert_eq!(count.get(), 3, "nothing to pass on after a close");
    }

    #[test]
    fn room_granted_between_queueing_and_looking_is_used_or_passed_on() {
        let room = Room::default();
        let (a, b) = (Arc::new(WakeCount::default()), Arc::new(WakeCount::default()));
        // The receiver takes a message (waking the first waiter, this one) after it queued and
        // before it looks; another sender fills the room first, so the look finds none.
        let mut granted = room.wait(|| {
            room.notify_one();
            false
        });
        assert!(poll(&mut granted, &a).is_pending());
        assert_eq!(a.get(), 1, "woken by the grant");
        let mut next = room.wait(|| false);
        assert!(poll(&mut next, &b).is_pending());
        drop(granted); // cancelled before the poll its wake asked for
        assert_eq!(b.get(), 1, "the grant went on to the next waiter");
        assert!(poll(&mut next, &b).is_ready());
        drop(next);

        // The same grant, with the room still there when it looks: used, not passed on.
        let mut uses_it = room.wait(|| {
            room.notify_one();
            true
        });
        assert!(poll(&mut uses_it, &a).is_ready(), "room seen: no wait");
        let mut behind = room.wait(|| false);
        assert!(poll(&mut behind, &b).is_pending());
        drop(uses_it);
        assert_eq!(b.get(), 1, "the waiter behind was not woken: that grant was used");
        assert!(poll(&mut behind, &b).is_pending());
    }

    #[test]
    fn a_close_between_queueing_and_looking_is_seen() {
        let room = Room::default();
        let closed = Cell::new(false);
        let count = Arc::new(WakeCount::default());
        let mut wait = room.wait(|| {
            closed.set(true);
            room.notify_all(); // the receiver closes meanwhile
            closed.get()
        });
        assert!(poll(&mut wait, &count).is_ready(), "the look sees the close");
        drop(wait);
        assert_eq!(room.waiting.load(Ordering::Relaxed), 0);
    }
}
