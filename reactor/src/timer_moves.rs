//! Changes to one core's timers asked for from other threads.
//!
//! A [`Sleep`](crate::time::Sleep) is `Send`: armed on one core, it can be reset, polled or
//! dropped on another, or on a thread with no core, none of which may touch the first core's
//! `Timers`. Left alone, its entry there would fire at the old deadline and wake a task that
//! no longer waits on it. So the change is posted here, the core is woken, and it applies
//! the change before it next reads its nearest deadline or fires its timers.
//!
//! Cores are found by reactor id in a process-wide list, looked at only on this cross-thread
//! path; a core that is gone has no timers left to change.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::Waker;
use std::time::Instant;

use crate::netpoll_break::Break;
use crate::timers::{TimerKey, Timers};

/// A timer to move to a new deadline (`Some`) or to disarm (`None`).
type Change = (TimerKey, Option<Instant>);

/// The changes posted to one core.
#[derive(Debug)]
pub(crate) struct TimerMoves {
    /// Set when `changes` may hold something: the core's one check per turn is a load.
    posted: AtomicBool,
    changes: Mutex<Vec<Change>>,
    brk: Arc<Break>,
}

/// Every live core's changes, by reactor id.
static CORES: Mutex<Vec<(u64, Weak<TimerMoves>)>> = Mutex::new(Vec::new());

impl TimerMoves {
    /// The changes of the reactor `id`, which `brk` wakes, findable from any thread.
    pub(crate) fn register(id: u64, brk: Arc<Break>) -> Arc<TimerMoves> {
        let moves = Arc::new(TimerMoves { posted: AtomicBool::new(false), changes: Mutex::default(), brk });
        let mut cores = CORES.lock().unwrap_or_else(PoisonError::into_inner);
        cores.retain(|(_, core)| core.strong_count() > 0);
        cores.push((id, Arc::downgrade(&moves)));
        moves
    }

    /// Asks the reactor `id` to move timer `key` to `to`, or to disarm it (`None`), and
    /// wakes it so that an earlier deadline counts at once.
    pub(crate) fn post(id: u64, key: TimerKey, to: Option<Instant>) {
        let core = {
            let cores = CORES.lock().unwrap_or_else(PoisonError::into_inner);
            cores.iter().find(|(core, _)| *core == id).and_then(|(_, moves)| moves.upgrade())
        };
        let Some(core) = core else { return };
        core.changes.lock().unwrap_or_else(PoisonError::into_inner).push((key, to));
        // Before the wake's fence and its look at `parked`: the core, parked, sees the flag
        // after its own fence, or the wake sees it parked and wakes it (see `netpoll_break`).
        core.posted.store(true, SeqCst);
        core.brk.wake();
    }

    /// Applies the changes posted so far to `timers`, the core's own.
    ///
    /// Inlined, a plain load: a core checks twice per turn, and nearly always no other
    /// thread has posted (out of line, the checks cost an echo round trip 36 instructions,
    /// `benches/op_cost.sh`).
    #[inline]
    pub(crate) fn apply(&self, timers: &std::cell::RefCell<Timers>) {
        if self.posted.load(SeqCst) {
            self.apply_posted(timers);
        }
    }

    /// [`TimerMoves::apply`]'s work, once something was posted.
    #[cold]
    #[inline(never)]
    fn apply_posted(&self, timers: &std::cell::RefCell<Timers>) {
        if !self.posted.swap(false, SeqCst) {
            return;
        }
        let changes = std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner));
        let mut disarmed: Vec<Waker> = Vec::new();
        {
            let mut timers = timers.borrow_mut();
            for (key, to) in changes {
                match to {
                    Some(at) => drop(timers.reschedule(key, at)),
                    None => disarmed.extend(timers.remove(key)),
                }
            }
        }
        // Dropped once the timers are no longer borrowed: a waker's drop may run task code.
        drop(disarmed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;
    use std::cell::RefCell;
    use std::time::Duration;

    #[test]
    fn posted_changes_apply_on_the_core_in_order_and_a_gone_core_takes_none() {
        let brk = Arc::new(Break::new(true).expect("eventfd"));
        let moves = TimerMoves::register(u64::MAX - 1, brk);
        let timers = RefCell::new(Timers::default());
        let now = Instant::now();
        let (count, waker) = WakeCount::waker();
        let key = timers.borrow_mut().insert(now + Duration::from_secs(60), waker.clone());
        let other = timers.borrow_mut().insert(now + Duration::from_secs(60), waker);

        TimerMoves::post(u64::MAX - 1, key, Some(now));
        TimerMoves::post(u64::MAX - 1, other, None);
        assert_eq!(timers.borrow().len(), 2, "nothing changes before the core applies it");
        moves.apply(&timers);
        assert_eq!(timers.borrow().next_deadline(), Some(now), "moved");
        assert_eq!(timers.borrow().len(), 1, "disarmed");
        assert_eq!(count.get(), 0, "a disarmed timer wakes nothing");

        drop(moves);
        TimerMoves::post(u64::MAX - 1, key.moved_to(now), None); // a core gone: nothing to do
    }
}
