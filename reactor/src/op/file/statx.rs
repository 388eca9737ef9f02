//! STATX / statx(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

/// What every statx asks for, on either half.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// A file's `statx` record.
pub type StatxRecord = libc::statx;

/// Reads a file's metadata: of an open descriptor, or of a path (following symlinks unless
/// asked not to).
#[derive(Debug)]
pub struct Statx {
    fd: Option<Arc<OwnedFd>>,
    path: CString,
    flags: libc::c_int,
    /// Boxed: the kernel writes it through a pointer in the SQE.
    record: Box<StatxRecord>,
    /// The caller knows the file's file system answers from memory: read it on the calling
    /// thread ([`Statx::on_core`]).
    on_core: bool,
}

impl Statx {
    /// Metadata of the open file `fd`.
    pub fn of_fd(fd: Arc<OwnedFd>) -> Statx {
        Statx::new(Some(fd), CString::default(), libc::AT_EMPTY_PATH)
    }

    /// Metadata of `path`; of the link itself rather than its target when `!follow`.
    pub fn of_path(path: CString, follow: bool) -> Statx {
        Statx::new(None, path, if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW })
    }

    fn new(fd: Option<Arc<OwnedFd>>, path: CString, flags: libc::c_int) -> Statx {
        // SAFETY: statx is plain data for which all-zero bytes are valid.
        let record = Box::new(unsafe { std::mem::zeroed() });
        Statx { fd, path, flags, record, on_core: false }
    }

    /// Reads an open file's metadata on the calling thread when `local`: the caller knows
    /// its file system keeps it in memory (a local one), so the statx cannot block, where
    /// io_uring would hand it to a worker thread and epoll to the pool, two thread
    /// hand-offs for a few hundred nanoseconds of work. A network file system may ask its
    /// server: left `false`, it goes there.
    pub fn on_core(mut self, local: bool) -> Statx {
        self.on_core = local && self.fd.is_some();
        self
    }

    fn dirfd(&self) -> libc::c_int {
        self.fd.as_ref().map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd())
    }
}

// SAFETY: the entry points only at the path (a CString) and the boxed record, both owned by
// the op on the heap.
unsafe impl Halves for Statx {
    const CODE: u8 = opcode::Statx::CODE;
    type Output = io::Result<Box<StatxRecord>>;

    fn entry(&mut self) -> squeue::Entry {
        let record = (&mut *self.record as *mut StatxRecord).cast::<types::statx>();
        opcode::Statx::new(types::Fd(self.dirfd()), self.path.as_ptr(), record).flags(self.flags).mask(MASK).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        // SAFETY: the path is a live C string and the record a live statx, both owned by the op.
        syscall!(statx(self.dirfd(), self.path.as_ptr(), self.flags, MASK, &mut *self.record)).map(|_| 0)
    }

    /// The blocking half itself, but only where the caller said the file system answers
    /// from memory ([`Statx::on_core`]).
    fn try_now(&mut self) -> Option<io::Result<usize>> {
        self.on_core.then(|| self.call())
    }

    const RING_PUNTS: bool = true;

    fn finish(self, res: io::Result<usize>) -> io::Result<Box<StatxRecord>> {
        res.map(|_| self.record)
    }
}
