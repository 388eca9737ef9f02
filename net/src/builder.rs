//! Socket builders: the options a socket gets before it binds, listens or connects.
//!
//! [`TcpBuilder`] makes listeners and client streams, [`UdpBuilder`] datagram sockets. Both
//! turn SO_REUSEPORT on unless told otherwise, because one listener per core on the same port
//! is how ringpoll shards connections. The port is shared with this process's own sockets
//! only: a port another process holds fails with `AddrInUse`, as without SO_REUSEPORT, unless
//! [`TcpBuilder::reuseport_across_processes`] says to join it (the guard is in
//! `port_claims.rs`). The options go through socket2, which also makes every socket
//! non-blocking and close-on-exec.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use socket2::{Socket, TcpKeepalive, Type};

use crate::port_claims::{self, PortClaim, Protocol};
use crate::{socket, TcpListener, TcpStream, UdpSocket};

/// Pending connections the kernel queues per listener before refusing more, unless
/// [`TcpBuilder::backlog`] says otherwise.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// TCP keepalive: probe an idle connection, and drop it when the peer stops answering.
///
/// Fields left `None` keep the system's settings (`net.ipv4.tcp_keepalive_*`: 2 hours idle,
/// probes every 75 s, 9 of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keepalive {
    /// How long a connection stays idle before the first probe (TCP_KEEPIDLE).
    pub idle: Option<Duration>,
    /// Time between probes (TCP_KEEPINTVL).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT).
    pub retries: Option<u32>,
}

impl Keepalive {
    fn apply(&self, socket: &socket2::SockRef<'_>) -> io::Result<()> {
        let mut params = TcpKeepalive::new();
        if let Some(idle) = self.idle {
            params = params.with_time(idle);
        }
        if let Some(interval) = self.interval {
            params = params.with_interval(interval);
        }
        if let Some(retries) = self.retries {
            params = params.with_retries(retries);
        }
        socket.set_tcp_keepalive(&params)
    }
}

/// Sets (`Some`) or turns off (`None`) keepalive on a TCP socket.
pub(crate) fn set_keepalive(socket: &socket2::SockRef<'_>, keepalive: Option<Keepalive>) -> io::Result<()> {
    match keepalive {
        Some(k) => k.apply(socket),
        None => socket.set_keepalive(false),
    }
}

/// Sets SO_LINGER to a reset on close (`Some(ZERO)`) or the default (`None`), and refuses a
/// lingering close. With a timeout the kernel's close(2) waits, in the thread that closes,
/// until the peer has acknowledged every byte or the timeout passes: on a ringpoll core that
/// stalls every task of the core for up to the timeout (measured: a 2 s linger to a peer
/// that does not read froze the core for 2 s on both drivers, IORING_OP_CLOSE included, as
/// its final release runs in the submitting thread). tokio deprecated its `set_linger` for
/// the same reason. A sub-second timeout is refused too: SO_LINGER counts whole seconds,
/// so it would be a silent reset.
pub(crate) fn set_linger(socket: &socket2::SockRef<'_>, linger: Option<Duration>) -> io::Result<()> {
    if linger.is_some_and(|d| !d.is_zero()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a lingering close (SO_LINGER with a timeout) would block the core thread on close: \
             use Some(Duration::ZERO) to reset, or shutdown(Write) and read to end of stream",
        ));
    }
    socket.set_linger(linger)
}

/// What TCP and UDP sockets share. `None` leaves the system's default.
#[derive(Debug, Clone)]
struct Common {
    reuseport: bool,
    reuseport_across_processes: bool,
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
    only_v6: Option<bool>,
    tos: Option<u32>,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            reuseport: true,
            reuseport_across_processes: false,
            send_buffer: None,
            recv_buffer: None,
            only_v6: None,
            tos: None,
        }
    }
}

impl Common {
    /// A new socket for `addr` with these options, before bind or connect.
    fn socket(&self, addr: &SocketAddr, ty: Type) -> io::Result<Socket> {
        let socket = socket::for_addr(addr, ty)?;
        if let Some(size) = self.send_buffer {
            socket.set_send_buffer_size(size)?;
        }
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        if let (Some(only), true) = (self.only_v6, addr.is_ipv6()) {
            socket.set_only_v6(only)?;
        }
        match (self.tos, addr) {
            (Some(tos), SocketAddr::V4(_)) => socket.set_tos_v4(tos)?,
            (Some(tos), SocketAddr::V6(_)) => socket.set_tclass_v6(tos)?,
            (None, _) => {}
        }
        Ok(socket)
    }

    /// Binds `socket` to `addr`, with SO_REUSEPORT unless it is off. TCP sockets also get
    /// SO_REUSEADDR, so a restarted server binds over its old connections in TIME_WAIT; UDP
    /// sockets do not, since there it would share the port as SO_REUSEPORT does. A client's
    /// local address goes through here: its port is not guarded (connections from one port
    /// take no traffic from a listener).
    fn bind(&self, socket: &Socket, addr: SocketAddr, protocol: Protocol) -> io::Result<()> {
        self.set_reuse(socket, protocol)?;
        socket.bind(&addr.into())
    }

    /// Binds a listener or UDP socket as [`Common::bind`] does, but with SO_REUSEPORT only
    /// into a port this process holds or no one does (unless across processes): the claim
    /// the socket keeps for as long as it lives.
    fn bind_claimed(&self, socket: &Socket, addr: SocketAddr, protocol: Protocol) -> io::Result<Option<PortClaim>> {
        if !self.reuseport {
            return self.bind(socket, addr, protocol).map(|()| None);
        }
        self.set_reuse(socket, protocol)?;
        port_claims::bind(socket, addr, protocol, self.reuseport_across_processes).map(Some)
    }

    /// SO_REUSEADDR for TCP, SO_REUSEPORT unless it is off.
    fn set_reuse(&self, socket: &Socket, protocol: Protocol) -> io::Result<()> {
        if protocol == Protocol::Tcp {
            socket.set_reuse_address(true)?;
        }
        if self.reuseport {
            socket.set_reuse_port(true)?;
        }
        Ok(())
    }
}

/// Makes the common options settable on both builders, with one doc each.
macro_rules! common_options {
    ($builder:ident, $bind:ident) => {
        /// SO_REUSEPORT on binding (on by default): every core can bind its own socket on the
        /// same port, and the kernel spreads the traffic. The port is shared within this
        /// process only: a port that another process holds fails with `AddrInUse` (see
        /// [`reuseport_across_processes`](Self::reuseport_across_processes)). Off, a second
        /// bind to a port in use fails with `AddrInUse`, even in this process.
        pub fn reuseport(mut self, on: bool) -> Self {
            self.common.reuseport = on;
            self
        }

        /// Lets a SO_REUSEPORT bind join a port that another process holds with
        /// SO_REUSEPORT too (off by default; no effect with `reuseport(false)`). For a
        /// zero-downtime restart: the new server binds while the old one still listens,
        /// and the kernel spreads the traffic over both until the old one closes. Only
        /// sockets of the same user with SO_REUSEPORT can be joined; without this option
        /// such a bind fails with `AddrInUse`, so that two copies of a server started by
        /// mistake do not split the traffic between them.
        ///
        /// ```no_run
        #[doc = concat!("use ringpoll::net::", stringify!($builder), ";")]
        ///
        /// # fn demo() -> std::io::Result<()> {
        /// // Joins the old process's port, if one still holds it.
        #[doc = concat!("let builder = ", stringify!($builder), "::new().reuseport_across_processes(true);")]
        #[doc = concat!("# drop(builder.", stringify!($bind), "(\"0.0.0.0:8080\")?);")]
        /// # Ok(()) }
        /// ```
        pub fn reuseport_across_processes(mut self, on: bool) -> Self {
            self.common.reuseport_across_processes = on;
            self
        }

        /// The kernel's send buffer size (SO_SNDBUF; Linux doubles the value for bookkeeping).
        pub fn send_buffer_size(mut self, bytes: usize) -> Self {
            self.common.send_buffer = Some(bytes);
            self
        }

        /// The kernel's receive buffer size (SO_RCVBUF; Linux doubles the value).
        pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
            self.common.recv_buffer = Some(bytes);
            self
        }

        /// IPV6_V6ONLY for IPv6 sockets: `true` refuses IPv4-mapped traffic on `[::]`.
        /// Ignored for IPv4 addresses.
        pub fn only_v6(mut self, only: bool) -> Self {
            self.common.only_v6 = Some(only);
            self
        }

        /// The type of service byte (IP_TOS; IPV6_TCLASS for IPv6), e.g. a DSCP mark.
        pub fn tos(mut self, tos: u32) -> Self {
            self.common.tos = Some(tos);
            self
        }
    };
}

/// Options for TCP listeners and client streams, applied before bind or connect.
///
/// ```no_run
/// use std::time::Duration;
///
/// use ringpoll::net::{Keepalive, TcpBuilder};
///
/// # async fn demo() -> std::io::Result<()> {
/// let builder = TcpBuilder::new().reuseport(false).backlog(4096).nodelay(true).keepalive(Keepalive {
///     idle: Some(Duration::from_secs(60)),
///     interval: Some(Duration::from_secs(10)),
///     retries: Some(3),
/// });
/// let listener = builder.listen("127.0.0.1:7000")?; // accepted streams inherit the options
/// let client = TcpBuilder::new().bind_local("127.0.0.1:0".parse().unwrap()).connect("127.0.0.1:7000").await?;
/// # drop((listener, client));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TcpBuilder {
    common: Common,
    backlog: i32,
    nodelay: Option<bool>,
    keepalive: Option<Keepalive>,
    linger: Option<Option<Duration>>,
    local: Option<SocketAddr>,
    steer_by_cpu: bool,
}

impl Default for TcpBuilder {
    fn default() -> Self {
        TcpBuilder::new()
    }
}

impl TcpBuilder {
    /// The defaults: SO_REUSEPORT on, a backlog of [`DEFAULT_BACKLOG`], the system's
    /// defaults for everything else.
    pub fn new() -> TcpBuilder {
        TcpBuilder {
            common: Common::default(),
            backlog: DEFAULT_BACKLOG,
            nodelay: None,
            keepalive: None,
            linger: None,
            local: None,
            steer_by_cpu: false,
        }
    }

    common_options!(TcpBuilder, listen);

    /// How many connections the kernel queues before `accept` takes them (capped by
    /// `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// TCP_NODELAY: send small writes at once instead of coalescing them (Nagle).
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = Some(on);
        self
    }

    /// SO_KEEPALIVE, with the probes' timing.
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = Some(keepalive);
        self
    }

    /// SO_LINGER: `Some(Duration::ZERO)` resets the connection on close (RST, unsent data
    /// discarded); `None` is the default, a background close. A lingering close (`Some` of
    /// anything else) is refused: `listen` and `connect` fail with `InvalidInput` (see
    /// [`set_linger`](crate::TcpStream::set_linger) for why, and what to do instead).
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = Some(linger);
        self
    }

    /// Binds a client socket to `local` before it connects (a chosen source address or
    /// port; port 0 lets the kernel pick). SO_REUSEPORT applies to this bind too, without
    /// the check for another process's port that listeners get: a connecting socket takes
    /// none of a port's incoming connections.
    pub fn bind_local(mut self, local: SocketAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// Steers each connection to the listener of the core pinned to the CPU that received it
    /// (a reuseport BPF program; off by default, when the kernel hashes the 4-tuple). Every
    /// core must listen, in core order (the rules are in the [`crate::tcp`] module docs).
    /// `listen` fails outside a runtime's core.
    pub fn steer_by_cpu(mut self, on: bool) -> Self {
        self.steer_by_cpu = on;
        self
    }

    /// Binds and listens like [`TcpBuilder::listen`], but with SO_REUSEPORT off and on no
    /// core: the one socket that every core accepts from, each through its own descriptor
    /// ([`SharedListener::listener`](crate::SharedListener::listener)). Works on any thread.
    pub fn listen_shared<A: ToSocketAddrs>(&self, addr: A) -> io::Result<crate::SharedListener> {
        let builder = self.clone().reuseport(false);
        socket::first_ok(socket::resolve(addr)?, |addr| {
            let socket = builder.socket(&addr)?;
            builder.common.bind(&socket, addr, Protocol::Tcp)?;
            socket.listen(builder.backlog)?;
            crate::SharedListener::from_socket(socket)
        })
    }

    /// A socket for `addr` with every option but the bind-time ones.
    fn socket(&self, addr: &SocketAddr) -> io::Result<Socket> {
        let socket = self.common.socket(addr, Type::STREAM)?;
        let sock = socket2::SockRef::from(&socket);
        if let Some(on) = self.nodelay {
            sock.set_tcp_nodelay(on)?;
        }
        if let Some(keepalive) = &self.keepalive {
            keepalive.apply(&sock)?;
        }
        if let Some(linger) = self.linger {
            set_linger(&sock, linger)?;
        }
        Ok(socket)
    }

    /// Binds and listens on the first address of `addr` that works, on the current core.
    /// Accepted connections inherit the listener's options (Linux copies keepalive,
    /// nodelay, linger, buffer sizes and TOS to them). A host name is resolved here, by
    /// std's resolver in the calling thread (it may wait on DNS, stalling the core): bind
    /// numeric addresses on a core, or resolve first with [`lookup_host`](crate::lookup_host).
    pub fn listen<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        socket::first_ok(socket::resolve(addr)?, |addr| {
            let socket = self.socket(&addr)?;
            let claim = self.common.bind_claimed(&socket, addr, Protocol::Tcp)?;
            socket.listen(self.backlog)?;
            if self.steer_by_cpu {
                crate::tcp::steer_by_runtime_cpus(std::os::fd::AsFd::as_fd(&socket))?;
            }
            TcpListener::from_socket(socket, claim)
        })
    }

    /// Connects to the first address of `addr` that accepts. A host name is resolved on the
    /// blocking pool ([`lookup_host`](crate::lookup_host)), never on the core thread.
    pub async fn connect<A: crate::lookup::ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in crate::lookup::resolve(addr).await? {
            match self.connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Connects to `addr`.
    pub async fn connect_addr(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = self.socket(&addr)?;
        if let Some(local) = self.local {
            self.common.bind(&socket, local, Protocol::Tcp)?;
        }
        TcpStream::connect_socket(socket, addr).await
    }
}

/// Options for UDP sockets, applied before bind.
///
/// ```no_run
/// use ringpoll::net::UdpBuilder;
///
/// # fn demo() -> std::io::Result<()> {
/// let socket = UdpBuilder::new().recv_buffer_size(4 << 20).bind("0.0.0.0:9000")?;
/// # drop(socket);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct UdpBuilder {
    common: Common,
    broadcast: bool,
}

impl UdpBuilder {
    /// The defaults: SO_REUSEPORT on, the system's defaults for everything else.
    pub fn new() -> UdpBuilder {
        UdpBuilder::default()
    }

    common_options!(UdpBuilder, bind);

    /// SO_BROADCAST: allow sends to broadcast addresses.
    pub fn broadcast(mut self, on: bool) -> Self {
        self.broadcast = on;
        self
    }

    /// Binds to the first address of `addr` that works, on the current core. A host name is
    /// resolved here, by std's resolver in the calling thread (it may wait on DNS, stalling the
    /// core): bind numeric addresses on a core, or resolve first with
    /// [`lookup_host`](crate::lookup_host).
    pub fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<UdpSocket> {
        socket::first_ok(socket::resolve(addr)?, |addr| {
            let socket = self.common.socket(&addr, Type::DGRAM)?;
            if self.broadcast {
                socket.set_broadcast(true)?;
            }
            let claim = self.common.bind_claimed(&socket, addr, Protocol::Udp)?;
            UdpSocket::from_socket(socket, claim)
        })
    }
}
