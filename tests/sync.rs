//! Single-core sync primitives: Notify, Mutex, RwLock, Semaphore.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::sync::{Mutex, Notify, RwLock, Semaphore};
use ringpoll::time::timeout;
use ringpoll::{block_on, spawn, yield_now};

#[test]
fn mutex_excludes_across_awaits() {
    block_on(async {
        let counter = Rc::new(Mutex::new(0u32));
        let inside = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (counter, inside) = (counter.clone(), inside.clone());
                spawn(async move {
                    for _ in 0..10 {
                        let mut n = counter.lock().await;
                        inside.set(inside.get() + 1);
                        assert_eq!(inside.get(), 1, "two guards at once");
                        let seen = *n;
                        yield_now().await; // held across an await
                        *n = seen + 1;
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*counter.lock().await, 200);
    });
}

#[test]
fn mutex_serves_waiters_in_order_and_try_lock_respects_them() {
    block_on(async {
        let m = Rc::new(Mutex::new(Vec::new()));
        let guard = m.lock().await;
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let m = m.clone();
                spawn(async move { m.lock().await.push(i) })
            })
            .collect();
        yield_now().await; // every task now waits
        assert!(m.try_lock().is_none());
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn rwlock_shares_reads_and_a_waiting_writer_is_not_starved() {
    block_on(async {
        let lock = Rc::new(RwLock::new(0));
        let r1 = lock.read().await;
        let r2 = lock.read().await; // two readers at once
        let writer = spawn({
            let lock = lock.clone();
            async move { *lock.write().await += 1 }
        });
        yield_now().await;
        // A reader arriving after the waiting writer queues behind it.
        let late_reader = spawn({
            let lock = lock.clone();
            async move { *lock.read().await }
        });
        yield_now().await;
        drop((r1, r2));
        writer.await.unwrap();
        assert_eq!(late_reader.await.unwrap(), 1, "the reader saw the write that came before it");
    });
}

#[test]
fn semaphore_bounds_concurrency() {
    block_on(async {
        let limit = Rc::new(Semaphore::new(3));
        let running = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (limit, running, peak) = (limit.clone(), running.clone(), peak.clone());
                spawn(async move {
                    let _permit = limit.acquire().await.unwrap();
                    running.set(running.get() + 1);
                    peak.set(peak.get().max(running.get()));
                    yield_now().await;
                    running.set(running.get() - 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.get(), 3);
        assert_eq!(limit.available_permits(), 3);
    });
}

#[test]
fn a_dropped_acquire_leaves_the_queue_and_loses_no_permit() {
    block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        // Waits, then gives up: its place in the queue goes away.
        assert!(timeout(Duration::from_millis(10), sem.acquire()).await.is_err());
        let next = spawn({
            let sem = sem.clone();
            async move { sem.acquire_many(1).await.map(|p| p.forget()) }
        });
        yield_now().await;
        drop(held);
        next.await.unwrap().unwrap();
        assert_eq!(sem.available_permits(), 0, "the forgotten permit stays taken");
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn a_big_request_at_the_front_is_not_passed_by_small_ones() {
    block_on(async {
        let sem = Rc::new(Semaphore::new(2));
        let held = sem.acquire_many(2).await.unwrap();
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let big = spawn({
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let _p = sem.acquire_many(2).await.unwrap();
                order.borrow_mut().push("big");
            }
        });
        yield_now().await;
        let small = spawn({
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let _p = sem.acquire().await.unwrap();
                order.borrow_mut().push("small");
            }
        });
        yield_now().await;
        drop(held);
        big.await.unwrap();
        small.await.unwrap();
        assert_eq!(*order.borrow(), ["big", "small"]);
    });
}

#[test]
fn closing_a_semaphore_fails_waiters_but_not_holders() {
    block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await.unwrap();
        let waiter = spawn({
            let sem = sem.clone();
            async move { sem.acquire().await.map(drop) }
        });
        yield_now().await;
        sem.close();
        assert!(waiter.await.unwrap().is_err());
        assert!(sem.acquire().await.is_err());
        drop(held);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn notify_one_stores_a_permit_and_wakes_in_order() {
    block_on(async {
        let notify = Rc::new(Notify::new());
        notify.notify_one();
        notify.notified().await; // the stored permit
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (notify, order) = (notify.clone(), order.clone());
                spawn(async move {
                    notify.notified().await;
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        yield_now().await;
        for _ in 0..3 {
            notify.notify_one();
            yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2]);
    });
}

#[test]
fn notify_waiters_wakes_everyone_waiting_and_stores_nothing() {
    block_on(async {
        let notify = Rc::new(Notify::new());
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let notify = notify.clone();
                spawn(async move { notify.notified().await })
            })
            .collect();
        yield_now().await;
        notify.notify_waiters();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(timeout(Duration::from_millis(10), notify.notified()).await.is_err(), "no permit stored");
    });
}

#[test]
fn a_dropped_notified_passes_its_notification_on() {
    block_on(async {
        let notify = Rc::new(Notify::new());
        let mut first = Box::pin(notify.notified());
        assert!(futures_poll_once(first.as_mut()).await.is_none());
        let second = spawn({
            let notify = notify.clone();
            async move { notify.notified().await }
        });
        yield_now().await;
        notify.notify_one(); // goes to `first`, which is dropped unused
        drop(first);
        timeout(Duration::from_secs(5), second).await.expect("second woken").unwrap();
    });
}

async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[test]
fn a_semaphore_of_usize_max_permits_takes_more_without_overflow() {
    // `Semaphore::new(usize::MAX)`, "no limit", is a common idiom: permits added to it
    // overflowed the count (a panic in debug builds; in release it wrapped to a handful of
    // permits and later acquires waited for ever).
    let sem = Semaphore::new(usize::MAX);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), usize::MAX, "the count saturates");
    let permit = sem.try_acquire().expect("a permit");
    sem.add_permits(5);
    drop(permit);
    assert_eq!(sem.available_permits(), usize::MAX);
    assert!(sem.try_acquire().is_some(), "still usable");
}
