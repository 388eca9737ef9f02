//! RENAMEAT / renameat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

/// Renames `from` to `to`, replacing `to` if it exists.
#[derive(Debug)]
pub struct RenameAt {
    from: CString,
    to: CString,
}

impl RenameAt {
    /// Renames `from` to `to`.
    pub fn new(from: CString, to: CString) -> RenameAt {
        RenameAt { from, to }
    }
}

// SAFETY: the entry points only at the two paths, CStrings the op owns on the heap.
unsafe impl Halves for RenameAt {
    const CODE: u8 = opcode::RenameAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        // SAFETY: both paths are live NUL-terminated strings.
        syscall!(renameat(libc::AT_FDCWD, self.from.as_ptr(), libc::AT_FDCWD, self.to.as_ptr())).map(|_| 0)
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
