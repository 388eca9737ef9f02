//! Operations on names: remove, rename, metadata.

use std::io;
use std::path::Path;

use ringpoll_reactor::file::{c_path, RenameAt, Statx, UnlinkAt};

use crate::metadata::Metadata;
use crate::run::run;

/// Removes a file (not a directory: see [`remove_dir`](crate::remove_dir)).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    run(UnlinkAt::new(c_path(path.as_ref())?, false)).await
}

/// Renames `from` to `to`, replacing `to` if it exists (atomically, within one filesystem).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    run(RenameAt::new(c_path(from.as_ref())?, c_path(to.as_ref())?)).await
}

/// The metadata of `path`, following symlinks.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    run(Statx::of_path(c_path(path.as_ref())?, true)).await.map(Metadata::new)
}

/// The metadata of `path` itself, a symlink not followed.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    run(Statx::of_path(c_path(path.as_ref())?, false)).await.map(Metadata::new)
}
