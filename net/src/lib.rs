//! ringpoll-net: sockets on the current core's reactor, on the epoll and io_uring drivers.
//!
//! The native API takes owned buffers (`read(buf).await -> (io::Result<usize>, buf)`): that
//! is what io_uring needs to avoid a copy, and it costs nothing on epoll. Poll-style methods
//! (`poll_read(cx, &mut [u8])`) serve compatibility layers; both drivers implement them with
//! readiness plus the non-blocking syscall.
//!
//! Cargo features `tokio-compat` and `futures-io` implement those crates' `AsyncRead` and
//! `AsyncWrite` for [`TcpStream`] and [`UnixStream`] on top of the poll-style methods.
#![warn(missing_docs)]

mod compat;
pub mod copy;
mod deadlines;
mod socket;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use copy::{copy_bidirectional, CopyOptions, CopyStats, SpliceMode};
pub use ringpoll_reactor::{PartialWrite, PooledBuf, SockAddr, POOL_BUF_SIZE};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
