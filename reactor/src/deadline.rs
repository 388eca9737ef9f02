//! Go-style I/O deadlines of a source: one per direction, applying to the operation parked
//! now and to every later one until moved or cleared.
//!
//! Allocated on first use, so sockets that never set one pay a single null pointer.

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::interest::Interest;
use crate::time::{sleep_until, Sleep};

#[derive(Default)]
struct Slot {
    at: Cell<Option<Instant>>,
    /// Armed while an operation waits with a deadline set.
    timer: RefCell<Option<Sleep>>,
    /// Tasks that wait on the deadline itself, not in an operation (an accept's backoff
    /// pause): the driver's wake of the waiting operation does not reach them, so a change
    /// wakes them here. One per task, dropped when woken.
    watchers: RefCell<Vec<Waker>>,
}

/// The read and write deadlines of one source. A `OnceCell`, so the common case (no deadline
/// ever set) costs one pointer and one load per check.
#[derive(Default)]
pub(crate) struct Deadlines {
    slots: OnceCell<Box<[Slot; 2]>>,
}

/// The error an operation fails with once its deadline has passed.
pub(crate) fn exceeded() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o deadline exceeded")
}

impl Deadlines {
    /// Sets or clears the deadline of `interest`.
    pub(crate) fn set(&self, interest: Interest, at: Option<Instant>) {
        if at.is_none() && self.slots.get().is_none() {
            return;
        }
        let slot = &self.slots.get_or_init(Default::default)[interest as usize];
        slot.at.set(at);
        slot.timer.borrow_mut().take();
        let watchers = std::mem::take(&mut *slot.watchers.borrow_mut());
        watchers.into_iter().for_each(Waker::wake);
    }

    /// The deadline of `interest`, with `cx` woken when it is next set, moved or cleared.
    #[cold]
    pub(crate) fn watch(&self, interest: Interest, cx: &Context<'_>) -> Option<Instant> {
        let slot = &self.slots.get_or_init(Default::default)[interest as usize];
        let mut watchers = slot.watchers.borrow_mut();
        if !watchers.iter().any(|w| w.will_wake(cx.waker())) {
            watchers.push(cx.waker().clone());
        }
        slot.at.get()
    }

    /// The deadline of `interest`.
    #[inline]
    pub(crate) fn get(&self, interest: Interest) -> Option<Instant> {
        self.slots.get().and_then(|s| s[interest as usize].at.get())
    }

    /// Whether the deadline of `interest` has passed (checked before starting an operation).
    #[inline]
    pub(crate) fn expired(&self, interest: Interest) -> bool {
        self.get(interest).is_some_and(|at| Instant::now() >= at)
    }

    /// Ready once the deadline of `interest` has passed; until then a timer wakes `cx` then.
    #[inline]
    pub(crate) fn poll_expired(&self, interest: Interest, cx: &mut Context<'_>) -> Poll<()> {
        match self.slots.get() {
            Some(slots) => slots[interest as usize].poll_expired(cx),
            None => Poll::Pending,
        }
    }
}

impl Slot {
    /// Out of line: the readiness wait of every operation inlines the check above, and most
    /// sockets never set a deadline.
    #[cold]
    #[inline(never)]
    fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.at.get() else { return Poll::Pending };
        let mut timer = self.timer.borrow_mut();
        match timer.as_mut() {
            Some(t) if t.deadline() == at => t.poll_elapsed(cx),
            _ => timer.insert(sleep_until(at)).poll_elapsed(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;
    use std::time::Duration;

    #[test]
    fn a_watcher_is_woken_once_by_the_next_change_of_its_direction_only() {
        let deadlines = Deadlines::default();
        let (count, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert_eq!(deadlines.watch(Interest::Read, &cx), None);
        assert_eq!(deadlines.watch(Interest::Read, &cx), None, "watched twice by one task");
        deadlines.set(Interest::Write, Some(Instant::now()));
        assert_eq!(count.get(), 0, "woken by the other direction");
        let at = Instant::now() + Duration::from_secs(5);
        deadlines.set(Interest::Read, Some(at));
        assert_eq!(count.get(), 1, "one wake per task");
        deadlines.set(Interest::Read, None);
        assert_eq!(count.get(), 1, "a watcher is woken once, then watches again if it wants");
        assert_eq!(deadlines.watch(Interest::Read, &cx), None);
    }
}
