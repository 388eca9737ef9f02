//! Cooperative scheduling: how many I/O operations one poll of a task may complete.
//!
//! On epoll an operation on a ready socket completes in the poll that starts it, so a task
//! copying from a socket that never runs dry (a fast upstream, a flood of datagrams) would
//! never return `Pending`, and the other tasks of its core, its timers included, would
//! never run: reading a socket fed by another thread, a task kept a 10 ms ticker on its core
//! to one tick in a second. Go preempts such a goroutine; tokio gives each task poll a budget
//! of 128 operations. So does ringpoll: the executor opens a budget around each poll of a
//! task ([`scoped`]), each operation takes one unit as it is polled ([`poll_proceed`]), and
//! once they are spent an operation answers `Pending` and wakes its task at once, which
//! then runs again after the tasks already queued and a look at the reactor. Outside a
//! task's poll (a future driven by hand, a thread with no executor) there is no limit.
//!
//! The check costs an operation 6-9 instructions: an echo round trip (two operations a side,
//! `benches/op_cost.sh`) took 3,115 instructions on epoll against 3,051 before, and 5,286
//! on io_uring against 5,242.
//!
//! io_uring operations complete on a later turn anyway (the ring posts completions only when
//! the core enters it), except those served from what a multishot operation already posted
//! (a pooled read, an accept): those take a unit too.

use std::cell::Cell;
use std::task::{Context, Poll};

/// The operations one poll of a task may complete, as tokio's.
pub const PER_POLL: u8 = 128;

/// No budget open: no limit.
const UNLIMITED: u8 = u8::MAX;

thread_local! {
    static LEFT: Cell<u8> = const { Cell::new(UNLIMITED) };
}

/// Opens a budget of [`PER_POLL`] operations for the next poll of a task: what the executor
/// calls before each, and [`close`] once its turn's polls are done. A task's poll never
/// unwinds into the executor (its panic is caught for its `JoinHandle`), so the pair needs
/// no guard, which [`scoped`] costs.
#[inline]
pub fn open() {
    LEFT.with(|left| left.set(PER_POLL));
}

/// Closes the budget: no limit from here on (see [`open`]).
#[inline]
pub fn close() {
    LEFT.with(|left| left.set(UNLIMITED));
}

/// Runs `poll`, one poll of a task, with a budget of [`PER_POLL`] operations; the budget
/// before it (none, outside a task) is back once it returns or unwinds.
#[inline]
pub fn scoped<R>(poll: impl FnOnce() -> R) -> R {
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEFT.with(|left| left.set(self.0));
        }
    }
    let _restore = Restore(LEFT.with(|left| left.replace(PER_POLL)));
    poll()
}

/// Takes one operation from the open budget: `Pending`, with the task woken to run again,
/// once it is spent.
#[inline]
pub fn poll_proceed(cx: &Context<'_>) -> Poll<()> {
    LEFT.with(|left| match left.get() {
        UNLIMITED => Poll::Ready(()),
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        n => {
            left.set(n - 1);
            Poll::Ready(())
        }
    })
}

/// Takes one operation from the open budget, yielding first once it is spent: for an
/// operation that can complete without ever waiting, such as a send into a channel with room.
/// A task sending in a loop would otherwise never return `Pending`, and the other tasks of
/// its core (timers included) would wait until it finished: a task sending a million messages
/// into an unbounded channel held a 1 ms timer on its core for 100 ms. tokio's bounded
/// `send` takes from its budget the same way.
pub async fn proceed() {
    std::future::poll_fn(|cx| poll_proceed(cx)).await
}

/// Whether the open budget has an operation left, without taking one: `Pending`, with the
/// task woken, once it is spent. `select!` asks first, as tokio's does: with the budget spent
/// its I/O branches answer `Pending`, and a branch that takes none (a local channel, a ready
/// future) would win every time, so a loop around it would never let the task yield.
#[inline]
pub fn poll_budget_available(cx: &Context<'_>) -> Poll<()> {
    if LEFT.with(Cell::get) == 0 {
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    Poll::Ready(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_task_poll_completes_its_budget_then_yields_and_outside_one_nothing_is_counted() {
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = wakes.clone().into();
        let cx = Context::from_waker(&waker);
        let ready = (0..1000).filter(|_| poll_proceed(&cx).is_ready()).count();
        assert_eq!(ready, 1000, "no budget open: no limit");
        let (ready, pending) = scoped(|| {
            let ready = (0..200).take_while(|_| poll_proceed(&cx).is_ready()).count();
            (ready, poll_proceed(&cx).is_pending())
        });
        assert_eq!(ready, PER_POLL as usize);
        assert!(pending, "spent: Pending");
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2, "the task woken at each Pending");
        assert!(scoped(|| poll_proceed(&cx).is_ready()), "the next poll has a fresh budget");
        assert!(poll_proceed(&cx).is_ready(), "closed again after it");
        let spent = scoped(|| {
            (0..PER_POLL).for_each(|_| assert!(poll_proceed(&cx).is_ready()));
            poll_budget_available(&cx)
        });
        assert!(
            spent.is_pending() && poll_budget_available(&cx).is_ready(),
            "Pending once spent; Ready with no budget open"
        );
    }

    #[test]
    fn a_poll_that_panics_closes_its_budget() {
        let waker = Arc::new(Count(AtomicUsize::new(0))).into();
        let cx = Context::from_waker(&waker);
        let caught = std::panic::catch_unwind(|| scoped(|| panic!("task panicked")));
        assert!(caught.is_err());
        assert!((0..1000).all(|_| poll_proceed(&cx).is_ready()), "no budget left open");
    }
}
