//! The core's ring-mapped provided-buffer ring (IORING_REGISTER_PBUF_RING), which multishot
//! receives pick their buffers from.
//!
//! The ring's entries live in an anonymous mapping shared with the kernel; the buffers in
//! boxed chunks that never move. The ids, and which of them the kernel may pick, are
//! [`BufLedger`]'s business; this file only turns its answers into memory writes. The ring
//! starts small and grows by a chunk each time a receive starves (-ENOBUFS) with every buffer
//! lent, up to its capacity; beyond that a receive falls back to a heap buffer.
//!
//! Registered lazily, by the first pooled read of the core, so a core that never uses
//! pooled reads pays nothing.

use std::cell::RefCell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use super::buf_ledger::{BufLedger, Starved};
use crate::pool::POOL_BUF_SIZE;

/// Ring entries: the most buffers the ring can hold (64 MiB of 16 KiB buffers).
const CAPACITY: u16 = 4096;
/// Overrides [`CAPACITY`] (a power of two from `CHUNK` to 32768): a smaller pool makes
/// pooled reads fall back to heap buffers sooner, which the tests use to exercise it.
pub(crate) const CAPACITY_ENV: &str = "RINGPOLL_POOL_BUFFERS";

fn capacity() -> u16 {
    let wanted = std::env::var(CAPACITY_ENV).ok().and_then(|v| v.parse::<u16>().ok());
    wanted.filter(|n| n.is_power_of_two() && (CHUNK..=1 << 15).contains(n)).unwrap_or(CAPACITY)
}
/// Buffers per chunk (1 MiB, its pages touched only as the kernel writes them), and each
/// growth step.
const CHUNK: u16 = 64;
/// Buffers provided at first. The kernel hands buffers out in ring order, so even 1-byte
/// reads touch a page of every buffer provided, in turn: a core that never needs more than a
/// few at once should touch few (16 pages, not 64).
const FIRST: u16 = 16;

/// The buffer group id of the core's ring (one ring per io_uring instance).
pub(crate) const GROUP: u16 = 0;

/// One core's provided-buffer ring.
pub(crate) struct BufRing {
    entries: NonNull<BufRingEntry>,
    capacity: u16,
    /// `CHUNK` buffers each; boxed, so growing the Vec moves no buffer.
    chunks: RefCell<Vec<Box<[u8]>>>,
    ledger: RefCell<BufLedger>,
}

impl BufRing {
    /// Maps the entries, registers them with `ring` and provides the first chunk.
    pub(crate) fn register(ring: &IoUring) -> io::Result<BufRing> {
        let capacity = capacity();
        let len = capacity as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let bufs = BufRing {
            entries: NonNull::new(addr.cast()).expect("mmap returned a non-null address"),
            capacity,
            chunks: RefCell::default(),
            ledger: RefCell::new(BufLedger::new(capacity)),
        };
        // SAFETY: the mapping is page-aligned, `capacity` entries long, and stays mapped until
        // `bufs` drops, which the driver lets happen only after the ring is gone.
        unsafe { ring.submitter().register_buf_ring_with_flags(addr as u64, capacity, GROUP, 0)? };
        let ids = bufs.ledger.borrow_mut().grow(FIRST);
        bufs.provide(ids);
        Ok(bufs)
    }

    pub(crate) fn buf_size(&self) -> usize {
        POOL_BUF_SIZE
    }

    /// The start of buffer `bid`.
    pub(crate) fn buf_ptr(&self, bid: u16) -> *const u8 {
        let chunks = self.chunks.borrow();
        let chunk = &chunks[(bid / CHUNK) as usize];
        chunk[(bid % CHUNK) as usize * POOL_BUF_SIZE..].as_ptr()
    }

    /// A completion named buffer `bid`: it is lent now. False if the ledger disagrees (the
    /// buffer must not be used).
    pub(crate) fn take(&self, bid: u16) -> bool {
        self.ledger.borrow_mut().take(bid).is_ok()
    }

    /// Pushes lent buffer `bid` back into the ring and publishes it.
    pub(crate) fn give_back(&self, bid: u16) {
        let slot = self.ledger.borrow_mut().push(bid);
        // A refused push (a double give-back) is a driver bug; ignoring it keeps the buffer
        // with its one owner.
        debug_assert!(slot.is_ok(), "buffer {bid} given back twice");
        if let Ok(slot) = slot {
            self.write_entry(slot, bid);
            self.publish();
        }
    }

    /// A receive ended with -ENOBUFS. True: buffers are in the ring again (grown if every
    /// one was lent), re-arm. False: the ring is full of lent buffers, fall back.
    pub(crate) fn refill(&self) -> bool {
        let starved = self.ledger.borrow_mut().on_starved(CHUNK);
        match starved {
            Starved::Rearm => true,
            Starved::Grow(ids) => {
                self.provide(ids);
                true
            }
            Starved::Fallback => false,
        }
    }

    /// Allocates the chunks freshly grown `ids` reach into and pushes their buffers.
    fn provide(&self, ids: std::ops::Range<u16>) {
        if ids.is_empty() {
            return;
        }
        {
            let mut chunks = self.chunks.borrow_mut();
            while chunks.len() * (CHUNK as usize) < ids.end as usize {
                chunks.push(vec![0u8; CHUNK as usize * POOL_BUF_SIZE].into_boxed_slice());
            }
        }
        for bid in ids {
            let slot = self.ledger.borrow_mut().push(bid).expect("a grown buffer is lent");
            self.write_entry(slot, bid);
        }
        self.publish();
    }

    fn write_entry(&self, slot: usize, bid: u16) {
        let addr = self.buf_ptr(bid) as u64;
        // SAFETY: the slot index is below the capacity (the ledger masks it), inside the mapping;
        // it lies past the published tail, so the kernel does not read it now.
        let entry = unsafe { &mut *self.entries.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(POOL_BUF_SIZE as u32);
        entry.set_bid(bid);
    }

    /// Shows the kernel every entry written so far (a release store of the tail).
    fn publish(&self) {
        if let Some(tail) = self.ledger.borrow_mut().publish() {
            // SAFETY: the tail overlays entry 0's reserved field, inside the mapping and 2-byte
            // aligned; the kernel only reads it, so an atomic store is the whole protocol.
            let shared = unsafe { &*(BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16) };
            shared.store(tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let len = self.capacity as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: the mapping came from mmap in `register` with this length, and nothing uses
        // it any more: the ring that read it is gone (the driver drops its Rc last).
        unsafe { libc::munmap(self.entries.as_ptr().cast(), len) };
    }
}
