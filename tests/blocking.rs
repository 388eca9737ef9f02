//! spawn_blocking: the core keeps running while a job blocks, panics become JoinErrors, the
//! waiting task resumes on its own core, shutdown never hangs on a stuck job.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringpoll::{JoinError, Runtime};
use support::*;

fn run<F: std::future::Future>(f: F) -> F::Output {
    ringpoll::try_block_on(driver(), f).expect("block_on")
}

#[test]
fn a_blocking_job_does_not_stall_the_cores_timers() {
    run(async {
        let start = Instant::now();
        let job = ringpoll::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
        ringpoll::time::sleep(Duration::from_millis(5)).await;
        let timer = start.elapsed();
        assert!(timer < Duration::from_millis(200), "a 5 ms timer fired after {timer:?}: the core was blocked");
        ringpoll::time::timeout(Duration::from_secs(10), job).await.expect("job finished").expect("no panic");
        assert!(start.elapsed() >= Duration::from_millis(300));
    });
}

#[test]
fn a_panic_in_the_job_is_a_join_error_and_the_core_goes_on() {
    run(async {
        let err = ringpoll::spawn_blocking(|| -> u32 { panic!("bad config") }).await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: bad config");
        assert_eq!(ringpoll::spawn_blocking(|| 7).await.unwrap(), 7);
    });
}

#[test]
fn abort_before_the_job_starts_cancels_it() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_threads(1).build().unwrap();
    let out = rt
        .spawn_on(0, || async {
            let (release, wait) = mpsc::channel::<()>();
            let busy = ringpoll::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(10)).is_ok());
            let queued = ringpoll::spawn_blocking(|| 1);
            queued.abort();
            release.send(()).unwrap();
            assert!(busy.await.unwrap(), "the busy job was released");
            queued.await
        })
        .join()
        .unwrap();
    assert!(matches!(out, Err(JoinError::Cancelled)));
}

#[test]
fn the_waiting_task_resumes_on_its_own_core() {
    let rt = two_core_runtime();
    let handles: Vec<_> = (0..rt.core_count())
        .map(|core| {
            rt.spawn_on(core, move || async move {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    let n = ringpoll::spawn_blocking(|| std::thread::current().name().map(str::to_owned)).await;
                    assert!(n.unwrap().unwrap().starts_with("ringpoll-blocking-"));
                    seen.push(ringpoll::current_core());
                }
                (core, seen)
            })
        })
        .collect();
    for h in handles {
        let (core, seen) = h.join().unwrap();
        assert!(seen.iter().all(|c| *c == Some(core)), "core {core} resumed on {seen:?}");
    }
}

#[test]
fn pool_threads_are_not_pinned_to_a_cores_cpu() {
    if num_cpus() < 2 {
        return;
    }
    let rt = Runtime::builder().cores([0]).driver(driver()).build().unwrap();
    let cpus = rt
        .spawn_on(0, || async {
            ringpoll::spawn_blocking(|| {
                // SAFETY: an all-zero cpu_set_t is valid; getaffinity fills the live set.
                let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                // SAFETY: set is a live cpu_set_t of the size passed.
                unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
                // SAFETY: set is initialised.
                unsafe { libc::CPU_COUNT(&set) }
            })
            .await
        })
        .join()
        .unwrap()
        .unwrap();
    assert!(cpus >= 2, "a pool thread inherited the core's one-CPU affinity ({cpus} CPUs)");
}

#[test]
fn many_jobs_beyond_the_thread_bound_all_complete() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_threads(2).build().unwrap();
    let total = rt
        .spawn_on(0, || async {
            let jobs: Vec<_> = (0..50u64)
                .map(|i| {
                    ringpoll::spawn_blocking(move || {
                        std::thread::sleep(Duration::from_millis(1));
                        i
                    })
                })
                .collect();
            let mut total = 0;
            for j in jobs {
                total += j.await.unwrap();
            }
            total
        })
        .join()
        .unwrap();
    assert_eq!(total, (0..50).sum::<u64>());
}

#[test]
fn graceful_shutdown_never_hangs_on_a_stuck_job() {
    let rt = Runtime::builder().cores([0]).driver(driver()).build().unwrap();
    let (_keep, stuck) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    rt.spawn_on(0, move || async move {
        let job = ringpoll::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            let _ = stuck.recv_timeout(Duration::from_secs(30));
        });
        job.detach();
    })
    .join()
    .unwrap();
    started.recv_timeout(Duration::from_secs(5)).expect("job started");
    let start = Instant::now();
    rt.shutdown_gracefully(Duration::from_millis(200));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?} with a stuck job");
}

#[test]
fn graceful_shutdown_waits_for_a_running_job() {
    let rt = Runtime::builder().cores([0]).driver(driver()).build().unwrap();
    let (done_tx, done) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    rt.spawn_on(0, move || async move {
        ringpoll::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            done_tx.send(()).unwrap();
        })
        .detach();
    })
    .join()
    .unwrap();
    started.recv_timeout(Duration::from_secs(5)).expect("job started");
    rt.shutdown_gracefully(Duration::from_secs(5));
    assert!(done.try_recv().is_ok(), "shutdown returned before the running job finished");
}

/// The name of the calling thread, for telling pool threads from the rest.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("unnamed").to_owned()
}

#[test]
fn spawn_blocking_inside_a_blocking_job_queues_on_the_same_pool() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("nested").build().unwrap();
    let (outer, inner) = join_within(
        rt.spawn_on(0, || async {
            let job = ringpoll::spawn_blocking(|| {
                // On a pool thread, not a core: this used to panic ("outside a ringpoll core").
                let inner = ringpoll::spawn_blocking(thread_name).join().expect("inner job ran");
                (thread_name(), inner)
            });
            bounded(job).await.expect("outer job ran")
        }),
        10,
    );
    assert!(outer.starts_with("nested-") && inner.starts_with("nested-"), "ran on {outer} and {inner}");
    assert_ne!(outer, inner, "the inner job ran on a second pool thread while the outer one waited");
}

#[test]
fn spawn_blocking_inside_a_block_on_job_queues_on_its_pool() {
    let inner = run(async {
        let job = ringpoll::spawn_blocking(|| ringpoll::spawn_blocking(|| 6 * 7).join().expect("inner job ran"));
        bounded(job).await.expect("outer job ran")
    });
    assert_eq!(inner, 42);
}

#[test]
fn spawn_blocking_on_a_plain_thread_still_panics() {
    let err = std::thread::spawn(|| ringpoll::spawn_blocking(|| 1).detach()).join().expect_err("it panics");
    let message = err.downcast_ref::<&str>().copied().or(err.downcast_ref::<String>().map(String::as_str));
    assert_eq!(message, Some("ringpoll::spawn_blocking called outside a ringpoll core or blocking job"));
}

#[test]
fn handle_spawn_blocking_from_a_plain_thread_is_joined_there() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("plain").build().unwrap();
    let handle = rt.handle().clone();
    let (name, has_handle, core) = within(10, move || {
        let job = handle.spawn_blocking(|| {
            // Long enough that join parks before the output is there: the wake must reach it.
            std::thread::sleep(Duration::from_millis(50));
            (thread_name(), ringpoll::Handle::try_current().is_some(), ringpoll::current_core())
        });
        job.join().expect("job ran")
    });
    assert!(name.starts_with("plain-"), "ran on {name}");
    assert!(has_handle, "the job runs with the runtime's handle");
    assert_eq!(core, None, "the job ran on a pool thread, not a core");
}

#[test]
// Core 0's task yields the job's handle on purpose: core 1 awaits it.
#[allow(clippy::async_yields_async)]
fn a_job_spawned_from_one_core_is_awaited_on_another() {
    let rt = two_core_runtime();
    let (release, wait) = mpsc::channel::<()>();
    let job = join_within(
        rt.spawn_on(0, move || async move {
            ringpoll::Handle::current().spawn_blocking(move || {
                wait.recv_timeout(Duration::from_secs(10)).expect("released");
                thread_name()
            })
        }),
        10,
    );
    let waiter = rt.spawn_on(1, move || async move {
        let out = bounded(job).await;
        (out, ringpoll::current_core())
    });
    // The waiter polls first and parks; only then does the job finish, from a pool thread.
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished(), "the job cannot have finished before its release");
    release.send(()).unwrap();
    let (out, core) = join_within(waiter, 10);
    assert!(out.expect("job ran").starts_with("ringpoll-blocking-"));
    assert_eq!(core, Some(1), "the waiter resumed on its own core");
}

#[test]
fn a_handle_that_outlives_its_runtime_still_runs_blocking_jobs() {
    let rt = one_core_runtime();
    let handle = rt.handle().clone();
    drop(rt);
    // As documented on Handle::spawn_blocking: the pool is shut down, but a job it is given
    // runs on a thread started for it, and its thread exits afterwards.
    let out = within(10, move || handle.spawn_blocking(|| (thread_name(), 6 * 7)).join().expect("job ran"));
    assert!(out.0.starts_with("ringpoll-blocking-"), "ran on {}", out.0);
    assert_eq!(out.1, 42);
}
