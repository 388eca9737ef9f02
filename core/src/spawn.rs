//! Spawning: on the current core, or onto any core from any thread.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::executor;
use crate::join::{JoinError, JoinHandle};
use crate::mailbox::{Mailbox, Msg};
use crate::task::{self, Unstarted};

/// Spawns `future` on the current core. It may be `!Send`: it never leaves this core.
///
/// # Panics
/// Outside a ringpoll core (a [`Runtime`](crate::Runtime) thread or [`block_on`](crate::block_on)).
#[track_caller]
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    executor::current().expect("ringpoll::spawn called outside a ringpoll core").spawn(future)
}

/// The index of the calling thread's core in its runtime (0 for `block_on`), if it is one.
pub fn current_core() -> Option<usize> {
    executor::current().map(|ex| ex.index())
}

/// A spawn in flight to another core: the task is allocated here, its future made there. If
/// the core never runs it (it shut down), dropping it completes the handle with
/// [`JoinError::Cancelled`] instead of leaving it pending forever.
struct Remote<F, Fut: Future> {
    make: Option<F>,
    task: Option<Unstarted<Fut>>,
}

impl<F, Fut> Remote<F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future + 'static,
{
    /// Makes the future on its core and spawns it. A panic in `make` is caught like a panic
    /// in the task: the handle reports it and the core keeps running.
    fn run(mut self) {
        let make = self.make.take().expect("run once");
        let task = self.task.take().expect("run once");
        match catch_unwind(AssertUnwindSafe(make)) {
            Ok(future) => {
                let ex = executor::current().expect("a mailbox message runs on its core");
                ex.insert(task.start(future));
            }
            Err(panic) => task.join().complete(Err(JoinError::Panic(panic))),
        }
    }
}

impl<F, Fut: Future> Drop for Remote<F, Fut> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.join().complete(Err(JoinError::Cancelled));
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
    let task = task::allocate::<Fut>(mailbox.clone());
    let handle = JoinHandle::task(task.handle());
    let remote = Remote { make: Some(make), task: Some(task) };
    mailbox.send(Msg::Run(Box::new(move || remote.run())));
    handle
}

/// Yields once: the task runs again after its core has polled its reactor (timers and I/O),
/// behind the tasks queued meanwhile, as tokio's `yield_now` defers it. Alone on its core, a
/// task yielding in a loop so costs one reactor poll per yield (`benches/micro.rs`).
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
