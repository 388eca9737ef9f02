//! How a port's connections are shared among the cores' listeners, beyond the default.
//!
//! By default ([`TcpListener::bind`]) every core binds its own listener with SO_REUSEPORT and
//! the kernel picks one per connection by hashing the 4-tuple: no shared state, but an uneven
//! spread when few clients open many connections. Two alternatives:
//!
//! - **Steered by CPU** ([`TcpBuilder::steer_by_cpu`], or [`TcpListener::bind_steered`]):
//!   the same per-core listeners, plus a
//!   classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF) that picks the listener of the
//!   core pinned to the CPU that received the connection. The spread follows the NIC's
//!   (RSS/RPS) or, on loopback, the client's CPU, and the connection is served where its
//!   packets are already hot. The program returns an index into the group, and the kernel
//!   numbers sockets in the order they join it, so the cores must bind in core order (0, then
//!   1, ...), each after the previous one has bound. A CPU with no core falls back to hashing.
//! - **One shared listener** ([`TcpBuilder::listen_shared`], or [`SharedListener::bind`]):
//!   SO_REUSEPORT off, one socket, and every
//!   core accepts from its own descriptor of it. Each connection goes to a core that is
//!   waiting in accept (a busy core takes fewer), at the cost of waking every waiting core per
//!   connection: for few, long connections, or where SO_REUSEPORT is unwanted. (Per-core
//!   listeners refuse to join a port another process holds, but a program that sets
//!   SO_REUSEPORT itself can still join theirs; nothing can join this one.)

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::TcpListener;
use crate::TcpBuilder;

/// `SO_ATTACH_REUSEPORT_CBPF` from asm-generic/socket.h (x86, arm, riscv...); libc only has
/// it for Android.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

impl TcpListener {
    /// Binds like [`TcpListener::bind`] (SO_REUSEPORT, one listener per core), and steers each
    /// connection to the listener of the core pinned to the CPU that received it: short for
    /// `TcpBuilder::new().steer_by_cpu(true).listen(addr)`. Call it on every core of a
    /// runtime, in core order, each core binding after the previous one has: the `n`-th
    /// listener to bind must be core `n`'s (see the module docs).
    ///
    /// # Errors
    /// Outside a runtime's core (the CPUs of the cores come from its `Handle`), or as `bind`.
    pub fn bind_steered<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpBuilder::new().steer_by_cpu(true).listen(addr)
    }
}

/// Steers the SO_REUSEPORT group of `fd` by CPU, with the CPUs of the current runtime's
/// cores (the group's `i`-th socket belongs to core `i`).
pub(crate) fn steer_by_runtime_cpus(fd: BorrowedFd<'_>) -> io::Result<()> {
    let handle = ringpoll_core::Handle::try_current()
        .ok_or_else(|| io::Error::other("CPU steering needs a runtime's core (it steers by the cores' CPUs)"))?;
    let cpus: Vec<usize> = (0..handle.core_count()).map(|i| handle.cpu_of(i)).collect();
    attach_cpu_steering(fd, &cpus)
}

/// Attaches to `fd`'s SO_REUSEPORT group a program returning, for the receiving CPU, the
/// index of the socket whose core runs on it: `cpus[i]` is the CPU of the group's i-th socket.
pub fn attach_cpu_steering(fd: BorrowedFd<'_>, cpus: &[usize]) -> io::Result<()> {
    let program = cpu_steering_program(cpus)?;
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    let len = std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t;
    // SAFETY: fprog points at `program`, alive for the call; the kernel copies it.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            len,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `A = cpu; if A == cpus[0] return 0; if A == cpus[1] return 1; ...; return -1` (an index
/// past the group's end, which makes the kernel fall back to its hash).
fn cpu_steering_program(cpus: &[usize]) -> io::Result<Vec<libc::sock_filter>> {
    if cpus.is_empty() || cpus.len() > 255 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "CPU steering needs 1 to 255 cores"));
    }
    let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let mut program =
        vec![stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32)];
    for (index, &cpu) in cpus.iter().enumerate() {
        // Equal: fall through to the return; not equal: skip it.
        program.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: cpu as u32,
        });
        program.push(stmt(libc::BPF_RET | libc::BPF_K, index as u32));
    }
    program.push(stmt(libc::BPF_RET | libc::BPF_K, u32::MAX));
    Ok(program)
}

/// One listening socket without SO_REUSEPORT, shared by every core: each core accepts from a
/// descriptor of its own for it ([`SharedListener::listener`]). `Send + Sync + Clone`; bind it
/// anywhere (before the runtime starts, say) and hand it to the cores.
///
/// ```no_run
/// use ringpoll::Runtime;
/// use ringpoll::net::tcp::SharedListener;
///
/// let rt = Runtime::builder().build()?;
/// let shared = SharedListener::bind("127.0.0.1:7000")?; // no SO_REUSEPORT
/// rt.run_on_each_core(move |_core| {
///     let shared = shared.clone();
///     async move {
///         let listener = shared.listener()?; // this core's descriptor for the one socket
///         loop {
///             let (stream, _) = listener.accept().await?;
///             drop(stream);
///         }
///         #[allow(unreachable_code)]
///         Ok::<(), std::io::Error>(())
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SharedListener {
    fd: Arc<OwnedFd>,
    addr: SocketAddr,
}

impl SharedListener {
    /// Binds and listens on the first address of `addr` that works, with SO_REUSEADDR but not
    /// SO_REUSEPORT (a second bind of the port fails while this one lives): short for
    /// `TcpBuilder::new().listen_shared(addr)`. Works on any thread.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<SharedListener> {
        TcpBuilder::new().listen_shared(addr)
    }

    /// Wraps a listening socket (made by [`TcpBuilder::listen_shared`]).
    pub(crate) fn from_socket(socket: socket2::Socket) -> io::Result<SharedListener> {
        let addr = crate::socket::local_addr(socket2::SockRef::from(&socket))?;
        Ok(SharedListener { fd: Arc::new(socket.into()), addr })
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A listener on the current core for the shared socket: a duplicate descriptor,
    /// registered with this core's reactor. Closing it leaves the socket listening for the
    /// others; the socket closes with the last descriptor.
    ///
    /// # Errors
    /// Outside a ringpoll core, or if the descriptor cannot be duplicated (EMFILE).
    pub fn listener(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(std::net::TcpListener::from(self.fd.try_clone()?))
    }
}

impl AsRawFd for SharedListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}
