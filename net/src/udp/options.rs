//! A UDP socket's IP options: TTL, broadcast and multicast, named as tokio's `UdpSocket`
//! names them.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use socket2::SockRef;

use super::UdpSocket;

impl UdpSocket {
    /// Sets SO_BROADCAST, allowing sends to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        SockRef::from(self).set_broadcast(on)
    }

    /// Whether SO_BROADCAST is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        SockRef::from(self).broadcast()
    }

    /// Sets IP_TTL, the time-to-live of the IPv4 datagrams this socket sends (as std's and
    /// tokio's `set_ttl`; an IPv6 socket's hop limit is another option, IPV6_UNICAST_HOPS).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        SockRef::from(self).set_ttl_v4(ttl)
    }

    /// IP_TTL: see [`set_ttl`](Self::set_ttl).
    pub fn ttl(&self) -> io::Result<u32> {
        SockRef::from(self).ttl_v4()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface whose address is
    /// `interface` (`Ipv4Addr::UNSPECIFIED`: the one the kernel routes the group to).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use std::net::Ipv4Addr;
    /// use ringpoll::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("0.0.0.0:5353")?;
    /// socket.join_multicast_v4(Ipv4Addr::new(224, 0, 0, 251), Ipv4Addr::UNSPECIFIED)?;
    /// let (res, _query) = socket.recv_from(Vec::with_capacity(1500)).await;
    /// println!("from {}", res?.1);
    /// # Ok(()) }
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        SockRef::from(self).join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves an IPv4 multicast group joined with [`join_multicast_v4`](Self::join_multicast_v4).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        SockRef::from(self).leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface of index `interface` (0:
    /// the one the kernel routes the group to).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        SockRef::from(self).join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group joined with [`join_multicast_v6`](Self::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        SockRef::from(self).leave_multicast_v6(multiaddr, interface)
    }

    /// Sets IP_MULTICAST_LOOP: whether this host's own members of a group receive the IPv4
    /// multicast datagrams this socket sends (on by default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        SockRef::from(self).set_multicast_loop_v4(on)
    }

    /// IP_MULTICAST_LOOP: see [`set_multicast_loop_v4`](Self::set_multicast_loop_v4).
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        SockRef::from(self).multicast_loop_v4()
    }

    /// Sets IPV6_MULTICAST_LOOP, as [`set_multicast_loop_v4`](Self::set_multicast_loop_v4)
    /// for IPv6 (an IPv6 socket only).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        SockRef::from(self).set_multicast_loop_v6(on)
    }

    /// IPV6_MULTICAST_LOOP: see [`set_multicast_loop_v6`](Self::set_multicast_loop_v6).
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        SockRef::from(self).multicast_loop_v6()
    }

    /// Sets IP_MULTICAST_TTL, the time-to-live of the IPv4 multicast datagrams this socket
    /// sends (1 by default: they stay on the local network).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        SockRef::from(self).set_multicast_ttl_v4(ttl)
    }

    /// IP_MULTICAST_TTL: see [`set_multicast_ttl_v4`](Self::set_multicast_ttl_v4).
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        SockRef::from(self).multicast_ttl_v4()
    }
}
