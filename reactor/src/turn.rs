//! One operation per direction at a time: Go's `fdMutex`, without atomics.
//!
//! Several tasks may read (or accept, or write) on one socket at once. Rather than keep a
//! list of waiters in every driver, a source lets one operation per direction run and queues
//! the others in arrival order; each takes its turn when the one before it finishes or is
//! dropped. Then every driver structure below (a PollDesc's slot, the io_uring op a deadline
//! cancels) has at most one waiter per direction, and both drivers behave the same: two
//! accepters both get connections, two readers both get data, in turn. A deadline, a
//! shutdown or a hangup ends the running operation, and each queued one then meets the same
//! condition when its turn comes (Go's behaviour).
//!
//! Cheap when uncontended: two flags, and the queue is allocated on first contention.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use crate::interest::Interest;
use crate::source::Source;

/// The turns of one source's two directions.
#[derive(Default)]
pub(crate) struct Turns {
    held: [Cell<bool>; 2],
    queue: OnceCell<Box<Queue>>,
}

#[derive(Default)]
struct Queue {
    waiters: RefCell<VecDeque<Waiter>>,
    /// Tickets issued so far; the next one is this plus one.
    issued: Cell<u64>,
}

/// A waiter's place in the queue: never zero, so `Option<Ticket>` is one word.
type Ticket = NonZeroU64;

struct Waiter {
    ticket: Ticket,
    interest: Interest,
    waker: Waker,
}

impl Turns {
    /// Whether the turn of `interest` is free and nobody queues for it.
    #[inline]
    fn is_free(&self, interest: Interest) -> bool {
        !self.held[interest as usize].get() && self.first_waiter(interest).is_none()
    }

    /// Takes the turn of `interest` once it is free and every earlier waiter has had it;
    /// until then `ticket` holds our place in the queue (None: not queued yet).
    fn poll_queued(&self, interest: Interest, ticket: &mut Option<Ticket>, cx: &Context<'_>) -> Poll<()> {
        let free = !self.held[interest as usize].get();
        if free && self.first_waiter(interest).is_none_or(|first| Some(first) == *ticket) {
            if let Some(ticket) = ticket.take() {
                self.remove(ticket);
            }
            self.held[interest as usize].set(true);
            return Poll::Ready(());
        }
        let queue = self.queue.get_or_init(Default::default);
        let mut waiters = queue.waiters.borrow_mut();
        match *ticket {
            Some(ticket) => {
                if let Some(w) = waiters.iter_mut().find(|w| w.ticket == ticket) {
                    w.waker.clone_from(cx.waker());
                }
            }
            None => {
                let next = Ticket::MIN.saturating_add(queue.issued.get());
                queue.issued.set(next.get());
                waiters.push_back(Waiter { ticket: next, interest, waker: cx.waker().clone() });
                *ticket = Some(next);
            }
        }
        Poll::Pending
    }

    /// A queued waiter gave up its place. It may have been woken to take a free turn: the
    /// wake passes on to the next one.
    fn leave(&self, interest: Interest, ticket: Ticket) {
        self.remove(ticket);
        if !self.held[interest as usize].get() {
            self.wake_next(interest);
        }
    }

    /// The ticket of the first waiter queued for `interest`.
    #[inline]
    fn first_waiter(&self, interest: Interest) -> Option<Ticket> {
        let queue = self.queue.get()?;
        let waiters = queue.waiters.borrow();
        waiters.iter().find(|w| w.interest == interest).map(|w| w.ticket)
    }

    fn remove(&self, ticket: Ticket) {
        if let Some(queue) = self.queue.get() {
            queue.waiters.borrow_mut().retain(|w| w.ticket != ticket);
        }
    }

    /// Wakes the first waiter of `interest`, if any, to take the free turn.
    fn wake_next(&self, interest: Interest) {
        let Some(queue) = self.queue.get() else { return };
        let waker = queue.waiters.borrow().iter().find(|w| w.interest == interest).map(|w| w.waker.clone());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    #[inline]
    fn release(&self, interest: Interest) {
        self.held[interest as usize].set(false);
        if self.queue.get().is_some() {
            self.wake_next(interest);
        }
    }
}

/// What holds a source's turns: the source itself, so the operations that need it again
/// (`write_all`'s next send) find it in their `Turned` instead of keeping a pointer of their
/// own; or bare turns, in tests.
pub(crate) trait HasTurns {
    fn turns(&self) -> &Turns;
}

impl HasTurns for Turns {
    #[inline]
    fn turns(&self) -> &Turns {
        self
    }
}

/// `inner` run on its direction's turn: the future of `Source::run` and `Source::retry`. Written out rather than
/// an async fn, so the op inside `inner` is not stored twice.
///
/// The turn is held only while `inner` is pending: an operation that finds its direction
/// free and completes in its first poll (most reads and writes on a busy socket) never takes
/// or gives back the turn, since no other operation can run inside that poll.
pub(crate) struct Turned<'a, F, S: HasTurns = Source> {
    /// The source (or, in tests, the turns) whose turn this is.
    owner: &'a S,
    interest: Interest,
    /// The turn is ours until `inner` finishes (or the future is dropped).
    held: bool,
    /// Our place in the queue, while we wait behind another operation.
    ticket: Option<Ticket>,
    inner: F,
}

impl<'a, F, S: HasTurns> Turned<'a, F, S> {
    #[inline]
    pub(crate) fn new(owner: &'a S, interest: Interest, inner: F) -> Turned<'a, F, S> {
        Turned { owner, interest, held: false, ticket: None, inner }
    }

    /// Whose turn this is.
    #[inline]
    pub(crate) fn owner(&self) -> &'a S {
        self.owner
    }

    /// `next` run on the turn this operation had, which finished in the poll under way: the
    /// turn is taken again before anyone queued can, so nothing runs between the two. For
    /// `write_all`'s next send: two `write_all`s at once would otherwise take turns send by
    /// send and interleave their bytes (Go's fdMutex holds the write lock for a whole Write).
    /// The finished operation either held the turn (its release only woke the next waiter,
    /// who has not run) or never took it because nobody else could, so it is free now.
    #[inline]
    pub(crate) fn continue_with<G>(&self, next: G) -> Turned<'a, G, S> {
        let held = &self.owner.turns().held[self.interest as usize];
        debug_assert!(!held.get(), "continue_with after the operation finished, in the same poll");
        held.set(true);
        Turned { owner: self.owner, interest: self.interest, held: true, ticket: None, inner: next }
    }
}

impl<F: Future + Unpin, S: HasTurns> Future for Turned<'_, F, S> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let (turns, interest) = (this.owner.turns(), this.interest);
        if !this.held {
            if this.ticket.is_none() && turns.is_free(interest) {
                // Free and nobody queued: run without taking the turn, take it to wait.
                let out = Pin::new(&mut this.inner).poll(cx);
                if out.is_pending() {
                    turns.held[interest as usize].set(true);
                    this.held = true;
                }
                return out;
            }
            ready!(turns.poll_queued(interest, &mut this.ticket, cx));
            this.held = true;
        }
        let out = ready!(Pin::new(&mut this.inner).poll(cx));
        this.held = false;
        turns.release(interest);
        Poll::Ready(out)
    }
}

impl<F, S: HasTurns> Drop for Turned<'_, F, S> {
    #[inline]
    fn drop(&mut self) {
        if self.held {
            self.owner.turns().release(self.interest);
        } else if let Some(ticket) = self.ticket {
            self.owner.turns().leave(self.interest, ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;
    use std::pin::pin;

    /// An operation that holds its direction's turn until it is dropped.
    fn holder(turns: &Turns, interest: Interest) -> Pin<Box<Turned<'_, std::future::Pending<()>, Turns>>> {
        Box::pin(Turned::new(turns, interest, std::future::pending()))
    }

    #[test]
    fn turns_are_taken_in_arrival_order_per_direction() {
        let turns = Turns::default();
        let (count, waker) = WakeCount::waker();
        let cx = &mut Context::from_waker(&waker);
        let mut first = holder(&turns, Interest::Read);
        assert!(first.as_mut().poll(cx).is_pending(), "a free turn is taken at once, and held while pending");
        let mut second = pin!(Turned::new(&turns, Interest::Read, std::future::ready(2)));
        let mut third = pin!(Turned::new(&turns, Interest::Read, std::future::ready(3)));
        assert!(second.as_mut().poll(cx).is_pending());
        assert!(third.as_mut().poll(cx).is_pending());
        let mut writer = pin!(Turned::new(&turns, Interest::Write, std::future::ready(4)));
        assert_eq!(writer.as_mut().poll(cx), Poll::Ready(4), "the other direction is independent");
        drop(first);
        assert_eq!(count.get(), 1, "only the first waiter is woken");
        assert!(third.as_mut().poll(cx).is_pending(), "no overtaking");
        assert_eq!(second.as_mut().poll(cx), Poll::Ready(2), "second's turn");
        assert_eq!(third.as_mut().poll(cx), Poll::Ready(3));
    }

    #[test]
    fn a_dropped_waiter_passes_its_wake_on() {
        let turns = Turns::default();
        let (count, waker) = WakeCount::waker();
        let cx = &mut Context::from_waker(&waker);
        let mut held = holder(&turns, Interest::Read);
        assert!(held.as_mut().poll(cx).is_pending(), "free");
        let mut second = Box::pin(Turned::new(&turns, Interest::Read, std::future::ready(())));
        let mut third = pin!(Turned::new(&turns, Interest::Read, std::future::ready(())));
        assert!(second.as_mut().poll(cx).is_pending());
        assert!(third.as_mut().poll(cx).is_pending());
        drop(held);
        let woken = count.get();
        drop(second);
        assert_eq!(count.get(), woken + 1, "the next waiter is woken in the dropped one's place");
        assert!(third.as_mut().poll(cx).is_ready());
    }

    #[test]
    fn an_operation_continued_keeps_the_turn_from_those_queued() {
        let turns = Turns::default();
        let (_count, waker) = WakeCount::waker();
        let cx = &mut Context::from_waker(&waker);
        let mut held = holder(&turns, Interest::Write);
        assert!(held.as_mut().poll(cx).is_pending());
        let mut first = Turned::new(&turns, Interest::Write, std::future::ready(1));
        let mut second = pin!(Turned::new(&turns, Interest::Write, std::future::ready(2)));
        assert!(Pin::new(&mut first).poll(cx).is_pending());
        assert!(second.as_mut().poll(cx).is_pending());
        drop(held);
        assert_eq!(Pin::new(&mut first).poll(cx), Poll::Ready(1));
        // A write_all's next send, on the turn of the one that just finished.
        let mut rest = Box::pin(first.continue_with(std::future::pending::<()>()));
        assert!(second.as_mut().poll(cx).is_pending(), "the waiter must not slip in between");
        assert!(rest.as_mut().poll(cx).is_pending());
        drop(rest);
        assert_eq!(second.as_mut().poll(cx), Poll::Ready(2));
    }

    #[test]
    fn an_operation_holds_its_turn_only_while_it_waits() {
        let turns = Turns::default();
        let (count, waker) = WakeCount::waker();
        let cx = &mut Context::from_waker(&waker);
        let mut at_once = pin!(Turned::new(&turns, Interest::Read, std::future::ready(1)));
        assert_eq!(at_once.as_mut().poll(cx), Poll::Ready(1));
        assert!(turns.is_free(Interest::Read), "a completed operation never took the turn");

        let mut waits = Box::pin(Turned::new(&turns, Interest::Read, std::future::pending::<()>()));
        assert!(waits.as_mut().poll(cx).is_pending());
        assert!(!turns.is_free(Interest::Read), "a pending one holds it");
        let mut next = pin!(Turned::new(&turns, Interest::Read, std::future::ready(2)));
        assert!(next.as_mut().poll(cx).is_pending(), "the next one queues, however quick it is");
        drop(waits);
        assert_eq!(count.get(), 1, "dropping the holder wakes the queued one");
        assert_eq!(next.as_mut().poll(cx), Poll::Ready(2));
        assert!(turns.is_free(Interest::Read));
    }
}
