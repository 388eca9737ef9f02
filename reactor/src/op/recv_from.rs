//! Receive one datagram and its sender: `recvmsg(2)`, or IORING_OP_RECVMSG.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::msg_header::MsgHeader;
use super::recv::as_uninit;
use super::{Op, Syscall};
use crate::buf::{BufResult, IoBufMut};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::syscall;
use crate::uring::stash::Stash;

/// Receives one datagram into an owned buffer (the rest of a longer one is discarded) and its
/// sender. A datagram a dropped one took, even an empty one, goes whole to the next receive,
/// sender included.
pub(crate) struct RecvFrom<B> {
    buf: B,
    /// Boxed with its iovec and address: the kernel writes them after submission.
    header: Box<MsgHeader>,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(mut buf: B) -> RecvFrom<B> {
        let header = MsgHeader::new(buf.stable_mut_ptr(), buf.bytes_total(), SockAddr::empty());
        RecvFrom { buf, header }
    }
}

impl<B: IoBufMut> Syscall for RecvFrom<B> {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: the header points at the buffer's writable bytes and at its own address
        // field, all alive for the call.
        syscall!(recvmsg(fd, &mut self.header.msg, 0)).map(|n| n as usize)
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        // SAFETY: only the stash writes to the view, while the buffer lives.
        let out = unsafe { as_uninit(&mut self.buf) };
        let (n, from) = stash.take_datagram(fd, out)?;
        self.header.addr = from;
        self.header.msg.msg_namelen = from.len();
        Some(Ok(n))
    }
}

// SAFETY: the entry points at the boxed header, which points into the buffer's stable bytes
// and at its own address: all owned by the op.
unsafe impl<B: IoBufMut> Op for RecvFrom<B> {
    type Output = BufResult<(usize, SockAddr), B>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        opcode::RecvMsg::new(types::Fd(fd), &mut self.header.msg).build()
    }

    fn finish(mut self, res: io::Result<usize>) -> Self::Output {
        if let Ok(n) = res {
            // SAFETY: the syscall, the kernel or the stash wrote the first n bytes.
            unsafe { self.buf.set_init(n) };
        }
        (res.map(|n| (n, self.header.name())), self.buf)
    }

    fn keep_late(mut self, res: i32, stash: &mut Stash, fd: RawFd) {
        if res >= 0 {
            // SAFETY: the kernel wrote `res` bytes at the start of the buffer, which is alive.
            let read = unsafe { std::slice::from_raw_parts(self.buf.stable_mut_ptr(), res as usize) };
            stash.push_datagram(fd, read, self.header.name());
        }
    }
}
