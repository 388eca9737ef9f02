//! Survival under hostile clients: churn, fd exhaustion, slow readers, graceful shutdown.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::Runtime;
use support::*;

/// An echo server on core 0 of `rt`; returns its address and the accept loop's handle.
fn serve_echo(rt: &Runtime) -> (std::net::SocketAddr, ringpoll::JoinHandle<std::io::Result<()>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let server = rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        tx.send(listener.local_addr()?).unwrap();
        loop {
            match listener.accept_backoff().await {
                Ok((stream, _)) => ringpoll::spawn(echo(stream)).detach(),
                Err(e) if ringpoll::shutdown::is_shutting_down(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    (rx.recv().unwrap(), server)
}

/// One client of the churn mix; returns whether it completed a verified exchange.
async fn churn_client(addr: std::net::SocketAddr, i: usize) -> std::io::Result<bool> {
    let stream = TcpStream::connect(addr).await?;
    let data = payload(1 + (i * 7919) % 20_000, i as u8);
    match i % 4 {
        // Clean: full exchange, both directions closed.
        0 | 1 => {
            let got = round_trip(stream, data.clone()).await?;
            assert!(got == data, "client {i}: echoed bytes differ");
            Ok(true)
        }
        // Reset in the middle of a write.
        2 => {
            let (res, _) = stream.write_all(data[..data.len() / 2].to_vec()).await;
            res?;
            set_linger_zero(&stream);
            Ok(false)
        }
        // Abandoned: connected, never a byte.
        _ => Ok(false),
    }
}

#[test]
fn churn_of_short_connections_leaves_no_fd_or_task_behind() {
    let secs: u64 = std::env::var("RINGPOLL_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    assert_no_fd_leak(|| {
        let server_rt = one_core_runtime();
        let (addr, server) = serve_echo(&server_rt);
        let baseline = server_rt.stats()[0];
        let client_cpu = if num_cpus() >= 2 { 1 } else { 0 };
        let clients = Runtime::builder().cores([client_cpu]).driver(driver()).build().unwrap();
        let (verified, total) = clients
            .spawn_on(0, move || async move {
                let end = Instant::now() + Duration::from_secs(secs);
                let (mut verified, mut total) = (0usize, 0usize);
                while Instant::now() < end {
                    let batch: Vec<_> = (total..total + 64).map(|i| ringpoll::spawn(churn_client(addr, i))).collect();
                    for t in batch {
                        verified += t.await.unwrap().expect("client I/O") as usize;
                    }
                    total += 64;
                }
                (verified, total)
            })
            .join()
            .unwrap();
        assert!(verified >= total / 2, "{verified} of {total} exchanges verified");
        drop(clients);
        // Let the server notice every close and reset.
        let settled = Instant::now() + Duration::from_secs(10);
        while server_rt.stats()[0].sources_open > baseline.sources_open && Instant::now() < settled {
            std::thread::sleep(Duration::from_millis(10));
        }
        let end = server_rt.stats()[0];
        assert_eq!(end.sources_open, baseline.sources_open, "every server-side socket closed");
        assert_eq!(end.tasks_live, baseline.tasks_live, "every connection task finished");
        assert_eq!(end.accepted, total as u64);
        eprintln!("churn: {total} connections, {verified} verified exchanges in {secs} s");
        assert_eq!(server_rt.shutdown_gracefully(Duration::from_secs(1)), 0);
        assert!(server.join().unwrap().is_ok());
    });
}

#[test]
fn a_client_that_never_reads_cannot_make_the_server_buffer_without_bound() {
    assert_no_fd_leak(|| {
        let rt = one_core_runtime();
        let (addr, _server) = serve_echo(&rt);
        let rss_before = rss_kib();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        let chunk = vec![1u8; 1 << 20];
        let mut sent = 0usize;
        // Push up to 256 MiB; flow control must stop us long before.
        while sent < 256 << 20 {
            match client.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("client write: {e}"),
            }
        }
        let growth = rss_kib().saturating_sub(rss_before);
        assert!(sent < 64 << 20, "the server kept reading: {sent} bytes accepted");
        assert!(growth < 32 * 1024, "memory grew by {growth} KiB for a client that never reads");
        // Reading now drains exactly what was sent, in order.
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), sent);
        assert!(back.iter().all(|&b| b == 1));
    });
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn graceful_shutdown_stops_accepting_and_lets_open_connections_finish() {
    assert_no_fd_leak(|| {
        let rt = two_core_runtime();
        let (addr, server) = serve_echo(&rt);
        let mut busy = std::net::TcpStream::connect(addr).unwrap();
        busy.write_all(b"before").unwrap();
        let mut got = [0u8; 6];
        busy.read_exact(&mut got).unwrap();
        // The connection keeps working during the grace period, then closes cleanly.
        let finisher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            busy.write_all(b"during").unwrap();
            let mut got = [0u8; 6];
            busy.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"during");
            drop(busy);
        });
        let start = Instant::now();
        let cancelled = rt.shutdown_gracefully(Duration::from_secs(5));
        finisher.join().unwrap();
        assert_eq!(cancelled, 0, "the open connection finished within the grace period");
        assert!(start.elapsed() < Duration::from_secs(4), "shutdown did not wait for the full grace period");
        assert!(server.join().unwrap().is_ok(), "the accept loop ended with the shutdown error");
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "no listener is left");
    });
}

#[test]
fn graceful_shutdown_cancels_what_outlives_the_grace_period() {
    assert_no_fd_leak(cancels_what_outlives_the_grace_period);
}

fn cancels_what_outlives_the_grace_period() {
    let rt = one_core_runtime();
    let (addr, _server) = serve_echo(&rt);
    let _idle = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    assert_eq!(rt.shutdown_gracefully(Duration::from_millis(100)), 1, "the idle connection is cut off");
    assert!(start.elapsed() >= Duration::from_millis(100));
}

const EMFILE_CHILD: &str = "RINGPOLL_TEST_EMFILE_CHILD";
const CHILD_FDS: u64 = 48;

/// Runs an echo server with only a few dozen descriptors, printing its port.
fn emfile_child() {
    let limit = libc::rlimit { rlim_cur: CHILD_FDS, rlim_max: CHILD_FDS };
    // SAFETY: setrlimit reads a live rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    ringpoll::try_block_on(driver(), async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        println!("port {}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        loop {
            let (stream, _) = listener.accept_backoff().await.unwrap();
            ringpoll::spawn(echo(stream)).detach();
        }
    })
    .unwrap();
}

#[test]
fn fd_exhaustion_backs_off_without_spinning_and_recovers() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_child();
    }
    assert_no_fd_leak(exhaust_a_child_server);
}

fn exhaust_a_child_server() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["fd_exhaustion_backs_off_without_spinning_and_recovers", "--exact", "--nocapture"])
        .env(EMFILE_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("port ") {
        line.clear();
        // End of output: the child died before it listened; fail instead of looping forever.
        let read = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(read > 0, "the child server exited before printing its port: {:?}", child.wait());
    }
    let port: u16 = line.trim()["port ".len()..].parse().unwrap();
    // More connections than the child has descriptors: its accepts hit EMFILE.
    let mut conns: Vec<_> =
        (0..CHILD_FDS * 2).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(&format!("/proc/{}/stat", child.id()));
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(&format!("/proc/{}/stat", child.id())) - before;
    // A spinning accept loop would burn ~100 ticks (one CPU second); backing off costs ~none.
    assert!(spent <= 20, "the server burned {spent} ticks of CPU in 1 s while out of fds");
    // Free the descriptors: the server must serve again.
    conns.clear();
    let mut fresh = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    fresh.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    fresh.write_all(b"alive again").unwrap();
    let mut got = [0u8; 11];
    fresh.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"alive again");
    child.kill().unwrap();
    child.wait().unwrap();
}
