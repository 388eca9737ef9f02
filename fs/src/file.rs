//! File: an open file whose every operation runs off the core thread's critical path.

use std::cell::Cell;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use ringpoll_reactor::file::{Fsync, Ftruncate, ReadAt, Statx, WriteAt, CURRENT_POSITION};
use ringpoll_reactor::{BufResult, IoBuf, IoBufMut};

use crate::cursor_turn::{CursorTurn, Turn};
use crate::local_fs;
use crate::metadata::Metadata;
use crate::open_options::OpenOptions;
use crate::run::run;

/// An open file. Positional I/O (`read_at`, `write_at`) takes an offset; cursor I/O (`read`,
/// `write`) uses the file's own cursor, which only a completed operation moves: a dropped
/// `read` future moves nothing, so the next read returns the same bytes.
///
/// Tasks may share a `File` (an `Rc<File>`): its cursor operations (`read`, `write`,
/// `write_all`, `seek`) take turns, in the order they were called, so each starts where the
/// one before left the cursor and a `write_all` lands whole, never interleaved with another.
/// Positional I/O does not wait for a turn, nor does a file without an offset (a pipe, a
/// FIFO, a terminal), where a read waiting for data must not hold up a write.
///
/// A write whose future is dropped while its op is in flight still lands, or not at all,
/// when the kernel or the pool thread gets to it: possibly after a later write to the same
/// bytes, which it then overwrites. Await a write to the end before writing the same range
/// again.
///
/// The descriptor is shared (`Arc`) with operations in flight, so dropping the `File` while
/// a dropped future's op is still running closes it only when that op is done.
///
/// ```
/// # ringpoll::block_on(async {
/// use ringpoll::fs::File;
///
/// let path = std::env::temp_dir().join(format!("ringpoll-file-doc-{}", std::process::id()));
/// let file = File::create(&path).await?;
/// let (res, _) = file.write_all(b"0123456789".to_vec()).await;
/// res?;
/// file.sync_data().await?;
/// let (n, buf) = file.read_at(vec![0u8; 4], 3).await;
/// assert_eq!(&buf[..n?], b"3456");
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct File {
    fd: Arc<OwnedFd>,
    cursor: Cell<u64>,
    /// Held by the cursor operation that runs; the others wait for it.
    turn: CursorTurn,
    append: bool,
    /// Whether the file has no offset (a pipe, a FIFO, a terminal), once known: cursor I/O
    /// then reads and writes where the file is, as std's `Read`/`Write` do.
    unseekable: Cell<Option<bool>>,
    /// Whether the file lies on a file system that answers metadata from memory
    /// (`local_fs.rs`), once known: then `metadata` runs on the core.
    fs_local: Cell<Option<bool>>,
}

/// Positions go to the kernel as an `i64` (`pread`) or as io_uring's offset, where -1
/// (`u64::MAX`) means "at the descriptor's own offset", which cursor I/O never moves: past
/// `i64::MAX` a read or write would land at the start of the file instead of failing.
fn check_position(pos: u64) -> io::Result<()> {
    match i64::try_from(pos) {
        Ok(_) => Ok(()),
        Err(_) => Err(io::Error::new(io::ErrorKind::InvalidInput, "file position past i64::MAX")),
    }
}

/// Whether `res` failed because the file has no offset to read or write at.
fn is_espipe<T>(res: &io::Result<T>) -> bool {
    matches!(res, Err(e) if e.raw_os_error() == Some(libc::ESPIPE))
}

impl File {
    pub(crate) fn from_parts(fd: Arc<OwnedFd>, append: bool) -> File {
        File {
            fd,
            cursor: Cell::new(0),
            turn: CursorTurn::default(),
            append,
            unseekable: Cell::new(None),
            fs_local: Cell::new(None),
        }
    }

    /// Records whether the file's file system answers metadata from memory (a file opened
    /// beneath a directory lies on the directory's).
    pub(crate) fn set_fs_local(&self, local: bool) {
        self.fs_local.set(Some(local));
    }

    /// Whether the file's file system answers metadata from memory, found out once on the
    /// blocking pool (statfs may ask a server) and kept. Off a core (no pool to ask), or if
    /// the pool could not run the check, the answer is no, and it is asked again next time.
    pub(crate) async fn fs_local(&self) -> bool {
        if let Some(local) = self.fs_local.get() {
            return local;
        }
        if ringpoll_core::current_core().is_none() {
            return false;
        }
        let fd = self.fd.clone();
        match ringpoll_core::spawn_blocking(move || local_fs::is_local(&fd)).await {
            Ok(local) => {
                self.fs_local.set(Some(local));
                local
            }
            Err(_) => false,
        }
    }

    /// The descriptor, shared with an op that must keep it open.
    pub(crate) fn shared_fd(&self) -> Arc<OwnedFd> {
        self.fd.clone()
    }

    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates `path` for reading and writing, truncating it if it exists.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).await
    }

    /// [`OpenOptions`] to open with.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Takes an open std file where std left it: the cursor starts at the file's offset
    /// (0 for a pipe, which has none), and a file opened to append still appends.
    pub fn from_std(file: std::fs::File) -> File {
        let offset = (&file).stream_position().unwrap_or(0);
        // SAFETY: F_GETFL reads the open file's flags and touches no memory.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        let append = flags != -1 && flags & libc::O_APPEND != 0;
        let file = File::from_parts(Arc::new(file.into()), append);
        file.cursor.set(offset);
        file
    }

    /// Gives the file back to std, where this `File`'s cursor is: the descriptor's offset is
    /// set to [`position`](File::position) (cursor I/O reads and writes at positions and never
    /// moves it), so std reads and writes on from there; a file opened to append still
    /// appends. A file without an offset (a pipe) is handed over as it is. The mirror of
    /// [`from_std`](File::from_std).
    ///
    /// If a dropped future's operation still runs on the descriptor, the std file gets a
    /// duplicate of it (the same open file, offset included): the original closes once that
    /// operation is done. Fails if the duplicate cannot be made (EMFILE) or the offset cannot
    /// be set (a cursor past `i64::MAX`); the file is closed then.
    ///
    /// ```
    /// # ringpoll::block_on(async {
    /// use std::io::Read;
    /// use ringpoll::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringpoll-into-std-doc-{}", std::process::id()));
    /// std::fs::write(&path, b"header|body")?;
    /// let file = File::open(&path).await?;
    /// let (n, header) = file.read(vec![0u8; 7]).await;
    /// assert_eq!(&header[..n?], b"header|");
    /// let mut rest = String::new();
    /// file.into_std()?.read_to_string(&mut rest)?;
    /// assert_eq!(rest, "body");
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn into_std(self) -> io::Result<std::fs::File> {
        let pos = self.cursor.get();
        let seekable = !self.unseekable();
        let fd = match Arc::try_unwrap(self.fd) {
            Ok(fd) => fd,
            Err(shared) => shared.try_clone()?,
        };
        if seekable {
            let pos =
                i64::try_from(pos).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cursor past i64::MAX"))?;
            // SAFETY: lseek on a descriptor owned here; it touches no memory.
            if unsafe { libc::lseek(fd.as_raw_fd(), pos, libc::SEEK_SET) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(fd.into())
    }

    /// A second `File` on the same open file: a new descriptor (`dup`, close-on-exec) with a
    /// cursor of its own, which starts where this file's cursor is once the cursor operations
    /// already called on it are done (it waits for its turn, as they do). From then on the
    /// two cursors move apart, and cursor operations on one do not wait for the other's.
    ///
    /// What the two share is what the kernel keeps per open file, not per descriptor: the
    /// file offset (which cursor I/O neither reads nor moves: it reads and writes at the
    /// cursor's position, so unlike tokio's clones, a read through one does not move the
    /// other), the status flags (a file opened to append appends through both) and the file's
    /// data. A file without an offset (a pipe, a FIFO) is one stream read or written through
    /// both. Either may be dropped first.
    ///
    /// ```
    /// # ringpoll::block_on(async {
    /// use std::io::SeekFrom;
    /// use ringpoll::fs::File;
    ///
    /// let path = std::env::temp_dir().join(format!("ringpoll-try-clone-doc-{}", std::process::id()));
    /// std::fs::write(&path, b"hello world")?;
    /// let file = File::open(&path).await?;
    /// file.seek(SeekFrom::Start(6)).await?;
    /// let clone = file.try_clone().await?;
    /// drop(file);
    /// assert_eq!(clone.position(), 6);
    /// let (n, buf) = clone.read(Vec::with_capacity(16)).await;
    /// assert_eq!(&buf[..n?], b"world");
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn try_clone(&self) -> io::Result<File> {
        let _turn = self.cursor_turn().await;
        let fd = self.fd.try_clone()?;
        let clone = File::from_parts(Arc::new(fd), self.append);
        clone.cursor.set(self.cursor.get());
        clone.unseekable.set(self.unseekable.get());
        clone.fs_local.set(self.fs_local.get());
        Ok(clone)
    }

    /// Reads into `buf` (from its start, up to its capacity) at byte `pos`; afterwards `buf`
    /// holds exactly the bytes read. `Ok(0)` is the end of the file.
    /// A position past `i64::MAX` is `InvalidInput`, as for std.
    pub async fn read_at<B: IoBufMut + Send>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = check_position(pos) {
            return (Err(e), buf);
        }
        run(ReadAt::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes some of `buf`'s bytes at byte `pos`; returns how many. A position past
    /// `i64::MAX` is `InvalidInput`, as for std.
    pub async fn write_at<B: IoBuf + Send>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(e) = check_position(pos) {
            return (Err(e), buf);
        }
        run(WriteAt::new(self.fd.clone(), buf, pos)).await
    }

    /// Writes all of `buf` at byte `pos`.
    pub async fn write_all_at<B: IoBuf + Send>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut slice = buf.slice(..);
        while slice.begin() < total {
            let at = pos + slice.begin() as u64;
            let (res, s) = self.write_at(slice, at).await;
            let (begin, whole) = (s.begin(), s.into_inner());
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), whole),
                Ok(n) => slice = whole.slice(begin + n..),
                Err(e) => return (Err(e), whole),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// Reads at the cursor and moves it past the bytes read. On a file without an offset (a
    /// pipe, a FIFO) it reads what comes next and leaves the cursor alone.
    pub async fn read<B: IoBufMut + Send>(&self, buf: B) -> BufResult<usize, B> {
        let _turn = self.cursor_turn().await;
        if self.unseekable() {
            return run(ReadAt::new(self.fd.clone(), buf, CURRENT_POSITION)).await;
        }
        let pos = self.cursor.get();
        let (res, buf) = self.read_at(buf, pos).await;
        if is_espipe(&res) {
            self.unseekable.set(Some(true));
            return run(ReadAt::new(self.fd.clone(), buf, CURRENT_POSITION)).await;
        }
        if let Ok(n) = res {
            self.cursor.set(pos + n as u64);
        }
        (res, buf)
    }

    /// Writes at the cursor and moves it past the bytes written; on a file opened with
    /// `append`, or without an offset (a pipe, a FIFO), writes at the end and leaves the
    /// cursor alone.
    pub async fn write<B: IoBuf + Send>(&self, buf: B) -> BufResult<usize, B> {
        let _turn = self.cursor_turn().await;
        self.write_at_cursor(buf).await
    }

    /// `write`, its turn already taken.
    async fn write_at_cursor<B: IoBuf + Send>(&self, buf: B) -> BufResult<usize, B> {
        if self.append || self.unseekable() {
            return run(WriteAt::new(self.fd.clone(), buf, CURRENT_POSITION)).await;
        }
        let pos = self.cursor.get();
        let (res, buf) = self.write_at(buf, pos).await;
        if is_espipe(&res) {
            self.unseekable.set(Some(true));
            return run(WriteAt::new(self.fd.clone(), buf, CURRENT_POSITION)).await;
        }
        if let Ok(n) = res {
            self.cursor.set(pos + n as u64);
        }
        (res, buf)
    }

    /// Writes all of `buf` at the cursor (or the end, for `append`), in one turn: another
    /// task's cursor write on this file comes wholly before or after it.
    pub async fn write_all<B: IoBuf + Send>(&self, buf: B) -> BufResult<(), B> {
        let _turn = self.cursor_turn().await;
        let total = buf.bytes_init();
        let mut slice = buf.slice(..);
        while slice.begin() < total {
            let (res, s) = self.write_at_cursor(slice).await;
            let (begin, whole) = (s.begin(), s.into_inner());
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), whole),
                Ok(n) => slice = whole.slice(begin + n..),
                Err(e) => return (Err(e), whole),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// A turn at the cursor, for a file that has one. A file without (a pipe, a terminal)
    /// has nothing to protect, and a read there may wait for data for ever: it must not keep
    /// a write to the same file waiting.
    async fn cursor_turn(&self) -> Option<Turn<'_>> {
        match self.unseekable() {
            true => None,
            false => Some(self.turn.take().await),
        }
    }

    /// Whether the file has no offset, asked once of lseek(2), which moves nothing and never
    /// waits (a positioned read or write saying ESPIPE also tells).
    fn unseekable(&self) -> bool {
        if let Some(known) = self.unseekable.get() {
            return known;
        }
        // SAFETY: lseek on the descriptor the file keeps open; it touches no memory.
        let espipe = unsafe { libc::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_CUR) } == -1
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESPIPE);
        self.unseekable.set(Some(espipe));
        espipe
    }

    /// Moves the cursor; returns its new position. `End` reads the file's size.
    pub async fn seek(&self, to: SeekFrom) -> io::Result<u64> {
        let _turn = self.turn.take().await;
        let base_and_delta = match to {
            SeekFrom::Start(pos) => (pos, 0),
            SeekFrom::Current(delta) => (self.cursor.get(), delta),
            SeekFrom::End(delta) => (self.metadata().await?.len(), delta),
        };
        let pos = base_and_delta
            .0
            .checked_add_signed(base_and_delta.1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek to a negative or overflowing position"))?;
        self.cursor.set(pos);
        Ok(pos)
    }

    /// The cursor's position.
    pub fn position(&self) -> u64 {
        self.cursor.get()
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        run(Fsync::new(self.fd.clone(), false)).await
    }

    /// Flushes data, and only the metadata needed to read it back (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        run(Fsync::new(self.fd.clone(), true)).await
    }

    /// The file's metadata (`statx`). For a file opened with
    /// [`OpenOptions::open_beneath`] a directory on a local file system (ext4, XFS, Btrfs,
    /// tmpfs...), it is read on the core, where it is in memory, without waking a helper
    /// thread; otherwise on the ring or the blocking pool, as a network file system may ask
    /// its server.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let on_core = self.fs_local.get() == Some(true);
        let metadata = run(Statx::of_fd(self.fd.clone()).on_core(on_core)).await.map(Metadata::new)?;
        // A regular file or a directory has an offset: no lseek needed to know it (`fs::read`
        // asks for the size before its cursor reads). Other kinds are left to lseek: some
        // character devices seek (/dev/zero), terminals do not.
        if metadata.is_file() || metadata.is_dir() {
            self.unseekable.set(Some(false));
        }
        Ok(metadata)
    }

    /// Cuts or extends (with zeroes) the file to `size` bytes; the cursor stays where it is.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        run(Ftruncate::new(self.fd.clone(), size)).await
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The file's descriptor, for calls ringpoll does not wrap (`flock`, `fadvise`, `ioctl`). A
/// call that moves the descriptor's offset does not move the cursor: see [`File::into_std`].
impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
