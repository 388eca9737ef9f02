//! The bookkeeping of a ring-mapped provided-buffer ring, with no memory and no kernel.
//!
//! A buffer ring (IORING_REGISTER_PBUF_RING) is an array of `capacity` entries shared with the
//! kernel. This side writes an entry `{addr, len, bid}` at `tail & mask` and publishes the new
//! tail with a release store; the kernel takes entries from its head, one per completion that
//! carries IORING_CQE_F_BUFFER, and names the buffer by its id. So every buffer id is in exactly
//! one of two places:
//!
//! - **in the ring**: pushed, the kernel may pick it at any time;
//! - **lent**: named by a CQE (or freshly grown), held by a reader until it is pushed back.
//!
//! The invariant is `in_ring + lent == buffers <= capacity`. Pushing an id that is in the ring
//! or taking one that is not would hand one buffer to two owners: both are refused, so a
//! double free or a confused CQE shows up as an error instead of corrupted bytes.
//!
//! An empty ring makes a multishot recv end with -ENOBUFS. [`BufLedger::on_starved`] says what
//! to do: re-arm (buffers came back meanwhile), grow (allocate more buffers, up to the ring's
//! capacity), or fall back (every buffer is lent: that read uses its own buffer).
//!
//! The kernel takes entries in ring order, so after a burst has grown the ring every buffer
//! gets written in turn, and each keeps a resident page or more long after the burst. The
//! ledger counts completions since the last trim and, once the core is idle, names the runs
//! of ids in the ring ([`BufLedger::trim_runs`]) whose pages may be handed back: never a lent
//! buffer, which holds a reader's bytes.

use std::fmt;
use std::ops::Range;

/// Buffer-id bookkeeping for one buffer ring.
#[derive(Debug)]
pub(crate) struct BufLedger {
    /// `capacity - 1`; the capacity is a power of two.
    mask: u16,
    /// Buffers that exist: ids `0..buffers`.
    buffers: u16,
    /// Ids currently in the ring, one bit each.
    in_ring: Vec<u64>,
    in_ring_count: u16,
    /// The next entry this side writes (wrapping, as the kernel's tail does).
    tail: u16,
    /// The tail the kernel has been shown.
    published: u16,
    /// Buffers the kernel has filled since the last trim (saturating): each may hold
    /// resident pages that an idle core could give back.
    taken_since_trim: u16,
}

/// A refused transition: the caller and the ledger disagree about where a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LedgerError {
    /// The id does not exist.
    Unknown(u16),
    /// Pushed while already in the ring (a double give-back).
    AlreadyInRing(u16),
    /// Named by a completion while not in the ring.
    NotInRing(u16),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Unknown(bid) => write!(f, "buffer {bid} does not exist"),
            LedgerError::AlreadyInRing(bid) => write!(f, "buffer {bid} given back twice"),
            LedgerError::NotInRing(bid) => write!(f, "buffer {bid} completed while not in the ring"),
        }
    }
}

/// What to do after a multishot recv ended with -ENOBUFS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Starved {
    /// Buffers are back in the ring already: re-arm now.
    Rearm,
    /// Allocate these new ids, push them, then re-arm.
    Grow(Range<u16>),
    /// The ring is at capacity and every buffer is lent: this read uses its own buffer.
    Fallback,
}

impl BufLedger {
    /// A ledger for a ring of `capacity` entries (a power of two, at most 32768) and no
    /// buffers yet: [`BufLedger::grow`] makes the first ones.
    pub(crate) fn new(capacity: u16) -> BufLedger {
        assert!(capacity.is_power_of_two() && capacity <= 1 << 15, "ring capacity {capacity}");
        BufLedger {
            mask: capacity - 1,
            buffers: 0,
            in_ring: vec![0; (capacity as usize).div_ceil(64)],
            in_ring_count: 0,
            tail: 0,
            published: 0,
            taken_since_trim: 0,
        }
    }

    /// Ring entries, the most buffers there can be.
    pub(crate) fn capacity(&self) -> u16 {
        self.mask + 1
    }

    /// Buffers that exist.
    #[cfg(test)]
    pub(crate) fn buffers(&self) -> u16 {
        self.buffers
    }

    /// Buffers held by readers (or grown and not pushed yet).
    #[cfg(test)]
    pub(crate) fn lent(&self) -> u16 {
        self.buffers - self.in_ring_count
    }

    /// Buffers the kernel may pick.
    #[cfg(test)]
    pub(crate) fn in_ring(&self) -> u16 {
        self.in_ring_count
    }

    /// Adds up to `n` buffers (bounded by the capacity); they start lent to the caller, who
    /// allocates them and pushes each. Empty when the ring is full.
    pub(crate) fn grow(&mut self, n: u16) -> Range<u16> {
        let n = n.min(self.capacity() - self.buffers);
        let ids = self.buffers..self.buffers + n;
        self.buffers += n;
        ids
    }

    /// Returns lent buffer `bid` to the ring: the caller writes its entry at the returned
    /// index, and the kernel sees it after [`BufLedger::publish`].
    pub(crate) fn push(&mut self, bid: u16) -> Result<usize, LedgerError> {
        if bid >= self.buffers {
            return Err(LedgerError::Unknown(bid));
        }
        if self.is_in_ring(bid) {
            return Err(LedgerError::AlreadyInRing(bid));
        }
        self.in_ring[bid as usize / 64] |= 1 << (bid % 64);
        self.in_ring_count += 1;
        let slot = (self.tail & self.mask) as usize;
        self.tail = self.tail.wrapping_add(1);
        Ok(slot)
    }

    /// A completion named buffer `bid`: the kernel took it from the ring, and it is lent now.
    pub(crate) fn take(&mut self, bid: u16) -> Result<(), LedgerError> {
        if bid >= self.buffers {
            return Err(LedgerError::Unknown(bid));
        }
        if !self.is_in_ring(bid) {
            return Err(LedgerError::NotInRing(bid));
        }
        self.in_ring[bid as usize / 64] &= !(1 << (bid % 64));
        self.in_ring_count -= 1;
        self.taken_since_trim = self.taken_since_trim.saturating_add(1);
        Ok(())
    }

    /// Whether at least `min` buffers have been filled since the last trim: enough touched
    /// pages for a trim to be worth its syscall.
    #[inline]
    pub(crate) fn worth_trimming(&self, min: u16) -> bool {
        self.taken_since_trim >= min
    }

    /// The ids in the ring, as maximal runs of consecutive ids (consecutive buffers are
    /// consecutive memory, so each run is one range to give back), and starts counting
    /// afresh. Lent buffers are never in a run.
    pub(crate) fn trim_runs(&mut self) -> Vec<Range<u16>> {
        self.taken_since_trim = 0;
        let mut runs: Vec<Range<u16>> = Vec::new();
        for bid in (0..self.buffers).filter(|&bid| self.is_in_ring(bid)) {
            match runs.last_mut() {
                Some(run) if run.end == bid => run.end += 1,
                _ => runs.push(bid..bid + 1),
            }
        }
        runs
    }

    /// The tail to store (release) into the shared ring, if pushes happened since the last
    /// publish. One store per turn is enough, however many buffers came back.
    pub(crate) fn publish(&mut self) -> Option<u16> {
        if self.tail == self.published {
            return None;
        }
        self.published = self.tail;
        Some(self.tail)
    }

    /// What to do after a recv ended with -ENOBUFS; growth comes in steps of `step`.
    pub(crate) fn on_starved(&mut self, step: u16) -> Starved {
        if self.in_ring_count > 0 {
            return Starved::Rearm;
        }
        let ids = self.grow(step.max(1));
        if ids.is_empty() {
            Starved::Fallback
        } else {
            Starved::Grow(ids)
        }
    }

    fn is_in_ring(&self, bid: u16) -> bool {
        self.in_ring[bid as usize / 64] & (1 << (bid % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(capacity: u16, buffers: u16) -> BufLedger {
        let mut ledger = BufLedger::new(capacity);
        for bid in ledger.grow(buffers) {
            ledger.push(bid).unwrap();
        }
        ledger
    }

    #[test]
    fn pushes_fill_entries_in_order_and_publish_once() {
        let mut ledger = BufLedger::new(8);
        let ids = ledger.grow(4);
        assert_eq!(ids, 0..4);
        assert_eq!(ledger.lent(), 4, "grown buffers are the caller's until pushed");
        let slots: Vec<usize> = ids.map(|bid| ledger.push(bid).unwrap()).collect();
        assert_eq!(slots, [0, 1, 2, 3]);
        assert_eq!(ledger.publish(), Some(4));
        assert_eq!(ledger.publish(), None, "nothing new to show the kernel");
        assert_eq!((ledger.in_ring(), ledger.lent()), (4, 0));
    }

    #[test]
    fn take_and_give_back_keep_the_invariant() {
        let mut ledger = filled(4, 4);
        ledger.publish();
        ledger.take(2).unwrap();
        ledger.take(0).unwrap();
        assert_eq!((ledger.in_ring(), ledger.lent()), (2, 2));
        assert_eq!(ledger.push(2).unwrap(), 0, "entry slots wrap around the ring");
        assert_eq!(ledger.push(0).unwrap(), 1);
        assert_eq!(ledger.publish(), Some(6));
        assert_eq!((ledger.in_ring(), ledger.lent()), (4, 0));
    }

    #[test]
    fn one_buffer_never_has_two_owners() {
        let mut ledger = filled(4, 2);
        assert_eq!(ledger.push(1), Err(LedgerError::AlreadyInRing(1)));
        ledger.take(1).unwrap();
        assert_eq!(ledger.take(1), Err(LedgerError::NotInRing(1)));
        assert_eq!(ledger.take(3), Err(LedgerError::Unknown(3)));
        assert_eq!(ledger.push(7), Err(LedgerError::Unknown(7)));
        assert_eq!((ledger.in_ring(), ledger.lent()), (1, 1), "refusals change nothing");
    }

    #[test]
    fn starving_grows_to_capacity_then_falls_back() {
        let mut ledger = filled(8, 2);
        ledger.take(0).unwrap();
        assert_eq!(ledger.on_starved(4), Starved::Rearm, "buffer 1 is still in the ring");
        ledger.take(1).unwrap();
        let Starved::Grow(ids) = ledger.on_starved(4) else { panic!("should grow") };
        assert_eq!(ids, 2..6);
        assert_eq!(ledger.lent(), 6, "grown buffers are lent until pushed");
        assert_eq!(ledger.on_starved(4), Starved::Grow(6..8), "growth stops at the capacity");
        assert_eq!(ledger.on_starved(4), Starved::Fallback);
        assert_eq!(ledger.buffers(), ledger.capacity());
    }

    #[test]
    fn trims_name_only_buffers_in_the_ring_in_runs() {
        let mut ledger = filled(16, 10);
        assert!(!ledger.worth_trimming(1), "nothing filled yet");
        for bid in [0, 1, 4, 9] {
            ledger.take(bid).unwrap();
        }
        assert!(ledger.worth_trimming(4));
        assert!(!ledger.worth_trimming(5));
        // 0, 1, 4 and 9 are lent: their bytes are a reader's.
        assert_eq!(ledger.trim_runs(), [2..4, 5..9]);
        assert!(!ledger.worth_trimming(1), "a trim starts the count afresh");
        ledger.push(4).unwrap();
        ledger.push(0).unwrap();
        assert_eq!(ledger.trim_runs(), [0..1, 2..9], "given-back buffers are trimmed next time");
        assert_eq!((ledger.in_ring(), ledger.lent()), (8, 2), "a trim moves no buffer");
    }

    #[test]
    fn a_trim_of_an_all_lent_ring_names_nothing() {
        let mut ledger = filled(4, 2);
        ledger.take(0).unwrap();
        ledger.take(1).unwrap();
        assert!(ledger.trim_runs().is_empty());
        let mut empty = BufLedger::new(4);
        assert!(empty.trim_runs().is_empty(), "no buffers yet");
    }

    #[test]
    fn the_tail_wraps_like_the_kernels() {
        let mut ledger = filled(2, 2);
        for round in 0..66_000u32 {
            let bid = (round % 2) as u16;
            ledger.take(bid).unwrap();
            assert_eq!(ledger.push(bid).unwrap(), (round % 2) as usize);
        }
        assert_eq!(ledger.publish(), Some(2u16.wrapping_add(66_000u32 as u16)));
    }
}
