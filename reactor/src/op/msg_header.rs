//! A message header with one iovec and an address, boxed together so the pointers between
//! them (and the entry's pointer to the header) stay valid while the op moves.

use crate::sockaddr::SockAddr;

pub(super) struct MsgHeader {
    pub(super) msg: libc::msghdr,
    iov: libc::iovec,
    pub(super) addr: SockAddr,
}

impl MsgHeader {
    /// A header for `len` bytes at `ptr`, with `addr` as its name (the destination of a send,
    /// room for the sender of a receive).
    pub(super) fn new(ptr: *mut u8, len: usize, addr: SockAddr) -> Box<MsgHeader> {
        // SAFETY: msghdr is plain data for which all-zero bytes are valid.
        let msg = unsafe { std::mem::zeroed() };
        let mut h = Box::new(MsgHeader { msg, iov: libc::iovec { iov_base: ptr.cast(), iov_len: len }, addr });
        h.msg.msg_iov = &mut h.iov;
        h.msg.msg_iovlen = 1;
        h.msg.msg_name = h.addr.as_mut_ptr().cast();
        h.msg.msg_namelen = h.addr.len();
        h
    }

    /// The address the kernel wrote back (a receive's sender), with its length.
    pub(super) fn name(&self) -> SockAddr {
        let mut from = self.addr;
        *from.len_mut() = self.msg.msg_namelen;
        from
    }
}
