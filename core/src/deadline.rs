//! The end of a bounded wait on a plain thread (a graceful shutdown's grace, a spin), where a
//! wait of `Duration::MAX` must mean "no end" rather than overflow `Instant` and panic.

use std::time::{Duration, Instant};

/// `duration` from when it was made; `None` inside when that lies past the clock's end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline `duration` from now; one too far for an `Instant` never comes.
    pub(crate) fn after(duration: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(duration))
    }

    /// The time left: zero once passed, `Duration::MAX` for one that never comes (std's timed
    /// waits take it and wait untimed).
    pub(crate) fn left(self) -> Duration {
        self.0.map_or(Duration::MAX, |end| end.saturating_duration_since(Instant::now()))
    }

    /// Whether it has passed.
    pub(crate) fn passed(self) -> bool {
        self.left().is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_past_the_clocks_end_never_comes() {
        let never = Deadline::after(Duration::MAX);
        assert_eq!(never.left(), Duration::MAX);
        assert!(!never.passed());
    }

    #[test]
    fn a_zero_deadline_has_passed_and_a_long_one_has_time_left() {
        assert!(Deadline::after(Duration::ZERO).passed());
        let hour = Deadline::after(Duration::from_secs(3600));
        assert!(hour.left() > Duration::from_secs(3500) && hour.left() <= Duration::from_secs(3600));
    }
}
