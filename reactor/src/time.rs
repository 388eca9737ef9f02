//! Timer futures on the current core's reactor: `sleep`, `timeout`, `interval`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::reactor::Reactor;
use crate::timer_moves::TimerMoves;
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
/// armed in that core's reactor. Reset, polled or dropped anywhere else (another core, a
/// thread with no core), it asks the core it is armed on to move or disarm that timer, so
/// the old entry never fires a stale wake.
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

    /// Moves the deadline. An armed timer is moved at once with the waker of the last poll,
    /// as tokio's `reset` does: the waiting task is woken at the new deadline even if nothing
    /// polls the `Sleep` in between (a hand-written future may reset and return `Pending`),
    /// and not at the old one. Armed on another core, the timer is moved there.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some((reactor, key)) = self.key.take() {
            self.key = change(reactor, key, Some(deadline)).map(|key| (reactor, key));
        }
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    fn disarm(&mut self) {
        if let Some((reactor, key)) = self.key.take() {
            change(reactor, key, None);
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
                Some((reactor, key)) if reactor == r.id() && timers.update(key, cx.waker()) => None,
                armed => {
                    self.key = Some((r.id(), timers.insert(self.deadline, cx.waker().clone())));
                    armed.filter(|&(reactor, _)| reactor != r.id())
                }
            }
        });
        match armed {
            None => panic!("ringpoll timers need a ringpoll core: use them inside a Runtime or block_on"),
            // Armed on another core before: that entry would wake the last poll's task there.
            Some(Some((elsewhere, key))) => TimerMoves::post(elsewhere, key, None),
            Some(None) => {}
        }
        Poll::Pending
    }
}

/// Moves timer `key` of reactor `reactor` to `to`, or disarms it (`None`): at once on that
/// reactor's own thread, by a post to it from any other. Returns the key the timer has now,
/// `None` if it is not armed; a post cannot know whether it already fired, so it answers the
/// moved key (a key that names nothing is harmless: it updates or removes nothing).
fn change(reactor: u64, key: TimerKey, to: Option<Instant>) -> Option<TimerKey> {
    let mut disarmed = None;
    let here = Reactor::with_current(|r| {
        if r.id() != reactor {
            return None;
        }
        let mut timers = r.timers();
        Some(match to {
            Some(at) => timers.reschedule(key, at),
            None => {
                disarmed = timers.remove(key);
                None
            }
        })
    });
    // Dropped once the timers are no longer borrowed: a waker's drop may run task code.
    drop(disarmed);
    match here.flatten() {
        Some(now) => now,
        None => {
            TimerMoves::post(reactor, key, to);
            to.map(|at| key.moved_to(at))
        }
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
