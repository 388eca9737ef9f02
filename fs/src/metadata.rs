//! Metadata: what `statx` says about a file.

use std::time::{Duration, SystemTime};

use ringpoll_reactor::file::StatxRecord;

/// A file's metadata (from `statx(2)`, an io_uring STATX op on io_uring cores).
#[derive(Clone)]
pub struct Metadata {
    stx: Box<StatxRecord>,
}

/// What kind of file a [`Metadata`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only from [`symlink_metadata`](crate::symlink_metadata)).
    Symlink,
    /// A socket, pipe, device or other special file.
    Other,
}

impl Metadata {
    pub(crate) fn new(stx: Box<StatxRecord>) -> Metadata {
        Metadata { stx }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of file.
    pub fn file_type(&self) -> FileType {
        match u32::from(self.stx.stx_mode) & libc::S_IFMT {
            libc::S_IFREG => FileType::File,
            libc::S_IFDIR => FileType::Dir,
            libc::S_IFLNK => FileType::Symlink,
            _ => FileType::Other,
        }
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == FileType::File
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Dir
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == FileType::Symlink
    }

    /// The permission bits (`mode & 0o7777`).
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode) & 0o7777
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// The device the file lives on (major, minor).
    pub fn dev(&self) -> (u32, u32) {
        (self.stx.stx_dev_major, self.stx.stx_dev_minor)
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        time(self.stx.stx_mtime)
    }

    /// Last access time.
    pub fn accessed(&self) -> SystemTime {
        time(self.stx.stx_atime)
    }

    /// Creation time, where the filesystem records it.
    pub fn created(&self) -> Option<SystemTime> {
        (self.stx.stx_mask & libc::STATX_BTIME != 0).then(|| time(self.stx.stx_btime))
    }

    /// The raw `statx` record.
    pub fn as_statx(&self) -> &StatxRecord {
        &self.stx
    }
}

fn time(t: libc::statx_timestamp) -> SystemTime {
    let since = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec);
    match t.tv_sec >= 0 {
        true => SystemTime::UNIX_EPOCH + since,
        false => SystemTime::UNIX_EPOCH - since,
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .finish_non_exhaustive()
    }
}
