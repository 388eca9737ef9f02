use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use std::time::{Duration, Instant};

use ringpoll_reactor::drain::until_draining;
use ringpoll_reactor::{Interest, Source};

use super::TcpStream;
use crate::socket;

/// Pending connections the kernel queues per listener before refusing more.
const BACKLOG: i32 = 1024;

/// A TCP listener bound on the current core.
///
/// `bind` sets SO_REUSEADDR and SO_REUSEPORT, so every core binds its own listener on the
/// same port and the kernel spreads incoming connections across them:
///
/// ```no_run
/// use ringpoll_core::Runtime;
/// use ringpoll_net::TcpListener;
///
/// let rt = Runtime::builder().build()?;
/// for server in rt.run_on_each_core(|_core| async move {
///     let listener = TcpListener::bind("127.0.0.1:7000")?;
///     loop {
///         let (stream, _peer) = listener.accept().await?;
///         ringpoll_core::spawn(async move {
///             let (res, _buf) = stream.read(vec![0; 4096]).await;
///             drop(res);
///         });
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
}

impl TcpListener {
    /// Binds and listens on the first address of `addr` that works.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        socket::first_ok(socket::resolve(addr)?, |a| {
            Ok(TcpListener { source: socket::bind_reuseport(a, libc::SOCK_STREAM, Some(BACKLOG))? })
        })
    }

    /// A listener for a listening socket already registered with this core's reactor.
    pub(crate) fn from_source(source: Source) -> TcpListener {
        TcpListener { source }
    }

    /// Waits for a connection. A connection aborted while queued is skipped; running out of
    /// descriptors (EMFILE/ENFILE) is returned as an error, so the caller can back off. Once
    /// the runtime shuts down gracefully, accept fails with an error for which
    /// `ringpoll_reactor::drain::is_shutting_down` is true: the accept loop ends while open
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
    /// wait in the kernel's backlog meanwhile.
    pub async fn accept_backoff(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut delay = Duration::from_millis(5);
        loop {
            match self.accept().await {
                Err(e) if is_resource_exhaustion(&e) => {
                    let pause = async {
                        ringpoll_reactor::time::sleep(delay).await;
                        Ok(())
                    };
                    until_draining(pause).await?;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// Sets the accept deadline (Go's `SetDeadline` on a listener): an accept waiting now, and
    /// every later one, fails with `ErrorKind::TimedOut` once `at` has passed; `None` clears it.
    pub fn set_accept_deadline(&self, at: Option<Instant>) {
        self.source.set_deadline(Interest::Read, at);
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::inet(socket::local_name(self.source.fd())?)
    }
}

impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the descriptor is owned by `source`, which lives as long as the borrow.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.source.fd()) }
    }
}

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.source.fd()
    }
}

/// Errors that go away when descriptors or memory are freed.
fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
