//! CursorTurn: the cursor operations of one `File` run one at a time, in the order they came.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A cursor operation reads the cursor when it starts and moves it when it completes, so two
/// in flight at once on a shared file (an `Rc<File>` in two tasks) would read the same bytes
/// or write over each other's. Each holds a turn while it runs; the others wait. (A file
/// without an offset, a pipe or a terminal, takes no turns: see `File::cursor_turn`.)
///
/// Made of `Cell`s (no `Rc`, no atomics), so a `File` stays `Send` and costs nothing when
/// nobody waits.
#[derive(Debug, Default)]
pub(crate) struct CursorTurn {
    taken: Cell<bool>,
    waiting: RefCell<Vec<Waker>>,
}

/// A turn at the cursor, given back when dropped (also when its operation's future is).
pub(crate) struct Turn<'a>(&'a CursorTurn);

impl CursorTurn {
    /// Waits until no other cursor operation of the file runs.
    pub(crate) async fn take(&self) -> Turn<'_> {
        poll_fn(|cx| {
            if self.taken.get() {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            } else {
                self.taken.set(true);
                Poll::Ready(Turn(self))
            }
        })
        .await
    }
}

impl Drop for Turn<'_> {
    /// Wakes every waiter, in the order they came: the first to run takes the turn and the
    /// rest wait again. Waking them all means a waiter whose future was dropped cannot take
    /// the wake-up with it and leave the others waiting.
    fn drop(&mut self) {
        self.0.taken.set(false);
        let waiting = std::mem::take(&mut *self.0.waiting.borrow_mut());
        waiting.into_iter().for_each(Waker::wake);
    }
}
