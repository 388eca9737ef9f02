//! OPENAT / openat(2).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::Halves;
use crate::sys::owned;
use crate::sys::syscall;

/// What [`OpenAt::beneath`] resolves with: no step above the directory, no absolute path or
/// symlink, no mount point crossed (so what it opens lies on the directory's file system),
/// no /proc magic link (which could name any open file).
const BENEATH: u64 = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS;

/// How often the blocking half opens again when a resolution beneath a directory that went
/// through `..` met a rename anywhere in the system: openat2 then says EAGAIN rather than
/// risk a lookup the rename moved out of the directory (its man page: "may retry").
const RENAME_RACE_RETRIES: usize = 16;

/// Opens `path` (relative paths from the working directory, or from a directory it may not
/// leave: [`OpenAt::beneath`]); always close-on-exec.
#[derive(Debug)]
pub struct OpenAt {
    /// The directory `path` is resolved beneath, held open while the op may use it (a
    /// dropped future's ring entry still names it), and openat2's argument for the ring,
    /// boxed because the entry points at it. `None`: a plain openat from the working
    /// directory.
    beneath: Option<(Arc<OwnedFd>, Box<types::OpenHow>)>,
    path: CString,
    flags: libc::c_int,
    mode: libc::mode_t,
    /// The read end of a FIFO the non-blocking attempt opened before any writer came: the
    /// blocking half waits on it for a writer (see `try_now`) instead of opening again.
    fifo_reader: Option<OwnedFd>,
}

impl OpenAt {
    /// Opens `path` with `open(2)` flags and, when creating, `mode`.
    pub fn new(path: CString, flags: libc::c_int, mode: libc::mode_t) -> OpenAt {
        OpenAt { beneath: None, path, flags: flags | libc::O_CLOEXEC, mode, fifo_reader: None }
    }

    /// Resolves the path from `dir` instead, failing with `EXDEV` where it would leave it or
    /// its file system: a `..` above it, an absolute path, any symlink out of it or
    /// absolute, a mount point; and with `ELOOP` at a /proc magic link (openat2's
    /// RESOLVE_BENEATH, RESOLVE_NO_XDEV and RESOLVE_NO_MAGICLINKS, Linux 5.6). A server
    /// serving a tree needs no check of where an open landed then.
    pub fn beneath(mut self, dir: Arc<OwnedFd>) -> OpenAt {
        let how = open_how(self.flags, self.how_mode(), BENEATH);
        self.beneath = Some((dir, Box::new(how)));
        self
    }

    /// Where a relative path starts.
    fn dir(&self) -> RawFd {
        self.beneath.as_ref().map_or(libc::AT_FDCWD, |(dir, _)| dir.as_raw_fd())
    }

    /// openat2's `resolve` flags.
    fn resolve(&self) -> u64 {
        if self.beneath.is_some() {
            BENEATH
        } else {
            0
        }
    }

    /// The mode as openat2 takes it: only when creating, and only its permission bits (it
    /// refuses any other with EINVAL, where openat ignores them).
    fn how_mode(&self) -> u64 {
        if self.flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
            (self.mode & 0o7777) as u64
        } else {
            0
        }
    }

    /// openat2(2) from [`OpenAt::dir`].
    fn openat2(&self, how: &types::OpenHow) -> io::Result<RawFd> {
        let size = std::mem::size_of::<types::OpenHow>();
        // SAFETY: the path is a live C string and `how` a live open_how of the size passed
        // (`types::OpenHow` is a transparent wrapper of the kernel's struct, the one the
        // ring's OPENAT2 takes too); the directory is held open by the op.
        let fd = unsafe { libc::syscall(libc::SYS_openat2, self.dir(), self.path.as_ptr(), how, size) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd as RawFd)
    }
}

// SAFETY: the entry points at the path, a CString the op owns on the heap, at openat2's
// argument, boxed, and names the directory the op holds open.
unsafe impl Halves for OpenAt {
    const CODE: u8 = opcode::OpenAt::CODE;
    type Output = io::Result<OwnedFd>;

    fn entry(&mut self) -> squeue::Entry {
        match &self.beneath {
            None => opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
                .flags(self.flags)
                .mode(self.mode)
                .build(),
            Some((dir, how)) => opcode::OpenAt2::new(types::Fd(dir.as_raw_fd()), self.path.as_ptr(), &**how).build(),
        }
    }

    fn call(&mut self) -> io::Result<usize> {
        if let Some(reader) = self.fifo_reader.take() {
            return wait_for_a_writer(reader);
        }
        if self.beneath.is_some() {
            let how = open_how(self.flags, self.how_mode(), BENEATH);
            let mut res = self.openat2(&how);
            for _ in 0..RENAME_RACE_RETRIES {
                match res {
                    Err(ref e) if e.raw_os_error() == Some(libc::EAGAIN) => res = self.openat2(&how),
                    _ => break,
                }
            }
            return res.map(|fd| fd as usize);
        }
        // SAFETY: the path is a live NUL-terminated string.
        syscall!(openat(libc::AT_FDCWD, self.path.as_ptr(), self.flags, self.mode)).map(|fd| fd as usize)
    }

    fn try_now(&mut self) -> Option<io::Result<usize>> {
        // What io_uring tries before punting an open to a worker: only a path already in the
        // dentry cache (RESOLVE_CACHED), never creating or truncating, and O_NONBLOCK so that
        // a FIFO cannot wait for its other end; the flag is taken off again afterwards.
        if self.flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_TMPFILE) != 0 {
            return None;
        }
        let resolve = libc::RESOLVE_CACHED | self.resolve();
        let how = open_how(self.flags | libc::O_NONBLOCK, 0, resolve);
        let fd = match self.openat2(&how) {
            Ok(fd) => owned(fd),
            // Leaving the directory is refused whatever the cache holds: no second try.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) && self.beneath.is_some() => return Some(Err(e)),
            Err(_) => return None,
        };
        if self.flags & (libc::O_ACCMODE | libc::O_NONBLOCK) == libc::O_RDONLY && is_fifo(&fd) {
            // O_NONBLOCK opened a FIFO's read end without waiting for a writer, where open(2)
            // (and std) waits: a read now would be end of stream and lose what the writer
            // sends. Closing it and opening again on a helper thread would wake a writer
            // waiting in its open for a reader that is gone by its write (EPIPE), so the
            // descriptor is kept, and the helper thread waits on it for the writer.
            self.fifo_reader = Some(fd);
            return None;
        }
        if self.flags & libc::O_NONBLOCK == 0 {
            clear_nonblocking(&fd).ok()?;
        }
        Some(Ok(fd.into_raw_fd() as usize))
    }

    /// io_uring's first, non-blocking try of an open adds O_NONBLOCK, under which the write
    /// end of a FIFO no one reads yet is ENXIO, where open(2) (and std) waits for a reader.
    /// So an ENXIO the caller did not ask for with O_NONBLOCK goes to the blocking half,
    /// which waits as open(2) does; a device with no driver (the other ENXIO) just says it
    /// again there.
    ///
    /// Beneath a directory, the ring's EAGAIN is openat2's answer to a rename racing a `..`
    /// in the lookup; the blocking half retries it.
    fn wants_blocking(&self, res: i32) -> bool {
        (res == -libc::ENXIO && self.flags & libc::O_NONBLOCK == 0) || (res == -libc::EAGAIN && self.beneath.is_some())
    }

    fn finish(self, res: io::Result<usize>) -> io::Result<OwnedFd> {
        res.map(|fd| owned(fd as RawFd))
    }
}

/// openat2(2)'s argument, for the ring's OPENAT2 and the blocking half's openat2 alike
/// (`libc::open_how` is non-exhaustive, so it cannot be built; io-uring's wrapper is
/// `repr(transparent)` over the kernel's struct).
fn open_how(flags: libc::c_int, mode: u64, resolve: u64) -> types::OpenHow {
    types::OpenHow::new().flags(flags as u64).mode(mode).resolve(resolve)
}

/// Whether `fd` is a FIFO (named pipe).
fn is_fifo(fd: &OwnedFd) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a live stat buffer the kernel fills; the descriptor is open.
    let ok = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } == 0;
    // SAFETY: fstat succeeded, so it filled `st`.
    ok && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFIFO
}

/// On a helper thread: blocks until a writer has come to the FIFO `reader` reads (its data
/// or its close makes the non-blocking descriptor readable; before any writer, poll(2)
/// reports nothing), then clears O_NONBLOCK, as the blocking open(2) would have returned it.
fn wait_for_a_writer(reader: OwnedFd) -> io::Result<usize> {
    let mut pfd = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: `pfd` is one live pollfd.
        match syscall!(poll(&mut pfd, 1, -1)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            res => {
                res?;
                break;
            }
        }
    }
    clear_nonblocking(&reader)?;
    Ok(reader.into_raw_fd() as usize)
}

/// Takes off the O_NONBLOCK an open added that the caller did not ask for.
fn clear_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let status = syscall!(fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
    syscall!(fcntl(fd.as_raw_fd(), libc::F_SETFL, status & !libc::O_NONBLOCK)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_enxio_the_caller_did_not_ask_for_goes_to_the_blocking_half() {
        let open = |flags| OpenAt::new(CString::new("/tmp/fifo").unwrap(), flags, 0);
        assert!(open(libc::O_WRONLY).wants_blocking(-libc::ENXIO), "the ring's O_NONBLOCK said it");
        assert!(!open(libc::O_WRONLY | libc::O_NONBLOCK).wants_blocking(-libc::ENXIO), "asked for");
        assert!(!open(libc::O_WRONLY).wants_blocking(-libc::ENOENT));
        assert!(!open(libc::O_WRONLY).wants_blocking(3), "an opened descriptor stands");
    }
}
