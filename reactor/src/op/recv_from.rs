//! Receive (or peek at) one datagram and its sender: `recvmsg(2)`, or IORING_OP_RECVMSG.

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
///
/// With MSG_PEEK it copies the next datagram and leaves it queued: a stashed one (io_uring)
/// stays in the stash, and a dropped peek keeps nothing, since the kernel still holds what
/// it copied.
pub(crate) struct RecvFrom<B> {
    buf: B,
    /// Boxed with its iovec and address: the kernel writes them after submission.
    header: Box<MsgHeader>,
    /// recvmsg's flags: 0, or MSG_PEEK.
    flags: libc::c_int,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn new(buf: B) -> RecvFrom<B> {
        RecvFrom::with_flags(buf, 0)
    }

    /// A receive that leaves the datagram for the next one.
    pub(crate) fn peek(buf: B) -> RecvFrom<B> {
        RecvFrom::with_flags(buf, libc::MSG_PEEK)
    }

    fn with_flags(mut buf: B, flags: libc::c_int) -> RecvFrom<B> {
        let header = MsgHeader::new(buf.stable_mut_ptr(), buf.bytes_total(), SockAddr::empty());
        RecvFrom { buf, header, flags }
    }

    fn peeks(&self) -> bool {
        self.flags & libc::MSG_PEEK != 0
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
        syscall!(recvmsg(fd, &mut self.header.msg, self.flags)).map(|n| n as usize)
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        let peeks = self.peeks();
        // SAFETY: only the stash writes to the view, while the buffer lives.
        let out = unsafe { as_uninit(&mut self.buf) };
        let (n, from) = match peeks {
            true => stash.peek_datagram(fd, out)?,
            false => stash.take_datagram(fd, out)?,
        };
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
        opcode::RecvMsg::new(types::Fd(fd), &mut self.header.msg).flags(self.flags as u32).build()
    }

    fn finish(mut self, res: io::Result<usize>) -> Self::Output {
        if let Ok(n) = res {
            // SAFETY: the syscall, the kernel or the stash wrote the first n bytes.
            unsafe { self.buf.set_init(n) };
        }
        (res.map(|n| (n, self.header.name())), self.buf)
    }

    fn keep_late(mut self, res: i32, stash: &mut Stash, fd: RawFd) {
        // A peek took nothing off the socket: its datagram waits in the kernel still.
        if res >= 0 && !self.peeks() {
            // SAFETY: the kernel wrote `res` bytes at the start of the buffer, which is alive.
            let read = unsafe { std::slice::from_raw_parts(self.buf.stable_mut_ptr(), res as usize) };
            stash.push_datagram(fd, read, self.header.name());
        }
    }
}

/// Receives (or peeks at) one datagram into a borrowed slice, with its sender: readiness
/// only, for the tries (`try_recv_from`, `try_peek_from`). A stashed datagram (io_uring)
/// comes first, as for [`RecvFrom`].
pub(crate) struct RecvFromSlice<'a> {
    buf: &'a mut [u8],
    /// recvfrom's flags: 0, or MSG_PEEK.
    flags: libc::c_int,
    /// The sender, once a call or the stash has given one.
    from: SockAddr,
}

impl<'a> RecvFromSlice<'a> {
    /// A receive into `buf`; with `peek`, the datagram stays queued.
    pub(crate) fn new(buf: &'a mut [u8], peek: bool) -> RecvFromSlice<'a> {
        let flags = if peek { libc::MSG_PEEK } else { 0 };
        RecvFromSlice { buf, flags, from: SockAddr::empty() }
    }

    /// The sender of the datagram received.
    pub(crate) fn sender(&self) -> SockAddr {
        self.from
    }
}

impl Syscall for RecvFromSlice<'_> {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut from = SockAddr::empty();
        let (ptr, len) = (self.buf.as_mut_ptr(), self.buf.len());
        let (addr, addr_len) = (from.as_mut_ptr(), from.len_mut() as *mut libc::socklen_t);
        // SAFETY: the slice is writable for `len` bytes and `from` is a sockaddr_storage with
        // its length, all alive for the call.
        let n = syscall!(recvfrom(fd, ptr.cast(), len, self.flags | libc::MSG_DONTWAIT, addr, addr_len))?;
        self.from = from;
        Ok(n as usize)
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        // SAFETY: an initialised &mut [u8] may be viewed as MaybeUninit bytes; only bytes are
        // written to it.
        let out = unsafe { &mut *(self.buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        let (n, from) = match self.flags & libc::MSG_PEEK != 0 {
            true => stash.peek_datagram(fd, out)?,
            false => stash.take_datagram(fd, out)?,
        };
        self.from = from;
        Some(Ok(n))
    }
}
