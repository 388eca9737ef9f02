//! STATX / statx(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

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
        Statx { fd, path, flags, record }
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
        opcode::Statx::new(types::Fd(self.dirfd()), self.path.as_ptr(), record)
            .flags(self.flags)
            .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
            .build()
    }

    fn call(&mut self) -> io::Result<usize> {
        let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
        // SAFETY: the path is a live C string and the record a live statx, both owned by the op.
        syscall!(statx(self.dirfd(), self.path.as_ptr(), self.flags, mask, &mut *self.record)).map(|_| 0)
    }

    /// An open descriptor's metadata is in memory: read without asking a network file
    /// system's server (AT_STATX_DONT_SYNC, so it cannot block), it is what the client
    /// cached, which the open refreshed (NFS's close-to-open, FUSE's lookup). io_uring would
    /// hand this statx to a worker thread, epoll to the pool: two thread hand-offs for a
    /// few hundred nanoseconds of work. A path's metadata may need the disk: `None`.
    fn try_now(&mut self) -> Option<io::Result<usize>> {
        self.fd.as_ref()?;
        let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
        let flags = self.flags | libc::AT_STATX_DONT_SYNC;
        // SAFETY: the path is a live C string and the record a live statx, both owned by the op.
        Some(syscall!(statx(self.dirfd(), self.path.as_ptr(), flags, mask, &mut *self.record)).map(|_| 0))
    }

    const RING_PUNTS: bool = true;

    fn finish(self, res: io::Result<usize>) -> io::Result<Box<StatxRecord>> {
        res.map(|_| self.record)
    }
}
