//! Signals: [`Signal`] catches any signal (SIGHUP for a reload, SIGUSR1...) and awaits it
//! on any core; [`ShutdownSignals`] is the process-wide SIGINT/SIGTERM of a server.
//!
//! Signals go to whichever thread does not block them, so the only robust way to see them in a
//! multi-threaded process is to block them everywhere and wait for them in one place. Call
//! [`ShutdownSignals::install`] on the main thread *before* building the runtime (threads
//! inherit the mask), then either block in [`ShutdownSignals::wait`], or await
//! [`ShutdownSignals::recv`] from any core.

mod catch;

pub use catch::Signal;

/// The numbers of the signals servers usually catch, for [`Signal::new`], so a program needs
/// no `libc` dependency to name them (any other number works too).
pub use libc::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

use std::io;
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// SIGINT and SIGTERM, blocked in this process and delivered to [`ShutdownSignals`].
#[derive(Debug, Clone)]
pub struct ShutdownSignals {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The signal received, 0 until one arrives.
    received: AtomicI32,
    waiters: Mutex<Vec<Waker>>,
}

impl Shared {
    /// Records `sig` and wakes every waiter.
    fn deliver(&self, sig: i32) {
        self.received.store(sig, SeqCst);
        for w in self.waiters.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            w.wake();
        }
    }
}

fn shutdown_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

impl ShutdownSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts
    /// afterwards) and starts a small thread that waits for them.
    pub fn install() -> io::Result<ShutdownSignals> {
        let set = shutdown_set();
        // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let signals = ShutdownSignals { shared: Arc::default() };
        let shared = signals.shared.clone();
        std::thread::Builder::new().name("ringpoll-signals".into()).spawn(move || {
            let mut sig = 0;
            // SAFETY: `set` is initialised and `sig` is a live c_int for sigwait to fill.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                shared.deliver(sig);
            }
        })?;
        Ok(signals)
    }

    /// The signal received so far, if any.
    pub fn received(&self) -> Option<i32> {
        Some(self.shared.received.load(SeqCst)).filter(|&s| s != 0)
    }

    /// Waits, on any core or thread that polls it, for SIGINT or SIGTERM; returns which.
    pub async fn recv(&self) -> i32 {
        std::future::poll_fn(|cx| {
            if let Some(sig) = self.received() {
                return Poll::Ready(sig);
            }
            self.register(cx.waker());
            match self.received() {
                Some(sig) => Poll::Ready(sig),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Blocks the calling (non-core) thread until SIGINT or SIGTERM; returns which.
    ///
    /// # Panics
    /// On a ringpoll core (a `Runtime` thread, or the body of `#[ringpoll::main]` and
    /// `block_on`), whose tasks would all stall while it waits: await [`ShutdownSignals::recv`]
    /// there.
    #[track_caller]
    pub fn wait(&self) -> i32 {
        ringpoll_core::park_on(self.recv())
    }

    /// As [`ShutdownSignals::wait`], giving up after `timeout`; it panics on a core as `wait`
    /// does.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> Option<i32> {
        assert!(
            ringpoll_core::current_core().is_none(),
            "ShutdownSignals::wait_timeout would block a ringpoll core; .await recv() instead"
        );
        // None: a timeout too long for an Instant (Duration::MAX), which never ends.
        let deadline = std::time::Instant::now().checked_add(timeout);
        THREAD_WAKER.with(|waker| self.register(waker));
        loop {
            if let Some(sig) = self.received() {
                return Some(sig);
            }
            let left =
                deadline.map_or(std::time::Duration::MAX, |d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_zero() {
                return None;
            }
            // std parks untimed when the timeout reaches past the clock's end.
            std::thread::park_timeout(left);
        }
    }

    /// Adds `waker` to those the signal wakes, unless it is there already.
    fn register(&self, waker: &Waker) {
        let mut waiters = self.shared.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }
}

thread_local! {
    /// One waker per waiting thread, so repeated waits register it once.
    static THREAD_WAKER: Waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
}

struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn repeated_timed_waits_register_the_thread_once_and_a_signal_ends_the_next() {
        let signals = ShutdownSignals { shared: Arc::default() };
        assert_eq!(signals.wait_timeout(Duration::from_millis(1)), None);
        assert_eq!(signals.wait_timeout(Duration::from_millis(1)), None);
        assert_eq!(signals.shared.waiters.lock().unwrap().len(), 1, "one waker per thread, not per wait");
        let remote = signals.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.shared.deliver(libc::SIGTERM);
        });
        assert_eq!(signals.wait_timeout(Duration::from_secs(10)), Some(libc::SIGTERM));
        sender.join().unwrap();
        assert!(signals.shared.waiters.lock().unwrap().is_empty());
    }
}
