//! `cargo bench --bench send_file`: which zero-copy path moves a cached file to a TCP socket
//! cheapest on an io_uring core. Candidates, each sending a 1 MiB file `-- --count N` times
//! (default 256) over loopback to a client thread that drains it:
//!
//! - `sendfile(2)` + readiness (what `TcpStream::send_file` does; the epoll core's figure is
//!   the reference);
//! - IORING_OP_SPLICE file -> pipe -> socket, both steps ring ops;
//! - `splice(2)` + readiness through the same pipe.
//!
//! Reported: wall time and the process's CPU time (server core, client thread and any
//! io-wq workers the kernel starts for the ring), the median of 3 rounds.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ringpoll::fs::File;
use ringpoll::net::TcpStream;
use ringpoll::DriverChoice;
use ringpoll_reactor::{Pipe, Source};

const SIZE: u64 = 1 << 20;

#[derive(Clone, Copy, Debug)]
enum Route {
    SendFile,
    SpliceOp,
    SpliceReadiness,
}

fn main() {
    let count = std::env::args().skip_while(|a| a != "--count").nth(1).and_then(|n| n.parse().ok()).unwrap_or(256u64);
    let path = std::env::temp_dir().join(format!("ringpoll-send-file-bench-{}", std::process::id()));
    std::fs::write(&path, vec![b'z'; SIZE as usize]).expect("test file");
    let cases = [
        ("sendfile(2) + readiness, epoll core", DriverChoice::Epoll, Route::SendFile),
        ("sendfile(2) + readiness, io_uring core", DriverChoice::Uring, Route::SendFile),
        ("IORING_OP_SPLICE via pipe, io_uring core", DriverChoice::Uring, Route::SpliceOp),
        ("splice(2) + readiness via pipe, io_uring core", DriverChoice::Uring, Route::SpliceReadiness),
    ];
    let mut results: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); cases.len()];
    for _ in 0..3 {
        for (i, &(_, driver, how)) in cases.iter().enumerate() {
            results[i].push(run(driver, how, &path, count));
        }
    }
    let _ = std::fs::remove_file(&path);
    println!("| {count} x 1 MiB to a loopback socket | wall | GiB/s | CPU s (process) |");
    println!("|---|---:|---:|---:|");
    for ((name, ..), mut r) in cases.iter().zip(results) {
        r.sort_by_key(|(_, cpu)| *cpu);
        let (wall, cpu) = r[1];
        let gib = (count * SIZE) as f64 / (1u64 << 30) as f64 / wall.as_secs_f64();
        println!("| {name} | {:.2} s | {gib:.2} | {:.2} |", wall.as_secs_f64(), cpu.as_secs_f64());
    }
}

/// Wall and process CPU time to send the file `count` times.
fn run(driver: DriverChoice, how: Route, path: &Path, count: u64) -> (Duration, Duration) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let (mut buf, mut total) = (vec![0u8; 256 * 1024], 0u64);
        while total < count * SIZE {
            match conn.read(&mut buf).expect("read") {
                0 => break,
                n => total += n as u64,
            }
        }
        total
    });
    let (cpu0, start) = (process_cpu(), Instant::now());
    let path = PathBuf::from(path);
    ringpoll::try_block_on(driver, async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let file = File::open(&path).await.expect("open");
        let pipe = Pipe::new().expect("pipe");
        pipe.set_capacity(SIZE as usize).expect("pipe size");
        for _ in 0..count {
            match how {
                Route::SendFile => assert_eq!(stream.send_file(&file, 0, SIZE).await.expect("sendfile"), SIZE),
                Route::SpliceOp | Route::SpliceReadiness => splice_file(&file, &pipe, &stream, how).await,
            }
        }
    })
    .expect("block_on");
    assert_eq!(client.join().expect("client"), count * SIZE);
    (start.elapsed(), process_cpu() - cpu0)
}

/// The file -> pipe -> socket path: a fresh descriptor (offset 0) per send, registered as a
/// source so the splice ops can take it.
async fn splice_file(file: &File, pipe: &Pipe, stream: &TcpStream, how: Route) {
    // SAFETY: dup returns a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(libc::dup(file.as_raw_fd())) };
    // SAFETY: lseek takes no pointers.
    unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) };
    let from = Source::new(fd).expect("file source (io_uring cores only)");
    let mut left = SIZE as usize;
    while left > 0 {
        let n = match how {
            Route::SpliceOp => from.splice_op_to(pipe.writer(), left).await,
            _ => from.splice_to(pipe.writer(), left).await,
        }
        .expect("file to pipe");
        let mut out = n;
        while out > 0 {
            out -= match how {
                Route::SpliceOp => pipe.reader().splice_op_to(stream.as_source(), out).await,
                _ => pipe.reader().splice_to(stream.as_source(), out).await,
            }
            .expect("pipe to socket");
        }
        left -= n;
    }
}

/// User plus system CPU time of this process, every thread.
fn process_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: usage is a live rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
