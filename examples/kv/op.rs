//! One operation on one shard, borrowed from the request it came from, and its compact
//! encoding for a batch to another core: a fixed head (a tag byte, the lengths and the key's
//! hash, so the owning core need not hash it again), then the key and the value. A batch is one `Vec<u8>` however many operations it carries, so
//! forwarding costs no allocation per operation.

use std::time::Duration;

use super::hash::Key;

/// One operation on one shard: a command, or one key's part of a multi-key command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    Get(Key<'a>),
    Set {
        key: Key<'a>,
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    Del(Key<'a>),
    Exists(Key<'a>),
    Incr(Key<'a>),
    /// `EXPIRE key seconds`: a TTL of zero or less deletes the key.
    Expire(Key<'a>, i64),
    Ttl(Key<'a>),
    DbSize,
    FlushAll,
    /// The shard's section of INFO.
    Info,
}

const GET: u8 = 1;
const SET: u8 = 2;
const SET_TTL: u8 = 3;
const DEL: u8 = 4;
const EXISTS: u8 = 5;
const INCR: u8 = 6;
const EXPIRE: u8 = 7;
const TTL: u8 = 8;
const DBSIZE: u8 = 9;
const FLUSHALL: u8 = 10;
const INFO: u8 = 11;

/// Every encoding starts with a head of fixed size: the tag, the key's length and the
/// value's length (zero for an operation without one), each a little-endian `u32`, and the
/// key's hash, a little-endian `u64`.
const HEAD: usize = 17;

/// The key of an operation without one.
const NO_KEY: Key<'static> = Key { bytes: &[], hash: 0 };

impl<'a> Op<'a> {
    /// Appends the encoding to `out`: the head, then for SET with a TTL and EXPIRE a
    /// little-endian 64-bit number (milliseconds, seconds), then the key and the value.
    /// Every operation has the same few parts (the head written in one piece, the key and
    /// the value one copy each), so forwarding one costs little more than those copies.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (tag, key, value, number): (u8, Key<'_>, &[u8], Option<u64>) = match *self {
            Op::Get(key) => (GET, key, &[], None),
            Op::Set { key, value, ttl: None } => (SET, key, value, None),
            Op::Set { key, value, ttl: Some(ttl) } => {
                (SET_TTL, key, value, Some(ttl.as_millis().min(u64::MAX as u128) as u64))
            }
            Op::Del(key) => (DEL, key, &[], None),
            Op::Exists(key) => (EXISTS, key, &[], None),
            Op::Incr(key) => (INCR, key, &[], None),
            Op::Expire(key, secs) => (EXPIRE, key, &[], Some(secs as u64)),
            Op::Ttl(key) => (TTL, key, &[], None),
            Op::DbSize => (DBSIZE, NO_KEY, &[], None),
            Op::FlushAll => (FLUSHALL, NO_KEY, &[], None),
            Op::Info => (INFO, NO_KEY, &[], None),
        };
        out.reserve(HEAD + 8 + key.bytes.len() + value.len());
        let mut head = [tag; HEAD];
        // MAX_BULK (16 MiB) keeps every key and value well inside a u32.
        head[1..5].copy_from_slice(&(key.bytes.len() as u32).to_le_bytes());
        head[5..9].copy_from_slice(&(value.len() as u32).to_le_bytes());
        head[9..].copy_from_slice(&key.hash.to_le_bytes());
        out.extend_from_slice(&head);
        if let Some(number) = number {
            out.extend_from_slice(&number.to_le_bytes());
        }
        out.extend_from_slice(key.bytes);
        out.extend_from_slice(value);
    }

    /// The first operation encoded in `buf`, and the bytes it took; `None` if `buf` does
    /// not start with a whole one (never the case for what [`Op::encode`] wrote).
    pub fn decode(buf: &'a [u8]) -> Option<(Op<'a>, usize)> {
        let (head, rest) = buf.split_first_chunk::<HEAD>()?;
        let tag = head[0];
        let key_len = u32::from_le_bytes(head[1..5].try_into().ok()?) as usize;
        let value_len = u32::from_le_bytes(head[5..9].try_into().ok()?) as usize;
        let hash = u64::from_le_bytes(head[9..].try_into().ok()?);
        let (number, rest) = match tag {
            SET_TTL | EXPIRE => {
                let (number, rest) = rest.split_first_chunk::<8>()?;
                (u64::from_le_bytes(*number), rest)
            }
            _ => (0, rest),
        };
        let (key, rest) = rest.split_at_checked(key_len)?;
        let key = Key { bytes: key, hash };
        let value = rest.get(..value_len)?;
        let op = match tag {
            GET => Op::Get(key),
            SET => Op::Set { key, value, ttl: None },
            SET_TTL => Op::Set { key, value, ttl: Some(Duration::from_millis(number)) },
            DEL => Op::Del(key),
            EXISTS => Op::Exists(key),
            INCR => Op::Incr(key),
            EXPIRE => Op::Expire(key, number as i64),
            TTL => Op::Ttl(key),
            DBSIZE => Op::DbSize,
            FLUSHALL => Op::FlushAll,
            INFO => Op::Info,
            _ => return None,
        };
        Some((op, buf.len() - rest.len() + value_len))
    }
}

/// Every operation of a batch, in order.
pub fn decode_all(mut buf: &[u8]) -> impl Iterator<Item = Op<'_>> {
    std::iter::from_fn(move || {
        let (op, used) = Op::decode(buf)?;
        buf = &buf[used..];
        Some(op)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips_through_a_batch() {
        let key = |bytes| Key::new(bytes);
        let ops = [
            Op::Get(key(b"k")),
            Op::Set { key: key(b"key"), value: b"", ttl: None },
            Op::Set { key: key(b""), value: b"v\r\n", ttl: Some(Duration::from_millis(1500)) },
            Op::Del(key(b"d")),
            Op::Exists(key(b"e")),
            Op::Incr(key(b"i")),
            Op::Expire(key(b"x"), -3),
            Op::Ttl(key(b"t")),
            Op::DbSize,
            Op::FlushAll,
            Op::Info,
        ];
        let mut batch = Vec::new();
        ops.iter().for_each(|op| op.encode(&mut batch));
        assert_eq!(decode_all(&batch).collect::<Vec<_>>(), ops);
        // A cut batch yields the whole operations before the cut and nothing torn.
        for cut in 0..batch.len() {
            assert!(decode_all(&batch[..cut]).count() < ops.len());
        }
        assert_eq!(Op::decode(&[0xff, 1, 2]), None);
    }
}
