//! ringpoll-net: sockets on the current core's reactor, on the epoll and io_uring drivers.
//!
//! The native API takes owned buffers (`read(buf).await -> (io::Result<usize>, buf)`): that
//! is what io_uring needs to avoid a copy, and it costs nothing on epoll. Poll-style methods
//! (`poll_read(cx, &mut [u8])`) serve compatibility layers; both drivers implement them with
//! readiness plus the non-blocking syscall.
#![warn(missing_docs)]

mod socket;
pub mod tcp;

pub use tcp::{TcpListener, TcpStream};
