//! `Builder::batch_scheduling`: core threads run under `SCHED_BATCH` when asked, under the
//! normal policy otherwise, and cross-core wakes still arrive either way.

mod support;

use ringpoll::channel::cross_core;
use ringpoll::Runtime;
use support::*;

/// The scheduling policy of every core thread, read from a task on each core.
fn policies(rt: &Runtime) -> Vec<i32> {
    // SAFETY: sched_getscheduler reads the calling thread's policy (pid 0); no memory passed.
    let handles = rt.run_on_each_core(|_core| async { unsafe { libc::sched_getscheduler(0) } });
    handles.into_iter().map(|h| join_within(h, 10)).collect()
}

fn two_cores() -> Vec<usize> {
    if num_cpus() >= 2 {
        vec![0, 1]
    } else {
        vec![0, 0]
    }
}

#[test]
fn cores_run_under_sched_batch_only_when_asked() {
    let batch = Runtime::builder().cores(two_cores()).driver(driver()).batch_scheduling(true).build().expect("runtime");
    assert_eq!(policies(&batch), vec![libc::SCHED_BATCH; 2]);
    let normal = Runtime::builder().cores(two_cores()).driver(driver()).build().expect("runtime");
    assert_eq!(policies(&normal), vec![libc::SCHED_OTHER; 2]);
}

#[test]
fn batch_cores_still_wake_each_other() {
    const ROUNDS: u64 = 5_000;
    let rt = Runtime::builder().cores(two_cores()).driver(driver()).batch_scheduling(true).build().expect("runtime");
    let (to_1, mut at_1) = cross_core::channel::<u64>(1);
    let (to_0, mut at_0) = cross_core::channel::<u64>(1);
    let echo = rt.spawn_on(1, move || async move {
        while let Some(v) = at_1.recv().await {
            to_0.send(v + 1).await.expect("pinger alive");
        }
    });
    let pinger = rt.spawn_on(0, move || async move {
        for i in 0..ROUNDS {
            to_1.send(i).await.expect("echo alive");
            assert_eq!(at_0.recv().await, Some(i + 1), "each reply answers its message");
        }
    });
    join_within(pinger, 60);
    join_within(echo, 10);
}

#[test]
fn blocking_work_from_a_batch_core_runs_under_the_builders_policy() {
    // SAFETY: as in `policies`.
    let builder_policy = unsafe { libc::sched_getscheduler(0) };
    let rt = Runtime::builder().cores([0]).driver(driver()).batch_scheduling(true).build().expect("runtime");
    let pool_policy = rt.spawn_on(0, || async {
        // SAFETY: as in `policies`.
        ringpoll::spawn_blocking(|| unsafe { libc::sched_getscheduler(0) }).await.expect("job ran")
    });
    assert_eq!(join_within(pool_policy, 10), builder_policy);
    assert_ne!(builder_policy, libc::SCHED_BATCH, "the test thread itself runs under the normal policy");
}
