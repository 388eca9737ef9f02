//! Zero-copy forwarding between descriptors: `splice(2)` through a pipe.
//!
//! A byte stream moves socket -> pipe -> socket without entering user space. Two ways, both
//! running the [`Splice`](crate::op::Splice) op:
//!
//! - [`Source::splice_to`]: its readiness half (`splice(2)` with SPLICE_F_NONBLOCK, and on
//!   EAGAIN the driver's readiness) on both drivers. The default everywhere.
//! - [`Source::splice_op_to`]: its completion half (IORING_OP_SPLICE) on io_uring. The kernel
//!   always punts splice ops to an io-wq worker thread (REQ_F_FORCE_ASYNC), a thread handoff
//!   per step: measured here (proxy, 2 GiB each way, one core) it cost ~3.0-3.3 CPU-s against
//!   ~2.2 CPU-s for `splice_to` on the same io_uring core, so it is the opt-in one.
//!
//! Either way a step that cannot move anything fails with EAGAIN; then the step waits for
//! whichever side is not ready and is tried again. That loop is splice's own: unlike every
//! other operation it has two descriptors, and either may be the one that blocked.

use std::io;

use crate::interest::Interest;
use crate::op::{Splice, Syscall};
use crate::source::Source;
use crate::sys::{self, interrupted, would_block};

/// A non-blocking pipe, both ends registered with the current core: the buffer of a
/// [`Source::splice_to`] chain.
#[derive(Debug)]
pub struct Pipe {
    reader: Source,
    writer: Source,
}

impl Pipe {
    /// A new pipe (O_NONBLOCK, O_CLOEXEC) on the current core.
    pub fn new() -> io::Result<Pipe> {
        let (r, w) = sys::pipe()?;
        Ok(Pipe { reader: Source::new(r)?, writer: Source::new(w)? })
    }

    /// The read end.
    pub fn reader(&self) -> &Source {
        &self.reader
    }

    /// The write end.
    pub fn writer(&self) -> &Source {
        &self.writer
    }

    /// Asks for a pipe buffer of `bytes` (F_SETPIPE_SZ); returns the size granted. The kernel
    /// caps unprivileged requests at /proc/sys/fs/pipe-max-size.
    pub fn set_capacity(&self, bytes: usize) -> io::Result<usize> {
        let bytes = libc::c_int::try_from(bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
        sys::fcntl_int(self.writer.fd(), libc::F_SETPIPE_SZ, bytes)
    }

    /// The pipe buffer's size in bytes (F_GETPIPE_SZ).
    pub fn capacity(&self) -> io::Result<usize> {
        sys::fcntl_int(self.writer.fd(), libc::F_GETPIPE_SZ, 0)
    }
}

impl Source {
    /// Moves up to `len` bytes from this descriptor to `to` with a non-blocking `splice(2)`,
    /// waiting for readiness when neither side can move; one of the two must be a pipe.
    /// Returns how many moved; `Ok(0)` is end of stream on this side (or `len == 0`).
    ///
    /// After reads on io_uring, bytes they took off the socket wait in the source (see
    /// [`Source::take_leftovers`], which must come first: while any wait this fails with
    /// `InvalidInput`), and so does an error that ended them (a reset, reported once by the
    /// kernel): it is returned here, never turned into end of stream.
    pub async fn splice_to(&self, to: &Source, len: usize) -> io::Result<usize> {
        self.splice_with(to, len, false).await
    }

    /// As [`Source::splice_to`], but each step is an IORING_OP_SPLICE op on io_uring (on
    /// epoll it is `splice_to`). See the module docs for what that costs.
    pub async fn splice_op_to(&self, to: &Source, len: usize) -> io::Result<usize> {
        self.splice_with(to, len, true).await
    }

    async fn splice_with(&self, to: &Source, len: usize, as_op: bool) -> io::Result<usize> {
        // On io_uring a pooled or dropped read may have taken the socket's error (a reset),
        // which the kernel reports once: spliced from now, the socket would say end of stream.
        self.reactor().driver().take_stream_end(self.target()).await?;
        loop {
            let mut splice = Splice { to: to.fd(), len };
            let res = match as_op {
                true => self.reactor().driver().run_once(self.target(), splice).await,
                false => splice.call(self.fd()),
            };
            match res {
                Err(e) if would_block(&e) => wait_for_blocked_side(self, to).await?,
                Err(e) if interrupted(&e) => {}
                other => return other,
            }
        }
    }
}

/// After EAGAIN, either the input has nothing to give or the output has no room: ask the
/// kernel which (poll with a zero timeout), and wait for that side. If both are ready again
/// by now, return and let the caller retry.
async fn wait_for_blocked_side(from: &Source, to: &Source) -> io::Result<()> {
    let mut fds = [
        libc::pollfd { fd: from.fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 },
        libc::pollfd { fd: to.fd(), events: libc::POLLOUT, revents: 0 },
    ];
    sys::poll_now(&mut fds)?;
    if fds[0].revents == 0 {
        from.ready(Interest::Read).await
    } else if fds[1].revents == 0 {
        to.ready(Interest::Write).await
    } else {
        Ok(())
    }
}
