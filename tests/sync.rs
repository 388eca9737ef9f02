//! Single-core sync primitives: Notify, Mutex, RwLock, Semaphore, OnceCell, Barrier.

mod support;

use std::cell::{Cell, RefCell};
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use ringpoll::sync::{Barrier, Mutex, MutexGuard, Notify, OnceCell, RwLock, Semaphore, SetError};
use ringpoll::time::timeout;
use ringpoll::{block_on, spawn, yield_now};
use support::{bounded, run, start_and_drop};

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

// ---- try_* while contended -------------------------------------------------------------

#[test]
fn rwlock_try_read_and_try_write_fail_while_contended() {
    run(async {
        let lock = Rc::new(RwLock::new(0));
        let reader = lock.try_read().expect("free");
        assert!(lock.try_write().is_none(), "a reader holds it");
        assert!(lock.clone().try_write_owned().is_none());
        let second = lock.try_read().expect("readers share");
        drop((reader, second));

        let writer = lock.try_write().expect("free again");
        assert!(lock.try_read().is_none(), "a writer holds it");
        assert!(lock.clone().try_read_owned().is_none());
        assert!(lock.try_write().is_none());
        drop(writer);

        // A writer queued behind a reader: a new reader does not pass it, by try_read either.
        let reader = lock.read().await;
        let queued_writer = spawn({
            let lock = lock.clone();
            async move { *lock.write().await += 1 }
        });
        yield_now().await;
        assert!(lock.try_read().is_none(), "try_read passed a waiting writer");
        drop(reader);
        bounded(queued_writer).await.unwrap();
        assert_eq!(*lock.try_read().expect("free"), 1);
    });
}

#[test]
fn try_acquire_many_fails_while_short_or_while_anybody_waits() {
    run(async {
        let sem = Rc::new(Semaphore::new(3));
        let two = sem.try_acquire_many(2).expect("3 free");
        assert_eq!(two.num_permits(), 2);
        assert!(sem.try_acquire_many(2).is_none(), "1 free");
        assert!(sem.clone().try_acquire_many_owned(2).is_none());
        let waiter = spawn({
            let sem = sem.clone();
            async move { sem.acquire_many(3).await.map(|p| p.num_permits()) }
        });
        yield_now().await;
        assert!(sem.try_acquire_many(1).is_none(), "one free, but a waiter is ahead");
        assert!(sem.clone().try_acquire_owned().is_none());
        drop(two);
        assert_eq!(bounded(waiter).await.unwrap(), Ok(3));
        assert_eq!(sem.available_permits(), 3);
        sem.close();
        assert!(sem.try_acquire_many(1).is_none(), "closed");
    });
}

// ---- owned guards and permits ----------------------------------------------------------

#[test]
fn an_owned_permit_moved_into_a_task_is_released_when_the_task_is_aborted() {
    run(async {
        let connections = Rc::new(Semaphore::new(2));
        let held: Vec<_> = (0..2)
            .map(|_| {
                let permit = connections.clone().try_acquire_owned().expect("free");
                spawn(async move {
                    let _permit = permit;
                    pending::<()>().await // a connection that never ends by itself
                })
            })
            .collect();
        yield_now().await;
        assert!(connections.clone().try_acquire_owned().is_none(), "both held by tasks");
        let next = spawn(connections.clone().acquire_owned());
        yield_now().await;
        assert!(!next.is_finished());
        held[0].abort();
        let permit = bounded(next).await.unwrap().expect("open");
        assert_eq!(permit.num_permits(), 1);
        assert!(Rc::ptr_eq(permit.semaphore(), &connections));
        held[1].abort();
        for h in held {
            assert!(bounded(h).await.unwrap_err().is_cancelled());
        }
        assert_eq!(connections.available_permits(), 1, "the aborted task's permit came back");
        drop(permit);
        assert_eq!(connections.available_permits(), 2);
    });
}

#[test]
fn owned_lock_guards_held_by_aborted_tasks_unlock() {
    run(async {
        let mutex = Rc::new(Mutex::new(0));
        let mut guard = mutex.clone().lock_owned().await;
        assert!(Rc::ptr_eq(guard.mutex(), &mutex));
        let holder = spawn(async move {
            *guard += 1;
            pending::<()>().await
        });
        yield_now().await;
        assert!(mutex.try_lock().is_none());
        assert!(mutex.clone().try_lock_owned().is_none());
        holder.abort();
        assert_eq!(*bounded(mutex.lock()).await, 1, "the task's write, then its unlock");

        let lock = Rc::new(RwLock::new(0));
        let mut writer = lock.clone().write_owned().await;
        let write_holder = spawn(async move {
            *writer = 5;
            pending::<()>().await
        });
        yield_now().await;
        assert!(lock.try_read().is_none());
        let readers: Vec<_> = (0..2).map(|_| spawn(lock.clone().read_owned())).collect();
        yield_now().await;
        write_holder.abort();
        let mut guards = Vec::new();
        for r in readers {
            guards.push(bounded(r).await.unwrap()); // both read at once
        }
        assert_eq!(guards.iter().map(|g| **g).collect::<Vec<_>>(), [5, 5]);
        drop(guards);

        let reader = lock.clone().read_owned().await;
        let read_holder = spawn(async move {
            let _reader = reader;
            pending::<()>().await
        });
        yield_now().await;
        assert!(lock.try_write().is_none());
        read_holder.abort();
        *bounded(lock.write()).await += 1;
        assert_eq!(*lock.read().await, 6);
    });
}

#[test]
fn cancelled_owned_waits_lose_no_permit_and_block_nobody() {
    run(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.clone().acquire_owned().await.unwrap();
        // An owned acquire and a big one wait, then are dropped while queued.
        assert!(timeout(Duration::from_millis(10), sem.clone().acquire_owned()).await.is_err());
        start_and_drop(sem.clone().acquire_many_owned(1)).await;
        let next = spawn(sem.clone().acquire_owned());
        yield_now().await;
        drop(held);
        let permit = bounded(next).await.unwrap().unwrap();
        assert_eq!(sem.available_permits(), 0);
        drop(permit);
        assert_eq!(sem.available_permits(), 1, "nothing lost to the dropped waits");

        // A writer at the front of the queue gives up: the readers behind it go ahead.
        let lock = Rc::new(RwLock::new(()));
        let reader = lock.read().await;
        let writer = spawn(lock.clone().write_owned());
        yield_now().await;
        let late_reader = spawn(lock.clone().read_owned());
        yield_now().await;
        assert!(!late_reader.is_finished(), "queued behind the writer");
        writer.abort();
        drop(bounded(late_reader).await.unwrap());
        drop(reader);
        assert!(lock.try_write().is_some(), "every permit back");

        // The same for a mutex: a cancelled lock_owned in the queue does not hold the lock.
        let mutex = Rc::new(Mutex::new(()));
        let guard = mutex.lock().await;
        start_and_drop(mutex.clone().lock_owned()).await;
        let waiter = spawn(mutex.clone().lock_owned());
        yield_now().await;
        drop(guard);
        drop(bounded(waiter).await.unwrap());
        assert!(mutex.try_lock().is_some());
    });
}

#[test]
fn a_mapped_guard_keeps_the_whole_mutex_locked() {
    run(async {
        let pair = Rc::new(Mutex::new((1, vec![0u8])));
        let mut bytes = MutexGuard::map(pair.lock().await, |(_, bytes)| bytes);
        bytes.push(1);
        assert!(pair.try_lock().is_none());
        let waiter = spawn({
            let pair = pair.clone();
            async move { pair.lock().await.1.len() }
        });
        yield_now().await;
        assert!(!waiter.is_finished());
        drop(bytes);
        assert_eq!(bounded(waiter).await.unwrap(), 2);
    });
}

// ---- Notify::notify_last ---------------------------------------------------------------

#[test]
fn notify_last_wakes_the_newest_and_passes_on_if_dropped() {
    run(async {
        let notify = Rc::new(Notify::new());
        let woken = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (notify, woken) = (notify.clone(), woken.clone());
                spawn(async move {
                    notify.notified().await;
                    woken.borrow_mut().push(i);
                })
            })
            .collect();
        yield_now().await;
        // A newer waiter, notified and then dropped unused: the notification goes on to 2.
        let mut newest = Box::pin(notify.notified());
        assert!(futures_poll_once(newest.as_mut()).await.is_none());
        notify.notify_last();
        drop(newest);
        yield_now().await;
        assert_eq!(*woken.borrow(), [2]);
        notify.notify_one();
        notify.notify_last();
        for t in tasks {
            bounded(t).await.unwrap();
        }
        assert_eq!(*woken.borrow(), [2, 0, 1]);
        notify.notify_last(); // nobody waits: stored, as notify_one
        bounded(notify.notified()).await;
    });
}

// ---- OnceCell ------------------------------------------------------------------------

#[test]
fn once_cell_runs_one_initialiser_for_concurrent_callers() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let runs = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                spawn(async move {
                    let init = || async {
                        runs.set(runs.get() + 1);
                        ringpoll::time::sleep(Duration::from_millis(5)).await;
                        i
                    };
                    *cell.get_or_init(init).await
                })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(bounded(t).await.unwrap());
        }
        assert_eq!(runs.get(), 1, "one initialiser ran");
        assert_eq!(seen, [0; 5], "the first caller's value, for everyone");
        assert_eq!(cell.get(), Some(&0));
        assert_eq!(*cell.get_or_init(|| async { 9 }).await, 0, "set: init is not called");
    });
}

#[test]
fn once_cell_initialiser_cancelled_mid_await_is_taken_over_by_a_waiter() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        // The first initialiser never finishes; its task is aborted mid-await.
        let stuck = spawn({
            let cell = cell.clone();
            async move { *cell.get_or_init(pending::<u32>).await }
        });
        yield_now().await;
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let cell = cell.clone();
                spawn(async move { *cell.get_or_init(|| async move { 10 + i }).await })
            })
            .collect();
        yield_now().await;
        assert!(matches!(cell.set(99), Err(SetError::Initializing(99))), "an initialiser is running");
        assert!(waiters.iter().all(|w| !w.is_finished()), "they wait for the running initialiser");
        stuck.abort();
        let mut seen = Vec::new();
        for w in waiters {
            seen.push(bounded(w).await.unwrap());
        }
        assert_eq!(seen, [10, 10], "the longest waiter took over; the other got its value");
        assert!(bounded(stuck).await.unwrap_err().is_cancelled());

        // The same with a timeout around the initialiser instead of an abort.
        let cell = OnceCell::new();
        let slow = cell.get_or_init(|| async {
            ringpoll::time::sleep(Duration::from_secs(60)).await;
            1
        });
        assert!(timeout(Duration::from_millis(10), slow).await.is_err());
        assert!(!cell.initialized());
        assert_eq!(*bounded(cell.get_or_init(|| async { 2 })).await, 2);
    });
}

#[test]
fn once_cell_failed_initialiser_lets_the_next_waiter_try() {
    run(async {
        let cell = Rc::new(OnceCell::new());
        let first = spawn({
            let cell = cell.clone();
            async move {
                let init = || async {
                    yield_now().await;
                    Err::<u32, _>("backend down")
                };
                cell.get_or_try_init(init).await.copied()
            }
        });
        yield_now().await;
        let second = spawn({
            let cell = cell.clone();
            async move { cell.get_or_try_init(|| async { Ok::<_, &str>(7) }).await.copied() }
        });
        assert_eq!(bounded(first).await.unwrap(), Err("backend down"));
        assert_eq!(bounded(second).await.unwrap(), Ok(7));
        assert_eq!(cell.get(), Some(&7));
    });
}

#[test]
fn once_cell_set_take_and_into_inner() {
    run(async {
        let mut cell = OnceCell::new();
        assert_eq!(cell.get(), None);
        cell.set(1).unwrap();
        let err = cell.set(2).unwrap_err();
        assert!(err.is_already_init_err() && !err.is_initializing_err());
        assert_eq!(err.into_inner(), 2);
        assert_eq!(cell.take(), Some(1));
        assert!(!cell.initialized());
        assert_eq!(*bounded(cell.get_or_init(|| async { 3 })).await, 3, "settable again after take");
        *cell.get_mut().unwrap() += 1;
        assert_eq!(cell.into_inner(), Some(4));
        assert_eq!(OnceCell::from(5).get(), Some(&5));
        assert_eq!(OnceCell::<u8>::new_with(None).into_inner(), None);
    });
}

// ---- Barrier -------------------------------------------------------------------------

#[test]
fn a_barrier_of_one_lets_every_wait_through_as_leader() {
    run(async {
        for n in [0, 1] {
            let barrier = Barrier::new(n);
            for _ in 0..3 {
                assert!(bounded(barrier.wait()).await.is_leader());
            }
        }
    });
}

#[test]
fn a_barrier_of_three_holds_until_the_third_and_is_reused() {
    run(async {
        let barrier = Rc::new(Barrier::new(3));
        let passed = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (barrier, passed) = (barrier.clone(), passed.clone());
                spawn(async move {
                    let mut leaders = Vec::new();
                    for generation in 0..2 {
                        // Arrive in a different order each generation.
                        for _ in 0..(i + generation) % 3 {
                            yield_now().await;
                        }
                        leaders.push(barrier.wait().await.is_leader());
                        passed.set(passed.get() + 1);
                    }
                    leaders
                })
            })
            .collect();
        let mut leaders = [0; 2];
        for t in tasks {
            for (generation, leader) in bounded(t).await.unwrap().into_iter().enumerate() {
                leaders[generation] += leader as usize;
            }
        }
        assert_eq!(leaders, [1, 1], "one leader per generation");
        assert_eq!(passed.get(), 6);

        // Two waits are not enough: both wait until a third arrives.
        let early: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                spawn(async move { barrier.wait().await.is_leader() })
            })
            .collect();
        ringpoll::time::sleep(Duration::from_millis(10)).await;
        assert!(early.iter().all(|t| !t.is_finished()), "released before the third arrived");
        assert!(bounded(barrier.wait()).await.is_leader(), "the last to arrive leads");
        for t in early {
            assert!(!bounded(t).await.unwrap());
        }
    });
}

#[test]
fn a_dropped_barrier_wait_takes_its_arrival_back() {
    run(async {
        let barrier = Rc::new(Barrier::new(2));
        // Arrives, then gives up before a second wait comes.
        assert!(timeout(Duration::from_millis(10), barrier.wait()).await.is_err());
        let first = spawn({
            let barrier = barrier.clone();
            async move { barrier.wait().await.is_leader() }
        });
        ringpoll::time::sleep(Duration::from_millis(10)).await;
        assert!(!first.is_finished(), "the dropped wait still counted");
        assert!(bounded(barrier.wait()).await.is_leader());
        assert!(!bounded(first).await.unwrap());
        // A wait dropped after its generation completed (served, never polled again) does
        // not take anything from the next generation.
        let mut served = Box::pin(barrier.wait());
        assert!(futures_poll_once(served.as_mut()).await.is_none());
        assert!(bounded(barrier.wait()).await.is_leader());
        drop(served);
        let next = spawn({
            let barrier = barrier.clone();
            async move { barrier.wait().await.is_leader() }
        });
        yield_now().await;
        assert!(bounded(barrier.wait()).await.is_leader());
        assert!(!bounded(next).await.unwrap());
    });
}
