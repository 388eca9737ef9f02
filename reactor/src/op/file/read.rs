//! READ / pread(2).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::{Halves, CURRENT_POSITION};
use crate::buf::{BufResult, IoBufMut};
use crate::sys::syscall;

/// Reads into `buf` (from its start, up to its capacity) at `offset`
/// ([`CURRENT_POSITION`](super::CURRENT_POSITION): at the file position).
#[derive(Debug)]
pub struct ReadAt<B> {
    fd: Arc<OwnedFd>,
    buf: B,
    offset: u64,
}

impl<B: IoBufMut + Send> ReadAt<B> {
    /// A read of `fd` into `buf` at `offset`.
    pub fn new(fd: Arc<OwnedFd>, buf: B, offset: u64) -> ReadAt<B> {
        ReadAt { fd, buf, offset }
    }

    fn len(&mut self) -> usize {
        self.buf.bytes_total().min(u32::MAX as usize)
    }
}

// SAFETY: the entry points only into the buffer's stable bytes, which the op owns.
unsafe impl<B: IoBufMut + Send> Halves for ReadAt<B> {
    const CODE: u8 = opcode::Read::CODE;
    type Output = BufResult<usize, B>;

    fn entry(&mut self) -> squeue::Entry {
        let len = self.len() as u32;
        opcode::Read::new(types::Fd(self.fd.as_raw_fd()), self.buf.stable_mut_ptr(), len).offset(self.offset).build()
    }

    fn call(&mut self) -> io::Result<usize> {
        let (fd, len, ptr) = (self.fd.as_raw_fd(), self.len(), self.buf.stable_mut_ptr().cast());
        // SAFETY: ptr/len describe the buffer's writable bytes, owned by the op for the call.
        let n = match self.offset {
            CURRENT_POSITION => syscall!(read(fd, ptr, len)),
            offset => syscall!(pread64(fd, ptr, len, offset as i64)),
        };
        n.map(|n| n as usize)
    }

    fn finish(mut self, res: io::Result<usize>) -> BufResult<usize, B> {
        if let Ok(n) = res {
            // SAFETY: the kernel reported n bytes written at the start of the buffer.
            unsafe { self.buf.set_init(n) };
        }
        (res, self.buf)
    }
}
