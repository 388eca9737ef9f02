//! Zero-copy file to socket: `sendfile(2)`, as nginx's `sendfile on`.
//!
//! The kernel moves page-cache pages to the socket without a copy through user space. The
//! socket is non-blocking, so a full send buffer is EAGAIN and the stream waits for
//! writability (the PollDesc on epoll, a POLL_ADD on io_uring) before the next call. That is
//! the io_uring path too: IORING_OP_SPLICE is always punted to an io-wq worker thread, and
//! the repo's splice measurement found it dearer than readiness plus the syscall; the
//! file-server benchmark (benches/fileserver.rs) compares the drivers on this path.
//!
//! A page-cache miss makes `sendfile` read the disk in the core's thread, as it does for
//! nginx without `aio threads`; for files that are not hot, read them through
//! `ringpoll::fs` instead.

use std::io;
use std::os::fd::AsRawFd;

use ringpoll_fs::File;
use ringpoll_reactor::sigpipe::without_sigpipe;
use ringpoll_reactor::Interest;

use crate::tcp::TcpStream;

/// The most one sendfile(2) call moves (the kernel's own cap, MAX_RW_COUNT).
const MAX_CHUNK: usize = 0x7fff_f000;

impl TcpStream {
    /// Sends `len` bytes of `file` from byte `offset`, without copying them through user
    /// space. Returns how many were sent: fewer than `len` only if the file ends first. The
    /// file's cursor is not used or moved. The write deadline applies; a peer that goes away
    /// mid-file is an error (`BrokenPipe` or `ConnectionReset`), never a SIGPIPE, also in a
    /// process that does not ignore it (sendfile(2) has no MSG_NOSIGNAL: see
    /// `ringpoll_reactor::sigpipe`).
    ///
    /// ```no_run
    /// # async fn demo(stream: ringpoll::net::TcpStream) -> std::io::Result<()> {
    /// let file = ringpoll::fs::File::open("index.html").await?;
    /// let len = file.metadata().await?.len();
    /// stream.send_file(&file, 0, len).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_file(&self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        let source = self.as_source();
        let (sock, fd) = (source.fd(), file.as_raw_fd());
        let mut sent = 0u64;
        while sent < len {
            let mut at = libc::off64_t::try_from(offset + sent).map_err(|_| io::ErrorKind::InvalidInput)?;
            let chunk = (len - sent).min(MAX_CHUNK as u64) as usize;
            // sendfile takes no MSG_NOSIGNAL: a SIGPIPE it raises is discarded (EPIPE says it).
            let call = || {
                // SAFETY: both descriptors are open for the call (the stream and the file are
                // borrowed); `at` is a live off64_t the kernel advances.
                without_sigpipe(|| cvt(unsafe { libc::sendfile64(sock, fd, &mut at, chunk) }))
            };
            let n = source.retry(Interest::Write, call).await?;
            if n == 0 {
                break;
            }
            sent += n as u64;
        }
        Ok(sent)
    }
}

fn cvt(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}
