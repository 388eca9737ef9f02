//! Shared pieces of the integration tests.
#![allow(dead_code)]

use std::io;
use std::sync::{Mutex, MutexGuard};

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{DriverChoice, Runtime};

/// The driver under test: CI runs the suite once per `RINGPOLL_DRIVER`.
pub fn driver() -> DriverChoice {
    DriverChoice::from_env().expect("RINGPOLL_DRIVER")
}

/// A runtime on CPUs 0 and 1 (or 0 alone on a one-CPU machine), on the driver under test.
pub fn two_core_runtime() -> Runtime {
    let cpus: Vec<usize> = if num_cpus() >= 2 { vec![0, 1] } else { vec![0, 0] };
    Runtime::builder().cores(cpus).driver(driver()).build().expect("runtime")
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// Serialises the tests of one binary that compare fd counts, so a neighbour's sockets do not
/// show up as a leak.
pub fn fd_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks that `f` leaves no descriptor open.
pub fn assert_no_fd_leak(f: impl FnOnce()) {
    let _guard = fd_lock();
    let before = open_fds();
    f();
    let after = open_fds();
    assert!(after <= before, "descriptors leaked: {before} open before, {after} after");
}

/// Deterministic test payload.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Echoes one connection until EOF.
pub async fn echo(stream: TcpStream) -> io::Result<u64> {
    let mut total = 0;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (n, b) = stream.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}

/// Accepts `count` connections and echoes each on its own task.
pub async fn echo_server(listener: TcpListener, count: usize) -> io::Result<()> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        let (stream, _) = listener.accept().await?;
        conns.push(ringpoll::spawn(echo(stream)));
    }
    for c in conns {
        c.await.map_err(io::Error::from)??;
    }
    Ok(())
}

/// Sends `data` and reads it back concurrently, returning what came back.
pub async fn round_trip(stream: TcpStream, data: Vec<u8>) -> io::Result<Vec<u8>> {
    let stream = std::rc::Rc::new(stream);
    let len = data.len();
    let writer = {
        let stream = stream.clone();
        ringpoll::spawn(async move {
            let (res, _) = stream.write_all(data).await;
            res?;
            stream.shutdown(std::net::Shutdown::Write)
        })
    };
    let mut got = Vec::with_capacity(len);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            break;
        }
        got.extend_from_slice(&b);
        buf = b;
    }
    writer.await.map_err(io::Error::from)??;
    Ok(got)
}

/// Joins a task from the test thread, failing (instead of hanging) after `secs`.
pub fn join_within<T: Send + 'static>(handle: ringpoll::JoinHandle<T>, secs: u64) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(handle.join());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(res) => res.expect("task failed"),
        Err(_) => panic!("task did not finish within {secs} s: a wake-up was lost"),
    }
}

/// Echoes `data` through a fresh loopback connection on core 0 of `rt`; returns what came back.
pub fn echo_on_core0(rt: &Runtime, data: &'static [u8]) -> Vec<u8> {
    rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        ringpoll::spawn(echo(server)).detach();
        round_trip(client, data.to_vec()).await
    })
    .join()
    .expect("echo task")
    .expect("echo I/O")
}

/// Polls `f` once, so its operation is submitted (io_uring) or parked (epoll), then drops it.
/// Only for futures that cannot complete on their first poll (nothing to receive yet).
pub async fn start_and_drop<F: std::future::Future>(f: F) {
    assert!(poll_once_then_drop(f).await.is_none(), "the future was expected to wait");
}

/// Polls `f` once and drops it, returning its output if that one poll finished it.
pub async fn poll_once_then_drop<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await;
    match polled {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}
