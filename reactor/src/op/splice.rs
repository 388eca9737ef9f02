//! Move bytes between two descriptors through a pipe: `splice(2)`, or IORING_OP_SPLICE.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::{len32, Op, Syscall};
use crate::interest::Interest;
use crate::sys;

/// Flags of every splice: never block on the pipe; move pages rather than copy when possible.
/// Both descriptors are non-blocking too, so a step that cannot move anything fails with
/// EAGAIN on either driver (a blocking descriptor would tie up an io-wq worker).
const SPLICE_FLAGS: u32 = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;

/// Up to `len` bytes from the op's descriptor to `to` (one of them a pipe). EAGAIN means one
/// side is not ready: which one, the caller finds out (see `Source::splice_to`).
pub(crate) struct Splice {
    pub(crate) to: RawFd,
    pub(crate) len: usize,
}

impl Syscall for Splice {
    fn interest(&self) -> Interest {
        Interest::Read
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        sys::splice(fd, self.to, self.len, SPLICE_FLAGS)
    }
}

// SAFETY: the entry holds two descriptor numbers and no pointer.
unsafe impl Op for Splice {
    type Output = io::Result<usize>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        opcode::Splice::new(types::Fd(fd), -1, types::Fd(self.to), -1, len32(self.len)).flags(SPLICE_FLAGS).build()
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<usize> {
        res
    }
}
