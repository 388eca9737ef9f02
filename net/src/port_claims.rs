//! The ports this process holds with SO_REUSEPORT, so that a reuseport bind shares its port
//! with this process's own sockets and not with another program's.
//!
//! SO_REUSEPORT lets every core bind a listener (or UDP socket) of its own on one port. The
//! kernel, though, lets *any* socket of the same user with the option join the port, so a
//! second copy of a server would bind without error and take half of the first one's
//! connections. A tokio or std user expects `AddrInUse` there, and gets it: a bind with
//! SO_REUSEPORT goes through [`bind`], which keeps a process-wide count of the live sockets
//! per (protocol, port) that bound that way:
//!
//! - the port is one this process holds already: the socket joins its group (the other
//!   cores of the runtime, or of any runtime in the process);
//! - otherwise a probe socket *without* SO_REUSEPORT (with SO_REUSEADDR for TCP, so
//!   connections in TIME_WAIT do not count) binds the address first. If that fails with
//!   `AddrInUse`, a socket of another process (or one this process made outside ringpoll)
//!   holds the port and the bind fails the same way; else the probe is closed and the real
//!   socket binds. For port 0 the probe's port, which the kernel chose free of every socket,
//!   is the one the real socket binds, since a reuseport bind to port 0 may be given a port
//!   that other reuseport sockets hold (UDP's port search does not skip the ports it could
//!   join).
//!
//! The lock is held across probe and bind, so two cores of this process binding at once
//! cannot refuse each other; a [`PortClaim`] in the socket counts it until the socket is
//! dropped.
//!
//! What this does not cover:
//!
//! - **Races** of microseconds, lost as before this guard (both processes share the port):
//!   another process binds the port with SO_REUSEPORT between the probe's close and the
//!   real bind; or, for TCP, the probe runs between another process's bind and its
//!   `listen` (a bound socket that does not listen yet, with SO_REUSEADDR, does not stop a
//!   probe with SO_REUSEADDR, and the probe needs SO_REUSEADDR to ignore TIME_WAIT).
//! - **The key is the port**, not the address: once this process holds port P on some
//!   address, its later reuseport binds of P, at any address, are not probed (a probe could
//!   not tell this process's own sockets on 0.0.0.0:P from another's on 127.0.0.1:P).
//! - **Others joining us**: another program that sets SO_REUSEPORT itself can still join
//!   this process's port (ringpoll programs do not, by this guard). Only a socket without
//!   SO_REUSEPORT ([`SharedListener`](crate::SharedListener)) keeps every other socket out.
//! - **Sockets outside ringpoll**: one this process made itself counts only while ringpoll
//!   holds it (`from_std` with SO_REUSEPORT set, until `into_std`); before and after, the
//!   probe takes it for another holder.
//!
//! Sharing with other processes on purpose (a new server that binds while the old one
//! drains) is
//! [`TcpBuilder::reuseport_across_processes`](crate::TcpBuilder::reuseport_across_processes):
//! no probe, and the socket is counted like any other.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::{SockRef, Socket, Type};

/// A port namespace: TCP and UDP ports are separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The protocol of a stream or datagram socket.
    pub(crate) fn of(ty: Type) -> Protocol {
        if ty == Type::STREAM {
            Protocol::Tcp
        } else {
            Protocol::Udp
        }
    }

    fn socket_type(self) -> Type {
        match self {
            Protocol::Tcp => Type::STREAM,
            Protocol::Udp => Type::DGRAM,
        }
    }
}

type Key = (Protocol, u16);

/// Live sockets per port that this process bound with SO_REUSEPORT (no zero counts).
static HELD: Mutex<BTreeMap<Key, usize>> = Mutex::new(BTreeMap::new());

/// The registry, even after a panic elsewhere while it was locked: every change to the map
/// is one insert or remove, so it is never left half-done.
fn held() -> MutexGuard<'static, BTreeMap<Key, usize>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One socket's share of a port in the registry, given back when the claim is dropped. The
/// socket that owns it declares it after its descriptor, so the descriptor closes first.
#[derive(Debug)]
pub(crate) struct PortClaim {
    key: Key,
}

impl PortClaim {
    /// Counts one more socket on `key`.
    fn new(held: &mut BTreeMap<Key, usize>, key: Key) -> PortClaim {
        *held.entry(key).or_insert(0) += 1;
        PortClaim { key }
    }
}

impl Drop for PortClaim {
    fn drop(&mut self) {
        let mut held = held();
        // Every claim was counted when made, so the entry is there; if not, there is nothing
        // to release (no panic in a drop, which may run while unwinding).
        let Some(count) = held.get_mut(&self.key) else { return };
        *count -= 1;
        if *count == 0 {
            held.remove(&self.key);
        }
    }
}

/// Binds `socket`, a `protocol` socket with SO_REUSEPORT set, to `addr`: into the group of a
/// port this process holds, or to a port no other socket holds (see the module docs). With
/// `across_processes` the probe is skipped (but for port 0) and the port is shared with anyone
/// the kernel allows.
///
/// # Errors
/// `AddrInUse` when another socket holds the port, or what bind returns.
pub(crate) fn bind(
    socket: &Socket,
    addr: SocketAddr,
    protocol: Protocol,
    across_processes: bool,
) -> io::Result<PortClaim> {
    let mut held = held();
    // Port 0 asks for a port of its own, across processes or not: always probed.
    let joins = addr.port() != 0 && (across_processes || held.contains_key(&(protocol, addr.port())));
    let bound = if joins {
        socket.bind(&addr.into())?;
        addr.port()
    } else {
        bind_probed(socket, addr, protocol)?
    };
    Ok(PortClaim::new(&mut held, (protocol, bound)))
}

/// Counts a socket handed over from std (`from_std`) if it is bound with SO_REUSEPORT: the
/// process holds its port from now on, so its cores can bind it too.
pub(crate) fn adopt(socket: SockRef<'_>) -> io::Result<Option<PortClaim>> {
    if !socket.reuse_port()? {
        return Ok(None);
    }
    let protocol = Protocol::of(socket.r#type()?);
    let port = match socket.local_addr()?.as_socket() {
        Some(addr) if addr.port() != 0 => addr.port(),
        _ => return Ok(None), // not bound yet: nothing held
    };
    Ok(Some(PortClaim::new(&mut held(), (protocol, port))))
}

/// Probes `addr`, then binds `socket` to it (to the probe's port, for port 0); returns the
/// port bound. For port 0 a few more tries, in case another socket takes the probed port
/// before the real bind does.
fn bind_probed(socket: &Socket, addr: SocketAddr, protocol: Protocol) -> io::Result<u16> {
    let tries = if addr.port() == 0 { 3 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let port = probe(socket, addr, protocol)?;
        let target = SocketAddr::new(addr.ip(), port);
        match socket.bind(&target.into()) {
            Ok(()) => return Ok(port),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one try"))
}

/// Binds a socket like `socket` but without SO_REUSEPORT to `addr`, and closes it: the port
/// it got, or `AddrInUse` if another socket holds `addr`.
fn probe(socket: &Socket, addr: SocketAddr, protocol: Protocol) -> io::Result<u16> {
    let probe = crate::socket::for_addr(&addr, protocol.socket_type())?;
    if protocol == Protocol::Tcp {
        // As the real socket: TIME_WAIT connections and a drained server's open ones do not
        // hold the port; a listening socket does.
        probe.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        // [::] with and without IPV6_V6ONLY collide with different IPv4 sockets.
        probe.set_only_v6(socket.only_v6()?)?;
    }
    match probe.bind(&addr.into()) {
        Ok(()) if addr.port() != 0 => Ok(addr.port()),
        Ok(()) => Ok(probe.local_addr()?.as_socket().map_or(0, |a| a.port())),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{addr} is in use by a socket that is not one of this process's SO_REUSEPORT \
                 sockets (another process?); reuseport_across_processes(true) shares the port \
                 on purpose"
            ),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    //! The registry's counts; binding against other processes is in the integration tests.

    use super::*;

    fn count(key: Key) -> Option<usize> {
        held().get(&key).copied()
    }

    #[test]
    fn claims_count_up_and_down_to_no_entry() {
        // Port 1 is privileged: no socket of the tests' binds it.
        let key = (Protocol::Udp, 1);
        let a = PortClaim::new(&mut held(), key);
        let b = PortClaim::new(&mut held(), key);
        assert_eq!(count(key), Some(2));
        drop(a);
        assert_eq!(count(key), Some(1));
        drop(b);
        assert_eq!(count(key), None);
    }
}
