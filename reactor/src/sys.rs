//! The one home of raw syscalls: every `libc` call of the reactor and of the socket types
//! that is not socket creation or options goes through here (as mio's `sys/unix` does).
//!
//! `syscall!` runs a libc call and turns its `-1` into the thread's `errno`; the helpers
//! below it are the calls several places need. Each helper's `unsafe` is about pointers it
//! builds itself from references, so callers stay safe.

use std::io;
use std::mem;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Calls `libc::$fn($args)` and turns a `-1` return into `Err(errno)`.
///
/// The expansion is an `unsafe` call: the caller's `// SAFETY:` comment covers its pointers.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        let ret = unsafe { libc::$fn($($arg),*) };
        $crate::sys::cvt(ret)
    }};
}
pub(crate) use syscall;

/// A syscall return value that signals failure with `-1`.
pub(crate) trait MinusOne: Copy {
    /// Whether this is the failure value.
    fn is_minus_one(self) -> bool;
}

impl MinusOne for libc::c_int {
    #[inline]
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl MinusOne for libc::ssize_t {
    #[inline]
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// Turns a `-1` return into the thread's `errno`.
#[inline]
pub(crate) fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Turns an io_uring completion result (`-errno` on failure) into an `io::Result`.
#[inline]
pub(crate) fn cqe_result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

/// Wraps a freshly returned descriptor so it is closed exactly once.
pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a descriptor the kernel just returned to this thread and nobody else
    // owns, so the OwnedFd is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Whether an error means "interrupted by a signal, just retry". An OS error is compared as a
/// number: `kind()` decodes every errno through a long match, on the hot path of every retry.
#[inline]
pub(crate) fn interrupted(err: &io::Error) -> bool {
    match err.raw_os_error() {
        Some(code) => code == libc::EINTR,
        None => err.kind() == io::ErrorKind::Interrupted,
    }
}

/// Whether an error means "the descriptor is not ready, wait and try again" (EAGAIN, which is
/// EWOULDBLOCK on Linux; or a caller's own `WouldBlock` error).
#[inline]
pub(crate) fn would_block(err: &io::Error) -> bool {
    match err.raw_os_error() {
        Some(code) => code == libc::EAGAIN,
        None => err.kind() == io::ErrorKind::WouldBlock,
    }
}

/// Closes a descriptor the caller owns as a raw number.
pub(crate) fn close(fd: RawFd) {
    // An error from close (EINTR, EIO) leaves nothing to retry on Linux: the fd is gone.
    // SAFETY: close takes no pointers; the caller owns `fd` and never uses it again.
    let _ = syscall!(close(fd));
}

/// Makes the last close of the socket `fd` send RST instead of FIN and discard what its send
/// queue still holds (SO_LINGER {on, 0}). The option lives on the socket, not the descriptor,
/// so it holds however the descriptor is closed (`close(2)`, IORING_OP_CLOSE). On a socket
/// that is not TCP it has no effect a peer can see (Unix streams have no reset).
pub fn reset_on_close(fd: BorrowedFd<'_>) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `linger` is a live struct of the size passed; `fd` is open for the borrow.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&linger as *const libc::linger).cast(),
        mem::size_of::<libc::linger>() as libc::socklen_t,
    ))
    .map(drop)
}

/// Closes a connection the program never saw (an io_uring accept took it off the
/// listener's queue, and the listener closed before an accept returned it) with a reset,
/// not FIN: what the kernel does to the connections still in a listener's accept queue when
/// it closes, so a client cannot take the close for an answer (an empty one, read to end of
/// stream).
pub(crate) fn close_unaccepted(conn: OwnedFd) {
    // A socket that refuses closes with its usual close: nothing better is left to do.
    let _ = reset_on_close(conn.as_fd());
    drop(conn);
}

/// Shuts down one or both halves of a connected socket.
pub fn shutdown(fd: RawFd, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown takes no pointers.
    syscall!(shutdown(fd, how)).map(drop)
}

/// A connected pair of non-blocking, close-on-exec sockets of `ty` in `domain`.
pub fn socketpair(domain: libc::c_int, ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: fds is a live array of the two ints socketpair fills.
    syscall!(socketpair(domain, ty, 0, fds.as_mut_ptr()))?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a live array of the two ints pipe2 fills.
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `fcntl(fd, cmd, arg)` for the commands that take an int (pipe sizes).
pub(crate) fn fcntl_int(fd: RawFd, cmd: libc::c_int, arg: libc::c_int) -> io::Result<usize> {
    // SAFETY: the commands used here take an int argument and no pointers.
    syscall!(fcntl(fd, cmd, arg)).map(|n| n as usize)
}

/// One non-blocking `splice(2)` of up to `len` bytes between two descriptors at their current
/// positions (one must be a pipe). splice takes no MSG_NOSIGNAL: into a socket that can no
/// longer send it would raise SIGPIPE, which `without_sigpipe` discards (EPIPE says it).
pub(crate) fn splice(from: RawFd, to: RawFd, len: usize, flags: libc::c_uint) -> io::Result<usize> {
    let (null_in, null_out) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: null offsets mean "current position", the only kind pipes and sockets take.
    crate::sigpipe::without_sigpipe(|| syscall!(splice(from, null_in, to, null_out, len, flags))).map(|n| n as usize)
}

/// The socket's pending error (SO_ERROR), clearing it.
pub(crate) fn take_socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let (ptr, lenp) = ((&mut err as *mut libc::c_int).cast(), &mut len as *mut libc::socklen_t);
    // SAFETY: err/len are live locals of the sizes getsockopt expects.
    syscall!(getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, ptr, lenp))?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// A non-blocking `recv` into a borrowed slice (`flags` adds to MSG_DONTWAIT).
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: buf is a live, writable slice for the call.
    syscall!(recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// A non-blocking `send` from a borrowed slice (`flags` adds to MSG_DONTWAIT).
pub(crate) fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: buf is a live slice for the call.
    syscall!(send(fd, buf.as_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT)).map(|n| n as usize)
}

/// `poll(2)` with a zero timeout on `fds`: which of them are ready now.
pub(crate) fn poll_now(fds: &mut [libc::pollfd]) -> io::Result<()> {
    // SAFETY: fds is a live slice of pollfds; a zero timeout never blocks.
    syscall!(poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SO_LINGER as the socket `fd` holds it: (on, seconds).
    fn linger_of(fd: BorrowedFd<'_>) -> (i32, i32) {
        let mut linger = libc::linger { l_onoff: 0, l_linger: 0 };
        let mut len = mem::size_of::<libc::linger>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `linger`, which has that many.
        syscall!(getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, (&raw mut linger).cast(), &mut len))
            .unwrap();
        (linger.l_onoff, linger.l_linger)
    }

    #[test]
    fn reset_on_close_sets_a_zero_linger_on_the_socket() {
        let (a, _b) = socketpair(libc::AF_UNIX, libc::SOCK_STREAM).unwrap();
        assert_eq!(linger_of(a.as_fd()), (0, 0));
        reset_on_close(a.as_fd()).unwrap();
        assert_eq!(linger_of(a.as_fd()), (1, 0));
    }

    #[test]
    fn reset_on_close_of_something_not_a_socket_is_an_error() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert_eq!(reset_on_close(file.as_fd()).unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
    }
}
