//! `block_on`: a one-core runtime on the calling thread, for tests and tools.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use ringpoll_reactor::{DriverChoice, DriverKind, Reactor};

use crate::blocking::{self, Pool};
use crate::executor::Executor;
use crate::mailbox::Mailbox;
use crate::scheduler;

/// Wakes the `block_on` future: sets a flag the loop checks, and breaks the core's sleep.
struct MainWaker {
    woken: AtomicBool,
    mailbox: Arc<Mailbox>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.mailbox.poke();
    }
}

/// How long `block_on` waits, on return, for jobs of its blocking pool still running.
const POOL_GRACE: Duration = Duration::from_secs(1);

/// Runs `future` to completion on the calling thread, with a core of its own (reactor,
/// timers, task queue, blocking pool) whose driver `RINGPOLL_DRIVER` picks (default: io_uring
/// when the kernel allows it). Tasks it spawns run on the same thread and are dropped when it
/// returns; blocking jobs still running then get up to a second to finish.
///
/// On io_uring the core's ring lives on the calling thread. The kernel finishes tearing a
/// closed ring down a little later and then interrupts that thread once (task work sent
/// with TWA_SIGNAL): a blocking call with a timeout made right after `block_on` returns may
/// fail with `ErrorKind::Interrupted`, which std's `read_exact`/`write_all` already retry.
/// A [`Runtime`](crate::Runtime) has no such effect on the thread that builds it.
///
/// # Panics
/// If the thread already runs a ringpoll core, or no reactor can be created (see
/// [`try_block_on`]).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let choice = DriverChoice::from_env().unwrap_or_else(|e| panic!("ringpoll: {e}"));
    try_block_on(choice, future).unwrap_or_else(|e| panic!("ringpoll::block_on: {e}"))
}

/// As [`block_on`], with an explicit driver choice, and errors returned instead of panics.
pub fn try_block_on<F: Future>(choice: DriverChoice, future: F) -> io::Result<F::Output> {
    if scheduler::on_core() {
        return Err(io::Error::other("block_on called on a thread that already runs a ringpoll core"));
    }
    let (kind, fallback) = choice.resolve()?;
    crate::runtime::report_fallback(fallback);
    let reactor = Reactor::new(kind)?;
    let ex = Executor::new(0, reactor);
    let pool = Pool::new(&Default::default())?;
    let _guard = ex.enter();
    let _pool = blocking::enter(pool.clone());
    let main = Arc::new(MainWaker { woken: AtomicBool::new(true), mailbox: ex.mailbox().clone() });
    let waker = Waker::from(main.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut output = None;
    let run = ex.run(
        || {
            if output.is_none() && main.woken.swap(false, SeqCst) {
                let polled = ringpoll_reactor::budget::scoped(|| future.as_mut().poll(&mut cx));
                if let Poll::Ready(out) = polled {
                    output = Some(out);
                }
            }
            output.is_some()
        },
        || main.woken.load(SeqCst),
    );
    let result = run.and_then(|()| output.take().ok_or_else(|| io::Error::other("ringpoll core shut down")));
    ex.drop_all_tasks();
    pool.shutdown(POOL_GRACE);
    result
}

/// The driver `block_on` would use, after probing (and the reason `auto` fell back, if it did).
pub fn resolve_driver(choice: DriverChoice) -> io::Result<DriverKind> {
    choice.resolve().map(|(kind, _)| kind)
}
