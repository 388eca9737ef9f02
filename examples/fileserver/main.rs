//! A static HTTP/1.1 file server over one directory, on every chosen core.
//!
//! ```text
//! cargo run --release --example fileserver -- --root DIR [--addr HOST:PORT] [--cores LIST] [--driver uring|epoll|auto]
//! ```
//!
//! GET and HEAD, keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelined requests,
//! `Content-Length` from the file's metadata and the body sent with `sendfile(2)`
//! ([`TcpStream::send_file`]): no copy through user space, as nginx's `sendfile on`.
//! Opening and `statx` are `ringpoll::fs` calls: ring ops on io_uring, the blocking pool on
//! epoll, so a slow disk never stalls a core.
//!
//! One byte range per request (RFC 9110 §14), so `curl -r 0-99`, resumed downloads
//! (`curl -C -`) and video players seeking (`Range: bytes=N-`) work: `bytes=a-b`, `bytes=a-`
//! and `bytes=-n` get 206 with `Content-Range`, the part sent by the same `sendfile` from
//! its offset; a range starting past the end gets 416 (`Content-Range: bytes */len`). Several
//! ranges, or a Range this server cannot read, get the whole file with 200, as the RFC
//! allows. Files carry `Accept-Ranges: bytes`, `Last-Modified` (their mtime) and an `ETag`
//! (their mtime and length, `etag.rs`); a request whose `If-None-Match` holds that tag (or
//! `*`), or without one, whose `If-Modified-Since` is not older than the mtime, gets 304 with
//! no body, and one whose `If-Range` is neither that tag nor that date exactly gets the whole
//! file (the copy it would resume changed). Every response has a `Date`.
//!
//! Nothing outside the root is served: the URL is percent-decoded first and then split, so
//! an encoded `%2e%2e%2f` is a `..` like any other, and a `..` segment is 403; after opening,
//! the descriptor's real path (`/proc/self/fd/N`) must lie under the root, so a symlink out
//! of it is 403 as well. Missing files are 404. A directory's `index.html` is served for
//! its path with a trailing slash; without one, the answer is a 301 to it (as nginx does),
//! so the page's relative links resolve inside the directory. An HTTP/1.1 request without
//! a Host header, or one with two, is 400 (RFC 9112 §3.2); an answer to HEAD has no body,
//! errors included. A client that disconnects mid-file ends its connection's task with
//! nothing leaked; one that sends no whole request head for [`serve::CLIENT_TIMEOUT`] (idle
//! keep-alive included), or takes none of its response for as long (it stopped reading), is
//! closed, as nginx's `client_header_timeout` and `send_timeout` close them. Stops on SIGINT
//! or SIGTERM.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use ringpoll::signal::ShutdownSignals;

pub mod args;
#[path = "../cli/mod.rs"]
pub mod cli;
pub mod content_type;
pub mod etag;
pub mod http_date;
pub mod range;
pub mod request;
pub mod root;
pub mod serve;
pub mod target;

/// How long open connections may run on after SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = cli::parse("fileserver", args::USAGE, args::parse);
    cli::exit("fileserver", run(args))
}

/// Serves until SIGINT or SIGTERM; fails at once if no core can listen.
pub fn run(args: args::Args) -> io::Result<()> {
    let signals = ShutdownSignals::install()?;
    let rt = cli::runtime(args.cores, args.driver)?;
    let root = args.root;
    let (addr, mut servers) = cli::serve_on_each_core(&rt, args.addr, |_| {
        let root = root.clone();
        move |listener| serve::listen(listener, root.into(), serve::CLIENT_TIMEOUT)
    })?;
    for core in 0..rt.core_count() {
        println!("core {core}: cpu {}, driver {}, serving {} on {addr}", rt.cpu_of(core), rt.driver(), root.display());
    }
    // Nothing listens (the address, on every core): exit with why, not wait for a signal.
    let sig = cli::signal(&signals, &mut servers)?;
    eprintln!("fileserver: signal {sig}, shutting down");
    drop(servers);
    let stopping = std::time::Instant::now();
    let cancelled = rt.shutdown_gracefully(GRACE);
    eprintln!("fileserver: stopped in {:.1?} ({cancelled} tasks cut off by the {GRACE:?} grace)", stopping.elapsed());
    Ok(())
}
