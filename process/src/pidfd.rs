//! The syscalls behind a [`Child`](crate::Child): `pidfd_open(2)`, `pidfd_send_signal(2)` and
//! `waitid(2)` on the pidfd, and the wait status std's `ExitStatus` is made from.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A pidfd for the child `pid` (close-on-exec, as every pidfd is). Linux 5.3 and later; the
/// pid is ours until we reap it (an unreaped zombie keeps it), so it names that child.
pub(crate) fn open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process behind `pidfd`. Unlike `kill(pid)`, it cannot reach
/// another process that reused the pid. A zombie takes it and ignores it.
pub(crate) fn send_signal(pidfd: RawFd, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: a null siginfo means "as kill(2) would send it"; flags must be 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Reaps the child behind `pidfd` if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)`,
/// Linux 5.4): `None` while it runs.
pub(crate) fn try_reap(pidfd: &impl AsRawFd) -> io::Result<Option<ExitStatus>> {
    reap(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t)
}

/// As [`try_reap`], by pid: for the children whose pidfd is gone (see `orphans`). Safe for
/// the same reason as [`open`]: nobody else reaps our children, so the pid is still theirs.
pub(crate) fn try_reap_pid(pid: u32) -> io::Result<Option<ExitStatus>> {
    reap(libc::P_PID, pid as libc::id_t)
}

fn reap(idtype: libc::idtype_t, id: libc::id_t) -> io::Result<Option<ExitStatus>> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: info is a live siginfo_t for waitid to fill; zeroed, so si_pid stays 0
        // when WNOHANG finds no exited child (POSIX leaves that case unspecified otherwise).
        let rc = unsafe { libc::waitid(idtype, id, info.as_mut_ptr(), libc::WEXITED | libc::WNOHANG) };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: zeroed and then filled by waitid: every field is initialised.
    let info = unsafe { info.assume_init() };
    // SAFETY: waitid with WEXITED fills the SIGCHLD fields read here (or leaves them 0).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    Ok((pid != 0).then(|| ExitStatus::from_raw(wait_status(info.si_code, status))))
}

/// The `waitpid`-style status word that std's `ExitStatus` decodes, from waitid's code and
/// status: an exit code in bits 8-15, or the signal in bits 0-6 (bit 7 for a core dump).
fn wait_status(code: libc::c_int, status: libc::c_int) -> libc::c_int {
    match code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => status & 0x7f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decodes_as_std_does() {
        let exited = ExitStatus::from_raw(wait_status(libc::CLD_EXITED, 3));
        assert_eq!(exited.code(), Some(3));
        let killed = ExitStatus::from_raw(wait_status(libc::CLD_KILLED, libc::SIGKILL));
        assert_eq!((killed.code(), killed.signal(), killed.core_dumped()), (None, Some(libc::SIGKILL), false));
        let dumped = ExitStatus::from_raw(wait_status(libc::CLD_DUMPED, libc::SIGSEGV));
        assert_eq!((dumped.signal(), dumped.core_dumped()), (Some(libc::SIGSEGV), true));
    }
}
