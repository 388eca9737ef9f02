//! ringpoll: a thread-per-core async runtime for Linux.
//!
//! One pinned thread per CPU, each with a private reactor (io_uring when the kernel allows it,
//! edge-triggered epoll otherwise) and its own task queue. Tasks are `!Send` and never move;
//! other threads reach a core through its mailbox and a deduplicated eventfd wake, as Go's
//! netpoller does. Listeners bind one socket per core with SO_REUSEPORT.
//!
//! ```no_run
//! use ringpoll::net::TcpListener;
//! use ringpoll::Runtime;
//!
//! fn main() -> std::io::Result<()> {
//!     let rt = Runtime::builder().build()?;
//!     let servers = rt.run_on_each_core(|_core| async {
//!         let listener = TcpListener::bind("127.0.0.1:7000")?;
//!         loop {
//!             let (stream, _) = listener.accept().await?;
//!             ringpoll::spawn(async move {
//!                 let mut buf = Vec::with_capacity(4096);
//!                 loop {
//!                     let (n, b) = stream.read(buf).await;
//!                     match n {
//!                         Ok(0) | Err(_) => return,
//!                         Ok(_) => {}
//!                     }
//!                     let (res, b) = stream.write_all(b).await;
//!                     if res.is_err() {
//!                         return;
//!                     }
//!                     buf = b;
//!                 }
//!             });
//!         }
//!         #[allow(unreachable_code)]
//!         Ok::<(), std::io::Error>(())
//!     });
//!     for server in servers {
//!         server.join().expect("server task")?;
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod signal;

pub use ringpoll_core::{
    block_on, current_core, park_on, spawn, try_block_on, yield_now, Builder, JoinError, JoinHandle, Runtime,
};
pub use ringpoll_reactor::{DriverChoice, DriverKind, StatsSnapshot};

/// Timers: `sleep`, `timeout`, `interval`, on the current core's reactor.
pub mod time {
    pub use ringpoll_reactor::time::*;
}

/// Graceful shutdown as seen from a task: see [`Runtime::shutdown_gracefully`].
pub mod shutdown {
    pub use ringpoll_reactor::drain::{draining, is_shutting_down, Draining};
}

/// Owned buffers for the completion-style I/O API.
pub mod buf {
    pub use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, PooledBuf, Slice, POOL_BUF_SIZE};
}

/// Sockets: TCP, UDP and Unix streams, plus `copy_bidirectional` for proxies.
pub mod net {
    pub use ringpoll_net::*;
}
