//! Gathered send of several buffers: `sendmsg(2)`, or IORING_OP_SENDMSG.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::{Op, Syscall, SEND_FLAGS};
use crate::buf::{BufResult, IoBuf};
use crate::interest::Interest;
use crate::sys::syscall;

/// Sends several owned buffers in one gathered write.
pub(crate) struct Writev<B> {
    bufs: Vec<B>,
    /// The iovecs and the header live on the heap, where the entry points.
    iovs: Vec<libc::iovec>,
    msg: Box<libc::msghdr>,
}

/// The most iovecs one sendmsg takes; past it the kernel fails the whole call with EMSGSIZE.
const MAX_IOVS: usize = libc::UIO_MAXIOV as usize;

impl<B: IoBuf> Writev<B> {
    /// Describes the first [`MAX_IOVS`] buffers: a longer list is written in part and the
    /// count says how far it got, as std's `write_vectored` does.
    pub(crate) fn new(bufs: Vec<B>) -> Writev<B> {
        let iovs: Vec<libc::iovec> = bufs
            .iter()
            .take(MAX_IOVS)
            .map(|b| libc::iovec { iov_base: b.stable_ptr() as *mut _, iov_len: b.bytes_init() })
            .collect();
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_iov = iovs.as_ptr() as *mut _;
        msg.msg_iovlen = iovs.len();
        Writev { bufs, iovs, msg }
    }
}

impl<B: IoBuf> Syscall for Writev<B> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: msg points at iovecs describing live, initialised buffers the op owns.
        syscall!(sendmsg(fd, &*self.msg, SEND_FLAGS)).map(|n| n as usize)
    }
}

// SAFETY: the entry points at the boxed header, whose iovecs (a Vec's heap block) point into
// the buffers' stable bytes: all owned by the op.
unsafe impl<B: IoBuf> Op for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn entry(&mut self, fd: RawFd, _poll_first: bool) -> squeue::Entry {
        debug_assert_eq!(self.iovs.len(), self.msg.msg_iovlen);
        opcode::SendMsg::new(types::Fd(fd), &*self.msg).flags(SEND_FLAGS as u32).build()
    }

    fn finish(self, res: io::Result<usize>) -> BufResult<usize, Vec<B>> {
        (res, self.bufs)
    }
}

/// Sends borrowed slices in one gathered send: readiness only, for `try_write_vectored`.
pub(crate) struct SendVectored<'a> {
    pub(crate) bufs: &'a [std::io::IoSlice<'a>],
    pub(crate) stream: bool,
}

impl SendVectored<'_> {
    /// The slices one sendmsg takes (see [`MAX_IOVS`]).
    fn sent(&self) -> &[std::io::IoSlice<'_>] {
        &self.bufs[..self.bufs.len().min(MAX_IOVS)]
    }
}

impl Syscall for SendVectored<'_> {
    fn interest(&self) -> Interest {
        Interest::Write
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let bufs = self.sent();
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is guaranteed to have iovec's layout on Unix.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len();
        // SAFETY: msg points at iovecs describing live slices; sendmsg only reads them.
        syscall!(sendmsg(fd, &msg, SEND_FLAGS | libc::MSG_DONTWAIT)).map(|n| n as usize)
    }

    fn want(&mut self) -> Option<usize> {
        self.stream.then(|| self.sent().iter().map(|b| b.len()).sum())
    }
}
