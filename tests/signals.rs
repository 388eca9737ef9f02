//! Any signal awaited on any core: raised by the test itself, bounded by timeouts.

use std::time::Duration;

mod support;

use ringpoll::signal::Signal;
use ringpoll::time::timeout;
use support::*;

#[test]
fn sigusr1_raised_on_this_core_is_received() {
    run(async {
        let mut usr1 = Signal::new(libc::SIGUSR1).unwrap();
        assert_eq!(usr1.signo(), libc::SIGUSR1);
        let waiting = timeout(Duration::from_millis(50), usr1.recv()).await;
        assert!(waiting.is_err(), "nothing raised yet, nothing received");
        // SAFETY: raise takes no pointers; the handler is installed, so the process lives on.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        let n = timeout(Duration::from_secs(10), usr1.recv()).await.expect("SIGUSR1 within 10 s");
        assert!(n >= 1);
    });
}

#[test]
fn sighup_sent_to_the_process_wakes_a_task_on_another_core() {
    let rt = two_core_runtime();
    let waiter = rt.spawn_on(1, || async {
        let mut hup = Signal::new(libc::SIGHUP).unwrap();
        // The test thread sends SIGHUP once the handler is in, until this task sees one.
        timeout(Duration::from_secs(10), hup.recv()).await.is_ok()
    });
    let pid = std::process::id() as libc::pid_t;
    for _ in 0..200 {
        if waiter.is_finished() {
            break;
        }
        // Sending before the core installed the handler would end the process.
        if hup_is_caught() {
            // SAFETY: kill takes no pointers; SIGHUP has a handler now.
            unsafe { libc::kill(pid, libc::SIGHUP) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(join_within(waiter, 30), "SIGHUP reached the task on core 1");
}

/// Whether SIGHUP is caught (its disposition is no longer the default), so sending it is safe.
fn hup_is_caught() -> bool {
    // SAFETY: sigaction is plain data; all zeroes is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`, a live local.
    unsafe { libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) };
    old.sa_sigaction != libc::SIG_DFL
}

#[test]
fn signals_that_cannot_be_caught_are_invalid_input() {
    for signo in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -1, 65, 1000] {
        let err = Signal::new(signo).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {signo}: {err}");
    }
}
