//! Timer futures on the current core's reactor: `sleep`, `timeout`, `interval`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::reactor::Reactor;
use crate::timers::TimerKey;

/// Waits until `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// `now + duration`, or a deadline a century away when that overflows (`Duration::MAX`).
fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Waits until `deadline`. Never completes early; dropping it disarms the timer.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, key: None }
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// It is `Send` (hyper's timer wants that) but lives on the core that polls it: its timer is
/// armed in that core's reactor. Polled on another core it re-arms there; dropped elsewhere it
/// leaves its old entry to expire harmlessly.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The reactor the timer is armed in, and its key there.
    key: Option<(u64, TimerKey)>,
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline. An armed timer is re-armed at once with the waker of the last
    /// poll, as tokio's `reset` does: the waiting task is woken at the new deadline even if
    /// nothing polls the `Sleep` in between (a hand-written future may reset and return
    /// `Pending`). Armed on another core, the timer is re-armed when next polled.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        let Some((reactor, key)) = self.key.take() else {
            return;
        };
        Reactor::with_current(|r| {
            if r.id() != reactor {
                return;
            }
            let mut timers = r.timers();
            // A fired timer has woken its task already, which will poll this again.
            if let Some(waker) = timers.remove(key) {
                self.key = Some((reactor, timers.insert(deadline, waker)));
            }
        });
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    fn disarm(&mut self) {
        if let Some((reactor, key)) = self.key.take() {
            Reactor::with_current(|r| {
                if r.id() == reactor {
                    drop(r.timers().remove(key));
                }
            });
        }
    }

    /// Polls without pinning; `Sleep` is `Unpin`.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_elapsed() {
            self.disarm();
            return Poll::Ready(());
        }
        let armed = Reactor::with_current(|r| {
            let mut timers = r.timers();
            match self.key {
                Some((reactor, key)) if reactor == r.id() && timers.update(key, cx.waker()) => {}
                _ => self.key = Some((r.id(), timers.insert(self.deadline, cx.waker().clone()))),
            }
        });
        if armed.is_none() {
            panic!("ringpoll timers need a ringpoll core: use them inside a Runtime or block_on");
        }
        Poll::Pending
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (the future is dropped,
/// which on io_uring cancels its operation).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(duration), future)
}

/// As [`timeout`], with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep_until(deadline) }
}

/// The future of [`timeout`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and
        // `Timeout` has no Drop or Unpin impl that could move it. `sleep` is Unpin.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` stays where it is for as long as `self` is pinned.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(out) = future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        this.sleep.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    }
}

/// Ticks every `period`, the first tick at once.
///
/// A tick that is late (the core was busy) does not cause a burst of catch-up ticks: the
/// next one is scheduled a full period after the late one.
pub fn interval(period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "interval period must be non-zero");
    Interval { period, sleep: sleep_until(Instant::now()) }
}

/// The ticker of [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll form of [`Interval::tick`].
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.poll_elapsed(cx).is_pending() {
            return Poll::Pending;
        }
        let due = self.sleep.deadline();
        let now = Instant::now();
        let next = match due.checked_add(self.period) {
            Some(next) if next > now => next,
            _ => deadline_after(self.period),
        };
        self.sleep.reset(next);
        Poll::Ready(due)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
