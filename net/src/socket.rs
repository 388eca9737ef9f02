//! What every socket type shares: making a socket (through socket2), its names, resolving
//! addresses, and handing a descriptor back to std.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use ringpoll_reactor::{SockAddr, Source};
use socket2::{Domain, SockRef, Socket, Type};

/// A new non-blocking socket (socket2 makes it close-on-exec on Linux).
pub(crate) fn new(domain: Domain, ty: Type) -> io::Result<Socket> {
    Socket::new(domain, ty.nonblocking(), None)
}

/// A new non-blocking socket of `ty` for the family of `addr`.
pub(crate) fn for_addr(addr: &SocketAddr, ty: Type) -> io::Result<Socket> {
    new(Domain::for_address(*addr), ty)
}

/// A borrow of a descriptor that `owner` keeps open for as long as `owner` lives.
pub(crate) fn borrow_fd<T>(_owner: &T, fd: RawFd) -> BorrowedFd<'_> {
    // SAFETY: every caller passes the descriptor its `owner` holds open (a Source closes its
    // fd only on drop), and the borrow cannot outlive `owner`.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// The local IP address of a socket.
pub(crate) fn local_addr(sock: SockRef<'_>) -> io::Result<SocketAddr> {
    inet_of(sock.local_addr()?)
}

/// The peer's IP address of a connected socket.
pub(crate) fn peer_addr(sock: SockRef<'_>) -> io::Result<SocketAddr> {
    inet_of(sock.peer_addr()?)
}

fn inet_of(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))
}

/// The IP address in `addr`, or an error naming what it was instead.
pub(crate) fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_inet().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an IP address: {addr:?}")))
}

fn name(
    fd: RawFd,
    get: unsafe extern "C" fn(RawFd, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let len = addr.len_mut() as *mut libc::socklen_t;
    // SAFETY: the pointers refer to `addr`, which the call fills in place.
    if unsafe { get(fd, addr.as_mut_ptr(), len) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(addr)
}

/// The local name of a Unix socket, in ringpoll's own address type (paths, abstract names).
pub(crate) fn local_name(fd: RawFd) -> io::Result<SockAddr> {
    name(fd, libc::getsockname)
}

/// The peer's name of a connected Unix socket.
pub(crate) fn peer_name(fd: RawFd) -> io::Result<SockAddr> {
    name(fd, libc::getpeername)
}

/// Resolves `addr`; no address at all is an error of its own.
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<_> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing"));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the last error if none works.
pub(crate) fn first_ok<T>(addrs: Vec<SocketAddr>, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = None;
    for addr in addrs {
        match f(addr) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// Takes a descriptor from std onto the current core's reactor, non-blocking.
pub(crate) fn from_std(fd: OwnedFd, stream: bool) -> io::Result<Source> {
    SockRef::from(&fd).set_nonblocking(true)?;
    if stream {
        Source::new_stream(fd)
    } else {
        Source::new(fd)
    }
}

/// Hands the socket of `source` back as a descriptor of its own (still non-blocking), and
/// deregisters and closes the source's: the socket lives on in the duplicate.
pub(crate) fn into_std(source: Source) -> io::Result<OwnedFd> {
    let fd = borrow_fd(&source, source.fd()).try_clone_to_owned()?;
    debug_assert_ne!(fd.as_raw_fd(), source.fd());
    drop(source);
    Ok(fd)
}

/// `TryFrom<$std>` for `$ty`, forwarding to its `from_std`: code ported from tokio converts
/// std sockets with `try_into()`.
macro_rules! impl_try_from_std {
    ($ty:ident, $std:ty) => {
        #[doc = concat!("As [`", stringify!($ty), "::from_std`], for code that converts with `try_into()` (as tokio allows).")]
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            fn try_from(socket: $std) -> std::io::Result<$ty> {
                $ty::from_std(socket)
            }
        }
    };
}
pub(crate) use impl_try_from_std;

/// `AsRawFd` and `AsFd` for `$ty`, a socket type with a `source` field: for code that takes
/// either (socket2's `SockRef`, rustix), and options ringpoll does not wrap.
macro_rules! impl_as_fd {
    ($ty:ident) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.source.fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                crate::socket::borrow_fd(self, self.source.fd())
            }
        }
    };
}
pub(crate) use impl_as_fd;
