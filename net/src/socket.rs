//! Socket syscalls shared by every socket type: create, options, bind, names.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use ringpoll_reactor::{SockAddr, Source};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; the result is checked.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the kernel just returned fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new socket of `ty` for the family of `addr`.
pub(crate) fn socket_for(addr: &SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    socket(if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 }, ty)
}

pub(crate) fn set_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live c_int of the length passed.
    cvt(unsafe { libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), len) }).map(drop)
}

pub(crate) fn get_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value/len are live locals of the sizes getsockopt expects.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut libc::c_int).cast(), &mut len) })?;
    Ok(value)
}

pub(crate) fn bind(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: addr is a valid sockaddr of addr.len() bytes.
    cvt(unsafe { libc::bind(fd, addr.as_ptr(), addr.len()) }).map(drop)
}

pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes no pointers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

fn name(
    fd: RawFd,
    get: unsafe extern "C" fn(RawFd, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let len = addr.len_mut() as *mut libc::socklen_t;
    // SAFETY: the pointers refer to `addr`, which the call fills in place.
    cvt(unsafe { get(fd, addr.as_mut_ptr(), len) })?;
    Ok(addr)
}

pub(crate) fn local_name(fd: RawFd) -> io::Result<SockAddr> {
    name(fd, libc::getsockname)
}

pub(crate) fn peer_name(fd: RawFd) -> io::Result<SockAddr> {
    name(fd, libc::getpeername)
}

/// The IP address in `addr`, or an error naming what it was instead.
pub(crate) fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_inet().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not an IP address: {addr:?}")))
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

/// A bound (and, for streams, listening) socket with SO_REUSEADDR and SO_REUSEPORT, so each
/// core can bind its own on the same port and the kernel shards the traffic.
pub(crate) fn bind_reuseport(addr: SocketAddr, ty: libc::c_int, backlog: Option<i32>) -> io::Result<Source> {
    let fd = socket_for(&addr, ty)?;
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    set_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    bind(raw, &SockAddr::from_inet(addr))?;
    if let Some(backlog) = backlog {
        listen(raw, backlog)?;
    }
    Source::new(fd)
}
