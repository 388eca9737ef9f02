//! Durations too long to add to an `Instant` (`Duration::MAX`, a user's "forever") mean no
//! bound at all: they never panic, on any thread, and what they bound still ends when its
//! work does.

mod support;

use std::time::Duration;

use ringpoll::{Handle, Runtime};
use support::*;

#[test]
fn a_graceful_shutdown_with_an_unbounded_grace_waits_for_the_tasks_and_returns() {
    let cancelled = within(10, || {
        let rt = two_core_runtime();
        rt.spawn_on(1, || async {
            ringpoll::time::sleep(Duration::from_millis(50)).await;
            // A job of the blocking pool, which the shutdown waits for after the cores.
            ringpoll::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20))).detach();
        })
        .detach();
        rt.shutdown_gracefully(Duration::MAX)
    });
    assert_eq!(cancelled, 0, "every task finished on its own");
}

#[test]
fn a_graceful_shutdown_started_by_a_handle_with_an_unbounded_grace_stops_the_runtime() {
    within(10, || {
        let rt = two_core_runtime();
        let started = rt.spawn_on(0, || async { Handle::current().shutdown_gracefully(Duration::MAX) });
        join_within(started, 10);
        rt.wait();
    });
}

#[test]
fn an_unbounded_spin_before_park_runs_tasks_and_shuts_down() {
    within(10, || {
        let rt = Runtime::builder().cores([0]).driver(driver()).spin_before_park(Duration::MAX).build().unwrap();
        // The core spins between the two tasks instead of parking: the second one still runs.
        assert_eq!(join_within(rt.spawn_on(0, || async { 1 }), 10), 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(join_within(rt.spawn_on(0, || async { 2 }), 10), 2);
        rt.shutdown();
    });
}

#[test]
fn timers_of_unbounded_length_stay_pending_without_panicking() {
    run(async {
        let forever = ringpoll::time::timeout(Duration::from_millis(20), ringpoll::time::sleep(Duration::MAX)).await;
        assert!(forever.is_err(), "a sleep of Duration::MAX never completes");
        let inner = ringpoll::time::timeout(Duration::MAX, async { 7 }).await;
        assert_eq!(inner.ok(), Some(7));
        let mut ticks = ringpoll::time::interval(Duration::MAX);
        ticks.tick().await; // the first tick is at once
        let second = ringpoll::time::timeout(Duration::from_millis(20), ticks.tick()).await;
        assert!(second.is_err(), "the next tick is past the end of time");
    });
}
