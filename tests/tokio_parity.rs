//! What a tokio user adopting ringpoll relies on, checked from the public docs alone: join
//! handles, timers' edge cases, the blocking pool, runtime handles and shutdown, channels'
//! closing and backpressure, and the cancel safety of `sync`. Each test states the documented
//! promise it holds ringpoll to (and tokio's behaviour, where the docs claim parity).

mod support;

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringpoll::channel::{cross_core, local, TryRecvError, TrySendError};
use ringpoll::sync::{Mutex, RwLock, Semaphore};
use ringpoll::time::{interval, sleep, sleep_until, timeout};
use ringpoll::{Handle, JoinError, Runtime};
use support::*;

/// Sets its flag when dropped: shows a future was dropped, not just left pending.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// ---- JoinHandle ----

#[test]
fn an_aborted_task_s_future_is_dropped_and_its_handle_says_cancelled_not_panic() {
    run(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = DropFlag(dropped.clone());
        let task = ringpoll::spawn(async move {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).await;
        });
        ringpoll::yield_now().await; // started, now waiting on its timer
        task.abort();
        task.abort(); // a second abort changes nothing
        let err = bounded(task).await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic(), "{err:?}");
        assert!(dropped.get(), "the future was dropped, its timer with it");
    });
}

#[test]
fn a_task_that_aborts_itself_stops_at_its_next_await() {
    run(async {
        let own: Rc<RefCell<Option<ringpoll::JoinHandle<()>>>> = Rc::default();
        let steps = Rc::new(Cell::new(0));
        let (o, s) = (own.clone(), steps.clone());
        let task = ringpoll::spawn(async move {
            ringpoll::yield_now().await;
            o.borrow().as_ref().expect("handle stored").abort();
            s.set(1);
            ringpoll::yield_now().await;
            s.set(2); // never: aborted at the await above
        });
        *own.borrow_mut() = Some(task);
        bounded(async {
            while !own.borrow().as_ref().unwrap().is_finished() {
                ringpoll::yield_now().await;
            }
        })
        .await;
        let task = own.borrow_mut().take().unwrap();
        assert!(bounded(task).await.unwrap_err().is_cancelled());
        assert_eq!(steps.get(), 1, "it ran no further than the await after its abort");
    });
}

#[test]
fn a_panic_is_surfaced_with_its_payload_and_the_core_runs_on() {
    run(async {
        let task = ringpoll::spawn(async {
            ringpoll::yield_now().await;
            panic!("boom {}", 7);
        });
        match bounded(task).await {
            Err(err @ JoinError::Panic(_)) => {
                assert!(err.is_panic() && !err.is_cancelled());
                let JoinError::Panic(payload) = err else { unreachable!() };
                let message = payload.downcast_ref::<String>().cloned();
                let message = message.or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
                assert_eq!(message.as_deref(), Some("boom 7"), "the panic's own payload");
            }
            other => panic!("expected a panic, got {:?}", other.map(|_| ())),
        }
        assert_eq!(bounded(ringpoll::spawn(async { 5 })).await.unwrap(), 5, "the core runs on");
    });
}

#[test]
fn aborting_a_finished_task_keeps_its_output() {
    run(async {
        let task = ringpoll::spawn(async { 11 });
        bounded(async {
            while !task.is_finished() {
                ringpoll::yield_now().await;
            }
        })
        .await;
        task.abort();
        assert_eq!(bounded(task).await.unwrap(), 11, "as tokio: abort after completion is a no-op");
    });
}

#[test]
fn dropping_a_handle_detaches_the_task_which_runs_to_its_end() {
    run(async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        drop(ringpoll::spawn(async move {
            sleep(Duration::from_millis(5)).await;
            d.set(true);
        }));
        bounded(async {
            while !done.get() {
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
}

// ---- timers ----

#[test]
fn sleep_of_zero_and_sleep_until_the_past_complete_at_once() {
    run(async {
        let start = Instant::now();
        bounded(sleep(Duration::ZERO)).await;
        bounded(sleep_until(start.checked_sub(Duration::from_secs(1)).unwrap_or(start))).await;
        bounded(sleep_until(start)).await;
        assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    });
}

#[test]
fn timeout_returns_a_ready_future_s_output_even_with_no_time_left() {
    run(async {
        assert_eq!(timeout(Duration::ZERO, async { 3 }).await, Ok(3), "as tokio: the future is polled first");
        assert_eq!(timeout(Duration::MAX, async { 4 }).await, Ok(4));
        let start = Instant::now();
        let pending = std::future::pending::<()>();
        assert!(bounded(timeout(Duration::ZERO, pending)).await.is_err(), "timeout 0 of a pending future");
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn duration_max_neither_panics_nor_fires() {
    run(async {
        let mut forever = pin!(sleep(Duration::MAX));
        assert!(!forever.is_elapsed());
        assert!(timeout(Duration::from_millis(20), forever.as_mut()).await.is_err(), "fired early");
        let mut ticks = interval(Duration::MAX);
        bounded(ticks.tick()).await; // the first tick is immediate
        assert!(timeout(Duration::from_millis(20), ticks.tick()).await.is_err(), "no second tick");
        let pending = std::future::pending::<()>();
        assert!(timeout(Duration::from_millis(5), timeout(Duration::MAX, pending)).await.is_err());
    });
}

#[test]
fn interval_ticks_at_once_then_after_a_late_tick_waits_a_full_period() {
    run(async {
        let period = Duration::from_millis(30);
        let mut ticks = interval(period);
        let start = Instant::now();
        let first = bounded(ticks.tick()).await;
        assert!(start.elapsed() < period, "the first tick is immediate");
        // Late: the core is busy for more than two periods.
        std::thread::sleep(period * 3);
        let late = bounded(ticks.tick()).await;
        let late_at = Instant::now();
        assert_eq!(late, first + period, "the late tick reports when it was due");
        let next = bounded(ticks.tick()).await;
        // As documented: no burst of catch-up ticks, the next one a full period later.
        assert!(late_at.elapsed() >= period - Duration::from_millis(2), "a catch-up burst: {:?}", late_at.elapsed());
        assert!(next >= late_at, "the tick after a late one is due after it");
    });
}

// ---- spawn_blocking ----

#[test]
fn a_blocking_job_s_panic_is_surfaced() {
    run(async {
        let err = bounded(ringpoll::spawn_blocking(|| panic!("blocking boom"))).await.unwrap_err();
        assert!(err.is_panic() && !err.is_cancelled(), "{err:?}");
    });
}

#[test]
fn many_blocking_jobs_at_once_run_on_at_most_the_bounded_threads() {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_threads(3).build().unwrap();
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, m) = (running.clone(), most.clone());
    let total = rt.spawn_on(0, move || async move {
        let jobs: Vec<_> = (0..24)
            .map(|i| {
                let (r, m) = (r.clone(), m.clone());
                ringpoll::spawn_blocking(move || {
                    m.fetch_max(r.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    r.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut total = 0;
        for job in jobs {
            total += bounded(job).await.unwrap();
        }
        total
    });
    assert_eq!(join_within(total, 20), (0..24).sum::<usize>(), "every job ran once");
    assert!(most.load(Ordering::SeqCst) <= 3, "{} jobs ran at once", most.load(Ordering::SeqCst));
    assert!(most.load(Ordering::SeqCst) >= 2, "the jobs ran side by side");
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[test]
fn a_running_blocking_job_delivers_after_shutdown_and_one_queued_after_is_cancelled() {
    let rt = one_core_runtime();
    let handle = rt.handle().clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let job = handle.spawn_blocking(move || {
        s.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        42
    });
    while !started.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    rt.shutdown();
    assert_eq!(join_within(job, 10), 42, "a job once accepted runs and delivers");
    let late = handle.spawn_blocking(|| 1);
    let err = within(10, move || late.join().unwrap_err());
    assert!(err.is_cancelled(), "queued after shutdown: {err:?}");
}

// ---- Handle and shutdown ----

#[test]
fn spawn_on_a_core_that_does_not_exist_panics_naming_it_and_the_runtime_is_unharmed() {
    let rt = one_core_runtime();
    let handle = rt.handle().clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.spawn_on(5, || async {})));
    let Err(payload) = caught else { panic!("documented: spawn_on panics") };
    let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("core 5 does not exist"), "{message}");
    assert_eq!(join_within(rt.spawn_on(0, || async { 1 }), 10), 1);
}

#[test]
fn shutdown_while_tasks_run_cancels_them_and_returns() {
    let rt = two_core_runtime();
    let tasks: Vec<_> = (0..rt.core_count())
        .flat_map(|core| {
            let busy = rt.spawn_on(core, || async {
                loop {
                    ringpoll::yield_now().await;
                }
            });
            let sleeping = rt.spawn_on(core, || async { sleep(Duration::from_secs(3600)).await });
            [busy, sleeping]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    within(10, move || rt.shutdown());
    for task in tasks {
        assert!(within(10, move || task.join().unwrap_err()).is_cancelled());
    }
}

#[test]
fn dropping_the_runtime_on_its_own_core_neither_panics_nor_hangs() {
    let rt = one_core_runtime();
    let handle = rt.handle().clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = Arc::new(std::sync::Mutex::new(Some(rt)));
    let r = rt.clone();
    let task = handle.spawn_on(0, move || async move {
        let rt = r.lock().unwrap().take().expect("runtime");
        drop(rt); // on its own core: the cores are told to stop, nothing waits here
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the drop returned");
    // The task finished, or was dropped as its core stopped: either way, no panic.
    let out = within(10, move || task.join());
    assert!(out.is_ok() || out.unwrap_err().is_cancelled());
    let late = handle.spawn_on(0, || async { 1 });
    assert!(within(10, move || late.join().unwrap_err()).is_cancelled(), "the core has stopped");
}

#[test]
fn dropping_the_runtime_or_a_handle_in_a_blocking_job_neither_panics_nor_hangs() {
    let rt = one_core_runtime();
    let handle = rt.handle().clone();
    let job = handle.spawn_blocking(move || {
        drop(Handle::current());
        drop(rt); // waits for the cores, never for this job
        7
    });
    assert_eq!(join_within(job, 10), 7);
}

// ---- channels ----

#[test]
fn a_local_bounded_send_waits_for_room_and_fails_when_the_receiver_goes() {
    run(async {
        let (tx, mut rx) = local::channel(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let mut send = pin!(tx.send(3));
        assert!(!poll_once(send.as_mut()).await, "full: the send waits");
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(bounded(send).await, Ok(()), "room made: the waiting send completes");
        // A sender waiting on a full channel learns the receiver is gone.
        let tx2 = tx.clone();
        let waiting = ringpoll::spawn(async move { tx2.send(4).await.map_err(|e| e.into_inner()) });
        ringpoll::yield_now().await;
        drop(rx);
        assert_eq!(bounded(waiting).await.unwrap(), Err(4), "the value comes back");
        assert!(tx.is_closed());
    });
}

#[test]
fn a_closed_receiver_still_yields_what_was_queued_then_none() {
    run(async {
        let (tx, mut rx) = local::unbounded();
        tx.try_send(1).unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Closed(2))));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(bounded(rx.recv()).await, None);
        let (tx, mut rx) = cross_core::unbounded();
        tx.try_send(1).unwrap();
        rx.close();
        assert!(tx.is_closed() && tx.try_send(2).is_err());
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(bounded(rx.recv()).await, None);
    });
}

#[test]
fn dropping_every_sender_ends_a_waiting_receive() {
    run(async {
        let (tx, mut rx) = local::channel::<u8>(4);
        let waiting = ringpoll::spawn(async move { rx.recv().await });
        ringpoll::yield_now().await;
        drop(tx);
        assert_eq!(bounded(waiting).await.unwrap(), None);
        let (tx, mut rx) = cross_core::channel::<u8>(4);
        let waiting = ringpoll::spawn(async move { rx.recv().await });
        ringpoll::yield_now().await;
        std::thread::spawn(move || drop(tx)).join().unwrap();
        assert_eq!(bounded(waiting).await.unwrap(), None);
    });
}

#[test]
fn a_cross_core_bounded_channel_holds_its_sender_back_until_the_other_core_receives() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u32>(4);
    let sender = rt.spawn_on(0, move || async move {
        let start = Instant::now();
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        bounded(tx.send(4)).await.unwrap(); // waits for core 1's first receive
        start.elapsed()
    });
    let receiver = rt.spawn_on(1, move || async move {
        sleep(Duration::from_millis(50)).await;
        let mut got = Vec::new();
        while let Some(i) = bounded(rx.recv()).await {
            got.push(i);
            if got.len() == 5 {
                break;
            }
        }
        got
    });
    assert!(join_within(sender, 10) >= Duration::from_millis(40), "the send waited for room");
    assert_eq!(join_within(receiver, 10), [0, 1, 2, 3, 4]);
}

#[test]
fn a_oneshot_whose_sender_is_dropped_errs_on_both_kinds() {
    run(async {
        let (tx, rx) = local::oneshot::<u8>();
        let waiting = ringpoll::spawn(rx);
        ringpoll::yield_now().await;
        drop(tx);
        assert!(bounded(waiting).await.unwrap().is_err());
        let (tx, mut rx) = cross_core::oneshot::<u8>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let waiting = ringpoll::spawn(rx);
        ringpoll::yield_now().await;
        std::thread::spawn(move || drop(tx)).join().unwrap();
        assert!(bounded(waiting).await.unwrap().is_err());
        let (tx, rx) = local::oneshot::<u8>();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1), "the value comes back");
    });
}

/// tokio's `Receiver::close`: a value sent before stays receivable, a later send fails and
/// gives its value back, and awaiting a closed receiver with nothing in it fails at once.
#[test]
fn a_closed_oneshot_keeps_a_value_sent_before_and_refuses_later_ones_on_both_kinds() {
    run(async {
        let (tx, mut rx) = local::oneshot::<u8>();
        tx.send(1).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(1));
        let (tx, mut rx) = local::oneshot::<u8>();
        rx.close();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert!(bounded(rx).await.is_err(), "awaiting a closed, empty receiver fails");
        assert_eq!(tx.send(2), Err(2));

        let (tx, mut rx) = cross_core::oneshot::<u8>();
        std::thread::spawn(move || tx.send(3).unwrap()).join().unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(3));
        let (tx, mut rx) = cross_core::oneshot::<u8>();
        rx.close();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert!(bounded(rx).await.is_err(), "awaiting a closed, empty receiver fails");
        assert_eq!(std::thread::spawn(move || tx.send(4)).join().unwrap(), Err(4));
    });
}

// ---- sync ----

#[test]
fn semaphore_close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let s = sem.clone();
        let waiter = ringpoll::spawn(async move { s.acquire().await.map(|p| p.forget()) });
        ringpoll::yield_now().await;
        sem.close();
        assert!(sem.is_closed());
        assert!(bounded(waiter).await.unwrap().is_err(), "a waiting acquire fails");
        assert!(sem.acquire().await.is_err() && sem.acquire_many(0).await.is_err());
        assert!(sem.try_acquire().is_none());
        drop(held); // still valid, given back without a panic
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn semaphore_acquire_many_waits_for_all_at_once_in_order_and_forget_keeps_them() {
    run(async {
        let sem = Rc::new(Semaphore::new(2));
        let s = sem.clone();
        let many = ringpoll::spawn(async move { s.acquire_many(3).await.map(|p| p.forget()) });
        ringpoll::yield_now().await;
        assert_eq!(sem.available_permits(), 2, "not taken piecemeal");
        assert!(sem.try_acquire().is_none(), "fair: nobody passes a waiter at the front");
        sem.add_permits(1);
        assert!(bounded(many).await.unwrap().is_ok());
        assert_eq!(sem.available_permits(), 0, "forgotten: not given back");
        sem.add_permits(1);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn a_dropped_lock_future_that_was_handed_the_lock_passes_it_on() {
    run(async {
        let mutex = Rc::new(Mutex::new(0));
        let guard = mutex.lock().await;
        let mut first = Box::pin(mutex.lock());
        assert!(!poll_once(first.as_mut()).await, "queued behind the guard");
        let m = mutex.clone();
        let second = ringpoll::spawn(async move { *m.lock().await += 1 });
        ringpoll::yield_now().await; // queued behind `first`
        drop(guard); // hands the lock to `first`...
        drop(first); // ...which is dropped before it runs: the lock must move on
        bounded(second).await.unwrap();
        assert_eq!(*mutex.try_lock().expect("free again"), 1);
    });
}

#[test]
fn a_dropped_write_future_lets_the_readers_behind_it_in() {
    run(async {
        let lock = Rc::new(RwLock::new(1));
        let reading = lock.read().await;
        let mut write = Box::pin(lock.write());
        assert!(!poll_once(write.as_mut()).await, "a reader holds it");
        let l = lock.clone();
        let reader = ringpoll::spawn(async move { *l.read().await });
        ringpoll::yield_now().await;
        assert!(!reader.is_finished(), "fair: the reader waits behind the writer");
        drop(write);
        assert_eq!(bounded(reader).await.unwrap(), 1, "the writer gone, the reader gets in");
        drop(reading);
        *bounded(lock.write()).await += 1;
        assert_eq!(*lock.read().await, 2);
    });
}

// ---- more cancellation and drop edges ----

/// Counts its drops, from any thread.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_abort_from_another_thread_drops_the_future_on_its_own_core() {
    let rt = two_core_runtime();
    let dropped_on = Arc::new(AtomicUsize::new(usize::MAX));
    let (d, started) = (dropped_on.clone(), Arc::new(AtomicBool::new(false)));
    let s = started.clone();
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(ringpoll::current_core().unwrap_or(usize::MAX - 1), Ordering::SeqCst);
        }
    }
    let task = rt.spawn_on(1, move || async move {
        let _guard = OnDrop(d);
        s.store(true, Ordering::SeqCst);
        sleep(Duration::from_secs(3600)).await;
    });
    within(10, move || {
        while !started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    task.abort();
    assert!(within(10, move || task.join().unwrap_err()).is_cancelled());
    assert_eq!(dropped_on.load(Ordering::SeqCst), 1, "dropped by core 1, its own");
}

#[test]
fn a_detached_task_s_output_is_dropped_once_it_is_made() {
    run(async {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let task = ringpoll::spawn(async move {
            sleep(Duration::from_millis(2)).await;
            Counted(d)
        });
        task.detach();
        bounded(async {
            while drops.load(Ordering::SeqCst) == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn notify_one_stores_one_permit_and_a_dropped_notified_passes_its_notification_on() {
    run(async {
        let notify = Rc::new(ringpoll::sync::Notify::new());
        notify.notify_one();
        notify.notify_one();
        bounded(notify.notified()).await; // the stored permit
        let mut second = Box::pin(notify.notified());
        assert!(!poll_once(second.as_mut()).await, "one permit, not two");
        let n = notify.clone();
        let behind = ringpoll::spawn(async move { n.notified().await });
        ringpoll::yield_now().await;
        notify.notify_one(); // serves `second`, the longest waiting...
        drop(second); // ...which goes without taking it: the one behind gets it
        bounded(behind).await.unwrap();
    });
}

#[test]
fn a_dropped_send_that_was_given_room_passes_it_to_the_next_sender() {
    run(async {
        let (tx, mut rx) = local::channel(1);
        tx.try_send(0).unwrap();
        let mut first = Box::pin(tx.send(1));
        assert!(!poll_once(first.as_mut()).await, "full");
        let tx2 = tx.clone();
        let second = ringpoll::spawn(async move { tx2.send(2).await });
        ringpoll::yield_now().await;
        assert_eq!(rx.recv().await, Some(0)); // room, for `first`...
        drop(first); // ...which goes without sending
        assert_eq!(bounded(second).await.unwrap(), Ok(()));
        assert_eq!(bounded(rx.recv()).await, Some(2));
    });
}

#[test]
fn dropping_a_receiver_drops_the_messages_it_left_queued() {
    run(async {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = local::unbounded();
        (0..3).for_each(|_| tx.try_send(Counted(drops.clone())).unwrap());
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 3, "local: dropped with the receiver");
        let (tx, rx) = cross_core::unbounded();
        (0..3).for_each(|_| tx.try_send(Counted(drops.clone())).unwrap());
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 6, "cross-core: dropped with the receiver");
        assert!(tx.is_closed());
    });
}

#[test]
fn handles_held_by_tasks_and_jobs_outliving_the_runtime_drop_cleanly() {
    let rt = two_core_runtime();
    let started = Arc::new(AtomicUsize::new(0));
    for core in 0..rt.core_count() {
        let s = started.clone();
        rt.spawn_on(core, move || async move {
            let _handle = Handle::current(); // dropped on this core as the runtime stops
            s.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        })
        .detach();
    }
    let job = rt.handle().spawn_blocking(|| {
        let handle = Handle::current();
        std::thread::sleep(Duration::from_millis(100));
        // The runtime is gone by now: its handle still answers, and spawning is cancelled.
        let late = handle.spawn_on(0, || async { 1 });
        drop(handle); // the last handle, dropped on a pool thread
        late.join().is_err()
    });
    within(10, move || {
        while started.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(rt);
    });
    assert!(join_within(job, 10), "spawn_on after the runtime dropped: Cancelled");
}

#[test]
fn a_graceful_shutdown_with_duration_max_returns_once_the_tasks_are_done() {
    let rt = one_core_runtime();
    let task = rt.spawn_on(0, || async {
        sleep(Duration::from_millis(20)).await;
        5
    });
    let handle = rt.handle().clone();
    let cancelled = within(10, move || rt.shutdown_gracefully(Duration::MAX));
    assert_eq!(cancelled, 0, "the task finished within the grace");
    assert_eq!(join_within(task, 10), 5);
    handle.shutdown_gracefully(Duration::MAX); // a second request does nothing
}

#[test]
fn a_graceful_shutdown_cancels_an_always_ready_task_once_the_grace_is_over() {
    let rt = one_core_runtime();
    let spinner = rt.spawn_on(0, || async {
        loop {
            ringpoll::yield_now().await;
        }
    });
    let start = Instant::now();
    let cancelled = within(10, move || rt.shutdown_gracefully(Duration::from_millis(50)));
    assert_eq!(cancelled, 1);
    assert!(start.elapsed() >= Duration::from_millis(45), "the grace was given: {:?}", start.elapsed());
    assert!(within(10, move || spinner.join().unwrap_err()).is_cancelled());
}

#[test]
fn a_sleep_armed_on_one_core_completes_when_awaited_on_another() {
    let rt = two_core_runtime();
    let (tx, rx) = std::sync::mpsc::channel();
    let armed = rt.spawn_on(0, move || async move {
        let mut nap = Box::pin(sleep(Duration::from_millis(30)));
        assert!(!poll_once(nap.as_mut()).await, "armed in core 0's timers");
        tx.send(nap).unwrap(); // Send, as hyper's timer wants
    });
    join_within(armed, 10);
    let nap = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let start = Instant::now();
    let woke = rt.spawn_on(1, move || async move { bounded(nap).await });
    join_within(woke, 10);
    assert!(start.elapsed() < Duration::from_secs(5), "re-armed on core 1");
}

#[test]
fn timeout_at_a_past_deadline_elapses_at_once_for_a_pending_future() {
    run(async {
        let past = Instant::now();
        sleep(Duration::from_millis(2)).await;
        let start = Instant::now();
        let pending = std::future::pending::<()>();
        assert!(ringpoll::time::timeout_at(past, pending).await.is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn join_on_a_core_panics_instead_of_stalling_it_and_the_core_runs_on() {
    let rt = one_core_runtime();
    let outcome = rt.spawn_on(0, || async {
        let other = ringpoll::spawn(async { 1 });
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| other.join()));
        let survivor = ringpoll::spawn(async { 2 });
        (caught.is_err(), bounded(survivor).await.unwrap())
    });
    assert_eq!(join_within(outcome, 10), (true, 2), "documented: join on a core panics");
}

#[test]
fn block_on_s_blocking_jobs_see_no_runtime_handle() {
    run(async {
        assert!(Handle::try_current().is_none(), "block_on has no runtime");
        let seen = bounded(ringpoll::spawn_blocking(|| Handle::try_current().is_some())).await.unwrap();
        assert!(!seen, "documented: None in block_on's blocking jobs");
    });
}

#[test]
fn a_job_outliving_block_on_that_queues_another_gets_cancelled_not_a_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    run(async move {
        ringpoll::spawn_blocking(move || {
            s.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100)); // block_on returns meanwhile
            let late = ringpoll::spawn_blocking(|| 1);
            let _ = tx.send(late.join().map_err(|e| e.is_cancelled()));
        })
        .detach();
        bounded(async {
            while !started.load(Ordering::SeqCst) {
                sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    });
    let late = rx.recv_timeout(Duration::from_secs(10)).expect("the job finished");
    assert_eq!(late, Err(true), "documented: Cancelled once block_on returned");
}
