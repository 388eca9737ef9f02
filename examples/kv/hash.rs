//! Hashing keys: one hash per key, computed where its request is parsed, picks both the core
//! that owns the key and the bucket of that core's map that holds it (`store.rs`), so a key
//! is hashed once, not once for its core and again for its map (a forwarded key carries its
//! hash along, see `op.rs`).
//!
//! Keys are client-chosen, so the hash must be keyed: a client that can build keys sharing
//! one hash puts them on one core and in one bucket chain, where every insert and lookup
//! scans them all. It is foldhash (hashbrown's own default hasher), seeded at random once per
//! process and shared by every core: a folded 128-bit multiply of words mixed with the seeds,
//! as cheap as the multiply-rotate (FxHash-style) hash it replaced, which let keys built by
//! flipping two bits per 16-byte block share a hash under every seed (60,000 such keys took
//! a core 20 s to store). SipHash, std's keyed hash, costs more than the rest of a GET.
//! foldhash's `quality` variant, which ends with one more folded multiply: the `fast` one,
//! a single multiply for a key of 16 bytes or less, split sequential keys 47:53 between two
//! cores under some seeds.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use foldhash::quality::SeedableRandomState;

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

/// The hash of `bytes`: the same on every core of the process, different from run to run.
pub fn hash(bytes: &[u8]) -> u64 {
    static SEEDS: OnceLock<SeedableRandomState> = OnceLock::new();
    let mut hasher = SEEDS.get_or_init(SeedableRandomState::random).build_hasher();
    // The bytes alone, no length prefix as `Hash for [u8]` adds: foldhash mixes the length in.
    hasher.write(bytes);
    hasher.finish()
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

    /// Keys a client builds to share one hash (and so one core and one bucket chain, which
    /// makes every insert and lookup on it linear): under the multiply-rotate hash this
    /// replaced, flipping the top bit of a 16-byte block's first word and bit 4 of its second
    /// cancelled out for every seed, so 2^k such keys shared a hash.
    #[test]
    fn keys_built_to_collide_under_a_multiply_rotate_hash_do_not() {
        let base = [b'k'; 256];
        let hashes: std::collections::HashSet<u64> = (0..1000u32)
            .map(|i| {
                let mut key = base;
                for block in (0..10).filter(|b| i >> b & 1 == 1) {
                    key[block * 16 + 7] ^= 0x80;
                    key[block * 16 + 8] ^= 0x10;
                }
                hash(&key)
            })
            .collect();
        assert!(hashes.len() >= 999, "1,000 keys gave {} hashes", hashes.len());
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
