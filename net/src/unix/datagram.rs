use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::task::{Context, Poll};

use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, SockAddr, Source};
use socket2::{Domain, SockRef, Type};

use crate::socket;

/// A Unix datagram socket on the current core, as tokio's `UnixDatagram`.
///
/// Datagram I/O takes owned buffers, as [`UdpSocket`](crate::UdpSocket)'s does, with the same
/// deadlines; several tasks receiving take turns, each datagram going to one of them. A
/// datagram keeps its bounds: a receive gets one whole (the rest of a longer one than the
/// buffer is discarded). Dropping the socket closes it; the path it is bound to is not
/// removed (as with std): remove it before binding again.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::UnixDatagram;
///
/// let server = UnixDatagram::bind("/tmp/ringpoll-dgram.sock")?;
/// let (res, buf) = server.recv_from(Vec::with_capacity(1500)).await;
/// let (n, peer) = res?;
/// if let Some(path) = peer.as_unix_path().filter(|_| !peer.is_unnamed()) {
///     let (res, _) = server.send_to(buf, path).await;
///     assert_eq!(res?, n);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    source: Source,
}

impl UnixDatagram {
    fn from_fd(fd: OwnedFd) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { source: Source::new(fd)? })
    }

    /// A socket bound to `path`. An existing file there is `AddrInUse`; a path of 108 bytes
    /// or more, or holding a NUL, is `InvalidInput` (as std).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(super::bind(path.as_ref(), Type::DGRAM)?.into())
    }

    /// A socket bound to no path: it can send, but a peer cannot answer it (its datagrams
    /// arrive from an unnamed address) unless it is one end of a connection.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(socket::new(Domain::UNIX, Type::DGRAM)?.into())
    }

    /// A connected pair of anonymous sockets (socketpair), both on the current core.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = ringpoll_reactor::sys::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok((UnixDatagram::from_fd(a)?, UnixDatagram::from_fd(b)?))
    }

    /// Sets the default destination for [`send`](Self::send) and receives from the socket at
    /// `path` only. Not async, as tokio's: a Unix datagram connect never waits. `NotFound` if
    /// nothing is there, `ConnectionRefused` if the file there is not a socket.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        SockRef::from(self).connect(&super::path_addr(path.as_ref())?)
    }

    /// Sends `buf` as one datagram to the connected peer; returns how many bytes were sent.
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.write(buf)
    }

    /// Receives one datagram into `buf` (from its start, up to its capacity; the rest of a
    /// longer datagram is discarded).
    pub fn recv<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.read(buf)
    }

    /// Sends `buf` as one datagram to the socket bound to `path`. A path holding a NUL, or too
    /// long, is `InvalidInput`; no socket there is `NotFound` (ENOENT) or `ConnectionRefused`.
    pub async fn send_to<B: IoBuf, P: AsRef<Path>>(&self, buf: B, path: P) -> BufResult<usize, B> {
        match SockAddr::from_unix_path(path.as_ref()) {
            Ok(addr) => self.source.send_to(buf, addr).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives one datagram into `buf`, as [`recv`](Self::recv), and the sender's address:
    /// its path ([`SockAddr::as_unix_path`]), or unnamed ([`SockAddr::is_unnamed`]) for a
    /// sender bound to none.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SockAddr), B> {
        let (res, buf) = self.source.recv_from(buf).await;
        (res.map(|(n, from)| (n, named(from))), buf)
    }

    crate::deadlines::impl_deadlines!();

    crate::readiness::impl_try_datagram!(UnixDatagram);

    /// Receives one datagram into `buf` with its sender's address, without waiting (see
    /// [`recv_from`](Self::recv_from) for what the address holds); `WouldBlock` says none is
    /// queued, and clears the readiness [`readable`](Self::readable) waits on.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UnixDatagram) -> std::io::Result<()> {
    /// let mut buf = [0u8; 1500];
    /// loop {
    ///     socket.readable().await?;
    ///     match socket.try_recv_from(&mut buf) {
    ///         Ok((n, from)) => return Ok(println!("{n} bytes from {from:?}")),
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        let (n, from) = self.source.try_recv_from(buf)?;
        Ok((n, named(from)))
    }

    /// Sends `buf` as one datagram to the socket bound to `path`, without waiting;
    /// `WouldBlock` says the peer's queue is full, and clears the readiness
    /// [`writable`](Self::writable) waits on. Path errors as [`send_to`](Self::send_to).
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UnixDatagram) -> std::io::Result<()> {
    /// socket.writable().await?;
    /// socket.try_send_to(b"ping", "/tmp/ringpoll-dgram.sock")?;
    /// # Ok(()) }
    /// ```
    pub fn try_send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.source.try_send_to(buf, SockAddr::from_unix_path(path.as_ref())?)
    }

    /// Copies the next datagram into `buf` with its sender, as
    /// [`recv_from`](Self::recv_from) does, but leaves it queued (MSG_PEEK): the next
    /// receive or peek gets it again. A buffer shorter than the datagram gets its start.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UnixDatagram) -> std::io::Result<()> {
    /// let (res, header) = socket.peek_from(vec![0u8; 4]).await;
    /// let (_, from) = res?;
    /// println!("{from:?} sent a datagram starting {header:?}");
    /// # Ok(()) }
    /// ```
    pub async fn peek_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SockAddr), B> {
        let (res, buf) = self.source.peek_from(buf).await;
        (res.map(|(n, from)| (n, named(from))), buf)
    }

    /// Copies the next datagram into `buf`, as [`peek_from`](Self::peek_from), without its
    /// sender: for a connected socket, or a [`pair`](Self::pair).
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UnixDatagram) -> std::io::Result<()> {
    /// let (n, buf) = socket.peek(vec![0u8; 64]).await;
    /// println!("next datagram starts {:?}", &buf[..n?]);
    /// # Ok(()) }
    /// ```
    pub async fn peek<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = self.source.peek_from(buf).await;
        (res.map(|(n, _from)| n), buf)
    }

    /// Readiness-based receive of one datagram into a borrowed slice, without an internal
    /// copy.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.source.poll_recv(cx, buf)
    }

    /// Readiness-based send of one datagram to the connected peer from a borrowed slice.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.source.poll_send(cx, buf)
    }

    /// Shuts down receiving, sending (a later send fails with `BrokenPipe`), or both, as
    /// std's `UnixDatagram::shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.shutdown(how)
    }

    /// The pending socket error (SO_ERROR), if any, clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.take_error()
    }

    /// The bound address: its path, or unnamed for an unbound socket or a [`pair`](Self::pair).
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        socket::local_name(self.source.fd())
    }

    /// The connected peer's address; `NotConnected` before [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        socket::peer_name(self.source.fd())
    }

    /// Takes a std socket onto the current core (making it non-blocking).
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { source: socket::from_std(socket.into(), false)? })
    }

    /// Gives the socket back to std, still non-blocking. On io_uring, a datagram that a
    /// dropped receive had already taken stays with ringpoll and is lost.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        Ok(socket::into_std(self.source)?.into())
    }
}

/// A sender's address as [`SockAddr::is_unnamed`] knows an unnamed one: recvmsg gives a
/// datagram from a socket bound to no path no address at all.
fn named(from: SockAddr) -> SockAddr {
    match from.is_empty() {
        true => SockAddr::unnamed_unix(),
        false => from,
    }
}

socket::impl_try_from_std!(UnixDatagram, std::os::unix::net::UnixDatagram);
socket::impl_as_fd!(UnixDatagram);
