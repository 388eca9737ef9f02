//! ringpoll-net: sockets on the current core's reactor, on the epoll and io_uring drivers.
//!
//! The native API takes owned buffers (`read(buf).await -> (io::Result<usize>, buf)`): that
//! is what io_uring needs to avoid a copy, and it costs nothing on epoll. Poll-style methods
//! (`poll_read(cx, &mut [u8])`) serve compatibility layers; both drivers implement them with
//! readiness plus the non-blocking syscall. tokio's readiness half is here too: wait with
//! `readable()`, `writable()` or `ready(`[`Interest`]`)`, then move bytes with `try_read`,
//! `try_write`, `try_recv_from`... into borrowed slices; a readiness stays until a try meets
//! `WouldBlock`, as tokio's.
//!
//! Cargo features `tokio-compat` and `futures-io` implement those crates' `AsyncRead` and
//! `AsyncWrite` for [`TcpStream`] and [`UnixStream`] on top of the poll-style methods.
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod backoff;
pub mod builder;
mod compat;
pub mod copy;
mod deadlines;
mod lookup;
mod port_claims;
mod readiness;
mod reset;
mod socket;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use builder::{Keepalive, TcpBuilder, UdpBuilder};
pub use copy::{copy_bidirectional, CopyOptions, CopyStats, SpliceMode};
pub use lookup::{lookup_host, Target, ToSocketAddrs};
pub use readiness::{Interest, Ready};
pub use ringpoll_reactor::{PartialWrite, PooledBuf, SockAddr, POOL_BUF_SIZE};
pub use tcp::{SharedListener, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
