//! FSYNC / fsync(2), fdatasync(2).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

/// Flushes a file's data (and, unless `data_only`, its metadata) to the device.
#[derive(Debug)]
pub struct Fsync {
    fd: Arc<OwnedFd>,
    data_only: bool,
}

impl Fsync {
    /// `fsync` (or `fdatasync` when `data_only`) of `fd`.
    pub fn new(fd: Arc<OwnedFd>, data_only: bool) -> Fsync {
        Fsync { fd, data_only }
    }
}

// SAFETY: the entry holds no pointers.
unsafe impl Halves for Fsync {
    const CODE: u8 = opcode::Fsync::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        let flags = if self.data_only { types::FsyncFlags::DATASYNC } else { types::FsyncFlags::empty() };
        opcode::Fsync::new(types::Fd(self.fd.as_raw_fd())).flags(flags).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: no pointers; the descriptor is owned by the op.
        let ret = if self.data_only { syscall!(fdatasync(fd)) } else { syscall!(fsync(fd)) };
        ret.map(|_| 0)
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
