//! "Hello, World!" over HTTP/1.1 with hyper 1.x on every chosen core, one SO_REUSEPORT
//! listener per core.
//!
//! hyper's runtime pieces come from ringpoll's `hyper` feature: `Io` (hyper's `Read`/`Write`
//! over a `TcpStream`), `CoreExecutor` (tasks on the current core) and `CoreTimer`.
//!
//! ```text
//! cargo run --release -p ringpoll-interop --example http -- [--addr HOST:PORT] [--cores 0,1] [--driver uring|epoll|auto]
//! ```
//! Runs until SIGINT or SIGTERM, then stops accepting, gives open connections a second, and
//! exits.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::rt::Executor;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use ringpoll::hyper::{CoreExecutor, CoreTimer, Io};
use ringpoll::net::TcpListener;
use ringpoll::signal::ShutdownSignals;
use ringpoll::DriverChoice;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

/// Serves HTTP/1.1 on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        // Out of descriptors or memory, it backs off instead of spinning: connections free them.
        let (stream, _) = listener.accept_backoff().await?;
        let _ = stream.set_nodelay(true);
        // half_close: a client that shuts down its write side after the request still gets
        // the response. Without it hyper takes an end of stream it reads before answering for
        // an abort, and on io_uring the request and the end often arrive in one read.
        let conn = http1::Builder::new()
            .timer(CoreTimer)
            .half_close(true)
            .serve_connection(Io::new(stream), service_fn(hello));
        // A connection's error (a reset, a malformed request) ends that connection only.
        CoreExecutor.execute(async move { drop(conn.await) });
    }
}

#[path = "../../examples/cli/mod.rs"]
pub mod cli;

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: http [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
  --addr HOST:PORT     where every core listens (default 127.0.0.1:8080; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU)
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)";

/// The command line.
pub struct Args {
    addr: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: DriverChoice,
}

pub fn parse_args(flags: &mut cli::Flags) -> Result<Args, cli::Stop> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let driver = DriverChoice::from_env().map_err(|e| cli::Stop::Bad(e.to_string()))?;
    let mut args = Args { addr, cores: None, driver };
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--addr" => args.addr = flags.addr()?,
            "--cores" => args.cores = Some(flags.cores()?),
            "--driver" => args.driver = flags.value()?,
            _ => return Err(flags.unknown()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = cli::parse("http", USAGE, parse_args);
    cli::exit("http", run(args))
}

/// Serves until SIGINT or SIGTERM; fails at once if no core can listen.
pub fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let rt = cli::runtime(args.cores, args.driver)?;
    let (addr, mut servers) = cli::serve_on_each_core(&rt, args.addr, |_| serve)?;
    for core in 0..rt.core_count() {
        println!("core {core}: driver {}, http on {addr}", rt.driver());
    }
    // Nothing listens (the address, on every core): exit with why, not wait for a signal.
    let sig = cli::signal(&signals, &mut servers)?;
    eprintln!("http: signal {sig}, shutting down");
    drop(servers);
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    eprintln!("http: stopped in {:.1?} ({cancelled} tasks cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}
