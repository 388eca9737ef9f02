//! Cross-core channels and oneshot under races: producers on both cores and on plain threads,
//! tiny bounds, send futures dropped at random points of their wait (before and after a wake
//! for room), the receiver closed or dropped mid-stream, oneshot ends racing each other across
//! cores. Every payload counts its drops, so a message lost, duplicated or leaked fails; every
//! wait is bounded, so a lost wake fails instead of hanging.

mod support;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use ringpoll::channel::cross_core::{self, OneshotReceiver, OneshotSender, Receiver, Sender};
use ringpoll::channel::{RecvError, SendError, TryRecvError};
use ringpoll::time::timeout;
use ringpoll::yield_now;
use support::{bounded, join_within, two_core_runtime, within};

/// How many payloads were made and dropped, and how many of those drops were a receiver's
/// drop throwing away what was still queued.
#[derive(Default)]
struct Live {
    made: AtomicU64,
    dropped: AtomicU64,
    drained: AtomicU64,
}

impl Live {
    fn make(self: &Arc<Self>, from: usize, seq: u64) -> Tracked {
        self.made.fetch_add(1, Ordering::Relaxed);
        Tracked { from, seq, live: self.clone() }
    }

    /// Every payload made was dropped, once.
    fn assert_all_dropped(&self) {
        let (made, dropped) = (self.made.load(Ordering::SeqCst), self.dropped.load(Ordering::SeqCst));
        assert_eq!(dropped, made, "payloads dropped vs made: a leak or a double drop");
    }
}

thread_local! {
    /// Set around a receiver's drop: what drops then was still queued.
    static DRAINING: Cell<bool> = const { Cell::new(false) };
}

/// A message: who sent it, its number in that sender's sequence, and its drop counted.
struct Tracked {
    from: usize,
    seq: u64,
    live: Arc<Live>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.dropped.fetch_add(1, Ordering::SeqCst);
        if DRAINING.with(Cell::get) {
            self.live.drained.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Drops `rx`, counting what its drop throws away in `Live::drained`.
fn drop_receiver(rx: Receiver<Tracked>) {
    DRAINING.with(|d| d.set(true));
    drop(rx);
    DRAINING.with(|d| d.set(false));
}

/// xorshift64: the tests' interleavings vary by seed, reproducibly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What one sender got through: how many messages and the sum of their numbers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sent {
    count: u64,
    sum: u64,
}

impl Sent {
    fn add(&mut self, seq: u64) {
        self.count += 1;
        self.sum += seq;
    }
}

/// Receives until every sender is gone, checking each sender's order (numbers rise; a
/// cancelled send leaves a gap), yielding now and then so the queue fills and senders wait.
async fn receive_all(mut rx: Receiver<Tracked>, senders: usize, seed: u64) -> Vec<Sent> {
    let mut rng = Rng(seed);
    let mut got = vec![Sent::default(); senders];
    let mut last: Vec<Option<u64>> = vec![None; senders];
    while let Some(msg) = bounded(rx.recv()).await {
        assert!(
            last[msg.from].is_none_or(|l| l < msg.seq),
            "sender {}: {} after {:?}",
            msg.from,
            msg.seq,
            last[msg.from]
        );
        last[msg.from] = Some(msg.seq);
        got[msg.from].add(msg.seq);
        if rng.below(16) == 0 {
            yield_now().await;
        }
    }
    got
}

/// Polls `f` once, from the calling task.
async fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut f = Some(f);
    poll_fn(|cx| Poll::Ready(f.as_mut().expect("polled once").as_mut().poll(cx))).await
}

/// Sends numbers `0..count` as sender `from`, cancelling some sends at a random point of
/// their wait: dropped after one poll, dropped after the task yielded (a wake for room may have
/// come meanwhile, which the drop must pass on), or dropped by a short timeout. The rest are
/// awaited, bounded: a live sender must always get through.
async fn send_with_cancels(tx: Sender<Tracked>, live: Arc<Live>, from: usize, count: u64, seed: u64) -> Sent {
    let mut rng = Rng(seed);
    let mut sent = Sent::default();
    for seq in 0..count {
        let value = live.make(from, seq);
        let delivered = match rng.below(8) {
            0 => matches!(poll_once(std::pin::pin!(tx.send(value))).await, Poll::Ready(Ok(()))),
            1 => {
                let mut send = Box::pin(tx.send(value));
                match poll_once(send.as_mut()).await {
                    Poll::Ready(done) => done.is_ok(),
                    Poll::Pending => {
                        yield_now().await; // woken for room or not, it is dropped unpolled
                        false
                    }
                }
            }
            2 => timeout(Duration::from_micros(200), tx.send(value)).await.is_ok(),
            _ => {
                bounded(tx.send(value)).await.unwrap_or_else(|_| panic!("the receiver lives"));
                true
            }
        };
        if delivered {
            sent.add(seq);
        }
    }
    sent
}

/// Producers on both cores (cancelling sends now and then) and on two plain threads
/// (`send_blocking`) into one receiver on core 1: each sender's messages arrive in order,
/// exactly the ones whose send succeeded, and every payload is dropped once.
fn producers_everywhere(capacity: Option<usize>, seed: u64) {
    const EACH: u64 = 5_000;
    const TASKS: usize = 3;
    const THREADS: usize = 2;
    let rt = two_core_runtime();
    let live = Arc::new(Live::default());
    let (tx, rx) = match capacity {
        Some(capacity) => cross_core::channel::<Tracked>(capacity),
        None => cross_core::unbounded(),
    };
    let receiver = rt.spawn_on(1, move || receive_all(rx, TASKS + THREADS, seed));
    let tasks: Vec<_> = (0..TASKS)
        .map(|from| {
            let (tx, live) = (tx.clone(), live.clone());
            let seed = seed ^ ((from as u64 + 1) * 0x9e37_79b9);
            rt.spawn_on(from % 2, move || send_with_cancels(tx, live, from, EACH, seed))
        })
        .collect();
    let threads: Vec<_> = (TASKS..TASKS + THREADS)
        .map(|from| {
            let (tx, live) = (tx.clone(), live.clone());
            std::thread::spawn(move || {
                let mut sent = Sent::default();
                for seq in 0..EACH {
                    tx.send_blocking(live.make(from, seq)).unwrap_or_else(|_| panic!("the receiver lives"));
                    sent.add(seq);
                }
                sent
            })
        })
        .collect();
    drop(tx);
    let mut sent: Vec<Sent> = tasks.into_iter().map(|t| join_within(t, 20)).collect();
    let got = join_within(receiver, 20);
    sent.extend(threads.into_iter().map(|t| t.join().unwrap()));
    assert_eq!(got, sent, "per sender: received what was sent (count, sum)");
    let full = Sent { count: EACH, sum: EACH * (EACH - 1) / 2 };
    assert!(sent[TASKS..].iter().all(|s| *s == full), "blocking senders cancel nothing");
    drop(rt);
    live.assert_all_dropped();
}

#[test]
fn producers_on_both_cores_and_threads_into_a_bound_of_one() {
    producers_everywhere(Some(1), 1);
}

#[test]
fn producers_on_both_cores_and_threads_into_a_bound_of_three() {
    producers_everywhere(Some(3), 2);
}

#[test]
fn producers_on_both_cores_and_threads_into_an_unbounded_channel() {
    producers_everywhere(None, 3);
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError<Tracked>>> + 'a>>;

/// A full bound of one with a crowd of sends waiting for room, some dropped at random while
/// they wait, and nobody else sending: each wake for room must reach a live send (a dropped one
/// that was granted room passes it on), or the live ones wait forever while the receiver waits
/// for them.
#[test]
fn every_live_waiting_sender_gets_through_when_others_are_dropped() {
    const ROUNDS: u64 = 500;
    const CROWD: usize = 12;
    let rt = two_core_runtime();
    let live = Arc::new(Live::default());
    let (tx, rx) = cross_core::channel::<Tracked>(1);
    let receiver = rt.spawn_on(1, move || receive_all(rx, CROWD + 1, 7));
    let sender = rt.spawn_on(0, {
        let live = live.clone();
        move || async move {
            let mut rng = Rng(11);
            let mut sent = vec![Sent::default(); CROWD + 1];
            for round in 0..ROUNDS {
                // The plug fills the channel, so the whole crowd queues for room.
                bounded(tx.send(live.make(CROWD, round))).await.unwrap_or_else(|_| panic!("receiver lives"));
                sent[CROWD].add(round);
                let mut crowd: Vec<Option<SendFuture<'_>>> =
                    (0..CROWD).map(|from| Some(Box::pin(tx.send(live.make(from, round))) as SendFuture<'_>)).collect();
                bounded(poll_fn(|cx| {
                    for (from, slot) in crowd.iter_mut().enumerate() {
                        let Some(send) = slot else { continue };
                        // Dropped without this poll: perhaps just after its wake for room.
                        if rng.below(8) == 0 {
                            *slot = None;
                            continue;
                        }
                        if let Poll::Ready(done) = send.as_mut().poll(cx) {
                            assert!(done.is_ok(), "the receiver lives");
                            sent[from].add(round);
                            *slot = None;
                        }
                    }
                    if crowd.iter().all(Option::is_none) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }))
                .await;
            }
            sent
        }
    });
    let sent = join_within(sender, 30);
    assert_eq!(join_within(receiver, 30), sent);
    assert!(sent[..CROWD].iter().map(|s| s.count).sum::<u64>() > 0, "some of the crowd got through");
    drop(rt);
    live.assert_all_dropped();
}

/// Sends until the receiver is gone, cancelling now and then; the successful sends are
/// counted. A send must fail once the receiver is gone, bounded: never a hang.
async fn send_until_closed(tx: Sender<Tracked>, live: Arc<Live>, from: usize, seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let mut sent = 0;
    for seq in 0.. {
        let value = live.make(from, seq);
        if rng.below(6) == 0 {
            match timeout(Duration::from_micros(100), tx.send(value)).await {
                Ok(Ok(())) => sent += 1,
                Ok(Err(_)) => return sent,
                Err(_) => {}
            }
            continue;
        }
        match bounded(tx.send(value)).await {
            Ok(()) => sent += 1,
            Err(SendError(back)) => {
                assert_eq!((back.from, back.seq), (from, seq), "the refused value comes back");
                return sent;
            }
        }
    }
    unreachable!()
}

/// The receiver takes some messages, then is dropped (or closed and drained) while senders on
/// both cores and on a thread are sending or waiting for room: every sender sees the end,
/// every message sent was either received or dropped with the receiver, nothing leaks.
fn receiver_gone_mid_stream(capacity: usize, close_first: bool, seed: u64) {
    let rt = two_core_runtime();
    let live = Arc::new(Live::default());
    let (tx, mut rx) = cross_core::channel::<Tracked>(capacity);
    let take = 50 + Rng(seed).below(500);
    let receiver = rt.spawn_on(1, move || async move {
        let mut got = 0;
        while got < take {
            bounded(rx.recv()).await.expect("senders live");
            got += 1;
        }
        if close_first {
            rx.close();
            while let Ok(_msg) = rx.try_recv() {
                got += 1;
            }
            assert_eq!(rx.try_recv().map(|_| ()), Err(TryRecvError::Closed));
            assert!(bounded(rx.recv()).await.is_none(), "closed and drained");
        }
        drop_receiver(rx);
        got
    });
    let tasks: Vec<_> = (0..3)
        .map(|from| {
            let (tx, live) = (tx.clone(), live.clone());
            rt.spawn_on(from % 2, move || send_until_closed(tx, live, from, seed + from as u64))
        })
        .collect();
    let thread = std::thread::spawn({
        let (tx, live) = (tx, live.clone());
        move || {
            let mut sent = 0;
            for seq in 0.. {
                match tx.send_blocking(live.make(3, seq)) {
                    Ok(()) => sent += 1,
                    Err(_) => return sent,
                }
            }
            unreachable!()
        }
    });
    let received = join_within(receiver, 20);
    let mut sent: u64 = tasks.into_iter().map(|t| join_within(t, 20)).sum();
    sent += within(20, move || thread.join().unwrap());
    let drained = live.drained.load(Ordering::SeqCst);
    if close_first {
        assert_eq!(drained, 0, "a closed receiver drained everything before its drop");
    }
    assert_eq!(sent, received + drained, "each message sent was received or dropped with the receiver");
    drop(rt);
    live.assert_all_dropped();
}

#[test]
fn dropping_the_receiver_mid_stream_ends_every_sender_and_leaks_nothing() {
    for (round, capacity) in [1, 2, 5].into_iter().enumerate() {
        receiver_gone_mid_stream(capacity, false, 100 + round as u64);
    }
}

#[test]
fn closing_the_receiver_mid_stream_ends_every_sender_and_keeps_what_was_queued() {
    for (round, capacity) in [1, 2, 5].into_iter().enumerate() {
        receiver_gone_mid_stream(capacity, true, 200 + round as u64);
    }
}

/// What the oneshot's sending side does in one race.
#[derive(Clone, Copy, Debug)]
enum Move {
    Send,
    DropSender,
}

/// What the receiving side does at the same time.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Await,
    /// Awaits, leaving a different waker at each poll (as a receiver moved between tasks).
    AwaitSwappingWakers,
    DropReceiver,
    CloseThenTry,
}

const ANSWERS: [Answer; 4] = [Answer::Await, Answer::AwaitSwappingWakers, Answer::DropReceiver, Answer::CloseThenTry];

/// A waker that wakes another: a new one per poll is a waker change for the oneshot.
struct Forward(Waker);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// One race of a oneshot's two ends, from two cores (or a core and a thread), each after a
/// random spin: whatever the interleaving, the value is received iff its send succeeded,
/// a refused value comes back, and it is dropped exactly once.
fn oneshot_sender_side(tx: OneshotSender<Tracked>, what: Move, value: Tracked, spin: u64) -> bool {
    (0..spin).for_each(|_| std::hint::spin_loop());
    match what {
        Move::Send => match tx.send(value) {
            Ok(()) => true,
            Err(back) => {
                assert_eq!(back.seq, 0, "the refused value comes back");
                false
            }
        },
        Move::DropSender => {
            drop(tx);
            drop(value);
            false
        }
    }
}

async fn oneshot_receiver_side(mut rx: OneshotReceiver<Tracked>, what: Answer, spin: u64) -> Option<bool> {
    (0..spin).for_each(|_| std::hint::spin_loop());
    match what {
        Answer::Await => {
            let got = bounded(&mut rx).await;
            // Polled again after its answer, it fails at once.
            assert_eq!(bounded(&mut rx).await.map(|_| ()), Err(RecvError));
            Some(got.is_ok())
        }
        Answer::AwaitSwappingWakers => {
            let got = bounded(poll_fn(|cx| {
                // Several polls, each with a fresh waker, so the sender's completion lands
                // among the receiver's waker swaps; every one of them wakes this task.
                for _ in 0..8 {
                    let waker = Waker::from(Arc::new(Forward(cx.waker().clone())));
                    if let Poll::Ready(got) = Pin::new(&mut rx).poll(&mut Context::from_waker(&waker)) {
                        return Poll::Ready(got);
                    }
                    (0..50).for_each(|_| std::hint::spin_loop());
                }
                Poll::Pending
            }))
            .await;
            Some(got.is_ok())
        }
        Answer::DropReceiver => {
            drop(rx);
            None
        }
        Answer::CloseThenTry => {
            rx.close();
            let got = rx.try_recv();
            assert!(!matches!(got, Err(TryRecvError::Empty)), "closed: the value or nothing");
            Some(got.is_ok())
        }
    }
}

/// Oneshot ends racing across the two cores, thousands of times, in every pairing of a send
/// or a sender's drop against an await, a receiver's drop or a close.
#[test]
fn oneshot_ends_racing_across_cores_agree_and_drop_the_value_once() {
    const RACES: u64 = 8_000;
    let rt = two_core_runtime();
    let live = Arc::new(Live::default());
    // Core 0 makes each pair and keeps the receiver; core 1 gets the sender over a channel.
    let (to_sender, mut senders) = cross_core::channel::<(OneshotSender<Tracked>, Move, u64)>(4);
    let (results_tx, mut results) = cross_core::unbounded::<bool>();
    let sender_core = rt.spawn_on(1, {
        let live = live.clone();
        move || async move {
            while let Some((tx, what, spin)) = bounded(senders.recv()).await {
                let ok = oneshot_sender_side(tx, what, live.make(0, 0), spin);
                results_tx.try_send(ok).unwrap();
            }
        }
    });
    let receiver_core = rt.spawn_on(0, move || async move {
        let mut rng = Rng(5);
        let mut received = 0;
        for race in 0..RACES {
            let (tx, rx) = cross_core::oneshot();
            let what = if race % 3 == 2 { Move::DropSender } else { Move::Send };
            let answer = ANSWERS[(race / 3 % 4) as usize];
            to_sender.send((tx, what, rng.below(2_000))).await.unwrap();
            let got = oneshot_receiver_side(rx, answer, rng.below(2_000)).await;
            let sent = bounded(results.recv()).await.expect("the sender core answers");
            if let Some(got) = got {
                assert_eq!(got, sent, "race {race}: {what:?} against {answer:?}");
            }
            if matches!(what, Move::DropSender) {
                assert!(!sent);
            }
            received += u64::from(got == Some(true));
        }
        received
    });
    assert!(join_within(receiver_core, 30) > 0, "some values got through");
    join_within(sender_core, 30);
    drop(rt);
    live.assert_all_dropped();
    assert_eq!(live.made.load(Ordering::SeqCst), RACES);
}

/// The same races between a plain thread's sender and a receiver on a core.
#[test]
fn oneshot_sent_from_a_plain_thread_races_the_receiver_on_a_core() {
    const RACES: u64 = 2_000;
    let rt = two_core_runtime();
    let live = Arc::new(Live::default());
    let receiver_core = rt.spawn_on(1, {
        let live = live.clone();
        move || async move {
            let mut rng = Rng(9);
            for race in 0..RACES {
                let (tx, rx) = cross_core::oneshot();
                let what = if race % 4 == 3 { Move::DropSender } else { Move::Send };
                let answer = ANSWERS[(race / 4 % 4) as usize];
                let (value, spin) = (live.make(0, 0), rng.below(5_000));
                let sender = std::thread::spawn(move || oneshot_sender_side(tx, what, value, spin));
                let got = oneshot_receiver_side(rx, answer, rng.below(5_000)).await;
                let sent = sender.join().unwrap();
                if let Some(got) = got {
                    assert_eq!(got, sent, "race {race}: {what:?} against {answer:?}");
                }
            }
        }
    });
    join_within(receiver_core, 30);
    drop(rt);
    live.assert_all_dropped();
}

/// A sender dropped unsent, seen at once by a receiver on the other core that is waiting.
#[test]
fn a_oneshot_sender_dropped_unsent_fails_the_waiting_receiver() {
    let rt = two_core_runtime();
    for _ in 0..200 {
        let (tx, mut rx) = cross_core::oneshot::<u8>();
        let (parked_tx, parked) = cross_core::oneshot::<()>();
        let waiting = rt.spawn_on(0, move || async move {
            let first = poll_once(Pin::new(&mut rx)).await;
            let _ = parked_tx.send(());
            assert!(first.is_pending(), "nothing sent yet");
            bounded(rx).await
        });
        rt.spawn_on(1, move || async move {
            let _ = bounded(parked).await;
            drop(tx);
        })
        .detach();
        assert_eq!(join_within(waiting, 10), Err(RecvError));
    }
}

/// A runtime shut down with channel ends in its tasks' futures: the other ends, on plain
/// threads, see them gone (a blocked send fails, a waiting receive ends, a reply fails) and
/// nothing leaks.
#[test]
fn a_runtime_shut_down_releases_the_threads_waiting_on_its_tasks() {
    let live = Arc::new(Live::default());
    let rt = two_core_runtime();
    let (tx, rx) = cross_core::channel::<Tracked>(1);
    let (reply_tx, reply_rx) = cross_core::oneshot::<Tracked>();
    let (in_tx, mut in_rx) = cross_core::unbounded::<Tracked>();
    let (answer_tx, answer_rx) = cross_core::oneshot::<Tracked>();
    let (started_tx, started) = std::sync::mpsc::channel();
    // Each task holds its ends and waits forever: only the shutdown drops them.
    let hold_forever = |core: usize, ends: Box<dyn std::any::Any + Send>| {
        let started_tx = started_tx.clone();
        rt.spawn_on(core, move || async move {
            let _ends = ends;
            let _ = started_tx.send(());
            std::future::pending::<()>().await
        })
        .detach();
    };
    hold_forever(0, Box::new((rx, reply_rx)));
    hold_forever(1, Box::new((in_tx.clone(), answer_tx)));
    drop(in_tx);
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    started.recv_timeout(Duration::from_secs(10)).unwrap();
    let blocked_send = std::thread::spawn({
        let live = live.clone();
        move || {
            tx.send_blocking(live.make(0, 0)).unwrap_or_else(|_| panic!("the receiver lives"));
            tx.send_blocking(live.make(0, 1)).map_err(|SendError(back)| back.seq)
            // waits: full
        }
    });
    let waiting_recv = std::thread::spawn(move || ringpoll::park_on(in_rx.recv()).map(|m| m.seq));
    let waiting_answer = std::thread::spawn(move || ringpoll::park_on(answer_rx).map(|m| m.seq));
    std::thread::sleep(Duration::from_millis(20)); // most likely all three wait by now
    drop(rt);
    assert_eq!(within(10, move || blocked_send.join().unwrap()), Err(1), "the blocked send fails");
    assert_eq!(within(10, move || waiting_recv.join().unwrap()), None, "the receive ends");
    assert_eq!(within(10, move || waiting_answer.join().unwrap()), Err(RecvError), "the answer fails");
    assert!(reply_tx.is_closed(), "the reply's receiver went with its task");
    assert!(reply_tx.send(live.make(1, 0)).is_err());
    live.assert_all_dropped();
}

/// A send and the last sender's drop racing the receiver going to sleep, on the other core,
/// thousands of times: the receiver gets the message (if one was sent), then the end.
#[test]
fn the_last_sender_going_races_the_receiver_going_to_sleep() {
    const RACES: u64 = 2_000;
    let rt = two_core_runtime();
    let (to_receiver, mut channels) = cross_core::channel::<cross_core::Receiver<u64>>(1);
    let (results_tx, mut results) = cross_core::unbounded::<Vec<u64>>();
    rt.spawn_on(1, move || async move {
        while let Some(mut rx) = bounded(channels.recv()).await {
            let mut got = Vec::new();
            while let Some(n) = bounded(rx.recv()).await {
                got.push(n);
            }
            results_tx.try_send(got).unwrap();
        }
    })
    .detach();
    let sender = rt.spawn_on(0, move || async move {
        let mut rng = Rng(13);
        for race in 0..RACES {
            let (tx, rx) = if race % 2 == 0 { cross_core::channel(1) } else { cross_core::unbounded() };
            to_receiver.send(rx).await.unwrap();
            (0..rng.below(3_000)).for_each(|_| std::hint::spin_loop());
            let sends = rng.below(3);
            for n in 0..sends {
                tx.send(n).await.unwrap();
            }
            (0..rng.below(3_000)).for_each(|_| std::hint::spin_loop());
            drop(tx);
            let got = bounded(results.recv()).await.expect("the receiver core answers");
            assert_eq!(got, (0..sends).collect::<Vec<_>>(), "race {race}");
        }
    });
    join_within(sender, 30);
}
