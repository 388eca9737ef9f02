//! Linux scheduling policies of the runtime's threads.
//!
//! Core threads run under `SCHED_BATCH` when the builder asks ([`Builder::batch_scheduling`]).
//! A thread inherits its creator's policy, so a blocking-pool thread started from such a core
//! would be batch too; pool threads instead take the policy of the thread that built the
//! runtime, as they take its CPUs (a process started under `chrt` keeps its policy there).
//!
//! [`Builder::batch_scheduling`]: crate::Builder::batch_scheduling

use std::io;

/// A scheduling policy and its static priority (0 except for the real-time policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    policy: libc::c_int,
    priority: libc::c_int,
}

impl Policy {
    /// `SCHED_BATCH`, the normal policy without wakeup preemption.
    pub(crate) const BATCH: Policy = Policy { policy: libc::SCHED_BATCH, priority: 0 };

    /// The normal policy, `SCHED_OTHER`.
    const NORMAL: Policy = Policy { policy: libc::SCHED_OTHER, priority: 0 };

    /// The calling thread's policy.
    pub(crate) fn of_calling_thread() -> io::Result<Policy> {
        if cfg!(miri) {
            // Miri has no scheduler calls; every thread it runs is a normal one.
            return Ok(Policy::NORMAL);
        }
        // SAFETY: no memory is passed; pid 0 is the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) };
        if policy < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a live sched_param the call writes; pid 0 is the calling thread.
        if unsafe { libc::sched_getparam(0, &mut param) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Policy { policy, priority: param.sched_priority })
    }

    /// Puts the calling thread under this policy. Leaving the normal policy for
    /// `SCHED_BATCH`, and going back, needs no privilege.
    pub(crate) fn apply_to_calling_thread(self) -> io::Result<()> {
        if cfg!(miri) {
            return Ok(());
        }
        let param = libc::sched_param { sched_priority: self.priority };
        // SAFETY: `param` is a valid sched_param for the call's duration; pid 0 is the
        // calling thread (Linux applies scheduling policies per thread).
        if unsafe { libc::sched_setscheduler(0, self.policy, &param) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // a system call
    fn a_thread_goes_to_batch_and_back() {
        std::thread::spawn(|| {
            let before = Policy::of_calling_thread().unwrap();
            Policy::BATCH.apply_to_calling_thread().unwrap();
            assert_eq!(Policy::of_calling_thread().unwrap(), Policy::BATCH);
            before.apply_to_calling_thread().unwrap();
            assert_eq!(Policy::of_calling_thread().unwrap(), before);
        })
        .join()
        .unwrap();
    }
}
