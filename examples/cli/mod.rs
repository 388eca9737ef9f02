//! The examples' command line: `--flag VALUE` (or `--flag=VALUE`), `--help`, and failures a
//! person can read.
//!
//! An example includes it with `#[path = "cli/mod.rs"] mod cli;`, reads its flags in a
//! function given to [`parse`], and ends `main` with [`exit`]:
//! - `-h`/`--help` prints the usage on stdout and exits 0;
//! - a bad flag or value prints one line on stderr (`echo: --addr: ...`) and exits 2;
//! - an error from the program itself is printed in its `Display` form and exits 1.
#![allow(dead_code)] // each example uses the part it needs

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ringpoll::net::TcpListener;
use ringpoll::signal::ShutdownSignals;
use ringpoll::{Builder, DriverChoice, JoinHandle, Runtime};

/// CPU numbers Linux can have (NR_CPUS is at most 8192).
const MAX_CPUS: usize = 8192;

/// Why parsing stopped before the program could start.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// `--help` was asked for.
    Help,
    /// A bad flag or value, with a one-line reason.
    Bad(String),
}

impl Stop {
    /// The process exit code: 0 for help, 2 for a usage error (as getopt-style tools do).
    pub fn code(&self) -> u8 {
        match self {
            Stop::Help => 0,
            Stop::Bad(_) => 2,
        }
    }
}

/// The flags still to read, and the flag whose value is being read (for error messages).
pub struct Flags {
    args: std::vec::IntoIter<String>,
    flag: String,
    inline_value: Option<String>,
}

impl Flags {
    /// Flags from `args` (without the program name).
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Flags { args: args.into_iter().collect::<Vec<_>>().into_iter(), flag: String::new(), inline_value: None }
    }

    /// The next flag, or `None` at the end; `--help` stops parsing.
    pub fn next_flag(&mut self) -> Result<Option<String>, Stop> {
        if let Some(value) = self.inline_value.take() {
            return Err(self.bad(format!("takes no value (got {value:?})")));
        }
        let Some(arg) = self.args.next() else { return Ok(None) };
        if arg == "-h" || arg == "--help" {
            return Err(Stop::Help);
        }
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                self.flag = flag.to_owned();
                self.inline_value = Some(value.to_owned());
            }
            _ => self.flag = arg,
        }
        Ok(Some(self.flag.clone()))
    }

    /// The current flag's value, as text.
    pub fn text(&mut self) -> Result<String, Stop> {
        match self.inline_value.take().or_else(|| self.args.next()) {
            Some(value) => Ok(value),
            None => Err(self.bad("needs a value")),
        }
    }

    /// The current flag's value, parsed.
    pub fn value<T: FromStr>(&mut self) -> Result<T, Stop>
    where
        T::Err: Display,
    {
        let text = self.text()?;
        text.parse().map_err(|e| self.bad(format!("{text:?}: {e}")))
    }

    /// The current flag's value as HOST:PORT, a host name resolved to its first address.
    pub fn addr(&mut self) -> Result<SocketAddr, Stop> {
        let text = self.text()?;
        let first = text.to_socket_addrs().map(|mut addrs| addrs.next());
        match first {
            Ok(Some(addr)) => Ok(addr),
            Ok(None) => Err(self.bad(format!("{text:?}: no address found"))),
            Err(e) => Err(self.bad(format!("{text:?}: {e}"))),
        }
    }

    /// The current flag's value as a list of CPU numbers, as taskset writes them: numbers
    /// and ranges separated by commas (`0,2`, `0-3`, `0-1,4`). A CPU may appear more than
    /// once (`0,0`: two cores sharing CPU 0).
    pub fn cores(&mut self) -> Result<Vec<usize>, Stop> {
        let text = self.text()?;
        let mut cores = Vec::new();
        for item in text.split(',').map(str::trim) {
            let (first, last) = item.split_once('-').unwrap_or((item, item));
            let (first, last): (usize, usize) = match (first.trim().parse(), last.trim().parse()) {
                (Ok(first), Ok(last)) => (first, last),
                (Err(e), _) | (_, Err(e)) => return Err(self.bad(format!("{text:?}: {e}"))),
            };
            if first > last {
                return Err(self.bad(format!("{text:?}: the range {item} runs backwards")));
            }
            // Linux numbers CPUs below 8192 (NR_CPUS at most): a longer list is a typo, and
            // must not cost a huge allocation before the runtime says so.
            if last >= MAX_CPUS {
                return Err(
                    self.bad(format!("{text:?}: CPU {last} is past the last CPU Linux numbers ({})", MAX_CPUS - 1))
                );
            }
            cores.extend(first..=last);
        }
        Ok(cores)
    }

    /// The current flag is not one the program knows.
    pub fn unknown(&self) -> Stop {
        Stop::Bad(format!("unknown flag {}", self.flag))
    }

    /// A bad value for the current flag.
    pub fn bad(&self, reason: impl Display) -> Stop {
        Stop::Bad(format!("{}: {reason}", self.flag))
    }
}

/// Reads the process's flags with `read`; on `--help` prints `usage` and exits 0, on a bad
/// flag prints one line and exits 2.
pub fn parse<T>(program: &str, usage: &str, read: impl FnOnce(&mut Flags) -> Result<T, Stop>) -> T {
    match read(&mut Flags::new(std::env::args().skip(1))) {
        Ok(args) => args,
        Err(stop) => {
            match &stop {
                Stop::Help => println!("{usage}"),
                Stop::Bad(reason) => eprintln!("{program}: {reason} (see --help)"),
            }
            std::process::exit(stop.code().into())
        }
    }
}

/// The exit code for the program's result, printing an error in its `Display` form.
pub fn exit(program: &str, result: io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime that `--cores` and `--driver` ask for (no `--cores`: every CPU), in a process
/// whose descriptor limit is raised first ([`raise_fd_limit`]).
pub fn runtime(cores: Option<Vec<usize>>, driver: DriverChoice) -> io::Result<Runtime> {
    builder(cores, driver).build()
}

/// [`runtime`]'s builder, for a program that sets more options before building.
pub fn builder(cores: Option<Vec<usize>>, driver: DriverChoice) -> Builder {
    raise_fd_limit();
    let builder = Runtime::builder().driver(driver);
    match cores {
        Some(cores) => builder.cores(cores),
        None => builder,
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit, as Go's runtime
/// does for every program (and redis-server and nginx for theirs). Every connection costs a
/// descriptor (two in kv), and the usual soft limit, 1024, is there for select(2), which
/// nothing here uses: left alone, a server would refuse its 1,000th client on a machine
/// whose hard limit allows hundreds of thousands. Returns the soft limit in force after; a
/// failure leaves it as it was.
pub fn raise_fd_limit() -> u64 {
    let Some(mut limit) = descriptor_limits() else { return 0 };
    let before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads one live rlimit.
    if limit.rlim_cur > before && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        return limit.rlim_cur;
    }
    before
}

/// This process's soft limit on open descriptors (after [`raise_fd_limit`], its hard one);
/// 0 if it cannot be read.
pub fn fd_limit() -> u64 {
    descriptor_limits().map_or(0, |limit| limit.rlim_cur)
}

/// RLIMIT_NOFILE's soft and hard limits.
fn descriptor_limits() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit, into a live local.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Starts a server on every core of `rt`, each with a listener of its own on `addr`
/// (`TcpListener::bind`: SO_REUSEPORT, so the kernel spreads connections over them), and
/// returns the address they listen on with each core's server. `serve_on(core)` gives what
/// that core runs with its listener.
///
/// The cores bind one after the other, core 0 first, each to the address the one before it
/// bound: with port 0 the port the kernel picked for core 0 is the one every core shares, so
/// the server has one address (binding all at once gave each core a port of its own). A core
/// that cannot listen stops the start with its error, rather than leave a server running on
/// fewer cores than asked for.
pub fn serve_on_each_core<S, F>(
    rt: &Runtime,
    addr: SocketAddr,
    serve_on: impl FnMut(usize) -> S,
) -> io::Result<(SocketAddr, Vec<JoinHandle<io::Result<()>>>)>
where
    S: FnOnce(TcpListener) -> F + Send + 'static,
    F: Future<Output = io::Result<()>> + 'static,
{
    listen_on_each_core(rt, addr, TcpListener::bind, serve_on)
}

/// [`serve_on_each_core`] with each core's listener made by `listen(addr)` (a builder's
/// options, a shared listener's descriptor), called on that core.
pub fn listen_on_each_core<L, S, F>(
    rt: &Runtime,
    addr: SocketAddr,
    listen: L,
    mut serve_on: impl FnMut(usize) -> S,
) -> io::Result<(SocketAddr, Vec<JoinHandle<io::Result<()>>>)>
where
    L: Fn(SocketAddr) -> io::Result<TcpListener> + Clone + Send + 'static,
    S: FnOnce(TcpListener) -> F + Send + 'static,
    F: Future<Output = io::Result<()>> + 'static,
{
    let mut bound = addr;
    let mut servers = Vec::with_capacity(rt.core_count());
    for core in 0..rt.core_count() {
        let (tell, told) = std::sync::mpsc::sync_channel(1);
        let (listen, serve) = (listen.clone(), serve_on(core));
        servers.push(rt.spawn_on(core, move || async move {
            let listener = listen(bound);
            // The error goes both ways: its kind to the caller, and ends this core's server.
            let _ = tell.send(match &listener {
                Ok(listener) => listener.local_addr(),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
            serve(listener?).await
        }));
        let told = told.recv().map_err(|_| io::Error::other(format!("core {core} stopped before listening")))?;
        bound = told.map_err(|e| io::Error::new(e.kind(), format!("core {core}: cannot listen on {addr}: {e}")))?;
    }
    Ok((bound, servers))
}

/// What [`wait`] returned for.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// SIGINT or SIGTERM, by number.
    Signal(i32),
    /// Every server ended (none could listen, say): no signal would ever come for them.
    Ended,
    /// The period passed.
    Tick,
}

/// How often [`wait`] looks at the servers: a `JoinHandle` cannot be watched from this
/// thread without taking the output the caller still joins, and a server that could not
/// start only has to exit soon, not at once.
const SERVERS_CHECK: Duration = Duration::from_millis(50);

/// Blocks until SIGINT or SIGTERM, until every one of `servers` (each core's accept loop)
/// has ended, or until `period` (if any) has passed. A server that cannot listen on any core
/// then exits with its error instead of waiting for a signal. A period past what an
/// `Instant` can hold (`--stats 1e19`) never passes.
pub fn wait<T>(signals: &ShutdownSignals, servers: &[JoinHandle<T>], period: Option<Duration>) -> Waited {
    let until = period.and_then(|p| Instant::now().checked_add(p));
    loop {
        let step = until.map_or(SERVERS_CHECK, |t| t.saturating_duration_since(Instant::now()).min(SERVERS_CHECK));
        if let Some(sig) = signals.wait_timeout(step) {
            return Waited::Signal(sig);
        }
        if servers.iter().all(JoinHandle::is_finished) {
            return Waited::Ended;
        }
        if until.is_some_and(|t| Instant::now() >= t) {
            return Waited::Tick;
        }
    }
}

/// Blocks until SIGINT or SIGTERM and returns it, or, if every one of `servers` ends first
/// (none could listen, say), fails with why ([`wait`] without a period, then [`ended`]).
pub fn signal<T>(signals: &ShutdownSignals, servers: &mut Vec<JoinHandle<io::Result<T>>>) -> io::Result<i32> {
    match wait(signals, servers, None) {
        Waited::Signal(sig) => Ok(sig),
        Waited::Ended | Waited::Tick => Err(ended(std::mem::take(servers))),
    }
}

/// Why every server ended: the first one's error (each core's is the same, typically the
/// address), or an error saying they stopped.
pub fn ended<T>(servers: Vec<JoinHandle<io::Result<T>>>) -> io::Error {
    let mut first = None;
    for server in servers {
        let err = match server.join() {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e,
            Err(e) => io::Error::other(e.to_string()),
        };
        first.get_or_insert(err);
    }
    first.unwrap_or_else(|| io::Error::other("every core's server stopped"))
}
