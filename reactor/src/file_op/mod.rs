//! Operations on files and paths, each one plain data with both halves: the io_uring SQE
//! and the blocking syscall.
//!
//! Regular files have no readiness: epoll reports them always ready and a read that misses
//! the page cache blocks the thread. So a file op either runs on the core's ring (OPENAT,
//! READ, WRITE, FSYNC, STATX, FTRUNCATE, MKDIRAT, UNLINKAT, RENAMEAT) or, where the core
//! runs epoll or the kernel lacks the opcode, its blocking half runs on a helper thread
//! (`ringpoll::spawn_blocking`, one crate up: the reactor has no threads of its own).
//! [`submit`] says which: it hands the op back when the ring cannot take it.
//!
//! An op owns every byte its SQE points at (paths as `CString`, buffers, the statx record),
//! and the descriptor it works on as an `Arc<OwnedFd>`, so neither a dropped future nor a
//! dropped `File` can free memory the kernel writes or close a descriptor under a queued op.
//! Every op turns its raw result into an owned output ([`Halves::complete`]): a late result
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
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use io_uring::{squeue, IoUring, Probe};

pub use mkdir::MkdirAt;
pub use open::OpenAt;
pub use read::ReadAt;
pub use rename::RenameAt;
pub use statx::{Statx, StatxRecord};
pub use sync::Fsync;
pub use truncate::Ftruncate;
pub use unlink::UnlinkAt;
pub use write::WriteAt;

use crate::reactor::{Driver, Reactor};
use crate::sys::cqe_result;
use crate::uring::op_table::Completion;
use crate::uring::stash::Stash;
use crate::uring::Op;

/// An offset meaning "the file position" (`-1` for io_uring; `read(2)`/`write(2)` when
/// blocking): appends to an O_APPEND file.
pub const CURRENT_POSITION: u64 = u64::MAX;

mod sealed {
    use std::io;

    use io_uring::squeue;

    /// The two halves of a file op; sealed so the SQE's pointer contract stays in this crate.
    pub trait Halves: Sized {
        /// The io_uring opcode, checked against the kernel's probe before submitting.
        const CODE: u8;
        /// What the op produces, owned (a descriptor, the buffer back).
        type Output: Send + 'static;
        /// The io_uring half: an SQE whose pointers refer only to heap data `self` owns.
        fn entry(&mut self) -> squeue::Entry;
        /// The blocking half: the same operation as a plain syscall.
        fn call(&mut self) -> io::Result<u32>;
        /// Turns the raw result into the owned output.
        fn complete(self, res: io::Result<u32>) -> Self::Output;
    }
}

pub(crate) use sealed::Halves;

/// A file or path operation that runs either as an io_uring op ([`submit`]) or as a
/// blocking syscall on a helper thread ([`FileOp::run_blocking`]).
pub trait FileOp: sealed::Halves + Send + 'static {
    /// Runs the blocking half on the calling thread (a pool thread, never a core). EINTR is
    /// retried.
    fn run_blocking(mut self) -> Self::Output {
        let res = loop {
            match self.call() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                res => break res,
            }
        };
        self.complete(res)
    }

    /// The output of an op that could not run at all (no helper thread), with `err`; its
    /// buffer comes back.
    fn failed(self, err: io::Error) -> Self::Output {
        self.complete(Err(err))
    }
}

impl<T: sealed::Halves + Send + 'static> FileOp for T {}

/// Submits `op` to the current core's ring, or hands it back (`Err`) when this core runs
/// epoll, the kernel lacks the opcode, or the thread has no reactor: the caller then runs
/// [`FileOp::run_blocking`] on a helper thread.
///
/// Dropping the returned future before it completes cancels the op; the op's data stays
/// with the ring until the kernel is done, and a late output (an opened descriptor) is
/// dropped, closing it.
#[allow(clippy::result_large_err)]
pub fn submit<O: FileOp>(mut op: O) -> Result<impl Future<Output = O::Output>, O> {
    let reactor = match Reactor::try_current() {
        Some(r) if matches!(r.driver, Driver::Uring(_)) && ring_supports(O::CODE) => r,
        _ => return Err(op),
    };
    let entry = op.entry();
    Ok(async move {
        let Driver::Uring(uring) = &reactor.driver else { unreachable!("checked above") };
        let (done, op) = Op::settled_by(uring, entry, op, settle_late::<O>).await;
        op.complete(cqe_result(done.result))
    })
}

/// A dropped op completed: make its output (closing an opened descriptor) and drop it.
fn settle_late<O: FileOp>(op: O, done: Completion, _: &mut Stash) {
    drop(op.complete(cqe_result(done.result)));
}

/// Whether this kernel's io_uring has opcode `code` (probed once per process).
fn ring_supports(code: u8) -> bool {
    static SUPPORTED: OnceLock<[bool; 256]> = OnceLock::new();
    SUPPORTED.get_or_init(|| {
        let mut table = [false; 256];
        let mut probe = Probe::new();
        if let Ok(ring) = IoUring::<squeue::Entry>::new(2) {
            if ring.submitter().register_probe(&mut probe).is_ok() {
                for (code, slot) in table.iter_mut().enumerate() {
                    *slot = probe.is_supported(code as u8);
                }
            }
        }
        table
    })[code as usize]
}

/// `path` as a C string; a NUL byte inside is an `InvalidInput` error.
pub fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
}

/// `ret == -1` as the thread's errno, anything else as a u32 result.
fn cvt_u32(ret: i64) -> io::Result<u32> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as u32)
    }
}
