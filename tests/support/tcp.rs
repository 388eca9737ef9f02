//! Loopback TCP: a connected pair, an echo server, a round trip, a reset.

use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use ringpoll::net::{TcpListener, TcpStream};
use ringpoll::Runtime;

/// A connected loopback pair: (client, server).
pub async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Echoes one connection until EOF; returns how many bytes went through.
pub async fn echo(stream: TcpStream) -> io::Result<u64> {
    let mut total = 0;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (n, b) = stream.read(buf).await;
        let n = n?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
    }
}

/// Accepts `count` connections and echoes each on its own task.
pub async fn echo_server(listener: TcpListener, count: usize) -> io::Result<()> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        let (stream, _) = listener.accept().await?;
        conns.push(ringpoll::spawn(echo(stream)));
    }
    for c in conns {
        c.await.map_err(io::Error::from)??;
    }
    Ok(())
}

/// Sends `data` and reads it back concurrently, returning what came back.
pub async fn round_trip(stream: TcpStream, data: Vec<u8>) -> io::Result<Vec<u8>> {
    let stream = Rc::new(stream);
    let len = data.len();
    let writer = {
        let stream = stream.clone();
        ringpoll::spawn(async move {
            let (res, _) = stream.write_all(data).await;
            res?;
            stream.shutdown(Shutdown::Write)
        })
    };
    let mut got = Vec::with_capacity(len);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            break;
        }
        got.extend_from_slice(&b);
        buf = b;
    }
    writer.await.map_err(io::Error::from)??;
    Ok(got)
}

/// Echoes `data` through a fresh loopback connection on core 0 of `rt`; returns what came back.
pub fn echo_on_core0(rt: &Runtime, data: &'static [u8]) -> Vec<u8> {
    rt.spawn_on(0, move || async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        ringpoll::spawn(echo(server)).detach();
        round_trip(client, data.to_vec()).await
    })
    .join()
    .expect("echo task")
    .expect("echo I/O")
}

/// Makes closing `socket` send RST instead of FIN (SO_LINGER {on, 0}): the peer's next read
/// fails with ConnectionReset.
pub fn set_linger_zero(socket: &impl std::os::fd::AsRawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `linger` is a live struct of the size passed; a closed fd only makes it fail.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
}
