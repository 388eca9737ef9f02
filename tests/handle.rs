//! Handle: reaching a runtime from any core or thread, and dropping it anywhere.

mod support;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ringpoll::{Handle, JoinError};
use support::{join_within, open_fds, two_core_runtime};

#[test]
fn handle_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Handle>();
}

#[test]
fn handle_current_spawns_onto_the_other_core() {
    let rt = two_core_runtime();
    let cores = rt.spawn_on(0, || async {
        let handle = Handle::current();
        let there = handle.spawn_on(1, || async { ringpoll::current_core() }).await.unwrap();
        (ringpoll::current_core(), there, handle.core_count(), handle.driver())
    });
    let (here, there, count, driver) = join_within(cores, 10);
    assert_eq!((here, there, count), (Some(0), Some(1), 2));
    assert_eq!(driver, rt.driver());
    assert!(Handle::try_current().is_none(), "the test thread is no core");
}

#[test]
fn handle_names_cores_and_reads_stats() {
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    assert_eq!(handle.core_count(), 2);
    assert_eq!(handle.cpu_of(1), rt.cpu_of(1));
    join_within(handle.spawn_on(1, || async {}), 10);
    let stats = handle.stats();
    assert_eq!(stats.len(), 2);
    assert!(stats[1].tasks_spawned >= 1);
}

/// The defect this fixes: the last `Arc<Runtime>` dropped on one of its own cores tried to
/// join that very thread ("Resource deadlock avoided") and panicked.
#[test]
fn dropping_the_last_runtime_on_its_own_core_neither_panics_nor_hangs() {
    let _guard = support::fd_lock();
    let before = open_fds();
    let rt = Arc::new(two_core_runtime());
    let (done_tx, done_rx) = mpsc::channel();
    let mine = rt.clone();
    rt.spawn_on(0, move || async move {
        while Arc::strong_count(&mine) > 1 {
            ringpoll::time::sleep(Duration::from_millis(1)).await;
        }
        drop(mine); // the last copy, on core 0
        let _ = done_tx.send(());
    })
    .detach();
    drop(rt);
    done_rx.recv_timeout(Duration::from_secs(10)).expect("the task dropping the runtime finished");
    // Both core threads exit by themselves; their reactors' descriptors close with them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(open_fds() <= before, "the cores did not stop: {} fds open, {before} before", open_fds());
}

#[test]
fn a_handle_outlives_its_runtime() {
    let rt = two_core_runtime();
    let handle = rt.handle().clone();
    drop(rt);
    let late = handle.spawn_on(0, || async { 1 });
    assert!(matches!(late.join(), Err(JoinError::Cancelled)));
    assert_eq!(handle.stats().len(), 2);
    drop(handle);
}

#[test]
fn handles_dropped_on_every_core_and_thread() {
    let rt = two_core_runtime();
    for core in 0..2 {
        let handle = rt.handle().clone();
        join_within(rt.spawn_on(core, move || async move { drop(handle) }), 10);
    }
    let handle = rt.handle().clone();
    std::thread::spawn(move || drop(handle)).join().unwrap();
}

#[test]
fn a_task_starts_a_graceful_shutdown_and_wait_returns() {
    let rt = two_core_runtime();
    let sleeper = rt.spawn_on(1, || async { ringpoll::time::sleep(Duration::from_secs(60)).await });
    rt.spawn_on(0, || async { Handle::current().shutdown_gracefully(Duration::from_millis(50)) }).detach();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        rt.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the runtime stopped after the grace period");
    assert!(matches!(sleeper.join(), Err(JoinError::Cancelled)));
}

#[test]
#[should_panic(expected = "core 5 does not exist: the runtime has 2")]
fn spawning_on_a_core_that_does_not_exist_panics_naming_the_mistake() {
    let rt = two_core_runtime();
    rt.handle().spawn_on(5, || async {}).detach();
}

/// The last handle of a runtime that is gone, dropped in a task of another runtime: its drop
/// closes the first runtime's blocking pool without waiting, so the core goes on serving.
#[test]
fn the_last_handle_of_a_dropped_runtime_is_dropped_on_another_runtimes_core() {
    let gone = two_core_runtime();
    let handle = gone.handle().clone();
    drop(gone);
    let other = support::one_core_runtime();
    let dropped = other.spawn_on(0, move || async move {
        drop(handle); // the last one: the cores' own copies went with their threads
        ringpoll::current_core()
    });
    assert_eq!(join_within(dropped, 10), Some(0));
    assert_eq!(join_within(other.spawn_on(0, || async { 7 }), 10), 7, "the core serves on");
}

/// A graceful shutdown started by a task, the runtime then dropped on the test thread: the
/// drop lets the tasks finish in the grace (as `Runtime::wait` would), then returns.
#[test]
fn dropping_the_runtime_after_a_task_started_a_graceful_shutdown_lets_tasks_finish() {
    let rt = two_core_runtime();
    let finishing = rt.spawn_on(1, || async {
        ringpoll::time::sleep(Duration::from_millis(100)).await;
        ringpoll::current_core()
    });
    let started = rt.spawn_on(0, || async { Handle::current().shutdown_gracefully(Duration::from_secs(8)) });
    join_within(started, 10);
    let start = Instant::now();
    support::within(20, move || drop(rt));
    assert!(start.elapsed() < Duration::from_secs(5), "the drop waited out the grace: {:?}", start.elapsed());
    assert_eq!(join_within(finishing, 10), Some(1), "the task due to finish in the grace was cut off");
}
