//! A Redis-protocol (RESP2) key-value server, sharded by core: each core owns the keys that
//! hash to it; a request for another core's key goes there as a message and the answer comes
//! back (see `shard.rs`). One SO_REUSEPORT listener per core.
//!
//! ```text
//! cargo run --release --example kv -- [--addr HOST:PORT] [--cores 0,1] [--driver uring|epoll|auto]
//! redis-cli -p 6380 set greeting hello
//! ```
//! Commands: GET, SET (EX/PX), DEL, EXISTS, INCR, MGET, MSET, PING, ECHO, EXPIRE, TTL, DBSIZE,
//! FLUSHALL, INFO (per-core counters), QUIT. Runs until SIGINT or SIGTERM.

mod command;
mod conn;
pub mod resp;
mod shard;
mod store;

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use ringpoll::channel::cross_core;
use ringpoll::net::TcpListener;
use ringpoll::signal::ShutdownSignals;
use ringpoll::{DriverChoice, Runtime};

use shard::Shards;
use store::Store;

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: kv [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]";

struct Args {
    addr: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: Option<DriverChoice>,
}

/// Parses the command line; `Err` holds the one line to print before exiting with status 2.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args { addr: SocketAddr::from(([127, 0, 0, 1], 6380)), cores: None, driver: None };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !["--addr", "--cores", "--driver"].contains(&flag.as_str()) {
            return Err(format!("kv: unknown flag {flag} (try --help)"));
        }
        let value = args.next().ok_or_else(|| format!("kv: {flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => parsed.addr = resolve(&value)?,
            "--cores" => {
                let cores: Result<Vec<usize>, _> = value.split(',').map(|c| c.trim().parse()).collect();
                parsed.cores = Some(cores.map_err(|_| format!("kv: --cores {value:?}: expected a list like 0,1"))?);
            }
            "--driver" => parsed.driver = Some(value.parse().map_err(|e| format!("kv: --driver: {e}"))?),
            _ => unreachable!("checked above"),
        }
    }
    Ok(Some(parsed))
}

/// `HOST:PORT`, where HOST may be a name (`localhost:6380`): its first address.
fn resolve(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text.to_socket_addrs().map_err(|e| format!("kv: --addr {text}: {e}"))?;
    addrs.next().ok_or_else(|| format!("kv: --addr {text}: no address"))
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => return println!("{USAGE}"),
        Err(line) => {
            eprintln!("{line}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("kv: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let mut builder = Runtime::builder();
    if let Some(driver) = args.driver {
        builder = builder.driver(driver);
    }
    if let Some(cores) = args.cores {
        builder = builder.cores(cores);
    }
    let rt = builder.build()?;
    let server = start(&rt, args.addr)?;
    for core in 0..rt.core_count() {
        println!("core {core}: cpu {}, driver {}, kv on {}", rt.cpu_of(core), rt.driver(), server.addr);
    }
    let sig = signals.wait();
    eprintln!("kv: signal {sig}, shutting down");
    let cancelled = rt.shutdown_gracefully(GRACE);
    for core in server.cores {
        if let Ok(Err(e)) = core.join() {
            eprintln!("kv: a core's server failed: {e}");
        }
    }
    eprintln!("kv: stopped ({cancelled} tasks cut off after {GRACE:?})");
    Ok(())
}

/// A kv server running on every core of a runtime.
pub struct Server {
    /// Where it listens (the port chosen, if `addr` asked for port 0).
    pub addr: SocketAddr,
    /// Each core's accept loop; it ends when the runtime shuts down.
    pub cores: Vec<ringpoll::JoinHandle<io::Result<()>>>,
}

/// Starts the store on every core of `rt`: a shard, its inbox and a listener on `addr`
/// (SO_REUSEPORT, the same port on every core; core 0 binds first, so port 0 works).
pub fn start(rt: &Runtime, addr: SocketAddr) -> io::Result<Server> {
    let n = rt.core_count();
    let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| cross_core::channel(shard::INBOX)).unzip();
    let mut server = Server { addr, cores: Vec::with_capacity(n) };
    for (core, inbox) in receivers.into_iter().enumerate() {
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let (addr, inboxes) = (server.addr, inboxes.clone());
        server.cores.push(rt.spawn_on(core, move || async move {
            let listener = TcpListener::bind(addr);
            let _ = bound_tx.send(
                listener.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string())).and_then(|l| l.local_addr()),
            );
            let store = Rc::new(RefCell::new(Store::default()));
            ringpoll::spawn(shard::serve_inbox(core, inbox, store.clone())).detach();
            ringpoll::spawn(shard::sweep(store.clone())).detach();
            serve(listener?, Rc::new(Shards::new(core, store, inboxes))).await
        }));
        let bound = bound_rx.recv().map_err(|_| io::Error::other(format!("core {core} stopped before listening")))?;
        server.addr =
            bound.map_err(|e| io::Error::new(e.kind(), format!("core {core}: cannot listen on {addr}: {e}")))?;
    }
    Ok(server)
}

/// Accepts connections on this core until the runtime shuts down.
async fn serve(listener: TcpListener, shards: Rc<Shards>) -> io::Result<()> {
    loop {
        match listener.accept_backoff().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let shards = shards.clone();
                ringpoll::spawn(async move { conn::serve(stream, &shards).await }).detach();
            }
            Err(e) if ringpoll::shutdown::is_shutting_down(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
