//! Microbenchmarks of ringpoll's executor and reactor, on both drivers (criterion):
//! spawn and join of a local task, a local wake, a cross-core wake round trip, timer insert
//! and cancel; the round trip again with `spin_before_park`. Then prints, per driver with
//! and without spin, the mean of 5,000 round trips with the wakes they cost (eventfd writes,
//! MSG_RING wakes, spin hits), and how many eventfd writes 10,000 cross-core sends cost, and
//! writes them to `benches/results/micro-eventfd.txt`.
//!
//! ```text
//! cargo bench -p ringpoll-benches --bench micro                 # full criterion run
//! cargo bench -p ringpoll-benches --bench micro -- --quick      # criterion's quick mode
//! cargo bench -p ringpoll-benches --bench micro -- figures-only # a filter matching no
//!                                                               # benchmark: the figures only
//! chrt -f 1 cargo bench ...                                     # less VM scheduling noise
//! ```
//! Each measurement runs on a core of the runtime (`iter_custom`), so criterion's thread is
//! only the timer's client and never part of the measured path.

use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::Criterion;
use ringpoll::{DriverChoice, Runtime};
use tokio::sync::mpsc;

/// Cross-core sends per eventfd figure, as the issue asks.
const SENDS: u64 = 10_000;
/// The spin of the `spin` runtimes: long enough to cover a cross-core hop on this VM.
const SPIN: Duration = Duration::from_micros(50);

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_floor(&mut c);
    let floor = thread_ping_pong(SENDS / 2);
    let mut figures = format!(
        "floor: {} round trips of two pinned threads through std channels (futex), mean {:.1} us\n",
        SENDS / 2,
        floor.as_secs_f64() * 1e6 / (SENDS / 2) as f64
    );
    for (name, driver) in [("epoll", DriverChoice::Epoll), ("uring", DriverChoice::Uring)] {
        let rt = Runtime::builder().cores([0, 1]).driver(driver).build().expect("runtime on CPUs 0 and 1");
        bench_driver(&mut c, name, &rt);
        figures.push_str(&eventfd_figures(name, &rt));
        drop(rt);
        let spin = Runtime::builder().cores([0, 1]).driver(driver).spin_before_park(SPIN).build();
        let rt = spin.expect("spinning runtime on CPUs 0 and 1");
        c.bench_function(&format!("{name}/cross_core_round_trip_spin_50us"), |b| {
            b.iter_custom(|n| ping_pong(&rt, n).0)
        });
        figures.push_str(&eventfd_figures(&format!("{name} (spin 50 us)"), &rt));
    }
    c.final_summary();
    println!("\n{figures}");
    // CARGO_MANIFEST_DIR is benches/ itself (the ringpoll-benches crate).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results/micro-eventfd.txt");
    if let Err(e) = std::fs::write(path, &figures) {
        eprintln!("micro: cannot write {path}: {e}");
    }
}

/// The machine's own floor for a cross-CPU wake round trip: two pinned std threads
/// ping-ponging through std channels (futex wakes), no runtime at all.
fn bench_floor(c: &mut Criterion) {
    c.bench_function("floor/thread_round_trip_futex", |b| b.iter_custom(thread_ping_pong));
}

fn thread_ping_pong(n: u64) -> Duration {
    let (to_1, at_1) = std::sync::mpsc::sync_channel::<u64>(1);
    let (to_0, at_0) = std::sync::mpsc::sync_channel::<u64>(1);
    let echo = std::thread::spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: 1 });
        while let Ok(v) = at_1.recv() {
            if to_0.send(v).is_err() {
                return;
            }
        }
    });
    let timer = std::thread::spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
        let start = Instant::now();
        for i in 0..n {
            to_1.send(i).expect("echo thread alive");
            black_box(at_0.recv().expect("echo reply"));
        }
        start.elapsed()
    });
    let elapsed = timer.join().expect("timing thread");
    echo.join().expect("echo thread");
    elapsed
}

fn bench_driver(c: &mut Criterion, driver: &str, rt: &Runtime) {
    let mut g = c.benchmark_group(driver);
    g.bench_function("spawn_join_local", |b| b.iter_custom(|n| on_core(rt, 0, move || spawn_join(n))));
    g.bench_function("local_wake", |b| b.iter_custom(|n| on_core(rt, 0, move || local_wake(n))));
    g.bench_function("timer_insert_cancel", |b| b.iter_custom(|n| on_core(rt, 0, move || timer_insert_cancel(n))));
    g.bench_function("cross_core_round_trip", |b| b.iter_custom(|n| ping_pong(rt, n).0));
    g.finish();
}

/// Runs `make()`'s future on core `index` and returns the time it measured.
fn on_core<F, Fut>(rt: &Runtime, index: usize, make: F) -> Duration
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Duration> + 'static,
{
    rt.spawn_on(index, make).join().expect("benchmark task")
}

async fn spawn_join(n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let out = ringpoll::spawn(async move { black_box(i) }).await;
        black_box(out.expect("task ran"));
    }
    start.elapsed()
}

/// A task waking itself and being polled again: the local run-queue round trip.
async fn local_wake(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        ringpoll::yield_now().await;
    }
    start.elapsed()
}

/// Arms a timer (first poll registers it) and drops it (removes it).
async fn timer_insert_cancel(n: u64) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for i in 0..n {
        let mut sleep = ringpoll::time::sleep(Duration::from_secs(60 + (i % 64)));
        black_box(sleep.poll_elapsed(&mut cx).is_pending());
    }
    start.elapsed()
}

/// What the wakes of a run cost, summed over the runtime's cores.
#[derive(Clone, Copy, Default)]
struct Wakes {
    eventfd_writes: u64,
    ring_wakes: u64,
    spin_hits: u64,
}

impl Wakes {
    fn now(rt: &Runtime) -> Wakes {
        rt.stats().iter().fold(Wakes::default(), |w, s| Wakes {
            eventfd_writes: w.eventfd_writes + s.eventfd_writes,
            ring_wakes: w.ring_wakes + s.ring_wakes,
            spin_hits: w.spin_hits + s.spin_hits,
        })
    }

    fn since(self, before: Wakes) -> Wakes {
        Wakes {
            eventfd_writes: self.eventfd_writes - before.eventfd_writes,
            ring_wakes: self.ring_wakes - before.ring_wakes,
            spin_hits: self.spin_hits - before.spin_hits,
        }
    }
}

/// `n` round trips core 0 -> core 1 -> core 0 through two channels; each hop wakes a task
/// on the other core. Returns the time and the wakes the two cores received.
fn ping_pong(rt: &Runtime, n: u64) -> (Duration, Wakes) {
    let (to_1, mut at_1) = mpsc::channel::<u64>(1);
    let (to_0, mut at_0) = mpsc::channel::<u64>(1);
    let before = Wakes::now(rt);
    let echo = rt.spawn_on(1, move || async move {
        while let Some(v) = at_1.recv().await {
            if to_0.send(v).await.is_err() {
                return;
            }
        }
    });
    let elapsed = on_core(rt, 0, move || async move {
        let start = Instant::now();
        for i in 0..n {
            to_1.send(i).await.expect("echo task alive");
            black_box(at_0.recv().await.expect("echo reply"));
        }
        start.elapsed()
    });
    echo.join().expect("echo task");
    (elapsed, Wakes::now(rt).since(before))
}

/// The eventfd writes core `index` has received, from the public stats.
fn core_writes(rt: &Runtime, index: usize) -> u64 {
    rt.stats()[index].eventfd_writes
}

/// eventfd writes for 10,000 cross-core sends, four ways; one line each.
fn eventfd_figures(driver: &str, rt: &Runtime) -> String {
    let (took, w) = ping_pong(rt, SENDS / 2);
    let round_trip = format!(
        "{driver}: {} cross-core round trips, mean {:.1} us; {} hops: eventfd writes {}, ring wakes {}, spin hits {}\n",
        SENDS / 2,
        took.as_secs_f64() * 1e6 / (SENDS / 2) as f64,
        SENDS,
        w.eventfd_writes,
        w.ring_wakes,
        w.spin_hits,
    );
    let ping_pong_writes = w.eventfd_writes;
    let burst = burst_spawns(rt);
    let busy = sends_to_busy_core(rt);
    let (core_writes, core_ring_wakes) = core_to_core_spawns(rt);
    round_trip
        + &format!(
            "{driver}: eventfd writes per {SENDS} cross-core sends: ping-pong (every send finds the peer asleep) \
         {ping_pong_writes}; burst of spawn_on from a thread {burst}; wakes to a busy core {busy}; \
         spawn_on core 0 -> core 1, each awaited {core_writes} (ring wakes {core_ring_wakes})\n"
        )
}

/// 10,000 `spawn_on(1, ..)` from a task on core 0, each awaited, so core 1 sleeps before the
/// next: returns core 1's eventfd writes and MSG_RING wakes.
fn core_to_core_spawns(rt: &Runtime) -> (u64, u64) {
    let before = rt.stats()[1];
    let sender = rt.handle().clone();
    rt.spawn_on(0, move || async move {
        for i in 0..SENDS {
            black_box(sender.spawn_on(1, move || async move { i }).await.expect("spawned task"));
        }
    })
    .join()
    .expect("sender task");
    let after = rt.stats()[1];
    (after.eventfd_writes - before.eventfd_writes, after.ring_wakes - before.ring_wakes)
}

/// 10,000 `spawn_on(1, ..)` from this (non-core) thread back to back, then every join.
fn burst_spawns(rt: &Runtime) -> u64 {
    let before = core_writes(rt, 1);
    let handles: Vec<_> = (0..SENDS).map(|i| rt.spawn_on(1, move || async move { i })).collect();
    for h in handles {
        h.join().expect("spawned task");
    }
    core_writes(rt, 1) - before
}

/// 10,000 messages from core 0 to a task on core 1 while core 1 also runs a task that keeps
/// yielding, so it never parks: the flags should make these sends free.
fn sends_to_busy_core(rt: &Runtime) -> u64 {
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    let spinner = rt.spawn_on(1, || async {
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            ringpoll::yield_now().await;
        }
    });
    let receiver = rt.spawn_on(1, move || async move {
        let mut got = 0;
        while got < SENDS {
            rx.recv().await.expect("sender alive");
            got += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let before = core_writes(rt, 1);
    rt.spawn_on(0, move || async move {
        for i in 0..SENDS {
            tx.send(i).expect("receiver alive");
        }
    })
    .join()
    .expect("sender task");
    receiver.join().expect("receiver task");
    let writes = core_writes(rt, 1) - before;
    spinner.join().expect("spinner task");
    writes
}
