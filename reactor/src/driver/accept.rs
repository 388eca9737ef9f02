//! Accepting a connection on either driver: the one place that chooses between io_uring's
//! multishot accept (see `uring::accept_stream`) and a one-shot accept (accept4 after
//! readiness on epoll; IORING_OP_ACCEPT where the kernel has no multishot accept, or to hand
//! out what dropped one-shot accepts took).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{Driver, Parts, Registration, Run};
use crate::op::Accept;
use crate::sockaddr::SockAddr;
use crate::sys::syscall;
use crate::target::Target;

impl Driver {
    /// Accepts one connection and its peer's address. ECONNABORTED (the peer gave up first)
    /// is the caller's to skip.
    pub(crate) fn accept<'a>(&'a self, target: Target<'a, Registration>) -> Accepting<'a> {
        let multishot = matches!(self, Driver::Uring(_));
        Accepting { driver: self, target, multishot, single: None }
    }
}

/// The future of [`Driver::accept`]. Dropping it loses no connection: a multishot accept's
/// connections queue with the listener, and a one-shot accept's late one is stashed.
pub(crate) struct Accepting<'a> {
    driver: &'a Driver,
    target: Target<'a, Registration>,
    /// io_uring's multishot accept serves the call, until it asks for a one-shot accept.
    multishot: bool,
    single: Option<Run<'a, Accept>>,
}

impl Future for Accepting<'_> {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.multishot {
            if let Parts::Uring(d, r) = this.driver.parts(this.target) {
                // Served from connections the kernel posted already: a unit of the task's
                // budget, as an accept4 on epoll takes (`crate::budget`).
                ready!(crate::budget::poll_proceed(cx));
                if let Some(res) = ready!(d.poll_accept(this.target.with(r), cx)) {
                    return Poll::Ready(res.and_then(with_peer));
                }
            }
            this.multishot = false;
        }
        let (driver, target) = (this.driver, this.target);
        let single = this.single.get_or_insert_with(|| driver.run(target, Accept::new()));
        Pin::new(single).poll(cx)
    }
}

/// The connection with its peer's address, which a multishot accept does not report.
///
/// A TCP peer that reset the connection before this asked has taken its address with it
/// (ENOTCONN; accept4 would still have reported it). The connection is handed out all the
/// same, as accept4 hands it out, with the unspecified address of its family: reading it
/// shows the reset.
fn with_peer(conn: OwnedFd) -> io::Result<(OwnedFd, SockAddr)> {
    match name_of(&conn, Name::Peer) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            let unspecified = match name_of(&conn, Name::Local)?.as_inet() {
                Some(SocketAddr::V4(_)) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                Some(SocketAddr::V6(_)) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
                None => return Err(e),
            };
            Ok((conn, SockAddr::from_inet(unspecified)))
        }
        peer => Ok((conn, peer?)),
    }
}

/// Which end's address [`name_of`] asks for.
enum Name {
    Local,
    Peer,
}

/// getsockname(2) or getpeername(2).
fn name_of(conn: &OwnedFd, which: Name) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let (fd, ptr, len) = (conn.as_raw_fd(), addr.as_mut_ptr(), addr.len_mut() as *mut libc::socklen_t);
    // SAFETY: ptr and len point into `addr`, alive for the call, len holding its capacity.
    match which {
        Name::Local => syscall!(getsockname(fd, ptr, len)),
        Name::Peer => syscall!(getpeername(fd, ptr, len)),
    }?;
    Ok(addr)
}
