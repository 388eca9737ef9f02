//! Send one datagram to an address: `sendto(2)`, or IORING_OP_SENDMSG.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::msg_header::MsgHeader;
use super::{Op, Syscall, SEND_FLAGS};
use crate::buf::{BufResult, IoBuf};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::syscall;

/// Sends an owned buffer as one datagram to an address.
pub(crate) struct SendTo<B> {
    buf: B,
    /// Boxed with its iovec and the destination: the kernel reads them after submission.
    header: Box<MsgHeader>,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn new(buf: B, to: SockAddr) -> SendTo<B> {
        let header = MsgHeader::new(buf.stable_ptr() as *mut u8, buf.bytes_init(), to);
        SendTo { buf, header }
    }
}

impl<B: IoBuf> Syscall for SendTo<B> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: the header points at the buffer's initialised bytes and the destination,
        // alive for the call; sendmsg only reads them.
        syscall!(sendmsg(fd, &self.header.msg, SEND_FLAGS)).map(|n| n as usize)
    }
}

// SAFETY: the entry points at the boxed header, which points into the buffer's stable bytes
// and at its own address: all owned by the op.
unsafe impl<B: IoBuf> Op for SendTo<B> {
    type Output = BufResult<usize, B>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(fd), &self.header.msg).flags(SEND_FLAGS as u32).build()
    }

    fn finish(self, res: io::Result<usize>) -> BufResult<usize, B> {
        (res, self.buf)
    }
}

/// Sends a borrowed slice as one datagram to an address: readiness only, for `try_send_to`.
pub(crate) struct SendToSlice<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) to: SockAddr,
}

impl Syscall for SendToSlice<'_> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let (ptr, len, flags) = (self.buf.as_ptr(), self.buf.len(), SEND_FLAGS | libc::MSG_DONTWAIT);
        // SAFETY: the slice and the address are alive for the call; sendto only reads them.
        syscall!(sendto(fd, ptr.cast(), len, flags, self.to.as_ptr(), self.to.len())).map(|n| n as usize)
    }
}
