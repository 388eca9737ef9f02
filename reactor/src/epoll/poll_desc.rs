//! PollDesc: the epoll driver's per-fd readiness state, Go's `pollDesc` without atomics.
//!
//! Everything here is touched by the owning core only, so the `rg`/`wg` words Go updates
//! with atomics are plain fields. An fd is registered once, edge-triggered; an edge that
//! lands before the task parks is remembered (`read_ready`, `write_ready`), never lost.
//! PollDescs live in the crate's generational [`Slab`]: the epoll token is the slab key, so
//! an event queued for a closed fd whose slot was reused is recognised as stale (Go's
//! `fdseq`).
//!
//! One waiter per direction is enough: a source lets one operation per direction run at a
//! time (`turn.rs`), and the poll-style methods, as tokio's, remember the last poller only.

use std::task::{Context, Poll, Waker};

use crate::slab::{Key, Slab};

use crate::interest::Interest;

/// epoll's `data.u64`: the PollDesc's slab key ([`Key::to_u64`]); never all ones in its
/// high half, so `u64::MAX` is free for the eventfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(pub(crate) u64);

impl Token {
    fn key(self) -> Key {
        Key::from_u64(self.0)
    }
}

/// One fd's readiness: per direction, a parked task's waker or an edge nobody consumed yet
/// (never both), and whether the direction is closed. Wakers and flags side by side rather
/// than a tagged slot per direction: 40 bytes instead of 56, for every registered socket.
#[derive(Debug, Default)]
struct PollDesc {
    /// The task parked after EAGAIN, per direction ([`Interest`] as index).
    waiters: [Option<Waker>; 2],
    /// An edge arrived that no waiter has consumed yet.
    read_ready: bool,
    write_ready: bool,
    /// The peer closed its side (RDHUP, HUP) or the socket failed (ERR): from then on a short
    /// read is not taken as the socket emptied, so no read skips the syscall that reports EOF.
    read_closed: bool,
    /// HUP or ERR: writes cannot wait for space any more.
    write_closed: bool,
}

impl PollDesc {
    fn ready(&mut self, interest: Interest) -> &mut bool {
        match interest {
            Interest::Read => &mut self.read_ready,
            Interest::Write => &mut self.write_ready,
        }
    }

    /// Records an edge; returns the waker of a parked task.
    fn set_ready(&mut self, interest: Interest) -> Option<Waker> {
        *self.ready(interest) = true;
        self.waiters[interest as usize].take()
    }

    /// Consumes a pending edge, or parks `cx`'s waker until the next one.
    fn poll(&mut self, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        let ready = self.poll_kept(interest, cx);
        *self.ready(interest) = false;
        ready
    }

    /// As [`poll`](Self::poll), but a pending edge stays: tokio's readiness, which only a
    /// try that meets EAGAIN clears ([`PollDescs::clear`]). An edge-triggered fd reports no
    /// second edge for bytes a try left unread, so consuming it here would hang the next wait.
    fn poll_kept(&mut self, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        if *self.ready(interest) {
            return Poll::Ready(());
        }
        match &mut self.waiters[interest as usize] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn closed(&self, interest: Interest) -> bool {
        match interest {
            Interest::Read => self.read_closed,
            Interest::Write => self.write_closed,
        }
    }
}

/// The PollDescs of one epoll instance.
#[derive(Debug, Default)]
pub(crate) struct PollDescs {
    descs: Slab<PollDesc>,
}

impl PollDescs {
    /// Takes a slot for a newly registered fd.
    pub(crate) fn alloc(&mut self) -> Token {
        Token(self.descs.insert(PollDesc::default()).to_u64())
    }

    /// Frees a slot; events still queued for `token` become stale.
    pub(crate) fn free(&mut self, token: Token) {
        self.descs.remove(token.key());
    }

    fn get(&mut self, token: Token) -> Option<&mut PollDesc> {
        self.descs.get_mut(token.key())
    }

    /// Applies an epoll event; wakers of parked tasks go to `wake`. Stale tokens are ignored.
    pub(crate) fn dispatch(&mut self, token: Token, events: u32, wake: &mut Vec<Waker>) {
        let Some(desc) = self.get(token) else { return };
        let hangup = libc::EPOLLHUP | libc::EPOLLERR;
        desc.read_closed |= events & (libc::EPOLLRDHUP | hangup) as u32 != 0;
        desc.write_closed |= events & hangup as u32 != 0;
        if events & (libc::EPOLLIN | libc::EPOLLRDHUP | hangup) as u32 != 0 {
            wake.extend(desc.set_ready(Interest::Read));
        }
        if events & (libc::EPOLLOUT | hangup) as u32 != 0 {
            wake.extend(desc.set_ready(Interest::Write));
        }
    }

    /// Go's `netpollblock`: Ready if an edge is pending, else park `cx`.
    pub(crate) fn poll_ready(&mut self, token: Token, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        // A freed token is not registered any more: report ready so the caller's syscall
        // produces the real error (EBADF) instead of hanging.
        let Some(desc) = self.get(token) else {
            return Poll::Ready(());
        };
        desc.poll(interest, cx)
    }

    /// As [`poll_ready`](Self::poll_ready), but a pending edge stays until [`clear`](Self::clear).
    pub(crate) fn poll_kept(&mut self, token: Token, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        let Some(desc) = self.get(token) else {
            return Poll::Ready(());
        };
        desc.poll_kept(interest, cx)
    }

    /// Forgets the pending edge of `interest`: a try met EAGAIN, so the edge was spent.
    /// Sound for the reason [`forget_edge`](Self::forget_edge) is: edges are only recorded
    /// between task polls, so none can have landed between the try and this call.
    pub(crate) fn clear(&mut self, token: Token, interest: Interest) {
        if let Some(desc) = self.get(token) {
            *desc.ready(interest) = false;
        }
    }

    /// Whether the peer hung up (or the socket failed) in the direction of `interest`.
    pub(crate) fn closed(&mut self, token: Token, interest: Interest) -> bool {
        self.get(token).is_some_and(|desc| desc.closed(interest))
    }

    /// A short read or write emptied (or filled) the socket: forgets the edge that reported
    /// it, so the next operation waits for a fresh one instead of paying for an EAGAIN. Sound
    /// because edges are only recorded between task polls, never during one. Refused (false)
    /// once the peer hung up or the socket failed: no edge may follow those, so the next
    /// operation must try its syscall to see EOF or the error.
    pub(crate) fn forget_edge(&mut self, token: Token, interest: Interest) -> bool {
        let Some(desc) = self.get(token) else { return false };
        if desc.closed(interest) {
            return false;
        }
        *desc.ready(interest) = false;
        true
    }

    /// Takes the waker of whoever waits on `token`, without marking it ready (a deadline
    /// moved).
    pub(crate) fn take_waiter(&mut self, token: Token, interest: Interest) -> Option<Waker> {
        self.get(token)?.waiters[interest as usize].take()
    }

    /// How many fds are registered.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.descs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;

    const IN: u32 = libc::EPOLLIN as u32;

    #[test]
    fn edge_before_park_is_kept() {
        let mut descs = PollDescs::default();
        let t = descs.alloc();
        let mut wake = Vec::new();
        descs.dispatch(t, IN, &mut wake);
        assert!(wake.is_empty());
        let (count, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(descs.poll_ready(t, Interest::Read, &cx).is_ready(), "the early edge is consumed");
        assert!(descs.poll_ready(t, Interest::Read, &cx).is_pending(), "and only once");
        assert!(descs.poll_ready(t, Interest::Write, &cx).is_pending());
        descs.dispatch(t, IN, &mut wake);
        assert_eq!(wake.len(), 1, "only the reader is woken");
        wake.drain(..).for_each(Waker::wake);
        assert_eq!(count.get(), 1);
    }

    #[test]
    fn stale_events_are_dropped_after_reuse() {
        let mut descs = PollDescs::default();
        let old = descs.alloc();
        descs.free(old);
        let new = descs.alloc();
        assert_eq!(old.key().index(), new.key().index(), "the slot is reused");
        assert_ne!(old, new);
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(descs.poll_ready(new, Interest::Read, &cx).is_pending());
        let mut wake = Vec::new();
        descs.dispatch(old, IN | libc::EPOLLOUT as u32, &mut wake);
        assert!(wake.is_empty(), "the stale event woke nobody");
        assert!(descs.poll_ready(new, Interest::Read, &cx).is_pending(), "nor marked ready");
        assert_eq!(descs.live(), 1);
    }

    #[test]
    fn an_exhausting_edge_is_forgotten_unless_the_peer_hung_up() {
        let mut descs = PollDescs::default();
        let t = descs.alloc();
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        let mut wake = Vec::new();
        descs.dispatch(t, IN, &mut wake);
        assert!(descs.forget_edge(t, Interest::Read));
        assert!(descs.poll_ready(t, Interest::Read, &cx).is_pending(), "the edge is gone");
        descs.dispatch(t, (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, &mut wake);
        assert!(!descs.forget_edge(t, Interest::Read), "after a hangup every read tries");
        assert!(descs.poll_ready(t, Interest::Read, &cx).is_ready());
        assert!(descs.poll_ready(t, Interest::Read, &cx).is_pending(), "but an error does not spin");
    }

    #[test]
    fn a_poll_desc_stays_small() {
        // One per registered socket, in the slab: wakers and flags, no per-direction tags.
        assert!(std::mem::size_of::<PollDesc>() <= 40, "{}", std::mem::size_of::<PollDesc>());
    }

    #[test]
    fn a_repolling_task_keeps_one_waker_and_a_take_leaves_no_edge() {
        let mut descs = PollDescs::default();
        let t = descs.alloc();
        let (count, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(descs.poll_ready(t, Interest::Write, &cx).is_pending());
        assert!(descs.poll_ready(t, Interest::Write, &cx).is_pending());
        assert!(descs.take_waiter(t, Interest::Write).is_some(), "the parked waker");
        assert!(descs.take_waiter(t, Interest::Write).is_none(), "taken once");
        assert!(descs.poll_ready(t, Interest::Write, &cx).is_pending(), "a take is no edge");
        let mut wake = Vec::new();
        descs.dispatch(t, libc::EPOLLOUT as u32, &mut wake);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!(count.get(), 1);
        assert!(descs.take_waiter(t, Interest::Write).is_none(), "the edge took the waiter");
        assert!(descs.poll_ready(t, Interest::Write, &cx).is_ready());
    }

    #[test]
    fn a_kept_edge_stays_until_cleared() {
        let mut descs = PollDescs::default();
        let t = descs.alloc();
        let (count, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        assert!(descs.poll_kept(t, Interest::Read, &cx).is_pending());
        let mut wake = Vec::new();
        descs.dispatch(t, IN, &mut wake);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!(count.get(), 1, "the kept wait is woken by the edge");
        assert!(descs.poll_kept(t, Interest::Read, &cx).is_ready());
        assert!(descs.poll_kept(t, Interest::Read, &cx).is_ready(), "and the edge stays");
        descs.clear(t, Interest::Read);
        assert!(descs.poll_kept(t, Interest::Read, &cx).is_pending(), "until a try met EAGAIN");
        assert!(!descs.closed(t, Interest::Read));
        descs.dispatch(t, libc::EPOLLRDHUP as u32, &mut wake);
        assert!(descs.closed(t, Interest::Read) && !descs.closed(t, Interest::Write));
    }

    #[test]
    fn hangup_wakes_both_directions() {
        let mut descs = PollDescs::default();
        let t = descs.alloc();
        let (_, waker) = WakeCount::waker();
        let cx = Context::from_waker(&waker);
        let _ = descs.poll_ready(t, Interest::Read, &cx);
        let _ = descs.poll_ready(t, Interest::Write, &cx);
        let mut wake = Vec::new();
        descs.dispatch(t, libc::EPOLLHUP as u32, &mut wake);
        assert_eq!(wake.len(), 2);
    }
}
