//! Cross-thread wakes: every one delivered, eventfd writes deduplicated, no lost wake-up.

mod support;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};

use support::*;

const WAKES: u64 = 100_000;

#[test]
fn hundred_thousand_spawns_from_another_thread_all_run_with_few_eventfd_writes() {
    let rt = one_core_runtime();
    let ran = Arc::new(AtomicU64::new(0));
    let writes_before = rt.stats()[0].eventfd_writes;
    let mut last = None;
    for _ in 0..WAKES {
        let ran = ran.clone();
        last = Some(rt.spawn_on(0, move || async move { ran.fetch_add(1, SeqCst) }));
    }
    join_within(last.unwrap(), 60);
    // Tasks run in order, and each of them counted before the last one.
    assert_eq!(ran.load(SeqCst), WAKES, "every spawn ran exactly once");
    let writes = rt.stats()[0].eventfd_writes - writes_before;
    assert!(writes * 10 < WAKES, "{writes} eventfd writes for {WAKES} cross-thread spawns");
}

/// A channel receiver task: a Mutex<Option<Waker>> stands in for a real channel's waker slot.
struct Shared {
    waker: Mutex<Option<Waker>>,
}

#[test]
fn hundred_thousand_wakes_of_one_task_deliver_every_message() {
    let rt = one_core_runtime();
    let (tx, rx) = mpsc::channel::<u64>();
    let shared = Arc::new(Shared { waker: Mutex::new(None) });
    let task_shared = shared.clone();
    let receiver = rt.spawn_on(0, move || async move {
        let mut expected = 0u64;
        std::future::poll_fn(|cx| {
            *task_shared.waker.lock().unwrap() = Some(cx.waker().clone());
            while let Ok(v) = rx.try_recv() {
                assert_eq!(v, expected, "messages arrive in order, none lost");
                expected += 1;
            }
            if expected == WAKES {
                Poll::Ready(expected)
            } else {
                Poll::Pending
            }
        })
        .await
    });
    let writes_before = rt.stats()[0].eventfd_writes;
    for i in 0..WAKES {
        tx.send(i).unwrap();
        if let Some(w) = shared.waker.lock().unwrap().as_ref() {
            w.wake_by_ref();
        }
    }
    assert_eq!(join_within(receiver, 60), WAKES);
    let writes = rt.stats()[0].eventfd_writes - writes_before;
    assert!(writes < WAKES, "{writes} eventfd writes for {WAKES} wakes: a burst must be deduplicated");
}

#[test]
fn ping_pong_with_a_sleeping_core_never_loses_a_wake() {
    // Each round trip lets the core go back to sleep, so every send races the core's park.
    let rt = one_core_runtime();
    let writes_before = rt.stats()[0].eventfd_writes;
    const ROUNDS: u64 = 20_000;
    for i in 0..ROUNDS {
        assert_eq!(join_within(rt.spawn_on(0, move || async move { i * 2 }), 10), i * 2);
    }
    let writes = rt.stats()[0].eventfd_writes - writes_before;
    assert!(writes <= ROUNDS, "at most one eventfd write per sleep: {writes} for {ROUNDS} rounds");
}

#[test]
fn wakes_from_another_core_reach_the_owner() {
    let rt = two_core_runtime();
    let (tx, rx) = mpsc::channel::<Waker>();
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    // Core 0 parks a task; core 1 wakes it many times; the task finishes when it sees them all.
    let parked = rt.spawn_on(0, move || async move {
        std::future::poll_fn(|cx| {
            if seen.load(SeqCst) >= 1000 {
                return Poll::Ready(seen.load(SeqCst));
            }
            let _ = tx.send(cx.waker().clone());
            Poll::Pending
        })
        .await
    });
    let waker = rx.recv().unwrap();
    let waker_count = count.clone();
    let waking = rt.spawn_on(1, move || async move {
        for _ in 0..1000 {
            waker_count.fetch_add(1, SeqCst);
            waker.wake_by_ref();
            ringpoll::yield_now().await;
        }
    });
    join_within(waking, 30);
    assert!(join_within(parked, 30) >= 1000);
}

/// A wake reaches a sleeping core while the waking task is still running: it is not held
/// back until the waker's core ends its turn (an io_uring core once queued its MSG_RING with
/// the turn's other entries, which kept the target asleep that long). Here the waking task
/// never ends its turn until the target has run, so a held-back wake is a timeout.
#[test]
fn a_wake_reaches_a_sleeping_core_before_the_waking_task_yields() {
    let rt = Arc::new(two_core_runtime());
    let sender = rt.clone();
    let done = rt.spawn_on(0, move || async move {
        for round in 0..20 {
            // Long enough for core 1 to be asleep in its reactor.
            std::thread::sleep(std::time::Duration::from_millis(2));
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = ran.clone();
            sender.spawn_on(1, move || async move { flag.store(true, SeqCst) }).detach();
            let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
            // No await: this core's turn goes on until core 1 has run the task.
            while !ran.load(SeqCst) {
                assert!(std::time::Instant::now() < give_up, "round {round}: core 1 was not woken within 5 s");
                std::hint::spin_loop();
            }
        }
    });
    join_within(done, 120);
}

#[test]
fn spawns_between_two_io_uring_cores_post_into_the_ring_not_the_eventfd() {
    const SPAWNS: u64 = 10_000;
    let rt = Arc::new(two_core_runtime());
    let before = rt.stats()[1];
    let sender = rt.clone();
    // Each spawn is awaited, so core 1 is asleep (or about to be) when the next one comes.
    let done = rt.spawn_on(0, move || async move {
        for i in 0..SPAWNS {
            assert_eq!(sender.spawn_on(1, move || async move { i }).await.unwrap(), i);
        }
    });
    join_within(done, 60);
    let after = rt.stats()[1];
    let (writes, ring_wakes) = (after.eventfd_writes - before.eventfd_writes, after.ring_wakes - before.ring_wakes);
    match rt.driver() {
        ringpoll::DriverKind::Uring => {
            assert_eq!(writes, 0, "io_uring core to io_uring core: no eventfd write");
            assert!(ring_wakes > 0, "the wakes went through the ring");
        }
        ringpoll::DriverKind::Epoll => assert_eq!(ring_wakes, 0, "epoll cores keep the eventfd"),
    }
}

#[test]
fn a_block_on_future_woken_by_its_own_cores_io_costs_no_eventfd_write_nor_ring_message() {
    let (writes, ring_wakes) = run(async {
        let (client, server) = pair().await;
        let served = ringpoll::spawn(echo(server));
        let msg = payload(512, 7);
        for _ in 0..50 {
            // The main future parks on the read; the server's echo wakes it from this thread.
            let (res, back) = client.write_all(msg.clone()).await;
            res.expect("write");
            assert_eq!(back, msg);
            let mut got = Vec::new();
            while got.len() < msg.len() {
                let (res, buf) = client.read(Vec::with_capacity(1024)).await;
                assert!(res.expect("read") > 0, "no early EOF");
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, msg, "echoed intact");
        }
        client.shutdown(std::net::Shutdown::Write).expect("shutdown");
        assert_eq!(served.await.expect("server task").expect("echo"), 50 * 512);
        let brk = ringpoll::io::Reactor::current().expect("on a core").netpoll_break().clone();
        (brk.writes(), brk.ring_wakes())
    });
    assert_eq!(writes, 0, "a core's own thread never writes its eventfd to wake itself");
    assert_eq!(ring_wakes, 0, "nor posts a MSG_RING into its own ring");
}
