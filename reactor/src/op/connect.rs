//! Connect a socket: `connect(2)` then readiness and SO_ERROR, or IORING_OP_CONNECT.
//!
//! A Unix stream connect is different: connect(2) itself ends it (connected, refused), except
//! when the listener's backlog is full, where a non-blocking socket gets EAGAIN and no
//! readiness event ever says that room has appeared (an unconnected Unix socket polls
//! writable all along). Waiting for readiness there hung on epoll (the edge had been used)
//! and spun on io_uring (the kernel's CONNECT re-armed its poll, which fired at once, and
//! tried again). So a Unix connect meeting a full backlog tries again on a timer, after a
//! pause of 1 ms doubling to 50 ms: a blocking connect's wait, at a cost of at most 20 calls
//! a second. It never goes to the ring (`Source::connect` runs it by the readiness loop on
//! io_uring too): its syscall cannot wait, so the ring would add nothing but the spin. That
//! choice is made there, once per connect, not in `Driver::run`, whose every other op would
//! pay for the test (a third variant of its future cost an echo round trip 27 instructions
//! on epoll and 46 on io_uring).

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::{Op, Syscall};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::{syscall, take_socket_error};
use crate::time::{sleep, Sleep};

/// The first pause of a Unix connect waiting for room in a full backlog.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between its tries.
const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// Connects a non-blocking socket to an address, reporting the connection's own error.
pub(crate) struct Connect {
    /// Boxed: the kernel reads it after submission.
    addr: Box<SockAddr>,
    /// The non-blocking connect is in progress: the next call asks how it ended.
    started: bool,
    /// A Unix connect that met a full backlog: the timer of its next try.
    retry: Option<Sleep>,
    /// The pause before the try after that one.
    pause: Duration,
}

impl Connect {
    pub(crate) fn new(addr: SockAddr) -> Connect {
        Connect { addr: Box::new(addr), started: false, retry: None, pause: FIRST_PAUSE }
    }

    /// Whether it connects a Unix socket, which `Source::connect` runs by its readiness
    /// half on io_uring too (see the module's doc).
    pub(crate) fn is_unix(&self) -> bool {
        self.addr.family() == libc::AF_UNIX
    }

    /// A Unix connect found the backlog full: try again after the pause, and wait twice as
    /// long (up to [`LONGEST_PAUSE`]) if it is still full then.
    fn wait_for_room(&mut self) -> io::Error {
        self.retry = Some(sleep(self.pause));
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        io::ErrorKind::WouldBlock.into()
    }
}

/// A TCP (or UDP) connect's EAGAIN is no "try again when ready": Linux says it when no local
/// port or routing entry is free for the connection, and readiness would not announce one
/// (an unconnected socket polls writable at once, so the wait spun, or hung once its edge was
/// used). It ends the connect, as Go's does. Not as EAGAIN, which every caller reads as
/// "would block": as EADDRNOTAVAIL's kind, Linux's usual word for no free local port.
fn no_local_address() -> io::Error {
    io::Error::new(io::ErrorKind::AddrNotAvailable, "connect: EAGAIN: no free local port or routing entry")
}

impl Syscall for Connect {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    /// The first call starts the connect; EINPROGRESS becomes "wait until writable", after
    /// which the second call reads the outcome from SO_ERROR. A Unix socket's EAGAIN (a full
    /// backlog) becomes "call again after a pause" (see the module's doc); any other socket's
    /// is an error (`no_local_address`).
    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        if self.started {
            return match take_socket_error(fd)? {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        // SAFETY: the address is a valid sockaddr of addr.len() bytes, alive for the call.
        match syscall!(connect(fd, self.addr.as_ptr(), self.addr.len())) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                self.started = true;
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && self.is_unix() => Err(self.wait_for_room()),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Err(no_local_address()),
            res => res.map(|_| 0),
        }
    }

    fn poll_timed_retry(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        let retry = self.retry.as_mut()?;
        let elapsed = retry.poll_elapsed(cx);
        if elapsed.is_ready() {
            self.retry = None;
        }
        Some(elapsed)
    }
}

// SAFETY: the entry points into the boxed address, which the op owns.
unsafe impl Op for Connect {
    type Output = io::Result<()>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        opcode::Connect::new(types::Fd(fd), self.addr.as_ptr(), self.addr.len()).build()
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
