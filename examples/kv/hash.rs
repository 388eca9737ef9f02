//! Hashing keys: one hash per key, computed where its request is parsed, picks both the core
//! that owns the key and the bucket of that core's map that holds it (`store.rs`), so a key
//! is hashed once, not once for its core and again for its map (a forwarded key carries its
//! hash along, see `op.rs`). Only a key with a hash tag (`{...}`, as Redis Cluster has them)
//! is hashed twice: its tag picks the core.
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
    /// core's keys still spread over all of both. A key with a hash tag (Redis Cluster's
    /// `{...}`: see [`hash_tag`]) goes by its tag's hash instead, so keys sharing a tag share
    /// a core, and RENAME, MSETNX and other commands of several keys can run on them whole.
    #[inline]
    pub fn shard(&self, shards: usize) -> usize {
        if shards == 1 {
            return 0;
        }
        let hash = if has_open_brace(self.bytes) { self.tag_hash() } else { self.hash };
        (((hash >> 25) as u32 as u64 * shards as u64) >> 32) as usize
    }

    /// The hash of the key's tag, if it has one, else its own: out of line, as few keys
    /// hold a `{`.
    #[cold]
    #[inline(never)]
    fn tag_hash(&self) -> u64 {
        hash_tag(self.bytes).map_or(self.hash, hash)
    }
}

/// Whether `key` holds a `{`, eight bytes at a time (a byte equal to it is a zero byte of
/// the word xor its pattern): a key of 8 to 16 bytes is two overlapping words, no loop, some
/// 10 instructions, which every request pays on more than one shard, where a byte loop or
/// core's memchr (set up for long haystacks) cost several times that.
#[inline]
fn has_open_brace(key: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The word's high bits where a byte is `{` (and maybe above it, which does not matter).
    let braces = |word: &[u8]| {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ (ONES * b'{' as u64);
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    match key.len() {
        0..8 => key.contains(&b'{'),
        len @ 8..=16 => braces(&key[..8]) | braces(&key[len - 8..]) != 0,
        len => key.chunks(8).take((len - 1) / 8).any(|w| braces(w) != 0) || braces(&key[len - 8..]) != 0,
    }
}

/// The part of `key` that picks its core, as Redis Cluster picks a key's slot: what lies
/// between its first `{` and the first `}` after it, if that is not empty (`{user1}.name`
/// and `{user1}.mail` go together; `{}x`, `x{` and `{a` go by the whole key).
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// The hash of `bytes`: the same on every core of the process, different from run to run.
/// `#[inline]`: a copy in every codegen unit that hashes, so that where it is inlined does
/// not hang on which unit the compiler put it in (adding the collection types once moved it
/// out of the request path's unit, and a call cost GET and SET a few instructions each).
#[inline]
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
    fn an_open_brace_is_found_wherever_it_lies() {
        for len in 0..40 {
            let key = vec![b'k'; len];
            assert!(!has_open_brace(&key), "{len}");
            for at in 0..len {
                let mut key = key.clone();
                key[at] = b'{';
                assert!(has_open_brace(&key), "{len} at {at}");
                // Bytes next to the brace's value, and high bytes, are not it.
                key[at] = b'{' + 1;
                key[len - 1 - at] = 0xfb;
                assert!(!has_open_brace(&key), "{len} near {at}");
            }
        }
    }

    #[test]
    fn keys_with_one_hash_tag_share_a_shard() {
        assert_eq!(hash_tag(b"{user1}.name"), Some(&b"user1"[..]));
        assert_eq!(hash_tag(b"a{b}{c}"), Some(&b"b"[..]), "the first tag");
        assert_eq!(hash_tag(b"a{{b}}"), Some(&b"{b"[..]), "Redis takes the first }} after the first {{");
        for whole in [&b"{}x"[..], b"x{", b"{a", b"plain", b"}a{"] {
            assert_eq!(hash_tag(whole), None, "{}", String::from_utf8_lossy(whole));
        }
        for shards in [2, 3, 4] {
            for user in 0..200 {
                let (a, b) = (format!("{{user{user}}}.name"), format!("x{{user{user}}}.mail"));
                assert_eq!(Key::new(a.as_bytes()).shard(shards), Key::new(b.as_bytes()).shard(shards), "{a} {b}");
            }
            // Tagged keys still spread: the tags' hashes are as random as the keys'.
            let used: std::collections::HashSet<usize> =
                (0..64).map(|i| Key::new(format!("{{t{i}}}k").as_bytes()).shard(shards)).collect();
            assert_eq!(used.len(), shards);
        }
    }

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
