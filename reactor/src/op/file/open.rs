//! OPENAT / openat(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::owned;
use crate::sys::syscall;

/// openat2(2)'s argument (`libc::open_how` is non-exhaustive, so it cannot be built).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `path` (relative paths from the working directory); always close-on-exec.
#[derive(Debug)]
pub struct OpenAt {
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
}

impl OpenAt {
    /// Opens `path` with `open(2)` flags and, when creating, `mode`.
    pub fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> OpenAt {
        OpenAt { path, flags: flags | libc::O_CLOEXEC, mode }
    }
}

// SAFETY: the entry points only at the path, a CString the op owns on the heap.
unsafe impl Halves for OpenAt {
    const CODE: u8 = opcode::OpenAt::CODE;
    type Output = io::Result<OwnedFd>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).flags(self.flags).mode(self.mode).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        // SAFETY: the path is a live NUL-terminated string.
        syscall!(openat(libc::AT_FDCWD, self.path.as_ptr(), self.flags, self.mode)).map(|fd| fd as usize)
    }

    fn try_now(&mut self) -> Option<io::Result<usize>> {
        // What io_uring tries before punting an open to a worker: only a path already in the
        // dentry cache (RESOLVE_CACHED), never creating or truncating, and O_NONBLOCK so that
        // a FIFO cannot wait for its other end; the flag is taken off again afterwards.
        if self.flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_TMPFILE) != 0 {
            return None;
        }
        let how = OpenHow { flags: (self.flags | libc::O_NONBLOCK) as u64, mode: 0, resolve: libc::RESOLVE_CACHED };
        let size = std::mem::size_of::<OpenHow>();
        // SAFETY: the path is a live C string and `how` a live open_how of the size passed.
        let fd = unsafe { libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, self.path.as_ptr(), &how, size) };
        if fd < 0 {
            return None;
        }
        let fd = owned(fd as RawFd);
        if self.flags & libc::O_NONBLOCK == 0 {
            let status = syscall!(fcntl(fd.as_raw_fd(), libc::F_GETFL)).ok()?;
            syscall!(fcntl(fd.as_raw_fd(), libc::F_SETFL, status & !libc::O_NONBLOCK)).ok()?;
        }
        Some(Ok(fd.into_raw_fd() as usize))
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<OwnedFd> {
        res.map(|fd| owned(fd as RawFd))
    }
}
