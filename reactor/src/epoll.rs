//! The epoll driver: readiness, edge-triggered, one registration per fd (Go's netpoll_epoll).

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::task::{Context, Poll, Waker};

use crate::netpoll_break::Break;
use crate::poll_desc::{Interest, PollDescs, Token};
use crate::sys::{cvt, interrupted, owned};

/// Events taken per epoll_wait, as Go's netpoll does.
const EVENTS: usize = 128;
/// The token of the core's eventfd; slab tokens never reach it (their index is below 2^32-1).
const BREAK_TOKEN: u64 = u64::MAX;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    descs: RefCell<PollDescs>,
    events: RefCell<Vec<libc::epoll_event>>,
}

impl Epoll {
    pub(crate) fn new(brk: &Break) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let epfd = owned(cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?);
        let epoll = Epoll {
            epfd,
            descs: RefCell::default(),
            events: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS]),
        };
        epoll.ctl(libc::EPOLL_CTL_ADD, brk.fd(), (libc::EPOLLIN | libc::EPOLLET) as u32, BREAK_TOKEN)?;
        Ok(epoll)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a live epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Registers `fd` once for both directions, edge-triggered.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<Token> {
        let token = self.descs.borrow_mut().alloc();
        let events = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, events as u32, token.0) {
            self.descs.borrow_mut().free(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes `fd`; events already queued for it are recognised as stale.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) {
        // An error here means the fd is already gone from the set; closing it settles that.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        self.descs.borrow_mut().free(token);
    }

    pub(crate) fn poll_ready(&self, token: Token, interest: Interest, cx: &Context<'_>) -> Poll<()> {
        self.descs.borrow_mut().poll_ready(token, interest, cx)
    }

    pub(crate) fn clear_drained(&self, token: Token, interest: Interest) -> bool {
        self.descs.borrow_mut().clear_drained(token, interest)
    }

    pub(crate) fn take_waiters(&self, token: Token, interest: Interest, wake: &mut Vec<Waker>) {
        self.descs.borrow_mut().take_waiters(token, interest, wake);
    }

    /// One epoll_wait; returns how many events arrived. A signal ends the wait early (Ok(0))
    /// so the caller recomputes its timeout.
    pub(crate) fn wait(&self, timeout_ms: i32, brk: &Break, wake: &mut Vec<Waker>) -> io::Result<usize> {
        let mut events = self.events.borrow_mut();
        // SAFETY: the buffer holds EVENTS initialised epoll_events and outlives the call.
        let n = unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), events.as_mut_ptr(), EVENTS as i32, timeout_ms) };
        let n = match cvt(n) {
            Ok(n) => n as usize,
            Err(e) if interrupted(&e) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut descs = self.descs.borrow_mut();
        for ev in &events[..n] {
            let (token, flags) = (ev.u64, ev.events);
            if token == BREAK_TOKEN {
                brk.drain();
            } else {
                descs.dispatch(Token(token), flags, wake);
            }
        }
        Ok(n)
    }
}
