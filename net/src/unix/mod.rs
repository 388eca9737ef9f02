//! Unix domain sockets: a stream listener bound to a path, streams, and datagram sockets.

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;

use std::io;
use std::path::Path;

use ringpoll_reactor::SockAddr;
use socket2::{Domain, Socket, Type};

use crate::socket;

/// A new AF_UNIX socket of `ty` bound to `path`.
fn bind(path: &Path, ty: Type) -> io::Result<Socket> {
    let socket = socket::new(Domain::UNIX, ty)?;
    socket.bind(&path_addr(path)?)?;
    Ok(socket)
}

/// `path` as socket2's address, after the checks ringpoll's connect makes (and std's):
/// socket2 alone takes a path holding a NUL, as an abstract name when the NUL leads (which
/// connect cannot reach) or else cut at the NUL.
fn path_addr(path: &Path) -> io::Result<socket2::SockAddr> {
    SockAddr::from_unix_path(path)?;
    socket2::SockAddr::unix(path)
}
