//! Operations on files and paths, each one plain data with both halves: the io_uring SQE
//! and the blocking syscall.
//!
//! Regular files have no readiness: epoll reports them always ready and a read that misses
//! the page cache blocks the thread. So a file op either runs on the core's ring (OPENAT,
//! READ, WRITE, FSYNC, STATX, FTRUNCATE, MKDIRAT, UNLINKAT, RENAMEAT) or, where the core
//! runs epoll or the kernel lacks the opcode, its blocking half runs on a helper thread
//! (`ringpoll::spawn_blocking`, one crate up: the reactor has no threads of its own).
//! [`submit`] says which: it hands the op back when the ring cannot take it. The socket
//! ops' second half is readiness plus a non-blocking syscall (`Syscall`); a file op's is
//! that same syscall run blocking, on another thread.
//!
//! An op owns every byte its SQE points at (paths as `CString`, buffers, the statx record),
//! and the descriptor it works on as an `Arc<OwnedFd>`, so neither a dropped future nor a
//! dropped `File` can free memory the kernel writes or close a descriptor under a queued op.
//! Every op turns its raw result into an owned output (`finish`): a late result
//! of a dropped future is completed the same way and dropped, so an opened descriptor is
//! closed, never leaked.

mod mkdir;
mod open;
mod read;
mod rename;
mod statx;
mod sync;
mod truncate;
mod unlink;
mod write;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use mkdir::MkdirAt;
pub use open::OpenAt;
pub use read::ReadAt;
pub use rename::RenameAt;
pub use statx::{Statx, StatxRecord};
pub use sync::Fsync;
pub use truncate::Ftruncate;
pub use unlink::UnlinkAt;
pub use write::WriteAt;

use crate::reactor::Reactor;

/// An offset meaning "the file position" (`-1` for io_uring; `read(2)`/`write(2)` when
/// blocking): appends to an O_APPEND file.
pub const CURRENT_POSITION: u64 = u64::MAX;

mod sealed {
    use std::io;

    use io_uring::squeue;

    /// The two halves of a file op; sealed, so the entry's pointer contract stays here.
    ///
    /// # Safety
    /// As for the socket ops' `Op`: the entry [`Halves::entry`] returns may point only into
    /// memory the op owns on the heap (a path, a buffer's stable bytes, a boxed record), valid
    /// and in place however the op is moved. The driver keeps the op until the completion.
    pub unsafe trait Halves: Sized {
        /// The io_uring opcode: a kernel without it runs the blocking half instead.
        const CODE: u8;
        /// What the op produces, owned (a descriptor, the buffer back).
        type Output: Send + 'static;
        /// The completion half: the io_uring entry.
        fn entry(&mut self) -> squeue::Entry;
        /// The blocking half: the same operation as a plain syscall.
        fn call(&mut self) -> io::Result<usize>;
        /// The result (the syscall's or the completion's) as the caller wants it.
        fn finish(self, res: io::Result<usize>) -> Self::Output;
        /// An attempt that cannot block (RWF_NOWAIT, RESOLVE_CACHED): `Some` with the result
        /// if the op completed without waiting for the disk, `None` if it would have waited
        /// (or the kernel cannot tell), when the blocking half must run on a helper thread.
        fn try_now(&mut self) -> Option<io::Result<usize>> {
            None
        }
        /// Whether io_uring always runs this op on one of its worker threads (io-wq) rather
        /// than inline (STATX): then [`Halves::try_now`] goes first on both drivers, as the
        /// cheaper of two ways off the core, and the ring only where it says `None`.
        const RING_PUNTS: bool = false;
        /// Whether io_uring's completion `res` is the answer of the kernel's own non-blocking
        /// first try rather than of the operation the caller asked for (an open of a FIFO's
        /// write end with no reader: ENXIO under the O_NONBLOCK io_uring adds). `true` hands
        /// the op back from [`submit`](super::submit), for its blocking half on a helper
        /// thread, as where the ring cannot take it.
        fn wants_blocking(&self, _res: i32) -> bool {
            false
        }
    }
}

pub(crate) use sealed::Halves;

/// A file or path operation: an io_uring op where the core can run it ([`submit`]), else a
/// blocking syscall for a helper thread ([`FileOp::run_blocking`]).
pub trait FileOp: sealed::Halves + Send + 'static {
    /// Runs the blocking half on the calling thread (a pool thread, never a core); EINTR is
    /// retried.
    fn run_blocking(mut self) -> Self::Output {
        let res = loop {
            match self.call() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                res => break res,
            }
        };
        self.finish(res)
    }

    /// Runs the op on the calling (core) thread if that cannot block: a read of cached
    /// pages, an open whose path is all in the dentry cache. Otherwise hands it back, for
    /// [`FileOp::run_blocking`] on a helper thread. io_uring does the same inside the kernel
    /// before it punts an op to a worker; on epoll it saves the pool's two thread hand-offs.
    fn run_now(mut self) -> Result<Self::Output, Self> {
        match self.try_now() {
            Some(res) => Ok(self.finish(res)),
            None => Err(self),
        }
    }

    /// The output of an op that could not run at all, with `err`; its buffer comes back.
    fn failed(self, err: io::Error) -> Self::Output {
        self.finish(Err(err))
    }
}

impl<T: sealed::Halves + Send + 'static> FileOp for T {}

/// Runs `op` as a completion on the current core's ring, or hands it back (`Err`) when the
/// core runs epoll, the kernel lacks the opcode, the thread has no reactor, or the ring's
/// answer was its non-blocking try's and not the operation's (a FIFO's write end opened
/// before its reader: see `OpenAt`): the caller then runs [`FileOp::run_blocking`] on a
/// helper thread.
///
/// Dropping the future while the op is in flight cancels it; the op's data stays with the
/// ring until the kernel is done, and a late output (an opened descriptor) is dropped,
/// which closes it.
pub async fn submit<O: FileOp>(op: O) -> Result<O::Output, O> {
    match Reactor::try_current() {
        Some(reactor) => reactor.driver().run_file(op).await,
        None => Err(op),
    }
}

/// `path` as a C string; a NUL byte inside is an `InvalidInput` error.
pub fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}
