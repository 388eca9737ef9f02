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
//! `bare-uring-fixed` is the same loop on direct descriptors: the multishot accept installs
//! each connection in the ring's registered file table (IORING_FILE_INDEX_ALLOC) instead of
//! the process's, every recv, send and close names it by index (IOSQE_FIXED_FILE), and the
//! kernel skips the fd table lookup and its reference count per op. TCP_NODELAY is set on the
//! listener, which accepted sockets inherit, since a direct descriptor has no setsockopt.
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

use io_uring::types::{BufRingEntry, Fd, Fixed};
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
/// `user_data` of a shutdown or close on a direct descriptor, whose completion needs nothing.
const CLOSE: u64 = 0;

/// Slots of the registered file table of `bare-uring-fixed` (connections per core at most).
const FIXED_FILES: u32 = 8192;

/// Builds an SQE on a connection: by descriptor, or by its index in the registered file table
/// when the server runs on direct descriptors (the builders take either type, not a choice).
macro_rules! on_conn {
    ($fixed:expr, $fd:expr, |$target:ident| $build:expr) => {
        if $fixed {
            let $target = Fixed($fd as u32);
            $build
        } else {
            let $target = Fd($fd);
            $build
        }
    };
}

/// Serves until the process is killed; `fixed`: on direct descriptors.
pub fn serve(opts: &ServeOpts, ready: mpsc::Sender<()>, fixed: bool) -> io::Result<()> {
    thread_per_core(opts, ready, move |opts, ready| core_main(opts, ready, fixed))
}

fn core_main(opts: &ServeOpts, ready: mpsc::Sender<()>, fixed: bool) -> io::Result<()> {
    let listener = crate::sys::reuseport_listener(opts.addr)?;
    if fixed {
        crate::sys::setsockopt_int(listener.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    let ring = IoUring::builder()
        .setup_cqsize(8192)
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(1024)?;
    let bufs = BufRing::register(&ring)?;
    if fixed {
        ring.submitter().register_files_sparse(FIXED_FILES)?;
    }
    let mut server = Server { ring, bufs, conns: Vec::new(), starved: Vec::new(), fixed };
    server.arm_accept(&listener);
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
    /// Connections are direct descriptors: a "fd" here is an index in the ring's file table.
    fixed: bool,
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

    fn arm_accept(&mut self, listener: &TcpListener) {
        let accept = opcode::AcceptMulti::new(Fd(listener.as_raw_fd())).allocate_file_index(self.fixed);
        self.push(accept.build().user_data(ACCEPT));
    }

    fn accepted(&mut self, listener: &TcpListener, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.arm_accept(listener);
        }
        if res < 0 {
            return;
        }
        if !self.fixed {
            let _ = crate::sys::setsockopt_int(res, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        }
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
            let recv = on_conn!(self.fixed, fd, |target| opcode::RecvMulti::new(target, GROUP).build());
            self.push(recv.user_data(RECV | fd as u64));
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
        if res < 0 {
            // Ends the multishot recv (it completes with 0), so the descriptor can be closed.
            if self.fixed {
                let shutdown = opcode::Shutdown::new(Fixed(fd as u32), libc::SHUT_RDWR).build();
                self.push(shutdown.user_data(CLOSE));
            } else {
                // SAFETY: shutdown takes no pointers; `fd` is open until this loop closes it.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
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
                if self.fixed {
                    // Frees the table slot for the next accept.
                    self.push(opcode::Close::new(Fixed(fd as u32)).build().user_data(CLOSE));
                } else {
                    // SAFETY: nothing in flight refers to `fd` any more (no send, no recv).
                    unsafe { libc::close(fd) };
                }
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
        let send = on_conn!(self.fixed, fd, |target| opcode::SendMsg::new(target, msg).build());
        self.push(send.user_data(SEND | fd as u64));
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
