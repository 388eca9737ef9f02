//! The floor: an edge-triggered epoll loop per pinned core, no runtime, no tasks. Each socket
//! is drained to EAGAIN per edge and echoed with a direct write; only a short write copies.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc;

use super::{thread_per_core, ServeOpts};
use crate::sys::Epoll;

const LISTENER: u64 = u64::MAX;
const CONN_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    thread_per_core(opts, ready, core_main)
}

/// One accepted socket and the tail of a reply the kernel did not take yet.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn core_main(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    let listener = crate::sys::reuseport_listener(opts.addr)?;
    let epoll = Epoll::new()?;
    epoll.add(listener.as_raw_fd(), (libc::EPOLLIN | libc::EPOLLET) as u32, LISTENER)?;
    let _ = ready.send(());
    // Indexed by descriptor: the cheapest lookup, as a hand-written server would do.
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut scratch = vec![0u8; opts.buf.max(1)];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    loop {
        let n = epoll.wait(&mut events, -1)?;
        for ev in &events[..n] {
            let token = ev.u64;
            if token == LISTENER {
                accept_all(&listener, &epoll, &mut conns)?;
            } else if let Some(slot) = conns.get_mut(token as usize) {
                if slot.as_mut().is_some_and(|conn| !serve_conn(conn, &mut scratch)) {
                    *slot = None;
                }
            }
        }
    }
}

fn accept_all(listener: &TcpListener, epoll: &Epoll, conns: &mut Vec<Option<Conn>>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                let _ = stream.set_nodelay(true);
                let fd = stream.as_raw_fd() as usize;
                epoll.add(stream.as_raw_fd(), CONN_EVENTS, fd as u64)?;
                if conns.len() <= fd {
                    conns.resize_with(fd + 1, || None);
                }
                conns[fd] = Some(Conn { stream, pending: Vec::new() });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors or a connection that died in the queue: keep serving.
            Err(_) => return Ok(()),
        }
    }
}

/// Flushes what is pending, then echoes until the socket runs dry. False: close it.
fn serve_conn(conn: &mut Conn, scratch: &mut [u8]) -> bool {
    match flush(conn) {
        Ok(true) => {}
        Ok(false) => return true,
        Err(_) => return false,
    }
    loop {
        match conn.stream.read(scratch) {
            Ok(0) => return false,
            Ok(n) => match write_or_keep(conn, &scratch[..n]) {
                Ok(true) => {}
                // The peer is slow: stop reading until EPOLLOUT says the reply can go on.
                Ok(false) => return true,
                Err(_) => return false,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes `data`; whatever the kernel does not take is kept. True if all of it went.
fn write_or_keep(conn: &mut Conn, data: &[u8]) -> io::Result<bool> {
    let mut sent = 0;
    while sent < data.len() {
        match conn.stream.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.pending.extend_from_slice(&data[sent..]);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Sends the pending tail. True once nothing is left.
fn flush(conn: &mut Conn) -> io::Result<bool> {
    if conn.pending.is_empty() {
        return Ok(true);
    }
    let pending = std::mem::take(&mut conn.pending);
    let done = write_or_keep(conn, &pending)?;
    Ok(done)
}
