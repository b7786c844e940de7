//! Seeded randomness that is the same on every platform and in every
//! version: weight initialisation and shuffles use SplitMix64; dropout masks
//! use the PCG hash, written identically here and in `shaders/common.wgsl`,
//! so the CPU reference draws exactly the GPU's masks.
//!
//! Hand-written rather than taken from `rand`, whose algorithms may change
//! between versions and with them every seeded result.

/// SplitMix64 (Steele, Lea and Flood, 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 24 bits (every such value is exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: unbiased enough for shuffles of < 2^32 items.
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The PCG hash (Jarzynski and Olano, 2020), as in `shaders/common.wgsl`.
pub fn pcg_hash(x: u32) -> u32 {
    let state = x.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Whether dropout keeps element `index` of a layer, as the GPU decides:
/// `key` mixes the step's seed with the layer, `threshold` is rate x 2^32.
pub fn dropout_keep(key: u32, index: u32, threshold: u32) -> bool {
    pcg_hash(index.wrapping_mul(0x9E37_79B9) ^ key) >= threshold
}

/// The per-layer key of a step: as `dropout_key` in `shaders/common.wgsl`.
pub fn dropout_key(step_seed: u32, salt: u32) -> u32 {
    pcg_hash(step_seed ^ pcg_hash(salt))
}

/// The threshold below which a hash drops an element, for a rate in [0, 1).
pub fn dropout_threshold(rate: f32) -> u32 {
    (rate as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // First outputs for seed 0 from the reference C implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<usize> = (0..100).collect();
        SplitMix64::new(7).shuffle(&mut a);
        let mut b: Vec<usize> = (0..100).collect();
        SplitMix64::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn dropout_keeps_about_one_minus_rate() {
        let t = dropout_threshold(0.25);
        let key = dropout_key(12345, 1);
        let kept = (0..100_000).filter(|&i| dropout_keep(key, i, t)).count();
        assert!((74_000..76_000).contains(&kept), "{kept}");
    }
}
