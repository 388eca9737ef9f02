//! Go-style I/O deadlines of a source: one per direction, applying to the operation parked
//! now and to every later one until moved or cleared.
//!
//! Allocated on first use, so sockets that never set one pay a single null pointer.

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::interest::Interest;
use crate::time::{sleep_until, Sleep};

#[derive(Default)]
struct Slot {
    at: Cell<Option<Instant>>,
    /// Armed while an operation waits with a deadline set.
    timer: RefCell<Option<Sleep>>,
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
        let Some(slot) = self.slots.get().map(|s| &s[interest as usize]) else { return Poll::Pending };
        let Some(at) = slot.at.get() else { return Poll::Pending };
        let mut timer = slot.timer.borrow_mut();
        match timer.as_mut() {
            Some(t) if t.deadline() == at => t.poll_elapsed(cx),
            _ => timer.insert(sleep_until(at)).poll_elapsed(cx),
        }
    }
}
