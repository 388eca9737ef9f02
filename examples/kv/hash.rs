//! Hashing keys: which core owns a key, and the buckets of a shard's map. Keys are short and
//! client-chosen, so both use a multiply-rotate over 8-byte words (as rustc's FxHash), not
//! SipHash, which costs more than the rest of a GET, nor a byte-at-a-time hash.

use std::hash::{BuildHasher, Hasher};

/// The core that owns `key`: the same on every core and in every run (a fixed seed), the
/// hash's high bits scaled to `shards` (no division).
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    let mut h = WordHasher(0x243f_6a88_85a3_08d3);
    h.write(key);
    ((u128::from(h.finish()) * shards as u128) >> 64) as usize
}

/// A shard map's hasher, seeded per process: precomputed colliding keys do not carry over
/// from one run to the next.
#[derive(Clone)]
pub struct KeyHash(u64);

impl Default for KeyHash {
    fn default() -> KeyHash {
        KeyHash(std::collections::hash_map::RandomState::new().hash_one(0u64) | 1)
    }
}

impl BuildHasher for KeyHash {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.0)
    }
}

/// The hasher [`KeyHash`] builds.
pub struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in words.by_ref() {
            self.mix(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        // The last 0-7 bytes, folded by hand (a copy into an array calls memcpy).
        let tail = words.remainder().iter().rev().fold(0u64, |t, &b| t << 8 | u64::from(b));
        self.mix(tail ^ (bytes.len() as u64) << 56);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakest; hashbrown takes its tag from the top
        // seven and the bucket from the low ones, so fold the high half down.
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_evenly_over_the_shards() {
        for shards in [2, 3, 4] {
            let mut per_shard = vec![0usize; shards];
            for i in 0..30_000 {
                per_shard[shard_of(format!("key:{i:012}").as_bytes(), shards)] += 1;
            }
            let even = 30_000 / shards;
            assert!(per_shard.iter().all(|&n| n.abs_diff(even) < even / 20), "{shards} shards: {per_shard:?}");
        }
        assert_eq!(shard_of(b"anything", 1), 0);
    }
}
