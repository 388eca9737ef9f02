//! ringpoll: a thread-per-core async runtime for Linux.
//!
//! One pinned thread per CPU, each with a private reactor (io_uring when the kernel allows it,
//! edge-triggered epoll otherwise) and its own task queue. Tasks are `!Send` and never move;
//! other threads reach a core through its mailbox and a deduplicated eventfd wake, as Go's
//! netpoller does. Listeners bind one socket per core with SO_REUSEPORT.
//!
//! Cores share nothing and talk by messages: a [`Handle`] reaches every core from anywhere,
//! [`channel::cross_core`] carries messages and replies between cores, [`channel::watch`] and
//! [`channel::broadcast`] push a value or every message from one core to all of them, and
//! [`channel::local`] and [`sync`] serve the tasks of one core (no atomics).
//!
//! Within one task, [`join!`], [`try_join!`] and [`select!`] wait on several futures at once,
//! as tokio's macros of those names do.
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
//!             })
//!             .detach(); // runs on; its result is not wanted
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
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

pub mod signal;

mod join;
mod select;

pub use ringpoll_core::{channel, sync};

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;

#[doc(hidden)]
#[path = "macros.rs"]
pub mod __macros;

pub use ringpoll_macros::{main, test};

pub use ringpoll_core::{
    block_on, current_core, park_on, spawn, spawn_blocking, try_block_on, yield_now, Builder, Handle, JoinError,
    JoinHandle, Runtime,
};
pub use ringpoll_reactor::{DriverChoice, DriverKind, StatsSnapshot};

/// Timers: `sleep`, `timeout`, `interval`, on the current core's reactor.
pub mod time {
    pub use ringpoll_reactor::time::*;
}

/// Graceful shutdown as seen from a task: see [`Runtime::shutdown_gracefully`].
pub mod shutdown {
    pub use ringpoll_reactor::drain::{draining, is_shutting_down, shutting_down, Draining};
}

/// Descriptors registered with the current core's reactor, for I/O the socket types do not
/// wrap (`TcpStream::as_source`, custom syscalls, splice).
pub mod io {
    pub use ringpoll_reactor::{EnterGuard, Interest, Pipe, Reactor, Source};
}

/// Per-core counters ([`Runtime::stats`]) and the eventfd wake they count.
pub mod stats {
    pub use ringpoll_reactor::{Break, Counter, Stats, StatsSnapshot};
}

/// Owned buffers for the completion-style I/O API.
pub mod buf {
    pub use ringpoll_reactor::{BufResult, IoBuf, IoBufMut, PooledBuf, Slice, Spare, POOL_BUF_SIZE};
}

/// Files and paths: ring ops on io_uring cores, the blocking pool on epoll cores.
///
/// `std::fs`'s API made async, with owned buffers (`read_at(buf, pos).await -> (result,
/// buf)`). On io_uring every call is a ring op; on epoll what cannot block (a cached read or
/// open) runs on the core and the rest on the blocking pool ([`spawn_blocking`]). Dropping
/// a future leaks no descriptor and loses no buffer: the op keeps them until it is done (a
/// dropped write may still land). Tasks sharing a [`File`](fs::File) take turns at its
/// cursor; positional I/O does not wait.
///
/// `read_dir`, `copy`, `remove_dir_all`, `set_permissions`, links and the rest of `std::fs`
/// are not wrapped (io_uring has no getdents): call std's on the blocking pool.
///
/// ```
/// # ringpoll::block_on(async {
/// let names = ringpoll::spawn_blocking(|| {
///     std::fs::read_dir(std::env::temp_dir())?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<Vec<_>>>()
/// })
/// .await
/// .expect("no panic")?;
/// # drop(names);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub mod fs {
    pub use ringpoll_fs::*;
}

/// Child processes, as tokio's `process`: [`Command`](process::Command) spawns a
/// [`Child`](process::Child) whose exit (a pidfd on the core's reactor: no SIGCHLD handler,
/// no waiting thread) and pipes are awaited on the current core. The `ringpoll-process`
/// crate, a sibling of `fs` below the facade.
pub mod process {
    pub use ringpoll_process::*;
}

/// Sockets: TCP, UDP, Unix streams and datagrams, plus `copy_bidirectional` for proxies.
pub mod net {
    pub use ringpoll_net::*;
}

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
