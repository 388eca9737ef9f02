//! The future of one submitted io_uring entry.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use io_uring::{opcode, squeue};

use super::op_table::{Completion, OpId};
use super::stash::Stash;
use super::Uring;

/// Data an entry points into, and what it does with a completion that arrives after its
/// future was dropped. A trait rather than a function pointer in every future: each op in
/// flight is part of a connection's task.
pub(crate) trait Late: Sized + 'static {
    /// The completion `done` of an entry whose future is gone.
    fn settle(self, done: Completion, stash: &mut Stash);
}

/// A submitted entry and the data its pointers refer to. Dropping the future before the
/// completion hands `data` to the op table and cancels the entry, so the kernel never
/// writes freed memory; [`Late::settle`] then decides what the late result keeps.
pub(crate) struct InFlight<'a, T: Late> {
    uring: &'a Uring,
    /// The entry's id, [`DONE`] once its completion was taken (a word, not an `Option`: no id
    /// the op table hands out has all its high bits set).
    id: OpId,
    data: Option<T>,
}

/// The `id` of an entry whose completion was taken.
const DONE: OpId = u64::MAX;

impl<'a, T: Late> InFlight<'a, T> {
    /// Queues `entry`; it is submitted with the core's next io_uring_enter.
    ///
    /// # Safety
    /// Every pointer in `entry` must point into memory that `data` owns on the heap, valid
    /// and in place for as long as `data` lives, however `data` is moved (moving the future
    /// moves only the handle, never the bytes).
    #[inline]
    pub(crate) unsafe fn new(uring: &'a Uring, entry: squeue::Entry, data: T) -> InFlight<'a, T> {
        let id = uring.submit(entry);
        InFlight { uring, id, data: Some(data) }
    }

    /// Queues `entry` for the task of `waker`, which its completion wakes: the future need
    /// not be polled before then (a first poll would only find it in flight).
    ///
    /// # Safety
    /// As for [`InFlight::new`].
    #[inline]
    pub(crate) unsafe fn new_awaited(
        uring: &'a Uring,
        entry: squeue::Entry,
        data: T,
        waker: &Waker,
    ) -> InFlight<'a, T> {
        let id = uring.submit_awaited(entry, waker);
        InFlight { uring, id, data: Some(data) }
    }

    /// The entry's id while it is in flight.
    #[inline]
    pub(crate) fn id(&self) -> Option<OpId> {
        Some(self.id).filter(|&id| id != DONE)
    }

    /// Whether the completion and the data were taken: the future owns nothing.
    pub(crate) fn is_spent(&self) -> bool {
        self.id == DONE && self.data.is_none()
    }

    /// Asks the kernel to cancel the entry; the future still resolves, with the real result
    /// (it may have completed first) or `-ECANCELED`.
    pub(crate) fn cancel(&self) {
        if let Some(id) = self.id() {
            self.uring.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
    }

    /// Hands the data of an entry still in flight to the op table. Kept out of line: every
    /// completed op drops its future, and that drop should stay a branch, not a call.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self, id: OpId) {
        if let Some(data) = self.data.take() {
            self.uring.abandon(id, Box::new(move |done, stash| data.settle(done, stash)));
        }
    }
}

// The future never pins its data: `data` is moved in and out by value.
impl<T: Late> Unpin for InFlight<'_, T> {}

impl<T: Late> Future for InFlight<'_, T> {
    type Output = (Completion, T);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let id = this.id().expect("InFlight polled after completion");
        let done = ready!(this.uring.poll_op(id, cx));
        this.id = DONE;
        Poll::Ready((done, this.data.take().expect("InFlight data taken twice")))
    }
}

impl<T: Late> Drop for InFlight<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.id() {
            self.abandon(id);
        }
    }
}
