//! The forwarding lane: GET and SET without options, the requests a sharded pipeline forwards
//! most, in a record of their own inside a batch (`op.rs` encodes every other operation),
//! and run by the owning core without the generic operation's machinery: the head holds the
//! tag, the lengths and the key's hash and nothing else (13 bytes for a GET, 17 for a SET,
//! against the generic 26), is written with one reservation and read without matching the
//! generic tags, and the owner calls the store's GET or SET at once (`Store::get`,
//! `Store::set_plain`), not `Store::apply`'s dispatch over every operation.
//!
//! Lane records share the batch with the generic ones, in the order they were queued, so a
//! pipeline's requests for one key still run in order whatever their commands; their tags
//! ([`GET`], [`SET`]) lie above every generic tag, with the same bit for a RESP3 connection.
//!
//! What it saved (`benches/kv_instructions.sh`, redis-benchmark SET and GET at pipeline 16,
//! half the keys forwarded): two shards on one CPU took 1,195 instructions per request
//! against 1,253, nearly all of it on the owning core (`Shards::receive` and the generic
//! decode and dispatch it skips), and 1,182 once its records and the replies' pieces in
//! `Pipeline::fill_holes` were copied by [`append`]'s loads and stores, not by memcpy. The
//! head's shape alone gains nothing: a generic head shaped per tag cost as much as the fixed
//! one (see `op.rs`). One shard is unchanged (928-932 against 936): it forwards nothing.
//!
//! What it does not do: the replies still come back as every forwarded reply does, into
//! the pipeline's slots, then spliced into its output (`pipeline.rs`). Carrying them by
//! reference to the message they came in would spare one copy per pipeline's run of
//! answers, a few instructions a request; the splice itself, a copy of each local reply
//! and each answer, stays as long as local replies are written before the answers between
//! them are known.

use super::hash::Key;
use super::op::RESP3;
use super::replies::Protocol;

/// A GET's record: the head ([`GET_HEAD`] bytes: the tag, the key's length as a
/// little-endian `u32`, its hash as a little-endian `u64`), then the key.
pub const GET: u8 = 0x40;
/// A plain SET's record: a GET's head, the value's length (a little-endian `u32`), then the
/// key and the value.
pub const SET: u8 = 0x41;

const GET_HEAD: usize = 13;
const SET_HEAD: usize = 17;

/// An operation of the lane, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hot<'a> {
    Get(Key<'a>),
    Set { key: Key<'a>, value: &'a [u8] },
}

/// The tag byte for `tag`, asked by a connection speaking `protocol`.
#[inline(always)]
fn tag_byte(tag: u8, protocol: Protocol) -> u8 {
    tag | if protocol == Protocol::Resp3 { RESP3 } else { 0 }
}

/// Appends a GET of `key`, for a connection speaking `protocol`, to the batch `out`.
#[inline]
pub fn encode_get(key: Key<'_>, protocol: Protocol, out: &mut Vec<u8>) {
    let mut head = [0; GET_HEAD];
    head[0] = tag_byte(GET, protocol);
    // MAX_BULK (16 MiB) keeps every key and value well inside a u32.
    head[1..5].copy_from_slice(&(key.bytes.len() as u32).to_le_bytes());
    head[5..13].copy_from_slice(&key.hash.to_le_bytes());
    push_record(out, head, key.bytes, &[]);
}

/// Appends a plain SET of `key` to `value` to the batch `out` (its reply, `+OK`, is the
/// same in either protocol, but the tag says which, as every record's does).
#[inline]
pub fn encode_set(key: Key<'_>, value: &[u8], protocol: Protocol, out: &mut Vec<u8>) {
    let mut head = [0; SET_HEAD];
    head[0] = tag_byte(SET, protocol);
    head[1..5].copy_from_slice(&(key.bytes.len() as u32).to_le_bytes());
    head[5..13].copy_from_slice(&key.hash.to_le_bytes());
    head[13..17].copy_from_slice(&(value.len() as u32).to_le_bytes());
    push_record(out, head, key.bytes, value);
}

/// Appends `head`, `key` and `value` to `out` with one reservation (three
/// `extend_from_slice`s check the capacity and move the length three times).
#[inline(always)]
fn push_record<const N: usize>(out: &mut Vec<u8>, head: [u8; N], key: &[u8], value: &[u8]) {
    let total = N + key.len() + value.len();
    out.reserve(total);
    let len = out.len();
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    // SAFETY: `dst` has room for `total` bytes (reserved above), the head, the key and the
    // value one after another, written in full before `set_len` exposes them; `out` is
    // borrowed mutably, so neither `key` nor `value` overlaps it.
    unsafe {
        dst.cast::<[u8; N]>().write_unaligned(head);
        copy_short(key, dst.add(N));
        copy_short(value, dst.add(N + key.len()));
        out.set_len(len + total);
    }
}

/// Appends `bytes` to `out`, as [`copy_short`] copies.
#[inline(always)]
pub fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len());
    let len = out.len();
    // SAFETY: room for `bytes` was reserved past `len`, and it is all written before
    // `set_len` exposes it; `out` is borrowed mutably, so `bytes` does not overlap it.
    unsafe {
        copy_short(bytes, out.spare_capacity_mut().as_mut_ptr().cast::<u8>());
        out.set_len(len + bytes.len());
    }
}

/// Copies `src` to `dst`; 16 bytes or fewer (most keys, small values, most replies) by a
/// few overlapping loads and stores, not a call to memcpy (which a copy of a length not
/// known when compiling makes, a dozen or more instructions more: the lane's keys and
/// values, and most replies, are that short under redis-benchmark).
///
/// # Safety
/// `dst` must be valid for writing `src.len()` bytes, and not overlap `src`.
#[inline(always)]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    let (n, src) = (src.len(), src.as_ptr());
    // SAFETY: each branch reads and writes only offsets below `n` (the caller's room): two
    // 8-byte words at 0 and n - 8 for 8..=16, two 4-byte ones for 4..8, the bytes 0, n / 2
    // and n - 1 for 1..4; together they cover all `n` bytes.
    unsafe {
        if n > 16 {
            std::ptr::copy_nonoverlapping(src, dst, n);
        } else if n >= 8 {
            let (a, b) = (src.cast::<u64>().read_unaligned(), src.add(n - 8).cast::<u64>().read_unaligned());
            dst.cast::<u64>().write_unaligned(a);
            dst.add(n - 8).cast::<u64>().write_unaligned(b);
        } else if n >= 4 {
            let (a, b) = (src.cast::<u32>().read_unaligned(), src.add(n - 4).cast::<u32>().read_unaligned());
            dst.cast::<u32>().write_unaligned(a);
            dst.add(n - 4).cast::<u32>().write_unaligned(b);
        } else if n > 0 {
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
    }
}

/// The lane's record at the front of `buf`, the protocol of its reply, and the bytes it
/// took; `None` if `buf` starts with a generic record, or with no whole record.
#[inline(always)]
pub fn decode(buf: &[u8]) -> Option<(Hot<'_>, Protocol, usize)> {
    let (head, rest) = buf.split_first_chunk::<GET_HEAD>()?;
    let (tag, head) = head.split_first_chunk::<1>()?;
    let (key_len, hash) = head.split_first_chunk::<4>()?;
    let (key_len, hash) = (u32::from_le_bytes(*key_len) as usize, u64::from_le_bytes(hash.try_into().ok()?));
    let protocol = if tag[0] & RESP3 != 0 { Protocol::Resp3 } else { Protocol::Resp2 };
    match tag[0] & !RESP3 {
        GET => {
            let key = Key { bytes: rest.get(..key_len)?, hash };
            Some((Hot::Get(key), protocol, GET_HEAD + key_len))
        }
        SET => {
            let (value_len, rest) = rest.split_first_chunk::<4>()?;
            let value_len = u32::from_le_bytes(*value_len) as usize;
            let (key, rest) = rest.split_at_checked(key_len)?;
            let value = rest.get(..value_len)?;
            Some((Hot::Set { key: Key { bytes: key, hash }, value }, protocol, SET_HEAD + key_len + value_len))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_copies_every_length() {
        let source: Vec<u8> = (0..40).collect();
        for n in 0..=source.len() {
            let mut out = b"ab".to_vec();
            append(&mut out, &source[..n]);
            assert_eq!(out, [&b"ab"[..], &source[..n]].concat(), "{n} bytes");
        }
    }

    #[test]
    fn records_round_trip_and_a_cut_one_is_refused() {
        let mut batch = Vec::new();
        let key = Key::new(b"key:1");
        encode_get(key, Protocol::Resp3, &mut batch);
        let get_len = batch.len();
        encode_set(key, b"value\r\n", Protocol::Resp2, &mut batch);
        assert_eq!(decode(&batch), Some((Hot::Get(key), Protocol::Resp3, get_len)));
        let set = Hot::Set { key, value: b"value\r\n" };
        assert_eq!(decode(&batch[get_len..]), Some((set, Protocol::Resp2, batch.len() - get_len)));
        for cut in get_len..batch.len() {
            assert_eq!(decode(&batch[get_len..cut]), None, "cut at {cut}");
        }
    }
}
