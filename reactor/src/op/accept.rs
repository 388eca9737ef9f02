//! Accept a connection: `accept4(2)`, or IORING_OP_ACCEPT.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use super::{Op, Syscall};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::{close_unaccepted, owned, syscall};
use crate::uring::stash::Stash;

/// Accepted sockets are non-blocking and close-on-exec.
const ACCEPT_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// Accepts one connection and its peer's address. A connection a dropped accept took goes
/// to the next accept.
pub(crate) struct Accept {
    /// Boxed: the kernel writes it after submission.
    addr: Box<SockAddr>,
}

impl Accept {
    pub(crate) fn new() -> Accept {
        Accept { addr: Box::new(SockAddr::empty()) }
    }
}

impl Syscall for Accept {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let (ptr, len) = (self.addr.as_mut_ptr(), self.addr.len_mut() as *mut _);
        // SAFETY: ptr/len point into the boxed address, alive for the call.
        syscall!(accept4(fd, ptr, len, ACCEPT_FLAGS)).map(|fd| fd as usize)
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        let (conn, addr) = stash.take_accepted(fd)?;
        *self.addr = addr;
        Some(Ok(conn.into_raw_fd() as usize))
    }
}

// SAFETY: the entry points into the boxed address, which the op owns.
unsafe impl Op for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        let (ptr, len) = (self.addr.as_mut_ptr(), self.addr.len_mut() as *mut _);
        opcode::Accept::new(types::Fd(fd), ptr, len).flags(ACCEPT_FLAGS).build()
    }

    fn finish(self, res: io::Result<usize>) -> Self::Output {
        res.map(|fd| (owned(fd as RawFd), *self.addr))
    }

    fn keep_late(self, res: i32, stash: &mut Stash, fd: RawFd) {
        if res >= 0 {
            stash.push_accepted(fd, (owned(res), *self.addr));
        }
    }

    fn release_late(self, res: i32) {
        if res >= 0 {
            close_unaccepted(owned(res));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::IntoRawFd;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_late_accept_on_a_closed_listener_resets_its_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let conn = listener.accept().unwrap().0.into_raw_fd();
        // As the completion of an orphaned accept whose listener is gone would bring it.
        Accept::new().release_late(conn);
        // Closed (a leaked descriptor would leave the client waiting), and with a reset.
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let err = client.read(&mut [0; 8]).expect_err("the connection is closed");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        // An error completion carries no descriptor: nothing to close (and no panic).
        Accept::new().release_late(-libc::ECANCELED);
    }
}
