//! ringpoll-fs: files and paths without stalling a core.
//!
//! The API is `std::fs`'s, made async and given owned buffers (`read_at(buf, pos).await ->
//! (io::Result<usize>, buf)`), like the sockets. Where it runs depends on the core's driver:
//!
//! - **io_uring**: every call is a ring op (OPENAT, READ, WRITE, FSYNC, STATX, FTRUNCATE,
//!   MKDIRAT, UNLINKAT, RENAMEAT) submitted with the core's other I/O; the core thread never
//!   blocks on the disk.
//! - **epoll**: regular files have no readiness (epoll calls them always ready and a read
//!   that misses the page cache blocks). What cannot block runs at once on the core: a read
//!   of cached pages (`preadv2` with RWF_NOWAIT) and an open of a path in the dentry cache
//!   (`openat2` with RESOLVE_CACHED), as io_uring itself tries before it punts to a worker.
//!   Everything else runs its syscall on the runtime's blocking pool
//!   ([`spawn_blocking`](ringpoll_core::spawn_blocking)), which wakes the task on its core
//!   when done. So does an io_uring core whose kernel lacks an opcode (FTRUNCATE needs Linux
//!   6.9).
//!
//! Same API, same tests on both. **Dropping a future loses nothing and leaks nothing**: the
//! op keeps its buffer and the file's descriptor (an `Arc`) until the kernel or the helper
//! thread is done; a dropped `open` that succeeds late closes what it opened; a dropped
//! cursor `read` does not move the cursor, so the next read gets the same bytes.
//!
//! ```
//! # ringpoll::block_on(async {
//! use ringpoll::fs;
//!
//! let dir = std::env::temp_dir().join(format!("ringpoll-fs-doc-{}", std::process::id()));
//! fs::create_dir_all(&dir).await?;
//! let path = dir.join("hello.txt");
//! fs::write(&path, b"hello, world".to_vec()).await?;
//!
//! let file = fs::File::open(&path).await?;
//! let (n, buf) = file.read_at(Vec::with_capacity(5), 7).await;
//! assert_eq!(&buf[..n?], b"world");
//! assert_eq!(file.metadata().await?.len(), 12);
//!
//! fs::remove_file(&path).await?;
//! std::fs::remove_dir(&dir)?;
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! **Not here**: `read_dir`, `copy`, `remove_dir_all`, `canonicalize`, `set_permissions`,
//! links (`hard_link`, `symlink`, `read_link`) and the rest of `std::fs` have no ring op
//! (io_uring has no getdents) and no async form here. Call std's on the blocking pool, which
//! keeps the core free as these do:
//!
//! ```
//! # ringpoll::block_on(async {
//! let dir = std::env::temp_dir();
//! let names = ringpoll::spawn_blocking(move || {
//!     std::fs::read_dir(dir)?.map(|entry| entry.map(|e| e.file_name())).collect::<std::io::Result<Vec<_>>>()
//! })
//! .await
//! .expect("no panic")?;
//! # drop(names);
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod cursor_turn;
mod dirs;
mod file;
mod local_fs;
mod metadata;
mod open_options;
mod paths;
mod run;
mod whole;

pub use dirs::{create_dir, create_dir_all, remove_dir};
pub use file::File;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;
pub use paths::{metadata, remove_file, rename, symlink_metadata};
pub use whole::{read, read_to_string, write};
