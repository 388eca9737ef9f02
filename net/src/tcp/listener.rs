use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use ringpoll_reactor::drain::until_draining;
use ringpoll_reactor::{Interest, Source};
use socket2::SockRef;

use super::TcpStream;
use crate::backoff::retry_when_exhausted;
use crate::port_claims::{self, PortClaim};
use crate::{socket, TcpBuilder};

/// A TCP listener bound on the current core.
///
/// `bind` sets SO_REUSEADDR and SO_REUSEPORT, so every core binds its own listener on the
/// same port and the kernel spreads incoming connections across them ([`TcpBuilder`] sets
/// other options, or turns SO_REUSEPORT off). The port is shared with this process's own
/// listeners only: if another process listens on it, `bind` fails with `AddrInUse`, as
/// std's does ([`TcpBuilder::reuseport_across_processes`] joins it on purpose).
///
/// ```no_run
/// use ringpoll::net::TcpListener;
/// use ringpoll::Runtime;
///
/// let rt = Runtime::builder().build()?;
/// for server in rt.run_on_each_core(|_core| async move {
///     let listener = TcpListener::bind("127.0.0.1:7000")?;
///     loop {
///         let (stream, _peer) = listener.accept().await?;
///         ringpoll::spawn(async move {
///             let (res, _buf) = stream.read(Vec::with_capacity(4096)).await;
///             drop(res);
///         })
///         .detach();
///     }
///     #[allow(unreachable_code)]
///     Ok::<(), std::io::Error>(())
/// }) {
///     server.join().expect("server task")?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    source: Source,
    /// This socket's share of its port among the process's SO_REUSEPORT sockets (`None`
    /// without SO_REUSEPORT). Declared after `source`, so the descriptor closes first.
    _claim: Option<PortClaim>,
}

impl TcpListener {
    /// Binds and listens on the first address of `addr` that works, with [`TcpBuilder`]'s
    /// defaults. A host name is resolved here, by std's resolver in the calling thread (it
    /// may wait on DNS, stalling the core): bind numeric addresses on a core, or resolve
    /// first with [`lookup_host`](crate::lookup_host).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpBuilder::new().listen(addr)
    }

    pub(crate) fn from_socket(socket: socket2::Socket, claim: Option<PortClaim>) -> io::Result<TcpListener> {
        Ok(TcpListener { source: Source::new(socket.into())?, _claim: claim })
    }

    /// Takes a listening std socket onto the current core (making it non-blocking). With
    /// SO_REUSEPORT set on it, its port counts as this process's from now on, so the other
    /// cores can `bind` it too.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        let claim = port_claims::adopt(SockRef::from(&listener))?;
        Ok(TcpListener { source: socket::from_std(listener.into(), false)?, _claim: claim })
    }

    /// Gives the socket back to std, still listening and non-blocking (call
    /// `set_nonblocking(false)` for blocking accepts). On io_uring, connections that ringpoll
    /// took off the kernel's queue and no accept has returned are closed (TCP ones reset),
    /// not handed over: after a first accept, the multishot accept it armed keeps taking
    /// arriving connections (up to 64) whether or not an accept waits, and a dropped accept
    /// may have taken one. Convert a listener before its first accept to hand over all. The
    /// port no longer counts as one this process holds: a later `bind` of it is refused while
    /// the std listener lives.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(socket::into_std(self.source)?.into())
    }

    /// Waits for a connection. A connection aborted while queued is skipped; running out of
    /// descriptors (EMFILE/ENFILE) is returned as an error, so the caller can back off. Once
    /// the runtime shuts down gracefully, accept fails with an error for which
    /// `ringpoll::shutdown::is_shutting_down` is true: the accept loop ends while open
    /// connections finish.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = until_draining(self.source.accept()).await?;
        self.source.reactor().stats().accepted.bump();
        let peer = socket::inet(addr)?;
        Ok((TcpStream::from_fd(fd)?, peer))
    }

    /// Accepts like [`TcpListener::accept`], but rides out descriptor exhaustion the way Go's
    /// `http.Server` does: on EMFILE, ENFILE, ENOBUFS or ENOMEM it sleeps (5 ms, doubling up
    /// to 1 s) and tries again, instead of spinning on the error or giving up. The connections
    /// wait in the kernel's backlog meanwhile. The accept deadline
    /// ([`set_accept_deadline`](TcpListener::set_accept_deadline)) bounds the whole call, its
    /// sleeps included: it fails with `ErrorKind::TimedOut` at the deadline.
    pub async fn accept_backoff(&self) -> io::Result<(TcpStream, SocketAddr)> {
        retry_when_exhausted(&self.source, || self.accept()).await
    }

    /// Sets the accept deadline (Go's `SetDeadline` on a listener): an accept waiting now, and
    /// every later one, fails with `ErrorKind::TimedOut` once `at` has passed; `None` clears it.
    pub fn set_accept_deadline(&self, at: Option<Instant>) {
        self.source.set_deadline(Interest::Read, at);
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(SockRef::from(self))
    }
}

socket::impl_try_from_std!(TcpListener, std::net::TcpListener);

socket::impl_as_fd!(TcpListener);
