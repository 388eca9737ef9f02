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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Nop;
    impl Wake for Nop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll<F: Future>(task: Pin<&mut Task<F>>) -> Poll<()> {
        let waker = Waker::from(Arc::new(Nop));
        task.poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_panic_becomes_a_join_error() {
        let join = JoinState::<()>::new();
        let mut task = Box::pin(Task::new(async { panic!("in the task") }, join.clone()));
        assert!(poll(task.as_mut()).is_ready());
        let waker = Waker::from(Arc::new(Nop));
        match join_poll(&join, &waker) {
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
        let waker = Waker::from(Arc::new(Nop));
        assert!(matches!(join_poll(&join, &waker), Poll::Ready(Err(JoinError::Cancelled))));
    }

    fn join_poll<T>(join: &JoinState<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
        join.poll_for_test(&Context::from_waker(waker))
    }
}
