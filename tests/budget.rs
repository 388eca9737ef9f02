//! A task whose socket never runs dry still lets the other tasks of its core run (the
//! operation budget, `ringpoll_reactor::budget`): on epoll a read of a ready socket
//! completes in the poll that starts it, so without the budget such a task never yielded and
//! a timer task on its core saw one tick in a second.

mod support;

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringpoll::channel::{cross_core, local};
use ringpoll::net::{TcpListener, TcpStream};
use support::run;

const TICKS: u32 = 20;

/// A connected stream whose peer, a thread, keeps it full until `stop` (or 10 s).
async fn flooded(stop: Arc<AtomicBool>) -> (TcpStream, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        peer.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let end = Instant::now() + Duration::from_secs(10);
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            match peer.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break, // the reader closed
            }
        }
    });
    let (stream, _) = listener.accept().await.unwrap();
    // Let the socket's buffers fill, so every read finds bytes.
    ringpoll::time::sleep(Duration::from_millis(100)).await;
    (stream, feeder)
}

/// Reads `stream` until `ticks` reaches TICKS or 5 s pass; the bytes read.
async fn read_until_ticked(stream: &TcpStream, ticks: &Cell<u32>) -> u64 {
    // Small reads: the peer fills the socket far faster than they empty it, so no read
    // ever finds it empty (and returns Pending) on its own.
    let (start, mut read, mut buf) = (Instant::now(), 0u64, Vec::with_capacity(16));
    while ticks.get() < TICKS && start.elapsed() < Duration::from_secs(5) {
        let (n, b) = stream.read(buf).await;
        let n = n.expect("read");
        assert!(n > 0, "the peer keeps writing");
        read += n as u64;
        buf = b;
        buf.clear();
    }
    read
}

/// Ticks every 2 ms, TICKS times.
async fn tick(ticks: Rc<Cell<u32>>) {
    for _ in 0..TICKS {
        ringpoll::time::sleep(Duration::from_millis(2)).await;
        ticks.set(ticks.get() + 1);
    }
}

#[test]
fn a_spawned_task_reading_a_socket_that_never_runs_dry_lets_a_timer_task_run() {
    run(async {
        let stop = Arc::new(AtomicBool::new(false));
        let (stream, feeder) = flooded(stop.clone()).await;
        let ticks = Rc::new(Cell::new(0));
        let ticker = ringpoll::spawn(tick(ticks.clone()));
        let t = ticks.clone();
        let reader = ringpoll::spawn(async move { read_until_ticked(&stream, &t).await });
        let read = reader.await.unwrap();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(ticks.get(), TICKS, "the timer task ran while {read} bytes were read");
        assert!(read > 0);
        ticker.await.unwrap();
        feeder.join().unwrap();
    });
}

#[test]
fn block_on_s_own_future_reading_such_a_socket_lets_a_spawned_task_run() {
    run(async {
        let stop = Arc::new(AtomicBool::new(false));
        let (stream, feeder) = flooded(stop.clone()).await;
        let ticks = Rc::new(Cell::new(0));
        let ticker = ringpoll::spawn(tick(ticks.clone()));
        let read = read_until_ticked(&stream, &ticks).await;
        stop.store(true, Ordering::Relaxed);
        assert_eq!(ticks.get(), TICKS, "the timer task ran while {read} bytes were read");
        ticker.await.unwrap();
        drop(stream);
        feeder.join().unwrap();
    });
}

#[test]
fn a_task_receiving_from_a_cross_core_channel_that_stays_full_lets_a_timer_task_run() {
    const SENT: u32 = 1_000_000;
    run(async {
        // Queued before the receiver starts, by another thread: every receive finds a
        // message, so without the budget the receiver took all million before the timer
        // task's first tick.
        let (tx, mut rx) = cross_core::unbounded();
        std::thread::spawn(move || (0..SENT).for_each(|i| tx.try_send(i).unwrap())).join().unwrap();
        let ticks = Rc::new(Cell::new(0));
        let ticker = ringpoll::spawn(tick(ticks.clone()));
        let (start, mut received) = (Instant::now(), 0);
        while ticks.get() < TICKS && start.elapsed() < Duration::from_secs(5) {
            let Some(i) = rx.recv().await else { break };
            assert_eq!(i, received, "in order");
            received += 1;
            std::hint::black_box((0..50).sum::<u32>()); // a little work per message
        }
        assert_eq!(ticks.get(), TICKS, "the timer task ran while {received} messages were received");
        assert!(received < SENT, "and messages were still queued: {received}");
        ticker.await.unwrap();
    });
}

/// This core's reactor polls so far (a task's view of `Runtime::stats`).
fn reactor_polls() -> u64 {
    let core = ringpoll::current_core().expect("on a core");
    ringpoll::Handle::current().stats()[core].reactor_polls
}

#[test]
fn a_task_that_wakes_itself_runs_again_only_after_the_reactor_was_polled() {
    // A self-wake (yield_now, or the budget's own once spent) puts the task behind the
    // reactor, as tokio defers it: a task yielding in a loop, alone on its core, used to be
    // polled up to 128 times in one pass before a timer or a socket was looked at.
    let rt = support::one_core_runtime();
    let yielder = rt.spawn_on(0, || async {
        let mut unpolled = 0;
        for _ in 0..1000 {
            let before = reactor_polls();
            ringpoll::yield_now().await;
            unpolled += u32::from(reactor_polls() == before);
        }
        unpolled
    });
    let unpolled = support::join_within(yielder, 10);
    assert_eq!(unpolled, 0, "{unpolled} of 1000 yields ran again before a reactor poll");
}

/// Messages each step of the budget tests sends or receives.
const STEPS: u32 = 100_000;

/// The most steps (`step(0)` to `step(STEPS - 1)`, awaited in turn by one task on a one-core
/// runtime, `make` building `step` there) that completed between two reactor polls.
fn most_between_reactor_polls<F, S>(make: F) -> u32
where
    F: FnOnce() -> S + Send + 'static,
    S: AsyncFnMut(u32) + 'static,
{
    let rt = support::one_core_runtime();
    let task = rt.spawn_on(0, move || async move {
        let mut step = make();
        let (mut most, mut run, mut last) = (0u32, 0u32, reactor_polls());
        for i in 0..STEPS {
            step(i).await;
            let now = reactor_polls();
            run = if now == last { run + 1 } else { 1 };
            (last, most) = (now, most.max(run));
        }
        most
    });
    support::join_within(task, 20)
}

/// Asserts `most` is one budget's worth: the budget, not something else, made the task yield.
fn assert_one_budget(most: u32, what: &str) {
    let budget = 128; // ringpoll_reactor::budget::PER_POLL, as tokio's
    assert!(most <= budget, "{most} {what} between two reactor polls (budget {budget})");
    assert!(most >= budget / 2, "the budget, not something else, made the task yield: {most} {what}");
}

#[test]
fn a_task_whose_budget_is_spent_runs_again_only_after_the_reactor_was_polled() {
    let (tx, mut rx) = cross_core::unbounded();
    std::thread::spawn(move || (0..STEPS).for_each(|i| tx.try_send(i).unwrap())).join().unwrap();
    let most = most_between_reactor_polls(move || async move |i| assert_eq!(rx.recv().await, Some(i), "in order"));
    assert_one_budget(most, "messages taken");
}

#[test]
fn a_task_sending_into_a_cross_core_channel_with_room_yields_once_its_budget_is_spent() {
    let (tx, rx) = cross_core::unbounded::<u32>();
    let most = most_between_reactor_polls(move || async move |i| tx.send(i).await.expect("the receiver is alive"));
    assert_one_budget(most, "sends");
    assert_eq!(rx.len(), STEPS as usize, "every message queued");
}

#[test]
fn a_task_sending_into_a_local_channel_with_room_yields_once_its_budget_is_spent() {
    let most = most_between_reactor_polls(|| {
        let (tx, mut rx) = local::unbounded::<u32>();
        async move |i| {
            tx.send(i).await.expect("the receiver is alive");
            assert_eq!(rx.try_recv(), Ok(i), "just sent");
        }
    });
    assert_one_budget(most, "local sends");
}

#[test]
fn a_task_draining_a_long_local_queue_yields_once_its_budget_is_spent() {
    let most = most_between_reactor_polls(|| {
        let (tx, mut rx) = local::unbounded::<u32>();
        (0..STEPS).for_each(|i| tx.try_send(i).unwrap());
        async move |i| assert_eq!(rx.recv().await, Some(i), "in order")
    });
    assert_one_budget(most, "local receives");
}
