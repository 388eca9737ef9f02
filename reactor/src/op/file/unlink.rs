//! UNLINKAT / unlinkat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

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

// SAFETY: the entry points only at the path, a CString the op owns on the heap.
unsafe impl Halves for UnlinkAt {
    const CODE: u8 = opcode::UnlinkAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr()).flags(self.flags).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        // SAFETY: the path is a live NUL-terminated string.
        syscall!(unlinkat(libc::AT_FDCWD, self.path.as_ptr(), self.flags)).map(|_| 0)
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
