//! The epoll driver: readiness, edge-triggered, one registration per fd (Go's netpoll_epoll).
//!
//! An operation runs its syscall; on EAGAIN it parks on the fd's PollDesc until an edge (see
//! `poll_desc`). The loop that does so is the driver layer's `poll_syscall`.

mod poll_desc;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::interest::Interest;
use crate::netpoll_break::Break;
use crate::sys::{self, interrupted, owned, syscall};
use poll_desc::{PollDescs, Token};

/// Events taken per epoll_wait, as Go's netpoll does.
const EVENTS: usize = 128;
/// The token of the core's eventfd; no slab key packs to it (see `slab`).
const BREAK_TOKEN: u64 = u64::MAX;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    descs: RefCell<PollDescs>,
    events: RefCell<Vec<libc::epoll_event>>,
    brk: Arc<Break>,
}

/// What the epoll driver keeps for one source: its PollDesc's token, and whether the last
/// transfer of each direction showed the socket empty (or full).
pub(crate) struct Registration {
    token: Token,
    stream: bool,
    exhausted: [Cell<bool>; 2],
}

impl Registration {
    #[inline]
    pub(crate) fn is_stream(&self) -> bool {
        self.stream
    }

    #[inline]
    pub(crate) fn exhausted(&self, interest: Interest) -> bool {
        self.exhausted[interest as usize].get()
    }
}

impl Epoll {
    pub(crate) fn new(brk: Arc<Break>) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let epfd = owned(syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?);
        let epoll = Epoll {
            epfd,
            descs: RefCell::default(),
            events: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS]),
            brk,
        };
        epoll.ctl(libc::EPOLL_CTL_ADD, epoll.brk.fd(), (libc::EPOLLIN | libc::EPOLLET) as u32, BREAK_TOKEN)?;
        Ok(epoll)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a live epoll_event for the duration of the call.
        syscall!(epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev)).map(drop)
    }

    /// Registers `fd` once for both directions, edge-triggered.
    pub(crate) fn register(&self, fd: RawFd, stream: bool) -> io::Result<Registration> {
        let token = self.descs.borrow_mut().alloc();
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, events as u32, token.0) {
            self.descs.borrow_mut().free(token);
            return Err(e);
        }
        Ok(Registration { token, stream, exhausted: Default::default() })
    }

    /// Removes `fd` and closes it; events already queued for it are recognised as stale.
    pub(crate) fn close(&self, fd: RawFd, registration: &Registration) {
        // An error here means the fd is already gone from the set; closing it settles that.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        self.descs.borrow_mut().free(registration.token);
        sys::close(fd);
    }

    /// Go's wait half, for `Source::poll_ready`: consumes the pending edge (its caller
    /// retries until EAGAIN, which no one here sees, so the edge cannot stay).
    #[inline]
    pub(crate) fn poll_ready(&self, registration: &Registration, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        self.descs.borrow_mut().poll_ready(registration.token, interest, cx)
    }

    /// tokio's readiness: Ready while an edge is pending, which stays until
    /// [`clear_readiness`](Self::clear_readiness).
    #[inline]
    pub(crate) fn poll_readiness(&self, registration: &Registration, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        self.descs.borrow_mut().poll_kept(registration.token, interest, cx)
    }

    /// A try met EAGAIN: the pending edge of `interest` is spent.
    pub(crate) fn clear_readiness(&self, registration: &Registration, interest: Interest) {
        self.descs.borrow_mut().clear(registration.token, interest);
    }

    /// Whether an event said the direction of `interest` is closed (a hangup, an error).
    pub(crate) fn is_closed(&self, registration: &Registration, interest: Interest) -> bool {
        self.descs.borrow_mut().closed(registration.token, interest)
    }

    /// Records a transfer of `n` of `want` bytes (None: readiness came). On a stream a short
    /// one shows the socket empty (or full): its edge is forgotten and the next operation
    /// waits for a fresh one before trying, so the echo-style loop costs one syscall per read
    /// instead of two. EOF (0) is never taken as such, nor is anything after the peer hung up.
    /// One exception, shared with tokio: TCP urgent data stops a read short at the urgent mark
    /// with bytes still queued; those are read when the next edge comes.
    #[inline]
    pub(crate) fn note_transfer(&self, registration: &Registration, interest: Interest, moved: Option<(usize, usize)>) {
        let short = matches!(moved, Some((n, want)) if n > 0 && n < want);
        let exhausted =
            short && registration.stream && self.descs.borrow_mut().forget_edge(registration.token, interest);
        registration.exhausted[interest as usize].set(exhausted);
    }

    /// Takes the waker of the task parked on `interest`, without marking it ready.
    pub(crate) fn take_waiter(&self, registration: &Registration, interest: Interest) -> Option<Waker> {
        self.descs.borrow_mut().take_waiter(registration.token, interest)
    }

    /// One epoll_wait of at most `timeout` (see [`timeout_ms`]). Returns how many events arrived. A signal
    /// ends the wait early (Ok(0)) so the caller recomputes its timeout.
    pub(crate) fn wait(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        let timeout_ms = timeout_ms(timeout);
        let mut events = self.events.borrow_mut();
        let (epfd, buf) = (self.epfd.as_raw_fd(), events.as_mut_ptr());
        // SAFETY: the buffer holds EVENTS initialised epoll_events and outlives the call.
        let n = match syscall!(epoll_wait(epfd, buf, EVENTS as i32, timeout_ms)) {
            Ok(n) => n as usize,
            Err(e) if interrupted(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut descs = self.descs.borrow_mut();
        for ev in &events[..n] {
            let (token, flags) = (ev.u64, ev.events);
            if token == BREAK_TOKEN {
                // Not read: an edge-triggered eventfd reports every write as a fresh event,
                // read or not, so draining its counter would only cost a syscall per wake.
                // The counter grows by at most one per sleep (the break's dedup) and an
                // eventfd holds 2^64 - 2.
                self.brk.rearm();
            } else {
                descs.dispatch(Token(token), flags, wake);
            }
        }
        Ok(n)
    }
}

/// epoll_wait's timeout: whole milliseconds rounded *up*, so a wait of 0.3 ms sleeps 1 ms
/// instead of spinning with a zero timeout (Go's delay-to-ms rule); None waits for ever (-1).
fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(wait) => {
            let ms = wait.as_millis() + u128::from(!wait.subsec_nanos().is_multiple_of(1_000_000));
            ms.min(i32::MAX as u128) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounds_up_never_to_zero() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(300))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(2))), 2);
        assert_eq!(timeout_ms(Some(Duration::from_micros(2001))), 3);
        assert_eq!(timeout_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn every_break_wakes_though_the_eventfd_is_never_read() {
        let brk = Arc::new(Break::new(true).unwrap());
        let epoll = Epoll::new(brk.clone()).unwrap();
        let mut wake = Vec::new();
        for round in 0..3 {
            assert_eq!(epoll.wait(Some(Duration::ZERO), &mut wake).unwrap(), 0, "round {round}: no wake yet");
            brk.park();
            brk.wake();
            brk.wake(); // deduplicated: one write per sleep
            assert_eq!(epoll.wait(Some(Duration::from_secs(5)), &mut wake).unwrap(), 1, "round {round}: woken");
            brk.unpark();
        }
        assert_eq!(brk.writes(), 3);
        let mut count = 0u64;
        // SAFETY: reads at most 8 bytes into a live u64 from the break's own eventfd.
        let read = unsafe { libc::read(brk.fd(), (&mut count as *mut u64).cast(), 8) };
        assert_eq!((read, count), (8, 3), "the counter kept every write");
    }
}
