//! The future of one submitted io_uring entry.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use io_uring::{opcode, squeue};

use super::op_table::{Completion, OpId};
use super::stash::Stash;
use super::Uring;

/// What to do with a completion that arrives after the future was dropped.
pub(crate) type Settle<T> = fn(T, Completion, &mut Stash);

/// A submitted entry and the data its pointers refer to. Dropping the future before the
/// completion hands `data` to the op table and cancels the entry, so the kernel never
/// writes freed memory; `settle` then decides what the late result keeps.
pub(crate) struct InFlight<'a, T: 'static> {
    uring: &'a Uring,
    id: Option<OpId>,
    data: Option<T>,
    settle: Settle<T>,
}

impl<'a, T: 'static> InFlight<'a, T> {
    /// Queues `entry`; it is submitted with the core's next io_uring_enter.
    ///
    /// # Safety
    /// Every pointer in `entry` must point into memory that `data` owns on the heap, valid
    /// and in place for as long as `data` lives, however `data` is moved (moving the future
    /// moves only the handle, never the bytes).
    pub(crate) unsafe fn new(uring: &'a Uring, entry: squeue::Entry, data: T, settle: Settle<T>) -> InFlight<'a, T> {
        let id = uring.submit(entry);
        InFlight { uring, id: Some(id), data: Some(data), settle }
    }

    /// The entry's id while it is in flight.
    pub(crate) fn id(&self) -> Option<OpId> {
        self.id
    }

    /// Asks the kernel to cancel the entry; the future still resolves, with the real result
    /// (it may have completed first) or `-ECANCELED`.
    pub(crate) fn cancel(&self) {
        if let Some(id) = self.id {
            self.uring.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
    }

    /// Hands the data of an entry still in flight to the op table. Kept out of line: every
    /// completed op drops its future, and that drop should stay a branch, not a call.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self, id: OpId) {
        if let Some(data) = self.data.take() {
            let settle = self.settle;
            self.uring.abandon(id, Box::new(move |done, stash| settle(data, done, stash)));
        }
    }
}

// The future never pins its data: `data` is moved in and out by value.
impl<T: 'static> Unpin for InFlight<'_, T> {}

impl<T: 'static> Future for InFlight<'_, T> {
    type Output = (Completion, T);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let id = this.id.expect("InFlight polled after completion");
        let done = ready!(this.uring.poll_op(id, cx));
        this.id = None;
        Poll::Ready((done, this.data.take().expect("InFlight data taken twice")))
    }
}

impl<T: 'static> Drop for InFlight<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.abandon(id);
        }
    }
}
