//! The tree served: its path as given, and its directory open on this core, beneath which
//! each request's path is opened, so that nothing outside it is served.
//!
//! The kernel checks that as it resolves the path (`OpenOptions::open_beneath`, openat2's
//! RESOLVE_BENEATH): a `..`, an absolute symlink or one leading out, or a mount point, stops
//! it there (EXDEV). Only such a path is opened again by its whole path, and served if the
//! descriptor's real path (`/proc/self/fd/N`) lies under the open directory's: an absolute
//! symlink to a file inside is served, as before. Checking every request that way instead cost 8% of the
//! server's CPU (a readlink per request, under `wrk` on 4 KiB files).
//!
//! An open directory is the directory it was, wherever it is moved: a root replaced under
//! its path would go on being served from the old tree, whether the deploy moved
//! directories (`mv www www.old && mv www.new www`) or swapped a symlink the path goes
//! through (`ln -sfn releases/v2 current`). So once a second, at the first request in it,
//! the path as given is looked up again, every symlink in it followed, and a different
//! directory there is opened instead, as a server resolving the root by path per request
//! (nginx) finds it, a second later at most.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use ringpoll::fs::{self, File, OpenOptions};

use super::etag;
use super::http_date;

/// The tree served, on one core.
pub struct Root {
    /// As given (absolute): a symlink in it is followed anew at each look-up.
    path: PathBuf,
    /// The directory open (shared with the requests using it while it is replaced).
    dir: RefCell<Rc<Directory>>,
    /// The second the path was last looked up in.
    checked: Cell<u64>,
}

/// A directory open, which one it is, and where.
struct Directory {
    file: File,
    /// Device and inode.
    id: ((u32, u32), u64),
    /// Its real path, every symlink resolved: what a file opened by its whole path must lie
    /// under.
    real: PathBuf,
}

impl Directory {
    async fn open(path: &Path) -> io::Result<Directory> {
        let file = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(path).await?;
        let meta = file.metadata().await?;
        let real = real_path_of(&file).ok_or_else(|| io::Error::other("the root's real path is unknown"))?;
        Ok(Directory { file, id: (meta.dev(), meta.ino()), real })
    }
}

/// What a file's response says of it beside its bytes.
pub struct FileMeta {
    /// Its length.
    pub len: u64,
    /// Its mtime in whole seconds since the epoch, never later than now (RFC 9110
    /// §8.8.2.1); `None` before 1970.
    pub modified: Option<u64>,
    /// Its entity tag (`etag.rs`).
    pub etag: String,
    /// Its path relative to the root (for its Content-Type).
    pub rel: PathBuf,
}

/// What a path under the root names.
pub enum Found {
    /// A regular file and what its response says of it.
    File(File, FileMeta),
    /// A directory named without its trailing slash (with one, the path is its
    /// `index.html`), by its path relative to the root.
    Directory(PathBuf),
}

impl Root {
    /// Opens the directory at `path` (absolute) for this core's requests.
    pub async fn open(path: &Path) -> io::Result<Root> {
        let dir = RefCell::new(Rc::new(Directory::open(path).await?));
        Ok(Root { path: path.to_owned(), dir, checked: Cell::new(http_date::now_secs()) })
    }

    /// The root's directory: the one open, or once a second, if another directory now has
    /// the root's path, that one (see the module's docs). If the path is gone, or the new
    /// directory cannot be opened, the one open goes on being served.
    async fn directory(&self) -> Rc<Directory> {
        let open = self.dir.borrow().clone();
        let now = http_date::now_secs();
        if self.checked.replace(now) == now {
            return open;
        }
        match fs::metadata(&self.path).await {
            Ok(meta) if (meta.dev(), meta.ino()) != open.id => match Directory::open(&self.path).await {
                Ok(new) => {
                    let new = Rc::new(new);
                    *self.dir.borrow_mut() = new.clone();
                    new
                }
                Err(_) => open,
            },
            _ => open,
        }
    }

    /// Finds `rel` (relative, no `..`: `target::relative_path`) under the root. The error
    /// is the HTTP status: 404 missing, 403 outside the root, unreadable or neither a file
    /// nor a directory, 503 out of descriptors or memory, 500 otherwise.
    pub async fn find(&self, rel: PathBuf) -> Result<Found, u16> {
        let file = self.open_file(&rel).await?;
        let meta = file.metadata().await.map_err(status)?;
        match (meta.is_file(), meta.is_dir()) {
            (true, _) => {
                let etag = etag::of(meta.modified(), meta.len());
                let modified = meta.modified().min(SystemTime::now());
                let modified = modified.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs());
                Ok(Found::File(file, FileMeta { len: meta.len(), modified, etag, rel }))
            }
            (_, true) => Ok(Found::Directory(rel)),
            _ => Err(403),
        }
    }

    async fn open_file(&self, rel: &Path) -> Result<File, u16> {
        let dir = self.directory().await;
        match read_only().open_beneath(&dir.file, rel).await {
            // Stopped at a symlink or a mount point: see the module's docs.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => open_by_whole_path(&dir, rel).await,
            opened => opened.map_err(status),
        }
    }
}

/// Opens `rel` from `dir`'s real path, following every symlink, and keeps it only if it
/// landed under that directory.
async fn open_by_whole_path(dir: &Directory, rel: &Path) -> Result<File, u16> {
    let file = read_only().open(dir.real.join(rel)).await.map_err(status)?;
    match real_path_of(&file) {
        Some(real) if real.starts_with(&dir.real) => Ok(file),
        _ => Err(403),
    }
}

/// How a served file is opened: O_NONBLOCK, so that opening a FIFO someone left in the
/// tree does not wait for a writer.
fn read_only() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    options
}

/// The status an open's (or statx's) failure answers with, as nginx answers them: 404 for
/// what is not there, 403 for what may not be read, 503 for what this server ran out of
/// (descriptors, memory; or a lookup that renames kept racing: a retry may well work, and a
/// 404 would tell the client, and any cache on the way, that the file is gone), 500 for
/// anything else.
fn status(e: io::Error) -> u16 {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => 404,
        Some(libc::EACCES | libc::EPERM | libc::ELOOP) => 403,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN) => 503,
        _ => 500,
    }
}

/// Where the open descriptor really is, every symlink resolved (a procfs read: no disk).
fn real_path_of(file: &File) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}
