//! WRITE / pwrite(2).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::{Halves, CURRENT_POSITION};
use crate::buf::{BufResult, IoBuf};
use crate::sys::syscall;

/// Writes the initialised bytes of `buf` at `offset`
/// ([`CURRENT_POSITION`](super::CURRENT_POSITION): at the file position, which appends on
/// an O_APPEND file); may write fewer.
#[derive(Debug)]
pub struct WriteAt<B> {
    fd: Arc<OwnedFd>,
    buf: B,
    offset: u64,
}

impl<B: IoBuf + Send> WriteAt<B> {
    /// A write of `buf` to `fd` at `offset`.
    pub fn new(fd: Arc<OwnedFd>, buf: B, offset: u64) -> WriteAt<B> {
        WriteAt { fd, buf, offset }
    }

    fn len(&self) -> usize {
        self.buf.bytes_init().min(u32::MAX as usize)
    }
}

// SAFETY: the entry points only into the buffer's stable bytes, which the op owns.
unsafe impl<B: IoBuf + Send> Halves for WriteAt<B> {
    const CODE: u8 = opcode::Write::CODE;
    type Output = BufResult<usize, B>;

    fn entry(&mut self) -> squeue::Entry {
        let len = self.len() as u32;
        opcode::Write::new(types::Fd(self.fd.as_raw_fd()), self.buf.stable_ptr(), len).offset(self.offset).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        let (fd, len, ptr) = (self.fd.as_raw_fd(), self.len(), self.buf.stable_ptr().cast());
        // SAFETY: ptr/len describe the buffer's initialised bytes, owned by the op for the call.
        let n = match self.offset {
            CURRENT_POSITION => syscall!(write(fd, ptr, len)),
            offset => syscall!(pwrite64(fd, ptr, len, offset as i64)),
        };
        n.map(|n| n as usize)
    }

    fn finish(self, res: io::Result<usize>) -> BufResult<usize, B> {
        (res, self.buf)
    }
}
