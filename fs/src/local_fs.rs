//! Which file systems answer an open file's metadata from memory, so that its statx can run
//! on the core thread instead of a helper thread.
//!
//! A local file system keeps an open file's inode, attributes included, in memory: a statx
//! of it reads that and returns. A network or cluster file system may ask its server even
//! then, whatever `AT_STATX_DONT_SYNC` asks (9p without a cache, SMB with its attribute
//! cache off, gfs2 for its cluster lock), which would stall every task of the core. So only
//! the file systems named here are trusted, and anything else keeps the ring or the pool.

use std::os::fd::{AsRawFd, OwnedFd};

/// `statfs.f_type` of the trusted file systems: ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ramfs,
/// ZFS, bcachefs. Not overlayfs, which containers use: it asks its layers, and a lower layer
/// may be NFS or FUSE.
const LOCAL: [u32; 8] =
    [0xef53, 0x5846_5342, 0x9123_683e, 0x0102_1994, 0xf2f5_2010, 0x8584_58f6, 0x2fc1_2fc1, 0xca45_1a4e];

/// Whether `fd` lies on one of the trusted file systems. It blocks (statfs may ask a network
/// file system's server): call it on a helper thread.
pub(crate) fn is_local(fd: &OwnedFd) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is a live statfs buffer the kernel fills; the descriptor is open.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstatfs succeeded, so it filled `st`.
    let f_type = unsafe { st.assume_init() }.f_type;
    LOCAL.contains(&(f_type as u32))
}
