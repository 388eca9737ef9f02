//! The future of one io_uring operation.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use io_uring::{opcode, squeue};

use super::op_table::{Completion, OpId};
use super::stash::Stash;
use super::Uring;

/// What to do with a completion that arrives after the future was dropped.
pub(crate) type Settle<T> = fn(T, Completion, &mut Stash);

/// An SQE in flight and the data its pointers refer to.
///
/// `data` must own, on the heap, every byte the SQE points at: moving the `Op` moves only
/// the handle, never the bytes. Dropping the future before the CQE hands `data` to the op
/// table and cancels the op, so the kernel never writes freed memory.
pub(crate) struct Op<'a, T: 'static> {
    uring: &'a Uring,
    id: Option<OpId>,
    data: Option<T>,
    settle: Settle<T>,
}

impl<'a, T: 'static> Op<'a, T> {
    /// Queues `entry`; it is submitted with the core's next io_uring_enter. A late result of
    /// a dropped future is discarded with `data`.
    pub(crate) fn new(uring: &'a Uring, entry: squeue::Entry, data: T) -> Op<'a, T> {
        Op::settled_by(uring, entry, data, |data, _, _| drop(data))
    }

    /// As [`Op::new`], with `settle` deciding what a late result of a dropped future keeps
    /// (bytes read, a connection accepted).
    pub(crate) fn settled_by(uring: &'a Uring, entry: squeue::Entry, data: T, settle: Settle<T>) -> Op<'a, T> {
        let id = uring.submit(entry);
        Op { uring, id: Some(id), data: Some(data), settle }
    }

    /// The op's id while it is in flight.
    pub(crate) fn id(&self) -> Option<OpId> {
        self.id
    }

    /// Asks the kernel to cancel the op; the future still resolves, with the op's real
    /// result (it may have completed first) or `-ECANCELED`.
    pub(crate) fn cancel(&self) {
        if let Some(id) = self.id {
            self.uring.push_ignored(opcode::AsyncCancel::new(id).build());
        }
    }
}

// The op never pins its data: `data` is moved in and out by value.
impl<T: 'static> Unpin for Op<'_, T> {}

impl<T: 'static> Future for Op<'_, T> {
    type Output = (Completion, T);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let id = this.id.expect("Op polled after completion");
        let done = ready!(this.uring.poll_op(id, cx));
        this.id = None;
        Poll::Ready((done, this.data.take().expect("Op data taken twice")))
    }
}

impl<T: 'static> Drop for Op<'_, T> {
    fn drop(&mut self) {
        if let (Some(id), Some(data)) = (self.id, self.data.take()) {
            let settle = self.settle;
            self.uring.abandon(id, Box::new(move |done, stash| settle(data, done, stash)));
        }
    }
}
