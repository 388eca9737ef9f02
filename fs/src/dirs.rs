//! Directories: create (with parents) and remove.

use std::io;
use std::path::Path;

use ringpoll_reactor::file::{c_path, MkdirAt, UnlinkAt};

use crate::paths::metadata;
use crate::run::run;

/// Creates directory `path` (mode 0o777 less the umask); its parent must exist.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(MkdirAt::new(c_path(path.as_ref())?, 0o777)).await
}

/// Creates `path` and every missing parent; a directory that exists already is fine, even
/// one another task creates at the same moment.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up to the first ancestor that exists (or is made), then create the rest downwards.
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if at.as_os_str().is_empty() {
            break;
        }
        match mkdir_or_existing(at).await {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(at);
                match at.parent() {
                    Some(parent) => at = parent,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    for dir in missing.into_iter().rev() {
        mkdir_or_existing(dir).await?;
    }
    Ok(())
}

/// mkdir, where an existing directory counts as success.
async fn mkdir_or_existing(path: &Path) -> io::Result<()> {
    match create_dir(path).await {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match metadata(path).await {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(e),
        },
        other => other,
    }
}

/// Removes an empty directory.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(UnlinkAt::new(c_path(path.as_ref())?, true)).await
}
