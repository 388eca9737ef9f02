//! A TCP proxy on every chosen core: accepts on an SO_REUSEPORT listener per core, connects
//! upstream, and copies both ways with `splice(2)` through a pipe (zero-copy; IORING_OP_SPLICE
//! as an option on io_uring), passing a half-close on and closing pairs that stay idle.
//!
//! ```text
//! cargo run --release --example proxy -- --listen HOST:PORT --upstream HOST:PORT
//!     [--cores 0,1] [--driver uring|epoll|auto] [--idle-timeout SECS] [--splice readiness|op|off]
//! ```
//! Runs until SIGINT or SIGTERM, then stops every core and exits.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ringpoll::net::{copy_bidirectional, CopyOptions, TcpListener, TcpStream};
use ringpoll::signal::ShutdownSignals;
use ringpoll::{DriverChoice, Runtime};

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
}

const USAGE: &str = "usage: proxy --listen HOST:PORT --upstream HOST:PORT [--cores LIST] \
                     [--driver uring|epoll|auto] [--idle-timeout SECS] [--splice readiness|op|off]";

fn usage(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{msg}\n{USAGE}"))
}

fn parse_args() -> io::Result<Args> {
    let (mut listen, mut upstream, mut cores) = (None, None, None);
    let mut driver = DriverChoice::from_env()?;
    let mut copy = CopyOptions { idle_timeout: Some(Duration::from_secs(60)), ..CopyOptions::default() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| usage(&format!("--listen: {e}")))?),
            "--upstream" => upstream = Some(value()?.parse().map_err(|e| usage(&format!("--upstream: {e}")))?),
            "--cores" => cores = Some(parse_cores(&value()?)?),
            "--driver" => driver = value()?.parse()?,
            "--idle-timeout" => {
                let secs: f64 = value()?.parse().map_err(|e| usage(&format!("--idle-timeout: {e}")))?;
                let idle = Duration::try_from_secs_f64(secs).map_err(|e| usage(&format!("--idle-timeout: {e}")))?;
                copy.idle_timeout = (!idle.is_zero()).then_some(idle);
            }
            "--splice" => copy.splice = value()?.parse()?,
            "-h" | "--help" => return Err(usage("")),
            other => return Err(usage(&format!("unknown flag {other}"))),
        }
    }
    let listen = listen.ok_or_else(|| usage("--listen is required"))?;
    let upstream = upstream.ok_or_else(|| usage("--upstream is required"))?;
    Ok(Args { listen, upstream, cores, driver, copy })
}

fn parse_cores(list: &str) -> io::Result<Vec<usize>> {
    list.split(',').map(|c| c.trim().parse().map_err(|e| usage(&format!("--cores {list:?}: {e}")))).collect()
}

/// Proxies one client: connect upstream, then copy until both directions are done.
async fn proxy_one(client: TcpStream, upstream: SocketAddr, copy: CopyOptions) -> io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    copy_bidirectional(client, server, &copy).await.map(drop)
}

/// Accepts on `listener` forever, one task per client.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, copy: CopyOptions) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let copy = copy.clone();
                ringpoll::spawn(async move {
                    // Errors end one pair only (a reset, an idle timeout, upstream down).
                    if let Err(e) = proxy_one(client, upstream, copy).await {
                        if e.kind() != io::ErrorKind::TimedOut {
                            eprintln!("proxy: {peer}: {e}");
                        }
                    }
                })
                .detach();
            }
            // Out of descriptors: back off instead of spinning; closing pairs free them.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> io::Result<()> {
    let args = parse_args()?;
    let signals = ShutdownSignals::install()?;
    let mut builder = Runtime::builder().driver(args.driver);
    if let Some(cores) = args.cores.clone() {
        builder = builder.cores(cores);
    }
    let rt = builder.build()?;
    let (listen, upstream, driver) = (args.listen, args.upstream, rt.driver());
    let servers = rt.run_on_each_core(move |core| {
        let copy = args.copy.clone();
        async move {
            let listener = TcpListener::bind(listen).inspect_err(|e| eprintln!("core {core}: {listen}: {e}"))?;
            println!("core {core}: driver {driver}, proxy {listen} -> {upstream}, splice {:?}", copy.splice);
            serve(listener, upstream, copy).await
        }
    });
    let sig = signals.wait();
    eprintln!("proxy: signal {sig}, shutting down");
    drop(servers);
    rt.shutdown();
    Ok(())
}
