//! How 1,000 connections spread over two cores' listeners, by accept mode: SO_REUSEPORT
//! hashing (the default), steering by the receiving CPU (`TcpListener::bind_steered`), and
//! one shared listener without SO_REUSEPORT (`SharedListener`). Clients: one thread, or two
//! threads pinned to CPUs 0 and 1 (500 connections each). Prints per-core accepted counts
//! (median of the rounds) and the accept rate.
//!
//! ```text
//! cargo bench -p ringpoll-benches --bench accept_balance       # 5 rounds, a few seconds
//! cargo bench -p ringpoll-benches --bench accept_balance -- 1  # 1 round
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringpoll::net::{SharedListener, TcpListener};
use ringpoll::Runtime;

const CONNECTIONS: usize = 1000;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Hash,
    Steered,
    Shared,
}

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    println!("| mode | clients | core 0 | core 1 | max/min | connections/s |");
    println!("|---|---|---:|---:|---:|---:|");
    for mode in [Mode::Hash, Mode::Steered, Mode::Shared] {
        for pinned in [false, true] {
            let mut runs: Vec<(u64, u64, f64)> = (0..rounds).map(|_| run(mode, pinned)).collect();
            runs.sort_by_key(|r| r.0.abs_diff(r.1));
            let (a, b, rate) = runs[runs.len() / 2];
            let clients = if pinned { "2 threads, CPUs 0 and 1" } else { "1 thread" };
            let ratio = a.max(b) as f64 / a.min(b).max(1) as f64;
            println!("| {mode:?} | {clients} | {a} | {b} | {ratio:.2} | {rate:.0} |");
        }
    }
}

/// One run: a fresh runtime, listeners in core order, 1,000 connections; per-core counts.
fn run(mode: Mode, pinned: bool) -> (u64, u64, f64) {
    let rt = Runtime::builder().cores([0, 1]).build().expect("runtime on CPUs 0 and 1");
    let addr = listen(&rt, mode);
    let started = Instant::now();
    let threads: Vec<_> = if pinned { vec![Some(0), Some(1)] } else { vec![None] };
    let per_thread = CONNECTIONS / threads.len();
    let clients: Vec<_> = threads
        .into_iter()
        .map(|cpu| {
            std::thread::spawn(move || {
                if let Some(cpu) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                (0..per_thread).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let conns: Vec<_> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let counts = loop {
        let s = rt.stats();
        if s[0].accepted + s[1].accepted >= CONNECTIONS as u64 || Instant::now() > deadline {
            break (s[0].accepted, s[1].accepted);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let rate = CONNECTIONS as f64 / started.elapsed().as_secs_f64();
    drop(conns);
    (counts.0, counts.1, rate)
}

fn listen(rt: &Runtime, mode: Mode) -> SocketAddr {
    let shared = matches!(mode, Mode::Shared).then(|| SharedListener::bind("127.0.0.1:0").unwrap());
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for core in 0..rt.core_count() {
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = shared.clone();
        rt.spawn_on(core, move || async move {
            let listener = match (mode, shared) {
                (Mode::Shared, Some(shared)) => shared.listener(),
                (Mode::Steered, _) => TcpListener::bind_steered(addr),
                _ => TcpListener::bind(addr),
            }
            .unwrap();
            let _ = tx.send(listener.local_addr().unwrap());
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        })
        .detach();
        addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    addr
}
