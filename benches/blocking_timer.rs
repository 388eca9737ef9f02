//! `cargo bench --bench blocking_timer`: how late a 5 ms timer fires on a core while a
//! 100 ms blocking job runs, with the job on the blocking pool (`spawn_blocking`) and, as the
//! peer in the same run, inline on the core (what a plain `std::fs` call or getaddrinfo
//! does). Goal: under 2 ms late with the pool, on each driver.
//!
//! Each round starts the job, then awaits `sleep(5 ms)` on the same core and records how far
//! past 5 ms it woke; the job is awaited before the next round. `-- --rounds N` (default 20).

use std::time::{Duration, Instant};

use ringpoll::{DriverChoice, DriverKind};

const JOB: Duration = Duration::from_millis(100);
const TIMER: Duration = Duration::from_millis(5);

fn main() {
    let rounds =
        std::env::args().skip_while(|a| a != "--rounds").nth(1).and_then(|n| n.parse().ok()).unwrap_or(20usize);
    println!("| driver | job runs | timer lateness p50 | p90 | max |");
    println!("|---|---|---:|---:|---:|");
    for (choice, kind) in [(DriverChoice::Uring, DriverKind::Uring), (DriverChoice::Epoll, DriverKind::Epoll)] {
        for pooled in [true, false] {
            let mut late = ringpoll::try_block_on(choice, lateness(rounds, pooled)).expect("block_on");
            late.sort();
            let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
            let place = if pooled { "on the pool" } else { "inline on the core" };
            println!("| {kind} | {place} | {:.2} ms | {:.2} ms | {:.2} ms |", ms(at(0.5)), ms(at(0.9)), ms(at(1.0)));
        }
    }
}

async fn lateness(rounds: usize, pooled: bool) -> Vec<Duration> {
    let mut late = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let job = match pooled {
            true => ringpoll::spawn_blocking(|| std::thread::sleep(JOB)),
            false => ringpoll::spawn(async { std::thread::sleep(JOB) }),
        };
        let start = Instant::now();
        ringpoll::time::sleep(TIMER).await;
        late.push(start.elapsed().saturating_sub(TIMER));
        job.await.expect("job");
    }
    late
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
