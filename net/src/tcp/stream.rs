use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};
use std::time::Duration;

use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, PooledBuf, SockAddr, Source};
use socket2::SockRef;

use crate::builder::{self, Keepalive, TcpBuilder};
use crate::lookup::ToSocketAddrs;
use crate::socket;

/// A TCP connection on the current core.
///
/// I/O takes owned buffers and gives them back (`read(buf).await -> (result, buf)`): on
/// io_uring the kernel fills the buffer after the call is made, so the runtime must own it
/// until the completion, even if the future is dropped. Methods take `&self`, so one task can
/// read while another writes (share the stream with an `Rc`); several tasks reading (or
/// writing) take turns in arrival order, as with Go's `net.Conn`.
///
/// A write future dropped before it completed has sent nothing on epoll; on io_uring the
/// kernel may already have sent some or all of its bytes. `poll_write` (and the compat
/// traits) never send anything when they return `Pending`, on either driver.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::TcpStream;
///
/// let stream = TcpStream::connect("127.0.0.1:7000").await?;
/// let (res, _) = stream.write_all(b"ping").await; // any IoBuf: a literal, a Vec, Bytes...
/// res?;
/// let (n, buf) = stream.read(Vec::with_capacity(64)).await;
/// println!("{:?}", &buf[..n?]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpStream {
    source: Source,
}

impl TcpStream {
    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream { source: Source::new_stream(fd)? })
    }

    /// Connects to the first address of `addr` that accepts ([`TcpBuilder`] sets options
    /// first, or binds a local address). A host name is resolved on the blocking pool
    /// ([`lookup_host`](crate::lookup_host)), never on the core thread. A closed port fails
    /// with `ConnectionRefused`; an address that never answers (its SYNs dropped: a firewall,
    /// a full accept queue) keeps the connect waiting as long as the kernel retries, some two
    /// minutes by default (`net.ipv4.tcp_syn_retries`), so bound it with
    /// [`ringpoll::time::timeout`](ringpoll_reactor::time::timeout). Dropping the future
    /// closes the socket.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        TcpBuilder::new().connect(addr).await
    }

    /// Connects to `addr`.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpBuilder::new().connect_addr(addr).await
    }

    /// Registers `socket` (with its options set) and connects it to `addr`.
    pub(crate) async fn connect_socket(socket: socket2::Socket, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_fd(socket.into())?;
        stream.source.connect(SockAddr::from_inet(addr)).await?;
        Ok(stream)
    }

    /// Reads whatever arrives next into a buffer lent by the core's pool (at most
    /// [`POOL_BUF_SIZE`](crate::POOL_BUF_SIZE) bytes); empty is end of stream. The buffer is
    /// taken when data arrives, so a connection parked here holds none; dropping the
    /// [`PooledBuf`] gives it back. It can be written straight back out
    /// (`write_all(buf)`). Dropping the future loses nothing.
    ///
    /// ```no_run
    /// # async fn echo(stream: ringpoll::net::TcpStream) -> std::io::Result<()> {
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
    /// # async fn demo(stream: ringpoll::net::TcpStream) -> std::io::Result<()> {
    /// let buf = std::future::poll_fn(|cx| stream.poll_read_pooled(cx)).await?;
    /// println!("{} bytes (0: end of stream)", buf.len());
    /// # Ok(()) }
    /// ```
    pub fn poll_read_pooled(&self, cx: &mut Context<'_>) -> Poll<io::Result<PooledBuf>> {
        self.source.poll_read_pooled(cx)
    }

    /// Reads into `buf` (from its start, up to its capacity); afterwards a `Vec` holds exactly
    /// the bytes read (its length is the count), while a buffer of fixed length
    /// (`Box<[u8]>`) keeps its length: slice it to the count. `Ok(0)` is end of stream; a
    /// buffer with no room is `InvalidInput`. To append to the bytes a buffer holds (a
    /// partial message), read into `buf.spare()`.
    pub fn read<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.read(buf)
    }

    /// Copies the bytes that have arrived into `buf`, as [`read`](Self::read) would, but
    /// leaves them for the next read (MSG_PEEK): a proxy can sniff a protocol before it
    /// picks a handler. Waits until something arrives, not until `buf` is full: peek again
    /// for more. `Ok(0)` is end of stream.
    ///
    /// ```no_run
    /// # async fn demo(stream: ringpoll::net::TcpStream) -> std::io::Result<()> {
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

    crate::readiness::impl_try_stream!(TcpStream);

    /// Shuts down the read half, the write half (sends FIN: the peer reads EOF), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.shutdown(how)
    }

    /// Sets TCP_NODELAY (disables Nagle's algorithm).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        SockRef::from(self).set_tcp_nodelay(on)
    }

    /// Whether TCP_NODELAY is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        SockRef::from(self).tcp_nodelay()
    }

    /// Turns keepalive on with `Some` (timing as given) or off with `None`.
    pub fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        builder::set_keepalive(&SockRef::from(self), keepalive)
    }

    /// Sets SO_LINGER: `Some(Duration::ZERO)` makes closing the stream reset the connection
    /// (as [`abort`](Self::abort) does), `None` restores the default background close.
    ///
    /// A lingering close (`Some` of any other duration) is refused with `InvalidInput`: with
    /// it the kernel's close blocks the thread that closes until the peer acknowledges every
    /// byte, up to the timeout, and on a ringpoll core that stalls every other task of the
    /// core. To close gracefully and know the peer got everything, `shutdown(Write)` and read
    /// until end of stream (bounded by a read deadline). The same holds for an option set
    /// behind ringpoll's back (through [`AsFd`](std::os::fd::AsFd), or on a std socket
    /// before `from_std`).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        builder::set_linger(&SockRef::from(self), linger)
    }

    /// SO_LINGER as it is set: `None` (the default background close) or the timeout; see
    /// [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        SockRef::from(self).linger()
    }

    /// Sets IP_TTL, the time-to-live of the IPv4 packets this stream sends (as std's and
    /// tokio's `set_ttl`; an IPv6 socket's hop limit is another option).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        SockRef::from(self).set_ttl_v4(ttl)
    }

    /// IP_TTL: see [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        SockRef::from(self).ttl_v4()
    }

    /// Closes the connection with a reset (RST) instead of FIN: the peer's reads fail with
    /// `ConnectionReset` rather than end, so it cannot take what it received for the whole
    /// message. Bytes not yet sent, or sent and not acknowledged, are discarded. For a
    /// connection that cannot finish its work: an upstream that failed, a protocol error.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use ringpoll::net::TcpStream;
    ///
    /// let client = TcpStream::connect("127.0.0.1:7000").await?;
    /// if TcpStream::connect("127.0.0.1:8000").await.is_err() {
    ///     // Nothing to proxy to: a reset tells the client this was no answer.
    ///     client.abort();
    /// }
    /// # Ok(()) }
    /// ```
    pub fn abort(self) {
        // A socket that refuses the option (there is none for TCP) still closes, with FIN.
        let _ = crate::reset::on_close(&self.source);
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(SockRef::from(self))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(SockRef::from(self))
    }

    /// The pending socket error (SO_ERROR), if any, clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.take_error()
    }

    /// Readiness-based read into a borrowed slice, without an internal copy on either driver:
    /// for compatibility layers (`AsyncRead`).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.source.poll_recv(cx, buf)
    }

    /// Readiness-based write from a borrowed slice (`AsyncWrite`).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.source.poll_send(cx, buf)
    }

    /// The registered socket underneath, for I/O this type does not wrap (splice, custom
    /// syscalls through [`Source::retry`]).
    pub fn as_source(&self) -> &Source {
        &self.source
    }

    /// Gives up the stream's registered socket.
    pub fn into_source(self) -> Source {
        self.source
    }

    /// Takes a connected std stream (made non-blocking) onto the current core.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream { source: socket::from_std(stream.into(), true)? })
    }

    /// Gives the connection back to std, still non-blocking (call `set_nonblocking(false)`
    /// for blocking I/O). On io_uring, bytes that a dropped `read` had already received, and
    /// bytes the multishot recv of a [`read_pooled`](Self::read_pooled) has received and no
    /// read has returned yet, stay with ringpoll and are lost: take them with
    /// [`Source::take_leftovers`] first (it also ends the multishot recv), or convert a stream
    /// no read has been cut short on and no pooled read has run on. A reset those reads took
    /// (the kernel reports it once) is lost the same way: std then reads end of stream.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(socket::into_std(self.source)?.into())
    }
}

socket::impl_try_from_std!(TcpStream, std::net::TcpStream);

socket::impl_as_fd!(TcpStream);
