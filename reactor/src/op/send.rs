//! Send from a buffer: `send(2)`, or IORING_OP_SEND.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::{len32, Op, Syscall, SEND_FLAGS};
use crate::buf::{BufResult, IoBuf};
use crate::interest::Interest;
use crate::sys::{self, syscall};

/// Sends the initialised bytes of an owned buffer (maybe only some of them).
pub(crate) struct Send<B> {
    buf: B,
    /// A byte stream: a short send shows the socket buffer full.
    stream: bool,
}

impl<B: IoBuf> Send<B> {
    pub(crate) fn new(buf: B, stream: bool) -> Send<B> {
        Send { buf, stream }
    }
}

impl<B: IoBuf> Syscall for Send<B> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let (ptr, len) = (self.buf.stable_ptr(), self.buf.bytes_init());
        // SAFETY: ptr/len describe the buffer's initialised bytes, alive for the call.
        syscall!(send(fd, ptr.cast(), len, SEND_FLAGS)).map(|n| n as usize)
    }

    fn want(&mut self) -> Option<usize> {
        self.stream.then(|| self.buf.bytes_init())
    }
}

// SAFETY: the entry points into the buffer's stable bytes, which the op owns.
unsafe impl<B: IoBuf> Op for Send<B> {
    type Output = BufResult<usize, B>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        let (ptr, len) = (self.buf.stable_ptr(), len32(self.buf.bytes_init()));
        opcode::Send::new(types::Fd(fd), ptr, len).flags(SEND_FLAGS).build()
    }

    fn finish(self, res: io::Result<usize>) -> BufResult<usize, B> {
        (res, self.buf)
    }
}

/// Sends from a borrowed slice, readiness only: the poll-style path (`poll_send`), where
/// `Pending` must mean that nothing was sent.
pub(crate) struct SendSlice<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) stream: bool,
}

impl Syscall for SendSlice<'_> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        sys::send(fd, self.buf, SEND_FLAGS)
    }

    fn want(&mut self) -> Option<usize> {
        self.stream.then_some(self.buf.len())
    }
}
