//! Name lookups: names resolve on the blocking pool, numeric addresses never touch it.

mod support;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use ringpoll::net::{lookup_host, TcpListener, TcpStream, UdpSocket};
use ringpoll::Runtime;
use support::*;

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Runs `f` on a one-core runtime whose pool threads are called `pool`; returns its output
/// and how many pool threads it started.
fn on_core<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(
    pool: &str,
    f: impl FnOnce() -> F + Send + 'static,
) -> (T, usize) {
    let rt = Runtime::builder().cores([0]).driver(driver()).blocking_thread_name(pool).build().unwrap();
    let out = rt.spawn_on(0, f).join().unwrap();
    (out, threads_named(pool))
}

#[test]
fn numeric_addresses_skip_the_pool() {
    let (addrs, threads) = on_core("lk-numeric", || async {
        let mut all: Vec<SocketAddr> = lookup_host("127.0.0.1:80").await.unwrap().collect();
        all.extend(lookup_host(("::1", 443)).await.unwrap());
        all.extend(lookup_host("[::1]:8080".to_string()).await.unwrap());
        all
    });
    assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap(), "[::1]:443".parse().unwrap(), "[::1]:8080".parse().unwrap()]);
    assert_eq!(threads, 0, "a numeric address started a pool thread");
}

#[test]
fn host_names_resolve_on_the_pool() {
    let (addrs, threads) =
        on_core("lk-name", || async { lookup_host("localhost:9").await.unwrap().collect::<Vec<_>>() });
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9), "{addrs:?}");
    assert!(threads > 0, "a host name was resolved without the pool");
}

#[test]
fn connect_by_host_name() {
    let rt = two_core_runtime();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let server = rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        port_tx.send(listener.local_addr()?.port()).unwrap();
        echo_server(listener, 1).await
    });
    let port = port_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let reply = rt
        .spawn_on(1, move || async move {
            let stream = TcpStream::connect(format!("localhost:{port}")).await?;
            let (res, _) = stream.write_all(b"by name".to_vec()).await;
            res?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let (n, buf) = stream.read(Vec::with_capacity(64)).await;
            n.map(|n| buf[..n].to_vec())
        })
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"by name");
    server.join().unwrap().unwrap();
}

#[test]
fn bad_names_are_errors_not_panics() {
    ringpoll::try_block_on(driver(), async {
        let no_port = TcpStream::connect("localhost").await.unwrap_err();
        assert_eq!(no_port.kind(), ErrorKind::InvalidInput);
        let bad_port = lookup_host("localhost:99999").await.map(|_| ()).unwrap_err();
        assert_eq!(bad_port.kind(), ErrorKind::InvalidInput);
        // A name that cannot resolve fails (how fast depends on the resolver: bounded here).
        let unknown = ringpoll::time::timeout(Duration::from_secs(20), lookup_host("no-such-host.invalid:80")).await;
        if let Ok(res) = unknown {
            assert!(res.is_err(), "an .invalid name resolved");
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(udp.connect("localhost").await.is_err());
        udp.connect("localhost:9").await.unwrap();
    })
    .unwrap();
}
