//! Runtimes on the driver under test (CI runs the suite once per `RINGPOLL_DRIVER`).

use std::future::Future;
use std::time::Duration;

use ringpoll::{DriverChoice, JoinHandle, Runtime};

use super::fds::assert_no_fd_leak;

/// The driver under test.
pub fn driver() -> DriverChoice {
    DriverChoice::from_env().expect("RINGPOLL_DRIVER")
}

/// Runs `f` to completion on a one-core runtime of its own, on the driver under test.
pub fn run<F: Future>(f: F) -> F::Output {
    ringpoll::try_block_on(driver(), f).expect("block_on")
}

/// As [`run`], and checks that `f` and its runtime left no descriptor open.
pub fn run_leak_free<F: Future>(f: F) -> F::Output {
    let mut out = None;
    assert_no_fd_leak(|| out = Some(run(f)));
    out.expect("run returns")
}

/// A runtime of one core, on CPU 0.
pub fn one_core_runtime() -> Runtime {
    Runtime::builder().cores([0]).driver(driver()).build().expect("runtime")
}

/// A runtime on CPUs 0 and 1 (or 0 alone on a one-CPU machine).
pub fn two_core_runtime() -> Runtime {
    let cpus: Vec<usize> = if num_cpus() >= 2 { vec![0, 1] } else { vec![0, 0] };
    Runtime::builder().cores(cpus).driver(driver()).build().expect("runtime")
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Awaits `f` on a core, failing (rather than hang) if it takes more than ten seconds:
/// for every wait in a test that a lost wake or a missed completion would make endless.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    ringpoll::time::timeout(Duration::from_secs(10), f).await.expect("a bounded wait took more than 10 s")
}

/// Joins a task from the test thread, failing (instead of hanging) after `secs`.
pub fn join_within<T: Send + 'static>(handle: JoinHandle<T>, secs: u64) -> T {
    within(secs, move || handle.join()).expect("task failed")
}

/// Runs `f` on a thread of its own and returns its output, failing (rather than hang)
/// unless it returns within `secs`; a panic in `f` fails the caller too.
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out,
        // The sender is gone without a value: `f` panicked.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it returns"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {secs} s: a wake-up was lost, or a wait has no bound")
        }
    }
}
