//! Echo through a runtime pinned to two cores, on real loopback sockets.

mod support;

use std::net::SocketAddr;

use ringpoll::net::{TcpListener, TcpStream};
use support::*;

/// Binds a listener on every core of `rt` on one port; returns the port.
fn listen_everywhere(
    rt: &ringpoll::Runtime,
    conns: usize,
) -> (SocketAddr, Vec<ringpoll::JoinHandle<std::io::Result<()>>>) {
    // Reserve a free port, then let every core bind it with SO_REUSEPORT.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let servers = rt.run_on_each_core(move |_| {
        let ready = ready_tx.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            ready.send(()).unwrap();
            // Each core serves whatever the kernel gives it; the test ends it by aborting.
            loop {
                let (stream, _) = listener.accept().await?;
                ringpoll::spawn(echo(stream)).detach();
            }
        }
    });
    for _ in 0..rt.core_count() {
        ready_rx.recv().unwrap();
    }
    let _ = conns;
    (addr, servers)
}

#[test]
fn one_mebibyte_echoed_intact_through_two_cores() {
    assert_no_fd_leak(one_mebibyte);
}

fn one_mebibyte() {
    let rt = two_core_runtime();
    let (addr, servers) = listen_everywhere(&rt, 1);
    let data = payload(1 << 20, 7);
    let expected = data.clone();
    let got = rt
        .spawn_on(1, move || async move { round_trip(TcpStream::connect(addr).await?, data).await })
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "echoed bytes differ");
    servers.iter().for_each(|s| s.abort());
}

#[test]
fn thousand_connections_sharded_across_both_cores() {
    assert_no_fd_leak(thousand_connections);
}

fn thousand_connections() {
    const CONNS: usize = 1000;
    const SIZE: usize = 64 * 1024;
    let rt = two_core_runtime();
    let (addr, servers) = listen_everywhere(&rt, CONNS);
    // Clients on a runtime of their own, so the server cores only serve.
    let clients = one_core_runtime();
    let ok = clients
        .spawn_on(0, move || async move {
            let mut tasks = Vec::new();
            for i in 0..CONNS {
                tasks.push(ringpoll::spawn(async move {
                    let data = payload(SIZE, i as u8);
                    let got = round_trip(TcpStream::connect(addr).await?, data.clone()).await?;
                    Ok::<bool, std::io::Error>(got == data)
                }));
            }
            let mut intact = 0;
            for t in tasks {
                intact += t.await.unwrap().unwrap() as usize;
            }
            intact
        })
        .join()
        .unwrap();
    assert_eq!(ok, CONNS, "every connection echoes its 64 KiB intact");
    let stats = rt.stats();
    let accepted: Vec<u64> = stats.iter().map(|s| s.accepted).collect();
    assert_eq!(accepted.iter().sum::<u64>(), CONNS as u64);
    if num_cpus() >= 2 {
        assert!(accepted.iter().all(|&a| a > 0), "SO_REUSEPORT shards accepts over both cores: {accepted:?}");
    }
    servers.iter().for_each(|s| s.abort());
}

#[test]
fn runtime_teardown_closes_every_socket() {
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let (addr, _servers) = listen_everywhere(&rt, 8);
        let got = rt
            .spawn_on(0, move || async move {
                let mut out = Vec::new();
                for i in 0..8u8 {
                    out.push(round_trip(TcpStream::connect(addr).await?, payload(4096, i)).await?);
                }
                // Connections left open on purpose: the runtime must close them when dropped.
                let idle = TcpStream::connect(addr).await?;
                ringpoll::spawn(async move {
                    let _ = idle.read(Vec::with_capacity(8)).await;
                })
                .detach();
                Ok::<_, std::io::Error>(out)
            })
            .join()
            .unwrap()
            .unwrap();
        assert!(got.iter().enumerate().all(|(i, g)| *g == payload(4096, i as u8)));
        drop(rt);
    });
}
