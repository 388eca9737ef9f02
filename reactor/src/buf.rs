//! Owned buffers for completion-based I/O.
//!
//! The native I/O API takes buffers by value and hands them back with the result
//! (`read(buf).await -> (io::Result<usize>, buf)`), as monoio and tokio-uring do. io_uring
//! needs this: the kernel writes into the buffer after the call returns, possibly after the
//! future was dropped, so the runtime, not the caller's stack, must own it until the
//! completion arrives. On epoll the same API costs nothing extra: the syscall reads straight
//! into the owned buffer.

use std::ops::{Bound, RangeBounds};

/// The result of an owned-buffer operation: the outcome and the buffer, returned either way.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// A buffer whose bytes can be sent: a stable pointer and an initialised length.
///
/// # Safety
/// `stable_ptr` must point to `bytes_init` initialised bytes that stay valid, at the same
/// address, for as long as the value lives, even if it is moved.
pub unsafe trait IoBuf: 'static {
    /// Start of the bytes.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialised (and will be written).
    fn bytes_init(&self) -> usize;

    /// A view of part of the buffer's initialised bytes, which owns the buffer and gives it
    /// back with `into_inner`. The range is in bytes from the buffer's start, as in slice
    /// indexing: `buf.slice(2..5)` views what `&buf[2..5]` would.
    ///
    /// # Panics
    ///
    /// As `&bytes[range]` does, when the range does not fit the initialised bytes: its start
    /// is past its end, or its end is past [`bytes_init`](IoBuf::bytes_init), or a bound
    /// cannot be expressed (`..=usize::MAX`, or a start excluding `usize::MAX`).
    ///
    /// ```
    /// use ringpoll::buf::IoBuf;
    ///
    /// let world = b"hello world".to_vec().slice(6..);
    /// assert_eq!(world.bytes_init(), 5);
    /// assert_eq!(world.into_inner(), b"hello world");
    /// ```
    ///
    /// ```should_panic
    /// use ringpoll::buf::IoBuf;
    ///
    /// // Panics: range end index 12 out of range for slice of length 11.
    /// let _ = b"hello world".to_vec().slice(..=11);
    /// ```
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let (begin, end) = checked_range(&range, self.bytes_init());
        Slice { buf: self, begin, end }
    }
}

/// The bounds of `range` within `len` bytes; panics, with std's slice-indexing messages, on a
/// range that does not fit. Checked arithmetic: `..=usize::MAX` must not wrap to `..0`.
fn checked_range(range: &impl RangeBounds<usize>, len: usize) -> (usize, usize) {
    let begin = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.checked_add(1).expect("attempted to index slice from after maximum usize"),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&n) => n.checked_add(1).expect("attempted to index slice up to maximum usize"),
        Bound::Excluded(&n) => n,
        Bound::Unbounded => len,
    };
    assert!(begin <= end, "slice index starts at {begin} but ends at {end}");
    assert!(end <= len, "range end index {end} out of range for slice of length {len}");
    (begin, end)
}

/// A buffer that can be read into: a stable pointer and a capacity.
///
/// # Safety
/// `stable_mut_ptr` must point to `bytes_total` writable bytes that stay valid, at the same
/// address, for as long as the value lives; `set_init(n)` may assume the first `n` were written.
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the writable bytes.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// How many bytes fit.
    fn bytes_total(&mut self) -> usize;
    /// Records that a read wrote the first `n` bytes: afterwards the buffer holds exactly
    /// what was read (a `Vec`'s length becomes `n`).
    ///
    /// # Safety
    /// The first `n` bytes must have been written.
    unsafe fn set_init(&mut self, n: usize);

    /// The room after the bytes the buffer holds: a read into it appends, so a framed
    /// protocol keeps a partial message and reads the rest behind it, in one buffer (tokio's
    /// `read_buf`, monoio's `SliceMut`). Reserve room first (`Vec::reserve`); a buffer with
    /// none left makes a stream read fail with `InvalidInput`.
    ///
    /// ```
    /// use ringpoll::buf::{IoBuf, IoBufMut};
    ///
    /// let mut buf = b"partial ".to_vec();
    /// buf.reserve(64);
    /// let spare = buf.spare();
    /// assert_eq!(spare.bytes_init(), 0); // a read lands at offset 8
    /// assert_eq!(spare.into_inner(), b"partial ");
    /// ```
    fn spare(self) -> Spare<Self>
    where
        Self: Sized,
    {
        let offset = self.bytes_init();
        Spare { buf: self, offset }
    }
}

// SAFETY: a Vec's heap pointer does not move when the Vec is moved; `len` bytes are initialised.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: the whole capacity is writable and stays at the same address; `set_init` sets `len`
// to bytes the kernel or a syscall reported as written.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.capacity()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller guarantees the first `n <= capacity` bytes were written.
        unsafe { self.set_len(n) };
    }
}

// SAFETY: a boxed slice's heap pointer is stable and all of it is initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: all of a boxed slice is initialised and writable at a stable address.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&mut self) -> usize {
        self.len()
    }
    unsafe fn set_init(&mut self, _: usize) {}
}

// SAFETY: static data never moves or dies.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: static data never moves or dies.
//
// A byte string literal (`b"ping"`) is a `&'static [u8; N]`, not a `&'static [u8]`: without
// this, `stream.write_all(b"ping")` did not compile and callers wrote `b"ping".to_vec()`,
// an allocation per call for bytes that are already in the binary.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
}

// SAFETY: static data never moves or dies.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

/// A range of an owned buffer; `into_inner` gives the whole buffer back.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B> Slice<B> {
    /// The whole underlying buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }
    /// Offset of the view's first byte in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }
    /// Offset one past the view's last byte in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }
}

// SAFETY: the view is inside the underlying buffer's initialised bytes (checked in `slice`),
// whose pointer is stable by B's own contract.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: begin <= bytes_init, so the offset stays inside the allocation.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    fn bytes_init(&self) -> usize {
        self.end - self.begin
    }
}

/// The room after the bytes an owned buffer held when [`IoBufMut::spare`] was called; a
/// read into it appends to them. `into_inner` gives the whole buffer back, old bytes and new.
#[derive(Debug)]
pub struct Spare<B> {
    buf: B,
    offset: usize,
}

impl<B> Spare<B> {
    /// The whole buffer: the bytes it held, then what was read.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: the view starts at the buffer's initialised length, inside the allocation, whose
// pointer is stable by B's contract; what it calls initialised is what B calls initialised
// beyond that offset.
unsafe impl<B: IoBufMut> IoBuf for Spare<B> {
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: offset <= the buffer's initialised length, so it stays in the allocation.
        unsafe { self.buf.stable_ptr().add(self.offset) }
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().saturating_sub(self.offset)
    }
}

// SAFETY: the writable bytes are the buffer's own, past `offset`; set_init records the ones
// before `offset` (initialised when the view was made) plus the `n` written after them.
unsafe impl<B: IoBufMut> IoBufMut for Spare<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: offset <= bytes_total, so it stays in the allocation.
        unsafe { self.buf.stable_mut_ptr().add(self.offset) }
    }
    fn bytes_total(&mut self) -> usize {
        self.buf.bytes_total().saturating_sub(self.offset)
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the first `offset` bytes were initialised when the view was made, and the
        // caller guarantees the `n` after them were written.
        unsafe { self.buf.set_init(self.offset + n) };
    }
}

#[cfg(feature = "bytes")]
mod bytes_impls {
    use super::{IoBuf, IoBufMut};

    // SAFETY: Bytes points at shared heap (or static) memory that does not move with the
    // handle and is never written; `len` bytes are initialised.
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    unsafe impl IoBuf for bytes::Bytes {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
    }

    // SAFETY: a BytesMut's heap memory does not move with the handle; `len` bytes are
    // initialised.
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    unsafe impl IoBuf for bytes::BytesMut {
        fn stable_ptr(&self) -> *const u8 {
            self.as_ptr()
        }
        fn bytes_init(&self) -> usize {
            self.len()
        }
    }

    // SAFETY: the whole capacity is writable at a stable address while the handle lives
    // (the runtime owns it, so nothing reserves or splits meanwhile); set_init sets `len` to
    // bytes a read reported as written.
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    unsafe impl IoBufMut for bytes::BytesMut {
        fn stable_mut_ptr(&mut self) -> *mut u8 {
            self.as_mut_ptr()
        }
        fn bytes_total(&mut self) -> usize {
            self.capacity()
        }
        unsafe fn set_init(&mut self, n: usize) {
            // SAFETY: the caller guarantees the first `n <= capacity` bytes were written.
            unsafe { self.set_len(n) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_string_literals_are_buffers_as_they_are() {
        fn bytes(buf: impl IoBuf) -> Vec<u8> {
            // SAFETY: the pointer covers bytes_init initialised bytes.
            unsafe { std::slice::from_raw_parts(buf.stable_ptr(), buf.bytes_init()) }.to_vec()
        }
        assert_eq!(bytes(b"ping"), b"ping");
        assert_eq!(bytes(b""), b"");
        assert_eq!(bytes(b"hello world").len(), 11);
        assert_eq!(bytes(b"hello world".slice(6..)), b"world");
    }

    #[test]
    fn slice_views_part_and_returns_whole() {
        let s = b"hello world".to_vec().slice(6..);
        assert_eq!(s.bytes_init(), 5);
        // SAFETY: the slice's pointer covers bytes_init initialised bytes.
        let view = unsafe { std::slice::from_raw_parts(s.stable_ptr(), s.bytes_init()) };
        assert_eq!(view, b"world");
        assert_eq!(s.into_inner(), b"hello world");
    }

    /// The message a panicking `f` gave.
    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("it panics");
        match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => p.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
        }
    }

    #[test]
    fn slice_to_usize_max_inclusive_panics_instead_of_wrapping() {
        // `n + 1` wrapped to 0 in release, giving an empty view; in debug it overflowed.
        let msg = panic_message(|| drop(b"abc".to_vec().slice(..=usize::MAX)));
        assert_eq!(msg, "attempted to index slice up to maximum usize");
        let msg = panic_message(|| drop(b"abc".to_vec().slice(1..=usize::MAX)));
        assert_eq!(msg, "attempted to index slice up to maximum usize");
        let after_max = (Bound::Excluded(usize::MAX), Bound::Unbounded);
        let msg = panic_message(move || drop(b"abc".to_vec().slice(after_max)));
        assert_eq!(msg, "attempted to index slice from after maximum usize");
    }

    #[test]
    fn slice_out_of_range_panics_as_slice_indexing_does() {
        let msg = panic_message(|| drop(b"abc".to_vec().slice(..4)));
        assert_eq!(msg, "range end index 4 out of range for slice of length 3");
        let msg = panic_message(|| drop(b"abc".to_vec().slice(..usize::MAX)));
        assert_eq!(msg, format!("range end index {} out of range for slice of length 3", usize::MAX));
        let msg = panic_message(|| drop(b"abc".to_vec().slice(usize::MAX..)));
        assert_eq!(msg, format!("slice index starts at {} but ends at 3", usize::MAX));
        #[allow(clippy::reversed_empty_ranges)]
        let msg = panic_message(|| drop(b"abc".to_vec().slice(2..1)));
        assert_eq!(msg, "slice index starts at 2 but ends at 1");
    }

    #[test]
    fn slice_accepts_every_range_that_fits() {
        let len = |s: Slice<Vec<u8>>| s.bytes_init();
        assert_eq!(len(b"abc".to_vec().slice(..)), 3);
        assert_eq!(len(b"abc".to_vec().slice(3..)), 0);
        assert_eq!(len(b"abc".to_vec().slice(..=2)), 3);
        assert_eq!(len(b"abc".to_vec().slice(1..=1)), 1);
        assert_eq!(len(b"abc".to_vec().slice((Bound::Excluded(0), Bound::Included(2)))), 2);
        assert_eq!(len(Vec::new().slice(0..0)), 0);
    }

    #[test]
    fn spare_appends_after_the_bytes_held() {
        let mut buf = b"abc".to_vec();
        buf.reserve(10);
        let total = buf.capacity();
        let mut spare = buf.spare();
        assert_eq!(spare.bytes_total(), total - 3);
        // SAFETY: the spare room has bytes_total writable bytes; we write two of them.
        unsafe {
            spare.stable_mut_ptr().copy_from_nonoverlapping(b"de".as_ptr(), 2);
            spare.set_init(2);
        }
        assert_eq!(spare.bytes_init(), 2);
        assert_eq!(spare.into_inner(), b"abcde");
    }

    #[test]
    fn vec_set_init_sets_the_length_read() {
        let mut v = vec![1u8, 2, 3];
        v.reserve(5);
        // SAFETY: the first two bytes are initialised.
        unsafe { v.set_init(2) };
        assert_eq!(v, [1, 2]);
        assert!(v.bytes_total() >= 8);
    }
}
