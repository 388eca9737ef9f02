//! ringpoll-process: child processes awaited on a core, as tokio's `process` module has them.
//!
//! [`Command`] is std's process builder; [`Command::spawn`] gives a [`Child`] whose exit and
//! pipes are awaited through the current core's reactor, on both drivers:
//!
//! - **The exit**: the child's pidfd (`pidfd_open(2)`, Linux 5.3; `waitid(P_PIDFD)`, 5.4) is
//!   registered with the reactor like a socket. It turns readable when the child exits, and
//!   a non-blocking `waitid` reaps it. No SIGCHLD handler (which would fight the program's
//!   own, or another runtime's) and no thread blocked in `waitpid`.
//! - **The pipes**: [`ChildStdin`], [`ChildStdout`] and [`ChildStderr`] are the parent's
//!   ends, close-on-exec (std makes them so) and non-blocking on this side only, with the
//!   sockets' owned-buffer `read`/`write`/`write_all` and poll-style `poll_read`/
//!   `poll_write` (and tokio's `AsyncRead`/`AsyncWrite` with the `tokio-compat` feature).
//! - **No zombies, no leaks**: a `Child` dropped unwaited is reaped in the background (see
//!   [`Child`]), killed first if [`Command::kill_on_drop`] says so; its pidfd and pipes close
//!   with it.
//!
//! ```no_run
//! # ringpoll::block_on(async {
//! use std::process::Stdio;
//!
//! use ringpoll::process::Command;
//!
//! let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//! let stdin = child.stdin.take().expect("piped");
//! stdin.write_all(b"hello".to_vec()).await.0?;
//! drop(stdin); // cat reads end of file and exits
//! let output = child.wait_with_output().await?;
//! assert_eq!(output.stdout, b"hello");
//! assert!(output.status.success());
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! A crate of its own, between `core` (it spawns the background reaper task) and the facade,
//! as `fs` is: it needs nothing of `net`, and `net` nothing of it.
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod child;
mod command;
#[cfg(feature = "tokio-compat")]
mod compat;
mod pidfd;
mod pipe;
mod reaper;

pub use child::Child;
pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
