//! Name lookups off the core: getaddrinfo runs on the blocking pool.
//!
//! `getaddrinfo` blocks for as long as DNS takes (seconds, when a server does not answer);
//! on a core thread that would stall every connection there. A name is therefore resolved by
//! `std`'s resolver on a helper thread ([`spawn_blocking`]) and the task resumes on its core
//! when it returns. Numeric addresses (`"127.0.0.1:80"`, `"[::1]:443"`, a `SocketAddr`)
//! are parsed in place and never touch the pool.
//!
//! This is why the async `connect`s take this module's [`ToSocketAddrs`] rather than std's:
//! std's trait resolves synchronously, in the caller's thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use ringpoll_core::spawn_blocking;

/// What an address argument is before resolution.
#[derive(Debug)]
pub enum Target {
    /// One numeric address: no lookup, and no allocation (a `send_to` per datagram).
    Addr(SocketAddr),
    /// Numeric: no lookup needed.
    Addrs(Vec<SocketAddr>),
    /// A host name and port, as `"host:port"`, to resolve on the pool.
    Name(String),
    /// A host name and a separate port.
    HostPort(String, u16),
}

/// Addresses that async `connect` and [`lookup_host`] accept: everything std's
/// `ToSocketAddrs` accepts for IP sockets (`SocketAddr`, `(IpAddr, u16)`, `"host:port"`,
/// `("host", port)`, slices of addresses). Host names are resolved on the blocking pool.
pub trait ToSocketAddrs {
    /// Classifies the address: numeric ones are parsed here, names are left for the pool.
    fn to_target(&self) -> Target;
}

/// Resolves `addr` without blocking the core: numeric addresses at once, names with
/// getaddrinfo on the blocking pool. An address that resolves to nothing is an error.
///
/// ```
/// # ringpoll::block_on(async {
/// let addrs: Vec<_> = ringpoll::net::lookup_host("localhost:8080").await?.collect();
/// assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn lookup_host(addr: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    resolve(addr).await.map(Vec::into_iter)
}

/// As [`lookup_host`], into a `Vec` with at least one address.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    resolve_target(addr.to_target()).await
}

/// The first address `addr` resolves to; a single numeric one is taken as it is.
pub(crate) async fn first(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    match addr.to_target() {
        Target::Addr(addr) => Ok(addr),
        target => Ok(resolve_target(target).await?[0]),
    }
}

async fn resolve_target(target: Target) -> io::Result<Vec<SocketAddr>> {
    let addrs = match target {
        Target::Addr(addr) => vec![addr],
        Target::Addrs(addrs) => addrs,
        Target::Name(name) => on_pool(move || std::net::ToSocketAddrs::to_socket_addrs(&name)).await?,
        Target::HostPort(host, port) => {
            on_pool(move || std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))).await?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing"));
    }
    Ok(addrs)
}

async fn on_pool<I: Iterator<Item = SocketAddr>>(
    lookup: impl FnOnce() -> io::Result<I> + Send + 'static,
) -> io::Result<Vec<SocketAddr>> {
    spawn_blocking(move || lookup().map(Iterator::collect)).await?
}

impl ToSocketAddrs for SocketAddr {
    fn to_target(&self) -> Target {
        Target::Addr(*self)
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_target(&self) -> Target {
        Target::Addr((*self).into())
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_target(&self) -> Target {
        Target::Addr((*self).into())
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_target(&self) -> Target {
        Target::Addr((*self).into())
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_target(&self) -> Target {
        Target::Addr((*self).into())
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_target(&self) -> Target {
        Target::Addr((*self).into())
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Addrs(self.to_vec())
    }
}

impl ToSocketAddrs for str {
    fn to_target(&self) -> Target {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Target::Addr(addr),
            Err(_) => Target::Name(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {
    fn to_target(&self) -> Target {
        self.as_str().to_target()
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> Target {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Target::Addr((ip, self.1).into()),
            Err(_) => Target::HostPort(self.0.to_owned(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> Target {
        (self.0.as_str(), self.1).to_target()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(t: Target) -> Vec<SocketAddr> {
        match t {
            Target::Addr(a) => vec![a],
            Target::Addrs(a) => a,
            other => panic!("expected numeric, got {other:?}"),
        }
    }

    #[test]
    fn numeric_addresses_are_parsed_without_a_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        assert_eq!(numeric("127.0.0.1:80".to_target()), [v4]);
        assert_eq!(numeric("[::1]:443".to_string().to_target()), [v6]);
        assert_eq!(numeric(("127.0.0.1", 80).to_target()), [v4]);
        assert_eq!(numeric((Ipv4Addr::LOCALHOST, 80).to_target()), [v4]);
        assert_eq!(numeric([v4, v6][..].to_target()), [v4, v6]);
        assert_eq!(numeric(ToSocketAddrs::to_target(&&v4)), [v4]);
        // One address allocates nothing: UdpSocket::send_to resolves its target per datagram.
        for one in [v4.to_target(), "[::1]:443".to_target(), ("127.0.0.1", 80).to_target()] {
            assert!(matches!(one, Target::Addr(_)), "{one:?}");
        }
    }

    #[test]
    fn names_are_left_for_the_pool() {
        assert!(matches!("localhost:80".to_target(), Target::Name(n) if n == "localhost:80"));
        assert!(matches!(("example.test", 1).to_target(), Target::HostPort(h, 1) if h == "example.test"));
    }
}
