//! Hashing keys: one hash per key, computed where its request is parsed, picks both the core
//! that owns the key and the bucket of that core's map that holds it (`store.rs`), so a key
//! is hashed once, not once for its core and again for its map (a forwarded key carries its
//! hash along, see `op.rs`). Keys are short and client-chosen: the hash is a multiply-rotate
//! over 8-byte words (as rustc's FxHash), not SipHash, which costs more than the rest of a
//! GET, nor a byte-at-a-time hash. It is seeded per process, so precomputed colliding keys
//! do not carry over from one run to the next; every core of the process shares the seed.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// A key, borrowed from its request, and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    pub bytes: &'a [u8],
    pub hash: u64,
}

impl<'a> Key<'a> {
    /// `bytes` and their hash.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Key<'a> {
        Key { bytes, hash: hash(bytes) }
    }

    /// The core that owns the key, of `shards`: bits 25 to 56 of its hash, scaled (no
    /// division). The map picks buckets by the low bits and tags by the top seven, so one
    /// core's keys still spread over all of both.
    pub fn shard(&self, shards: usize) -> usize {
        (((self.hash >> 25) as u32 as u64 * shards as u64) >> 32) as usize
    }
}

/// The hash of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    let mut h = WordHasher(*SEED.get_or_init(|| RandomState::new().hash_one(0u64) | 1));
    h.write(bytes);
    h.finish()
}

struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

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

    fn finish(&self) -> u64 {
        // The multiplies leave the low bits weakest (keys that differ only in their last
        // digits left whole buckets empty), and the map picks buckets by the low bits: one
        // widening multiply, its halves folded together, spreads every bit over all of them.
        let wide = u128::from(self.0) * 0x9e37_79b9_7f4a_7c15;
        (wide as u64) ^ (wide >> 64) as u64
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
                per_shard[Key::new(format!("key:{i:012}").as_bytes()).shard(shards)] += 1;
            }
            let even = 30_000 / shards;
            assert!(per_shard.iter().all(|&n| n.abs_diff(even) < even / 20), "{shards} shards: {per_shard:?}");
        }
        assert_eq!(Key::new(b"anything").shard(1), 0);
    }

    #[test]
    fn one_shards_keys_spread_over_the_maps_tags_and_buckets() {
        // The map's tag is the hash's top seven bits, its bucket the low ones: the bits that
        // pick the core must not be among them, or a core's keys would share fewer tags.
        let (mut tags, mut buckets, mut seen) = ([0usize; 128], [0usize; 64], 0);
        for i in 0.. {
            let bytes = format!("key:{i:012}");
            let key = Key::new(bytes.as_bytes());
            if key.shard(4) == 3 {
                tags[(key.hash >> 57) as usize] += 1;
                buckets[(key.hash & 63) as usize] += 1;
                seen += 1;
                if seen == 40_000 {
                    break;
                }
            }
        }
        // Six standard deviations or so: the seed differs from run to run.
        let (tag_even, bucket_even) = (40_000 / 128, 40_000 / 64);
        assert!(tags.iter().all(|&n| n.abs_diff(tag_even) < tag_even / 3), "tags: {tags:?}");
        assert!(buckets.iter().all(|&n| n.abs_diff(bucket_even) < bucket_even / 4), "buckets: {buckets:?}");
    }
}
