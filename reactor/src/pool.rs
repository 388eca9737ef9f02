//! Pooled reads: buffers that belong to the core, not to a connection.
//!
//! A pooled read takes its buffer when data arrives, so a connection parked in a read holds
//! no buffer at all. The buffer comes from one of two places, and goes back on drop:
//!
//! - on io_uring, the core's provided-buffer ring ([`BufRing`]): the kernel picks a buffer
//!   for each multishot recv completion, and dropping the [`PooledBuf`] pushes it back to the
//!   ring (one store, no syscall);
//! - on epoll (and on io_uring when the ring is exhausted, or for bytes a dropped read left),
//!   the core's [`HeapPool`]: readiness first, then `recv` into a buffer from its free list.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use crate::buf::IoBuf;
use crate::uring::BufRing;

/// Size of every pool buffer, on both drivers: the largest read one pooled read returns.
pub const POOL_BUF_SIZE: usize = 16 * 1024;

/// Free heap buffers kept per core; more are freed, so a burst does not pin memory forever.
const HEAP_FREE_MAX: usize = 64;

/// Bytes received by a pooled read, in a buffer lent by the core's pool; dropping it gives
/// the buffer back. Empty means end of stream.
///
/// It derefs to the bytes, and it is an [`IoBuf`], so it can be written on without a copy
/// (`stream.write_all(buf).await`). It is `!Send`: the buffer belongs to its core.
pub struct PooledBuf {
    ptr: *const u8,
    len: usize,
    home: Home,
}

/// Where a pooled buffer goes back to.
enum Home {
    /// End of stream: no buffer.
    None,
    /// Buffer `bid` of the core's provided-buffer ring.
    Ring(Rc<BufRing>, u16),
    /// A heap buffer of the core's free list.
    Heap(Rc<HeapPool>, Box<[u8]>),
}

impl PooledBuf {
    /// End of stream: no bytes, no buffer.
    pub(crate) fn eof() -> PooledBuf {
        PooledBuf { ptr: std::ptr::NonNull::dangling().as_ptr(), len: 0, home: Home::None }
    }

    /// Buffer `bid` of `ring`, whose first `len` bytes the kernel wrote.
    pub(crate) fn ring(ring: Rc<BufRing>, bid: u16, len: usize) -> PooledBuf {
        let ptr = ring.buf_ptr(bid);
        PooledBuf { ptr, len: len.min(ring.buf_size()), home: Home::Ring(ring, bid) }
    }

    /// A heap buffer of `pool` whose first `len` bytes were written.
    pub(crate) fn heap(pool: Rc<HeapPool>, buf: Box<[u8]>, len: usize) -> PooledBuf {
        PooledBuf { ptr: buf.as_ptr(), len: len.min(buf.len()), home: Home::Heap(pool, buf) }
    }

    /// How many bytes were received.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether this is end of stream (no bytes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` initialised bytes of a buffer `home` keeps alive and
        // lent to this value alone (the ring does not hand it out again before the drop).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.home {
            Home::None => "eof",
            Home::Ring(..) => "ring",
            Home::Heap(..) => "heap",
        };
        f.debug_struct("PooledBuf").field("len", &self.len).field("from", &from).finish()
    }
}

// SAFETY: the bytes live in a buffer `home` owns (a ring buffer kept by the Rc, or a boxed
// slice), which does not move when the PooledBuf moves; `len` of them are initialised.
unsafe impl IoBuf for PooledBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.home, Home::None) {
            Home::None => {}
            Home::Ring(ring, bid) => ring.give_back(bid),
            Home::Heap(pool, buf) => pool.put(buf),
        }
    }
}

/// The core's free list of heap buffers for pooled reads.
#[derive(Default)]
pub(crate) struct HeapPool {
    free: RefCell<Vec<Box<[u8]>>>,
}

impl HeapPool {
    /// A buffer of [`POOL_BUF_SIZE`] bytes, reused if one is free.
    pub(crate) fn get(&self) -> Box<[u8]> {
        let reused = self.free.borrow_mut().pop();
        reused.unwrap_or_else(|| vec![0; POOL_BUF_SIZE].into_boxed_slice())
    }

    /// Takes a buffer back (freed when enough are kept already).
    pub(crate) fn put(&self, buf: Box<[u8]>) {
        let mut free = self.free.borrow_mut();
        if free.len() < HEAP_FREE_MAX {
            free.push(buf);
        }
    }
}
