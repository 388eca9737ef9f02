//! FTRUNCATE / ftruncate(2).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::syscall;

/// Sets a file's length, cutting it or extending it with zeroes (IORING_OP_FTRUNCATE needs
/// Linux 6.9; older kernels run the syscall on a helper thread).
#[derive(Debug)]
pub struct Ftruncate {
    fd: Arc<OwnedFd>,
    len: u64,
}

impl Ftruncate {
    /// Sets the length of `fd` to `len` bytes.
    pub fn new(fd: Arc<OwnedFd>, len: u64) -> Ftruncate {
        Ftruncate { fd, len }
    }
}

// SAFETY: the entry holds no pointers.
unsafe impl Halves for Ftruncate {
    const CODE: u8 = opcode::Ftruncate::CODE;
    type Output = io::Result<()>;

    fn entry(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.as_raw_fd()), self.len).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        let len = i64::try_from(self.len).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: no pointers; the descriptor is owned by the op.
        syscall!(ftruncate64(self.fd.as_raw_fd(), len)).map(|_| 0)
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<()> {
        res.map(drop)
    }
}
