//! Giving the pool's pages back once the core is idle.
//!
//! A burst of pooled reads grows the core's buffer ring, and since the kernel picks buffers
//! in ring order, leaves a resident page or more in every buffer it grew to (see
//! [`BufRing`](super::BufRing)). Those pages are worth giving back, but not on the busy path:
//! a trimmed buffer costs a page fault when the kernel next fills it.
//!
//! So once the ring has been written enough since the last trim
//! ([`BufRing::wants_trim`](super::BufRing::wants_trim)),
//! the core arms a timeout op of [`IDLE`] in its ring. When it fires, the core looks at
//! whether anything else completed meanwhile: if not, it is idle, and trims (one madvise per
//! idle period); if so, it arms the timer again. A busy core pays one timeout completion
//! every [`IDLE`] and a flag test before each sleep, instead of a timed sleep every time
//! (which cost 49 instructions per echo round trip by `benches/op_cost.sh`); a core whose
//! readers filled fewer than 64 buffers since the last trim pays the flag test alone.
//!
//! Trimming is sound only between this core's enters, with every completion decoded: see
//! [`BufRing::trim`](super::BufRing::trim).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use io_uring::{opcode, types};

use super::op_table::{OpId, NO_OP};
use super::Uring;

/// How long a core must have completed nothing before it trims its buffer ring.
const IDLE: Duration = Duration::from_millis(100);
/// [`IDLE`] for the kernel; a static, so the pointer in a queued SQE stays valid until the
/// submission has read it.
static IDLE_TIMESPEC: types::Timespec = types::Timespec::new().sec(IDLE.as_secs()).nsec(IDLE.subsec_nanos());

/// One core's idle timer.
pub(crate) struct IdleTrim {
    /// The timeout op in the ring, or [`NO_OP`].
    timer: Cell<OpId>,
    /// Completions the core had reaped when the timer was armed.
    completions_at_arm: Cell<u64>,
    /// Set when the timer's completion is reaped.
    alarm: Arc<Alarm>,
    waker: Waker,
}

impl Default for IdleTrim {
    fn default() -> IdleTrim {
        let alarm = Arc::new(Alarm(AtomicBool::new(false)));
        IdleTrim { timer: Cell::new(NO_OP), completions_at_arm: Cell::new(0), waker: Waker::from(alarm.clone()), alarm }
    }
}

/// The timer's waker: a flag, read by the core before it sleeps.
struct Alarm(AtomicBool);

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Relaxed);
    }
}

impl Uring {
    /// [`Uring::wait`]; before a wait that may sleep, tends the idle timer: trims if it fired
    /// on an idle core, arms it while the ring wants a trim.
    #[inline(never)]
    pub(crate) fn wait_or_trim(&self, timeout: Option<Duration>, wake: &mut Vec<Waker>) -> io::Result<usize> {
        if timeout != Some(Duration::ZERO) {
            let trim = &self.idle_trim;
            let ticking = trim.timer.get() != NO_OP && !trim.alarm.0.load(Relaxed);
            if !ticking {
                self.tend_idle_timer();
            }
        }
        self.wait(timeout, wake)
    }

    #[cold]
    fn tend_idle_timer(&self) {
        let Some(ring) = self.buf_ring.borrow().clone() else { return };
        let trim = &self.idle_trim;
        let id = trim.timer.replace(NO_OP);
        if id != NO_OP {
            trim.alarm.0.store(false, Relaxed);
            // Frees the timer's slot (its completion is in: the alarm rang).
            let fired = self.poll_op(id, &Context::from_waker(&trim.waker)).is_ready();
            debug_assert!(fired, "the idle timer's alarm rang before its completion");
            // Its own completion is the only one since it was armed: the core was idle.
            let idle = self.stats.uring_completions.get() == trim.completions_at_arm.get() + 1;
            if idle && self.all_decoded() {
                ring.trim();
            }
        }
        if ring.wants_trim() {
            self.arm_idle_timer();
        }
    }

    fn arm_idle_timer(&self) {
        let trim = &self.idle_trim;
        let id = self.submit(opcode::Timeout::new(&IDLE_TIMESPEC).build());
        // Registers the alarm as the op's waker (Ready: the submission failed, and the slot
        // is freed; the next sleep tries again).
        if self.poll_op(id, &Context::from_waker(&trim.waker)).is_pending() {
            trim.timer.set(id);
            trim.completions_at_arm.set(self.stats.uring_completions.get());
        }
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
