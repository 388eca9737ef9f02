//! Spawning: on the current core, or onto any core from any thread.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Waker;

use crate::executor;
use crate::header::Header;
use crate::join::{JoinError, JoinHandle, JoinState};
use crate::mailbox::{Mailbox, Msg};
use crate::task::Task;

/// Spawns `future` on the current core. It may be `!Send`: it never leaves this core.
///
/// # Panics
/// Outside a ringpoll core (a [`Runtime`](crate::Runtime) thread or [`block_on`](crate::block_on)).
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    executor::current().expect("ringpoll::spawn called outside a ringpoll core").spawn(future)
}

/// The index of the calling thread's core in its runtime (0 for `block_on`), if it is one.
pub fn current_core() -> Option<usize> {
    executor::current().map(|ex| ex.index())
}

/// A spawn in flight to another core. If the core never runs it (it shut down), dropping it
/// completes the handle with [`JoinError::Cancelled`] instead of leaving it pending forever.
struct Remote<F, T> {
    make: Option<F>,
    join: Option<Arc<JoinState<T>>>,
    header: Arc<Header>,
}

impl<F, Fut> Remote<F, Fut::Output>
where
    F: FnOnce() -> Fut,
    Fut: Future + 'static,
{
    /// Makes the future on its core and spawns it. A panic in `make` is caught like a panic
    /// in the task: the handle reports it and the core keeps running.
    fn run(mut self) {
        let make = self.make.take().expect("run once");
        let future = match catch_unwind(AssertUnwindSafe(make)) {
            Ok(future) => future,
            Err(panic) => {
                if let Some(join) = self.join.take() {
                    join.complete(Err(JoinError::Panic(panic)));
                }
                return;
            }
        };
        let join = self.join.take().expect("run once");
        let ex = executor::current().expect("a mailbox message runs on its core");
        ex.insert(Task::new(future, join), self.header.clone());
    }
}

impl<F, T> Drop for Remote<F, T> {
    fn drop(&mut self) {
        if let Some(join) = self.join.take() {
            join.complete(Err(JoinError::Cancelled));
        }
    }
}

/// Runs `make()` on the core behind `mailbox`; the future it returns may be `!Send`.
pub(crate) fn spawn_remote<F, Fut>(mailbox: &Arc<Mailbox>, make: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let header = Header::new(mailbox.clone());
    let join = JoinState::new();
    let remote = Remote { make: Some(make), join: Some(join.clone()), header: header.clone() };
    mailbox.send(Msg::Run(Box::new(move || remote.run())));
    JoinHandle::new(join, Waker::from(header))
}

/// Yields once: the task goes to the back of its core's run queue.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}
