//! OpenOptions: how to open a file, as `std::fs::OpenOptions`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use ringpoll_reactor::file::{c_path, OpenAt};

use crate::file::File;
use crate::run::run;

/// Options for [`File`]s: read, write, append, create, truncate, like `std::fs::OpenOptions`.
///
/// ```
/// # ringpoll::block_on(async {
/// use ringpoll::fs::OpenOptions;
///
/// let path = std::env::temp_dir().join(format!("ringpoll-opts-doc-{}", std::process::id()));
/// let log = OpenOptions::new().append(true).create(true).open(&path).await?;
/// let (res, _) = log.write_all(b"one line\n".to_vec()).await;
/// res?;
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: libc::mode_t,
    custom_flags: libc::c_int,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// Nothing set: choose at least `read`, `write` or `append`.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut OpenOptions {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut OpenOptions {
        self.write = on;
        self
    }

    /// Open for appending: cursor writes go to the end (implies `write`).
    pub fn append(&mut self, on: bool) -> &mut OpenOptions {
        self.append = on;
        self
    }

    /// Cut an existing file to length 0 (needs `write`).
    pub fn truncate(&mut self, on: bool) -> &mut OpenOptions {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist (needs `write` or `append`).
    pub fn create(&mut self, on: bool) -> &mut OpenOptions {
        self.create = on;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut OpenOptions {
        self.create_new = on;
        self
    }

    /// Permission bits of a created file, less the umask (default 0o666).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode as libc::mode_t;
        self
    }

    /// Extra `open(2)` flags (O_DIRECT, O_NOFOLLOW...); the access mode bits are ignored.
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.custom_flags = flags & !libc::O_ACCMODE;
        self
    }

    /// Opens `path` with these options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        // What a FIFO's open waits for (its other end) the op handles, on both drivers.
        let fd = run(OpenAt::new(c_path(path.as_ref())?, flags, self.mode)).await?;
        Ok(File::from_parts(Arc::new(fd), self.append))
    }

    /// Opens `path` relative to the directory `dir`, which it may not leave: a `..` above
    /// `dir`, an absolute path, a symlink leading out of it or any absolute symlink, and a
    /// mount point (so the file lies on `dir`'s file system) fail with `EXDEV`
    /// (`io::ErrorKind::CrossesDevices`), a /proc magic link with `ELOOP`, checked by the
    /// kernel as it resolves (`openat2(2)`'s `RESOLVE_BENEATH | RESOLVE_NO_XDEV |
    /// RESOLVE_NO_MAGICLINKS`, Linux 5.6). A lookup through `..` that a rename elsewhere in
    /// the system raced (openat2's EAGAIN) is retried. A server of a tree opens what a
    /// request names with it, instead of opening first and then asking where the descriptor
    /// landed (a readlink of `/proc/self/fd/N` per request, which cost the file server
    /// example 8% of its CPU).
    ///
    /// ```
    /// # ringpoll::block_on(async {
    /// use ringpoll::fs::OpenOptions;
    ///
    /// let tree = std::env::temp_dir().join(format!("ringpoll-beneath-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&tree)?;
    /// std::fs::write(tree.join("inside.txt"), "hello")?;
    /// let dir = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&tree).await?;
    /// let file = OpenOptions::new().read(true).open_beneath(&dir, "inside.txt").await?;
    /// assert_eq!(file.metadata().await?.len(), 5);
    /// for way_out in ["../inside.txt", "/etc/hostname"] {
    ///     let err = OpenOptions::new().read(true).open_beneath(&dir, way_out).await.unwrap_err();
    ///     assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    /// }
    /// # std::fs::remove_dir_all(&tree)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn open_beneath(&self, dir: &File, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let op = OpenAt::new(c_path(path.as_ref())?, flags, self.mode).beneath(dir.shared_fd());
        let fd = run(op).await?;
        let file = File::from_parts(Arc::new(fd), self.append);
        // Beneath `dir` and on its file system (no mount point crossed).
        file.set_fs_local(dir.fs_local().await);
        Ok(file)
    }

    /// The `open(2)` flags, with std's rules for combinations that make no sense.
    fn flags(&self) -> io::Result<libc::c_int> {
        let access = match (self.read, self.write || self.append) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => return Err(invalid("choose read, write or append")),
        };
        let writable = self.write || self.append;
        if !writable && (self.truncate || self.create || self.create_new) {
            return Err(invalid("create and truncate need write or append"));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("append and truncate together"));
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (false, false, false) => 0,
        };
        let append = if self.append { libc::O_APPEND } else { 0 };
        Ok(access | creation | append | self.custom_flags)
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
