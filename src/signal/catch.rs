//! Any signal, caught by a handler and awaited from any core: [`Signal`].
//!
//! The handler (installed through signal-hook-registry, which chains with handlers other
//! code installed) does only what is async-signal-safe: it bumps the signal's counter and
//! writes one byte to a pipe. One dispatcher thread reads the pipe and wakes the tasks
//! waiting on any signal; each re-checks its counter. A waiter reads the counter before and
//! after registering its waker, and the handler bumps it before writing the byte, so a
//! delivery is never missed: it lands before the check, or its byte wakes the waiter.
//! Deliveries that come faster than a waiter reads them coalesce, as the kernel's do.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::task::{Poll, Waker};

/// Signal numbers go up to SIGRTMAX (64 on Linux).
const SIGNALS: usize = 65;

/// One signal's deliveries and waiters.
struct Slot {
    /// Deliveries so far; bumped by the handler.
    count: AtomicU64,
    /// Tasks waiting for the next delivery.
    waiters: Mutex<Vec<Waker>>,
    /// Whether the handler is installed (the registration's result, kept for later callers).
    installed: OnceLock<Result<(), io::ErrorKind>>,
}

/// What the handlers and the dispatcher share.
struct Registry {
    slots: [Slot; SIGNALS],
    /// The write end of the pipe the handler wakes the dispatcher through.
    wake: OwnedFd,
}

static REGISTRY: OnceLock<io::Result<Registry>> = OnceLock::new();

fn registry() -> io::Result<&'static Registry> {
    REGISTRY.get_or_init(Registry::start).as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))
}

impl Registry {
    /// The pipe and the dispatcher thread.
    fn start() -> io::Result<Registry> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 just returned both descriptors, and nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The handler must never block: a full pipe already holds a wake.
        // SAFETY: fcntl on a descriptor we own, with integer arguments.
        if unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } == -1 {
            return Err(io::Error::last_os_error());
        }
        std::thread::Builder::new().name("ringpoll-signal".into()).spawn(move || dispatch(read))?;
        let slots = std::array::from_fn(|_| Slot {
            count: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
            installed: OnceLock::new(),
        });
        Ok(Registry { slots, wake: write })
    }

    /// Installs the handler for `signo` once; later calls get the first call's result.
    fn install(&'static self, signo: i32) -> io::Result<&'static Slot> {
        let forbidden = signal_hook_registry::FORBIDDEN.contains(&signo);
        let slot = match usize::try_from(signo) {
            Ok(i) if i > 0 && i < SIGNALS && !forbidden => &self.slots[i],
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("signal {signo} cannot be caught"))),
        };
        let installed = slot.installed.get_or_init(|| {
            let wake = self.wake.as_raw_fd();
            let handler = move || {
                slot.count.fetch_add(1, SeqCst);
                // SAFETY: write(2) is async-signal-safe; the byte is a local. EAGAIN (a full
                // pipe) is fine: the dispatcher has wakes to read already.
                unsafe { libc::write(wake, [1u8].as_ptr().cast(), 1) };
            };
            // SAFETY: the handler only does async-signal-safe things (an atomic add and a
            // write), and `signo` is not one of signal-hook's FORBIDDEN signals.
            unsafe { signal_hook_registry::register(signo, handler) }.map(drop).map_err(|e| e.kind())
        });
        match installed {
            Ok(()) => Ok(slot),
            Err(kind) => Err(io::Error::new(*kind, format!("cannot catch signal {signo}"))),
        }
    }
}

/// The dispatcher: each byte read means some signal came; wake every waiter to re-check.
fn dispatch(read: OwnedFd) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reads into a local buffer of the length passed.
        let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return; // the write end is gone: nothing can deliver any more
        }
        let Ok(registry) = registry() else { return };
        for slot in &registry.slots {
            let waiters = std::mem::take(&mut *slot.waiters.lock().unwrap_or_else(|e| e.into_inner()));
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

/// A signal caught by ringpoll: [`Signal::recv`] waits for its next delivery, on any core
/// or thread. Signals a process usually reloads or reports on (SIGHUP, SIGUSR1, SIGUSR2,
/// SIGWINCH, real-time signals...) and also SIGINT/SIGTERM; not SIGKILL, SIGSTOP or the
/// fault signals (SIGSEGV, SIGILL, SIGFPE).
///
/// Catching a signal replaces its default action (SIGHUP no longer ends the process) for
/// the rest of the process's life. Do not combine with [`ShutdownSignals`](super::ShutdownSignals)
/// for the same signal: that one blocks it, so no handler ever runs.
///
/// ```no_run
/// use ringpoll::signal::{Signal, SIGHUP};
///
/// # async fn demo() -> std::io::Result<()> {
/// let mut hangups = Signal::new(SIGHUP)?;
/// loop {
///     hangups.recv().await;
///     println!("reloading the configuration");
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Signal {
    signo: i32,
    slot: &'static Slot,
    seen: u64,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("count", &self.count.load(SeqCst)).finish_non_exhaustive()
    }
}

impl Signal {
    /// Starts catching `signo`; deliveries from now on are seen by [`Signal::recv`].
    /// `InvalidInput` for a signal that cannot be caught.
    pub fn new(signo: i32) -> io::Result<Signal> {
        let slot = registry()?.install(signo)?;
        Ok(Signal { signo, slot, seen: slot.count.load(SeqCst) })
    }

    /// The signal number.
    pub fn signo(&self) -> i32 {
        self.signo
    }

    /// Waits for a delivery after the last one this `Signal` saw; returns how many came
    /// since (more than one when they came faster than this task read them).
    pub async fn recv(&mut self) -> u64 {
        std::future::poll_fn(|cx| {
            if let Some(n) = self.take_new() {
                return Poll::Ready(n);
            }
            let mut waiters = self.slot.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            drop(waiters);
            match self.take_new() {
                Some(n) => Poll::Ready(n),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Deliveries since the last look, if any.
    fn take_new(&mut self) -> Option<u64> {
        let count = self.slot.count.load(SeqCst);
        let new = count - self.seen;
        self.seen = count;
        (new > 0).then_some(new)
    }
}
