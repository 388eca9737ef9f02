//! Writes that take no MSG_NOSIGNAL flag (`splice(2)`, `sendfile(2)`), kept from raising
//! SIGPIPE.
//!
//! Every send passes MSG_NOSIGNAL, so a peer that went away is `EPIPE`, never a signal. The
//! zero-copy calls have no such flag: into a socket that can no longer send they raise
//! SIGPIPE, and a process that leaves it at its default action (a C host, a Rust binary built
//! to die on a broken pipe) dies.
//!
//! # How
//!
//! Rust binaries ignore SIGPIPE (std sets SIG_IGN before `main`), so for them a call costs one
//! sigaction(2) query on top of the write. Otherwise SIGPIPE is blocked on the calling thread
//! for the call (unblocked again if it panics) and the one the write raised is taken off the
//! thread (`sigtimedwait` with a zero timeout) before the mask is restored: the technique
//! libcurl and OpenSSL's users rely on where MSG_NOSIGNAL is not available. A thread that
//! blocks SIGPIPE itself is left as it is.
//!
//! # Only our own SIGPIPE is taken
//!
//! While SIGPIPE is blocked, one sent by someone else (`kill`, `tgkill`, `sigqueue`) can land
//! on this thread too, and taking it would lose a signal the program may be waiting for. So:
//!
//! - a signal is taken only when the call may have raised one: it failed with `EPIPE`, or it
//!   returned a count (sendfile and splice loop in the kernel: bytes sent, then `EPIPE` on the
//!   next chunk, returns the count with SIGPIPE raised). Any other error raised none.
//! - the write's SIGPIPE is thread-directed, and the kernel hands out a thread's own pending
//!   signals before the process's, so when the write raised one, that is the one taken.
//! - the one taken is checked: the kernel raises a write's SIGPIPE as `SI_USER` from this
//!   process (`send_sig(SIGPIPE, current, 0)`). Anything else (`kill` from another process,
//!   `sigqueue`, `tgkill` where the kernel marks it `SI_TKILL`) is put back on this thread
//!   with its siginfo (`rt_tgsigqueueinfo`) and delivered when the mask is restored, as if it
//!   had arrived a moment later. When a foreign one was pending on this thread before the
//!   write raised its own, the two merged (a standard signal is pending once) and the foreign
//!   one is what is put back.
//!
//! A SIGPIPE pending before the call needs no check of its own (`sigpending` first would cost
//! a syscall per call): SIGPIPE was not blocked on this thread, so one pending for it then is
//! delivered, or is the same case as one arriving during the call. What cannot be told apart
//! is a SIGPIPE this process sends itself with `kill(getpid(), ..)` (and, on some kernels,
//! with `tgkill`, which they mark `SI_USER` too) while a call runs that may have raised one:
//! it looks exactly like the kernel's and is taken.
//!
//! # Why the action is read on every call
//!
//! Caching the answer (once per process, or once per thread: the action is process-wide, so a
//! per-thread cache is no safer) would save the query, but SIGPIPE's action can change at any
//! time and nothing tells us: a program that sets SIG_DFL, or installs a handler (tokio's
//! `signal(SignalKind::pipe())`, signal-hook), after our first zero-copy write would then get
//! the signal from our write, and at SIG_DFL die of it, which is what this module exists to
//! prevent. Read per call, only a change racing with the call on another thread is missed, and
//! that race is the program's own. The query is one short syscall beside a write that moves
//! up to a pipe's worth of bytes.

use std::io;
use std::mem::MaybeUninit;

/// Runs `call` (a syscall on the calling thread) so that a SIGPIPE it raises is discarded:
/// the `EPIPE` it returns says all there is to say. A SIGPIPE someone else sends meanwhile is
/// left for the program. A thread that blocks SIGPIPE itself is left as it is.
pub fn without_sigpipe<T>(call: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    if sigpipe_ignored() {
        return call();
    }
    let set = sigpipe_set();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is an initialised set and `old` room for one, both live for the call.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) } != 0 {
        return call();
    }
    // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask into `old`.
    let old = unsafe { old.assume_init() };
    // SAFETY: `old` is an initialised set.
    if unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1 {
        return call();
    }
    let mut blocked = Blocked { set, old, discard: true };
    let res = call();
    // A count may hide an EPIPE met after the bytes it counts (see the module doc); only
    // another error is sure to have raised none.
    blocked.discard = !matches!(&res, Err(e) if e.raw_os_error() != Some(libc::EPIPE));
    drop(blocked);
    res
}

/// SIGPIPE blocked on the calling thread: dropped, even by a panic inside the call, it takes
/// the SIGPIPE the call raised (if `discard`) and restores the thread's mask.
struct Blocked {
    set: libc::sigset_t,
    old: libc::sigset_t,
    discard: bool,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if self.discard {
            take_own(&self.set);
        }
        // SAFETY: `old` is the initialised mask the thread had; restoring it takes nothing else.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Whether SIGPIPE's action is to ignore it (what Rust's runtime sets up for a binary).
fn sigpipe_ignored() -> bool {
    let mut action = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; `action` has room for the current one.
    let queried = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), action.as_mut_ptr()) } == 0;
    // SAFETY: zeroed is a valid sigaction, and a successful query filled it in.
    queried && unsafe { action.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// The set holding SIGPIPE alone.
fn sigpipe_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset adds to it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        set.assume_init()
    }
}

/// Takes the SIGPIPE pending for this thread, if any, without waiting; one that is not a
/// write's own (see the module doc) is put back with its siginfo.
fn take_own(set: &libc::sigset_t) {
    let Some(info) = take_pending(set) else { return };
    if raised_by_a_write(&info) {
        return;
    }
    // SAFETY: `info` is the live siginfo the kernel just gave us; the target is this very
    // thread, which may queue any siginfo to itself. A failure leaves nothing better to do.
    unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            libc::getpid(),
            libc::gettid(),
            libc::SIGPIPE,
            &info as *const libc::siginfo_t,
        )
    };
}

/// Takes a pending SIGPIPE (the thread's own first, then the process's) off the thread.
fn take_pending(set: &libc::sigset_t) -> Option<libc::siginfo_t> {
    let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `set`, `info` and `now` are live for the call.
        let taken = unsafe { libc::sigtimedwait(set, info.as_mut_ptr(), &now) };
        if taken != -1 {
            // SAFETY: a successful sigtimedwait filled `info` in (and it was zeroed before).
            return Some(unsafe { info.assume_init() });
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Whether `info` is what the kernel gives a SIGPIPE raised by a write: `SI_USER` from this
/// process (`send_sig(SIGPIPE, current, 0)`).
fn raised_by_a_write(info: &libc::siginfo_t) -> bool {
    // SAFETY: for SI_USER the siginfo's union holds the sender's pid and uid.
    info.si_code == libc::SI_USER && unsafe { info.si_pid() } == std::process::id() as libc::pid_t
}
