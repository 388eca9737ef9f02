//! monoio peer: a runtime per pinned core (io_uring or legacy epoll driver), SO_REUSEPORT.

use std::io;
use std::sync::mpsc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use super::{thread_per_core, ServeOpts};

/// Serves until the process is killed.
pub fn serve<D>(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()>
where
    D: monoio::Driver + monoio::Buildable + 'static,
{
    thread_per_core(opts, ready, core_main::<D>)
}

fn core_main<D>(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()>
where
    D: monoio::Driver + monoio::Buildable + 'static,
{
    let mut rt = D::build(monoio::RuntimeBuilder::<D>::new().with_entries(1024))?;
    let buf = opts.buf;
    let std_listener = crate::sys::reuseport_listener(opts.addr)?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(std_listener)?;
        let _ = ready.send(());
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            monoio::spawn(echo(stream, buf));
        }
    })
}

async fn echo(mut stream: TcpStream, capacity: usize) -> io::Result<()> {
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
