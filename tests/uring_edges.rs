//! Edges of the io_uring driver's features, probed from outside on both drivers: a buffer
//! ring run dry by many connections at once, buffers held for long, multishot accepts
//! dropped mid-burst, MSG_RING wakes into a runtime that goes away, teardown with thousands
//! of operations in flight, and `spin_before_park`'s idle cost. Its own test binary: the pool
//! is shrunk through the environment (read once per core) so that it runs dry. Every test
//! takes the fd lock, so they run one at a time and their fd, thread and CPU counts are
//! their own.

mod support;

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringpoll::net::{PooledBuf, TcpBuilder, TcpListener, TcpStream};
use ringpoll::time::{sleep, timeout};
use ringpoll::{DriverKind, Handle, Runtime};
use support::*;

/// Buffers in each core's ring: far fewer than the connections below hold at once.
const POOL_BUFFERS: &str = "64";

fn small_pool() {
    std::env::set_var("RINGPOLL_POOL_BUFFERS", POOL_BUFFERS);
}

fn uring_only(rt_driver: DriverKind, what: &str) -> bool {
    let on_uring = rt_driver == DriverKind::Uring;
    if !on_uring {
        println!("skipping the io_uring-only part ({what}): the driver is {rt_driver:?}");
    }
    on_uring
}

/// Reads `len` bytes with pooled reads, holding every buffer until the end; every
/// `drop_every`-th read is started, left pending 1 ms and dropped first.
async fn read_held(stream: &TcpStream, len: usize, drop_every: Option<usize>) -> Vec<PooledBuf> {
    let mut held = Vec::new();
    let (mut got, mut reads) = (0, 0usize);
    while got < len {
        reads += 1;
        let buf = if drop_every.is_some_and(|n| reads % n == 0) {
            // A read dropped while the pool may be dry must lose nothing; one that beat the
            // timeout is kept.
            match timeout(Duration::from_millis(1), stream.read_pooled()).await {
                Ok(res) => res.expect("pooled read"),
                Err(_) => continue,
            }
        } else {
            stream.read_pooled().await.expect("pooled read")
        };
        assert!(!buf.is_empty(), "early end of stream after {got} bytes");
        got += buf.len();
        held.push(buf);
    }
    held
}

fn joined(bufs: &[PooledBuf]) -> Vec<u8> {
    bufs.iter().flat_map(|b| b.iter().copied()).collect()
}

/// A tag of connection `c` then its pattern: a byte landing on the wrong connection shows.
fn conn_payload(c: usize, len: usize) -> Vec<u8> {
    let mut data = payload(len, c as u8);
    data[..4].copy_from_slice(&(c as u32).to_le_bytes());
    data
}

extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn eight_hundred_connections_running_the_pool_dry_at_once_lose_nothing() {
    const CONNS: usize = 800;
    const PER_CONN: usize = 40 * 1024;
    small_pool();
    assert_no_fd_leak(|| {
        let rt = one_core_runtime();
        let rss_before = vm_rss_kib();
        let done = rt.spawn_on(0, || async {
            let listener = TcpBuilder::new().backlog(4096).listen("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (mut clients, mut readers) = (Vec::new(), Vec::new());
            for c in 0..CONNS {
                clients.push(TcpStream::connect(addr).await.unwrap());
                let (server, _) = bounded(listener.accept()).await.unwrap();
                // Every third connection drops some of its reads half way.
                let drop_every = (c % 3 == 0).then_some(3);
                readers.push(ringpoll::spawn(async move { read_held(&server, PER_CONN, drop_every).await }));
            }
            // Every read is pending before any byte is sent: the bytes then land at once,
            // 2.5 buffers per connection against a ring of 64.
            sleep(Duration::from_millis(50)).await;
            let writers: Vec<_> = clients
                .into_iter()
                .enumerate()
                .map(|(c, client)| {
                    ringpoll::spawn(async move {
                        client.write_all(conn_payload(c, PER_CONN)).await.0.unwrap();
                        client
                    })
                })
                .collect();
            let check = async {
                let mut held = Vec::new();
                for (c, reader) in readers.into_iter().enumerate() {
                    let bufs = reader.await.unwrap();
                    assert!(joined(&bufs) == conn_payload(c, PER_CONN), "connection {c}: bytes differ");
                    held.push(bufs);
                }
                let mut clients = Vec::new();
                for w in writers {
                    clients.push(w.await.unwrap());
                }
                (held, clients)
            };
            let (held, clients) = timeout(Duration::from_secs(30), check).await.expect("no connection stalls");
            assert_eq!(held.len(), CONNS);
            drop((held, clients));
        });
        join_within(done, 60);
        if uring_only(rt.driver(), "pool growth bound and idle trim") {
            let stats = rt.stats()[0];
            assert!(stats.pool_buffers <= 64, "the ring grew past its capacity: {}", stats.pool_buffers);
            // Held buffers came back, the core went idle: the ring's pages go back too.
            let give_up = Instant::now() + Duration::from_secs(3);
            while rt.stats()[0].pool_trimmed_bytes == 0 && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(rt.stats()[0].pool_trimmed_bytes > 0, "an idle core kept its ring's pages: {:?}", rt.stats()[0]);
        }
        // 32 MB went through; what stays is the heap pool's bounded free list and the ring.
        // Free heap pages glibc keeps for reuse are not the runtime's: hand them back first.
        // SAFETY: malloc_trim only walks glibc's own free lists.
        unsafe { malloc_trim(0) };
        let grown = vm_rss_kib().saturating_sub(rss_before);
        assert!(grown < 24 * 1024, "RSS grew by {grown} KiB after every buffer was dropped");
        drop(rt);
    });
}

#[test]
fn buffers_held_for_long_do_not_stop_other_connections() {
    const HELD: usize = 2 << 20; // 128 pool buffers' worth, twice the ring
    small_pool();
    assert_no_fd_leak(|| {
        run(async {
            let (hog_client, hog) = pair().await;
            let hog_writer = ringpoll::spawn(async move {
                hog_client.write_all(payload(HELD, 1)).await.0.unwrap();
                hog_client
            });
            let held = bounded(read_held(&hog, HELD, None)).await;
            // Every ring buffer (and more) is lent and stays lent: others must fall back.
            for round in 0..20u8 {
                let (client, server) = pair().await;
                let data = payload(64 * 1024, round);
                let sent = data.clone();
                let w = ringpoll::spawn(async move {
                    client.write_all(sent).await.0.unwrap();
                    client
                });
                let got = bounded(read_held(&server, data.len(), Some(4))).await;
                assert!(joined(&got) == data, "round {round}: bytes differ");
                drop(w.await.unwrap());
            }
            assert!(joined(&held) == payload(HELD, 1), "the held bytes changed under the reader");
            drop(hog_writer.await.unwrap());
        });
    });
}

#[test]
fn connections_dropped_with_queued_buffers_give_them_back() {
    small_pool();
    assert_no_fd_leak(|| {
        let rt = one_core_runtime();
        let last_read = rt.spawn_on(0, || async {
            for round in 0..24u8 {
                let (client, server) = pair().await;
                // One read arms the multishot recv; then 256 KiB arrive and nobody reads them:
                // up to 16 ring buffers queue in the connection, a quarter of the ring.
                client.write_all(vec![round; 1]).await.0.unwrap();
                assert_eq!(&bounded(server.read_pooled()).await.unwrap()[..], [round]);
                let writer = ringpoll::spawn(async move {
                    let _ = client.write_all(payload(256 * 1024, round)).await;
                    client
                });
                sleep(Duration::from_millis(5)).await;
                drop(server);
                drop(bounded(writer).await.unwrap());
            }
            // Had the dropped connections kept their queued buffers, the 64-buffer ring would
            // be empty by now and this read would fall back to a heap buffer.
            let (client, server) = pair().await;
            client.write_all(vec![7u8; 100]).await.0.unwrap();
            let buf = bounded(server.read_pooled()).await.unwrap();
            assert_eq!(&buf[..], [7u8; 100]);
            format!("{buf:?}")
        });
        let from = join_within(last_read, 30);
        if uring_only(rt.driver(), "where the buffer came from") {
            assert!(from.contains("\"ring\""), "a fresh read fell back to the heap: {from}");
        }
        drop(rt);
    });
}

/// `PooledBuf` belongs to its core: it must not be `Send` (nor `Sync`). Deref-based
/// specialisation: the inherent-looking method on `Probe<T>` wins only where `T: Send`.
#[test]
fn a_pooled_buffer_cannot_leave_its_core() {
    struct Probe<T>(std::marker::PhantomData<T>);
    trait NotSend {
        fn is_send(&self) -> bool {
            false
        }
    }
    impl<T> NotSend for Probe<T> {}
    impl<T: Send> Probe<T> {
        fn is_send(&self) -> bool {
            true
        }
    }
    assert!(Probe::<Vec<u8>>(std::marker::PhantomData).is_send(), "the probe itself works");
    assert!(!Probe::<PooledBuf>(std::marker::PhantomData).is_send(), "PooledBuf is Send");
}

#[test]
fn a_connect_burst_against_dropped_accepts_loses_no_connection() {
    const CONNS: u32 = 3000;
    assert_no_fd_leak(|| {
        run(async {
            let listener = Rc::new(TcpBuilder::new().backlog(4096).listen("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            // Plain blocking clients on a thread: each sends its number and waits for it back.
            let clients = std::thread::spawn(move || {
                let mut streams = Vec::new();
                for id in 0..CONNS {
                    let mut s = std::net::TcpStream::connect(addr).expect("connect");
                    s.write_all(&id.to_le_bytes()).unwrap();
                    streams.push(s);
                }
                for (id, s) in streams.iter_mut().enumerate() {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let mut back = [0u8; 4];
                    s.read_exact(&mut back).unwrap_or_else(|e| panic!("connection {id} got no reply: {e}"));
                    assert_eq!(u32::from_le_bytes(back), id as u32);
                }
            });
            let seen = Rc::new(std::cell::RefCell::new(HashSet::new()));
            let mut servers = Vec::new();
            let (dropped, started) = (Cell::new(0u32), Instant::now());
            while servers.len() < CONNS as usize {
                assert!(started.elapsed() < Duration::from_secs(30), "accepted {} of {CONNS}", servers.len());
                // Every other accept is polled once and dropped, whatever it had taken.
                if servers.len() % 2 == 0 {
                    let mut accept = Box::pin(listener.accept());
                    if let Some(res) = poll_once_then_drop(accept.as_mut()).await {
                        servers.push(serve_id(res.expect("accept").0, seen.clone()));
                    } else {
                        dropped.set(dropped.get() + 1);
                    }
                    drop(accept);
                    // On io_uring the accept's connections arrive in the reactor's turn: a
                    // task that never yields would never see one.
                    ringpoll::yield_now().await;
                    continue;
                }
                let (stream, _) = bounded(listener.accept()).await.expect("accept");
                servers.push(serve_id(stream, seen.clone()));
            }
            for s in servers {
                bounded(s).await.unwrap();
            }
            assert_eq!(seen.borrow().len(), CONNS as usize, "every connection accepted exactly once");
            assert!(dropped.get() > 0, "no accept was dropped while pending: the probe did nothing");
            within(30, move || clients.join().expect("clients"));
        });
    });
}

/// Reads the client's number, checks it was not seen before, and echoes it.
fn serve_id(stream: TcpStream, seen: Rc<std::cell::RefCell<HashSet<u32>>>) -> ringpoll::JoinHandle<()> {
    ringpoll::spawn(async move {
        let mut id = Vec::new();
        while id.len() < 4 {
            let buf = bounded(stream.read_pooled()).await.expect("read id");
            assert!(!buf.is_empty(), "end of stream before the id");
            id.extend_from_slice(&buf);
        }
        let id = u32::from_le_bytes(id[..4].try_into().unwrap());
        assert!(seen.borrow_mut().insert(id), "connection {id} accepted twice");
        stream.write_all(id.to_le_bytes().to_vec()).await.0.unwrap();
    })
}

#[test]
fn a_listener_dropped_with_queued_connections_closes_each_of_them() {
    const CONNS: usize = 100;
    assert_no_fd_leak(|| {
        let addr_and_clients = run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut clients = Vec::new();
            for _ in 0..CONNS {
                clients.push(std::net::TcpStream::connect(addr).unwrap());
            }
            // One accept arms the multishot, which queues the rest in the listener.
            let (first, _) = bounded(listener.accept()).await.unwrap();
            sleep(Duration::from_millis(50)).await;
            drop(listener);
            drop(first);
            clients
        });
        for (c, mut client) in addr_and_clients.into_iter().enumerate() {
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut byte = [0u8; 1];
            match client.read(&mut byte) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("client {c}: {other:?}, not end of stream or a reset"),
            }
        }
    });
}

fn two_cores(spin: Duration) -> Runtime {
    let cpus: Vec<usize> = if num_cpus() >= 2 { vec![0, 1] } else { vec![0, 0] };
    Runtime::builder().cores(cpus).driver(driver()).spin_before_park(spin).build().expect("runtime")
}

fn sum(rt: &Runtime, core: usize, f: fn(&ringpoll::StatsSnapshot) -> u64) -> u64 {
    f(&rt.stats()[core])
}

#[test]
fn wakes_between_cores_and_from_outside_are_counted_where_they_went() {
    const HOPS: u64 = 2000;
    assert_no_fd_leak(|| {
        let rt = two_cores(Duration::ZERO);
        let (ring0, fd0) = (sum(&rt, 1, |s| s.ring_wakes), sum(&rt, 1, |s| s.eventfd_writes));
        let hops = rt.spawn_on(0, || async {
            let handle = Handle::current();
            for i in 0..HOPS {
                // Each awaited: core 1 is parked when the next one comes.
                assert_eq!(bounded(handle.spawn_on(1, move || async move { i })).await.unwrap(), i);
            }
        });
        join_within(hops, 60);
        let (ring1, fd1) = (sum(&rt, 1, |s| s.ring_wakes), sum(&rt, 1, |s| s.eventfd_writes));
        if rt.driver() == DriverKind::Uring {
            assert!(ring1 - ring0 > 0, "no MSG_RING wake between two io_uring cores");
            assert!(fd1 - fd0 < HOPS / 20, "{} eventfd writes between io_uring cores", fd1 - fd0);
        } else {
            assert_eq!(ring1, 0, "ring wakes on epoll");
            assert!(fd1 - fd0 > 0, "no eventfd write woke a parked epoll core");
        }
        // From a foreign thread: always the eventfd.
        for i in 0..HOPS / 4 {
            std::thread::sleep(Duration::from_micros(50));
            assert_eq!(join_within(rt.spawn_on(1, move || async move { i }), 10), i);
        }
        assert_eq!(sum(&rt, 1, |s| s.ring_wakes), ring1, "a foreign thread posted a ring wake");
        assert!(sum(&rt, 1, |s| s.eventfd_writes) > fd1, "no eventfd write from a foreign thread");
    });
}

#[test]
fn wakes_into_a_runtime_that_shuts_down_are_neither_lost_nor_fatal() {
    assert_no_fd_leak(|| {
        for round in 0..5 {
            let sender = Runtime::builder().cores([0]).driver(driver()).build().unwrap();
            let target = Runtime::builder().cores([num_cpus() - 1]).driver(driver()).build().unwrap();
            let (delivered, target_handle) = (Arc::new(AtomicU64::new(0)), target.handle().clone());
            let d = delivered.clone();
            // The sender's core wakes the other runtime's core (MSG_RING between two io_uring
            // rings) as fast as it can, while that runtime is dropped under it.
            let flood = sender.spawn_on(0, move || async move {
                let mut cancelled = 0u64;
                for i in 0..20_000u64 {
                    let d = d.clone();
                    let hop = target_handle.spawn_on(0, move || async move { d.fetch_add(1, SeqCst) });
                    match bounded(hop).await {
                        Ok(_) => {}
                        Err(_) => cancelled += 1,
                    }
                    if cancelled > 0 && i % 64 == 0 {
                        break;
                    }
                }
                cancelled
            });
            std::thread::sleep(Duration::from_millis(20 + 10 * round));
            within(10, move || drop(target));
            let cancelled = join_within(flood, 20);
            assert!(cancelled > 0 || delivered.load(SeqCst) == 20_000, "round {round}: hops vanished");
            // The sender's core still serves.
            assert_eq!(join_within(sender.spawn_on(0, || async { 7 }), 10), 7);
            within(10, move || drop(sender));
        }
    });
}

#[test]
fn wakes_between_runtimes_of_different_drivers_all_arrive() {
    const HOPS: u64 = 1000;
    assert_no_fd_leak(|| {
        let here = Runtime::builder().cores([0]).driver(driver()).build().unwrap();
        let other_choice = match here.driver() {
            DriverKind::Uring => ringpoll::DriverChoice::Epoll,
            DriverKind::Epoll => ringpoll::DriverChoice::Uring,
        };
        let Ok(there) = Runtime::builder().cores([num_cpus() - 1]).driver(other_choice).build() else {
            println!("skipping: io_uring is not available here, so no runtime of the other driver");
            return;
        };
        let (ring_before, fd_before) = (sum(&there, 0, |s| s.ring_wakes), sum(&there, 0, |s| s.eventfd_writes));
        let there_handle = there.handle().clone();
        // A core of one driver wakes a parked core of the other: io_uring cannot post a
        // MSG_RING into an epoll core, nor an epoll core into a ring; both take the eventfd.
        let hops = here.spawn_on(0, move || async move {
            for i in 0..HOPS {
                assert_eq!(bounded(there_handle.spawn_on(0, move || async move { i * 2 })).await.unwrap(), i * 2);
            }
        });
        join_within(hops, 30);
        assert_eq!(sum(&there, 0, |s| s.ring_wakes), ring_before, "a ring wake crossed drivers");
        assert!(sum(&there, 0, |s| s.eventfd_writes) > fd_before, "no eventfd write woke the other runtime");
        within(10, move || drop(there));
        within(10, move || drop(here));
    });
}

fn ringpoll_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("ringpoll"))
        .count()
}

#[test]
fn dropping_a_runtime_with_thousands_of_operations_in_flight_leaks_nothing() {
    const CONNS: usize = 240;
    const BLOCK: &[u8] = &[0x5a; 64 * 1024];
    small_pool();
    assert_no_fd_leak(|| {
        let threads_before = ringpoll_threads();
        let fds_before = open_fds();
        for round in 0..12 {
            let rt = two_cores(Duration::ZERO);
            let ready = rt.run_on_each_core(|_| async move {
                let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
                let addr = listener.local_addr().unwrap();
                // A pending accept (the multishot stays armed), and CONNS connections each
                // with a pooled read on one end and a stream of sends on the other.
                let mut clients = Vec::new();
                for _ in 0..CONNS / 2 {
                    let client = TcpStream::connect(addr).await.unwrap();
                    let (server, _) = bounded(listener.accept()).await.unwrap();
                    ringpoll::spawn(async move { while server.read_pooled().await.is_ok_and(|b| !b.is_empty()) {} })
                        .detach();
                    clients.push(client);
                }
                // The sends start once every connection is in, so setup is not starved.
                for client in clients {
                    ringpoll::spawn(async move { while client.write_all(BLOCK).await.0.is_ok() {} }).detach();
                }
                let l = listener.clone();
                ringpoll::spawn(async move { while l.accept().await.is_ok() {} }).detach();
                // More connects queue in the listener's multishot accept.
                for _ in 0..50 {
                    ringpoll::spawn(TcpStream::connect(addr)).detach();
                }
            });
            for r in ready {
                join_within(r, 20);
            }
            std::thread::sleep(Duration::from_millis(5 * (round % 4)));
            within(10, move || drop(rt));
        }
        let give_up = Instant::now() + Duration::from_secs(5);
        while ringpoll_threads() > threads_before && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(ringpoll_threads(), threads_before, "runtime threads outlived their runtimes");
        assert!(open_fds_settled(fds_before) <= fds_before, "descriptors leaked");
    });
}

/// The calling thread's id, from procfs (`/proc/thread-self` links to `PID/task/TID`).
fn own_tid() -> String {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_string_lossy().into_owned()
}

fn thread_ticks(tid: &str) -> u64 {
    cpu_ticks(&format!("/proc/self/task/{tid}/stat"))
}

#[test]
fn spinning_cores_are_correct_and_idle_ones_cost_little() {
    assert_no_fd_leak(|| {
        for spin in [Duration::from_nanos(1), Duration::from_micros(50), Duration::from_secs(3)] {
            let rt = two_cores(spin);
            // Correctness: an echo across the cores, every byte back in order.
            let data: &'static [u8] = Box::leak(payload(256 * 1024, 9).into_boxed_slice());
            assert!(echo_on_core0(&rt, data) == data, "spin {spin:?}: echo differs");
            let hops = rt.spawn_on(0, || async {
                let handle = Handle::current();
                for i in 0..500u64 {
                    assert_eq!(bounded(handle.spawn_on(1, move || async move { i })).await.unwrap(), i);
                }
            });
            join_within(hops, 30);
            if spin <= Duration::from_micros(50) {
                // Idle for a second after the work: a bounded spin burns almost nothing.
                let tids: Vec<String> =
                    (0..2).map(|c| join_within(rt.spawn_on(c, || async { own_tid() }), 10)).collect();
                let before: u64 = tids.iter().map(|t| thread_ticks(t)).sum();
                std::thread::sleep(Duration::from_secs(1));
                let used = tids.iter().map(|t| thread_ticks(t)).sum::<u64>() - before;
                // Clock ticks are 10 ms: 10 ticks would be a tenth of a second of CPU.
                assert!(used < 10, "spin {spin:?}: idle cores used {used} ticks in one second");
            }
            // Even a core spinning for seconds stops at once when its runtime is dropped.
            let started = Instant::now();
            within(10, move || drop(rt));
            assert!(started.elapsed() < Duration::from_secs(1), "spin {spin:?}: drop took {:?}", started.elapsed());
        }
    });
}
