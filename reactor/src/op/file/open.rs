//! OPENAT / openat(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::owned;
use crate::sys::syscall;

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

    fn finish(self, res: io::Result<usize>) -> io::Result<OwnedFd> {
        res.map(|fd| owned(fd as RawFd))
    }
}
