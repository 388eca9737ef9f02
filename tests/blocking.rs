//! spawn_blocking: the core keeps running while a job blocks, panics become JoinErrors, the
//! waiting task resumes on its own core, shutdown never hangs on a stuck job.

mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
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

/// Pool threads of this process whose name starts with `prefix` (each test names its pool).
fn threads_named(prefix: &str) -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// `threads_named(prefix)` once it is down to `at_most`, or as it is after `secs` seconds.
fn threads_settled(prefix: &str, at_most: usize, secs: u64) -> usize {
    let give_up = Instant::now() + Duration::from_secs(secs);
    while threads_named(prefix) > at_most && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    threads_named(prefix)
}

/// A job that records whether it ran and whether it was dropped (run or not).
struct Probe {
    ran: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

impl Probe {
    fn new() -> (Probe, Arc<AtomicBool>, Arc<AtomicBool>) {
        let (ran, dropped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        (Probe { ran: ran.clone(), dropped: dropped.clone() }, ran, dropped)
    }

    fn run(self) -> u32 {
        self.ran.store(true, SeqCst);
        42
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.dropped.store(true, SeqCst);
    }
}

/// The defect this fixes: a job queued through a handle that outlived its runtime still ran,
/// on a thread started for it. As tokio's, it is now dropped unrun and its handle says
/// Cancelled, and no thread is started.
#[test]
fn a_job_queued_after_the_runtime_is_dropped_is_cancelled_and_never_runs() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("late-drop").build().unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    let (probe, ran, dropped) = Probe::new();
    let job = handle.spawn_blocking(move || probe.run());
    assert!(dropped.load(SeqCst), "the job was not dropped at once");
    assert!(job.is_finished(), "the handle of a refused job is complete at once");
    assert!(matches!(within(10, move || job.join()), Err(JoinError::Cancelled)));
    assert!(!ran.load(SeqCst), "a job queued after the shutdown ran");
    assert_eq!(threads_named("late-drop"), 0, "a thread was started for a refused job");
}

/// The same after `Runtime::wait`, the handle awaited on a core of another runtime and under
/// `block_on`.
#[test]
fn a_job_queued_after_the_runtime_was_waited_for_is_cancelled_on_a_core_and_under_block_on() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("late-wait").build().unwrap();
    let handle = rt.handle().clone();
    handle.shutdown_gracefully(Duration::from_secs(5));
    within(10, move || rt.wait());
    let (probe, ran, _) = Probe::new();
    let late = handle.spawn_blocking(move || probe.run());
    assert!(matches!(run(async { bounded(late).await }), Err(JoinError::Cancelled)));
    let other = one_core_runtime();
    let (probe, ran_too, _) = Probe::new();
    let on_core = other.spawn_on(0, move || async move { bounded(handle.spawn_blocking(move || probe.run())).await });
    assert!(matches!(join_within(on_core, 10), Err(JoinError::Cancelled)));
    assert!(!ran.load(SeqCst) && !ran_too.load(SeqCst), "a job queued after the shutdown ran");
    assert_eq!(threads_named("late-wait"), 0, "a thread was started for a refused job");
}

/// A job running when its runtime is dropped may queue more: that work is refused too, and
/// the handle it held (the last one) is dropped on its pool thread without harm.
#[test]
fn a_running_job_that_queues_more_after_the_runtime_is_dropped_gets_cancelled() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name("late-job").build().unwrap();
    let (started_tx, started) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel::<()>();
    let (out_tx, out) = mpsc::channel();
    rt.handle()
        .spawn_blocking(move || {
            started_tx.send(()).unwrap();
            dropped.recv_timeout(Duration::from_secs(10)).expect("the runtime was dropped");
            let (probe, ran, _) = Probe::new();
            let nested = ringpoll::Handle::current().spawn_blocking(move || probe.run()).join();
            let _ = out_tx.send((nested.map_err(|e| e.is_cancelled()), ran.load(SeqCst)));
        })
        .detach();
    started.recv_timeout(Duration::from_secs(10)).expect("the job started");
    drop(rt); // does not wait for the job (no graceful shutdown was started)
    dropped_tx.send(()).unwrap();
    let (nested, ran) = out.recv_timeout(Duration::from_secs(10)).expect("the job finished");
    assert_eq!(nested, Err(true), "the nested job was not cancelled");
    assert!(!ran, "a job queued after the shutdown ran");
    assert_eq!(threads_settled("late-job", 0, 5), 0, "the pool thread outlived its job");
}

/// Idle pool threads exit when the runtime goes, long before their keep-alive, though a
/// handle (which keeps the pool's bookkeeping, no thread) is still held.
#[test]
fn idle_pool_threads_exit_with_the_runtime_while_a_handle_is_kept() {
    let rt = Runtime::builder()
        .cores([0])
        .driver(driver())
        .blocking_thread_name("idle-kept")
        .blocking_keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            handle.spawn_blocking(move || barrier.wait().is_leader())
        })
        .collect();
    let leaders = within(10, move || jobs.into_iter().map(|j| j.join().expect("job ran")).filter(|l| *l).count());
    assert_eq!(leaders, 1);
    assert_eq!(threads_named("idle-kept"), 3, "three idle threads wait for work");
    drop(rt);
    assert_eq!(threads_settled("idle-kept", 0, 5), 0, "idle pool threads outlived the runtime");
    assert_eq!(handle.core_count(), 1, "the handle is still usable");
}

/// `block_on`'s own pool refuses work once `block_on` has returned, as a runtime's does: a
/// job that outlived it (past the second it is given) and queues another gets Cancelled.
#[test]
fn a_job_that_outlives_block_on_and_queues_another_gets_cancelled() {
    let (returned_tx, returned) = mpsc::channel::<()>();
    let (out_tx, out) = mpsc::channel();
    let (started_tx, started) = mpsc::channel();
    run(async move {
        ringpoll::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            returned.recv_timeout(Duration::from_secs(10)).expect("block_on returned");
            let (probe, ran, _) = Probe::new();
            let nested = ringpoll::spawn_blocking(move || probe.run()).join();
            let _ = out_tx.send((nested.map_err(|e| e.is_cancelled()), ran.load(SeqCst)));
        })
        .detach();
        // Started before block_on returns, so the job is running, not queued, at its end.
        bounded(ringpoll::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10))))
            .await
            .unwrap()
            .unwrap();
    });
    returned_tx.send(()).unwrap();
    let (nested, ran) = out.recv_timeout(Duration::from_secs(10)).expect("the job finished");
    assert_eq!(nested, Err(true), "the nested job was not cancelled");
    assert!(!ran, "a job queued after block_on returned ran");
}
