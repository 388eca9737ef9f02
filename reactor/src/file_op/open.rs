//! OPENAT / openat(2).

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{cvt_u32, Halves};
use crate::sys::owned;

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

impl Halves for OpenAt {
    const CODE: u8 = opcode::OpenAt::CODE;
    type Output = io::Result<OwnedFd>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).flags(self.flags).mode(self.mode).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: the path is a live NUL-terminated string.
        cvt_u32(unsafe { libc::openat(libc::AT_FDCWD, self.path.as_ptr(), self.flags, self.mode) }.into())
    }

    fn complete(self, res: io::Result<u32>) -> io::Result<OwnedFd> {
        res.map(|fd| owned(fd as i32))
    }
}
