//! Socket addresses in the kernel's layout, owned so io_uring can point at them.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A `sockaddr_storage` and its length.
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(a) = self.as_inet() {
            return write!(f, "{a}");
        }
        if let Some(name) = self.as_abstract_name() {
            return write!(f, "SockAddr(unix abstract {:?})", name.escape_ascii().to_string());
        }
        match self.as_unix_path() {
            _ if self.is_unnamed() => write!(f, "SockAddr(unix unnamed)"),
            Some(path) => write!(f, "SockAddr(unix {path:?})"),
            None => write!(f, "SockAddr(family {})", self.family()),
        }
    }
}

impl SockAddr {
    /// An empty address for the kernel to fill (accept, recvfrom, getsockname).
    pub fn empty() -> SockAddr {
        // SAFETY: sockaddr_storage is plain data for which all-zero bytes are valid.
        let storage = unsafe { mem::zeroed() };
        SockAddr { storage, len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    /// The kernel layout of an IP socket address.
    pub fn from_inet(addr: SocketAddr) -> SockAddr {
        let mut out = SockAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                out.write(sin);
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                out.write(sin6);
            }
        }
        out
    }

    /// The address of an unnamed Unix socket, as [`is_unnamed`](SockAddr::is_unnamed) knows
    /// it: a family and no name. recvmsg(2) reports a datagram from a socket that bound no
    /// path with no address at all (length 0), which this stands for.
    pub fn unnamed_unix() -> SockAddr {
        let mut out = SockAddr::empty();
        out.storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        out.len = mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
        out
    }

    /// The kernel layout of a Unix socket path (at most 107 bytes).
    pub fn from_unix_path(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is plain data for which all-zero bytes are valid.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.len() >= sun.sun_path.len() || bytes.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "unix socket path too long or holds NUL"));
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let mut out = SockAddr::empty();
        out.write(sun);
        out.len = (mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
        Ok(out)
    }

    fn write<T: Copy>(&mut self, sa: T) {
        const { assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>()) };
        // SAFETY: T fits in sockaddr_storage (checked above), which is suitably aligned for
        // every sockaddr type.
        unsafe { (&mut self.storage as *mut libc::sockaddr_storage).cast::<T>().write(sa) };
        self.len = mem::size_of::<T>() as libc::socklen_t;
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`, or 0 when unset).
    pub fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The IP address, if this is one.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        let ptr = (&self.storage as *const libc::sockaddr_storage).cast::<u8>();
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { ptr.cast::<libc::sockaddr_in>().read() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { ptr.cast::<libc::sockaddr_in6>().read() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id)))
            }
            _ => None,
        }
    }

    /// The path of a Unix address: None for other families and for abstract names (see
    /// [`SockAddr::as_abstract_name`]), an empty path when unnamed.
    pub fn as_unix_path(&self) -> Option<PathBuf> {
        let name = self.unix_name()?;
        if name.first() == Some(&0) {
            return None;
        }
        let path: Vec<u8> = name.iter().take_while(|&&c| c != 0).copied().collect();
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(&path)))
    }

    /// Whether this is the address of an unnamed Unix socket (a client that bound no path,
    /// or either end of `UnixStream::pair`), as std's `SocketAddr::is_unnamed`: the kernel
    /// gives it no name at all, and [`as_unix_path`](SockAddr::as_unix_path) an empty path.
    pub fn is_unnamed(&self) -> bool {
        matches!(self.unix_name().as_deref(), Some([]))
    }

    /// The name of a Linux abstract Unix address (the bytes after its leading NUL), which
    /// ringpoll cannot bind but a socket taken from std (`from_std`) or a peer may have.
    /// None for paths, unnamed addresses and other families. Without it an abstract name would
    /// read as an empty path, the mark of an unnamed socket: its `sun_path` starts with NUL.
    pub fn as_abstract_name(&self) -> Option<Vec<u8>> {
        match self.unix_name()?.as_slice() {
            [0, name @ ..] => Some(name.to_vec()),
            _ => None,
        }
    }

    /// The bytes of `sun_path` the length covers, for an AF_UNIX address.
    fn unix_name(&self) -> Option<Vec<u8>> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        // SAFETY: the family says the storage holds a sockaddr_un.
        let sun = unsafe { (&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>().read() };
        let max = (self.len as usize).saturating_sub(mem::size_of::<libc::sa_family_t>());
        Some(sun.sun_path.iter().take(max).map(|&c| c as u8).collect())
    }

    /// Pointer for the kernel to read.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// Pointer for the kernel to fill, with [`SockAddr::len_mut`].
    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// The length in bytes.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// Whether the length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length, for the kernel to update.
    pub fn len_mut(&mut self) -> &mut libc::socklen_t {
        &mut self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_round_trips() {
        for a in ["127.0.0.1:7000", "[::1]:80", "[fe80::1%2]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(SockAddr::from_inet(addr).as_inet(), Some(addr));
        }
    }

    #[test]
    fn unix_path_round_trips_and_rejects_long() {
        let sa = SockAddr::from_unix_path(Path::new("/tmp/x.sock")).unwrap();
        assert_eq!(sa.as_unix_path().unwrap(), Path::new("/tmp/x.sock"));
        assert!(sa.as_inet().is_none());
        assert_eq!(sa.as_abstract_name(), None);
        let long = "a".repeat(200);
        assert_eq!(SockAddr::from_unix_path(Path::new(&long)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    /// An address with `sun_path` set to `name`, `len` covering the family and the name.
    fn unix_addr(name: &[u8]) -> SockAddr {
        // SAFETY: sockaddr_un is plain data for which all-zero bytes are valid.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(name) {
            *dst = *src as libc::c_char;
        }
        let mut out = SockAddr::empty();
        out.write(sun);
        out.len = (mem::size_of::<libc::sa_family_t>() + name.len()) as libc::socklen_t;
        out
    }

    #[test]
    fn abstract_names_are_neither_paths_nor_unnamed() {
        let abs = unix_addr(b"\0ringpoll\0x");
        assert_eq!(abs.as_abstract_name().as_deref(), Some(&b"ringpoll\0x"[..]), "NULs inside the name are kept");
        assert_eq!(abs.as_unix_path(), None);
        assert!(format!("{abs:?}").contains("abstract"), "{abs:?}");
        let unnamed = unix_addr(b"");
        assert_eq!(unnamed.as_unix_path(), Some(PathBuf::new()));
        assert_eq!(unnamed.as_abstract_name(), None);
    }
}
