//! Connect a socket: `connect(2)` then readiness and SO_ERROR, or IORING_OP_CONNECT.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::{Op, Syscall};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::{syscall, take_socket_error};

/// Connects a non-blocking socket to an address, reporting the connection's own error.
pub(crate) struct Connect {
    /// Boxed: the kernel reads it after submission.
    addr: Box<SockAddr>,
    /// The non-blocking connect is in progress: the next call asks how it ended.
    started: bool,
}

impl Connect {
    pub(crate) fn new(addr: SockAddr) -> Connect {
        Connect { addr: Box::new(addr), started: false }
    }
}

impl Syscall for Connect {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    /// The first call starts the connect; EINPROGRESS becomes "wait until writable", after
    /// which the second call reads the outcome from SO_ERROR.
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
            res => res.map(|_| 0),
        }
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
