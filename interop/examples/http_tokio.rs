//! The same "Hello, World!" hyper 1.x service as `examples/http.rs`, on tokio, for
//! comparison: one current_thread runtime per core, each with its own SO_REUSEPORT
//! listener (the thread-per-core layout ringpoll uses), hyper-util's `TokioIo` and
//! `TokioTimer`.
//!
//! ```text
//! cargo run --release -p ringpoll-interop --example http_tokio -- [--addr HOST:PORT] [--threads N]
//! ```
//! Runs until SIGINT or SIGTERM.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use ringpoll::signal::ShutdownSignals;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

/// A listener with SO_REUSEPORT, so each thread binds its own on the same port.
fn listener(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = listener(addr)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let conn =
            http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service_fn(hello));
        tokio::task::spawn(async move { drop(conn.await) });
    }
}

fn usage(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{msg}\nusage: http_tokio [--addr HOST:PORT] [--threads N]"))
}

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:8081".parse().expect("default address");
    let mut threads = 1usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => addr = value()?.parse().map_err(|e| usage(&format!("--addr: {e}")))?,
            "--threads" => threads = value()?.parse().map_err(|e| usage(&format!("--threads: {e}")))?,
            "-h" | "--help" => return Err(usage("")),
            other => return Err(usage(&format!("unknown flag {other}"))),
        }
    }
    let signals = ShutdownSignals::install()?;
    for i in 0..threads.max(1) {
        std::thread::Builder::new().name(format!("http-tokio-{i}")).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(serve(addr)).inspect_err(|e| eprintln!("thread {i}: {addr}: {e}"))
        })?;
    }
    println!("tokio current_thread x{threads}: http on {addr}");
    let sig = signals.wait();
    eprintln!("http_tokio: signal {sig}, exiting");
    Ok(())
}
