//! Receive into a buffer: `recv(2)`, or IORING_OP_RECV.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

use super::{len32, Op, Syscall};
use crate::buf::{BufResult, IoBufMut};
use crate::interest::Interest;
use crate::sockaddr::SockAddr;
use crate::sys::{self, syscall};
use crate::uring::stash::Stash;

/// IORING_RECVSEND_POLL_FIRST, in the SQE's ioprio field.
const RECV_POLL_FIRST: u16 = 1;

/// Receives stream bytes into an owned buffer, from its start up to its capacity; the bytes a
/// dropped one took go to the next receive. Datagram sockets use [`RecvFrom`](super::RecvFrom)
/// even for `recv`, so a datagram a dropped receive took keeps its sender.
///
/// With MSG_PEEK it copies the bytes and leaves them queued: stashed bytes (io_uring) stay
/// in the stash, ahead of the socket's, and a dropped peek keeps nothing but an error, since
/// the kernel still holds what it copied.
pub(crate) struct Recv<B> {
    buf: B,
    /// recv's flags: 0, or MSG_PEEK.
    flags: libc::c_int,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn new(buf: B) -> Recv<B> {
        Recv { buf, flags: 0 }
    }

    /// A receive that leaves the bytes for the next one.
    pub(crate) fn peek(buf: B) -> Recv<B> {
        Recv { buf, flags: libc::MSG_PEEK }
    }

    fn peeks(&self) -> bool {
        self.flags & libc::MSG_PEEK != 0
    }
}

impl<B: IoBufMut> Syscall for Recv<B> {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let (ptr, len) = (self.buf.stable_mut_ptr(), self.buf.bytes_total());
        // SAFETY: ptr/len describe the buffer's writable bytes, alive for the call.
        syscall!(recv(fd, ptr.cast(), len, self.flags)).map(|n| n as usize)
    }

    /// A peek's short result shows nothing of the socket (the bytes are still there): it
    /// must not mark it drained, or the next read would wait for an edge that never comes.
    fn want(&mut self) -> Option<usize> {
        (!self.peeks()).then(|| self.buf.bytes_total())
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        if !stash.has_stream(fd) {
            return None;
        }
        let peeks = self.peeks();
        // SAFETY: the buffer's first bytes_total bytes are writable while it lives; viewing
        // them as MaybeUninit claims nothing about their contents.
        let out = unsafe { as_uninit(&mut self.buf) };
        match peeks {
            true => stash.peek_stream(fd, out),
            false => stash.take_stream(fd, out),
        }
    }
}

// SAFETY: the entry points into the buffer's stable bytes, which the op owns.
unsafe impl<B: IoBufMut> Op for Recv<B> {
    type Output = BufResult<usize, B>;

    fn entry(&mut self, fd: RawFd, poll_first: bool) -> squeue::Entry {
        let (ptr, len) = (self.buf.stable_mut_ptr(), len32(self.buf.bytes_total()));
        // After a short read the socket is empty: have the kernel wait for data before
        // trying, instead of failing a first attempt inside the kernel.
        let ioprio = if poll_first { RECV_POLL_FIRST } else { 0 };
        opcode::Recv::new(types::Fd(fd), ptr, len).flags(self.flags).ioprio(ioprio).build()
    }

    fn finish(mut self, res: io::Result<usize>) -> BufResult<usize, B> {
        if let Ok(n) = res {
            // SAFETY: the syscall, the kernel or the stash wrote the first n bytes.
            unsafe { self.buf.set_init(n) };
        }
        (res, self.buf)
    }

    fn keep_late(mut self, res: i32, stash: &mut Stash, fd: RawFd) {
        // A peek took no bytes off the socket (an error, though, the kernel reports once).
        if res > 0 && !self.peeks() {
            // SAFETY: the kernel wrote `res` bytes at the start of the buffer, which is alive.
            let read = unsafe { std::slice::from_raw_parts(self.buf.stable_mut_ptr(), res as usize) };
            stash.push_bytes(fd, read);
        } else if res < 0 && !matches!(-res, libc::ECANCELED | libc::EAGAIN | libc::EINTR) {
            // The socket's error (a reset) went to this dropped read; the kernel will not
            // report it again, so the next read would see end of stream. It gets the error.
            // (Not our cancel, nor a transient result the next read would not have seen.)
            stash.push_error(fd, -res);
        }
    }
}

/// The writable bytes of `buf` as uninitialised memory.
///
/// # Safety
/// The caller must only write to the slice, and only while `buf` lives.
pub(super) unsafe fn as_uninit<B: IoBufMut>(buf: &mut B) -> &mut [MaybeUninit<u8>] {
    // SAFETY: IoBufMut promises bytes_total writable bytes at stable_mut_ptr.
    unsafe { std::slice::from_raw_parts_mut(buf.stable_mut_ptr().cast(), buf.bytes_total()) }
}

/// Receives into a borrowed slice, readiness only: the poll-style path (`poll_recv`).
pub(crate) struct RecvSlice<'a> {
    pub(crate) buf: &'a mut [u8],
    /// A byte stream (leftovers are bytes) or datagrams (leftovers are whole datagrams).
    pub(crate) stream: bool,
}

impl Syscall for RecvSlice<'_> {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        sys::recv(fd, self.buf, 0)
    }

    fn want(&mut self) -> Option<usize> {
        self.stream.then_some(self.buf.len())
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        // SAFETY: an initialised &mut [u8] may be viewed as MaybeUninit bytes; only bytes are
        // written to it.
        let out = unsafe { &mut *(self.buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match self.stream {
            true => stash.take_stream(fd, out),
            false => stash.take_datagram(fd, out).map(|(n, _): (usize, SockAddr)| Ok(n)),
        }
    }
}

/// Receives stream bytes into borrowed slices, in order: readiness only, for
/// `try_read_vectored`. Bytes dropped reads left (io_uring) fill the first slice with room.
pub(crate) struct RecvVectored<'a, 'b> {
    pub(crate) bufs: &'a mut [std::io::IoSliceMut<'b>],
}

impl Syscall for RecvVectored<'_, '_> {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let count = self.bufs.len().min(libc::UIO_MAXIOV as usize);
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSliceMut is guaranteed to have iovec's layout on Unix.
        msg.msg_iov = self.bufs.as_mut_ptr().cast();
        msg.msg_iovlen = count;
        // SAFETY: msg points at iovecs describing live, writable slices.
        syscall!(recvmsg(fd, &mut msg, libc::MSG_DONTWAIT)).map(|n| n as usize)
    }

    fn want(&mut self) -> Option<usize> {
        Some(self.bufs.iter().map(|b| b.len()).sum())
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        if !stash.has_stream(fd) {
            return None;
        }
        let first = self.bufs.iter_mut().find(|b| !b.is_empty())?;
        // SAFETY: an initialised &mut [u8] may be viewed as MaybeUninit bytes; only bytes are
        // written to it.
        let out = unsafe { &mut *(&mut **first as *mut [u8] as *mut [MaybeUninit<u8>]) };
        stash.take_stream(fd, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_read_keeps_its_bytes_and_a_late_error_but_not_its_cancel() {
        let mut stash = Stash::default();
        let mut out = [MaybeUninit::new(0u8); 8];
        Recv::new(Vec::<u8>::with_capacity(8)).keep_late(-libc::ECANCELED, &mut stash, 3);
        Recv::new(Vec::<u8>::with_capacity(8)).keep_late(-libc::EAGAIN, &mut stash, 3);
        assert!(stash.take_stream(3, &mut out).is_none(), "nothing the next read would have seen");
        Recv::new(Vec::<u8>::with_capacity(8)).keep_late(-libc::ECONNRESET, &mut stash, 3);
        let err = stash.take_stream(3, &mut out).unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "the reset the kernel reports once");
        assert!(stash.take_stream(3, &mut out).is_none(), "once");
    }
}
