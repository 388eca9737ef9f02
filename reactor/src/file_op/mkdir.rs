//! MKDIRAT / mkdirat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{cvt_u32, Halves};

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

impl Halves for MkdirAt {
    const CODE: u8 = opcode::MkDirAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).mode(self.mode).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: the path is a live NUL-terminated string.
        cvt_u32(unsafe { libc::mkdirat(libc::AT_FDCWD, self.path.as_ptr(), self.mode) }.into())
    }

    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}
