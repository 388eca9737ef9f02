//! MKDIRAT / mkdirat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

/// Creates one directory.
#[derive(Debug)]
pub struct MkdirAt {
    path: CString,
    mode: libc::mode_t,
}

impl MkdirAt {
    /// Creates directory `path` with `mode` (less the umask).
    pub fn new(path: CString, mode: libc::mode_t) -> MkdirAt {
        MkdirAt { path, mode }
    }
}

// SAFETY: the entry points only at the path, a CString the op owns on the heap.
unsafe impl Halves for MkdirAt {
    const CODE: u8 = opcode::MkDirAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).mode(self.mode).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        // SAFETY: the path is a live NUL-terminated string.
        syscall!(mkdirat(libc::AT_FDCWD, self.path.as_ptr(), self.mode)).map(|_| 0)
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
