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
        let len = (bytes.len() as u64) << 56;
        let word = |w: &[u8; 8]| u64::from_le_bytes(*w);
        match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
            // 8 to 16 bytes, most keys: the first word and the last (the same one, or
            // overlapping it, if fewer than 16), with no loop. The length goes in a mix of
            // its own: the last word's bytes need one more multiply to reach the low bits
            // the map's buckets are picked by.
            (Some(first), Some(last)) if bytes.len() <= 16 => {
                self.mix(word(first));
                self.mix(word(last));
                self.mix(len);
            }
            // Longer: every whole word, then the last eight bytes if some are left over.
            (Some(_), Some(last)) => {
                let mut words = bytes.chunks_exact(8);
                words.by_ref().for_each(|w| self.mix(word(w.try_into().unwrap_or(&[0; 8]))));
                let tail = if words.remainder().is_empty() { 0 } else { word(last) };
                self.mix(tail ^ len);
            }
            // Shorter: the 0-7 bytes folded by hand (a copy into an array calls memcpy).
            _ => {
                let tail = bytes.iter().rev().fold(0u64, |t, &b| t << 8 | u64::from(b));
                self.mix(tail ^ len);
            }
        }
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
