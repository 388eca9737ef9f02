//! Writes that take no MSG_NOSIGNAL flag (`splice(2)`, `sendfile(2)`), kept from raising
//! SIGPIPE.
//!
//! Every send passes MSG_NOSIGNAL, so a peer that went away is `EPIPE`, never a signal. The
//! zero-copy calls have no such flag: into a socket that can no longer send they raise
//! SIGPIPE, and a process that leaves it at its default action (a C host, a Rust binary built
//! to die on a broken pipe) dies. Rust binaries ignore SIGPIPE, so for them this costs one
//! sigaction(2) query per call; otherwise SIGPIPE is blocked on the calling thread for the
//! call (unblocked again if it panics), and one it raised, also by a call that returns a
//! count (bytes sent before EPIPE), is taken off the thread before the mask is restored
//! (the way libcurl and OpenSSL's callers keep SIGPIPE away on Linux).

use std::io;
use std::mem::MaybeUninit;

/// Runs `call` (a syscall on the calling thread) so that a SIGPIPE it raises is discarded:
/// the `EPIPE` it returns says all there is to say. A thread that blocks SIGPIPE itself is
/// left as it is.
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
    // A call that sent bytes and then met EPIPE in the same syscall (sendfile and splice
    // loop in the kernel) returns the count with SIGPIPE raised; only another error is sure
    // to have raised none. Left pending, it would kill the process once unblocked.
    blocked.discard = !matches!(&res, Err(e) if e.raw_os_error() != Some(libc::EPIPE));
    drop(blocked);
    res
}

/// SIGPIPE blocked on the calling thread: dropped, even by a panic inside the call, it
/// discards a pending SIGPIPE (if `discard`) and restores the thread's mask.
struct Blocked {
    set: libc::sigset_t,
    old: libc::sigset_t,
    discard: bool,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if self.discard {
            discard_pending(&self.set);
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

/// Takes a pending SIGPIPE off the thread without waiting. SIGPIPE was not blocked before the
/// call, so one pending now was raised while it ran.
fn discard_pending(set: &libc::sigset_t) {
    let now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    loop {
        // SAFETY: `set` and `now` are live; a null info pointer asks for no details.
        let taken = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &now) };
        if taken != -1 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
