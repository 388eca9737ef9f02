//! The runtime's public API for sharded services pushed at its edges, against what tokio's
//! equivalents promise: handles dropped anywhere while spawns race, shutdown with tasks that
//! will not stop, aborts mid-I/O and futures whose destructor panics, channels whose
//! receiver leaves with senders waiting or messages queued, and the single-core sync types.
//!
//! Every test takes `fd_lock`: several count descriptors or the runtime's threads, which a
//! neighbour test would disturb.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use ringpoll::channel::{cross_core, local, RecvError, TryRecvError, TrySendError};
use ringpoll::sync::{Notify, Semaphore};
use ringpoll::{Handle, JoinError, Runtime};
use support::{
    bounded, fd_lock, join_within, one_core_runtime, open_fds, pair, poll_once, run, two_core_runtime, within,
};

/// Threads of this process that the runtime starts: cores, blocking pool, shutdown waiter
/// (all named `ringpoll-*`) and io_uring's workers (`iou-*`). The test harness's own threads
/// come and go with other tests, so they are not counted.
fn runtime_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("ringpoll") || name.starts_with("iou-"))
        .count()
}

/// `count()` once it is down to `at_most`, or as it is after ten seconds.
fn settled(at_most: usize, count: impl Fn() -> usize) -> usize {
    let give_up = Instant::now() + Duration::from_secs(10);
    while count() > at_most && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    count()
}

/// Counts its drops, to show a message nobody reads is dropped (not leaked).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("a destructor that panics");
        }
    }
}

// ---------------------------------------------------------------- Handle and Runtime

#[test]
fn handles_cloned_and_dropped_on_many_threads_while_spawns_race_the_runtimes_drop() {
    race_spawns_against_the_drop(|rt| thread::spawn(move || drop(rt)).join().expect("dropped on a foreign thread"));
}

#[test]
fn spawns_race_the_runtimes_drop_inside_a_task_on_one_of_its_cores() {
    race_spawns_against_the_drop(|rt| {
        let handle = rt.handle().clone();
        let (dropped_tx, dropped_rx) = mpsc::channel();
        handle
            .spawn_on(0, move || async move {
                drop(rt); // on core 0: tells every core to stop, joins none
                let _ = dropped_tx.send(());
            })
            .detach();
        dropped_rx.recv_timeout(Duration::from_secs(10)).expect("the drop on a core returned");
    });
}

/// Eight threads clone a handle, spawn through the clone, drop it and join the task, 3,000
/// times each, while `drop_runtime` drops the runtime a few milliseconds in: every spawn
/// either runs (its output intact) or is cancelled, and none is lost.
fn race_spawns_against_the_drop(drop_runtime: fn(ringpoll::Runtime)) {
    const SPAWNS: usize = 3000;
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    let (ok, cancelled) = within(60, move || {
        let spawners: Vec<_> = (0..8)
            .map(|t| {
                let handle = handle.clone();
                thread::spawn(move || {
                    let (mut ok, mut cancelled) = (0, 0);
                    for i in 0..SPAWNS {
                        let mine = handle.clone();
                        let task = mine.spawn_on((t + i) % 2, move || async move { i });
                        drop(mine);
                        match task.join() {
                            Ok(out) => {
                                assert_eq!(out, i);
                                ok += 1;
                            }
                            Err(e) => {
                                assert!(e.is_cancelled(), "{e}");
                                cancelled += 1;
                            }
                        }
                    }
                    (ok, cancelled)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(5));
        drop_runtime(rt);
        drop(handle);
        spawners.into_iter().map(|s| s.join().expect("spawner")).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    assert_eq!(ok + cancelled, 8 * SPAWNS);
    assert!(cancelled > 0, "the runtime was dropped after every spawn had run ({ok} ran)");
}

#[test]
fn the_runtime_dropped_on_a_blocking_thread_stops_and_leaves_nothing() {
    let _guard = fd_lock();
    let (fds, threads) = (open_fds(), runtime_threads());
    let slot = Arc::new(Mutex::new(Some(two_core_runtime())));
    let (done_tx, done_rx) = mpsc::channel();
    let in_task = slot.clone();
    let rt_handle = slot.lock().unwrap().as_ref().unwrap().handle().clone();
    rt_handle
        .spawn_on(0, move || async move {
            let _ = ringpoll::spawn_blocking(move || {
                let rt = in_task.lock().unwrap().take();
                drop(rt); // joins both cores from a pool thread, then shuts the pool down
                let _ = done_tx.send(());
            })
            .await;
        })
        .detach();
    done_rx.recv_timeout(Duration::from_secs(10)).expect("the drop on a blocking thread returned");
    assert!(slot.lock().unwrap().is_none());
    let late = rt_handle.spawn_on(1, || async { 1 });
    assert!(matches!(within(10, move || late.join()), Err(JoinError::Cancelled)), "a stopped core runs nothing");
    drop(rt_handle);
    assert!(settled(threads, runtime_threads) <= threads, "runtime threads left behind");
    assert!(settled(fds, open_fds) <= fds, "descriptors left behind");
}

/// Runtime::shutdown_gracefully called by a blocking job: the pool's part of the shutdown
/// must not wait for the very thread that calls it (with an unbounded grace, for ever).
#[test]
fn runtime_shutdown_gracefully_on_a_blocking_thread_does_not_wait_for_itself() {
    let _guard = fd_lock();
    let slot = Arc::new(Mutex::new(Some(two_core_runtime())));
    let in_job = slot.clone();
    let (returned_tx, returned_rx) = mpsc::channel();
    let handle = slot.lock().unwrap().as_ref().unwrap().handle().clone();
    handle
        .spawn_on(0, move || async move {
            // Detached, so no task waits for the job and the cores can stop.
            ringpoll::spawn_blocking(move || {
                let rt = in_job.lock().unwrap().take().expect("the runtime");
                let start = Instant::now();
                let cancelled = rt.shutdown_gracefully(Duration::MAX);
                let _ = returned_tx.send((cancelled, start.elapsed()));
            })
            .detach();
        })
        .detach();
    let (cancelled, took) = returned_rx.recv_timeout(Duration::from_secs(10)).expect("the shutdown returned");
    assert_eq!(cancelled, 0);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn handle_current_is_the_runtimes_on_its_cores_and_in_its_blocking_jobs_and_none_elsewhere() {
    let _guard = fd_lock();
    assert!(Handle::try_current().is_none());
    assert!(thread::spawn(|| std::panic::catch_unwind(Handle::current).is_err()).join().unwrap());
    let rt = two_core_runtime();
    let seen = rt.spawn_on(0, || async {
        let on_core = Handle::try_current().map(|h| h.core_count());
        // As tokio's: a blocking job reaches its runtime, here to run something on core 1.
        let on_pool = ringpoll::spawn_blocking(|| {
            let handle = Handle::current();
            let core = handle.spawn_on(1, || async { ringpoll::current_core() }).join();
            (handle.core_count(), core.expect("ran on core 1"))
        });
        (on_core, bounded(on_pool).await.expect("no panic"))
    });
    assert_eq!(join_within(seen, 10), (Some(2), (2, Some(1))));
    // block_on has no runtime, so neither do its blocking jobs.
    let under_block_on = run(async { bounded(ringpoll::spawn_blocking(Handle::try_current)).await.unwrap() });
    assert!(under_block_on.is_none());
}

/// A blocking job can shut its runtime down through `Handle::current`, and the runtime's
/// wait does not wait for that very job past its grace.
#[test]
fn a_blocking_job_starts_the_graceful_shutdown_through_handle_current() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let (asked_tx, asked_rx) = mpsc::channel();
    rt.spawn_on(0, move || async move {
        ringpoll::spawn_blocking(move || {
            Handle::current().shutdown_gracefully(Duration::from_secs(5));
            let _ = asked_tx.send(());
        })
        .detach();
    })
    .detach();
    asked_rx.recv_timeout(Duration::from_secs(10)).expect("the job asked for the shutdown");
    let start = Instant::now();
    within(10, move || rt.wait());
    assert!(start.elapsed() < Duration::from_secs(4), "wait took {:?}", start.elapsed());
}

#[test]
fn graceful_shutdown_ends_in_bounded_time_whatever_the_tasks_do() {
    let _guard = fd_lock();
    let (fds, threads) = (open_fds(), runtime_threads());
    let rt = two_core_runtime();
    // Core 0: a task that never stops spawning tasks.
    rt.spawn_on(0, || async {
        loop {
            ringpoll::spawn(ringpoll::yield_now()).detach();
            ringpoll::yield_now().await;
        }
    })
    .detach();
    // Core 1: a sleep far past the grace, and a blocking job past it too.
    let sleeper = rt.spawn_on(1, || async { ringpoll::time::sleep(Duration::from_secs(60)).await });
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let waiter = rt.spawn_on(1, move || async move {
        ringpoll::spawn_blocking(move || {
            let _ = started_tx.send(());
            release_rx.recv_timeout(Duration::from_secs(20))
        })
        .await
    });
    started_rx.recv_timeout(Duration::from_secs(10)).expect("the blocking job started");
    let handle = rt.handle().clone();
    let start = Instant::now();
    handle.shutdown_gracefully(Duration::from_millis(200));
    handle.shutdown_gracefully(Duration::from_secs(3600)); // a second request does nothing
    within(10, move || rt.wait());
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "the grace was not given: {took:?}");
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert!(matches!(join_within_result(sleeper), Err(JoinError::Cancelled)));
    assert!(matches!(join_within_result(waiter), Err(JoinError::Cancelled)));
    // A spawn after the shutdown says so at once instead of hanging.
    let late = handle.spawn_on(0, || async { 1 });
    assert!(matches!(join_within_result(late), Err(JoinError::Cancelled)));
    drop(handle);
    drop(release_tx); // the stuck job ends; its pool thread, told to stop, exits
    assert!(settled(threads, runtime_threads) <= threads, "runtime threads left behind");
    assert!(settled(fds, open_fds) <= fds, "descriptors left behind");
}

/// The defect this fixes: after `Handle::shutdown_gracefully(grace)`, `Runtime::wait`
/// joined the cores and then gave the blocking pool no time at all (only
/// `Runtime::shutdown_gracefully` gave it the rest of the grace), so a detached job, a
/// write say, was cut off when the process exited right after. Now both give queued and
/// running jobs the rest of the grace, as tokio's `shutdown_timeout`.
#[test]
fn wait_after_a_handles_graceful_shutdown_lets_blocking_jobs_finish_within_the_grace() {
    let _guard = fd_lock();
    let rt = ringpoll::Runtime::builder().cores([0]).driver(support::driver()).blocking_threads(1).build().unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let in_task = finished.clone();
    rt.spawn_on(0, move || async move {
        let running = in_task.clone();
        ringpoll::spawn_blocking(move || {
            let _ = started_tx.send(());
            thread::sleep(Duration::from_millis(300));
            running.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        // One pool thread: this one waits in the queue behind the first.
        ringpoll::spawn_blocking(move || in_task.fetch_add(1, Ordering::SeqCst)).detach();
    })
    .detach();
    started_rx.recv_timeout(Duration::from_secs(10)).expect("the first job started");
    let start = Instant::now();
    rt.handle().shutdown_gracefully(Duration::from_secs(8));
    within(20, move || rt.wait());
    let took = start.elapsed();
    assert_eq!(finished.load(Ordering::SeqCst), 2, "wait returned before the blocking jobs finished");
    assert!(took < Duration::from_secs(5), "waited out the grace instead of the jobs: {took:?}");
}

/// Starts a blocking job on `rt` that runs until the returned sender is dropped (30 s at
/// most), from a task that then starts a graceful shutdown with `grace` if given; returns
/// once the job runs.
fn start_a_stuck_blocking_job(rt: &Runtime, grace: Option<Duration>) -> mpsc::Sender<()> {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    rt.spawn_on(0, move || async move {
        ringpoll::spawn_blocking(move || {
            let _ = started_tx.send(());
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        })
        .detach();
        if let Some(grace) = grace {
            Handle::current().shutdown_gracefully(grace);
        }
    })
    .detach();
    started_rx.recv_timeout(Duration::from_secs(10)).expect("the job started");
    release_tx
}

/// The other half: a job that never returns holds the wait up for the grace, never longer.
#[test]
fn wait_after_a_handles_graceful_shutdown_leaves_a_stuck_blocking_job_at_the_grace() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let release_tx = start_a_stuck_blocking_job(&rt, None);
    let start = Instant::now();
    rt.handle().shutdown_gracefully(Duration::from_millis(400));
    within(10, move || rt.wait());
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(350), "the blocking job got no grace: {took:?}");
    assert!(took < Duration::from_secs(3), "waited past the grace: {took:?}");
    drop(release_tx);
}

/// The defect this fixes: each `Handle::shutdown_gracefully` started its waiting thread
/// and only that thread claimed the shutdown, so of two calls in a row the second (here an
/// hour's grace) could win the race and the first's grace was ignored.
#[test]
fn the_first_graceful_shutdown_request_is_the_one_that_counts() {
    let _guard = fd_lock();
    for round in 0..10 {
        let rt = one_core_runtime();
        let sleeper = rt.spawn_on(0, || async { ringpoll::time::sleep(Duration::from_secs(60)).await });
        let handle = rt.handle().clone();
        let start = Instant::now();
        handle.shutdown_gracefully(Duration::from_millis(20));
        handle.shutdown_gracefully(Duration::from_secs(3600));
        let (stopped_tx, stopped_rx) = mpsc::channel();
        thread::spawn(move || {
            rt.wait();
            let _ = stopped_tx.send(());
        });
        let stopped = stopped_rx.recv_timeout(Duration::from_secs(5));
        assert!(stopped.is_ok(), "round {round}: still running {:?} after a 20 ms grace", start.elapsed());
        assert!(matches!(join_within_result(sleeper), Err(JoinError::Cancelled)));
    }
}

/// A task's outcome, joined from the test thread within ten seconds.
fn join_within_result<T: Send + 'static>(task: ringpoll::JoinHandle<T>) -> Result<T, JoinError> {
    within(10, move || task.join())
}

#[test]
fn a_graceful_shutdown_with_nothing_left_to_run_ends_before_its_grace() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    assert_eq!(join_within(rt.spawn_on(1, || async { 1 }), 10), 1);
    let start = Instant::now();
    rt.handle().shutdown_gracefully(Duration::from_secs(20));
    within(30, move || rt.wait());
    assert!(start.elapsed() < Duration::from_secs(5), "waited out the grace: {:?}", start.elapsed());
}

/// The defect this fixes: `Runtime::shutdown_gracefully` called by a task waited on its own
/// core, so that core's tasks could not finish in the grace (they were all cancelled), the
/// caller counted itself as a task to wait for, and a grace of `Duration::MAX` never ended.
#[test]
fn runtime_shutdown_gracefully_on_its_own_core_lets_that_cores_tasks_finish() {
    let _guard = fd_lock();
    let (fds, threads) = (open_fds(), runtime_threads());
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let in_task = slot.clone();
    let short = handle.spawn_on(0, || async {
        ringpoll::time::sleep(Duration::from_millis(50)).await;
        3
    });
    let (returned_tx, returned_rx) = mpsc::channel();
    handle
        .spawn_on(0, move || async move {
            let rt = in_task.lock().unwrap().take().expect("the runtime");
            let start = Instant::now();
            let cancelled = rt.shutdown_gracefully(Duration::MAX);
            let _ = returned_tx.send((cancelled, start.elapsed()));
        })
        .detach();
    let (cancelled, took) = returned_rx.recv_timeout(Duration::from_secs(10)).expect("the call returned");
    assert_eq!(cancelled, 0, "nothing is known to be cancelled yet");
    assert!(took < Duration::from_secs(1), "the call stalled its core for {took:?}");
    assert_eq!(join_within_result(short).expect("the task on the caller's core finished"), 3);
    // Every task is done, so the unbounded grace ends and the cores stop.
    let late = || handle.spawn_on(1, || async { 1 }).join();
    let give_up = Instant::now() + Duration::from_secs(10);
    while late().is_ok() && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(late(), Err(JoinError::Cancelled)), "the cores never stopped");
    drop(handle);
    assert!(settled(threads, runtime_threads) <= threads, "runtime threads left behind");
    assert!(settled(fds, open_fds) <= fds, "descriptors left behind");
}

/// The defect this fixes: the graceful shutdown counted the cores' live tasks as soon as it
/// had sent them its Drain, before a core busy with earlier mail had made the tasks spawned
/// ahead of it; with none counted it stopped at once, and such a task was cancelled without
/// any grace. The shutdown now waits (up to the grace) for each core to reach its Drain.
#[test]
fn a_task_spawned_before_a_graceful_shutdown_gets_the_grace_though_its_core_was_busy() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let late = rt.spawn_on(1, || {
        // Core 1 runs this before the task exists, so for now it counts no live task.
        thread::sleep(Duration::from_millis(200));
        async {
            ringpoll::time::sleep(Duration::from_millis(50)).await;
            5
        }
    });
    rt.handle().shutdown_gracefully(Duration::from_secs(8));
    let start = Instant::now();
    within(20, move || rt.wait());
    assert_eq!(join_within_result(late).expect("the task spawned first was given the grace"), 5);
    assert!(start.elapsed() < Duration::from_secs(5), "waited out the grace: {:?}", start.elapsed());
}

/// The defect this fixes: a graceful shutdown started by a task, then the runtime dropped
/// (nobody calls `wait`): the drop stopped the cores at once and gave the blocking pool no
/// time, so a task due to finish in the grace was cancelled and a running job (a write, say)
/// was cut off when the process exited. The drop now lets the shutdown under way finish, as
/// `wait` does: tasks get the grace, blocking jobs what is left of it.
#[test]
fn dropping_the_runtime_during_a_graceful_shutdown_lets_tasks_and_blocking_jobs_finish() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let finished = Arc::new(AtomicUsize::new(0));
    let in_job = finished.clone();
    let (asked_tx, asked_rx) = mpsc::channel();
    let short = rt.spawn_on(0, move || async move {
        ringpoll::spawn_blocking(move || {
            thread::sleep(Duration::from_millis(300));
            in_job.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        Handle::current().shutdown_gracefully(Duration::from_secs(8));
        let _ = asked_tx.send(());
        ringpoll::time::sleep(Duration::from_millis(100)).await;
        3
    });
    asked_rx.recv_timeout(Duration::from_secs(10)).expect("the task asked for the shutdown");
    let start = Instant::now();
    within(20, move || drop(rt));
    let took = start.elapsed();
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the drop cut the running blocking job off");
    assert_eq!(join_within_result(short).expect("the task finished in the grace"), 3);
    assert!(took < Duration::from_secs(5), "the drop waited out the grace instead of the work: {took:?}");
}

/// The other half: with a job that never returns the drop waits for the grace, no longer.
#[test]
fn dropping_the_runtime_during_a_graceful_shutdown_leaves_a_stuck_job_at_the_grace() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let release_tx = start_a_stuck_blocking_job(&rt, Some(Duration::from_millis(400)));
    let start = Instant::now();
    within(10, move || drop(rt));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "the blocking job got no grace: {took:?}");
    assert!(took < Duration::from_secs(3), "the drop waited past the grace: {took:?}");
    drop(release_tx);
}

/// With no graceful shutdown under way, a drop stops at once and does not wait for a running
/// blocking job (tokio's `shutdown_background`, not tokio's drop, which would wait without
/// bound): the job's thread finishes it, detached, and then exits.
#[test]
fn a_plain_drop_does_not_wait_for_a_running_blocking_job_which_still_finishes() {
    let _guard = fd_lock();
    let threads = runtime_threads();
    let rt = one_core_runtime();
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    rt.handle()
        .spawn_blocking(move || {
            let _ = started_tx.send(());
            let released = release_rx.recv_timeout(Duration::from_secs(20)).is_ok();
            let _ = done_tx.send(released);
        })
        .detach();
    started_rx.recv_timeout(Duration::from_secs(10)).expect("the job started");
    let start = Instant::now();
    within(10, move || drop(rt));
    assert!(start.elapsed() < Duration::from_secs(2), "the drop waited for the job: {:?}", start.elapsed());
    release_tx.send(()).expect("the job still runs after the drop");
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)), Ok(true), "the job was not finished");
    assert!(settled(threads, runtime_threads) <= threads, "the job's thread outlived it");
}

/// `Runtime::shutdown` is the way to stop at once, graceful shutdown under way or not.
#[test]
fn runtime_shutdown_stops_at_once_even_during_a_graceful_shutdown() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let sleeper = rt.spawn_on(0, || async { ringpoll::time::sleep(Duration::from_secs(60)).await });
    rt.handle().shutdown_gracefully(Duration::from_secs(60));
    let start = Instant::now();
    within(10, move || rt.shutdown());
    assert!(start.elapsed() < Duration::from_secs(3), "shutdown waited {:?}", start.elapsed());
    assert!(matches!(join_within_result(sleeper), Err(JoinError::Cancelled)));
}

/// Dropped on one of its own cores during a graceful shutdown, the runtime cannot wait
/// there: the grace still runs, and a task finishing in it may still use the blocking pool
/// (refused only once the cores have stopped); afterwards no runtime thread is left.
#[test]
fn the_runtime_dropped_on_its_own_core_during_a_graceful_shutdown_keeps_the_pool_for_the_grace() {
    let _guard = fd_lock();
    let threads = runtime_threads();
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    let slot = Arc::new(Mutex::new(Some(rt)));
    let late_job = handle.spawn_on(1, || async {
        ringpoll::time::sleep(Duration::from_millis(200)).await;
        bounded(ringpoll::spawn_blocking(|| 7)).await
    });
    let (dropped_tx, dropped_rx) = mpsc::channel();
    handle
        .spawn_on(0, move || async move {
            Handle::current().shutdown_gracefully(Duration::from_secs(8));
            let rt = slot.lock().unwrap().take();
            drop(rt); // on core 0: must neither wait here nor close the pool before the grace
            let _ = dropped_tx.send(());
        })
        .detach();
    dropped_rx.recv_timeout(Duration::from_secs(5)).expect("the drop on a core returned");
    let out = join_within_result(late_job).expect("the task finished in the grace");
    assert_eq!(out.expect("its blocking job ran"), 7);
    // Every task is done, so the cores stop before the grace; the thread the drop started
    // joins them, closes the pool and exits, and then the pool refuses work.
    assert!(settled(threads, runtime_threads) <= threads, "runtime threads left behind");
    assert!(matches!(join_within_result(handle.spawn_blocking(|| 1)), Err(JoinError::Cancelled)));
}

/// `Runtime::wait` on one of its own cores, with no shutdown started, returns at once and
/// stops the runtime as a drop there does (it cannot wait there for a shutdown to come).
#[test]
fn runtime_wait_on_its_own_core_returns_and_stops_the_runtime_as_a_drop() {
    let _guard = fd_lock();
    let threads = runtime_threads();
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    let (returned_tx, returned_rx) = mpsc::channel();
    handle
        .spawn_on(0, move || async move {
            let start = Instant::now();
            rt.wait();
            let _ = returned_tx.send(start.elapsed());
        })
        .detach();
    let took = returned_rx.recv_timeout(Duration::from_secs(10)).expect("wait on a core returned");
    assert!(took < Duration::from_secs(1), "wait stalled its core for {took:?}");
    let give_up = Instant::now() + Duration::from_secs(10);
    while handle.spawn_on(1, || async {}).join().is_ok() && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(join_within_result(handle.spawn_on(1, || async { 1 })), Err(JoinError::Cancelled)));
    assert!(settled(threads, runtime_threads) <= threads, "runtime threads left behind");
    // The pool closes after the cores, on the finishing thread; the count above may settle
    // early when another test's runtime ends meanwhile, so the pool gets its own bound.
    let give_up = Instant::now() + Duration::from_secs(10);
    while join_within_result(handle.spawn_blocking(|| 1)).is_ok() && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(join_within_result(handle.spawn_blocking(|| 1)), Err(JoinError::Cancelled)));
}

/// Dropped by one of its own blocking jobs during a graceful shutdown with no end, the
/// runtime waits for its cores and its other jobs, never for the job that drops it.
#[test]
fn the_runtime_dropped_in_its_own_blocking_job_during_an_endless_grace_returns() {
    let _guard = fd_lock();
    let slot = Arc::new(Mutex::new(Some(two_core_runtime())));
    let in_job = slot.clone();
    let (returned_tx, returned_rx) = mpsc::channel();
    let handle = slot.lock().unwrap().as_ref().unwrap().handle().clone();
    handle
        .spawn_on(0, move || async move {
            ringpoll::spawn_blocking(move || {
                let rt = in_job.lock().unwrap().take().expect("the runtime");
                Handle::current().shutdown_gracefully(Duration::MAX);
                let start = Instant::now();
                drop(rt);
                let _ = returned_tx.send(start.elapsed());
            })
            .detach();
        })
        .detach();
    let took = returned_rx.recv_timeout(Duration::from_secs(10)).expect("the drop returned");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(matches!(join_within_result(handle.spawn_on(1, || async { 1 })), Err(JoinError::Cancelled)));
}

#[test]
fn run_on_each_core_reports_one_cores_panic_and_that_core_serves_on() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let each = rt.run_on_each_core(|core| async move {
        assert_ne!(core, 1, "core one refuses");
        core
    });
    let outcomes: Vec<_> = each.into_iter().map(|h| join_within_result(h).map_err(|e| e.is_panic())).collect();
    assert_eq!(outcomes, [Ok(0), Err(true)]);
    assert_eq!(join_within(rt.spawn_on(1, || async { 9 }), 10), 9);
}

// ---------------------------------------------------------------- JoinHandle

#[test]
fn aborting_a_task_mid_read_closes_its_sockets_and_frees_its_slot() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let fds = open_fds();
    let (reading_tx, reading_rx) = mpsc::channel();
    let reader = rt.spawn_on(0, move || async move {
        let (client, server) = pair().await;
        let _ = reading_tx.send(());
        let (res, _buf) = client.read(Vec::with_capacity(64)).await;
        drop(server);
        res.map(|_| ())
    });
    reading_rx.recv_timeout(Duration::from_secs(10)).expect("the read started");
    thread::sleep(Duration::from_millis(20)); // the read is in flight, or parked on epoll
    assert!(open_fds() >= fds + 2, "the pair is open");
    reader.abort();
    assert!(matches!(join_within_result(reader), Err(JoinError::Cancelled)));
    assert!(settled(fds, open_fds) <= fds, "the aborted task's sockets stayed open");
    let stats = || rt.stats()[0];
    let give_up = Instant::now() + Duration::from_secs(10);
    while (stats().tasks_live > 0 || stats().ops_in_flight > 0) && Instant::now() < give_up {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((stats().tasks_live, stats().ops_in_flight), (0, 0));
    // Abort after completion changes nothing.
    let done = rt.spawn_on(0, || async { 5 });
    while !done.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    done.abort();
    assert_eq!(join_within(done, 10), 5);
}

#[test]
fn a_handle_awaited_on_another_core_sees_the_abort_of_a_task_on_the_first() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let victim = rt.spawn_on(0, std::future::pending::<u32>);
    let seen = rt.spawn_on(1, move || async move {
        let mut victim = victim;
        assert!(!poll_once(Pin::new(&mut victim)).await, "the victim never finishes by itself");
        victim.abort(); // from core 1: a cross-core wake tells core 0 to drop it
        bounded(victim).await
    });
    assert!(matches!(join_within(seen, 10), Err(JoinError::Cancelled)));
}

#[test]
fn a_future_whose_destructor_panics_on_abort_does_not_take_its_core_down() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let (started_tx, started_rx) = mpsc::channel();
    let victim = rt.spawn_on(0, move || async move {
        let _bomb = PanicOnDrop;
        let _ = started_tx.send(());
        std::future::pending::<()>().await;
    });
    started_rx.recv_timeout(Duration::from_secs(10)).expect("the victim started");
    victim.abort();
    // As tokio: the destructor's panic is the handle's error.
    let err = join_within_result(victim).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(join_within(rt.spawn_on(0, || async { 7 }), 10), 7, "the core still serves");
}

/// Ready at once with 5; its destructor panics.
struct ReadyThenPanicOnDrop;

impl Future for ReadyThenPanicOnDrop {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(5)
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("a finished future's destructor panics");
    }
}

#[test]
fn a_future_whose_destructor_panics_after_finishing_keeps_its_output_and_its_core() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    // As tokio: the output was made, the destructor's panic is swallowed.
    assert_eq!(join_within(rt.spawn_on(0, || ReadyThenPanicOnDrop), 10), 5);
    assert_eq!(join_within(rt.spawn_on(0, || async { 8 }), 10), 8, "the core still serves");
}

#[test]
fn tasks_whose_destructors_panic_do_not_stop_the_shutdown_from_dropping_the_rest() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut started, mut tasks) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let (tx, rx) = mpsc::channel();
        let drops = drops.clone();
        tasks.push(rt.spawn_on(0, move || async move {
            let _counted = Counted(drops);
            let _bomb = if i % 2 == 0 { Some(PanicOnDrop) } else { None };
            let _ = tx.send(());
            std::future::pending::<()>().await;
        }));
        started.push(rx);
    }
    for rx in started {
        rx.recv_timeout(Duration::from_secs(10)).expect("task started");
    }
    within(10, move || drop(rt));
    assert_eq!(drops.load(Ordering::SeqCst), 6, "every task was dropped");
    for (i, task) in tasks.into_iter().enumerate() {
        // Every handle completes: with the destructor's panic, or cancelled.
        let err = join_within_result(task).unwrap_err();
        assert_eq!(err.is_panic(), i % 2 == 0, "task {i}: {err:?}");
    }
}

/// The output of a detached task is dropped on its core as soon as it is made; a panic in
/// that destructor must not unwind through the core's loop either.
#[test]
fn a_detached_tasks_output_whose_destructor_panics_does_not_take_its_core_down() {
    let _guard = fd_lock();
    let rt = one_core_runtime();
    let (go_tx, go_rx) = cross_core::oneshot::<()>();
    let task = rt.spawn_on(0, move || async move {
        let _ = go_rx.await;
        PanicOnDrop
    });
    drop(task); // detached before the output exists
    go_tx.send(()).unwrap();
    assert_eq!(join_within(rt.spawn_on(0, || async { 4 }), 10), 4, "the core still serves");
}

// ---------------------------------------------------------------- cross-core channels

#[test]
fn a_sender_parked_on_a_full_channel_gets_its_value_back_when_the_receiver_goes() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let (tx, rx) = cross_core::channel::<String>(1);
    let (drop_tx, drop_rx) = cross_core::oneshot::<()>();
    let receiver = rt.spawn_on(1, move || async move {
        let _ = bounded(drop_rx).await;
        drop(rx);
    });
    let sender = rt.spawn_on(0, move || async move {
        tx.send("fits".into()).await.expect("room for one");
        let parked = tx.send("parked".into());
        let mut parked = std::pin::pin!(parked);
        assert!(!poll_once(parked.as_mut()).await, "the channel is full: the send waits");
        drop_tx.send(()).unwrap();
        bounded(parked).await
    });
    let err = join_within(sender, 10).expect_err("no receiver: the send fails");
    assert_eq!(err.0, "parked", "the value comes back");
    join_within(receiver, 10);
}

#[test]
fn a_sender_parked_on_a_full_channel_is_released_when_the_receivers_task_is_aborted() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u32>(1);
    tx.try_send(1).map_err(|_| ()).unwrap();
    // The receiver's task holds it and never reads: aborting the task drops it on core 1.
    let holder = rt.spawn_on(1, move || async move {
        std::future::pending::<()>().await;
        rx.try_recv().ok()
    });
    let (parked_tx, parked_rx) = mpsc::channel();
    let sender = rt.spawn_on(0, move || async move {
        let parked = tx.send(2);
        let mut parked = std::pin::pin!(parked);
        assert!(!poll_once(parked.as_mut()).await, "the channel is full: the send waits");
        let _ = parked_tx.send(());
        bounded(parked).await.map_err(|e| e.0)
    });
    parked_rx.recv_timeout(Duration::from_secs(10)).expect("the send parked");
    holder.abort();
    assert_eq!(join_within(sender, 10), Err(2), "the parked send fails with its value");
}

#[test]
fn messages_queued_when_the_receiver_goes_are_dropped_not_leaked() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = cross_core::channel::<Counted>(16);
    let (utx, urx) = cross_core::unbounded::<Counted>();
    for _ in 0..10 {
        tx.try_send(Counted(drops.clone())).map_err(|_| ()).unwrap();
        utx.try_send(Counted(drops.clone())).map_err(|_| ()).unwrap();
    }
    join_within(rt.spawn_on(1, move || async move { drop((rx, urx)) }), 10);
    assert_eq!(drops.load(Ordering::SeqCst), 20, "queued messages outlived their receiver");
    assert!(tx.is_closed() && utx.is_closed());
    assert!(matches!(tx.try_send(Counted(drops.clone())), Err(TrySendError::Closed(_))));
}

#[test]
fn a_cross_core_oneshot_whose_sender_is_dropped_is_an_error() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    let (reply, answer) = cross_core::oneshot::<u32>();
    let waiting = rt.spawn_on(1, move || async move { bounded(answer).await });
    join_within(rt.spawn_on(0, move || async move { drop(reply) }), 10);
    assert_eq!(join_within(waiting, 10), Err(RecvError));
}

#[test]
fn many_senders_on_many_cores_keep_each_senders_order() {
    let _guard = fd_lock();
    let rt = two_core_runtime();
    const PER_SENDER: u32 = 2000;
    let (tx, mut rx) = cross_core::channel::<(u32, u32)>(8);
    let collector = rt.spawn_on(0, move || async move {
        let mut next = [0u32; 6];
        while let Some((sender, seq)) = bounded(rx.recv()).await {
            assert_eq!(seq, next[sender as usize], "sender {sender} out of order");
            next[sender as usize] += 1;
        }
        next
    });
    for sender in 0..6u32 {
        let tx = tx.clone();
        match sender {
            // Two senders on each core, two on plain threads.
            0..=3 => rt
                .spawn_on(sender as usize % 2, move || async move {
                    for seq in 0..PER_SENDER {
                        tx.send((sender, seq)).await.unwrap();
                    }
                })
                .detach(),
            _ => drop(thread::spawn(move || {
                for seq in 0..PER_SENDER {
                    tx.send_blocking((sender, seq)).unwrap();
                }
            })),
        }
    }
    drop(tx);
    assert_eq!(join_within(collector, 30), [PER_SENDER; 6]);
}

#[test]
fn try_send_and_try_recv_say_full_empty_and_closed() {
    let _guard = fd_lock();
    let (tx, mut rx) = cross_core::channel::<u8>(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.try_send(1).unwrap();
    assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1), "queued messages outlive the senders");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

// ---------------------------------------------------------------- local channels

#[test]
fn a_local_send_granted_room_just_before_the_receiver_goes_fails_and_returns_the_value() {
    let _guard = fd_lock();
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = drops.clone();
    let (result, dropped_by_then) = run(async move {
        let (tx, mut rx) = local::channel::<Counted>(1);
        tx.send(Counted(counted.clone())).await.unwrap();
        let sending = ringpoll::spawn(async move {
            let out = tx.send(Counted(counted)).await.map_err(|e| e.0);
            drop(tx);
            out
        });
        ringpoll::yield_now().await; // the second send now waits for room
        assert!(!sending.is_finished());
        let first = rx.try_recv().ok();
        drop(first);
        drop(rx); // room was granted to the waiting send, then the receiver left
        let result = bounded(sending).await.unwrap();
        (result.map(|_| ()).map_err(drop), drops.clone())
    });
    // tokio: a send to a dropped receiver fails; the value must not sit in a dead queue.
    assert!(result.is_err(), "the send claimed success though nobody can receive");
    assert_eq!(dropped_by_then.load(Ordering::SeqCst), 2, "both messages dropped");
}

#[test]
fn a_local_oneshot_whose_sender_is_dropped_is_an_error() {
    let _guard = fd_lock();
    let got = run(async {
        let (reply, answer) = local::oneshot::<u32>();
        let waiting = ringpoll::spawn(answer);
        ringpoll::yield_now().await;
        drop(reply);
        bounded(waiting).await.unwrap()
    });
    assert_eq!(got, Err(RecvError));
}

// ---------------------------------------------------------------- sync

#[test]
fn asking_for_more_permits_than_exist_waits_until_they_are_added() {
    let _guard = fd_lock();
    run(async {
        let sem = Rc::new(Semaphore::new(2));
        let big = ringpoll::spawn({
            let sem = sem.clone();
            async move { sem.acquire_many(3).await.map(|p| p.forget()).is_ok() }
        });
        ringpoll::time::sleep(Duration::from_millis(20)).await;
        assert!(!big.is_finished(), "3 of 2 permits cannot be granted (tokio waits too)");
        assert!(sem.try_acquire().is_none(), "nobody passes the waiting request at the front");
        sem.add_permits(1);
        assert!(bounded(big).await.unwrap());
        assert_eq!(sem.available_permits(), 0);
        // Closing fails a waiter, and later acquires, with an error rather than a hang.
        let waiting = ringpoll::spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.map(|p| p.forget()) }
        });
        ringpoll::yield_now().await;
        sem.close();
        assert!(bounded(waiting).await.unwrap().is_err());
        assert!(sem.acquire().await.is_err());
    });
}

#[test]
fn semaphore_waiters_are_served_first_come_first_served() {
    let _guard = fd_lock();
    let order = run(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let waiters: Vec<_> = (0..5)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                ringpoll::spawn(async move {
                    let permit = sem.acquire().await.unwrap();
                    order.borrow_mut().push(i);
                    ringpoll::yield_now().await;
                    drop(permit);
                })
            })
            .collect();
        ringpoll::yield_now().await;
        sem.add_permits(1);
        for w in waiters {
            bounded(w).await.unwrap();
        }
        let order = order.borrow().clone();
        order
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn a_mutex_held_across_an_await_by_an_aborted_task_is_released() {
    let _guard = fd_lock();
    run(async {
        let lock = Rc::new(ringpoll::sync::Mutex::new(0u32));
        let holder = ringpoll::spawn({
            let lock = lock.clone();
            async move {
                let mut guard = lock.lock().await;
                *guard += 1;
                std::future::pending::<()>().await;
            }
        });
        ringpoll::yield_now().await;
        assert!(lock.try_lock().is_none(), "the holder has it");
        let waiter = ringpoll::spawn({
            let lock = lock.clone();
            async move { *lock.lock().await }
        });
        ringpoll::yield_now().await;
        holder.abort();
        assert!(bounded(holder).await.unwrap_err().is_cancelled());
        assert_eq!(bounded(waiter).await.unwrap(), 1, "the waiter got the lock and the write");
    });
}

#[test]
fn notify_one_before_notified_is_kept_once_and_notify_waiters_keeps_nothing() {
    let _guard = fd_lock();
    run(async {
        let notify = Notify::new();
        notify.notify_one();
        notify.notify_one(); // one stored permit, not two (tokio)
        bounded(notify.notified()).await;
        let second = notify.notified();
        let mut second = std::pin::pin!(second);
        assert!(!poll_once(second.as_mut()).await, "only one permit was stored");
        notify.notify_waiters();
        bounded(second).await;
        let after = notify.notified();
        let mut after = std::pin::pin!(after);
        assert!(!poll_once(after.as_mut()).await, "notify_waiters stores nothing");
    });
}

/// tokio's semantics: a `Notified` made before `notify_waiters` is notified by it even if it
/// was never polled (it notes the count of calls when made); one made after is not.
#[test]
fn notify_waiters_reaches_a_notified_made_before_it_but_not_yet_polled() {
    let _guard = fd_lock();
    run(async {
        let notify = Notify::new();
        let unpolled = notify.notified();
        let polled = notify.notified();
        let mut polled = std::pin::pin!(polled);
        assert!(!poll_once(polled.as_mut()).await, "nothing notified yet");
        notify.notify_waiters();
        let made_after = notify.notified();
        let mut unpolled = std::pin::pin!(unpolled);
        assert!(poll_once(unpolled.as_mut()).await, "made before notify_waiters, first polled after it");
        assert!(poll_once(polled.as_mut()).await, "waiting when notify_waiters was called");
        let mut made_after = std::pin::pin!(made_after);
        assert!(!poll_once(made_after.as_mut()).await, "made after notify_waiters: not notified by it");
        // It waits for the next notification, of either kind.
        notify.notify_one();
        bounded(made_after).await;
    });
}

/// The count of `notify_waiters` calls must not be mistaken for a `notify_one` permit, nor
/// use one up: a permit stored before stays for the next waiter.
#[test]
fn notify_waiters_before_the_first_poll_leaves_a_stored_permit_in_place() {
    let _guard = fd_lock();
    run(async {
        let notify = Notify::new();
        let early = notify.notified();
        notify.notify_one(); // no one polled: stored
        notify.notify_waiters();
        bounded(early).await; // by notify_waiters, so the permit is still there
        let next = notify.notified();
        let mut next = std::pin::pin!(next);
        assert!(poll_once(next.as_mut()).await, "the stored permit was kept for the next waiter");
        let last = notify.notified();
        let mut last = std::pin::pin!(last);
        assert!(!poll_once(last.as_mut()).await, "and used once");
    });
}

#[test]
fn a_writer_gets_in_while_overlapping_readers_keep_coming() {
    let _guard = fd_lock();
    let (writer_waited, reads) = run(async {
        let lock = Rc::new(ringpoll::sync::RwLock::new(0u32));
        let reads = Rc::new(std::cell::Cell::new(0u32));
        // Readers in relay: each takes the lock before the one before it lets go, so the
        // lock is never free of readers while the relay runs (200 readers).
        let relay = ringpoll::spawn({
            let (lock, reads) = (lock.clone(), reads.clone());
            async move {
                let mut held = lock.read().await;
                for _ in 0..200 {
                    let next = lock.clone();
                    let taking = ringpoll::spawn(async move {
                        let guard = next.read().await;
                        ringpoll::yield_now().await;
                        drop(guard);
                    });
                    ringpoll::yield_now().await;
                    drop(held);
                    held = lock.read().await;
                    reads.set(reads.get() + 1);
                    taking.await.unwrap();
                }
            }
        });
        ringpoll::yield_now().await;
        let write = lock.write();
        let mut write = std::pin::pin!(write);
        assert!(!poll_once(write.as_mut()).await, "readers hold the lock");
        let queued_at = reads.get();
        *bounded(write).await += 1;
        let waited = reads.get() - queued_at;
        bounded(relay).await.unwrap();
        (waited, reads.get())
    });
    assert_eq!(reads, 200);
    // A reader asking after the writer queues behind it: only those already in are waited for.
    assert!(writer_waited <= 1, "the writer waited behind {writer_waited} more reads");
}
