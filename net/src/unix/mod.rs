//! Unix domain stream sockets: a listener bound to a path, and streams.

mod listener;
mod stream;

pub use listener::UnixListener;
pub use stream::UnixStream;

use std::io;
use std::path::Path;

use ringpoll_reactor::{SockAddr, Source};
use socket2::{Domain, Type};

use crate::socket;

/// A new AF_UNIX stream socket bound to `path`, optionally listening.
fn bind(path: &Path, backlog: Option<i32>) -> io::Result<Source> {
    // The checks connect makes (and std's): socket2 alone binds a path holding a NUL, as an
    // abstract name when the NUL leads (which connect cannot reach) or else cut at the NUL.
    SockAddr::from_unix_path(path)?;
    let socket = socket::new(Domain::UNIX, Type::STREAM)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    if let Some(backlog) = backlog {
        socket.listen(backlog)?;
    }
    Source::new(socket.into())
}
