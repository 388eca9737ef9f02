//! Every I/O operation, described once: one file per operation, both drivers' halves side by
//! side.
//!
//! An operation is a value that owns what it needs (buffer, address, message header). It
//! implements two traits:
//!
//! - [`Syscall`], the readiness half: which direction it waits on and the non-blocking
//!   syscall the epoll driver tries, and tries again after each readiness edge. The
//!   poll-style methods (`poll_recv`, `poll_send`) and readiness-mode splices run it on
//!   io_uring too.
//! - [`Op`], the completion half: the io_uring submission entry, built from data the op
//!   owns, and what the result becomes for the caller.
//!
//! How an operation is run (the retry-on-EAGAIN loop, resubmission after an `-EAGAIN`
//! completion, deadlines, what a dropped one leaves) is written once per driver, in
//! `epoll::run` and `uring::run`; the driver layer (`driver.rs`) picks one. Nothing in here
//! knows which driver runs.

mod accept;
mod connect;
mod custom;
pub mod file;
mod msg_header;
mod recv;
mod recv_from;
mod recv_pooled;
mod send;
mod send_to;
mod sendmsg;
mod splice;

pub(crate) use accept::Accept;
pub(crate) use connect::Connect;
pub(crate) use custom::Custom;
pub(crate) use recv::{Recv, RecvSlice, RecvVectored};
pub(crate) use recv_from::{RecvFrom, RecvFromSlice};
pub(crate) use recv_pooled::RecvPooled;
pub(crate) use send::{Send, SendSlice};
pub(crate) use send_to::{SendTo, SendToSlice};
pub(crate) use sendmsg::{SendVectored, Writev};
pub(crate) use splice::Splice;

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use io_uring::squeue;

use crate::interest::Interest;
use crate::uring::stash::Stash;

/// Flags of every send: a closed peer is an error (EPIPE), never a SIGPIPE.
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

/// The readiness half of an operation: what it waits for and the syscall it tries.
pub(crate) trait Syscall {
    /// The direction whose readiness the operation waits on, and whose deadline and turn it
    /// takes.
    fn interest(&self) -> Interest;

    /// Whether the operation takes data off the socket (a read, a datagram, a connection):
    /// on io_uring such an operation is served first from what dropped ones left, and what it
    /// receives after its own future was dropped is kept for the next one.
    fn receives(&self) -> bool {
        false
    }

    /// The non-blocking syscall. `WouldBlock` means "wait for readiness and call again".
    fn call(&mut self, fd: RawFd) -> io::Result<usize>;

    /// After `call` said `WouldBlock` where no readiness event will come (a Unix connect to
    /// a full backlog): `Some`, Ready when it is time to call again, on the op's own timer.
    /// `None`, the default: wait for readiness.
    fn poll_timed_retry(&mut self, _cx: &mut Context<'_>) -> Option<Poll<()>> {
        None
    }

    /// How many bytes the operation asks to move, if it moves bytes of a stream: a shorter
    /// result then shows the socket empty (or full) without paying for an EAGAIN.
    fn want(&mut self) -> Option<usize> {
        None
    }

    /// Serves the operation from what dropped receives left on this socket (io_uring only),
    /// returning the result the syscall would have.
    fn take_leftover(&mut self, _stash: &mut Stash, _fd: RawFd) -> Option<io::Result<usize>> {
        None
    }
}

/// The completion half of an operation, for io_uring.
///
/// # Safety
/// The entry [`Op::entry`] returns may point only into memory that the op owns on the heap
/// (a buffer's stable pointer, a boxed address or header), which stays valid and in place for
/// as long as the op lives, however the op value itself is moved. The driver keeps the op
/// alive until the entry's completion has arrived, also when the caller's future is dropped.
pub(crate) unsafe trait Op: Syscall + Sized + 'static {
    /// What the caller gets back.
    type Output;

    /// The submission entry for `fd`. `poll_first` says the last transfer left the socket
    /// empty: an operation that can should ask the kernel to wait for readiness first.
    fn entry(&mut self, fd: RawFd, poll_first: bool) -> squeue::Entry;

    /// The result (the syscall's or the completion's) and what the op owned, as the caller
    /// wants them: a buffer with its initialised length set, an address, a descriptor.
    fn finish(self, res: io::Result<usize>) -> Self::Output;

    /// The op's future was dropped but the kernel completed it with `res` (io_uring only):
    /// keep whatever it took off the socket for the next receive.
    fn keep_late(self, _res: i32, _stash: &mut Stash, _fd: RawFd) {}

    /// As `keep_late`, but the source is gone too (closed while the orphaned op was in the
    /// kernel, its cancel too late): nobody will receive again, so release what the
    /// completion holds that dropping the op does not (an accepted descriptor).
    fn release_late(self, _res: i32) {}
}

/// The entry's length field: at most `u32::MAX` bytes per operation.
fn len32(len: usize) -> u32 {
    len.min(u32::MAX as usize) as u32
}
