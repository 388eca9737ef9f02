//! Command-line flags of the `peers` bench (after `cargo bench -p ringpoll-benches --bench peers --`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::servers::ServerKind;

/// What this process was asked to be.
pub enum Mode {
    /// A server child (`--serve KIND`), started by the comparison.
    Serve(ServerKind, crate::servers::ServeOpts),
    /// A standalone load against a running server (`--load ADDR`).
    Load(crate::loadgen::LoadSpec, Option<u32>),
    /// The whole comparison (the default).
    Compare(CompareOpts),
}

/// Settings of the comparison.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    /// Rounds per scenario (each round runs every server once, interleaved).
    pub rounds: usize,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
    /// The servers compared.
    pub servers: Vec<ServerKind>,
    /// Only scenarios whose name contains one of these (all when empty).
    pub scenarios: Vec<String>,
    /// Idle connections for the memory figure (0 skips it).
    pub idle_conns: usize,
    /// Only the idle-memory figure: no throughput scenario runs.
    pub memory_only: bool,
    /// Base name of the files written to benches/results/ (`NAME.md`, `.csv`, `.svg`).
    pub name: String,
}

/// The flags' help text.
pub const USAGE: &str = "\
usage: cargo bench -p ringpoll-benches --bench peers -- [--quick] [--rounds N] [--warmup SECS] [--duration SECS]
         [--servers a,b] [--scenarios substr,...] [--idle-conns N] [--memory-only] [--name peers]
       cargo bench -p ringpoll-benches --bench peers -- --load HOST:PORT [--pid PID] [--conns N] [--payload BYTES]
         [--depth N] [--warmup SECS] [--duration SECS] [--gen-cpus 1]
servers: ringpoll-epoll ringpoll-uring tokio monoio-epoll monoio-uring bare-epoll bare-uring (the default set),
  bare-uring-fixed (bare-uring on direct descriptors),
  ringpoll-epoll-vec ringpoll-uring-vec (reading into a buffer per connection, not pooled),
  baseline-epoll baseline-uring (ringpoll as served by RINGPOLL_BENCH_BASELINE=PATH, another build's peers bench)
--memory-only runs the idle-memory test alone, on those of its servers --servers lists.
RINGPOLL_BENCH_QUICK=1 is the same as --quick.";

fn usage(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{msg}\n{USAGE}"))
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> io::Result<T> {
    v.parse().map_err(|_| usage(&format!("{flag}: cannot parse {v:?}")))
}

fn secs(flag: &str, v: &str) -> io::Result<Duration> {
    Ok(Duration::from_secs_f64(num::<f64>(flag, v)?))
}

fn list<T>(v: &str, parse: impl Fn(&str) -> io::Result<T>) -> io::Result<Vec<T>> {
    v.split(',').filter(|s| !s.is_empty()).map(|s| parse(s.trim())).collect()
}

/// Everything given, as flag/value pairs; `--quick`, `--memory-only` and cargo's `--bench`
/// take no value (`--memory-only` comes back as a pair with an empty value).
fn pairs() -> io::Result<(bool, Vec<(String, String)>)> {
    let mut quick = std::env::var("RINGPOLL_BENCH_QUICK").is_ok_and(|v| v != "0");
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bench" => {}
            "--quick" => quick = true,
            "--memory-only" => out.push((flag, String::new())),
            "-h" | "--help" => return Err(usage("")),
            _ => {
                let value = it.next().ok_or_else(|| usage(&format!("{flag} needs a value")))?;
                out.push((flag, value));
            }
        }
    }
    Ok((quick, out))
}

/// Parses the command line.
pub fn parse() -> io::Result<Mode> {
    let (quick, pairs) = pairs()?;
    if let Some((_, kind)) = pairs.iter().find(|(f, _)| f == "--serve") {
        return serve_mode(ServerKind::parse(kind)?, &pairs);
    }
    if let Some((_, addr)) = pairs.iter().find(|(f, _)| f == "--load") {
        return load_mode(num("--load", addr)?, &pairs);
    }
    compare_mode(quick, &pairs)
}

fn serve_mode(kind: ServerKind, pairs: &[(String, String)]) -> io::Result<Mode> {
    let mut opts = crate::servers::ServeOpts {
        addr: "127.0.0.1:7000".parse().expect("literal address"),
        cpus: vec![0],
        buf: crate::servers::ECHO_BUF,
    };
    for (flag, v) in pairs {
        match flag.as_str() {
            "--serve" => {}
            "--addr" => opts.addr = num(flag, v)?,
            "--cpus" => opts.cpus = list(v, |s| num(flag, s))?,
            "--buf" => opts.buf = num(flag, v)?,
            _ => return Err(usage(&format!("unknown flag {flag} for --serve"))),
        }
    }
    Ok(Mode::Serve(kind, opts))
}

fn load_mode(addr: SocketAddr, pairs: &[(String, String)]) -> io::Result<Mode> {
    let mut spec = crate::loadgen::LoadSpec {
        addr,
        conns: 64,
        payload: 1024,
        depth: 1,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        cpus: vec![1],
    };
    let mut pid = None;
    for (flag, v) in pairs {
        match flag.as_str() {
            "--load" => {}
            "--pid" => pid = Some(num(flag, v)?),
            "--conns" => spec.conns = num(flag, v)?,
            "--payload" => spec.payload = num(flag, v)?,
            "--depth" => spec.depth = num(flag, v)?,
            "--warmup" => spec.warmup = secs(flag, v)?,
            "--duration" => spec.duration = secs(flag, v)?,
            "--gen-cpus" => spec.cpus = list(v, |s| num(flag, s))?,
            _ => return Err(usage(&format!("unknown flag {flag} for --load"))),
        }
    }
    Ok(Mode::Load(spec, pid))
}

fn compare_mode(quick: bool, pairs: &[(String, String)]) -> io::Result<Mode> {
    // Full: 10 scenarios x 7 servers x 5 rounds x ~2.45 s ~ 14 min, plus ~25 s of memory.
    // Quick: 3 rounds of 0.35 s, 2,000 idle connections, ~1 min. More short rounds rather than
    // fewer long ones: on a shared machine a median over more rounds resists bursts better.
    let mut opts = CompareOpts {
        rounds: if quick { 3 } else { 5 },
        warmup: Duration::from_millis(if quick { 100 } else { 500 }),
        duration: Duration::from_millis(if quick { 250 } else { 1800 }),
        servers: ServerKind::ALL.to_vec(),
        scenarios: Vec::new(),
        idle_conns: if quick { 2000 } else { 8000 },
        memory_only: false,
        name: "peers".into(),
    };
    for (flag, v) in pairs {
        match flag.as_str() {
            "--rounds" => opts.rounds = num::<usize>(flag, v)?.max(1),
            "--warmup" => opts.warmup = secs(flag, v)?,
            "--duration" => opts.duration = secs(flag, v)?,
            "--servers" => opts.servers = list(v, ServerKind::parse)?,
            "--scenarios" => opts.scenarios = list(v, |s| Ok(s.to_string()))?,
            "--idle-conns" => opts.idle_conns = num(flag, v)?,
            "--name" => opts.name = v.clone(),
            "--memory-only" => opts.memory_only = true,
            _ => return Err(usage(&format!("unknown flag {flag}"))),
        }
    }
    Ok(Mode::Compare(opts))
}
