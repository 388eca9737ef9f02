//! The tokio-shaped channel API: `Sender::closed`, `reserve`/`Permit`, `recv_many`,
//! capacities, `poll_recv`, `blocking_recv`, oneshot `closed`; local and cross-core, with the
//! closing seen from the other end and from other cores. Every wait is bounded.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ringpoll::channel::{cross_core, local, TryRecvError, TrySendError};
use ringpoll::time::timeout;
use ringpoll::{spawn, yield_now};
use support::{bounded, join_within, run, two_core_runtime, within};

/// Long enough for a task that should stay blocked to have run, were it not blocked.
const SETTLE: Duration = Duration::from_millis(20);

#[test]
fn local_permit_holds_its_slot_and_sends_without_waiting() {
    run(async {
        let (tx, mut rx) = local::channel::<&str>(2);
        assert_eq!((tx.capacity(), tx.max_capacity()), (2, 2));
        let first = tx.reserve().await.unwrap();
        let second = tx.try_reserve().unwrap();
        assert_eq!(tx.capacity(), 0, "both slots are held");
        assert!(matches!(tx.try_send("no room"), Err(TrySendError::Full("no room"))));
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
        assert!(timeout(SETTLE, tx.reserve()).await.is_err(), "a full channel makes reserve wait");
        second.send("b");
        first.send("a");
        assert_eq!(rx.try_recv(), Ok("b"), "in the order the permits sent, not reserved");
        assert_eq!(rx.try_recv(), Ok("a"));
        assert_eq!(tx.capacity(), 2, "each receive gave its slot back");
    });
}

#[test]
fn a_dropped_local_permit_returns_its_slot_and_wakes_a_blocked_sender() {
    run(async {
        let (tx, mut rx) = local::channel::<u32>(1);
        let permit = tx.reserve().await.unwrap();
        let sent = Rc::new(Cell::new(false));
        let sender = spawn({
            let (tx, sent) = (tx.clone(), sent.clone());
            async move {
                tx.send(7).await.unwrap();
                sent.set(true);
            }
        });
        ringpoll::time::sleep(SETTLE).await;
        assert!(!sent.get(), "the permit holds the only slot");
        drop(permit);
        bounded(sender).await.unwrap();
        assert!(sent.get());
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(tx.capacity(), 1);
    });
}

#[test]
fn a_closed_local_receiver_still_takes_what_held_permits_send_and_then_ends() {
    run(async {
        let (tx, mut rx) = local::channel::<u32>(4);
        let permit = tx.reserve().await.unwrap();
        let unused = tx.reserve().await.unwrap();
        rx.close();
        assert!(rx.is_closed());
        assert!(tx.reserve().await.is_err(), "no new permit once closed");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "permits are out: not ended yet");
        permit.send(1);
        assert_eq!(rx.recv().await, Some(1), "a permit held at the close still sends");
        // The receiver waits for the last permit; dropped while it waits, the permit wakes it.
        let (mut unused, mut waited) = (Some(unused), false);
        let mut recv = std::pin::pin!(rx.recv());
        let end = std::future::poll_fn(|cx| match recv.as_mut().poll(cx) {
            Poll::Pending => {
                waited = true;
                drop(unused.take()); // its wake polls again
                Poll::Pending
            }
            ready => ready,
        });
        assert_eq!(bounded(end).await, None, "the last permit dropped ends the channel");
        assert!(waited, "a permit out kept it from ending");

        // A dropped receiver: the permit's value is dropped at once, not queued.
        let (tx, rx) = local::channel::<Rc<()>>(1);
        let permit = tx.reserve().await.unwrap();
        drop(rx);
        let value = Rc::new(());
        permit.send(value.clone());
        assert_eq!(Rc::strong_count(&value), 1);
    });
}

#[test]
fn a_local_owned_permit_moves_into_a_task_and_hands_the_sender_back() {
    run(async {
        let (tx, mut rx) = local::channel::<u32>(1);
        let permit = tx.clone().reserve_owned().await.unwrap();
        assert_eq!((tx.capacity(), rx.capacity(), rx.max_capacity()), (0, 0, 1));
        let tx = match tx.try_reserve_owned() {
            Err(TrySendError::Full(tx)) => tx,
            other => panic!("the one slot is held: {other:?}"),
        };
        let task = spawn(async move { permit.send(5).strong_count() });
        assert_eq!(bounded(task).await.unwrap(), 2, "the sender came back, still counted");
        assert_eq!(rx.recv().await, Some(5));

        // Released or dropped unused, it gives the slot to a blocked sender.
        let permit = tx.clone().reserve_owned().await.unwrap();
        let blocked = spawn({
            let tx = tx.clone();
            async move { tx.send(6).await }
        });
        ringpoll::time::sleep(SETTLE).await;
        assert!(!blocked.is_finished(), "the permit holds the slot");
        let back = permit.release();
        assert!(back.same_channel(&tx));
        bounded(blocked).await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(6));
        let permit = tx.clone().try_reserve_owned().unwrap();
        drop(permit);
        assert_eq!(rx.capacity(), 1);
        drop((tx, back));
        assert_eq!(bounded(rx.recv()).await, None);
    });
}

#[test]
fn local_recv_many_takes_a_burst_in_batches_and_frees_room_for_senders() {
    run(async {
        let (tx, mut rx) = local::channel::<u32>(8);
        let sender = spawn(async move {
            for n in 0..100 {
                tx.send(n).await.unwrap(); // blocks every 8 until the batch is taken
            }
        });
        let (mut got, mut batches) = (Vec::new(), Vec::new());
        loop {
            let n = bounded(rx.recv_many(&mut got, 5)).await;
            if n == 0 {
                break;
            }
            batches.push(n);
        }
        bounded(sender).await.unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(batches.iter().all(|&n| (1..=5).contains(&n)), "{batches:?}");
        assert!(batches.iter().any(|&n| n > 1), "a burst comes in batches: {batches:?}");
        assert_eq!(rx.recv_many(&mut got, 5).await, 0, "ended: 0, at once");

        let (tx, mut rx) = local::unbounded::<u32>();
        tx.try_send(1).unwrap();
        assert_eq!(rx.recv_many(&mut got, 0).await, 0, "limit 0 takes nothing");
        assert_eq!(rx.len(), 1);
        assert!(
            timeout(SETTLE, async {
                rx.recv_many(&mut got, 4).await;
                rx.recv_many(&mut got, 4).await
            })
            .await
            .is_err(),
            "an empty open channel makes recv_many wait"
        );
    });
}

#[test]
fn local_closed_wakes_every_waiting_sender_when_the_receiver_closes_or_goes() {
    run(async {
        for drop_it in [false, true] {
            let (tx, mut rx) = local::channel::<u32>(1);
            let woken = Rc::new(Cell::new(0));
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let (tx, woken) = (tx.clone(), woken.clone());
                    spawn(async move {
                        tx.closed().await;
                        woken.set(woken.get() + 1);
                    })
                })
                .collect();
            ringpoll::time::sleep(SETTLE).await;
            assert_eq!(woken.get(), 0, "open: nobody completes");
            tx.try_send(1).unwrap();
            assert_eq!(rx.recv().await, Some(1));
            yield_now().await;
            assert_eq!(woken.get(), 0, "a send and a receive do not complete it");
            if drop_it {
                drop(rx);
            } else {
                rx.close();
            }
            for w in waiters {
                bounded(w).await.unwrap();
            }
            assert_eq!(woken.get(), 3);
            bounded(tx.closed()).await; // already closed: at once
        }
    });
}

#[test]
fn local_counts_identity_and_poll_recv() {
    run(async {
        let (tx, mut rx) = local::unbounded::<u8>();
        let (other, _other_rx) = local::unbounded::<u8>();
        let tx2 = tx.clone();
        assert!(tx.same_channel(&tx2) && !tx.same_channel(&other));
        assert_eq!((tx.strong_count(), tx.capacity(), tx.max_capacity()), (2, usize::MAX, usize::MAX));
        let got = std::future::poll_fn(|cx| match rx.poll_recv(cx) {
            Poll::Pending => {
                tx.try_send(3).unwrap(); // wakes this task: polled again, it finds the message
                Poll::Pending
            }
            ready => ready,
        });
        assert_eq!(bounded(got).await, Some(3));
        assert!(!rx.is_closed());
        drop((tx, tx2));
        assert!(rx.is_closed(), "every sender gone");
        assert_eq!(std::future::poll_fn(|cx| rx.poll_recv(cx)).await, None);
    });
}

#[test]
fn local_oneshot_closed_completes_when_the_receiver_closes_or_goes() {
    run(async {
        let (mut tx, rx) = local::oneshot::<u8>();
        let waiting = spawn(async move {
            tx.closed().await;
            tx.send(1)
        });
        ringpoll::time::sleep(SETTLE).await;
        assert!(!waiting.is_finished(), "the receiver is there");
        drop(rx);
        assert_eq!(bounded(waiting).await.unwrap(), Err(1));

        let (mut tx, mut rx) = local::oneshot::<u8>();
        let waiting = spawn(async move { tx.closed().await });
        yield_now().await;
        rx.close();
        bounded(waiting).await.unwrap();
    });
}

#[test]
fn cross_core_closed_wakes_senders_on_every_core_from_the_receivers_drop_or_close() {
    let rt = two_core_runtime();
    for drop_it in [false, true] {
        let (tx, rx) = cross_core::channel::<u32>(4);
        let woken = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|i| {
                let (tx, woken) = (tx.clone(), woken.clone());
                rt.spawn_on(i % 2, move || async move {
                    bounded(tx.closed()).await;
                    woken.fetch_add(1, Ordering::SeqCst);
                    tx.is_closed()
                })
            })
            .collect();
        std::thread::sleep(SETTLE);
        assert_eq!(woken.load(Ordering::SeqCst), 0, "open: nobody completes");
        tx.try_send(1).unwrap();
        let mut rx = rx;
        let closer = rt.spawn_on(1, move || async move {
            assert_eq!(rx.recv().await, Some(1));
            if drop_it {
                drop(rx);
                None
            } else {
                rx.close();
                Some(rx) // kept open, only closed
            }
        });
        let rx = join_within(closer, 10);
        for w in waiters {
            assert!(join_within(w, 10), "completed because the receiver closed");
        }
        assert_eq!(woken.load(Ordering::SeqCst), 4);
        assert_eq!(rx.is_some(), !drop_it);
        within(10, move || ringpoll::park_on(tx.closed())); // already closed: at once
    }
}

#[test]
fn cross_core_recv_many_takes_a_burst_in_order_and_in_batches() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u64>(256);
    let receiver = rt.spawn_on(1, move || async move {
        let (mut got, mut batches) = (Vec::new(), Vec::new());
        loop {
            let n = rx.recv_many(&mut got, 64).await;
            if n == 0 {
                break;
            }
            batches.push(n);
        }
        (got, batches)
    });
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..20_000 {
            tx.send(n).await.unwrap();
        }
    });
    join_within(sender, 30);
    let (got, batches) = join_within(receiver, 30);
    assert_eq!(got, (0..20_000).collect::<Vec<_>>(), "every message, in order, then the end");
    assert!(batches.iter().all(|&n| (1..=64).contains(&n)));
    assert!(batches.len() < 20_000, "some batches held more than one: {} batches", batches.len());
}

#[test]
fn cross_core_recv_many_frees_room_for_senders_blocked_on_another_core() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u32>(2);
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..2_000 {
            tx.send(n).await.unwrap(); // full after two: each waits for a recv_many on core 1
        }
    });
    let receiver = rt.spawn_on(1, move || async move {
        let mut got = Vec::new();
        while rx.recv_many(&mut got, 3).await > 0 {}
        got
    });
    join_within(sender, 30);
    assert_eq!(join_within(receiver, 30), (0..2_000).collect::<Vec<_>>());
}

#[test]
fn cross_core_capacity_identity_and_is_closed_across_cores() {
    let rt = two_core_runtime();
    let (tx, rx) = cross_core::channel::<u8>(3);
    let tx2 = tx.clone();
    let (other, _other_rx) = cross_core::unbounded::<u8>();
    assert!(tx.same_channel(&tx2) && !tx.same_channel(&other));
    assert_eq!((tx.strong_count(), other.max_capacity(), other.capacity()), (2, usize::MAX, usize::MAX));
    tx.try_send(1).unwrap();
    assert_eq!((tx.capacity(), tx.max_capacity(), rx.capacity(), rx.max_capacity()), (2, 3, 2, 3));
    let receiver = rt.spawn_on(1, move || async move {
        let mut rx = rx;
        assert_eq!(rx.recv().await, Some(1));
        let open = !rx.is_closed();
        assert_eq!(bounded(rx.recv()).await, None, "every sender went, on core 0");
        (open, rx.is_closed())
    });
    std::thread::sleep(SETTLE);
    rt.spawn_on(0, move || async move { drop((tx, tx2)) }).detach();
    assert_eq!(join_within(receiver, 10), (true, true));
}

#[test]
fn blocking_recv_serves_plain_threads_and_refuses_a_core() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u32>(2);
    rt.spawn_on(0, move || async move {
        for n in 0..500 {
            tx.send(n).await.unwrap();
        }
    })
    .detach();
    let got = within(30, move || std::iter::from_fn(|| rx.blocking_recv()).collect::<Vec<_>>());
    assert_eq!(got, (0..500).collect::<Vec<_>>());

    let (reply, answer) = cross_core::oneshot::<u32>();
    rt.spawn_on(1, move || async move { reply.send(9).unwrap() }).detach();
    assert_eq!(within(10, move || answer.blocking_recv()), Ok(9));
    let (reply, answer) = cross_core::oneshot::<u32>();
    rt.spawn_on(1, move || async move { drop(reply) }).detach();
    assert!(within(10, move || answer.blocking_recv()).is_err(), "the sender went unsent");

    // On a core it would stop the core's other tasks: it panics instead (as tokio's).
    let (_tx, mut rx) = cross_core::unbounded::<u32>();
    let on_core = rt.spawn_on(0, move || async move { rx.blocking_recv() });
    let err = within(10, move || on_core.join()).expect_err("blocking_recv on a core panics");
    assert!(err.is_panic());
    let (_reply, answer) = cross_core::oneshot::<u32>();
    let on_core = rt.spawn_on(1, move || async move { answer.blocking_recv() });
    assert!(within(10, move || on_core.join()).expect_err("panics").is_panic());
    // The cores still run.
    assert_eq!(join_within(rt.spawn_on(0, || async { 1 }), 10), 1);
}

#[test]
fn cross_core_oneshot_closed_completes_across_cores() {
    let rt = two_core_runtime();
    for drop_it in [false, true] {
        let (mut reply, answer) = cross_core::oneshot::<u32>();
        let worker = rt.spawn_on(1, move || async move {
            bounded(reply.closed()).await;
            reply.send(1).is_err()
        });
        std::thread::sleep(SETTLE);
        assert!(!worker.is_finished(), "the receiver is there");
        let mut answer = answer;
        let closer = rt.spawn_on(0, move || async move {
            if drop_it {
                drop(answer);
            } else {
                answer.close();
                assert!(answer.await.is_err(), "closed before a value came");
            }
        });
        join_within(closer, 10);
        assert!(join_within(worker, 10), "woken by the close, and the send fails");
    }
    // Replies race their closes: each closed() either completes or sees the value taken.
    let pairs = rt.spawn_on(0, || async {
        let mut closed_seen = 0;
        for n in 0..500u32 {
            let (mut reply, answer) = cross_core::oneshot::<u32>();
            let handle = ringpoll::Handle::current();
            let dropper = handle.spawn_on(1, move || async move { drop(answer) });
            bounded(reply.closed()).await;
            closed_seen += u32::from(reply.is_closed());
            bounded(dropper).await.unwrap();
            let _ = n;
        }
        closed_seen
    });
    assert_eq!(join_within(pairs, 30), 500);
}
