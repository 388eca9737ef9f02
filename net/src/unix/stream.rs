use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::task::{Context, Poll};

use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, PooledBuf, SockAddr, Source};
use socket2::{Domain, Type};

use crate::socket;

/// A Unix stream connection on the current core.
///
/// The same owned-buffer API as [`TcpStream`](crate::TcpStream), deadlines included; methods
/// take `&self`, so one task can read while another writes, and several readers (or writers)
/// take turns. Options ringpoll does not wrap, such as the peer's credentials
/// (SO_PEERCRED), are reached through `AsFd` (socket2's `SockRef`), as on
/// [`TcpStream`](crate::TcpStream).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::UnixStream;
///
/// let stream = UnixStream::connect("/tmp/ringpoll.sock").await?;
/// let (n, buf) = stream.read(Vec::with_capacity(64)).await;
/// println!("{:?}", &buf[..n?]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UnixStream {
    source: Source,
}

impl UnixStream {
    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<UnixStream> {
        Ok(UnixStream { source: Source::new_stream(fd)? })
    }

    /// Connects to the socket at `path`: `NotFound` if nothing is there, `ConnectionRefused`
    /// if the file is not a listening socket. A path holding a NUL is `InvalidInput`, so an
    /// abstract name cannot be reached here: connect a std stream (`connect_addr`) and take it
    /// over with [`UnixStream::from_std`]. While the listener's backlog is full it waits
    /// for room, as a blocking connect does (bound it with a `timeout`).
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let addr = SockAddr::from_unix_path(path.as_ref())?;
        let stream = UnixStream::from_fd(socket::new(Domain::UNIX, Type::STREAM)?.into())?;
        // A full backlog is waited out by the op (see ringpoll_reactor's op/connect.rs).
        stream.source.connect(addr).await?;
        Ok(stream)
    }

    /// A connected pair of anonymous streams (socketpair), both on the current core.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = ringpoll_reactor::sys::socketpair(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok((UnixStream::from_fd(a)?, UnixStream::from_fd(b)?))
    }

    /// Reads whatever arrives next into a buffer lent by the core's pool (at most
    /// [`POOL_BUF_SIZE`](crate::POOL_BUF_SIZE) bytes); empty is end of stream. The buffer is
    /// taken when data arrives, so a connection parked here holds none; dropping the
    /// [`PooledBuf`] gives it back. It can be written straight back out
    /// (`write_all(buf)`). Dropping the future loses nothing.
    ///
    /// ```no_run
    /// # async fn echo(stream: ringpoll::net::UnixStream) -> std::io::Result<()> {
    /// loop {
    ///     let buf = stream.read_pooled().await?;
    ///     if buf.is_empty() {
    ///         return Ok(());
    ///     }
    ///     stream.write_all(buf).await.0?;
    /// }
    /// # }
    /// ```
    pub fn read_pooled(&self) -> impl Future<Output = io::Result<PooledBuf>> + '_ {
        self.source.read_pooled()
    }

    /// [`read_pooled`](Self::read_pooled) in poll style, for compatibility layers that keep
    /// no future (see [`Source::poll_read_pooled`]).
    ///
    /// ```no_run
    /// # async fn demo(stream: ringpoll::net::UnixStream) -> std::io::Result<()> {
    /// let buf = std::future::poll_fn(|cx| stream.poll_read_pooled(cx)).await?;
    /// println!("{} bytes (0: end of stream)", buf.len());
    /// # Ok(()) }
    /// ```
    pub fn poll_read_pooled(&self, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        self.source.poll_read_pooled(cx)
    }

    /// Reads into `buf` (from its start, up to its capacity; a `Vec`'s length becomes the
    /// count, a `Box<[u8]>` keeps its length). `Ok(0)` is end of stream; a buffer with no
    /// room is `InvalidInput`. Read into `buf.spare()` to append instead.
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.read(buf)
    }

    /// Copies the bytes that have arrived into `buf`, as [`read`](Self::read) would, but
    /// leaves them for the next read (MSG_PEEK): a proxy can sniff a protocol before it
    /// picks a handler. Waits until something arrives, not until `buf` is full: peek again
    /// for more. `Ok(0)` is end of stream.
    ///
    /// ```no_run
    /// # async fn demo(stream: ringpoll::net::UnixStream) -> std::io::Result<()> {
    /// let (n, head) = stream.peek(vec![0u8; 3]).await;
    /// let tls = n? >= 1 && head[0] == 0x16; // a TLS handshake record
    /// let (n, all) = stream.read(vec![0u8; 4096]).await; // the peeked bytes come again
    /// # let _ = (tls, n, all); Ok(()) }
    /// ```
    pub fn peek<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.peek(buf)
    }

    /// Writes some of `buf`'s bytes; returns how many.
    pub fn write<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.write(buf)
    }

    /// Writes all of `buf`.
    pub fn write_all<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<(), B>> + '_ {
        self.source.write_all(buf)
    }

    /// Writes several buffers in one gathered send; returns how many bytes went. At most
    /// 1,024 buffers (UIO_MAXIOV) go in one call, as with std's `write_vectored`.
    pub fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> impl Future<Output = BufResult<usize, Vec<B>>> + '_ {
        self.source.writev(bufs)
    }

    crate::deadlines::impl_deadlines!();

    crate::readiness::impl_try_stream!(UnixStream);

    /// Shuts down the read half, the write half (the peer reads EOF), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.shutdown(how)
    }

    /// Readiness-based read into a borrowed slice, without an internal copy (`AsyncRead`).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.source.poll_recv(cx, buf)
    }

    /// Readiness-based write from a borrowed slice (`AsyncWrite`).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.source.poll_send(cx, buf)
    }

    /// The local address (unnamed for a connecting client).
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        socket::local_name(self.source.fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        socket::peer_name(self.source.fd())
    }

    /// The pending socket error (SO_ERROR), if any, clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.take_error()
    }

    /// The registered descriptor, for helpers that drive it directly (splice).
    pub fn as_source(&self) -> &Source {
        &self.source
    }

    /// Takes a connected std stream (made non-blocking) onto the current core.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_fd(stream.into())
    }

    /// Gives the connection back to std, still non-blocking (call `set_nonblocking(false)`
    /// for blocking I/O). As with [`TcpStream::into_std`](crate::TcpStream::into_std), bytes a
    /// dropped or pooled read had already received on io_uring stay with ringpoll: convert a
    /// stream no read has been cut short on.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(socket::into_std(self.source)?.into())
    }

    pub(crate) fn into_source(self) -> Source {
        self.source
    }
}

socket::impl_try_from_std!(UnixStream, std::os::unix::net::UnixStream);
socket::impl_as_fd!(UnixStream);
