//! The future a core stores for each task: the user's future plus its JoinHandle's slot.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::join::{JoinError, JoinState};

/// Polls `future`, turning a panic into [`JoinError::Panic`] so the core survives it, and
/// reports [`JoinError::Cancelled`] if dropped unfinished (abort, shutdown).
pub(crate) struct Task<F: Future> {
    future: F,
    join: Option<Arc<JoinState<F::Output>>>,
}

impl<F: Future> Task<F> {
    pub(crate) fn new(future: F, join: Arc<JoinState<F::Output>>) -> Task<F> {
        Task { future, join: Some(join) }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: it is never moved out of the Task, and the
        // Drop impl below only touches `join`. `join` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let out = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(panic) => Err(JoinError::Panic(panic)),
        };
        if let Some(join) = this.join.take() {
            join.complete(out);
        }
        Poll::Ready(())
    }
}

impl<F: Future> Drop for Task<F> {
    fn drop(&mut self) {
        if let Some(join) = self.join.take() {
            join.complete(Err(JoinError::Cancelled));
        }
    }
}
