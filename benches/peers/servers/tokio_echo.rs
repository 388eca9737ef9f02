//! tokio peer: a current_thread runtime per pinned core, one SO_REUSEPORT listener each.

use std::io;
use std::sync::mpsc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{thread_per_core, ServeOpts};

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    thread_per_core(opts, ready, core_main)
}

fn core_main(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let buf = opts.buf;
    let std_listener = crate::sys::reuseport_listener(opts.addr)?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        let _ = ready.send(());
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(echo(stream, buf));
        }
    })
}

async fn echo(mut stream: TcpStream, capacity: usize) -> io::Result<()> {
    // Spare capacity, not a zeroed buffer: the same untouched allocation the others make.
    let mut buf = Vec::with_capacity(capacity);
    loop {
        buf.clear();
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        stream.write_all(&buf).await?;
    }
}
