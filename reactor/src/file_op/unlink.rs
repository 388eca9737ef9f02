//! UNLINKAT / unlinkat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{cvt_u32, Halves};

/// Removes a file (or, with `dir`, an empty directory).
#[derive(Debug)]
pub struct UnlinkAt {
    path: CString,
    flags: libc::c_int,
}

impl UnlinkAt {
    /// Removes `path`: a directory when `dir` (AT_REMOVEDIR), anything else otherwise.
    pub fn new(path: CString, dir: bool) -> UnlinkAt {
        UnlinkAt { path, flags: if dir { libc::AT_REMOVEDIR } else { 0 } }
    }
}

impl Halves for UnlinkAt {
    const CODE: u8 = opcode::UnlinkAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).flags(self.flags).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: the path is a live NUL-terminated string.
        cvt_u32(unsafe { libc::unlinkat(libc::AT_FDCWD, self.path.as_ptr(), self.flags) }.into())
    }

    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}
