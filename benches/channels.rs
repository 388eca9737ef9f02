//! Cross-core channels against tokio's, in the same run: messages per second from one core
//! to another, and request/reply round trips (a bounded channel out, a oneshot back) with 64
//! requests in flight. ringpoll runs a two-core runtime pinned to CPUs 0 and 1; tokio runs a
//! current-thread runtime on each of two threads pinned the same way, so both sides are
//! thread-per-core and only the channels differ. Rounds alternate (A B A B ...); medians.
//!
//! ```text
//! cargo bench -p ringpoll-benches --bench channels         # 5 rounds, about 30 s
//! cargo bench -p ringpoll-benches --bench channels -- 1    # 1 round
//! cargo bench -p ringpoll-benches --bench channels -- 3 'round trips'  # only the rows named so
//! ```
//!
//! The filter (any argument that is not a number) keeps the measurements whose row names
//! hold it: one side alone, for `strace -c -f` or `valgrind --tool=callgrind`.
//!
//! The round trips run once more on cores that spin for [`SPIN`] before they sleep
//! (`Builder::spin_before_park`): on a VM a sleep and its wake-up (an eventfd write, a
//! context switch on each side) cost more CPU than the spin, so that row shows what the
//! wake-ups cost, next to the default (no spin) and to tokio (which never spins).

use std::future::Future;
use std::time::{Duration, Instant};

use ringpoll::channel::cross_core;
use ringpoll::{DriverChoice, Runtime};

/// Messages per throughput run.
const MESSAGES: u64 = 1_000_000;
/// Capacity of the bounded channels.
const CAPACITY: usize = 1024;
/// Round trips per round-trip run, and how many are in flight at once.
const ROUND_TRIPS: u64 = 200_000;
const IN_FLIGHT: u64 = 64;
/// The spin of the `+ spin` rows.
const SPIN: Duration = Duration::from_micros(5);

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    // `cargo bench` adds `--bench`: flags are not filters.
    let filter =
        std::env::args().skip(1).find(|a| a.parse::<usize>().is_err() && !a.starts_with("--")).unwrap_or_default();
    let wanted = |name: &str| name.contains(filter.as_str());
    let mut results: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut record = |name: &'static str, value: f64| match results.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => v.push(value),
        None => results.push((name, vec![value])),
    };
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (driver, stream, writes, trips, spun) in [
            (
                DriverChoice::Epoll,
                "ringpoll epoll msgs/s",
                "ringpoll epoll eventfd writes/1M msgs",
                "ringpoll epoll round trips/s",
                "ringpoll epoll + spin 5 us round trips/s",
            ),
            (
                DriverChoice::Uring,
                "ringpoll uring msgs/s",
                "ringpoll uring eventfd writes/1M msgs",
                "ringpoll uring round trips/s",
                "ringpoll uring + spin 5 us round trips/s",
            ),
        ] {
            if wanted(spun) {
                let rt = Runtime::builder().cores([0, 1]).driver(driver).spin_before_park(SPIN).build();
                record(spun, ROUND_TRIPS as f64 / ringpoll_round_trips(&rt.expect("runtime on CPUs 0 and 1")));
            }
            if !wanted(stream) && !wanted(writes) && !wanted(trips) {
                continue;
            }
            let rt = Runtime::builder().cores([0, 1]).driver(driver).build().expect("runtime on CPUs 0 and 1");
            if wanted(stream) || wanted(writes) {
                let (secs, eventfd_writes) = ringpoll_stream(&rt);
                record(stream, MESSAGES as f64 / secs);
                record(writes, eventfd_writes as f64);
            }
            if wanted(trips) {
                record(trips, ROUND_TRIPS as f64 / ringpoll_round_trips(&rt));
            }
        }
        if wanted("tokio msgs/s") {
            record("tokio msgs/s", MESSAGES as f64 / tokio_stream());
        }
        if wanted("tokio round trips/s") {
            record("tokio round trips/s", ROUND_TRIPS as f64 / tokio_round_trips());
        }
    }
    println!("\n| cross-core, CPUs 0 -> 1 ({rounds} rounds) | median | min | max |");
    println!("|---|---:|---:|---:|");
    for (name, mut values) in results {
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        println!("| {name} | {median:.0} | {:.0} | {:.0} |", values[0], values[values.len() - 1]);
    }
}

/// One million messages from core 0 to core 1; seconds, and eventfd writes to core 1.
fn ringpoll_stream(rt: &Runtime) -> (f64, u64) {
    let (tx, mut rx) = cross_core::channel::<u64>(CAPACITY);
    let writes = rt.stats()[1].eventfd_writes;
    let started = Instant::now();
    let receiver = rt.spawn_on(1, move || async move {
        let mut sum = 0u64;
        while let Some(n) = rx.recv().await {
            sum = sum.wrapping_add(n);
        }
        sum
    });
    rt.spawn_on(0, move || async move {
        for n in 0..MESSAGES {
            tx.send(n).await.unwrap();
        }
    })
    .detach();
    assert_eq!(receiver.join().unwrap(), MESSAGES * (MESSAGES - 1) / 2);
    (started.elapsed().as_secs_f64(), rt.stats()[1].eventfd_writes - writes)
}

/// Requests from 64 tasks on core 0 to a server task on core 1, each answered on a oneshot.
fn ringpoll_round_trips(rt: &Runtime) -> f64 {
    let (requests, mut inbox) = cross_core::channel::<(u64, cross_core::OneshotSender<u64>)>(CAPACITY);
    rt.spawn_on(1, move || async move {
        while let Some((n, reply)) = inbox.recv().await {
            let _ = reply.send(n + 1);
        }
    })
    .detach();
    let started = Instant::now();
    rt.spawn_on(0, move || async move {
        let clients: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let requests = requests.clone();
                ringpoll::spawn(async move {
                    for n in 0..ROUND_TRIPS / IN_FLIGHT {
                        let (tx, rx) = cross_core::oneshot();
                        requests.send((n, tx)).await.unwrap();
                        assert_eq!(rx.await.unwrap(), n + 1);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    })
    .join()
    .unwrap();
    started.elapsed().as_secs_f64()
}

/// Runs `f` on a current-thread tokio runtime on a thread pinned to `cpu`.
fn tokio_on<F, Fut>(cpu: usize, f: F) -> std::thread::JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    std::thread::spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(f())
    })
}

fn tokio_stream() -> f64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
    let started = Instant::now();
    let receiver = tokio_on(1, move || async move {
        let mut sum = 0u64;
        while let Some(n) = rx.recv().await {
            sum = sum.wrapping_add(n);
        }
        sum
    });
    tokio_on(0, move || async move {
        for n in 0..MESSAGES {
            tx.send(n).await.unwrap();
        }
    });
    assert_eq!(receiver.join().unwrap(), MESSAGES * (MESSAGES - 1) / 2);
    started.elapsed().as_secs_f64()
}

fn tokio_round_trips() -> f64 {
    let (requests, mut inbox) = tokio::sync::mpsc::channel::<(u64, tokio::sync::oneshot::Sender<u64>)>(CAPACITY);
    let server = tokio_on(1, move || async move {
        while let Some((n, reply)) = inbox.recv().await {
            let _ = reply.send(n + 1);
        }
    });
    let started = Instant::now();
    tokio_on(0, move || async move {
        let clients: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let requests = requests.clone();
                tokio::spawn(async move {
                    for n in 0..ROUND_TRIPS / IN_FLIGHT {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        requests.send((n, tx)).await.unwrap();
                        assert_eq!(rx.await.unwrap(), n + 1);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    })
    .join()
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    server.join().unwrap();
    let _ = Duration::ZERO;
    elapsed
}
