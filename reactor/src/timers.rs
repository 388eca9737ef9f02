//! The per-core timer set: the nearest deadline becomes the reactor's wait timeout.
//!
//! An ordered map keyed by `(deadline, id)` rather than a heap with lazy deletion: a dropped
//! `Sleep` removes its entry at once, so cancelled timers (the common case for `timeout` around
//! I/O that succeeds) never linger, and the nearest deadline is always exact.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Identifies one armed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    deadline: Instant,
    id: u64,
}

impl TimerKey {
    /// The key the same timer has once moved to `deadline` (see [`Timers::reschedule`]).
    pub(crate) fn moved_to(self, deadline: Instant) -> TimerKey {
        TimerKey { deadline, ..self }
    }
}

/// Deadlines and the wakers waiting on them, for one core.
#[derive(Debug, Default)]
pub struct Timers {
    armed: BTreeMap<TimerKey, Waker>,
    next_id: u64,
}

impl Timers {
    /// Arms a timer that wakes `waker` at `deadline`.
    pub fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        self.next_id += 1;
        let key = TimerKey { deadline, id: self.next_id };
        self.armed.insert(key, waker);
        key
    }

    /// Replaces the waker of an armed timer; returns false if it already fired.
    pub fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.armed.get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Moves an armed timer to `deadline`, its waker kept; returns its new key, or `None` for
    /// a fired or unknown key (nothing is armed then).
    pub fn reschedule(&mut self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let waker = self.armed.remove(&key)?;
        let moved = key.moved_to(deadline);
        self.armed.insert(moved, waker);
        Some(moved)
    }

    /// Disarms a timer and hands back its waker; `None` for a fired or unknown key.
    pub fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        self.armed.remove(&key)
    }

    /// The nearest deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.armed.first_key_value().map(|(k, _)| k.deadline)
    }

    /// Moves the wakers of every timer due at `now` into `due`, earliest first.
    pub fn fire(&mut self, now: Instant, due: &mut Vec<Waker>) {
        while let Some(entry) = self.armed.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            due.push(entry.remove());
        }
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

/// The wait before `deadline`, zero if it has passed.
pub fn until(deadline: Instant, now: Instant) -> Duration {
    deadline.saturating_duration_since(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::WakeCount;

    fn waker() -> Waker {
        WakeCount::waker().1
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let late = timers.insert(now + Duration::from_millis(30), waker());
        timers.insert(now + Duration::from_millis(10), waker());
        let mid = timers.insert(now + Duration::from_millis(20), waker());
        assert_eq!(timers.next_deadline(), Some(now + Duration::from_millis(10)));
        let mut due = Vec::new();
        timers.fire(now + Duration::from_millis(5), &mut due);
        assert!(due.is_empty());
        timers.fire(now + Duration::from_millis(20), &mut due);
        assert_eq!(due.len(), 2);
        assert!(!timers.update(mid, &waker()), "a fired timer cannot be updated");
        assert!(timers.update(late, &waker()));
        timers.remove(late);
        assert!(timers.is_empty());
    }

    #[test]
    fn a_rescheduled_timer_keeps_its_waker_and_fires_at_its_new_deadline_only() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let (count, waker) = WakeCount::waker();
        let key = timers.insert(now + Duration::from_secs(60), waker);
        let moved = timers.reschedule(key, now + Duration::from_millis(10)).expect("armed");
        assert_eq!(timers.len(), 1, "moved, not copied");
        assert_eq!(timers.reschedule(key, now), None, "the old key names nothing");
        let mut due = Vec::new();
        timers.fire(now + Duration::from_millis(10), &mut due);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(count.get(), 1);
        assert_eq!(timers.reschedule(moved, now), None, "a fired timer stays fired");
    }
}
