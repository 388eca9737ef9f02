//! The core's ring-mapped provided-buffer ring (IORING_REGISTER_PBUF_RING), which multishot
//! receives pick their buffers from.
//!
//! The ring's entries live in an anonymous mapping shared with the kernel; the buffers in one
//! reservation of address space for the whole capacity (PROT_NONE, so it costs neither memory
//! nor commit charge), made writable a chunk at a time, page-aligned and never moved: buffer
//! `bid` is at `bid * POOL_BUF_SIZE`. The ids, and which of them the kernel may pick, are
//! [`BufLedger`]'s business; this file only turns its answers into memory writes and
//! syscalls. The ring starts small and grows by a chunk each time a receive starves
//! (-ENOBUFS) with every buffer lent, up to its capacity; beyond that a receive falls back to
//! a heap buffer.
//!
//! **Trim.** The kernel picks buffers in ring order, so after a burst (say, thousands of
//! connections accepted and echoed in a few turns) every buffer the ring grew to has been
//! written, and keeps its pages resident: about a page per connection of that burst, twice
//! what a parked connection itself costs. [`BufRing::trim`] gives the pages of the buffers in
//! the ring back (MADV_DONTNEED: the next write faults a zeroed page in), once the core has
//! been idle for a while (see `uring::idle_trim`). Lent buffers hold readers' bytes and are
//! never trimmed.
//!
//! Registered lazily, by the first pooled read of the core, so a core that never uses
//! pooled reads pays nothing.

use std::cell::RefCell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use super::buf_ledger::{BufLedger, Starved};
use crate::pool::POOL_BUF_SIZE;
use crate::stats::Stats;

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
/// Buffers filled since the last trim below which an idle core does not trim: the pages of
/// a few buffers (a core serving a handful of connections) are not worth a syscall, nor the
/// page faults that refill them.
const TRIM_MIN: u16 = CHUNK;
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
    /// `capacity` buffers of address space; the first `ledger.buffers()` are writable.
    bufs: NonNull<u8>,
    ledger: RefCell<BufLedger>,
    /// Whether [`BufRing::trim`] is sound on this ring (see its SAFETY comment): the ring
    /// runs completion work only inside this core's own io_uring_enter.
    trimmable: bool,
    stats: Arc<Stats>,
}

/// The bytes of `n` buffers.
fn bytes(n: u16) -> usize {
    n as usize * POOL_BUF_SIZE
}

impl BufRing {
    /// Maps the entries and reserves the buffers, registers the entries with `ring` and
    /// provides the first buffers. Trims are counted into `stats`.
    pub(crate) fn register(ring: &IoUring, stats: Arc<Stats>) -> io::Result<BufRing> {
        let capacity = capacity();
        let entries = map(capacity as usize * std::mem::size_of::<BufRingEntry>(), libc::PROT_READ | libc::PROT_WRITE)?;
        let bufs = match map(bytes(capacity), libc::PROT_NONE) {
            Ok(bufs) => bufs,
            Err(e) => {
                // SAFETY: mapped just above with this length, and not shared with anyone yet.
                unsafe {
                    libc::munmap(entries.as_ptr().cast(), capacity as usize * std::mem::size_of::<BufRingEntry>())
                };
                return Err(e);
            }
        };
        let ring_bufs = BufRing {
            entries: entries.cast(),
            capacity,
            bufs,
            ledger: RefCell::new(BufLedger::new(capacity)),
            // `build_ring` asks for SINGLE_ISSUER and DEFER_TASKRUN together or for neither,
            // so a ring that has the one has the other.
            trimmable: ring.params().is_setup_single_issuer(),
            stats,
        };
        // SAFETY: the mapping is page-aligned, `capacity` entries long, and stays mapped until
        // `ring_bufs` drops, which the driver lets happen only after the ring is gone.
        unsafe { ring.submitter().register_buf_ring_with_flags(entries.as_ptr() as u64, capacity, GROUP, 0)? };
        let ids = ring_bufs.ledger.borrow_mut().grow(FIRST);
        if let Err(e) = ring_bufs.provide(ids) {
            // The kernel must not keep a ring whose buffers are about to be unmapped.
            let _ = ring.submitter().unregister_buf_ring(GROUP);
            return Err(e);
        }
        Ok(ring_bufs)
    }

    pub(crate) fn buf_size(&self) -> usize {
        POOL_BUF_SIZE
    }

    /// The start of buffer `bid`.
    #[inline]
    pub(crate) fn buf_ptr(&self, bid: u16) -> *const u8 {
        debug_assert!(bid < self.capacity);
        // SAFETY: `bid` is below the capacity (ids come from the ledger), so the offset stays
        // inside the reservation.
        unsafe { self.bufs.as_ptr().add(bytes(bid)) }
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
            // Out of memory for the new chunk: the ledger counts buffers that will never be
            // pushed, which only makes a later starving read fall back sooner.
            Starved::Grow(ids) => self.provide(ids).is_ok(),
            Starved::Fallback => false,
        }
    }

    /// Makes freshly grown `ids` writable and pushes their buffers.
    fn provide(&self, ids: std::ops::Range<u16>) -> io::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // SAFETY: the range lies inside the reservation (ids are below the capacity) and
        // starts page-aligned (buffers are whole pages); no buffer in it is in use yet.
        let made = unsafe {
            libc::mprotect(
                self.bufs.as_ptr().add(bytes(ids.start)).cast(),
                bytes(ids.end - ids.start),
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if made != 0 {
            return Err(io::Error::last_os_error());
        }
        self.stats.pool_buffers.set(ids.end as u64);
        for bid in ids {
            let slot = self.ledger.borrow_mut().push(bid).expect("a grown buffer is lent");
            self.write_entry(slot, bid);
        }
        self.publish();
        Ok(())
    }

    /// Whether an idle core should call [`BufRing::trim`]: the ring may trim, and enough
    /// buffers were filled since the last trim.
    #[inline]
    pub(crate) fn wants_trim(&self) -> bool {
        self.trimmable && self.ledger.borrow().worth_trimming(TRIM_MIN)
    }

    /// Gives back the pages of every buffer in the ring: one madvise per run of consecutive
    /// ids (one in all when nothing is lent). Returns the bytes advised.
    ///
    /// Call only when the core is idle and every completion has been reaped and decoded: a
    /// buffer the kernel filled is "in the ring" in the ledger until its completion is
    /// decoded, and trimming it would lose the bytes.
    pub(crate) fn trim(&self) -> usize {
        if !self.trimmable {
            return 0;
        }
        let runs = self.ledger.borrow_mut().trim_runs();
        let mut trimmed = 0;
        for run in runs {
            let len = bytes(run.end - run.start);
            // SAFETY: the range is whole buffers (whole pages) of the reservation, all made
            // writable by `provide`. None of them holds bytes anyone will read: a lent buffer is
            // never in a run, and the caller has decoded every completion, so no buffer of the
            // ring holds data not yet handed to a reader. Nor can the kernel be writing one
            // while we zap it: the ring was set up with DEFER_TASKRUN (`trimmable`), so the
            // kernel fills provided buffers only in this thread's own io_uring_enter (inline
            // issue, or the deferred task work run by an enter with GETEVENTS), never from
            // another context, as long as no receive on the group goes to an io-wq worker
            // (ringpoll never sets IOSQE_ASYNC; a multishot recv on a socket is polled, not
            // punted) and there is no SQPOLL thread (never set up). A buffer the kernel picks
            // after the zap faults in a zeroed page and is written as usual.
            let done =
                unsafe { libc::madvise(self.bufs.as_ptr().add(bytes(run.start)).cast(), len, libc::MADV_DONTNEED) };
            if done == 0 {
                trimmed += len;
            }
        }
        self.stats.pool_trimmed_bytes.add(trimmed as u64);
        trimmed
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

/// An anonymous private mapping of `len` bytes.
fn map(len: usize, prot: libc::c_int) -> io::Result<NonNull<u8>> {
    // SAFETY: a new anonymous private mapping; no existing memory is touched. NORESERVE: a
    // reservation of buffers is charged as it is made writable, not whole.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(NonNull::new(addr.cast()).expect("mmap returned a non-null address"))
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let len = self.capacity as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: both mappings came from mmap in `register` with these lengths, and nothing
        // uses them any more: the ring that read them is gone (the driver drops its Rc last),
        // and every `PooledBuf` holds an Rc of this ring.
        unsafe {
            libc::munmap(self.entries.as_ptr().cast(), len);
            libc::munmap(self.bufs.as_ptr().cast(), bytes(self.capacity));
        }
    }
}
