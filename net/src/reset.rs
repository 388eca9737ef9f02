//! Ending a TCP connection with a reset (RST) instead of FIN, for [`TcpStream::abort`] and a
//! failed [`copy_bidirectional`](crate::copy_bidirectional).
//!
//! SO_LINGER {on, 0} (`ringpoll_reactor::sys::reset_on_close`, which the reactor also uses
//! for the connections it accepted that the program never saw) makes the socket's last close
//! send RST and discard what its send queue still holds. The option lives on the socket, not
//! the descriptor, so it holds whichever way the driver closes the descriptor: `close(2)` on
//! epoll, IORING_OP_CLOSE on io_uring (where the socket is released only when the ops still
//! holding it end; ringpoll registers no direct descriptors, so the descriptor the option is
//! set on is the socket's only one).
//!
//! [`TcpStream::abort`]: crate::TcpStream::abort

use std::time::{Duration, Instant};

use ringpoll_reactor::time::sleep;
use ringpoll_reactor::Source;
use socket2::{Protocol, SockRef};

use crate::socket;

/// Makes the last close of `source`'s socket send RST. On a socket that is not TCP it has no
/// effect a peer can see (Unix streams have no reset).
pub(crate) fn on_close(source: &Source) -> std::io::Result<()> {
    ringpoll_reactor::sys::reset_on_close(socket::borrow_fd(source, source.fd()))
}

/// Waits until the kernel has sent every byte written to the TCP socket of `source` and the
/// peer acknowledged it (the reset that follows would discard them), while the queue keeps
/// shrinking at least once per `patience`. Returns at once on anything but a TCP socket, and
/// once the connection is over (its peer reset it too).
pub(crate) async fn sent(source: &Source, patience: Duration) {
    let fd = socket::borrow_fd(source, source.fd());
    if !matches!(SockRef::from(&fd).protocol(), Ok(Some(p)) if p == Protocol::TCP) {
        return;
    }
    let (mut least, mut since) = (usize::MAX, Instant::now());
    // The socket says nothing when its queue empties: look again, less often the longer it takes.
    let mut pause = Duration::from_millis(1);
    while let Some(queued) = unacknowledged(source) {
        if queued == 0 {
            return;
        }
        if queued < least {
            (least, since) = (queued, Instant::now());
        } else if since.elapsed() >= patience {
            return;
        }
        sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// `tcpi_state` of a connection that is over (linux/tcp_states.h): a reset one, among others.
const TCP_CLOSE: u8 = 7;

/// Bytes written to a TCP socket that are unsent or not yet acknowledged (SIOCOUTQ, which is
/// TIOCOUTQ on Linux); `None` if the socket cannot say, or if its connection is over: a
/// connection its peer reset still counts what it had queued, which will never go.
fn unacknowledged(source: &Source) -> Option<usize> {
    if tcp_state(source)? == TCP_CLOSE {
        return None;
    }
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one c_int through the pointer, which points at `queued`.
    let rc = unsafe { libc::ioctl(source.fd(), libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
    (rc == 0).then_some(queued.max(0) as usize)
}

/// The TCP state of the socket (`tcpi_state`, the first byte of TCP_INFO: the kernel copies
/// as much of the struct as asked for, so no layout of the rest is assumed).
fn tcp_state(source: &Source) -> Option<u8> {
    let mut state: u8 = 0;
    let mut len: libc::socklen_t = 1;
    // SAFETY: getsockopt writes at most `len` (1) bytes through the pointer, which points at
    // `state`, and updates `len`.
    let rc =
        unsafe { libc::getsockopt(source.fd(), libc::IPPROTO_TCP, libc::TCP_INFO, (&raw mut state).cast(), &mut len) };
    (rc == 0 && len == 1).then_some(state)
}
