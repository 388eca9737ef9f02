//! How connections spread over the cores: SO_REUSEPORT hashing (the default), steering by
//! the receiving CPU (a reuseport BPF program), and one shared listener without SO_REUSEPORT.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringpoll::net::{SharedListener, TcpListener};
use ringpoll::Runtime;
use support::{assert_no_fd_leak, num_cpus, two_core_runtime};

/// How each core's listener is made.
#[derive(Clone, Copy)]
enum Mode {
    Hash,
    Steered,
}

/// Listens on every core, in core order (each core binds after the previous one has), and
/// keeps every accepted connection open. Returns the address.
fn listen_in_core_order(rt: &Runtime, mode: Mode) -> SocketAddr {
    let mut addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for core in 0..rt.core_count() {
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn_on(core, move || async move {
            let listener = match mode {
                Mode::Hash => TcpListener::bind(addr),
                Mode::Steered => TcpListener::bind_steered(addr),
            };
            let listener = match listener {
                Ok(l) => l,
                Err(e) => return drop(tx.send(Err(e.to_string()))),
            };
            let _ = tx.send(Ok(listener.local_addr().unwrap()));
            hold_connections(listener).await;
        })
        .detach();
        addr = rx.recv_timeout(Duration::from_secs(10)).unwrap().expect("bind");
    }
    addr
}

async fn hold_connections(listener: TcpListener) {
    let mut open = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        open.push(stream);
    }
}

/// Opens `n` connections from a thread pinned to `cpu` (if given); keeps them open until the
/// returned vector drops.
fn connect_from(addr: SocketAddr, n: usize, cpu: Option<usize>) -> Vec<std::net::TcpStream> {
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            assert!(core_affinity::set_for_current(core_affinity::CoreId { id: cpu }));
        }
        (0..n).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect()
    })
    .join()
    .unwrap()
}

/// Accepted counts per core since `before`, once they add up to `n` (bounded wait).
fn accepted_since(rt: &Runtime, before: &[u64], n: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: Vec<u64> = rt.stats().iter().zip(before).map(|(s, b)| s.accepted - b).collect();
        if now.iter().sum::<u64>() >= n || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn accepted(rt: &Runtime) -> Vec<u64> {
    rt.stats().iter().map(|s| s.accepted).collect()
}

#[test]
fn reuseport_hashing_spreads_connections_over_both_cores() {
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let addr = listen_in_core_order(&rt, Mode::Hash);
        let before = accepted(&rt);
        let conns = connect_from(addr, 256, None);
        let per_core = accepted_since(&rt, &before, 256);
        assert_eq!(per_core.iter().sum::<u64>(), 256, "every connection accepted: {per_core:?}");
        // Binomial(256, 1/2): below 64 on either side is beyond 8 standard deviations.
        assert!(per_core.iter().all(|&n| n >= 64), "4-tuple hashing spread: {per_core:?}");
        drop(conns);
    });
}

/// On loopback the client's CPU receives the SYN, so the BPF program sends every connection
/// of a client pinned to CPU c to the core pinned to CPU c.
#[test]
fn steering_sends_connections_to_the_receiving_cpus_core() {
    if num_cpus() < 2 {
        eprintln!("skipped: steering needs two CPUs");
        return;
    }
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let addr = listen_in_core_order(&rt, Mode::Steered);
        for cpu in [1, 0, 1] {
            let before = accepted(&rt);
            let conns = connect_from(addr, 64, Some(cpu));
            let per_core = accepted_since(&rt, &before, 64);
            let core = (0..2).find(|&c| rt.cpu_of(c) == cpu).unwrap();
            assert_eq!(per_core[core], 64, "clients on CPU {cpu}: {per_core:?}");
            drop(conns);
        }
    });
}

#[test]
fn bind_steered_outside_a_runtime_is_an_error() {
    let err = TcpListener::bind_steered("127.0.0.1:0").unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
}

#[test]
fn one_shared_listener_serves_every_core_and_keeps_the_port_to_itself() {
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let shared = SharedListener::bind("127.0.0.1:0").unwrap();
        let addr = shared.local_addr();
        for core in 0..2 {
            let shared = shared.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            rt.spawn_on(core, move || async move {
                let listener = shared.listener().unwrap();
                let _ = tx.send(());
                hold_connections(listener).await;
            })
            .detach();
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // Without SO_REUSEPORT nobody else can join the port, ringpoll's per-core bind included.
        let joined = rt.spawn_on(0, move || async move { TcpListener::bind(addr).map(drop) }).join().unwrap();
        assert_eq!(joined.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
        let before = accepted(&rt);
        let conns = connect_from(addr, 128, None);
        let per_core = accepted_since(&rt, &before, 128);
        assert_eq!(per_core.iter().sum::<u64>(), 128, "every connection accepted once: {per_core:?}");
        drop((conns, shared));
    });
}
