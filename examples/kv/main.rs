//! A Redis-protocol (RESP2, or RESP3 per connection) key-value server, sharded by core: each core owns the keys that
//! hash to it; a request for another core's key goes there as a message and the answer comes
//! back (see `shard.rs`), unless the request came alone: then that core writes the reply to
//! the client itself (see `direct.rs`). One SO_REUSEPORT listener per core. The core threads
//! run under the normal scheduling policy: see `run` for why not SCHED_BATCH.
//!
//! ```text
//! cargo run --release --example kv -- [--addr HOST:PORT] [--cores 0,1] [--driver uring|epoll|auto] [--accept hash|cpu|shared] [--maxclients N]
//! redis-cli -p 6380 set greeting hello
//! ```
//! Commands: GET, SET (NX, XX, GET, KEEPTTL, EX, PX, EXAT, PXAT, as Redis 7 takes them; NX
//! and XX are decided on the core that owns the key), SETNX, SETEX, PSETEX, GETSET, GETDEL,
//! GETEX, DEL, UNLINK, EXISTS, TOUCH, TYPE, STRLEN, APPEND, KEYS (every shard's), SCAN (MATCH,
//! COUNT, TYPE; the cursor names a shard and a place in its table, and a scan ends however
//! fast the tables grow: see `scan.rs`), INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT
//! (`float.rs`), MGET, MSET, MSETNX (keys of one shard only: `-CROSSSLOT` otherwise), PING,
//! ECHO, EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (NX, XX, GT, LT), TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST, DBSIZE, FLUSHALL, FLUSHDB, MEMORY USAGE (the bytes the key's entry and allocations take), HELP, DOCTOR and
//! STATS (`memory.rs`), INFO (Redis 7's Server, Clients, Memory, Stats, Replication and
//! Keyspace sections, as Redis names their fields, then the per-core counters, section
//! `cores`; only the sections named, if any: `info.rs`), GETRANGE, SUBSTR, SETRANGE (up to the 16
//! MiB a bulk string may take: `range.rs`), RENAME and RENAMENX (keys of one shard only:
//! `-CROSSSLOT` otherwise; keys sharing a Redis Cluster hash tag, `{...}`, share a shard:
//! `hash.rs`), RANDOMKEY; hashes (HSET, HMSET, HGET, HMGET, HGETALL, HDEL, HLEN, HEXISTS,
//! HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HSETNX, HSTRLEN), lists (LPUSH, RPUSH, LPOP, RPOP,
//! with counts, LLEN, LRANGE, LINDEX, LSET, LTRIM, LREM, LPOS, LINSERT), sets (SADD, SREM,
//! SMEMBERS, SISMEMBER, SCARD, SPOP, SRANDMEMBER) and sorted sets (ZADD with NX, XX, GT, LT,
//! CH, INCR; ZINCRBY, ZSCORE, ZCARD, ZREM, ZRANGE by index, BYSCORE or BYLEX with REV, LIMIT
//! and WITHSCORES, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX,
//! ZCOUNT, ZLEXCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX, ZRANK, ZREVRANK,
//! ZPOPMIN, ZPOPMAX), run on the core that owns the key, WRONGTYPE both ways, an
//! emptied collection's key deleted (`types/`); TIME, CONFIG GET (a few parameters: `config.rs`), SET
//! (`maxclients`, and the values kv has: `config_set.rs`) and HELP, COMMAND COUNT, DOCS and
//! HELP (`server.rs`), SHUTDOWN (stops as SIGTERM does), QUIT; what client libraries send
//! on connecting: HELLO (`HELLO 3` switches the connection to RESP3, `HELLO 2` back:
//! `replies.rs` for what changes, `op.rs` for how another core's reply follows), AUTH (as
//! Redis without a password), SELECT 0,
//! CLIENT ID, GETNAME, SETNAME, SETINFO, HELP, INFO (`session.rs`, `clients.rs`), LIST and
//! KILL (on every core: `clients.rs`, `kill.rs`), MULTI, EXEC and DISCARD (`transaction.rs`:
//! requests after MULTI are checked as Redis checks them and queued, at most 64 MiB of them;
//! EXEC runs them as one pipeline. A transaction whose keys all live on one core runs with no
//! other client's command between its commands; one spanning cores runs each core's part
//! so, but not at one instant across cores), WATCH refused (`-ERR WATCH is not supported by
//! kv`: never accepted and ignored), UNWATCH; pub/sub across the cores (`pubsub.rs`):
//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH (its count over every core) and
//! PUBSUB CHANNELS, NUMSUB and NUMPAT, framed as Redis 7 frames them, a subscribed RESP2
//! connection refused what Redis refuses it, a RESP3 one sent pushes. redis-cli's --pipe, --scan, --bigkeys,
//! --memkeys, --stat and --latency work against it. Past `--maxclients` a client is refused
//! as Redis refuses it (`admission.rs`). Runs until SIGINT, SIGTERM or SHUTDOWN.

pub mod admission;
#[path = "../cli/mod.rs"]
mod cli;
mod clients;
mod command;
mod config;
mod config_set;
mod conn;
mod copy;
mod direct;
mod float;
mod glob;
mod hash;
mod info;
mod kill;
mod lane;
mod memory;
pub mod op;
mod pipeline;
mod pubsub;
mod range;
pub mod replies;
pub mod resp;
mod scan;
mod server;
mod session;
mod shard;
mod store;
mod transaction;
mod types;

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ringpoll::channel::cross_core;
use ringpoll::net::{SharedListener, TcpBuilder, TcpListener};
use ringpoll::signal::ShutdownSignals;
use ringpoll::{DriverChoice, Runtime};

use admission::{Admission, REDIS_MAX_CLIENTS};
use shard::{Peers, Shards};

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

const USAGE: &str = "usage: kv [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto] [--accept hash|cpu|shared] [--maxclients N]
  --addr HOST:PORT     where every core listens (default 127.0.0.1:6380; names are resolved)
  --cores LIST         CPUs to run on, e.g. 0,1 or 0-3 (default: every CPU); each owns a shard of the keys
  --driver KIND        uring, epoll or auto (default: RINGPOLL_DRIVER, else auto)
  --accept MODE        how connections reach the cores: hash (SO_REUSEPORT, the default), cpu
                       (steered to the core on the CPU that received them) or shared (one
                       listener without SO_REUSEPORT)
  --maxclients N       clients served at once, across the cores (default 10000, as Redis); lowered,
                       as Redis lowers it, to what the limit on open descriptors allows; a
                       client past it gets -ERR max number of clients reached";

/// How connections reach the cores (see `ringpoll::net::tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// One SO_REUSEPORT listener per core; the kernel hashes the 4-tuple.
    Hash,
    /// The same, steered to the core pinned to the CPU that received the connection.
    Cpu,
    /// One listener without SO_REUSEPORT, accepted from on every core.
    Shared,
}

impl std::str::FromStr for Accept {
    type Err = String;
    fn from_str(s: &str) -> Result<Accept, String> {
        match s {
            "hash" => Ok(Accept::Hash),
            "cpu" => Ok(Accept::Cpu),
            "shared" => Ok(Accept::Shared),
            _ => Err("expected hash, cpu or shared".into()),
        }
    }
}

struct Args {
    addr: SocketAddr,
    cores: Option<Vec<usize>>,
    driver: DriverChoice,
    accept: Accept,
    /// `--maxclients`, if given.
    max_clients: Option<usize>,
}

fn parse_args(flags: &mut cli::Flags) -> Result<Args, cli::Stop> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 6380)),
        cores: None,
        driver: DriverChoice::from_env().map_err(|e| cli::Stop::Bad(e.to_string()))?,
        accept: Accept::Hash,
        max_clients: None,
    };
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "--addr" => args.addr = flags.addr()?,
            "--cores" => args.cores = Some(flags.cores()?),
            "--driver" => args.driver = flags.value()?,
            "--accept" => args.accept = flags.value()?,
            "--maxclients" => args.max_clients = Some(flags.value()?),
            _ => return Err(flags.unknown()),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = cli::parse("kv", USAGE, parse_args);
    cli::exit("kv", run(args))
}

fn run(args: Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    give_back_big_allocations();
    // Not SCHED_BATCH (`Builder::batch_scheduling`), though it saves CPU where shards share
    // CPUs with their clients: every forwarded request wakes the core that owns its key, and
    // a batch core woken while its CPU runs anything else waits its turn. Beside a build (load
    // average 6-8), one redis-benchmark client of two shards got replies in 2.0-2.1 ms on
    // average (p99 8 ms) under SCHED_BATCH, and in 0.07-0.11 ms under the normal policy.
    // The benchmarks set it from outside (`chrt -b`), where saving CPU is what they measure.
    let rt = cli::builder(args.cores, args.driver).build()?;
    // SHUTDOWN stops the server as SIGTERM does: by sending it (the signal thread takes it).
    let shutdown = || {
        eprintln!("kv: SHUTDOWN from a client");
        // SAFETY: kill takes no pointers; the pid is this process's own.
        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    };
    let wanted = args.max_clients.unwrap_or(REDIS_MAX_CLIENTS);
    let max_clients = admission::max_clients(wanted, cli::raise_fd_limit(), rt.core_count());
    // Said only when asked for: the default's 10,000 sharded clients take 20,032 descriptors,
    // past many machines' limit, and lowering the default is no news.
    if max_clients < wanted && args.max_clients.is_some() {
        eprintln!("kv: maxclients lowered to {max_clients}: the limit on open descriptors allows no more");
    }
    let server = start_stoppable(&rt, args.addr, args.accept, max_clients, Some(Box::new(shutdown)))?;
    for core in 0..rt.core_count() {
        println!("core {core}: cpu {}, driver {}, kv on {}", rt.cpu_of(core), rt.driver(), server.addr);
    }
    let sig = signals.wait();
    eprintln!("kv: signal {sig}, shutting down");
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    for core in server.cores {
        if let Ok(Err(e)) = core.join() {
            eprintln!("kv: a core's server failed: {e}");
        }
    }
    eprintln!("kv: stopped in {:.1?} ({cancelled} tasks cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}

/// A kv server running on every core of a runtime.
pub struct Server {
    /// Where it listens (the port chosen, if `addr` asked for port 0).
    pub addr: SocketAddr,
    /// Each core's accept loop; it ends when the runtime shuts down.
    pub cores: Vec<ringpoll::JoinHandle<io::Result<()>>>,
}

/// Starts the store on every core of `rt`: a shard, its inbox and a listener on `addr`, as
/// `accept` says. The cores bind one after the other in core order (which CPU steering
/// needs), core 0 first, so port 0 works (`cli::listen_on_each_core`). It serves at most
/// `max_clients` clients at once.
pub fn start(rt: &Runtime, addr: SocketAddr, accept: Accept, max_clients: usize) -> io::Result<Server> {
    start_stoppable(rt, addr, accept, max_clients, None)
}

/// Has glibc's malloc map each allocation of 1 MiB or more on its own, and unmap it when
/// freed. By default it raises that threshold to the size of each such allocation freed,
/// so the next big values come from the heap, whose free memory it keeps: sixteen clients
/// that set and read 4 MiB values left kv at 570 MB resident after FLUSHALL (redis-server,
/// with jemalloc: 13 MB), and INFO's `used_memory` with it. Values under 1 MiB are as before.
fn give_back_big_allocations() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt takes no pointers; it only sets a parameter of malloc, under its lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20)
    };
}

/// As [`start`], with what SHUTDOWN does (without it, SHUTDOWN is refused).
pub fn start_stoppable(
    rt: &Runtime,
    addr: SocketAddr,
    accept: Accept,
    max_clients: usize,
    shutdown: Option<shard::Shutdown>,
) -> io::Result<Server> {
    let shared = match accept {
        Accept::Shared => Some(SharedListener::bind(addr)?),
        _ => None,
    };
    let listen = move |addr: SocketAddr| match &shared {
        Some(shared) => shared.listener(),
        None => TcpBuilder::new().steer_by_cpu(accept == Accept::Cpu).listen(addr),
    };
    // Unbounded: what bounds them is shard::MAX_IN_FLIGHT, and a core must never wait to
    // answer another (two cores answering each other into full inboxes would deadlock).
    let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..rt.core_count()).map(|_| cross_core::unbounded()).unzip();
    let admission = Admission::new(max_clients);
    let peers = Peers::stopped_by(inboxes, shutdown, admission.clone());
    let mut receivers = receivers.into_iter();
    let (addr, cores) = cli::listen_on_each_core(rt, addr, listen, |core| {
        let (peers, inbox) = (peers.clone(), receivers.next().expect("an inbox per core"));
        let admission = admission.clone();
        move |listener| async move {
            let shards = Rc::new(Shards::new(core, peers));
            ringpoll::spawn(shard::link(Rc::downgrade(&shards), inbox)).detach();
            ringpoll::spawn(shard::sweep(shards.clone(), admission.clone())).detach();
            serve(listener, shards, admission).await
        }
    })?;
    Ok(Server { addr, cores })
}

/// Accepts connections on this core until the runtime shuts down; those past `admission`'s
/// limit are told so and closed.
async fn serve(listener: TcpListener, shards: Rc<Shards>, admission: Arc<Admission>) -> io::Result<()> {
    loop {
        match listener.accept_backoff().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let Some(admitted) = admission.admit() else {
                    ringpoll::spawn(conn::refuse(stream)).detach();
                    continue;
                };
                let shards = shards.clone();
                ringpoll::spawn(async move { conn::serve(stream, peer, &shards, admitted).await }).detach();
            }
            Err(e) if ringpoll::shutdown::is_shutting_down(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
