//! `spin_before_park`: a core polls for a while before sleeping. A wake that lands just as
//! the spin gives up and the core parks must never be lost (the spin/park protocol in
//! `reactor/src/netpoll_break.rs`), and a wake that lands during the spin costs no eventfd
//! write and no ring wake.

mod support;

use std::time::Duration;

use ringpoll::channel::cross_core;
use ringpoll::{Handle, Runtime};
use support::*;

const ROUNDS: u64 = 20_000;

fn spinning_runtime(spin: Duration) -> Runtime {
    let cpus: Vec<usize> = if num_cpus() >= 2 { vec![0, 1] } else { vec![0, 0] };
    Runtime::builder().cores(cpus).driver(driver()).spin_before_park(spin).build().expect("runtime")
}

/// `ROUNDS` round trips core 0 -> core 1 -> core 0 through two channels, each hop waking a
/// task on the other core, bounded in time: a lost wake hangs a round trip and fails here.
fn ping_pong(rt: &Runtime) {
    let (to_1, mut at_1) = cross_core::channel::<u64>(1);
    let (to_0, mut at_0) = cross_core::channel::<u64>(1);
    let echo = rt.spawn_on(1, move || async move {
        let mut echoed = 0;
        while let Some(v) = at_1.recv().await {
            to_0.send(v).await.expect("pinger alive");
            echoed += 1;
        }
        echoed
    });
    let pinger = rt.spawn_on(0, move || async move {
        for i in 0..ROUNDS {
            to_1.send(i).await.expect("echo alive");
            assert_eq!(at_0.recv().await, Some(i), "replies in order");
        }
    });
    join_within(pinger, 120);
    assert_eq!(join_within(echo, 10), ROUNDS);
}

/// The sum of one counter over the runtime's cores.
fn total(rt: &Runtime, counter: fn(&ringpoll::StatsSnapshot) -> u64) -> u64 {
    rt.stats().iter().map(counter).sum()
}

#[test]
fn a_wake_racing_the_end_of_a_tiny_spin_is_never_lost() {
    // 1 us: most hops arrive just after the spin gave up, as the core parks.
    let rt = spinning_runtime(Duration::from_micros(1));
    ping_pong(&rt);
}

#[test]
fn spawns_from_a_foreign_thread_racing_a_tiny_spin_all_run() {
    let rt = spinning_runtime(Duration::from_micros(2));
    for i in 0..ROUNDS {
        assert_eq!(join_within(rt.spawn_on(i as usize % 2, move || async move { i * 3 }), 10), i * 3);
    }
}

#[test]
fn core_to_core_spawns_racing_a_tiny_spin_all_run() {
    let rt = spinning_runtime(Duration::from_micros(1));
    let sender = rt.spawn_on(0, || async {
        let handle = Handle::current();
        for i in 0..ROUNDS {
            assert_eq!(handle.spawn_on(1, move || async move { i + 1 }).await.expect("spawned"), i + 1);
        }
    });
    join_within(sender, 120);
}

#[test]
fn a_long_spin_catches_hops_without_a_wake_syscall() {
    // Long enough to cover a hop even on a loaded VM; the hits show the spin at work, and a
    // hit never needed an eventfd write or a ring wake.
    let rt = spinning_runtime(Duration::from_millis(2));
    let hits_before = total(&rt, |s| s.spin_hits);
    let wakes_before = total(&rt, |s| s.eventfd_writes + s.ring_wakes);
    ping_pong(&rt);
    let hits = total(&rt, |s| s.spin_hits) - hits_before;
    let wakes = total(&rt, |s| s.eventfd_writes + s.ring_wakes) - wakes_before;
    assert!(hits > 0, "no hop found a core spinning in {ROUNDS} round trips");
    // Each round trip is two hops; a hop that found its core spinning needed no wake.
    assert!(wakes + hits <= 2 * ROUNDS + 16, "{wakes} wakes and {hits} spin hits for {} hops", 2 * ROUNDS);
}

#[test]
fn without_spin_there_are_no_spin_hits() {
    let rt = spinning_runtime(Duration::ZERO);
    ping_pong(&rt);
    assert_eq!(total(&rt, |s| s.spin_hits), 0);
}
