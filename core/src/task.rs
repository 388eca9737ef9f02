//! The future a core stores for each task: the user's future plus its JoinHandle's slot.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::join::{JoinError, JoinState};

/// Polls `future`, turning a panic into [`JoinError::Panic`] so the core survives it, and
/// reports [`JoinError::Cancelled`] if dropped unfinished (abort, shutdown). An aborted task
/// finishes without polling `future` again, so its core drops it.
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
        if this.join.as_ref().is_some_and(|join| join.is_aborted()) {
            return Poll::Ready(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    fn poll<F: Future>(task: Pin<&mut Task<F>>) -> Poll<()> {
        task.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_panic_becomes_a_join_error() {
        let join = JoinState::<()>::new();
        let mut task = Box::pin(Task::new(async { panic!("in the task") }, join.clone()));
        assert!(poll(task.as_mut()).is_ready());
        match join_poll(&join, Waker::noop()) {
            Poll::Ready(Err(e)) => assert!(e.is_panic()),
            _ => panic!("the panic must reach the handle"),
        }
    }

    #[test]
    fn dropping_an_unfinished_task_cancels_its_handle() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let join = JoinState::<()>::new();
        let guard = Guard;
        let mut task = Box::pin(Task::new(
            async move {
                let _g = guard;
                std::future::pending::<()>().await
            },
            join.clone(),
        ));
        assert!(poll(task.as_mut()).is_pending());
        drop(task);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1, "the future's state is dropped");
        assert!(matches!(join_poll(&join, Waker::noop()), Poll::Ready(Err(JoinError::Cancelled))));
    }

    #[test]
    fn an_aborted_task_finishes_without_polling_its_future_and_reports_cancelled() {
        let polled = Arc::new(AtomicUsize::new(0));
        let seen = polled.clone();
        let join = JoinState::<()>::new();
        let mut task = Box::pin(Task::new(
            std::future::poll_fn(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                Poll::<()>::Pending
            }),
            join.clone(),
        ));
        assert!(poll(task.as_mut()).is_pending());
        join.abort();
        assert!(poll(task.as_mut()).is_ready(), "an aborted task is done");
        assert_eq!(polled.load(Ordering::SeqCst), 1, "its future is not polled again");
        assert!(join_poll(&join, Waker::noop()).is_pending(), "cancelled once dropped, not before");
        drop(task);
        assert!(matches!(join_poll(&join, Waker::noop()), Poll::Ready(Err(JoinError::Cancelled))));
    }

    fn join_poll<T>(join: &JoinState<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
        join.poll_for_test(&Context::from_waker(waker))
    }
}
