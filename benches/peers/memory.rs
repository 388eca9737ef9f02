//! Resident memory per idle connection: a server child, N connections that each echo one
//! byte (so every one is accepted and its task is parked in a read), VmRSS before and after.
//!
//! Run twice per server: with the 16 KiB read buffer the echo servers use, and with a 1-byte
//! buffer, which leaves mostly the runtime's own cost (task, registration, op slot).
//! ringpoll's servers read pooled, so they hold no read buffer either way.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::compare::free_port;
use crate::procfs::rss_bytes;
use crate::servers::{ServeOpts, ServerKind, ServerProcess, ECHO_BUF};
use crate::sys;

/// Servers measured: ringpoll's two drivers beside tokio, monoio and the bare loop.
const SERVERS: [ServerKind; 6] = [
    ServerKind::RingpollEpoll,
    ServerKind::RingpollUring,
    ServerKind::Tokio,
    ServerKind::MonoioUring,
    ServerKind::BareEpoll,
    ServerKind::BareUring,
];

/// Measures every server of [`SERVERS`] that `only` lists, with `conns` idle connections;
/// returns a markdown table.
pub fn run(conns: usize, only: &[ServerKind]) -> io::Result<String> {
    let limit = sys::raise_nofile(20_000)?;
    let conns = conns.min(limit.saturating_sub(100) as usize);
    let mut out = format!(
        "RSS per idle connection ({conns} connections, server on CPU 0; bytes):\n\n\
         | server | with the 16 KiB echo buffer | with a 1-byte buffer (runtime's own) |\n|---|---:|---:|\n"
    );
    for server in SERVERS.into_iter().filter(|s| only.contains(s)) {
        let full = per_conn(server, conns, ECHO_BUF);
        let own = per_conn(server, conns, 1);
        eprintln!("memory {:<15} {} / {}", server.name(), show(&full), show(&own));
        let _ = writeln!(out, "| {} | {} | {} |", server.name(), show(&full), show(&own));
    }
    Ok(out)
}

fn show(r: &io::Result<f64>) -> String {
    match r {
        Ok(bytes) => format!("{bytes:.0}"),
        Err(e) => format!("failed: {e}"),
    }
}

/// Bytes of server RSS each idle connection adds.
fn per_conn(server: ServerKind, conns: usize, buf: usize) -> io::Result<f64> {
    let addr = free_port()?;
    let proc = ServerProcess::launch(server, &ServeOpts { addr, cpus: vec![0], buf })?;
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_bytes(proc.pid())?;
    let streams = open_idle(addr, conns)?;
    // Let the server reach its idle state (and any lazy frees happen) before reading.
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_bytes(proc.pid())?;
    drop(streams);
    drop(proc);
    Ok((after as f64 - before as f64) / conns as f64)
}

/// Opens `n` connections and round-trips one byte on each, so each has been accepted and
/// served once; then they sit idle.
fn open_idle(addr: std::net::SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(addr)?;
        sys::set_linger_zero(s.as_raw_fd())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        (&s).write_all(b"x")?;
        streams.push(s);
    }
    let mut byte = [0u8; 1];
    for s in &streams {
        (&*s).read_exact(&mut byte)?;
    }
    Ok(streams)
}
