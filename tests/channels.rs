//! Channels: local (one core) and cross-core, bounded and unbounded, oneshot; closing.

mod support;

use std::time::Duration;

use ringpoll::channel::{cross_core, local, RecvError, TryRecvError, TrySendError};
use ringpoll::time::timeout;
use ringpoll::{block_on, spawn, yield_now};
use support::{join_within, two_core_runtime};

#[test]
fn local_channel_delivers_in_order_and_ends_when_senders_go() {
    block_on(async {
        let (tx, mut rx) = local::unbounded();
        let tx2 = tx.clone();
        spawn(async move {
            for i in 0..500 {
                tx.send(i).await.unwrap();
            }
        })
        .detach();
        drop(tx2);
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            got.push(i);
        }
        assert_eq!(got, (0..500).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn local_bounded_channel_pushes_back() {
    block_on(async {
        let (tx, mut rx) = local::channel(2);
        tx.try_send(1).unwrap();
        tx.send(2).await.unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert!(timeout(Duration::from_millis(10), tx.send(3)).await.is_err(), "a full channel waits");
        let sender = spawn(async move {
            tx.send(3).await.unwrap();
            tx.send(4).await.unwrap();
        });
        yield_now().await;
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, Some(4));
        sender.await.unwrap();
        assert_eq!(rx.recv().await, None);
    });
}

#[test]
fn closing_a_local_receiver_fails_waiting_and_later_sends() {
    block_on(async {
        let (tx, mut rx) = local::channel(1);
        tx.send("queued").await.unwrap();
        let waiting = spawn({
            let tx = tx.clone();
            async move { tx.send("blocked").await.map_err(|e| e.into_inner()) }
        });
        yield_now().await;
        rx.close();
        assert_eq!(waiting.await.unwrap(), Err("blocked"), "the value comes back");
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send("late"), Err(TrySendError::Closed("late"))));
        assert_eq!(rx.recv().await, Some("queued"), "what was queued can still be read");
        drop(rx);
        assert!(tx.send("after drop").await.is_err());
    });
}

#[test]
fn local_oneshot_sends_or_reports_the_other_side_gone() {
    block_on(async {
        let (tx, rx) = local::oneshot();
        spawn(async move { tx.send(7).unwrap() }).detach();
        assert_eq!(rx.await, Ok(7));

        let (tx, rx) = local::oneshot::<u8>();
        spawn(async move { drop(tx) }).detach();
        assert_eq!(rx.await, Err(RecvError));

        let (tx, rx) = local::oneshot();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(5), Err(5));
    });
}

#[test]
fn cross_core_channel_carries_every_message_in_order() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u64>(16);
    let receiver = rt.spawn_on(1, move || async move {
        let mut expected = 0;
        while let Some(n) = rx.recv().await {
            assert_eq!(n, expected);
            expected += 1;
        }
        expected
    });
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..20_000 {
            tx.send(n).await.unwrap();
        }
    });
    join_within(sender, 30);
    assert_eq!(join_within(receiver, 30), 20_000);
}

#[test]
fn poll_recv_waits_on_two_channels_at_once_and_sees_both_close() {
    let rt = two_core_runtime();
    let (a_tx, mut a) = cross_core::unbounded::<u64>();
    let (b_tx, mut b) = cross_core::unbounded::<u64>();
    let receiver = rt.spawn_on(1, move || async move {
        let (mut got, mut open) = (Vec::new(), [true, true]);
        while open != [false, false] {
            // One poll_fn per message: each pending poll leaves both registrations in place.
            let (which, msg) = std::future::poll_fn(|cx| {
                for (which, rx) in [&mut a, &mut b].into_iter().enumerate() {
                    if open[which] {
                        if let std::task::Poll::Ready(msg) = rx.poll_recv(cx) {
                            return std::task::Poll::Ready((which, msg));
                        }
                    }
                }
                std::task::Poll::Pending
            })
            .await;
            match msg {
                Some(n) => got.push(n),
                None => open[which] = false,
            }
        }
        got
    });
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..2_000u64 {
            let tx = if n % 2 == 0 { &a_tx } else { &b_tx };
            tx.try_send(n).unwrap();
            if n % 100 == 0 {
                ringpoll::yield_now().await; // let the receiver park between bursts
            }
        }
    });
    join_within(sender, 30);
    let mut got = join_within(receiver, 30);
    got.sort_unstable();
    assert_eq!(got, (0..2_000).collect::<Vec<_>>(), "every message, from both, and the end of both");
}

#[test]
fn cross_core_bounded_channel_holds_senders_back() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::channel::<u32>(4);
    let (go_tx, go_rx) = cross_core::oneshot::<()>();
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..4 {
            tx.try_send(n).unwrap();
        }
        assert!(matches!(tx.try_send(4), Err(TrySendError::Full(4))));
        let _ = go_tx.send(());
        tx.send(4).await.unwrap(); // waits until core 1 reads
        tx
    });
    let receiver = rt.spawn_on(1, move || async move {
        go_rx.await.unwrap();
        ringpoll::time::sleep(Duration::from_millis(20)).await;
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap());
        }
        drop(rx);
        got
    });
    assert_eq!(join_within(receiver, 10), [0, 1, 2, 3, 4]);
    let tx = join_within(sender, 10);
    assert!(tx.is_closed(), "the sender sees the receiver gone");
    assert!(tx.send_blocking(9).is_err());
}

#[test]
fn cross_core_receiver_sees_senders_gone_and_senders_see_close() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::unbounded::<u8>();
    let receiver = rt.spawn_on(1, move || async move { rx.recv().await });
    rt.spawn_on(0, move || async move { drop(tx) }).detach();
    assert_eq!(join_within(receiver, 10), None);

    let (tx, mut rx) = cross_core::channel::<u8>(1);
    tx.try_send(1).unwrap();
    let blocked = rt.spawn_on(0, move || async move { tx.send(2).await.map_err(|e| e.into_inner()) });
    std::thread::sleep(Duration::from_millis(20));
    rx.close();
    assert_eq!(join_within(blocked, 10), Err(2));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn cross_core_request_and_oneshot_reply_round_trips() {
    let rt = two_core_runtime();
    let (requests, mut inbox) = cross_core::channel::<(u64, cross_core::OneshotSender<u64>)>(64);
    rt.spawn_on(1, move || async move {
        while let Some((n, reply)) = inbox.recv().await {
            let _ = reply.send(n * 2);
        }
    })
    .detach();
    let client = rt.spawn_on(0, move || async move {
        let mut sum = 0;
        for n in 0..2_000 {
            let (tx, rx) = cross_core::oneshot();
            requests.send((n, tx)).await.unwrap();
            sum += rx.await.unwrap();
        }
        sum
    });
    assert_eq!(join_within(client, 30), (0..2_000u64).map(|n| n * 2).sum());
}

#[test]
fn cross_core_oneshot_reports_a_dropped_sender() {
    let rt = two_core_runtime();
    let (tx, rx) = cross_core::oneshot::<u8>();
    let waiting = rt.spawn_on(0, move || rx);
    rt.spawn_on(1, move || async move { drop(tx) }).detach();
    assert_eq!(join_within(waiting, 10), Err(RecvError));
}

/// A burst of sends to a core that is busy costs no eventfd write, and its receiver task is
/// woken once for the whole burst (one mailbox message, not one per send).
#[test]
fn a_burst_to_a_busy_core_costs_no_eventfd_write() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::unbounded::<u32>();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let receiver = rt.spawn_on(1, move || async move {
        let _ = parked_tx.send(());
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    parked_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(20)); // the receiver now waits in recv
    let (busy_tx, busy_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let blocker = rt.spawn_on(1, move || async move {
        let _ = busy_tx.send(());
        // Core 1 is busy, not parked, until the burst is over (bounded).
        let _ = done_rx.recv_timeout(Duration::from_secs(10));
    });
    busy_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let before = rt.stats()[1];
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    let during = rt.stats()[1];
    done_tx.send(()).unwrap();
    join_within(blocker, 10);
    assert_eq!(join_within(receiver, 10), 10_000);
    assert_eq!(during.eventfd_writes, before.eventfd_writes, "a busy core needs no eventfd write");
    let after = rt.stats()[1];
    // The blocker, then the receiver (woken once by the burst, once by the close), at most;
    // and the receiver again after each 128 messages, where its operation budget yields
    // (`ringpoll_reactor::budget`): a wake of its own, not one per send.
    let most = 4 + 10_000 / u64::from(ringpoll_reactor::budget::PER_POLL);
    let polls = after.tasks_polled - before.tasks_polled;
    assert!(polls <= most, "polls: {polls}, at most {most}");
}

/// A burst to a parked core: one eventfd write wakes it; it drains what has arrived and may
/// park again, so a long burst costs a few writes, far fewer than messages.
#[test]
fn a_burst_to_a_parked_core_costs_few_wakes() {
    let rt = two_core_runtime();
    let (tx, mut rx) = cross_core::unbounded::<u32>();
    let receiver = rt.spawn_on(1, move || async move {
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    std::thread::sleep(Duration::from_millis(20));
    let before = rt.stats()[1].eventfd_writes;
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert_eq!(join_within(receiver, 10), 10_000);
    let writes = rt.stats()[1].eventfd_writes - before;
    assert!((1..=500).contains(&writes), "eventfd writes for 10,000 sends: {writes}");
}
