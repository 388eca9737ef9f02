//! What the integration tests share, as tokio's `tests/support`: each test file declares
//! `mod support;` and takes what it needs with `use support::*;`.
//!
//! - `runtime`: the driver under test, `run` (a one-core `block_on` on it), runtimes, waits
//!   and joins bounded in time;
//! - `fds`: counting this process's descriptors, so a test can show it leaked none;
//! - `payload`: deterministic test bytes;
//! - `tcp`: a connected loopback pair, an echo server, a round trip;
//! - `poll`: polling a future once by hand (to drop it with its operation in flight);
//! - `child`: example binaries run as child processes, killed when dropped;
//! - `cpu`: the CPU time a process or thread has used;
//! - `temp_dir`: a fresh directory for one test, removed when dropped.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

mod child;
mod cpu;
mod fds;
mod payload;
mod poll;
mod runtime;
mod tcp;
mod temp_dir;

pub use child::*;
pub use cpu::*;
pub use fds::*;
pub use payload::*;
pub use poll::*;
pub use runtime::*;
pub use tcp::*;
pub use temp_dir::*;
