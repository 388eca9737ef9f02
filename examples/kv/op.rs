//! One operation on one shard, borrowed from the request it came from, and its compact
//! encoding for a batch to another core: a tag byte, then length-prefixed keys and values
//! and fixed-width numbers. A batch is one `Vec<u8>` however many operations it carries, so
//! forwarding costs no allocation per operation.

use std::time::Duration;

/// One operation on one shard: a command, or one key's part of a multi-key command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    Get(&'a [u8]),
    Set {
        key: &'a [u8],
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    Del(&'a [u8]),
    Exists(&'a [u8]),
    Incr(&'a [u8]),
    /// `EXPIRE key seconds`: a TTL of zero or less deletes the key.
    Expire(&'a [u8], i64),
    Ttl(&'a [u8]),
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

impl<'a> Op<'a> {
    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Op::Get(key) => keyed(out, GET, key),
            Op::Set { key, value, ttl: None } => {
                keyed(out, SET, key);
                bytes(out, value);
            }
            Op::Set { key, value, ttl: Some(ttl) } => {
                keyed(out, SET_TTL, key);
                bytes(out, value);
                out.extend_from_slice(&(ttl.as_millis().min(u64::MAX as u128) as u64).to_le_bytes());
            }
            Op::Del(key) => keyed(out, DEL, key),
            Op::Exists(key) => keyed(out, EXISTS, key),
            Op::Incr(key) => keyed(out, INCR, key),
            Op::Expire(key, secs) => {
                keyed(out, EXPIRE, key);
                out.extend_from_slice(&secs.to_le_bytes());
            }
            Op::Ttl(key) => keyed(out, TTL, key),
            Op::DbSize => out.push(DBSIZE),
            Op::FlushAll => out.push(FLUSHALL),
            Op::Info => out.push(INFO),
        }
    }

    /// The first operation encoded in `buf`, and the bytes it took; `None` if `buf` does
    /// not start with a whole one (never the case for what [`Op::encode`] wrote).
    pub fn decode(buf: &'a [u8]) -> Option<(Op<'a>, usize)> {
        let mut r = Reader { buf, at: 1 };
        let op = match *buf.first()? {
            GET => Op::Get(r.bytes()?),
            SET => Op::Set { key: r.bytes()?, value: r.bytes()?, ttl: None },
            SET_TTL => Op::Set { key: r.bytes()?, value: r.bytes()?, ttl: Some(Duration::from_millis(r.u64()?)) },
            DEL => Op::Del(r.bytes()?),
            EXISTS => Op::Exists(r.bytes()?),
            INCR => Op::Incr(r.bytes()?),
            EXPIRE => Op::Expire(r.bytes()?, r.u64()? as i64),
            TTL => Op::Ttl(r.bytes()?),
            DBSIZE => Op::DbSize,
            FLUSHALL => Op::FlushAll,
            INFO => Op::Info,
            _ => return None,
        };
        Some((op, r.at))
    }
}

fn keyed(out: &mut Vec<u8>, tag: u8, key: &[u8]) {
    out.push(tag);
    bytes(out, key);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    // MAX_BULK (16 MiB) keeps every key and value well inside a u32.
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let got = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(got)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(len as usize)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
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
        let ops = [
            Op::Get(b"k"),
            Op::Set { key: b"key", value: b"", ttl: None },
            Op::Set { key: b"", value: b"v\r\n", ttl: Some(Duration::from_millis(1500)) },
            Op::Del(b"d"),
            Op::Exists(b"e"),
            Op::Incr(b"i"),
            Op::Expire(b"x", -3),
            Op::Ttl(b"t"),
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
