//! ringpoll: the same server as examples/echo.rs, on the driver asked for.

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{DriverChoice, Runtime};

use super::ServeOpts;

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, driver: DriverChoice, ready: mpsc::Sender<()>) -> io::Result<()> {
    let rt = Runtime::builder().cores(opts.cpus.clone()).driver(driver).build()?;
    let (addr, buf) = (opts.addr, opts.buf);
    let servers = rt.run_on_each_core(move |_core| {
        let ready = ready.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            let _ = ready.send(());
            accept_loop(listener, buf).await
        }
    });
    for server in servers {
        server.join().map_err(|e| io::Error::other(format!("server task: {e:?}")))??;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, buf: usize) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                ringpoll::spawn(echo(stream, buf)).detach();
            }
            // Out of descriptors: back off as the example does.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn echo(stream: TcpStream, capacity: usize) -> io::Result<()> {
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
