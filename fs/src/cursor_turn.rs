//! CursorTurn: the cursor operations of one `File` run one at a time, in the order they came.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A cursor operation reads the cursor when it starts and moves it when it completes, so two
/// in flight at once on a shared file (an `Rc<File>` in two tasks) would read the same bytes
/// or write over each other's. Each holds a turn while it runs; the others wait. (A file
/// without an offset, a pipe or a terminal, takes no turns: see `File::cursor_turn`.)
///
/// Turns are tickets served in order, so a task writing in a loop cannot take the turn again
/// ahead of one that asked while it wrote. Made of `Cell`s (no `Rc`, no atomics), so a
/// `File` stays `Send`; taking a free turn is a comparison.
#[derive(Debug, Default)]
pub(crate) struct CursorTurn {
    /// The ticket the next caller gets.
    next: Cell<u64>,
    /// The ticket whose holder may run.
    serving: Cell<u64>,
    /// The wakers of tickets waiting for their turn.
    waiting: RefCell<Vec<(u64, Waker)>>,
    /// Tickets whose futures were dropped before their turn came: skipped when it does.
    abandoned: RefCell<Vec<u64>>,
}

impl CursorTurn {
    /// A ticket now (the order is the order of calls), and a future that waits for its turn.
    pub(crate) fn take(&self) -> TakeTurn<'_> {
        let ticket = self.next.get();
        self.next.set(ticket + 1);
        TakeTurn { turns: self, ticket, served: false }
    }

    /// Serves the next ticket still wanted, and wakes its holder if it waits.
    fn advance(&self) {
        let mut next = self.serving.get() + 1;
        let mut abandoned = self.abandoned.borrow_mut();
        while let Some(at) = abandoned.iter().position(|&t| t == next) {
            abandoned.swap_remove(at);
            next += 1;
        }
        self.serving.set(next);
        let waker = self.forget(next);
        drop(abandoned);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Removes `ticket`'s waker, if it left one.
    fn forget(&self, ticket: u64) -> Option<Waker> {
        let mut waiting = self.waiting.borrow_mut();
        let at = waiting.iter().position(|(t, _)| *t == ticket)?;
        Some(waiting.swap_remove(at).1)
    }
}

/// Waits for a ticket's turn. Dropped before it came, the ticket is skipped; dropped after it
/// was served but before it was polled, the turn passes on.
pub(crate) struct TakeTurn<'a> {
    turns: &'a CursorTurn,
    ticket: u64,
    served: bool,
}

impl<'a> Future for TakeTurn<'a> {
    type Output = Turn<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<'a>> {
        let turns = self.turns;
        if turns.serving.get() == self.ticket {
            self.served = true;
            turns.forget(self.ticket);
            return Poll::Ready(Turn(turns));
        }
        let mut waiting = turns.waiting.borrow_mut();
        match waiting.iter_mut().find(|(t, _)| *t == self.ticket) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => waiting.push((self.ticket, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for TakeTurn<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        self.turns.forget(self.ticket);
        if self.turns.serving.get() == self.ticket {
            self.turns.advance();
        } else {
            self.turns.abandoned.borrow_mut().push(self.ticket);
        }
    }
}

/// A turn at the cursor, passed to the next ticket when dropped (also when its operation's
/// future is).
pub(crate) struct Turn<'a>(&'a CursorTurn);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.advance();
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn tickets_are_served_in_order_and_dropped_ones_are_passed_over() {
        let turns = CursorTurn::default();
        let mut first = pin!(turns.take());
        let Poll::Ready(held) = poll(first.as_mut()) else { panic!("a free turn is taken at once") };
        let mut second = Box::pin(turns.take());
        let mut third = pin!(turns.take());
        assert!(poll(second.as_mut()).is_pending() && poll(third.as_mut()).is_pending());

        drop(held); // serves the second, which is dropped before it sees it
        drop(second);
        let Poll::Ready(held) = poll(third.as_mut()) else { panic!("the turn passed on") };

        let mut fourth = Box::pin(turns.take());
        let mut fifth = pin!(turns.take());
        assert!(poll(fourth.as_mut()).is_pending());
        drop(fourth); // gives up before its turn: skipped when it comes
        drop(held);
        assert!(poll(fifth.as_mut()).is_ready(), "the abandoned ticket was skipped");
        assert!(turns.waiting.borrow().is_empty() && turns.abandoned.borrow().is_empty());
    }

    /// Turns are made of `Cell`s, so a `File` can still be sent to another core.
    #[test]
    fn a_file_with_its_turns_stays_send() {
        fn send<T: Send>() {}
        send::<crate::File>();
    }
}
