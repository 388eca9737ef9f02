use std::io;
use std::path::Path;
use std::time::Instant;

use ringpoll_reactor::drain::until_draining;
use ringpoll_reactor::{Interest, SockAddr, Source};
use socket2::Type;

use super::UnixStream;
use crate::backoff::retry_when_exhausted;
use crate::socket;

/// Pending connections the kernel queues before refusing more.
const BACKLOG: i32 = 1024;

/// A Unix stream listener bound to a filesystem path on the current core.
///
/// Unlike TCP there is no SO_REUSEPORT sharding: a path names one socket, so a server that
/// wants every core to accept binds on one core, or binds one path per core. The path is
/// not removed on drop (as with std): remove it before binding again.
///
/// Dropping the listener ends the connections that reached it and no accept returned. The
/// kernel resets those (`ConnectionReset` for the client); on io_uring, where the multishot
/// accept armed by a first accept takes arriving connections before an accept asks, a
/// client that has sent nothing reads an end of stream instead: a Unix socket has no reset
/// that user space can send. A client that sent bytes is reset on both drivers.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::UnixListener;
///
/// let listener = UnixListener::bind("/tmp/ringpoll.sock")?;
/// let (stream, _peer) = listener.accept().await?;
/// let (res, _) = stream.write_all(b"hello".to_vec()).await;
/// res?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UnixListener {
    source: Source,
}

impl UnixListener {
    /// Binds to `path` and listens. An existing file there is `AddrInUse`; a path of 108 bytes
    /// or more, or holding a NUL, is `InvalidInput` (as std). Paths only: a Linux abstract
    /// name is not bound here, but a std listener bound to one (`bind_addr` with
    /// `SocketAddrExt::from_abstract_name`) works through [`UnixListener::from_std`], and its
    /// name reads back with [`SockAddr::as_abstract_name`].
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let socket = super::bind(path.as_ref(), Type::STREAM)?;
        socket.listen(BACKLOG)?;
        Ok(UnixListener { source: Source::new(socket.into())? })
    }

    /// Takes a listening std socket onto the current core (making it non-blocking).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener { source: socket::from_std(listener.into(), false)? })
    }

    /// Gives the socket back to std, still listening and non-blocking (call
    /// `set_nonblocking(false)` for blocking accepts). On io_uring, connections that ringpoll
    /// took off the kernel's queue and no accept has returned are closed (TCP ones reset),
    /// not handed over: after a first accept, the multishot accept it armed keeps taking
    /// arriving connections (up to 64) whether or not an accept waits, and a dropped accept
    /// may have taken one. Convert a listener before its first accept to hand over all.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(socket::into_std(self.source)?.into())
    }

    /// Waits for a connection; returns the stream and the peer's address (usually unnamed).
    pub async fn accept(&self) -> io::Result<(UnixStream, SockAddr)> {
        let (fd, addr) = until_draining(self.source.accept()).await?;
        self.source.reactor().stats().accepted.bump();
        Ok((UnixStream::from_fd(fd)?, addr))
    }

    /// Accepts like [`UnixListener::accept`], but rides out descriptor exhaustion as
    /// [`TcpListener::accept_backoff`](crate::TcpListener::accept_backoff) does: on EMFILE,
    /// ENFILE, ENOBUFS or ENOMEM it sleeps (5 ms, doubling up to 1 s) and tries again. The
    /// connections wait in the kernel's backlog meanwhile, and the accept deadline bounds the
    /// whole call, its sleeps included.
    pub async fn accept_backoff(&self) -> io::Result<(UnixStream, SockAddr)> {
        retry_when_exhausted(&self.source, || self.accept()).await
    }

    /// Sets the accept deadline, as [`TcpListener::set_accept_deadline`](crate::TcpListener::set_accept_deadline)
    /// does: an accept waiting now, and every later one, fails with `ErrorKind::TimedOut` once
    /// `at` has passed; `None` clears it.
    pub fn set_accept_deadline(&self, at: Option<Instant>) {
        self.source.set_deadline(Interest::Read, at);
    }

    /// The bound address; [`SockAddr::as_unix_path`] gives the path ([`SockAddr::as_abstract_name`]
    /// an abstract name).
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        socket::local_name(self.source.fd())
    }
}

socket::impl_try_from_std!(UnixListener, std::os::unix::net::UnixListener);
socket::impl_as_fd!(UnixListener);
