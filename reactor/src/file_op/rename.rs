//! RENAMEAT / renameat(2).

use std::ffi::CString;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{cvt_u32, Halves};

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

impl Halves for RenameAt {
    const CODE: u8 = opcode::RenameAt::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }

    fn call(&mut self) -> io::Result<u32> {
        // SAFETY: both paths are live NUL-terminated strings.
        cvt_u32(unsafe { libc::renameat(libc::AT_FDCWD, self.from.as_ptr(), libc::AT_FDCWD, self.to.as_ptr()) }.into())
    }

    fn complete(self, res: io::Result<u32>) -> io::Result<()> {
        res.map(drop)
    }
}
