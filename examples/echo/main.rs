//! An echo server on every chosen core, one SO_REUSEPORT listener per core, all on one port.
//!
//! ```text
//! cargo run --release --example echo -- [--addr HOST:PORT] [--cores 0,1] [--driver uring|epoll|auto] [--stats SECS]
//! ```
//! Runs until SIGINT or SIGTERM, then stops every core and exits.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ringpoll::net::TcpListener;
use ringpoll::signal::ShutdownSignals;
use ringpoll::DriverChoice;

#[path = "../cli/mod.rs"]
mod cli;
mod connection;

use connection::echo;

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: echo [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto] [--stats SECS]
  --addr HOST:PORT     where every core listens (default 127.0.0.1:7000; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU)
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)
  --stats SECS         print each core's counters every SECS seconds";

struct Args {
    addr: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: DriverChoice,
    stats: Option<Duration>,
}

fn parse_args(flags: &mut cli::Flags) -> Result<Args, cli::Stop> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
        cores: None,
        driver: DriverChoice::from_env().map_err(|e| cli::Stop::Bad(e.to_string()))?,
        stats: None,
    };
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--addr" => args.addr = flags.addr()?,
            "--cores" => args.cores = Some(flags.cores()?),
            "--driver" => args.driver = flags.value()?,
            "--stats" => {
                let secs: f64 = flags.value()?;
                let every = Duration::try_from_secs_f64(secs).map_err(|e| flags.bad(e))?;
                // Zero would print in a tight loop: a period is at least a millisecond.
                if every < Duration::from_millis(1) {
                    return Err(flags.bad("the period must be at least 0.001 seconds"));
                }
                args.stats = Some(every);
            }
            _ => return Err(flags.unknown()),
        }
    }
    Ok(args)
}

/// Accepts on `listener` until the runtime shuts down, one task per connection.
async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        // Rides out fd exhaustion (backs off, no spin); fails once the runtime shuts down.
        match listener.accept_backoff().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                ringpoll::spawn(echo(stream)).detach();
            }
            Err(e) if ringpoll::shutdown::is_shutting_down(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    let args = cli::parse("echo", USAGE, parse_args);
    cli::exit("echo", run(args))
}

fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let rt = cli::runtime(args.cores, args.driver)?;
    // The address bound: with port 0 the port the kernel picked, the same on every core.
    let (addr, servers) = cli::serve_on_each_core(&rt, args.addr, |_| serve)?;
    for core in 0..rt.core_count() {
        println!("core {core}: cpu {}, driver {}, echo on {addr}", rt.cpu_of(core), rt.driver());
    }
    let sig = loop {
        match cli::wait(&signals, &servers, args.stats) {
            cli::Waited::Signal(sig) => break sig,
            // Nothing listens (the address, on every core): exit with why, not wait for a signal.
            cli::Waited::Ended => return Err(cli::ended(servers)),
            cli::Waited::Tick => {}
        }
        for (core, s) in rt.stats().iter().enumerate() {
            eprintln!(
                "core {core}: accepted {} open {} tasks {} polls {} events {} enters {} eventfd-writes {}",
                s.accepted,
                s.sources_open,
                s.tasks_live,
                s.reactor_polls,
                s.reactor_events,
                s.uring_enters,
                s.eventfd_writes
            );
        }
    };
    eprintln!("echo: signal {sig}, shutting down");
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    for server in servers {
        if let Ok(Err(e)) = server.join() {
            eprintln!("echo: a core's server failed: {e}");
        }
    }
    eprintln!("echo: stopped in {:.1?} ({cancelled} connections cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}
