//! Giving the pool's pages back once the core is idle.
//!
//! A burst of pooled reads grows the core's buffer ring, and since the kernel picks buffers
//! in ring order, leaves a resident page or more in every buffer it grew to (see
//! [`BufRing`](super::BufRing)). Those pages are worth giving back, but not on the busy path:
//! a trimmed buffer costs a page fault when the kernel next fills it. So a core whose ring
//! has been written since the last trim never sleeps longer than [`IDLE`]; if such a sleep
//! ends with nothing done, the core is idle and trims, one madvise per idle period. A core
//! that stays busy, or never grew past a few buffers, sleeps as before.

use std::io;
use std::task::Waker;
use std::time::Duration;

use super::Uring;

/// How long a core must have had nothing to do before it trims its buffer ring.
const IDLE: Duration = Duration::from_millis(100);

impl Uring {
    /// [`Uring::wait`], trimming the buffer ring when the core turns out to be idle: a wait
    /// longer than [`IDLE`] is cut to it while the ring wants a trim, and if it ends with no
    /// completion, every buffer in the ring gives its pages back.
    #[inline]
    pub(crate) fn wait_or_trim(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        if timeout.is_some_and(|t| t <= IDLE) {
            return self.wait(timeout, wake);
        }
        self.idle_wait(timeout, wake)
    }

    #[cold]
    fn idle_wait(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        let ring = self.buf_ring.borrow().clone();
        let Some(ring) = ring.filter(|r| r.wants_trim()) else {
            return self.wait(timeout, wake);
        };
        let n = self.wait(Some(IDLE), wake)?;
        if n == 0 && wake.is_empty() && self.all_decoded() {
            ring.trim();
        }
        Ok(n)
    }

    /// Whether every completion the kernel has posted has been reaped and handed to its
    /// stream: until then a buffer the kernel filled still counts as in the ring, and must
    /// not be trimmed.
    fn all_decoded(&self) -> bool {
        self.deliveries.borrow().is_empty()
            && self.reaped_wakes.borrow().is_empty()
            && self.ring.borrow_mut().completion().is_empty()
    }
}
