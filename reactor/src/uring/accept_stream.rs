//! The io_uring half of accepts: one multishot accept per listener (IORING_OP_ACCEPT with
//! IORING_ACCEPT_MULTISHOT), whose connections queue in the listener's [`Multishot`] state.
//!
//! Armed by the first accept, the op yields a completion per connection until one comes
//! without IORING_CQE_F_MORE. Connections queue whether or not an accept waits, so a dropped
//! accept future loses none: they belong to the listener, not to the future.
//!
//! - **Bounded**: at [`QUEUE_LIMIT`] queued connections the op is cancelled; the accept that
//!   drains the queue arms it again, so a listener nobody accepts on holds at most that many
//!   descriptors, and the rest wait in the kernel's backlog.
//! - **Any end re-arms**: a completion without F_MORE (an error, the pause's cancel, a CQ
//!   that was full when the kernel had a connection to post) makes the op idle and wakes the
//!   waiting accepts; the first one to find the queue empty submits it again. An end after a
//!   full CQ therefore costs one submission, never a connection: the rest stay in the backlog
//!   and the new op accepts them at once.
//! - **A cancel nobody asked for** (-ECANCELED: the kernel ended the op, taking no
//!   connection) re-arms once; a second in a row reaches one accept as an error.
//! - **Errors go to one accept**: EMFILE or ENFILE ends the op; the error is queued in place
//!   and returned by exactly one accept (so `accept_backoff` sleeps), and the next accept
//!   re-arms.
//! - **Old kernels** (before 5.19) reject the multishot flag with EINVAL: the listener then
//!   goes over to one-shot accepts for good (a listener that is not listening gets its own
//!   EINVAL from those).
//! - **Closing the listener** cancels the op and resets every queued connection, and any that
//!   completes after the cancel: the kernel resets those left in its accept queue, and these
//!   were taken off it before any accept asked for them.
//!
//! The kernel reports no peer address for a multishot accept; the driver layer asks for it
//! with getpeername(2).

use std::cell::RefCell;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};

use super::multishot::{After, Event, Multishot, Next};
use super::op_table::{Completion, OpId, Stream};
use super::run::Registration;
use super::Uring;
use crate::interest::Interest;
use crate::sys::{close_unaccepted, owned};
use crate::target::Target;

/// Connections a listener may have queued before its accept is paused.
pub(crate) const QUEUE_LIMIT: usize = 64;

/// Accepted sockets are non-blocking and close-on-exec, as with accept4(2).
const ACCEPT_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// One listener's multishot accept.
pub(crate) struct AcceptStream {
    state: Multishot<OwnedFd, QUEUE_LIMIT>,
    fd: RawFd,
    /// The accept's id while it is in the kernel (to cancel it).
    id: Option<OpId>,
    /// The accepts waiting for a connection (several tasks may accept on one listener).
    waiters: Vec<Waker>,
    /// The kernel has no multishot accept: one-shot accepts serve the listener.
    single: bool,
}

impl AcceptStream {
    pub(crate) fn new(fd: RawFd) -> AcceptStream {
        AcceptStream { state: Multishot::new(), fd, id: None, waiters: Vec::new(), single: false }
    }

    fn park(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }
}

impl Stream for RefCell<AcceptStream> {
    fn deliver(&self, uring: &Uring, done: Completion) {
        uring.deliver_accept(self, done);
    }
}

impl Uring {
    /// One poll of an accept on io_uring: the next connection of the listener's multishot
    /// accept, armed on first use. Ready(None): accept one-shot instead (the kernel lacks
    /// multishot accept, or dropped one-shot accepts left connections, which come first).
    pub(crate) fn poll_accept(
        &self,
        target: Target<'_, Registration>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<OwnedFd>>> {
        if let Poll::Ready(e) = target.poll_deadline(Interest::Read, cx) {
            return Poll::Ready(Some(Err(e)));
        }
        let (fd, registration) = (target.fd, target.registration);
        let stream = registration.accepting.take().unwrap_or_else(|| Rc::new(RefCell::new(AcceptStream::new(fd))));
        registration.accepting.set(Some(stream.clone()));
        if stream.borrow().single {
            return Poll::Ready(None);
        }
        if stream.borrow().id.is_none() {
            // Not in the kernel: dropped one-shot accepts settle first, and what they took
            // is handed out before anything new.
            ready!(registration.gate.poll_clear(cx));
            if self.stash.borrow().has_accepted(fd) {
                return Poll::Ready(None);
            }
        }
        let mut s = stream.borrow_mut();
        match s.state.next() {
            Next::Ready(Ok(conn)) => Poll::Ready(Some(Ok(conn))),
            Next::Ready(Err(libc::EINVAL)) => {
                // No multishot accept in this kernel, or not a listening socket: a one-shot
                // accept tells the two apart.
                s.single = true;
                Poll::Ready(None)
            }
            Next::Ready(Err(errno)) => Poll::Ready(Some(Err(io::Error::from_raw_os_error(errno)))),
            // Never queued: an accept has no end of stream (a result of 0 is descriptor 0).
            Next::Eof => Poll::Ready(None),
            Next::Arm { .. } => {
                let entry = opcode::AcceptMulti::new(types::Fd(s.fd)).flags(ACCEPT_FLAGS).build();
                s.park(cx.waker());
                drop(s);
                self.stats.accept_arms.bump();
                // A submission that fails is delivered as the op's end by the next turn, after
                // this has recorded the id.
                let id = self.submit_stream(entry, stream.clone());
                stream.borrow_mut().id = Some(id);
                Poll::Pending
            }
            Next::Wait => {
                s.park(cx.waker());
                Poll::Pending
            }
        }
    }

    /// A completion of a listener's multishot accept.
    fn deliver_accept(&self, stream: &RefCell<AcceptStream>, done: Completion) {
        let more = cqueue::more(done.flags);
        let event = match done.result {
            fd if fd >= 0 => Event::Item(owned(fd)),
            errno => Event::Failed(-errno),
        };
        let mut s = stream.borrow_mut();
        let after = s.state.on_completion(event, more);
        let mut pause = None;
        if !more {
            s.id = None;
        } else if s.state.wants_pause() {
            // Nobody is accepting fast enough: stop, and leave the rest in the backlog.
            pause = s.id;
        }
        let waiters = match after {
            After::Wake => std::mem::take(&mut s.waiters),
            // Closed: no accept will return the connection; reset, as the kernel would.
            After::Release(conn) => {
                close_unaccepted(conn);
                Vec::new()
            }
            // A closed listener's accept error concerns no connection.
            After::Failed(_) | After::Nothing => Vec::new(),
        };
        drop(s);
        if let Some(id) = pause {
            self.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
        waiters.into_iter().for_each(Waker::wake);
    }

    /// The accepts waiting on the listener, as one waker (a moved deadline wakes them all).
    pub(crate) fn accept_waiter(&self, registration: &Registration) -> Option<Waker> {
        let stream = registration.accepting.take();
        let waiters = stream.as_ref().map(|s| s.borrow().waiters.clone()).unwrap_or_default();
        registration.accepting.set(stream);
        match waiters.len() {
            0 => None,
            1 => waiters.into_iter().next(),
            _ => {
                // The first is returned; the others are woken now, and re-park when polled.
                let mut rest = waiters.into_iter();
                let first = rest.next();
                rest.for_each(Waker::wake);
                first
            }
        }
    }

    /// The listener is gone: cancel its accept and close every connection it queued.
    pub(crate) fn end_accept(&self, registration: &Registration) {
        let Some(stream) = registration.accepting.take() else { return };
        let mut s = stream.borrow_mut();
        let (cancel, queued) = s.state.close();
        // An accept error concerns no connection: nothing to hand on.
        let queued: Vec<OwnedFd> = queued.filter_map(Result::ok).collect();
        let id = s.id.filter(|_| cancel);
        let waiters = std::mem::take(&mut s.waiters);
        drop(s);
        // Reset, not FIN: see `close_unaccepted`.
        queued.into_iter().for_each(close_unaccepted);
        if let Some(id) = id {
            self.push_unawaited(opcode::AsyncCancel::new(id).build());
        }
        drop(waiters);
    }
}

#[cfg(test)]
mod tests {
    //! The listener's queue and arm state as accepts use it (the connections as numbers, so
    //! Miri runs these without descriptors).

    use super::super::multishot::{After, Arm, Event, Multishot, Next};
    use super::QUEUE_LIMIT;

    fn armed() -> Multishot<i32, QUEUE_LIMIT> {
        let mut ms = Multishot::new();
        assert_eq!(ms.next(), Next::Arm { starved: false });
        ms
    }

    #[test]
    fn a_full_queue_pauses_the_accept_until_drained() {
        let mut ms = armed();
        for conn in 0..QUEUE_LIMIT as i32 - 1 {
            ms.on_completion(Event::Item(conn), true);
            assert!(!ms.wants_pause(), "{conn} queued: keep accepting");
        }
        ms.on_completion(Event::Item(QUEUE_LIMIT as i32 - 1), true);
        assert!(ms.wants_pause(), "at the bound: cancel");
        ms.on_completion(Event::Item(QUEUE_LIMIT as i32), true);
        ms.on_completion(Event::Failed(libc::ECANCELED), false);
        assert_eq!(ms.arm(), Arm::Idle);
        for want in 0..=QUEUE_LIMIT as i32 {
            assert_eq!(ms.next(), Next::Ready(Ok(want)), "no connection lost or reordered");
        }
        assert_eq!(ms.next(), Next::Arm { starved: false }, "drained: armed again");
    }

    #[test]
    fn an_end_on_a_full_completion_queue_rearms_for_the_waiting_accept() {
        let mut ms = armed();
        assert_eq!(ms.next(), Next::Wait);
        // The kernel could not post with F_MORE: the connection comes as the op's last result.
        assert_eq!(ms.on_completion(Event::Item(9), false), After::Wake);
        assert_eq!(ms.next(), Next::Ready(Ok(9)));
        assert_eq!(ms.next(), Next::Arm { starved: false }, "the next accept re-arms");
        // An end with nothing in it re-arms as well: a cancel nobody asked for (the kernel
        // ended the op) costs a submission, not an accept loop's error.
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Wake);
        assert_eq!(ms.queued(), 0, "no accept is told of a cancel that took nothing");
        assert_eq!(ms.next(), Next::Arm { starved: false });
        // Twice in a row, with no connection between: one accept is told, not re-armed forever.
        ms.on_completion(Event::Failed(libc::ECANCELED), false);
        assert_eq!(ms.next(), Next::Ready(Err(libc::ECANCELED)));
        assert_eq!(ms.next(), Next::Arm { starved: false });
    }

    #[test]
    fn emfile_reaches_exactly_one_accept_then_the_op_rearms() {
        let mut ms = armed();
        ms.on_completion(Event::Item(1), true);
        ms.on_completion(Event::Failed(libc::EMFILE), false);
        assert_eq!(ms.next(), Next::Ready(Ok(1)), "connections before the error come first");
        assert_eq!(ms.next(), Next::Ready(Err(libc::EMFILE)));
        assert_eq!(ms.next(), Next::Arm { starved: false }, "after the back-off: one new submission");
        assert_eq!(ms.next(), Next::Wait);
    }

    #[test]
    fn closing_the_listener_hands_back_queued_and_late_connections() {
        let mut ms = armed();
        ms.on_completion(Event::Item(3), true);
        ms.on_completion(Event::Item(4), true);
        let (cancel, queued) = ms.close();
        assert!(cancel);
        assert_eq!(queued.collect::<Vec<_>>(), [Ok(3), Ok(4)], "to be closed");
        assert_eq!(ms.on_completion(Event::Item(5), true), After::Release(5), "beat the cancel: closed");
        assert_eq!(ms.on_completion(Event::Failed(libc::ECANCELED), false), After::Nothing);
    }
}
