//! A TCP proxy on every chosen core: accepts on an SO_REUSEPORT listener per core, connects
//! upstream, and copies both ways, passing a half-close on: through user space while a
//! direction carries small messages, with `splice(2)` through a pipe (zero-copy;
//! IORING_OP_SPLICE as an option on io_uring) once it carries bulk (see `SpliceMode::Auto`).
//! A pair that ends in an error (a reset on either side, the idle timeout) and a client whose
//! upstream cannot be reached (refused, or not accepting within the idle timeout) are reset
//! (RST), never closed with FIN: a client reading to end of stream must not take a cut-off
//! answer for a whole one. Bytes that arrived before a reset are delivered first.
//!
//! ```text
//! cargo run --release --example proxy -- --listen HOST:PORT --upstream HOST:PORT
//!     [--cores 0,1] [--driver uring|epoll|auto] [--idle-timeout SECS]
//!     [--splice auto|readiness|op|off] [--verbose]
//! ```
//! Runs until SIGINT or SIGTERM, then stops accepting, gives open pairs a second, and exits.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ringpoll::net::{copy_bidirectional, CopyOptions, TcpListener, TcpStream};
use ringpoll::signal::ShutdownSignals;
use ringpoll::DriverChoice;

#[path = "cli/mod.rs"]
pub mod cli;

/// The proxy's settings, from the command line.
pub struct Args {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Where their connections go.
    pub upstream: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: DriverChoice,
    /// How each pair is copied (idle timeout, splice or buffers).
    pub copy: CopyOptions,
    /// Whether a pair that ends in an error (a client's reset, upstream down) is logged.
    pub verbose: bool,
}

/// How long open pairs may run on after SIGINT/SIGTERM; those still copying then are reset.
const GRACE: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: proxy --listen HOST:PORT --upstream HOST:PORT [--cores LIST] \
[--driver uring|epoll|auto] [--idle-timeout SECS] [--splice auto|readiness|op|off] [--verbose]
  --listen HOST:PORT    where clients connect (names are resolved)
  --upstream HOST:PORT  where their connections go
  --cores LIST          CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU)
  --driver KIND         uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)
  --idle-timeout SECS   reset a pair idle that long both ways, or whose upstream takes that
                        long to accept the connection (default 60; 0: never)
  --splice MODE         auto (copy, splice(2) once a direction carries bulk; the default),
                        readiness (always splice(2)), op (IORING_OP_SPLICE) or off (copy)
  --verbose             log every pair that ends in an error (resets, upstream down)";

pub fn parse_args(flags: &mut cli::Flags) -> Result<Args, cli::Stop> {
    let (mut listen, mut upstream, mut cores, mut verbose) = (None, None, None, false);
    let mut driver = DriverChoice::from_env().map_err(|e| cli::Stop::Bad(e.to_string()))?;
    let mut copy = CopyOptions { idle_timeout: Some(Duration::from_secs(60)), ..CopyOptions::default() };
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--listen" => listen = Some(flags.addr()?),
            "--upstream" => upstream = Some(flags.addr()?),
            "--cores" => cores = Some(flags.cores()?),
            "--driver" => driver = flags.value()?,
            "--idle-timeout" => {
                let secs: f64 = flags.value()?;
                let idle = Duration::try_from_secs_f64(secs).map_err(|e| flags.bad(e))?;
                copy.idle_timeout = (!idle.is_zero()).then_some(idle);
            }
            "--splice" => copy.splice = flags.value()?,
            "--verbose" => verbose = true,
            _ => return Err(flags.unknown()),
        }
    }
    let listen = listen.ok_or_else(|| cli::Stop::Bad("--listen is required".into()))?;
    let upstream = upstream.ok_or_else(|| cli::Stop::Bad("--upstream is required".into()))?;
    Ok(Args { listen, upstream, cores, driver, copy, verbose })
}

/// Proxies one client: connect upstream, then copy until both directions are done. A copy
/// that fails resets both connections; so does an upstream that cannot be reached, to the
/// client. The connect counts as idle time: an upstream that never answers its SYN (a full
/// accept queue, a dropped route) resets the client after the idle timeout, not after the
/// kernel gives up on its SYNs (two minutes), as nginx's `proxy_connect_timeout` does.
/// A pair reset for being idle is no failure: `Ok`.
async fn proxy_one(client: TcpStream, upstream: SocketAddr, copy: CopyOptions) -> io::Result<()> {
    let connect = TcpStream::connect(upstream);
    let connected = match copy.idle_timeout {
        Some(idle) => ringpoll::time::timeout(idle, connect)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, format!("no connection within {idle:?}")))),
        None => connect.await,
    };
    let server = match connected {
        Ok(server) => server,
        Err(e) => {
            client.abort();
            return Err(io::Error::new(e.kind(), format!("upstream {upstream}: {e}")));
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    match copy_bidirectional(client, server, &copy).await {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(()),
        done => done.map(drop),
    }
}

/// Accepts on `listener` forever, one task per client. Out of descriptors or memory (EMFILE,
/// ENFILE, ENOBUFS, ENOMEM), `accept_backoff` sleeps and tries again instead of spinning or
/// giving up: closing pairs free what it needs. With `verbose`, a pair that ends in an error
/// is logged (an upstream that does not accept in time included), one reset for being idle
/// is not.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, copy: CopyOptions, verbose: bool) -> io::Result<()> {
    loop {
        let (client, peer) = listener.accept_backoff().await?;
        let copy = copy.clone();
        ringpoll::spawn(async move {
            // Errors end one pair only (a reset, an idle timeout, upstream down).
            if let Err(e) = proxy_one(client, upstream, copy).await {
                if verbose {
                    eprintln!("proxy: {peer}: {e}");
                }
            }
        })
        .detach();
    }
}

fn main() -> ExitCode {
    let args = cli::parse("proxy", USAGE, parse_args);
    cli::exit("proxy", run(args))
}

/// Proxies until SIGINT or SIGTERM; fails at once if no core can listen.
pub fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let rt = cli::runtime(args.cores.clone(), args.driver)?;
    let (upstream, verbose) = (args.upstream, args.verbose);
    let (listen, mut servers) = cli::serve_on_each_core(&rt, args.listen, |_| {
        let copy = args.copy.clone();
        move |listener| serve(listener, upstream, copy, verbose)
    })?;
    for core in 0..rt.core_count() {
        println!("core {core}: driver {}, proxy {listen} -> {upstream}, splice {:?}", rt.driver(), args.copy.splice);
    }
    // Nothing listens (the address, on every core): exit with why, not wait for a signal.
    let sig = cli::signal(&signals, &mut servers)?;
    eprintln!("proxy: signal {sig}, shutting down");
    drop(servers);
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    eprintln!("proxy: stopped in {:.1?} ({cancelled} tasks cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}
