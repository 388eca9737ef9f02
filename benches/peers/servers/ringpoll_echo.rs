//! ringpoll: the same server as examples/echo, on the driver asked for: pooled reads, so
//! the buffer size asked for does not apply (a connection borrows a buffer of the core's pool
//! only while bytes are in hand).

use std::io;
use std::sync::mpsc;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{DriverChoice, Runtime};

use super::ServeOpts;

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, driver: DriverChoice, ready: mpsc::Sender<()>) -> io::Result<()> {
    serve_with(opts, driver, ready, None)
}

/// Serves as [`serve`] does, but each connection reads into a buffer of its own of
/// `opts.buf` bytes, as builds before pooled reads did.
pub fn serve_vec(opts: &ServeOpts, driver: DriverChoice, ready: mpsc::Sender<()>) -> io::Result<()> {
    serve_with(opts, driver, ready, Some(opts.buf))
}

/// `own_buf`: `None` reads pooled, `Some(capacity)` into a buffer per connection.
fn serve_with(
    opts: &ServeOpts,
    driver: DriverChoice,
    ready: mpsc::Sender<()>,
    own_buf: Option<usize>,
) -> io::Result<()> {
    let rt = Runtime::builder().cores(opts.cpus.clone()).driver(driver).build()?;
    let addr = opts.addr;
    let servers = rt.run_on_each_core(move |_core| {
        let ready = ready.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            let _ = ready.send(());
            accept_loop(listener, own_buf).await
        }
    });
    for server in servers {
        server.join().map_err(|e| io::Error::other(format!("server task: {e:?}")))??;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, own_buf: Option<usize>) -> io::Result<()> {
    loop {
        // Out of descriptors: back off as the example does.
        let (stream, _) = listener.accept_backoff().await?;
        let _ = stream.set_nodelay(true);
        match own_buf {
            None => ringpoll::spawn(echo(stream)).detach(),
            Some(capacity) => ringpoll::spawn(echo_vec(stream, capacity)).detach(),
        }
    }
}

/// The echo example's task, the example's own code, so the idle-memory figure is the
/// shipped example's.
#[path = "../../../examples/echo/connection.rs"]
mod connection;
use connection::echo;

async fn echo_vec(stream: TcpStream, capacity: usize) -> io::Result<()> {
    let mut buf = Vec::with_capacity(capacity);
    loop {
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}
