//! Owned-buffer socket operations on a [`Source`], on whichever driver the core runs.
//!
//! epoll: Go's loop, try the non-blocking syscall and park on the PollDesc on EAGAIN.
//! io_uring: one completion op; the buffer (and any address or header the SQE points to)
//! lives in the op until its CQE. A CQE of -EAGAIN (older kernels, non-blocking sockets) is
//! treated as "wait for readiness, then submit again".

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{OwnedFd, RawFd};
use std::task::ready;

use io_uring::{opcode, types};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::poll_desc::Interest;
use crate::reactor::Driver;
use crate::sockaddr::SockAddr;
use crate::source::Source;
use crate::sys::{cqe_result, cvt, cvt_size, owned};
use crate::uring::op_table::Completion;
use crate::uring::receive_gate::Receiving;
use crate::uring::stash::Stash;
use crate::uring::{Op, Uring};

const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// IORING_RECVSEND_POLL_FIRST, in the SQE's ioprio field.
const RECV_POLL_FIRST: u16 = 1;
const ACCEPT_FLAGS: libc::c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// A message header and its one iovec, boxed together so the SQE's pointers stay valid.
struct MsgHeader {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddr,
}

impl MsgHeader {
    fn new(ptr: *mut u8, len: usize, addr: SockAddr) -> Box<MsgHeader> {
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let msg = unsafe { std::mem::zeroed() };
        let mut h = Box::new(MsgHeader { msg, iov: libc::iovec { iov_base: ptr.cast(), iov_len: len }, addr });
        h.msg.msg_iov = &mut h.iov;
        h.msg.msg_iovlen = 1;
        h.msg.msg_name = h.addr.as_mut_ptr().cast();
        h.msg.msg_namelen = h.addr.len();
        h
    }
}

/// What a late receive needs to stash its result for the source.
struct LateReceive {
    receiving: Receiving,
    fd: RawFd,
    stream: bool,
}

/// A read whose future was dropped completed with data: keep it for the next read (as bytes
/// of the stream, or as one whole datagram).
fn stash_late_read<B: IoBufMut>((buf, late): (B, LateReceive), done: Completion, stash: &mut Stash) {
    if done.result <= 0 || !late.receiving.source_alive() {
        return;
    }
    // SAFETY: the kernel wrote `result` bytes at the start of the buffer, which is alive.
    let read = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), done.result as usize) };
    match late.stream {
        true => stash.push_bytes(late.fd, read),
        false => stash.push_datagram(late.fd, read, SockAddr::empty()),
    }
}

/// A recvmsg whose future was dropped received a datagram: keep it, and its sender.
fn stash_late_datagram<B: IoBufMut>(
    (buf, h, late): (B, Box<MsgHeader>, LateReceive),
    done: Completion,
    stash: &mut Stash,
) {
    if done.result < 0 || !late.receiving.source_alive() {
        return;
    }
    // SAFETY: the kernel wrote `result` bytes at the start of the buffer, which is alive.
    let read = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), done.result as usize) };
    let mut from = h.addr;
    *from.len_mut() = h.msg.msg_namelen;
    stash.push_datagram(late.fd, read, from);
}

/// An accept whose future was dropped completed: keep the connection for the next accept
/// (or close it if the listener is gone).
fn stash_late_accept((addr, receiving, fd): (Box<SockAddr>, Receiving, RawFd), done: Completion, stash: &mut Stash) {
    if done.result >= 0 {
        let conn = (owned(done.result), *addr);
        if receiving.source_alive() {
            stash.push_accepted(fd, conn);
        }
    }
}

/// Stream bytes or the oldest datagram that dropped receives left for `fd`.
fn take_from_stash(uring: &Uring, fd: RawFd, stream: bool, out: &mut [MaybeUninit<u8>]) -> Option<(usize, SockAddr)> {
    let mut stash = uring.stash.borrow_mut();
    if !stash.has_data(fd) {
        return None;
    }
    match stream {
        true => Some((stash.take_bytes(fd, out), SockAddr::empty())),
        false => stash.take_datagram(fd, out),
    }
}

fn would_block(res: &io::Result<u32>) -> bool {
    matches!(res, Err(e) if e.raw_os_error() == Some(libc::EAGAIN))
}

impl Source {
    fn uring(&self) -> Option<&Uring> {
        match &self.reactor().driver {
            Driver::Uring(uring) => Some(uring),
            Driver::Epoll(_) => None,
        }
    }

    /// Receives into `buf` (from its start, up to its capacity). `Ok(0)` is end of stream.
    pub async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        let Some(uring) = self.uring() else {
            let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total());
            // SAFETY: ptr/len describe the buffer's writable bytes, which outlive the call.
            let recv = || cvt_size(unsafe { libc::recv(self.fd(), ptr.cast(), len, 0) });
            let res = self.transfer(Interest::Read, len, recv).await;
            if let Ok(n) = res {
                // SAFETY: recv wrote the first n bytes.
                unsafe { buf.set_init(n) };
            }
            return (res, buf);
        };
        loop {
            if let Some(res) = self.before_receive(uring, &mut buf).await {
                return (res.map(|(n, _)| n), buf);
            }
            let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total().min(u32::MAX as usize) as u32);
            // After a short read the socket is empty: ask the kernel to wait for data before
            // trying, instead of failing a first attempt inside the kernel.
            let poll_first = if self.take_drained(Interest::Read) { RECV_POLL_FIRST } else { 0 };
            let entry = opcode::Recv::new(types::Fd(self.fd()), ptr, len).ioprio(poll_first).build();
            let data = (buf, self.late_receive());
            let (done, (b, _)) =
                self.complete(Interest::Read, Op::settled_by(uring, entry, data, stash_late_read)).await;
            buf = b;
            let res = cqe_result(done.result);
            if would_block(&res) {
                if let Err(e) = self.ready(Interest::Read).await {
                    return (Err(e), buf);
                }
                continue;
            }
            if let Ok(n) = res {
                // SAFETY: the kernel reported n bytes written into the buffer.
                unsafe { buf.set_init(n as usize) };
                self.note_transfer(Interest::Read, n as usize, len as usize);
            }
            return (res.map(|n| n as usize), buf);
        }
    }

    /// What every io_uring receive does before submitting: fail once the deadline passed,
    /// let earlier (dropped) receives settle, and serve what they left behind first.
    async fn before_receive<B: IoBufMut>(&self, uring: &Uring, buf: &mut B) -> Option<io::Result<(usize, SockAddr)>> {
        if let Err(e) = self.check_deadline(Interest::Read) {
            return Some(Err(e));
        }
        poll_fn(|cx| self.gate.poll_clear(cx)).await;
        self.take_stashed(uring, buf).map(Ok)
    }

    fn late_receive(&self) -> LateReceive {
        LateReceive { receiving: self.gate.enter(), fd: self.fd(), stream: self.is_stream() }
    }

    /// What a dropped receive took off this socket comes first (io_uring only): stream bytes,
    /// or the oldest datagram and its sender.
    fn take_stashed<B: IoBufMut>(&self, uring: &Uring, buf: &mut B) -> Option<(usize, SockAddr)> {
        // SAFETY: the buffer's first bytes_total bytes are writable for as long as `buf` lives;
        // viewing them as MaybeUninit makes no claim that they are initialised.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.stable_mut_ptr().cast(), buf.bytes_total()) };
        let taken = take_from_stash(uring, self.fd(), self.is_stream(), out)?;
        // SAFETY: the stash initialised the first n bytes.
        unsafe { buf.set_init(taken.0) };
        Some(taken)
    }

    /// Sends the initialised bytes of `buf`; returns how many were taken (maybe fewer).
    pub async fn write<B: IoBuf>(&self, mut buf: B) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init());
        let Some(uring) = self.uring() else {
            // SAFETY: ptr/len describe the buffer's initialised bytes, which outlive the call.
            let send = || cvt_size(unsafe { libc::send(self.fd(), ptr.cast(), len, SEND_FLAGS) });
            return (self.transfer(Interest::Write, len, send).await, buf);
        };
        loop {
            if let Err(e) = self.check_deadline(Interest::Write) {
                return (Err(e), buf);
            }
            let entry = opcode::Send::new(types::Fd(self.fd()), ptr, len.min(u32::MAX as usize) as u32)
                .flags(SEND_FLAGS)
                .build();
            let (done, b) = self.complete(Interest::Write, Op::new(uring, entry, buf)).await;
            buf = b;
            let res = cqe_result(done.result);
            if would_block(&res) {
                if let Err(e) = self.ready(Interest::Write).await {
                    return (Err(e), buf);
                }
                continue;
            }
            return (res.map(|n| n as usize), buf);
        }
    }

    /// Sends all of `buf`, however many sends it takes.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut slice = buf.slice(..);
        while slice.begin() < total {
            let (res, s) = self.write(slice).await;
            let (begin, whole) = (s.begin(), s.into_inner());
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), whole),
                Ok(n) => slice = whole.slice(begin + n..),
                Err(e) => return (Err(e), whole),
            }
        }
        (Ok(()), slice.into_inner())
    }

    /// Sends several buffers in one gathered write (sendmsg; SENDMSG on io_uring).
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let iovs: Vec<libc::iovec> =
            bufs.iter().map(|b| libc::iovec { iov_base: b.stable_ptr() as *mut _, iov_len: b.bytes_init() }).collect();
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_iov = iovs.as_ptr() as *mut _;
        msg.msg_iovlen = iovs.len();
        let Some(uring) = self.uring() else {
            // SAFETY: msg points at iovecs describing live, initialised buffers.
            let send = || cvt_size(unsafe { libc::sendmsg(self.fd(), &*msg, SEND_FLAGS) });
            return (self.retry(Interest::Write, send).await, bufs);
        };
        if let Err(e) = self.check_deadline(Interest::Write) {
            return (Err(e), bufs);
        }
        let entry = opcode::SendMsg::new(types::Fd(self.fd()), &*msg).flags(SEND_FLAGS as u32).build();
        let (done, (bufs, _iovs, _msg)) =
            self.complete(Interest::Write, Op::new(uring, entry, (bufs, iovs, msg))).await;
        (cqe_result(done.result).map(|n| n as usize), bufs)
    }

    /// Accepts a connection: a non-blocking, close-on-exec socket and its peer's address.
    /// ECONNABORTED (the peer gave up in the queue) is retried; EMFILE and ENFILE are returned.
    pub async fn accept(&self) -> io::Result<(OwnedFd, SockAddr)> {
        loop {
            let res = match self.uring() {
                None => {
                    let mut addr = SockAddr::empty();
                    let (ptr, len) = (addr.as_mut_ptr(), addr.len_mut() as *mut _);
                    // SAFETY: ptr/len point into `addr`, alive for the call.
                    let accept = || cvt(unsafe { libc::accept4(self.fd(), ptr, len, ACCEPT_FLAGS) });
                    self.retry(Interest::Read, accept).await.map(|fd| (owned(fd), addr))
                }
                Some(uring) => {
                    self.check_deadline(Interest::Read)?;
                    poll_fn(|cx| self.gate.poll_clear(cx)).await;
                    if let Some(conn) = uring.stash.borrow_mut().take_accepted(self.fd()) {
                        return Ok(conn);
                    }
                    let mut addr = Box::new(SockAddr::empty());
                    let (ptr, len) = (addr.as_mut_ptr(), addr.len_mut() as *mut _);
                    let entry = opcode::Accept::new(types::Fd(self.fd()), ptr, len).flags(ACCEPT_FLAGS).build();
                    let data = (addr, self.gate.enter(), self.fd());
                    let op = Op::settled_by(uring, entry, data, stash_late_accept);
                    let (done, (addr, _, _)) = self.complete(Interest::Read, op).await;
                    match cqe_result(done.result) {
                        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                            self.ready(Interest::Read).await?;
                            continue;
                        }
                        res => res.map(|fd| (owned(fd as i32), *addr)),
                    }
                }
            };
            match res {
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                other => return other,
            }
        }
    }

    /// Connects a non-blocking socket to `addr`, reporting the connection's own error.
    pub async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        if let Some(uring) = self.uring() {
            self.check_deadline(Interest::Write)?;
            let addr = Box::new(addr);
            let entry = opcode::Connect::new(types::Fd(self.fd()), addr.as_ptr(), addr.len()).build();
            let (done, _addr) = self.complete(Interest::Write, Op::new(uring, entry, addr)).await;
            return cqe_result(done.result).map(drop);
        }
        // SAFETY: addr is a valid sockaddr of addr.len() bytes, alive for the call.
        match cvt(unsafe { libc::connect(self.fd(), addr.as_ptr(), addr.len()) }) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        self.ready(Interest::Write).await?;
        match self.take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The socket's pending error (SO_ERROR), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err/len are live locals of the sizes getsockopt expects.
        cvt(unsafe {
            libc::getsockopt(self.fd(), libc::SOL_SOCKET, libc::SO_ERROR, (&mut err as *mut i32).cast(), &mut len)
        })?;
        Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
    }

    /// Receives a datagram into `buf` and the sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> BufResult<(usize, SockAddr), B> {
        let Some(uring) = self.uring() else {
            let (ptr, len) = (buf.stable_mut_ptr(), buf.bytes_total());
            let mut addr = SockAddr::empty();
            let (aptr, alen) = (addr.as_mut_ptr(), addr.len_mut() as *mut _);
            // SAFETY: buffer and address pointers are live for the call.
            let recv = || cvt_size(unsafe { libc::recvfrom(self.fd(), ptr.cast(), len, 0, aptr, alen) });
            let res = self.retry(Interest::Read, recv).await.map(|n| (n, addr));
            if let Ok((n, _)) = res {
                // SAFETY: recvfrom wrote the first n bytes.
                unsafe { buf.set_init(n) };
            }
            return (res, buf);
        };
        loop {
            if let Some(res) = self.before_receive(uring, &mut buf).await {
                return (res, buf);
            }
            // The buffer and the header both travel with the op: the kernel writes them
            // until the CQE, even if this future is dropped.
            let mut h = MsgHeader::new(buf.stable_mut_ptr(), buf.bytes_total(), SockAddr::empty());
            let entry = opcode::RecvMsg::new(types::Fd(self.fd()), &mut h.msg).build();
            let op = Op::settled_by(uring, entry, (buf, h, self.late_receive()), stash_late_datagram);
            let (done, (b, h, _)) = self.complete(Interest::Read, op).await;
            buf = b;
            let res = cqe_result(done.result);
            if would_block(&res) {
                if let Err(e) = self.ready(Interest::Read).await {
                    return (Err(e), buf);
                }
                continue;
            }
            let mut addr = h.addr;
            *addr.len_mut() = h.msg.msg_namelen;
            if let Ok(n) = res {
                // SAFETY: the kernel reported n bytes written into the buffer.
                unsafe { buf.set_init(n as usize) };
            }
            return (res.map(|n| (n as usize, addr)), buf);
        }
    }

    /// Sends `buf` as one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init());
        let Some(uring) = self.uring() else {
            // SAFETY: buffer and address are live for the call.
            let send =
                || cvt_size(unsafe { libc::sendto(self.fd(), ptr.cast(), len, SEND_FLAGS, addr.as_ptr(), addr.len()) });
            return (self.retry(Interest::Write, send).await, buf);
        };
        if let Err(e) = self.check_deadline(Interest::Write) {
            return (Err(e), buf);
        }
        let h = MsgHeader::new(ptr as *mut u8, len, addr);
        let entry = opcode::SendMsg::new(types::Fd(self.fd()), &h.msg).flags(SEND_FLAGS as u32).build();
        let (done, (buf, _h)) = self.complete(Interest::Write, Op::new(uring, entry, (buf, h))).await;
        (cqe_result(done.result).map(|n| n as usize), buf)
    }

    /// Non-blocking receive into a borrowed slice, parking on readiness: no internal copy on
    /// either driver. For compatibility layers (`AsyncRead`).
    pub fn poll_recv(&self, cx: &mut std::task::Context<'_>, buf: &mut [u8]) -> std::task::Poll<io::Result<usize>> {
        if let Some(uring) = self.uring() {
            // Earlier receives (a dropped `read`) settle first, so bytes keep their order.
            ready!(self.gate.poll_clear(cx));
            // SAFETY: an initialised &mut [u8] may be viewed as MaybeUninit bytes.
            let out = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
            if let Some((n, _)) = take_from_stash(uring, self.fd(), self.is_stream(), out) {
                return std::task::Poll::Ready(Ok(n));
            }
        }
        self.poll_transfer(Interest::Read, cx, buf.len(), || {
            // SAFETY: buf is a live, writable slice for the call.
            cvt_size(unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) })
        })
    }

    /// Non-blocking send from a borrowed slice, parking on readiness (`AsyncWrite`).
    pub fn poll_send(&self, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<io::Result<usize>> {
        self.poll_transfer(Interest::Write, cx, buf.len(), || {
            // SAFETY: buf is a live slice for the call.
            cvt_size(unsafe { libc::send(self.fd(), buf.as_ptr().cast(), buf.len(), SEND_FLAGS | libc::MSG_DONTWAIT) })
        })
    }
}
