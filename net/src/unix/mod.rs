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
    // The checks connect makes (and std's): socket2 alone binds a path holding a NUL, as an
    // abstract name when the NUL leads (which connect cannot reach) or else cut at the NUL.
    SockAddr::from_unix_path(path)?;
    let socket = socket::new(Domain::UNIX, ty)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    Ok(socket)
}
