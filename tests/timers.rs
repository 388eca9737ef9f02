//! Timers: order, never early, timeout, interval, and cancellation on drop.

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::time::{interval, sleep, sleep_until, timeout, Elapsed};
use support::*;

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    run_leak_free(async {
        let start = Instant::now();
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 50, 20, 40, 0] {
            let order = order.clone();
            tasks.push(ringpoll::spawn(async move {
                let deadline = start + Duration::from_millis(ms);
                sleep_until(deadline).await;
                assert!(Instant::now() >= deadline, "a timer fired early");
                order.borrow_mut().push(ms);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), vec![0, 10, 20, 30, 40, 50]);
    });
}

#[test]
fn sleep_waits_at_least_its_duration() {
    run_leak_free(async {
        for ms in [1u64, 2, 7] {
            let start = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
    });
}

#[test]
fn timeout_around_a_read_that_never_completes_is_elapsed() {
    run_leak_free(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (_server, _) = listener.accept().await.unwrap();
        let res = timeout(Duration::from_millis(20), client.read(Vec::with_capacity(16))).await;
        let err: Elapsed = res.expect_err("the read cannot complete");
        assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
        // The stream is still usable after the cancelled read.
        let (w, _) = _server.write_all(b"late".to_vec()).await;
        w.unwrap();
        let (n, buf) = client.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"late");
    });
}

#[test]
fn timeout_returns_the_output_when_in_time() {
    run_leak_free(async {
        assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
    });
}

#[test]
fn interval_ticks_a_period_apart() {
    run_leak_free(async {
        let mut tick = interval(Duration::from_millis(5));
        let first = tick.tick().await;
        let mut last = first;
        for _ in 0..4 {
            let t = tick.tick().await;
            assert!(t >= last + Duration::from_millis(5), "ticks are a period apart");
            assert!(Instant::now() >= t, "a tick never comes early");
            last = t;
        }
    });
}

#[test]
fn dropped_timers_are_removed_from_the_reactor() {
    assert_no_fd_leak(dropped_timers);
}

fn dropped_timers() {
    let rt = one_core_runtime();
    let live = rt
        .spawn_on(0, || async {
            let mut sleeps: Vec<_> = (0..1000).map(|i| sleep(Duration::from_secs(60 + i))).collect();
            for s in sleeps.iter_mut() {
                assert!(!poll_once(std::pin::Pin::new(s)).await, "a 60 s sleep is pending");
            }
            drop(sleeps);
        })
        .join();
    live.unwrap();
    // The reactor's gauge is updated on its next poll; let it take one.
    let _ = rt.spawn_on(0, || sleep(Duration::from_millis(2))).join();
    assert_eq!(rt.stats()[0].timers_live, 0, "no timer outlives its future");
}

/// A task whose `Sleep` is reset while it waits on something else, then polled only once
/// woken: the polls that wake shows whether the reset re-armed the timer.
async fn reset_then_wait_for_a_wake(to: Duration) -> Duration {
    let mut nap = Box::pin(sleep(Duration::from_secs(3600)));
    assert!(!poll_once(nap.as_mut()).await, "armed an hour away");
    let start = Instant::now();
    nap.as_mut().reset(Instant::now() + to);
    // Not polled again: only the timer's own wake brings the task back (tokio's reset keeps
    // the waker of the last poll, so a hand-written future may reset and return Pending).
    let mut first = true;
    std::future::poll_fn(|cx| {
        if std::mem::take(&mut first) {
            return std::task::Poll::Pending; // nap not polled: waits for a wake
        }
        nap.as_mut().poll(cx)
    })
    .await;
    start.elapsed()
}

#[test]
fn a_reset_sleep_wakes_its_task_at_the_new_deadline_without_another_poll() {
    run_leak_free(async {
        // Woken by the re-armed timer alone: a deadline ahead, then one already due.
        for to in [Duration::from_millis(20), Duration::ZERO] {
            let waited = bounded(ringpoll::spawn(reset_then_wait_for_a_wake(to))).await.unwrap();
            assert!(waited >= to && waited < Duration::from_secs(5), "{waited:?} for {to:?}");
        }
    });
}

/// How long a `Sleep` handed to another thread waits at first, and how long its first task
/// then watches for wakes: a stale entry would wake that task at `OLD`.
const OLD: Duration = Duration::from_millis(1000);
const WATCH: Duration = Duration::from_millis(1500);

/// Arms a `Sleep` of `OLD` for this task, on this core, then hands it to `away` and watches
/// for `WATCH`: returns when this task was woken meanwhile (the `Sleep`'s own entry is the
/// only thing that could wake it).
async fn arm_then_hand_off(away: impl FnOnce(ringpoll::time::Sleep)) -> Vec<Duration> {
    let start = Instant::now();
    let mut nap = Some(sleep(OLD));
    let mut away = Some(away);
    let mut watch = sleep(WATCH);
    let mut wakes = Vec::new();
    std::future::poll_fn(|cx| {
        match nap.as_mut() {
            Some(armed) => {
                assert!(armed.poll_elapsed(cx).is_pending(), "armed a second away");
                away.take().unwrap()(nap.take().unwrap());
            }
            None => wakes.push(start.elapsed()),
        }
        watch.poll_elapsed(cx)
    })
    .await;
    wakes.retain(|&at| at < WATCH);
    wakes
}

/// A `Sleep` reset by a thread with no core moves its timer where it is armed: its task is
/// woken at the new deadline and not at the old one (before, the old entry stayed, and woke
/// it at the old deadline only).
#[test]
fn a_sleep_reset_on_another_thread_wakes_its_task_at_the_new_deadline_only() {
    // Its reactor's descriptors must not look like a neighbour's leak.
    let _serial = fd_lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let resetter = std::thread::spawn(move || {
        let mut nap: ringpoll::time::Sleep = rx.recv().unwrap();
        nap.reset(Instant::now() + Duration::from_millis(100));
        // Kept, not dropped (a drop disarms), until the watch is over.
        std::thread::sleep(WATCH);
        drop(nap);
    });
    let wakes = run(arm_then_hand_off(move |nap| tx.send(nap).unwrap()));
    resetter.join().unwrap();
    assert_eq!(wakes.len(), 1, "woken at {wakes:?}");
    assert!(
        wakes[0] >= Duration::from_millis(100) && wakes[0] < OLD - Duration::from_millis(200),
        "woken at {wakes:?}"
    );
}

/// A `Sleep` reset and awaited on another core, or dropped on another thread, leaves no
/// entry behind on the core it was armed on: its first task is not woken at all (before, it
/// was, at the old deadline).
#[test]
fn a_sleep_moved_to_another_core_or_dropped_elsewhere_leaves_no_stale_wake() {
    let _serial = fd_lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let other_core = std::thread::spawn(move || {
        let mut nap: ringpoll::time::Sleep = rx.recv().unwrap();
        run(async move {
            nap.reset(Instant::now() + Duration::from_millis(300));
            nap.await;
        });
    });
    let wakes = run(arm_then_hand_off(move |nap| tx.send(nap).unwrap()));
    other_core.join().unwrap();
    assert_eq!(wakes, [], "reset and awaited on another core: woken at {wakes:?}");

    let (tx, rx) = std::sync::mpsc::channel::<ringpoll::time::Sleep>();
    let dropper = std::thread::spawn(move || drop(rx.recv().unwrap()));
    let wakes = run(arm_then_hand_off(move |nap| tx.send(nap).unwrap()));
    dropper.join().unwrap();
    assert_eq!(wakes, [], "dropped on another thread: woken at {wakes:?}");
}
