//! An idle core gives its buffer pool's pages back, and loses no byte doing it.
//!
//! On io_uring a burst of pooled reads leaves a resident page in every buffer of the core's
//! ring; once the core has been idle for a while it trims them (MADV_DONTNEED), counted in
//! `pool_trimmed_bytes`. A trimmed buffer must still receive and echo the right bytes, and a
//! buffer a reader holds across the trim must keep its bytes. On epoll an idle connection
//! holds no buffer and there is no ring: the same echoes must pass and nothing is counted.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{DriverKind, Runtime};
use support::*;

const CONNS: usize = 150;
const LEN: usize = 4096;
/// A read that starts with these bytes holds its buffer until released (four bytes: the
/// random payloads of the bursts must not start a read with them by chance).
const HOLD: &[u8] = b"HOLD";

/// Echoes with pooled reads, as the echo example does; a buffer that starts with [`HOLD`] is
/// kept until `release` is set (10 s at most) before it is written back.
async fn echo(stream: TcpStream, release: Arc<AtomicBool>) -> std::io::Result<()> {
    loop {
        let buf = stream.read_pooled().await?;
        if buf.is_empty() {
            return Ok(());
        }
        if buf.starts_with(HOLD) {
            let give_up = Instant::now() + Duration::from_secs(10);
            while !release.load(Relaxed) && Instant::now() < give_up {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
        }
        stream.write_all(buf).await.0?;
    }
}

fn serve(rt: &Runtime, release: Arc<AtomicBool>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let _server = rt.run_on_each_core(move |_| {
        let (tx, release) = (tx.clone(), release.clone());
        async move {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            tx.send(listener.local_addr()?).expect("the test waits");
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                ringpoll::spawn(echo(stream, release.clone())).detach();
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the server listens")
}

/// Every client writes its pattern before any echo is read (so the core sees the reads of
/// many connections in one turn, and its ring grows), then each echo is compared.
fn burst(clients: &mut [std::net::TcpStream], len: usize, seed: usize) {
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(&payload(len, (seed + i) as u8)).expect("write");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut got = vec![0u8; len];
        c.read_exact(&mut got).expect("the echo within 10 s");
        assert!(got == payload(len, (seed + i) as u8), "connection {i}: the echo differs");
    }
}

/// A client whose connection the server has accepted and served once.
fn connected(addr: SocketAddr) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    c.write_all(b"x").expect("write");
    let mut byte = [0u8; 1];
    c.read_exact(&mut byte).expect("the echo within 10 s");
    assert_eq!(&byte, b"x");
    c
}

fn trimmed(rt: &Runtime) -> u64 {
    rt.stats()[0].pool_trimmed_bytes
}

/// Waits (5 s at most) for the core to trim past `than` bytes; returns the new count.
fn trim_beyond(rt: &Runtime, than: u64) -> u64 {
    let give_up = Instant::now() + Duration::from_secs(5);
    while trimmed(rt) <= than && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
    trimmed(rt)
}

#[test]
fn an_idle_core_trims_its_pool_and_every_echo_stays_intact() {
    let rt = one_core_runtime();
    let uring = rt.driver() == DriverKind::Uring;
    let release = Arc::new(AtomicBool::new(false));
    let addr = serve(&rt, release.clone());
    // One at a time, each served once: a burst of connects would overflow the backlog.
    let mut clients: Vec<_> = (0..CONNS).map(|_| connected(addr)).collect();

    burst(&mut clients, LEN, 0);
    // epoll has nothing to trim: no point waiting for it.
    let first = if uring { trim_beyond(&rt, 0) } else { trimmed(&rt) };
    let stats = rt.stats()[0];
    if uring {
        assert!(first > 0, "an idle core gave nothing back ({stats:?})");
        assert!(stats.pool_buffers > 0, "the echoes read pooled ({stats:?})");
    } else {
        assert_eq!((first, stats.pool_buffers), (0, 0), "epoll has no buffer ring");
    }

    // A reader holds a buffer across the next trim; the others echo 20 KiB each, through
    // buffers whose pages were given back.
    let mut holder = connected(addr);
    let mut held = payload(1000, 255);
    held[..HOLD.len()].copy_from_slice(HOLD);
    holder.write_all(&held).expect("write");
    burst(&mut clients, 5 * LEN, 100);
    if uring {
        let second = trim_beyond(&rt, first);
        assert!(second > first, "the core trimmed once, not after the second burst ({:?})", rt.stats()[0]);
    }
    release.store(true, Relaxed);
    let mut got = vec![0u8; held.len()];
    holder.read_exact(&mut got).expect("the held echo within 10 s");
    assert!(got == held, "a buffer held across the trim lost its bytes");

    // And the pool still serves after the second trim.
    burst(&mut clients, LEN, 200);
    drop((clients, holder));
    rt.shutdown();
}
