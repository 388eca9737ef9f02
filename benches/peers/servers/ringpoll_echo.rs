//! ringpoll: the same server as examples/echo.rs, on the driver asked for: pooled reads, so
//! the buffer size asked for does not apply (a connection borrows a buffer of the core's pool
//! only while bytes are in hand).

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::{DriverChoice, Runtime};

use super::ServeOpts;

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, driver: DriverChoice, ready: mpsc::Sender<()>) -> io::Result<()> {
    let rt = Runtime::builder().cores(opts.cpus.clone()).driver(driver).build()?;
    let addr = opts.addr;
    let servers = rt.run_on_each_core(move |_core| {
        let ready = ready.clone();
        async move {
            let listener = TcpListener::bind(addr)?;
            let _ = ready.send(());
            accept_loop(listener).await
        }
    });
    for server in servers {
        server.join().map_err(|e| io::Error::other(format!("server task: {e:?}")))??;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                ringpoll::spawn(echo(stream)).detach();
            }
            // Out of descriptors: back off as the example does.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                ringpoll::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn echo(stream: TcpStream) -> io::Result<()> {
    loop {
        let buf = stream.read_pooled().await?;
        if buf.is_empty() {
            return Ok(());
        }
        stream.write_all(buf).await.0?;
    }
}
