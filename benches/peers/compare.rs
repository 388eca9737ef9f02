//! The comparison: every scenario, rounds interleaved across servers (A B C A B C), so a
//! burst of noise from the shared machine hits every server instead of one.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::args::CompareOpts;
use crate::loadgen::{self, LoadSpec};
use crate::servers::{ServeOpts, ServerKind, ServerProcess, ECHO_BUF};

/// A load shape and the CPUs of server and generator.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short label for tables and the plot.
    pub name: String,
    /// Connections.
    pub conns: usize,
    /// Bytes per request.
    pub payload: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Server threads, one per CPU.
    pub server_cpus: Vec<usize>,
    /// Generator threads, one per CPU.
    pub gen_cpus: Vec<usize>,
}

impl Scenario {
    fn new(conns: usize, payload: usize, depth: usize, server_cpus: &[usize], gen_cpus: &[usize]) -> Scenario {
        let size = if payload >= 1024 { format!("{}KiB", payload / 1024) } else { format!("{payload}B") };
        let cores = if server_cpus.len() > 1 { format!(" {}core", server_cpus.len()) } else { String::new() };
        Scenario {
            name: format!("{conns}x{size} d{depth}{cores}"),
            conns,
            payload,
            depth,
            server_cpus: server_cpus.to_vec(),
            gen_cpus: gen_cpus.to_vec(),
        }
    }

    /// The scenarios: server on CPU 0, generator on CPU 1; then two server cores (on a
    /// 2-CPU machine the generator has to share them, so that row measures scaling, not peak),
    /// then issue 11's shapes.
    pub fn all() -> Vec<Scenario> {
        let mut all = Vec::new();
        for (conns, payload) in [(64, 1024), (512, 128), (16, 16 * 1024)] {
            for depth in [1, 16] {
                all.push(Scenario::new(conns, payload, depth, &[0], &[1]));
            }
        }
        all.push(Scenario::new(64, 1024, 16, &[0, 1], &[0, 1]));
        // Issue 11's shapes: small pipelined requests, many small connections, many 1 KiB ones.
        all.push(Scenario::new(64, 128, 16, &[0], &[1]));
        all.push(Scenario::new(512, 64, 1, &[0], &[1]));
        all.push(Scenario::new(2000, 1024, 1, &[0], &[1]));
        all
    }
}

/// One server's figures in one round of one scenario.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Requests per second.
    pub rps: f64,
    /// Server CPU microseconds per request.
    pub cpu_us: f64,
    /// Latency quantiles in microseconds: p50, p99, p99.9.
    pub lat_us: [f64; 3],
    /// Percent of the machine busy with neither server nor generator (noise indicator).
    pub other_pct: f64,
}

/// All rounds of one server in one scenario.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario's index in the list run.
    pub scenario: usize,
    /// The server.
    pub server: ServerKind,
    /// One sample per successful round.
    pub samples: Vec<Sample>,
    /// Why rounds failed, if any did.
    pub errors: Vec<String>,
}

/// Runs every scenario and round; failures are recorded, not fatal.
pub fn run(opts: &CompareOpts, scenarios: &[Scenario]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (si, sc) in scenarios.iter().enumerate() {
        let first = cells.len();
        for &server in &opts.servers {
            cells.push(Cell { scenario: si, server, samples: Vec::new(), errors: Vec::new() });
        }
        for round in 0..opts.rounds {
            for (i, &server) in opts.servers.iter().enumerate() {
                let cell = &mut cells[first + i];
                match run_once(server, sc, opts) {
                    Ok(s) => cell.samples.push(s),
                    Err(e) => cell.errors.push(e.to_string()),
                }
                eprintln!("{:<22} round {} {:<15} {}", sc.name, round + 1, server.name(), progress(cell));
            }
        }
    }
    cells
}

fn progress(cell: &Cell) -> String {
    match (cell.samples.last(), cell.errors.last()) {
        (Some(s), None) => format!(
            "{:>10.0} req/s {:>6.2} us/req p99 {:>8.1} us, other load {:>4.1}%",
            s.rps, s.cpu_us, s.lat_us[1], s.other_pct
        ),
        (_, Some(e)) => format!("FAILED: {e}"),
        _ => String::new(),
    }
}

/// One server child, one load, one sample.
fn run_once(server: ServerKind, sc: &Scenario, opts: &CompareOpts) -> io::Result<Sample> {
    let addr = free_port()?;
    let proc = ServerProcess::launch(server, &ServeOpts { addr, cpus: sc.server_cpus.clone(), buf: ECHO_BUF })?;
    let spec = LoadSpec {
        addr,
        conns: sc.conns,
        payload: sc.payload,
        depth: sc.depth,
        warmup: opts.warmup,
        duration: opts.duration,
        cpus: sc.gen_cpus.clone(),
    };
    let r = loadgen::run(&spec, Some(proc.pid()));
    drop(proc);
    std::thread::sleep(SETTLE);
    let r = r?;
    let cpu_us = r.cpu_us_per_req().ok_or_else(|| io::Error::other("no requests completed"))?;
    Ok(Sample {
        rps: r.rps(),
        cpu_us,
        lat_us: [r.latency_us(0.5), r.latency_us(0.99), r.latency_us(0.999)],
        other_pct: r.other_load_pct().unwrap_or(f64::NAN),
    })
}

/// A loopback port nobody listens on now; each run takes a fresh one so no server inherits
/// another's half-closed connections.
pub fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Pause between a server's exit and the next start, so its teardown does not overlap the
/// next server's run.
const SETTLE: Duration = Duration::from_millis(50);
