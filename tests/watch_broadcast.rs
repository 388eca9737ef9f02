//! watch and broadcast channels: from one core (or a plain thread) to receivers on all of
//! them; coalescing, lag, close, and every value dropped once.

mod support;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ringpoll::channel::broadcast::{self, RecvError, TryRecvError};
use ringpoll::channel::watch;
use support::{bounded, join_within, two_core_runtime, within};

// Tasks' waits are `bounded` (10 s), and the test joins them within 5: a lost wake that the
// timeout's final poll of the wait would hide still fails the test.

/// Waits (bounded) until `n` tasks said they are about to wait.
fn wait_for_started(started: &mpsc::Receiver<()>, n: usize) {
    for _ in 0..n {
        started.recv_timeout(Duration::from_secs(10)).expect("a task did not start");
    }
    // They said so just before their first wait; let them get into it.
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn watch_receivers_on_two_cores_each_see_a_change_then_the_final_value() {
    let rt = two_core_runtime();
    let (tx, rx) = watch::channel(0u64);
    let (started_tx, started) = mpsc::channel();
    let receivers: Vec<_> = (0..2)
        .map(|core| {
            let (mut rx, started_tx) = (rx.clone(), started_tx.clone());
            rt.spawn_on(core, move || async move {
                let _ = started_tx.send(());
                let (mut changes, mut last) = (0, 0);
                while bounded(rx.changed()).await.is_ok() {
                    changes += 1;
                    // Marks what it read seen (a send may land between changed() and here).
                    let value = *rx.borrow_and_update();
                    assert!(value > last, "values only go up: {value} after {last}");
                    last = value;
                }
                (changes, last)
            })
        })
        .collect();
    drop(rx);
    wait_for_started(&started, 2);
    let sender = rt.spawn_on(0, move || async move {
        for n in 1..=1_000 {
            tx.send(n).unwrap();
            if n % 100 == 0 {
                ringpoll::yield_now().await; // let core 0's receiver run between bursts
            }
        }
    });
    join_within(sender, 5);
    for receiver in receivers {
        let (changes, last) = join_within(receiver, 5);
        assert_eq!(last, 1_000, "the final value, then the close");
        assert!((1..=1_000).contains(&changes), "woken for changes, coalesced: {changes}");
    }
}

#[test]
fn watch_sends_coalesce_into_one_change_with_the_latest_value() {
    let rt = two_core_runtime();
    let (tx, mut rx) = watch::channel(0u32);
    let (go_tx, go) = mpsc::channel::<()>();
    let receiver = rt.spawn_on(1, move || async move {
        go.recv_timeout(Duration::from_secs(10)).unwrap(); // busy while the sends happen
        bounded(rx.changed()).await.unwrap();
        let latest = *rx.borrow_and_update();
        let again = ringpoll::time::timeout(Duration::from_millis(50), rx.changed()).await;
        (latest, again.is_err(), rx.has_changed())
    });
    for n in 1..=500 {
        tx.send(n).unwrap();
    }
    go_tx.send(()).unwrap();
    let (latest, waited, has_changed) = join_within(receiver, 5);
    assert_eq!(latest, 500);
    assert!(waited, "one change for the 500 sends: the next changed() waits");
    assert_eq!(has_changed, Ok(false));
}

#[test]
fn watch_changed_reports_the_last_change_then_errs_once_the_sender_is_gone() {
    let rt = two_core_runtime();
    let (tx, mut rx) = watch::channel("start");
    let (started_tx, started) = mpsc::channel();
    let waiting = rt.spawn_on(1, move || async move {
        let _ = started_tx.send(());
        let first = bounded(rx.changed()).await;
        let value = *rx.borrow();
        (first, value, bounded(rx.changed()).await, rx.has_changed())
    });
    wait_for_started(&started, 1);
    rt.spawn_on(0, move || async move {
        tx.send("last").unwrap();
        drop(tx);
    })
    .detach();
    let (first, value, second, has_changed) = join_within(waiting, 5);
    // The change and the close may come in one wake: the change is reported first.
    assert_eq!((first, value), (Ok(()), "last"));
    assert_eq!(second, Err(watch::RecvError));
    assert_eq!(has_changed, Err(watch::RecvError));
}

#[test]
fn watch_sender_sees_its_receivers_go_and_sends_fail() {
    let rt = two_core_runtime();
    let (tx, rx) = watch::channel(0u8);
    let receivers: Vec<_> = (0..2)
        .map(|core| {
            let rx = rx.clone();
            rt.spawn_on(core, move || async move {
                ringpoll::time::sleep(Duration::from_millis(20)).await;
                drop(rx);
            })
        })
        .collect();
    drop(rx);
    assert_eq!(tx.receiver_count(), 2);
    let tx = within(5, move || {
        ringpoll::park_on(tx.closed());
        tx
    });
    receivers.into_iter().for_each(|r| join_within(r, 5));
    assert!(tx.is_closed());
    assert_eq!(tx.send(1).unwrap_err().into_inner(), 1);
    let rx = tx.subscribe();
    assert_eq!(tx.send(2), Ok(()), "a new receiver opens it again");
    assert_eq!((*rx.borrow(), rx.has_changed()), (2, Ok(true)));
}

#[test]
fn watch_from_a_plain_thread_wakes_receivers_on_cores() {
    let rt = two_core_runtime();
    let (tx, rx) = watch::channel(0u32);
    let receivers: Vec<_> = (0..2)
        .map(|core| {
            let mut rx = rx.clone();
            rt.spawn_on(core, move || async move {
                while *rx.borrow_and_update() < 3 {
                    bounded(rx.changed()).await.unwrap();
                }
                *rx.borrow()
            })
        })
        .collect();
    drop(rx);
    let thread = std::thread::spawn(move || {
        for n in 1..=3 {
            tx.send_modify(|v| *v = n);
            std::thread::sleep(Duration::from_millis(5));
        }
        tx
    });
    for receiver in receivers {
        assert_eq!(join_within(receiver, 5), 3);
    }
    drop(thread.join().unwrap());
}

#[test]
fn broadcast_every_receiver_on_two_cores_gets_every_message_in_order() {
    const MESSAGES: u64 = 20_000;
    const CAPACITY: usize = 64;
    let rt = two_core_runtime();
    let (tx, rx) = broadcast::channel::<u64>(CAPACITY);
    let receivers: Vec<_> = [0, 1, 1]
        .into_iter()
        .map(|core| {
            let mut rx = rx.resubscribe();
            rt.spawn_on(core, move || async move {
                let mut expected = 0;
                loop {
                    match bounded(rx.recv()).await {
                        Ok(n) => {
                            assert_eq!(n, expected, "in order, none missed");
                            expected += 1;
                        }
                        Err(RecvError::Closed) => return expected,
                        Err(RecvError::Lagged(n)) => panic!("lagged by {n}: the sender waits for room"),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let sender = rt.spawn_on(0, move || async move {
        for n in 0..MESSAGES {
            // The ring overwrites rather than waits: hold back while the slowest is a lap behind.
            while tx.len() == CAPACITY {
                ringpoll::yield_now().await;
            }
            assert_eq!(tx.send(n), Ok(3));
        }
    });
    join_within(sender, 30);
    for receiver in receivers {
        assert_eq!(join_within(receiver, 30), MESSAGES, "every message, then Closed");
    }
}

#[test]
fn broadcast_a_receiver_that_falls_behind_is_told_how_many_it_lost() {
    let rt = two_core_runtime();
    let (tx, mut rx) = broadcast::channel::<u32>(4);
    let mut on_time = tx.subscribe();
    for n in 0..4 {
        tx.send(n).unwrap();
    }
    assert_eq!(on_time.try_recv(), Ok(0));
    for n in 4..10 {
        tx.send(n).unwrap();
    }
    drop(tx);
    let slow = rt.spawn_on(1, move || async move {
        let mut got = vec![bounded(rx.recv()).await];
        while let Ok(n) = bounded(rx.recv()).await {
            got.push(Ok(n));
        }
        got.push(bounded(rx.recv()).await);
        got
    });
    assert_eq!(
        join_within(slow, 5),
        [Err(RecvError::Lagged(6)), Ok(6), Ok(7), Ok(8), Ok(9), Err(RecvError::Closed)],
        "10 sent into 4 slots: 0..6 lost, the oldest 4 kept"
    );
    // The other read 0 then fell behind too: 1..6 were overwritten.
    assert_eq!(on_time.try_recv(), Err(TryRecvError::Lagged(5)));
    assert_eq!(on_time.try_recv(), Ok(6));
    assert_eq!(on_time.len(), 3);
}

#[test]
fn broadcast_receivers_waiting_on_two_cores_see_the_close_after_draining() {
    let rt = two_core_runtime();
    let (tx, rx) = broadcast::channel::<&str>(8);
    let (started_tx, started) = mpsc::channel();
    let receivers: Vec<_> = (0..2)
        .map(|core| {
            let (mut rx, started_tx) = (rx.resubscribe(), started_tx.clone());
            rt.spawn_on(core, move || async move {
                let _ = started_tx.send(());
                let first = bounded(rx.recv()).await;
                (first, bounded(rx.recv()).await, bounded(rx.recv()).await)
            })
        })
        .collect();
    drop(rx);
    wait_for_started(&started, 2);
    let clone = tx.clone();
    assert_eq!(tx.send("bye"), Ok(2));
    drop(tx);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(clone.send("really"), Ok(2), "a sender remains: still open");
    drop(clone);
    for receiver in receivers {
        assert_eq!(join_within(receiver, 5), (Ok("bye"), Ok("really"), Err(RecvError::Closed)));
    }
}

#[test]
fn broadcast_from_a_plain_thread_reaches_receivers_on_cores() {
    let rt = two_core_runtime();
    let (tx, rx) = broadcast::channel::<u32>(1_024);
    let receivers: Vec<_> = (0..2)
        .map(|core| {
            let mut rx = rx.resubscribe();
            rt.spawn_on(core, move || async move {
                let mut sum = 0u64;
                while let Ok(n) = bounded(rx.recv()).await {
                    sum += u64::from(n);
                }
                sum
            })
        })
        .collect();
    drop(rx);
    let thread = std::thread::spawn(move || {
        for n in 0..1_000 {
            tx.send(n).unwrap();
            if n % 50 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // receivers wait between bursts
            }
        }
    });
    thread.join().unwrap();
    for receiver in receivers {
        assert_eq!(join_within(receiver, 5), 999 * 1_000 / 2);
    }
}

/// Counts the values made (clones included) and dropped: equal at the end, or one leaked.
#[derive(Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

struct Counted(Arc<Ledger>);

impl Counted {
    fn new(ledger: &Arc<Ledger>) -> Counted {
        ledger.made.fetch_add(1, Ordering::SeqCst);
        Counted(ledger.clone())
    }
}

impl Clone for Counted {
    fn clone(&self) -> Counted {
        Counted::new(&self.0)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Ledger {
    fn live(&self) -> usize {
        self.made.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

#[test]
fn broadcast_drops_each_value_once_read_lagged_past_or_left_behind() {
    const MESSAGES: u64 = 1_000;
    let ledger = Arc::new(Ledger::default());
    let rt = two_core_runtime();
    let (tx, rx) = broadcast::channel::<Counted>(64);
    // A fast reader on each core, which the sender waits for, and a slow one that lags.
    let progress: Arc<[AtomicU64; 2]> = Arc::default();
    let fast: Vec<_> = (0..2)
        .map(|core| {
            let (mut rx, progress) = (rx.resubscribe(), progress.clone());
            rt.spawn_on(core, move || async move {
                while let Ok(value) = bounded(rx.recv()).await {
                    drop(value);
                    progress[core].fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let mut slow = rx;
    let sender = {
        let (ledger, progress) = (ledger.clone(), progress.clone());
        rt.spawn_on(0, move || async move {
            for n in 0..MESSAGES {
                while progress.iter().any(|p| p.load(Ordering::SeqCst) + 32 < n) {
                    ringpoll::yield_now().await;
                }
                tx.send(Counted::new(&ledger)).unwrap();
                assert!(ledger.live() <= 64 + 3, "a ring's worth, a clone per fast reader, the new one");
            }
            tx // kept open by the test, past the slow one's drop
        })
    };
    let sent_then_lagged = within(5, move || {
        while slow.len() < MESSAGES as usize {
            std::thread::sleep(Duration::from_millis(1));
        }
        (slow.try_recv().err(), slow.try_recv().map(drop), slow)
    });
    let (lagged, read, slow) = sent_then_lagged;
    assert_eq!(lagged, Some(TryRecvError::Lagged(MESSAGES - 64)));
    assert_eq!(read, Ok(()), "then the oldest one left");
    let tx = join_within(sender, 5);
    drop(slow); // it leaves 63 unread messages, which it passes
                // Read by the fast readers, who drop their clones before they count.
    within(5, move || {
        while progress.iter().any(|p| p.load(Ordering::SeqCst) < MESSAGES) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert_eq!(ledger.made.load(Ordering::SeqCst) as u64, MESSAGES * 3 + 1, "a clone per read");
    assert_eq!(ledger.live(), 0, "every value dropped once every receiver passed it, sender alive");
    drop(tx);
    fast.into_iter().for_each(|reader| join_within(reader, 5));
}

#[test]
fn watch_drops_each_replaced_value_and_the_last_with_the_channel() {
    let ledger = Arc::new(Ledger::default());
    let rt = two_core_runtime();
    let (tx, rx) = watch::channel(Counted::new(&ledger));
    let reader = rt.spawn_on(1, move || async move {
        let mut rx = rx;
        while bounded(rx.changed()).await.is_ok() {}
        rx
    });
    for _ in 0..100 {
        drop(tx.send_replace(Counted::new(&ledger)));
    }
    drop(tx);
    assert_eq!(ledger.live(), 1, "the current value only");
    drop(join_within(reader, 5));
    assert_eq!(ledger.live(), 0, "and it goes with the last end");
}

/// A send racing a receiver's wait, thousands of times, between plain threads: each round the
/// receiver starts to wait as the sender sends, so a wake lost between the receiver's last look
/// and its waker going in would hang a round (and fail the bound).
#[test]
fn a_send_racing_a_wait_is_never_lost() {
    const ROUNDS: u32 = 5_000;
    within(30, || {
        let (tx, mut rx) = watch::channel(0u32);
        let (btx, mut brx) = broadcast::channel::<u32>(1);
        let (ack_tx, ack) = mpsc::channel();
        let receiver = std::thread::spawn(move || {
            for n in 1..=ROUNDS {
                ringpoll::park_on(rx.changed()).unwrap();
                assert_eq!(*rx.borrow_and_update(), n);
                assert_eq!(ringpoll::park_on(brx.recv()), Ok(n));
                ack_tx.send(()).unwrap();
            }
            (ringpoll::park_on(rx.changed()), ringpoll::park_on(brx.recv()))
        });
        for n in 1..=ROUNDS {
            tx.send(n).unwrap();
            btx.send(n).unwrap();
            ack.recv().unwrap();
        }
        drop((tx, btx));
        assert_eq!(receiver.join().unwrap(), (Err(watch::RecvError), Err(RecvError::Closed)));
    });
}

/// A message whose drop can hold the dropping thread at a barrier, to stop a receiver's drop
/// between the messages it passes. Its clones never hold anybody.
struct HeldDrop(Option<Arc<std::sync::Barrier>>);

impl Clone for HeldDrop {
    fn clone(&self) -> HeldDrop {
        HeldDrop(None)
    }
}

impl Drop for HeldDrop {
    fn drop(&mut self) {
        if let Some(barrier) = self.0.take() {
            barrier.wait(); // in the receiver's drop: the test sends meanwhile
            barrier.wait();
        }
    }
}

#[test]
fn broadcast_a_receiver_dropped_while_sends_lap_it_leaves_the_others_their_messages() {
    let (tx, dropped) = broadcast::channel(2);
    let mut other = tx.subscribe();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    tx.send(HeldDrop(Some(barrier.clone()))).unwrap();
    tx.send(HeldDrop(None)).unwrap();
    // `other` reads the first: `dropped` is its last reader, and its drop drops it.
    drop(other.try_recv().unwrap());
    let dropping = std::thread::spawn(move || drop(dropped));
    barrier.wait(); // `dropped` is gone from the count, midway through passing its messages
    for _ in 0..3 {
        tx.send(HeldDrop(None)).unwrap(); // laps it: it has 2 left to pass, 2 are new
    }
    barrier.wait();
    dropping.join().expect("the dropping receiver panicked");
    // `other` lost the second message to the lap; the two newest are still its to read.
    assert_eq!(other.try_recv().map(drop), Err(TryRecvError::Lagged(2)));
    assert!(other.try_recv().is_ok(), "the receiver dropped took the message at 3");
    assert!(other.try_recv().is_ok(), "the receiver dropped took the message at 4");
    assert_eq!(other.try_recv().map(drop), Err(TryRecvError::Empty));
}
