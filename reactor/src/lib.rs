//! ringpoll-reactor: the per-core reactor of the ringpoll runtime.
//!
//! A [`Reactor`] belongs to one core thread. It runs one of two drivers behind one API:
//!
//! - **epoll**, after Go's netpoller: each fd registered once, edge-triggered, with a
//!   PollDesc per fd; operations try the syscall and park on EAGAIN.
//! - **io_uring**: completion-based ops whose buffers the reactor owns until the kernel is done
//!   with them, submitted in one batch per loop turn.
//!
//! Both carry the core's [`Timers`](timers::Timers) (the nearest deadline bounds the wait) and
//! its netpollBreak eventfd ([`Break`]), which other threads write, deduplicated, to wake it.
//!
//! Most users reach all this through the `ringpoll` facade; the types here matter to those
//! writing their own I/O objects on a [`Source`].
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

pub mod budget;
mod buf;
#[doc(hidden)]
pub mod counting_waker;
mod deadline;
pub mod drain;
mod driver;
mod epoll;
mod interest;
mod io;
mod netpoll_break;
mod op;
mod pool;
mod reactor;
#[doc(hidden)]
pub mod sigpipe;
pub mod slab;
mod sockaddr;
mod source;
mod splice;
mod stats;
pub mod sys;
mod target;
pub mod time;
mod timer_moves;
pub mod timers;
mod try_io;
mod turn;
mod uring;
mod write_all;

pub use buf::{BufResult, IoBuf, IoBufMut, Slice, Spare};
pub use driver::{DriverChoice, DriverKind, DRIVER_ENV};
pub use interest::Interest;
pub use io::PartialWrite;
pub use netpoll_break::Break;
pub use op::file;
pub use pool::{PooledBuf, POOL_BUF_SIZE};
pub use reactor::{EnterGuard, Reactor};
pub use sockaddr::SockAddr;
pub use source::Source;
pub use splice::Pipe;
pub use stats::{Counter, Stats, StatsSnapshot};
