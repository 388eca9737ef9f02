//! Unix domain stream sockets: a listener bound to a path, and streams.

mod listener;
mod stream;

pub use listener::UnixListener;
pub use stream::UnixStream;

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use ringpoll_reactor::{SockAddr, Source};

use crate::socket;

/// A new AF_UNIX stream socket bound to `path`, optionally listening.
fn bind(path: &Path, backlog: Option<i32>) -> io::Result<Source> {
    let addr = SockAddr::from_unix_path(path)?;
    let fd = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
    socket::bind(fd.as_raw_fd(), &addr)?;
    if let Some(backlog) = backlog {
        socket::listen(fd.as_raw_fd(), backlog)?;
    }
    Source::new(fd)
}
