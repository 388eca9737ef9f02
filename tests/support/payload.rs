//! Deterministic test bytes.

/// `len` pseudo-random bytes, the same for the same `seed`. No period shorter than the
/// buffer: a chunk lost, repeated or delivered out of order changes what a test compares.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    // splitmix64, one output byte per step.
    let mut state = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(seed) + 1);
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}
