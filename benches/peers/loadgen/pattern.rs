//! The bytes each request carries, so every echoed byte can be checked without keeping copies.
//!
//! Request `k` of connection `c` is the run `base, base+1, ...` (mod 256) with `base` mixed
//! from `c` and `k`: a reply from the wrong connection or out of order fails the comparison.

/// A table of `0, 1, ..., 255, 0, ...` long enough to slice any request out of.
pub struct Pattern {
    table: Vec<u8>,
    payload: usize,
}

impl Pattern {
    /// A table for requests of `payload` bytes.
    pub fn new(payload: usize) -> Pattern {
        Pattern { table: (0..payload + 256).map(|i| i as u8).collect(), payload }
    }

    /// Bytes per request.
    pub fn payload(&self) -> usize {
        self.payload
    }

    /// The whole of request `seq` on connection `conn`.
    pub fn request(&self, conn: u64, seq: u64) -> &[u8] {
        self.part(conn, seq, 0, self.payload)
    }

    /// Bytes `offset..offset+len` of request `seq` on connection `conn`.
    pub fn part(&self, conn: u64, seq: u64, offset: usize, len: usize) -> &[u8] {
        let base = (conn.wrapping_mul(131).wrapping_add(seq.wrapping_mul(17)) % 251) as usize;
        &self.table[base + offset..base + offset + len]
    }
}
