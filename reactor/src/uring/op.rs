//! The future of one io_uring operation.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use io_uring::{opcode, squeue};

use super::op_table::{Completion, OpId};
use super::Uring;

/// An SQE in flight and the data its pointers refer to.
///
/// `data` must own, on the heap, every byte the SQE points at: moving the `Op` moves only
/// the handle, never the bytes. Dropping the future before the CQE hands `data` to the op
/// table and cancels the op, so the kernel never writes freed memory.
pub(crate) struct Op<'a, T: 'static> {
    uring: &'a Uring,
    id: Option<OpId>,
    data: Option<T>,
}

impl<'a, T: 'static> Op<'a, T> {
    /// Queues `entry`; it is submitted with the core's next io_uring_enter.
    pub(crate) fn new(uring: &'a Uring, entry: squeue::Entry, data: T) -> Op<'a, T> {
        let id = uring.submit(entry);
        Op { uring, id: Some(id), data: Some(data) }
    }

    /// Asks the kernel to cancel the op; the future still resolves, with the op's real
    /// result (it may have completed first) or `-ECANCELED`.
    pub(crate) fn cancel(&self) {
        if let Some(id) = self.id {
            self.uring.push_ignored(opcode::AsyncCancel::new(u64::from(id)).build());
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
            self.uring.abandon(id, Box::new(data));
        }
    }
}
