//! UDP: datagram sockets bound per core with SO_REUSEPORT.

mod options;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, SockAddr, Source};
use socket2::SockRef;

use crate::lookup;
use crate::port_claims::{self, PortClaim};
use crate::{socket, UdpBuilder};

/// A UDP socket on the current core.
///
/// `bind` sets SO_REUSEPORT, so every core can bind its own socket on the same port and the
/// kernel spreads datagrams across them by source address. The port is shared with this
/// process's own sockets only: a port another process holds fails with `AddrInUse`
/// ([`UdpBuilder::reuseport_across_processes`] joins it on purpose), and port 0 gets a port
/// no other socket has.
///
/// Datagram I/O takes owned buffers, as [`TcpStream`](crate::TcpStream) does, with the same
/// deadlines (Go's `PacketConn`). Several tasks receiving on one socket take turns, each
/// datagram going to one of them; a datagram a dropped receive took (io_uring) goes, sender
/// included, to the next receive.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ringpoll::net::UdpSocket;
///
/// let socket = UdpSocket::bind("127.0.0.1:9000")?;
/// let (res, buf) = socket.recv_from(Vec::with_capacity(1500)).await;
/// let (n, peer) = res?;
/// let (res, _) = socket.send_to(buf, peer).await;
/// assert_eq!(res?, n);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    source: Source,
    /// This socket's share of its port among the process's SO_REUSEPORT sockets (`None`
    /// without SO_REUSEPORT). Declared after `source`, so the descriptor closes first.
    _claim: Option<PortClaim>,
}

impl UdpSocket {
    /// Binds to the first address of `addr` that works, with SO_REUSEPORT shared within this
    /// process ([`UdpBuilder`] sets other options, or turns SO_REUSEPORT off). A host name is
    /// resolved here, by std's resolver in the calling thread (it may wait on DNS, stalling the
    /// core): bind numeric addresses on a core, or resolve first with
    /// [`lookup_host`](crate::lookup_host).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpBuilder::new().bind(addr)
    }

    pub(crate) fn from_socket(socket: socket2::Socket, claim: Option<PortClaim>) -> io::Result<UdpSocket> {
        Ok(UdpSocket { source: Source::new(socket.into())?, _claim: claim })
    }

    /// Takes a bound std socket onto the current core (making it non-blocking). With
    /// SO_REUSEPORT set on it, its port counts as this process's from now on, so the other
    /// cores can `bind` it too.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        let claim = port_claims::adopt(SockRef::from(&socket))?;
        Ok(UdpSocket { source: socket::from_std(socket.into(), false)?, _claim: claim })
    }

    /// Gives the socket back to std, still non-blocking. On io_uring, a datagram that a
    /// dropped `recv_from` had already received stays with ringpoll and is lost. The port no
    /// longer counts as one this process holds (see [`UdpSocket::from_std`]).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(socket::into_std(self.source)?.into())
    }

    /// Sends `buf` as one datagram to `target` (to its first address, as tokio's `send_to`);
    /// returns how many bytes were sent. `target` is anything [`connect`](Self::connect)
    /// takes: a `SocketAddr`, `(ip, port)`, `"host:port"`; a host name is resolved on the
    /// blocking pool ([`lookup_host`](crate::lookup_host)), a numeric address in place.
    pub async fn send_to<B: IoBuf, A: lookup::ToSocketAddrs>(&self, buf: B, target: A) -> BufResult<usize, B> {
        match lookup::first(target).await {
            Ok(addr) => self.source.send_to(buf, SockAddr::from_inet(addr)).await,
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives one datagram into `buf` (from its start, up to its capacity; the rest of a
    /// longer datagram is discarded) and the sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        inet_sender(self.source.recv_from(buf).await)
    }

    /// Copies the next datagram into `buf` with its sender, as [`recv_from`](Self::recv_from)
    /// does, but leaves it queued (MSG_PEEK): the next receive or peek gets it again. A
    /// buffer shorter than the datagram gets its start, and the datagram stays whole.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UdpSocket) -> std::io::Result<()> {
    /// let (res, header) = socket.peek_from(vec![0u8; 4]).await;
    /// let (_, from) = res?;
    /// println!("{from} sent a datagram starting {header:?}");
    /// let (res, whole) = socket.recv_from(Vec::with_capacity(1500)).await;
    /// assert_eq!(res?.1, from);
    /// # drop(whole); Ok(()) }
    /// ```
    pub async fn peek_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        inet_sender(self.source.peek_from(buf).await)
    }

    /// Copies the next datagram into `buf`, as [`peek_from`](Self::peek_from), without its
    /// sender: for a connected socket, whose datagrams come from its peer.
    pub async fn peek<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let (res, buf) = self.source.peek_from(buf).await;
        (res.map(|(n, _from)| n), buf)
    }

    /// Sets the default destination for [`UdpSocket::send`] and filters what
    /// [`UdpSocket::recv`] receives to datagrams from `addr`. ICMP errors for that peer
    /// (port unreachable) are then reported by later calls as `ConnectionRefused`.
    pub async fn connect<A: lookup::ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let mut last = None;
        for a in lookup::resolve(addr).await? {
            match self.source.connect(SockAddr::from_inet(a)).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Sends `buf` as one datagram to the connected peer.
    pub fn send<B: IoBuf>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.write(buf)
    }

    /// Receives one datagram from the connected peer into `buf`.
    pub fn recv<B: IoBufMut>(&self, buf: B) -> impl Future<Output = BufResult<usize, B>> + '_ {
        self.source.read(buf)
    }

    crate::deadlines::impl_deadlines!();

    crate::readiness::impl_try_datagram!(UdpSocket);

    /// Receives one datagram into `buf` with its sender, without waiting; `WouldBlock` says
    /// none is queued, and clears the readiness [`readable`](Self::readable) waits on. The
    /// loop of a server ported from tokio:
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use ringpoll::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:9000")?;
    /// let mut buf = [0u8; 1500];
    /// loop {
    ///     socket.readable().await?;
    ///     match socket.try_recv_from(&mut buf) {
    ///         Ok((n, peer)) => {
    ///             socket.send_to(buf[..n].to_vec(), peer).await.0?;
    ///         }
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.source.try_recv_from(buf)?;
        Ok((n, socket::inet(from)?))
    }

    /// As [`try_recv_from`](Self::try_recv_from), but the datagram stays queued (MSG_PEEK):
    /// the next receive or peek gets it again.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UdpSocket) -> std::io::Result<()> {
    /// let mut kind = [0u8; 1];
    /// socket.readable().await?;
    /// let (_, from) = socket.try_peek_from(&mut kind)?;
    /// println!("{from} sent a datagram of kind {}", kind[0]);
    /// # Ok(()) }
    /// ```
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.source.try_peek_from(buf)?;
        Ok((n, socket::inet(from)?))
    }

    /// Sends `buf` as one datagram to `target` without waiting; `WouldBlock` says the send
    /// buffer is full, and clears the readiness [`writable`](Self::writable) waits on. It
    /// takes a `SocketAddr`, not a host name: a try cannot wait for a lookup.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UdpSocket) -> std::io::Result<()> {
    /// let peer = "127.0.0.1:9000".parse().unwrap();
    /// socket.writable().await?;
    /// socket.try_send_to(b"ping", peer)?;
    /// # Ok(()) }
    /// ```
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.source.try_send_to(buf, SockAddr::from_inet(target))
    }

    /// Waits for the next datagram and returns its sender, leaving the datagram queued: a
    /// peek of no bytes (MSG_PEEK into an empty buffer), so nothing is copied. For a server
    /// that picks a buffer, or a handler, by who sent.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UdpSocket) -> std::io::Result<()> {
    /// let from = socket.peek_sender().await?;
    /// let (res, datagram) = socket.recv_from(Vec::with_capacity(1500)).await;
    /// assert_eq!(res?.1, from);
    /// # drop(datagram); Ok(()) }
    /// ```
    pub async fn peek_sender(&self) -> io::Result<SocketAddr> {
        let (res, _) = self.peek_from(Vec::new()).await;
        res.map(|(_, from)| from)
    }

    /// The sender of the next datagram, without waiting and leaving it queued, as
    /// [`peek_sender`](Self::peek_sender); `WouldBlock` if none is queued.
    ///
    /// ```no_run
    /// # async fn demo(socket: ringpoll::net::UdpSocket) -> std::io::Result<()> {
    /// socket.readable().await?;
    /// let from = socket.try_peek_sender()?;
    /// println!("next datagram from {from}");
    /// # Ok(()) }
    /// ```
    pub fn try_peek_sender(&self) -> io::Result<SocketAddr> {
        self.try_peek_from(&mut []).map(|(_, from)| from)
    }

    /// Readiness-based receive into a borrowed slice, without an internal copy.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.source.poll_recv(cx, buf)
    }

    /// Readiness-based send to the connected peer from a borrowed slice.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.source.poll_send(cx, buf)
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket::local_addr(SockRef::from(self))
    }

    /// The connected peer's address; `NotConnected` before [`UdpSocket::connect`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket::peer_addr(SockRef::from(self))
    }

    /// The pending socket error (SO_ERROR), if any, clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.take_error()
    }
}

/// A receive's sender as an IP address (a UDP socket receives from nothing else).
fn inet_sender<B>((res, buf): BufResult<(usize, SockAddr), B>) -> BufResult<(usize, SocketAddr), B> {
    (res.and_then(|(n, addr)| Ok((n, socket::inet(addr)?))), buf)
}

socket::impl_try_from_std!(UdpSocket, std::net::UdpSocket);
socket::impl_as_fd!(UdpSocket);
