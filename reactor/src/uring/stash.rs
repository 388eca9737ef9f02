//! What abandoned ops leave behind: bytes and connections that must not be lost.
//!
//! On io_uring a read or accept that completes after its future was dropped (a `timeout`,
//! a `select`) has already taken bytes off the socket or a connection off the queue. epoll
//! never does that: a dropped future there had not called the syscall yet. To give both
//! drivers the same guarantee, such a completion is stashed under its descriptor and handed
//! to the next read or accept on it, in order. An entry is only stashed while its source is
//! alive (a `Weak` the orphan carries), and the source clears its entries when dropped, so a
//! reused fd number never sees another socket's leftovers.
//!
//! A stream's leftovers may end in an error (a reset the kernel reported to a multishot recv
//! or a dropped read). The kernel reports a socket error once, so after it the socket only
//! says end of stream: dropped here, the error would turn into EOF for the next read, which
//! epoll never shows. So the stash keeps one pending errno per descriptor, served after its
//! bytes and only once, after which reads go back to the socket.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{OwnedFd, RawFd};

use crate::sockaddr::SockAddr;

/// Leftovers of abandoned reads and accepts, by descriptor.
#[derive(Default)]
pub(crate) struct Stash {
    bytes: HashMap<RawFd, VecDeque<u8>>,
    /// The error that ended a stream's leftovers: served after every byte of `bytes`, once.
    /// A stream ends at its error, so no byte is stashed behind it.
    errors: HashMap<RawFd, i32>,
    /// Whole datagrams (and their senders): a datagram's bounds must survive the stash.
    datagrams: HashMap<RawFd, VecDeque<(Vec<u8>, SockAddr)>>,
    accepted: HashMap<RawFd, VecDeque<(OwnedFd, SockAddr)>>,
}

impl Stash {
    pub(crate) fn push_bytes(&mut self, fd: RawFd, data: &[u8]) {
        self.bytes.entry(fd).or_default().extend(data);
    }

    /// Stashes the error that ended `fd`'s stream, for the read after its bytes. The first
    /// one stays: the kernel reports a socket error once, so a second is another symptom.
    pub(crate) fn push_error(&mut self, fd: RawFd, errno: i32) {
        self.errors.entry(fd).or_insert(errno);
    }

    /// The next read of `fd`'s leftovers: up to `out.len()` stashed bytes, or once they are
    /// gone the stashed error (taken: the read after it goes to the socket); None if neither.
    pub(crate) fn take_stream(&mut self, fd: RawFd, out: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>> {
        if self.has_bytes(fd) {
            return Some(Ok(self.take_bytes(fd, out)));
        }
        self.errors.remove(&fd).map(|errno| Err(io::Error::from_raw_os_error(errno)))
    }

    /// As [`take_stream`](Self::take_stream), but the bytes stay for the next read (MSG_PEEK),
    /// and so does the error, which the read after the peek reports as well.
    pub(crate) fn peek_stream(&self, fd: RawFd, out: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>> {
        if let Some(queue) = self.bytes.get(&fd) {
            let n = queue.len().min(out.len());
            for (dst, src) in out.iter_mut().zip(queue.range(..n)) {
                dst.write(*src);
            }
            return Some(Ok(n));
        }
        self.errors.get(&fd).map(|&errno| Err(io::Error::from_raw_os_error(errno)))
    }

    /// For a transfer that bypasses reads (a splice): the stashed error of `fd`, taken, once
    /// no byte is stashed before it; `InvalidInput` while bytes are (they must be taken
    /// first, or the transfer would skip them); `Ok` if nothing waits.
    pub(crate) fn take_stream_end(&mut self, fd: RawFd) -> io::Result<()> {
        if !self.has_stream(fd) {
            return Ok(());
        }
        if self.has_bytes(fd) {
            let msg = "bytes a read received wait for the next read (take_leftovers first)";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        match self.errors.remove(&fd) {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    /// Whether stream bytes or an error wait for the next read on `fd`. Every plain read on
    /// io_uring asks, and the stash is nearly always empty: that is checked before hashing.
    #[inline]
    pub(crate) fn has_stream(&self, fd: RawFd) -> bool {
        if self.bytes.is_empty() && self.errors.is_empty() {
            return false;
        }
        self.has_bytes(fd) || self.errors.contains_key(&fd)
    }

    /// Whether anything waits for the next receive on `fd`: stream bytes, an error, or a
    /// datagram.
    pub(crate) fn has_any(&self, fd: RawFd) -> bool {
        self.has_stream(fd) || self.has_datagram(fd)
    }

    /// Moves up to `out.len()` stashed bytes of `fd` into `out`; returns how many.
    pub(crate) fn take_bytes(&mut self, fd: RawFd, out: &mut [MaybeUninit<u8>]) -> usize {
        let Some(queue) = self.bytes.get_mut(&fd) else { return 0 };
        let n = queue.len().min(out.len());
        for (dst, src) in out.iter_mut().zip(queue.drain(..n)) {
            dst.write(src);
        }
        if queue.is_empty() {
            self.bytes.remove(&fd);
        }
        n
    }

    /// Whether stream bytes wait for the next read on `fd` (an error alone does not).
    fn has_bytes(&self, fd: RawFd) -> bool {
        self.bytes.contains_key(&fd)
    }

    /// Every stashed byte of `fd`. A stashed error stays for the next read: the caller asked
    /// for bytes, and the error must still come after them.
    pub(crate) fn take_all_bytes(&mut self, fd: RawFd) -> Vec<u8> {
        self.bytes.remove(&fd).map(Vec::from).unwrap_or_default()
    }

    pub(crate) fn push_datagram(&mut self, fd: RawFd, data: &[u8], from: SockAddr) {
        self.datagrams.entry(fd).or_default().push_back((data.to_vec(), from));
    }

    /// The oldest stashed datagram of `fd`, truncated to `out` as recv(2) would; returns its
    /// copied length and sender.
    pub(crate) fn take_datagram(&mut self, fd: RawFd, out: &mut [MaybeUninit<u8>]) -> Option<(usize, SockAddr)> {
        let copied = self.peek_datagram(fd, out)?;
        let queue = self.datagrams.get_mut(&fd)?;
        queue.pop_front();
        if queue.is_empty() {
            self.datagrams.remove(&fd);
        }
        Some(copied)
    }

    /// As [`take_datagram`](Self::take_datagram), but the datagram stays for the next receive
    /// (MSG_PEEK).
    pub(crate) fn peek_datagram(&self, fd: RawFd, out: &mut [MaybeUninit<u8>]) -> Option<(usize, SockAddr)> {
        let (data, from) = self.datagrams.get(&fd)?.front()?;
        let n = data.len().min(out.len());
        for (dst, src) in out.iter_mut().zip(&data[..n]) {
            dst.write(*src);
        }
        Some((n, *from))
    }

    /// Whether a datagram waits for the next receive on `fd`.
    fn has_datagram(&self, fd: RawFd) -> bool {
        self.datagrams.contains_key(&fd)
    }

    pub(crate) fn push_accepted(&mut self, fd: RawFd, conn: (OwnedFd, SockAddr)) {
        self.accepted.entry(fd).or_default().push_back(conn);
    }

    /// Whether a connection a dropped accept took waits for the next accept on `fd`.
    pub(crate) fn has_accepted(&self, fd: RawFd) -> bool {
        self.accepted.contains_key(&fd)
    }

    pub(crate) fn take_accepted(&mut self, fd: RawFd) -> Option<(OwnedFd, SockAddr)> {
        let queue = self.accepted.get_mut(&fd)?;
        let conn = queue.pop_front();
        if queue.is_empty() {
            self.accepted.remove(&fd);
        }
        conn
    }

    /// The source of `fd` is gone: drop whatever it left (accepted sockets are reset, as
    /// the kernel resets what a closed listener's queue held).
    pub(crate) fn forget(&mut self, fd: RawFd) {
        self.bytes.remove(&fd);
        self.errors.remove(&fd);
        self.datagrams.remove(&fd);
        if let Some(accepted) = self.accepted.remove(&fd) {
            accepted.into_iter().for_each(|(conn, _)| crate::sys::close_unaccepted(conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsafe_init(b: MaybeUninit<u8>) -> u8 {
        // SAFETY: the test arrays are initialised with zeros before use.
        unsafe { b.assume_init() }
    }

    #[test]
    fn bytes_come_back_in_order_across_reads() {
        let mut stash = Stash::default();
        stash.push_bytes(3, b"hello ");
        stash.push_bytes(3, b"world");
        let mut out = [MaybeUninit::new(0u8); 4];
        assert_eq!(stash.take_bytes(3, &mut out), 4);
        assert_eq!(out.map(unsafe_init), *b"hell");
        let mut rest = [MaybeUninit::new(0u8); 64];
        let n = stash.take_bytes(3, &mut rest);
        assert_eq!(rest[..n].iter().map(|b| unsafe_init(*b)).collect::<Vec<_>>(), b"o world");
        assert!(!stash.has_bytes(3));
        assert_eq!(stash.take_bytes(3, &mut rest), 0);
    }

    #[test]
    fn datagrams_keep_their_bounds_and_truncate_like_recv() {
        let mut stash = Stash::default();
        stash.push_datagram(5, b"first datagram", SockAddr::empty());
        stash.push_datagram(5, b"second", SockAddr::empty());
        let mut small = [MaybeUninit::new(0u8); 5];
        let (n, _) = stash.take_datagram(5, &mut small).unwrap();
        assert_eq!(small[..n].iter().map(|b| unsafe_init(*b)).collect::<Vec<_>>(), b"first");
        let mut big = [MaybeUninit::new(0u8); 64];
        let (n, _) = stash.take_datagram(5, &mut big).unwrap();
        assert_eq!(
            big[..n].iter().map(|b| unsafe_init(*b)).collect::<Vec<_>>(),
            b"second",
            "not the rest of the first"
        );
        assert!(!stash.has_datagram(5));
    }

    #[test]
    fn a_peek_leaves_the_datagram_for_the_next_take() {
        let mut stash = Stash::default();
        stash.push_datagram(5, b"kept", SockAddr::empty());
        let mut out = [MaybeUninit::new(0u8); 64];
        assert_eq!(stash.peek_datagram(5, &mut out).unwrap().0, 4);
        assert_eq!(stash.peek_datagram(5, &mut out).unwrap().0, 4, "peeked twice, still there");
        let (n, _) = stash.take_datagram(5, &mut out).unwrap();
        assert_eq!(out[..n].iter().map(|b| unsafe_init(*b)).collect::<Vec<_>>(), b"kept");
        assert!(stash.peek_datagram(5, &mut out).is_none(), "taken");
    }

    #[test]
    fn forget_drops_one_descriptor_only() {
        let mut stash = Stash::default();
        stash.push_bytes(3, b"a");
        stash.push_error(3, libc::ECONNRESET);
        stash.push_bytes(4, b"b");
        stash.push_error(4, libc::EPIPE);
        stash.forget(3);
        assert!(!stash.has_stream(3), "bytes and error both gone");
        assert!(stash.has_bytes(4));
        let mut out = [MaybeUninit::new(0u8); 8];
        assert_eq!(stash.take_stream(4, &mut out).unwrap().unwrap(), 1);
        assert_eq!(stash.take_stream(4, &mut out).unwrap().unwrap_err().raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn an_error_comes_after_the_bytes_and_only_once() {
        let mut stash = Stash::default();
        stash.push_bytes(3, b"abc");
        stash.push_error(3, libc::ECONNRESET);
        stash.push_error(3, libc::EPIPE);
        let mut out = [MaybeUninit::new(0u8); 2];
        assert_eq!(stash.take_stream(3, &mut out).unwrap().unwrap(), 2);
        assert!(stash.has_stream(3));
        assert_eq!(stash.take_all_bytes(3), b"c", "bytes only");
        let err = stash.take_stream(3, &mut out).unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET), "the first error, after every byte");
        assert!(!stash.has_stream(3));
        assert!(stash.take_stream(3, &mut out).is_none(), "then the socket again");
    }

    #[test]
    fn a_splice_gets_the_error_only_once_the_bytes_are_taken() {
        let mut stash = Stash::default();
        assert!(stash.take_stream_end(3).is_ok(), "nothing waits");
        stash.push_bytes(3, b"ab");
        stash.push_error(3, libc::ECONNRESET);
        let err = stash.take_stream_end(3).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "bytes first: a splice would skip them");
        assert_eq!(stash.take_all_bytes(3), b"ab");
        let err = stash.take_stream_end(3).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
        assert!(stash.take_stream_end(3).is_ok(), "reported once");
        assert!(!stash.has_stream(3));
    }
}
