//! The io_uring floor: what a hand-written io_uring echo server costs, with no runtime.
//!
//! One ring per pinned core (COOP_TASKRUN, SINGLE_ISSUER, DEFER_TASKRUN), one
//! `io_uring_enter` per turn. A multishot accept on the listener; a multishot recv per
//! connection that picks its buffers from a ring-mapped provided-buffer ring
//! (IORING_REGISTER_PBUF_RING) of 1024 x 4 KiB buffers; received buffers are echoed straight
//! from the ring by one SENDMSG over all of a connection's queued buffers, and go back to the
//! ring when it completes. One send in flight per connection keeps the bytes in order (two
//! sends on one stream may complete out of order when the first goes async).
//!
//! Kernel facts this loop relies on (Linux 6.0+):
//! - a recv CQE names its buffer in the upper 16 bits of `flags` (IORING_CQE_F_BUFFER);
//! - a multishot op that ends posts a CQE without IORING_CQE_F_MORE and must be re-armed;
//! - an empty buffer ring ends the recv with -ENOBUFS: re-arm once buffers are back;
//! - a buffer goes back by writing its entry at `tail & mask` and publishing `tail + 1` with a
//!   release store; the kernel reads the tail and never writes it.

use std::collections::VecDeque;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;

use io_uring::types::{BufRingEntry, Fd};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::{thread_per_core, ServeOpts};

/// Buffers in the provided ring (a power of two) and the size of each.
const BUFS: u16 = 1024;
const BUF_SIZE: usize = 4096;
/// The buffer group id of the ring.
const GROUP: u16 = 0;

/// `user_data`: the kind in the top two bits, the descriptor below.
const ACCEPT: u64 = 1 << 62;
const RECV: u64 = 2 << 62;
const SEND: u64 = 3 << 62;
const KIND: u64 = 3 << 62;

/// Serves until the process is killed.
pub fn serve(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    thread_per_core(opts, ready, core_main)
}

fn core_main(opts: &ServeOpts, ready: mpsc::Sender<()>) -> io::Result<()> {
    let listener = crate::sys::reuseport_listener(opts.addr)?;
    let ring = IoUring::builder()
        .setup_cqsize(8192)
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(1024)?;
    let bufs = BufRing::register(&ring)?;
    let mut server = Server { ring, bufs, conns: Vec::new(), starved: Vec::new() };
    server.push(opcode::AcceptMulti::new(Fd(listener.as_raw_fd())).build().user_data(ACCEPT));
    let _ = ready.send(());
    server.run(&listener)
}

/// At most this many buffers go in one SENDMSG.
const MAX_IOV: usize = 64;

/// One accepted socket: the buffers waiting to be echoed (id, offset, length), in order.
struct Conn {
    queue: VecDeque<(u16, u32, u32)>,
    /// The SENDMSG in flight points here: `msg` at `iov`'s buffer; neither moves or changes
    /// until its completion (`sending`). Grown on first use, so an idle connection holds
    /// only what it last needed.
    msg: Box<libc::msghdr>,
    iov: Vec<libc::iovec>,
    sending: bool,
    receiving: bool,
    closing: bool,
}

struct Server {
    ring: IoUring,
    bufs: BufRing,
    /// Indexed by descriptor, as a hand-written server would.
    conns: Vec<Option<Conn>>,
    /// Connections whose recv ended with ENOBUFS, re-armed once buffers are back.
    starved: Vec<RawFd>,
}

impl Server {
    fn run(&mut self, listener: &TcpListener) -> io::Result<()> {
        let mut cqes = Vec::with_capacity(1024);
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            cqes.clear();
            cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            for &(data, res, flags) in &cqes {
                let fd = (data & !KIND) as RawFd;
                match data & KIND {
                    ACCEPT => self.accepted(listener, res, flags),
                    RECV => self.received(fd, res, flags),
                    SEND => self.sent(fd, res),
                    _ => {}
                }
            }
            self.bufs.publish();
            if !self.starved.is_empty() {
                for fd in std::mem::take(&mut self.starved) {
                    self.arm_recv(fd);
                }
            }
        }
    }

    /// Queues an SQE; a full SQ is submitted first.
    fn push(&mut self, entry: squeue::Entry) {
        // SAFETY: every entry built here points only at the buffer ring's memory, which lives
        // as long as the ring, or at a connection's boxed msghdr, kept until its CQE.
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            let _ = self.ring.submit();
        }
    }

    fn accepted(&mut self, listener: &TcpListener, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.push(opcode::AcceptMulti::new(Fd(listener.as_raw_fd())).build().user_data(ACCEPT));
        }
        if res < 0 {
            return;
        }
        let _ = crate::sys::setsockopt_int(res, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        let slot = res as usize;
        if self.conns.len() <= slot {
            self.conns.resize_with(slot + 1, || None);
        }
        self.conns[slot] = Some(Conn::new());
        self.arm_recv(res);
    }

    fn arm_recv(&mut self, fd: RawFd) {
        if let Some(Some(conn)) = self.conns.get_mut(fd as usize) {
            conn.receiving = true;
            self.push(opcode::RecvMulti::new(Fd(fd), GROUP).build().user_data(RECV | fd as u64));
        }
    }

    fn received(&mut self, fd: RawFd, res: i32, flags: u32) {
        let Some(Some(conn)) = self.conns.get_mut(fd as usize) else { return };
        let more = cqueue::more(flags);
        if let Some(bid) = cqueue::buffer_select(flags) {
            if res > 0 && !conn.closing {
                conn.queue.push_back((bid, 0, res as u32));
            } else {
                self.bufs.give_back(bid);
            }
        }
        if more {
            return self.send_next(fd);
        }
        conn.receiving = false;
        if res == -libc::ENOBUFS {
            // Out of buffers, not out of data: the bytes wait in the socket.
            self.starved.push(fd);
            return self.send_next(fd);
        }
        conn.closing = true;
        self.send_next(fd);
    }

    fn sent(&mut self, fd: RawFd, res: i32) {
        let Some(Some(conn)) = self.conns.get_mut(fd as usize) else { return };
        conn.sending = false;
        if res < 0 {
            conn.closing = true;
            // Ends the multishot recv (it completes with 0), so the descriptor can be closed.
            // SAFETY: shutdown takes no pointers; `fd` is open until this loop closes it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        // Retire what went, in order; a short send leaves the rest (from an offset) queued.
        let mut sent = res.max(0) as u32;
        while let Some(front) = conn.queue.front_mut() {
            if sent < front.2 {
                front.1 += sent;
                front.2 -= sent;
                break;
            }
            sent -= front.2;
            let bid = front.0;
            conn.queue.pop_front();
            self.bufs.give_back(bid);
        }
        self.send_next(fd);
    }

    /// Sends every queued buffer (up to `MAX_IOV`) if nothing is in flight; closes a finished
    /// connection.
    fn send_next(&mut self, fd: RawFd) {
        let Some(Some(conn)) = self.conns.get_mut(fd as usize) else { return };
        if conn.sending {
            return;
        }
        if conn.closing {
            for (bid, _, _) in conn.queue.drain(..) {
                self.bufs.give_back(bid);
            }
            if !conn.receiving {
                self.conns[fd as usize] = None;
                // SAFETY: nothing in flight refers to `fd` any more (no send, no recv).
                unsafe { libc::close(fd) };
            }
            return;
        }
        if conn.queue.is_empty() {
            return;
        }
        conn.iov.clear();
        for &(bid, off, len) in conn.queue.iter().take(MAX_IOV) {
            let base = self.bufs.buf(bid).wrapping_add(off as usize) as *mut libc::c_void;
            conn.iov.push(libc::iovec { iov_base: base, iov_len: len as usize });
        }
        conn.msg.msg_iov = conn.iov.as_mut_ptr();
        conn.msg.msg_iovlen = conn.iov.len();
        conn.sending = true;
        let msg: *const libc::msghdr = &*conn.msg;
        self.push(opcode::SendMsg::new(Fd(fd), msg).build().user_data(SEND | fd as u64));
    }
}

impl Conn {
    fn new() -> Conn {
        // SAFETY: msghdr is a plain C struct for which all-zeroes is valid.
        let msg = unsafe { std::mem::zeroed() };
        Conn {
            queue: VecDeque::new(),
            msg: Box::new(msg),
            iov: Vec::new(),
            sending: false,
            receiving: false,
            closing: false,
        }
    }
}

/// The ring-mapped provided buffers: an mmap'd array of `BUFS` entries shared with the kernel,
/// and the buffers themselves.
struct BufRing {
    entries: *mut BufRingEntry,
    mem: Vec<u8>,
    /// The tail as this side knows it; the kernel sees it at the next [`BufRing::publish`].
    tail: u16,
}

impl BufRing {
    fn register(ring: &IoUring) -> io::Result<BufRing> {
        let len = BUFS as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut bufs = BufRing { entries: addr.cast(), mem: vec![0; BUFS as usize * BUF_SIZE], tail: 0 };
        // SAFETY: the mapping is page-aligned, `BUFS` entries long, and lives as long as the
        // ring (the process never unmaps it: servers run until killed).
        unsafe { ring.submitter().register_buf_ring_with_flags(addr as u64, BUFS, GROUP, 0)? };
        for bid in 0..BUFS {
            bufs.give_back(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    fn buf(&self, bid: u16) -> *const u8 {
        self.mem[bid as usize * BUF_SIZE..].as_ptr()
    }

    /// Writes buffer `bid` into the next free entry (the kernel sees it after `publish`).
    fn give_back(&mut self, bid: u16) {
        let addr = self.buf(bid) as u64;
        // SAFETY: the index is masked into the mapping; the kernel only reads entries between
        // its head and the published tail, and this one is past the published tail.
        let entry = unsafe { &mut *self.entries.add((self.tail & (BUFS - 1)) as usize) };
        entry.set_addr(addr);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the tail: entries written before become visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lies inside the mapping (it overlays entry 0's `resv`), is
        // 2-byte aligned, and the kernel only reads it.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast_mut() as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }
}
