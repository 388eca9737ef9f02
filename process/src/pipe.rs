//! The child's pipes as this process holds them: [`ChildStdin`], [`ChildStdout`] and
//! [`ChildStderr`], non-blocking ends registered with the current core's reactor.
//!
//! A pipe is no socket (`recv(2)` and IORING_OP_RECV refuse it), so every transfer here is
//! `read(2)` or `write(2)` by readiness ([`Source::retry`]) on both drivers: tried at once,
//! and after `EAGAIN` awaited through the core's reactor (an epoll edge, an io_uring
//! POLL_ADD). A future dropped while it waits has moved nothing. Transfers of one direction
//! take turns in arrival order, as the sockets' do.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll};

use ringpoll_reactor::sigpipe::without_sigpipe;
use ringpoll_reactor::{BufResult, Interest, IoBuf, IoBufMut, PartialWrite, Source};

/// One end of a pipe to a child, registered with the current core.
#[derive(Debug)]
struct PipeEnd {
    source: Source,
}

impl PipeEnd {
    /// Takes a pipe end std made (blocking, close-on-exec) and makes it non-blocking on this
    /// side only: the child's end is another open file description and stays blocking, as
    /// programs expect of their stdio.
    fn new(fd: OwnedFd) -> io::Result<PipeEnd> {
        set_nonblocking(fd.as_raw_fd())?;
        Ok(PipeEnd { source: Source::new(fd)? })
    }

    fn fd(&self) -> RawFd {
        self.source.fd()
    }

    async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total());
        if len == 0 {
            return (Err(io::Error::new(io::ErrorKind::InvalidInput, "read into a buffer with no room")), buf);
        }
        // SAFETY: ptr/len are the buffer's writable bytes, which stay in place as long as
        // `buf` lives, and it is owned here across the await.
        let res = self.source.retry(Interest::Read, || unsafe { read_raw(self.fd(), ptr, len) }).await;
        if let Ok(n) = res {
            // SAFETY: read(2) wrote the first n bytes.
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }

    async fn read_to_end(&self, mut buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        let start = buf.len();
        loop {
            buf.reserve(8192);
            let spare = buf.spare_capacity_mut();
            let (ptr, len) = (spare.as_mut_ptr().cast::<u8>(), spare.len());
            // SAFETY: the vector's spare capacity, which nothing touches until the read ends.
            let res = self.source.retry(Interest::Read, || unsafe { read_raw(self.fd(), ptr, len) }).await;
            match res {
                Ok(0) => return (Ok(buf.len() - start), buf),
                // SAFETY: read(2) initialised the n bytes after the vector's length.
                Ok(n) => unsafe { buf.set_len(buf.len() + n) },
                Err(e) => return (Err(e), buf),
            }
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // SAFETY: a live mutable slice.
        self.source.poll_retry(Interest::Read, cx, || unsafe { read_raw(self.fd(), buf.as_mut_ptr(), buf.len()) })
    }

    async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init());
        // SAFETY: the buffer's initialised bytes, in place while `buf` (owned here) lives.
        let res = self.source.retry(Interest::Write, || unsafe { write_raw(self.fd(), ptr, len) }).await;
        (res, buf)
    }

    async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init());
        let mut written = 0;
        while written < len {
            // SAFETY: written < len, so the pointer stays inside the buffer's bytes.
            let rest = unsafe { ptr.add(written) };
            // SAFETY: the rest of the buffer's initialised bytes, in place while `buf` (owned
            // here) lives.
            match self.source.retry(Interest::Write, || unsafe { write_raw(self.fd(), rest, len - written) }).await {
                Ok(0) => return (Err(PartialWrite::after(written, io::ErrorKind::WriteZero.into())), buf),
                Ok(n) => written += n,
                Err(e) => return (Err(PartialWrite::after(written, e)), buf),
            }
        }
        (Ok(()), buf)
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // SAFETY: a live slice.
        self.source.poll_retry(Interest::Write, cx, || unsafe { write_raw(self.fd(), buf.as_ptr(), buf.len()) })
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL and F_SETFL on a descriptor we own; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One non-blocking `read(2)` of up to `len` bytes to `ptr`.
///
/// # Safety
/// `ptr` must be writable for `len` bytes during the call.
unsafe fn read_raw(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<usize> {
    // SAFETY: the caller vouches for ptr/len.
    let n = unsafe { libc::read(fd, ptr.cast(), len) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One non-blocking `write(2)` of `len` bytes from `ptr`. A child that closed its end makes
/// it `BrokenPipe`, never a SIGPIPE that would kill a program leaving that signal at its
/// default.
///
/// # Safety
/// `ptr` must point to `len` initialised bytes during the call.
unsafe fn write_raw(fd: RawFd, ptr: *const u8, len: usize) -> io::Result<usize> {
    without_sigpipe(|| {
        // SAFETY: the caller vouches for ptr/len.
        let n = unsafe { libc::write(fd, ptr.cast(), len) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    })
}

/// The write end of the child's stdin ([`Stdio::piped`](std::process::Stdio::piped)).
/// Dropping it closes the pipe: the child reads end of file.
#[derive(Debug)]
pub struct ChildStdin {
    pipe: PipeEnd,
}

impl ChildStdin {
    /// Takes std's handle (from a child std spawned) onto the current core's reactor.
    pub fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin { pipe: PipeEnd::new(stdin.into())? })
    }

    /// Writes the initialised bytes of `buf`; returns how many the pipe took (maybe fewer).
    /// A child that closed its stdin (or exited) makes it `BrokenPipe`.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.pipe.write(buf).await
    }

    /// Writes all of `buf`, however many writes it takes. An error after some bytes went in
    /// carries their count: see [`PartialWrite`].
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.pipe.write_all(buf).await
    }

    /// The write as a poll: some bytes of `buf` written, or `cx` registered for room in the
    /// pipe. `Pending` means nothing was written.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.pipe.poll_write(cx, buf)
    }
}

macro_rules! child_output {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pipe: PipeEnd,
        }

        impl $name {
            /// Takes std's handle (from a child std spawned) onto the current core's reactor.
            pub fn from_std(std: $std) -> io::Result<$name> {
                Ok($name { pipe: PipeEnd::new(std.into())? })
            }

            /// Reads into `buf` (from its start, up to its capacity) what the child wrote;
            /// `Ok(0)` is end of file (the child closed its end, or exited), so a buffer
            /// with no room is `InvalidInput` instead.
            pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
                self.pipe.read(buf).await
            }

            /// Reads until end of file, appending to `buf`; returns how many bytes came.
            pub async fn read_to_end(&self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
                self.pipe.read_to_end(buf).await
            }

            /// The read as a poll: some bytes into `buf` (0 at end of file), or `cx`
            /// registered for data. `Pending` means nothing was read.
            pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.pipe.poll_read(cx, buf)
            }
        }
    };
}

child_output!(
    /// The read end of the child's stdout ([`Stdio::piped`](std::process::Stdio::piped)).
    /// Dropping it closes the pipe: a child that writes on gets `EPIPE` (or dies of SIGPIPE).
    ChildStdout,
    std::process::ChildStdout
);

child_output!(
    /// The read end of the child's stderr ([`Stdio::piped`](std::process::Stdio::piped)).
    /// Dropping it closes the pipe: a child that writes on gets `EPIPE` (or dies of SIGPIPE).
    ChildStderr,
    std::process::ChildStderr
);

macro_rules! fd_impls {
    ($($name:ident),*) => {$(
        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                // SAFETY: the descriptor is open while the pipe end (which owns it) lives.
                unsafe { BorrowedFd::borrow_raw(self.pipe.fd()) }
            }
        }
    )*};
}

fd_impls!(ChildStdin, ChildStdout, ChildStderr);

/// Waits on `stdout` and `stderr` (each if there) to end of file at once, as
/// `Child::wait_with_output` needs: a child that fills one pipe while we wait on the other
/// would otherwise never finish.
pub(crate) async fn read_both(
    stdout: Option<&ChildStdout>,
    stderr: Option<&ChildStderr>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut out = std::pin::pin!(read_all(stdout.map(|s| &s.pipe)));
    let mut err = std::pin::pin!(read_all(stderr.map(|s| &s.pipe)));
    let (mut got_out, mut got_err) = (None, None);
    poll_fn(|cx| {
        if got_out.is_none() {
            got_out = match out.as_mut().poll(cx) {
                Poll::Ready(res) => Some(res),
                Poll::Pending => None,
            };
        }
        if got_err.is_none() {
            got_err = match err.as_mut().poll(cx) {
                Poll::Ready(res) => Some(res),
                Poll::Pending => None,
            };
        }
        match (&got_out, &got_err) {
            (Some(Err(_)), _) | (_, Some(Err(_))) | (Some(_), Some(_)) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })
    .await;
    Ok((got_out.unwrap_or(Ok(Vec::new()))?, got_err.unwrap_or(Ok(Vec::new()))?))
}

async fn read_all(pipe: Option<&PipeEnd>) -> io::Result<Vec<u8>> {
    let Some(pipe) = pipe else {
        return Ok(Vec::new());
    };
    let (res, buf) = pipe.read_to_end(Vec::new()).await;
    res.map(|_| buf)
}
