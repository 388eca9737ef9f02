//! The load generator: closed-loop clients on pinned threads, each thread one edge-triggered
//! epoll loop over its share of the connections (a runtime here would charge its own overhead
//! to whichever server it happened to suit).

mod conn;
mod pattern;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::procfs;
use crate::sys::{self, Epoll};
use conn::{Conn, Sink};
use pattern::Pattern;

/// One load: where, how much, for how long, from which CPUs.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections in total, split evenly between the generator threads.
    pub conns: usize,
    /// Bytes per request.
    pub payload: usize,
    /// Requests kept in flight per connection.
    pub depth: usize,
    /// Load before the measured window (not counted).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// One generator thread pinned to each CPU listed.
    pub cpus: Vec<usize>,
}

/// What one load measured inside its window.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Requests completed (all bytes echoed and checked).
    pub requests: u64,
    /// The window's length.
    pub window: Duration,
    /// Issue-to-last-byte latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// The server process's CPU time (all threads) spent in the window.
    pub server_cpu: Option<Duration>,
    /// Task CPU time in the window spent by neither the server nor this process: other
    /// programs sharing the machine (irq and softirq time not included).
    pub other_cpu: Option<Duration>,
}

impl LoadResult {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Server CPU microseconds per request.
    pub fn cpu_us_per_req(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    /// Share of the machine (all CPUs) busy with other work during the window, in percent.
    pub fn other_load_pct(&self) -> Option<f64> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Some(self.other_cpu?.as_secs_f64() / self.window.as_secs_f64() / cpus * 100.0)
    }

    /// A latency quantile in microseconds.
    pub fn latency_us(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1e3
    }
}

/// The shared start of the measured window, fixed once every thread has connected.
struct Window {
    start: Instant,
    end: Instant,
}

/// Runs the load; reads `server_pid`'s CPU time at the window's edges when given.
pub fn run(spec: &LoadSpec, server_pid: Option<u32>) -> io::Result<LoadResult> {
    let threads = spec.cpus.len().max(1);
    let connected = Arc::new(Barrier::new(threads + 1));
    let window: Arc<OnceLock<Window>> = Arc::new(OnceLock::new());
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (spec, connected, window) = (spec.clone(), connected.clone(), window.clone());
            std::thread::spawn(move || worker(&spec, t, threads, &connected, &window))
        })
        .collect();
    connected.wait();
    let start = Instant::now() + spec.warmup;
    let _ = window.set(Window { start, end: start + spec.duration });
    connected.wait();
    let cpu = measure_cpu(server_pid, start, start + spec.duration);
    let mut result = LoadResult {
        requests: 0,
        window: spec.duration,
        latency: new_histogram(),
        server_cpu: cpu.map(|c| c.server),
        other_cpu: cpu.map(|c| c.other),
    };
    for w in workers {
        let part = w.join().map_err(|_| io::Error::other("generator thread panicked"))??;
        result.requests += part.requests;
        result.latency.add(&part.latency).map_err(io::Error::other)?;
    }
    Ok(result)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// CPU time of the server, and of everything else, in a window.
#[derive(Debug, Clone, Copy)]
struct CpuSplit {
    server: Duration,
    other: Duration,
}

/// CPU time `pid` and the rest of the machine spend between `start` and `end` (sleeps
/// until then).
fn measure_cpu(pid: Option<u32>, start: Instant, end: Instant) -> Option<CpuSplit> {
    let pid = pid?;
    let me = std::process::id();
    let read = || -> io::Result<[Duration; 3]> {
        Ok([procfs::cpu_time(pid)?, procfs::cpu_time(me)?, procfs::machine_busy()?])
    };
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    let before = read().ok()?;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let after = read().ok()?;
    let [server, own, all] = [0, 1, 2].map(|i| after[i].saturating_sub(before[i]));
    Some(CpuSplit { server, other: all.saturating_sub(server + own) })
}

/// Counts and times completions that land in the window.
struct Tally<'a> {
    window: &'a Window,
    requests: u64,
    latency: Histogram<u64>,
}

impl Sink for Tally<'_> {
    fn completed(&mut self, issued: Instant, now: Instant) {
        if now >= self.window.start && now < self.window.end {
            self.requests += 1;
            self.latency.saturating_record(now.duration_since(issued).as_nanos() as u64);
        }
    }
}

struct Part {
    requests: u64,
    latency: Histogram<u64>,
}

/// One generator thread: connects its share, waits for the others, then loads until the end.
fn worker(
    spec: &LoadSpec,
    index: usize,
    threads: usize,
    connected: &Barrier,
    window: &OnceLock<Window>,
) -> io::Result<Part> {
    let setup = setup(spec, index, threads);
    // Always reach the barriers, even after a failure, so the other threads are not stuck.
    connected.wait();
    connected.wait();
    let (epoll, mut conns) = setup?;
    let window = window.get().expect("window set before the second barrier");
    let pattern = Pattern::new(spec.payload);
    let mut tally = Tally { window, requests: 0, latency: new_histogram() };
    let now = Instant::now();
    for c in &mut conns {
        for _ in 0..spec.depth {
            c.issue(&pattern, now);
        }
        c.flush()?;
    }
    drive(&epoll, &mut conns, &pattern, &mut tally)?;
    Ok(Part { requests: tally.requests, latency: tally.latency })
}

fn setup(spec: &LoadSpec, index: usize, threads: usize) -> io::Result<(Epoll, Vec<Conn>)> {
    if let Some(&cpu) = spec.cpus.get(index) {
        sys::pin_to(cpu)?;
    }
    let epoll = Epoll::new()?;
    let mut conns = Vec::new();
    for id in (index..spec.conns).step_by(threads) {
        let stream = TcpStream::connect(spec.addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        sys::set_linger_zero(stream.as_raw_fd())?;
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        epoll.add(stream.as_raw_fd(), events, conns.len() as u64)?;
        conns.push(Conn::new(stream, id as u64));
    }
    Ok((epoll, conns))
}

/// The event loop: flush on writable, read and check on readable, until the window ends.
fn drive(epoll: &Epoll, conns: &mut [Conn], pattern: &Pattern, tally: &mut Tally) -> io::Result<()> {
    let mut scratch = vec![0u8; 256 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        let now = Instant::now();
        if now >= tally.window.end {
            return Ok(());
        }
        let left_ms = tally.window.end.duration_since(now).as_millis().clamp(1, 100) as i32;
        let n = epoll.wait(&mut events, left_ms)?;
        for ev in &events[..n] {
            let conn = &mut conns[ev.u64 as usize];
            if ev.events & libc::EPOLLOUT as u32 != 0 {
                conn.flush()?;
            }
            if ev.events & !(libc::EPOLLOUT as u32) != 0 {
                conn.on_readable(pattern, &mut scratch, tally)?;
            }
        }
    }
}
