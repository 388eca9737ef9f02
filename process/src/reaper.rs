//! Reaping the children whose [`Child`](crate::Child) was dropped unwaited, so none stays a
//! zombie.
//!
//! Such a child is first tried at once (a child killed on drop has usually not died yet).
//! Then a detached task on the core awaits its pidfd and reaps it. If that task never gets
//! to (the core ended first, or the `Child` was dropped off any core), the pid goes on the
//! process-wide orphan list, which every [`Command::spawn`](crate::Command::spawn) sweeps
//! with a non-blocking `waitid` (tokio keeps such a list too, swept on SIGCHLD). The list
//! holds pids, not pidfds, so it keeps no descriptor open; a pid stays its zombie's until
//! reaped, and nobody but this crate reaps our children.

use std::sync::Mutex;

use ringpoll_reactor::{Interest, Source};

use crate::pidfd;

/// Children that a dropped `Child` left and no task is reaping.
static ORPHANS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Reaps child `pid` (whose pidfd this is) without anyone waiting for it.
pub(crate) fn reap_in_background(pid: u32, pidfd: Source) {
    // Gone already, or not ours to reap (ECHILD: someone else's waitpid(-1) took it).
    if !matches!(pidfd::try_reap(&pidfd), Ok(None)) {
        return;
    }
    let orphan = Orphan { pid };
    if ringpoll_core::current_core().is_none() {
        drop(pidfd);
        return; // `orphan`'s drop lists it.
    }
    ringpoll_core::spawn(async move {
        let reap = || pidfd::try_reap(&pidfd)?.ok_or(std::io::ErrorKind::WouldBlock.into());
        // An error (ECHILD) leaves nothing to reap either.
        let _ = pidfd.retry(Interest::Read, reap).await;
        // Reaped: nothing left for its drop to do.
        std::mem::forget(orphan);
    })
    .detach();
}

/// A child the background reaper owes a reap; dropped before it was done (its task dropped
/// with the core), it puts the pid on the orphan list. Forgotten once the child is reaped.
struct Orphan {
    pid: u32,
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if matches!(pidfd::try_reap_pid(self.pid), Ok(None)) {
            ORPHANS.lock().unwrap_or_else(|e| e.into_inner()).push(self.pid);
        }
    }
}

/// Reaps the listed orphans that have exited since; called by every spawn.
pub(crate) fn sweep_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
    // Kept while still running; reaped or no longer ours (an error), dropped from the list.
    orphans.retain(|&pid| matches!(pidfd::try_reap_pid(pid), Ok(None)));
}
