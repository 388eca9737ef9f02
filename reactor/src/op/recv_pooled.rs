//! A pooled read by readiness: `recv(2)` into a buffer of the core's heap pool, taken only
//! when the syscall runs and given back when it finds nothing, so a connection waiting for
//! data holds no buffer. The epoll driver's pooled read, and io_uring's when its buffer ring
//! is exhausted or dropped reads left bytes. No completion half: io_uring's pooled reads are
//! the multishot recv of `uring::recv_stream`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::rc::Rc;

use super::Syscall;
use crate::interest::Interest;
use crate::pool::{HeapPool, PooledBuf, POOL_BUF_SIZE};
use crate::sys;
use crate::uring::stash::Stash;

/// Receives stream bytes into a pool buffer.
pub(crate) struct RecvPooled {
    pool: Rc<HeapPool>,
    /// The buffer the last successful call filled.
    buf: Option<Box<[u8]>>,
}

impl RecvPooled {
    pub(crate) fn new(pool: Rc<HeapPool>) -> RecvPooled {
        RecvPooled { pool, buf: None }
    }

    /// The bytes of a successful call (empty at end of stream).
    pub(crate) fn finish(mut self, res: io::Result<usize>) -> io::Result<PooledBuf> {
        let n = res?;
        match self.buf.take() {
            Some(buf) if n > 0 => Ok(PooledBuf::heap(self.pool.clone(), buf, n)),
            Some(buf) => {
                self.pool.put(buf);
                Ok(PooledBuf::eof())
            }
            None => Ok(PooledBuf::eof()),
        }
    }
}

impl Syscall for RecvPooled {
    fn interest(&self) -> Interest {
        Interest::Read
    }
    fn receives(&self) -> bool {
        true
    }

    fn call(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut buf = self.buf.take().unwrap_or_else(|| self.pool.get());
        match sys::recv(fd, &mut buf, 0) {
            Ok(n) => {
                self.buf = Some(buf);
                Ok(n)
            }
            Err(e) => {
                // Nothing arrived: the buffer goes back while the connection waits.
                self.pool.put(buf);
                Err(e)
            }
        }
    }

    fn want(&mut self) -> Option<usize> {
        Some(POOL_BUF_SIZE)
    }

    fn take_leftover(&mut self, stash: &mut Stash, fd: RawFd) -> Option<io::Result<usize>> {
        if !stash.has_stream(fd) {
            return None;
        }
        let mut buf = self.pool.get();
        // SAFETY: initialised bytes may be viewed as MaybeUninit; only bytes are written.
        let out = unsafe { &mut *(&mut buf[..] as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let res = stash.take_stream(fd, out);
        match res {
            Some(Ok(_)) => self.buf = Some(buf),
            // The error that ended the leftovers (after their bytes): no buffer is held.
            _ => self.pool.put(buf),
        }
        res
    }
}
