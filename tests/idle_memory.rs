//! What a parked echo connection keeps on the heap: the echo example's server, N connections
//! that each echoed one byte and now sit in `read_pooled`, and a counting allocator.
//!
//! The budget (issue 11: 512 bytes of RSS per idle connection) is measured as RSS by the
//! peers bench (`--memory-only`); this test pins down what it is made of, so a change that
//! adds an allocation per connection, or grows one past its malloc class, fails here: on
//! epoll the task's one allocation and nothing else; on io_uring that and the multishot
//! recv's state (the receive gate is made only when a plain read retires an armed recv).
//! Its own test binary: the allocator is global.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use ringpoll::net::TcpListener;
use ringpoll::DriverKind;
use support::*;

/// Blocks up to this size are counted; larger ones are the slabs' and pools' amortized
/// growth, which the peers bench's RSS figure covers.
const SMALL: usize = 4096;

struct Counting;

/// Live small blocks, and their bytes as glibc's malloc rounds them (16-byte steps after an
/// 8-byte header, 32 at least): what they really cost.
static BLOCKS: AtomicIsize = AtomicIsize::new(0);
static CHUNK_BYTES: AtomicIsize = AtomicIsize::new(0);

fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

fn count(size: usize, sign: isize) {
    if size <= SMALL {
        BLOCKS.fetch_add(sign, Relaxed);
        CHUNK_BYTES.fetch_add(sign * chunk(size), Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counting touches
// only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        // SAFETY: forwarded; `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new_size, 1);
        // SAFETY: forwarded; `ptr` came from `alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The echo example's task, the example's own code: a 288-byte future.
#[path = "../examples/echo/connection.rs"]
mod connection;
use connection::echo;

/// Opens `n` connections that each round-trip one byte, then stay idle.
fn open_idle(addr: SocketAddr, n: usize, into: &mut Vec<std::net::TcpStream>) {
    for _ in 0..n {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        s.write_all(b"x").expect("write");
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).expect("the echo within 10 s");
        assert_eq!(&byte, b"x");
        into.push(s);
    }
}

/// The small blocks and their bytes, once the count has stopped moving (the server may still
/// be parking the last connection).
fn settled() -> (isize, isize) {
    let mut last = (BLOCKS.load(Relaxed), CHUNK_BYTES.load(Relaxed));
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = (BLOCKS.load(Relaxed), CHUNK_BYTES.load(Relaxed));
        if now == last || Instant::now() > give_up {
            return now;
        }
        last = now;
    }
}

#[test]
fn a_parked_connection_holds_only_its_task_and_its_recv() {
    const N: usize = 300;
    let rt = one_core_runtime();
    let uring = rt.driver() == DriverKind::Uring;
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let _server = rt.run_on_each_core(move |_| {
        let tx = tx.clone();
        async move {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            tx.send(listener.local_addr()?).expect("the test waits");
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                ringpoll::spawn(echo(stream)).detach();
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("the server listens");
    let mut clients = Vec::with_capacity(2 * N);
    // A first batch grows the core's tables; the second is measured.
    open_idle(addr, N, &mut clients);
    let (blocks_before, bytes_before) = settled();
    open_idle(addr, N, &mut clients);
    let (blocks_after, bytes_after) = settled();
    let blocks = (blocks_after - blocks_before) as f64 / N as f64;
    let bytes = (bytes_after - bytes_before) as f64 / N as f64;
    eprintln!("per parked connection: {blocks:.2} blocks, {bytes:.0} bytes ({:?})", rt.driver());
    // epoll: the task (header and the joiner's waker, 40 bytes, then the example's 288-byte
    // future, whose storage the output reuses: a 336-byte chunk). io_uring adds the multishot
    // recv's state (80).
    let (want_blocks, budget) = if uring { (2.0, 416.0) } else { (1.0, 336.0) };
    assert!(blocks <= want_blocks + 0.05, "{blocks:.2} blocks per parked connection, want {want_blocks}");
    assert!(bytes <= budget, "{bytes:.0} bytes per parked connection, budget {budget}");
    drop(clients);
    rt.shutdown();
}
