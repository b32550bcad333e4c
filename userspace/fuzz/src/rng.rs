//! The fuzzer's random numbers: SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
//! number generators", 2014), written out here rather than taken from a crate. Replaying child K
//! of seed S must give the same calls years from now on both architectures; a crate's generator
//! may change its algorithm or its `gen_range` rounding between versions, while these ten lines
//! cannot. SplitMix64 passes BigCrush, needs one word of state, and doubles as the seed mixer
//! that turns (seed, child index) into well-separated child seeds.

/// One SplitMix64 step: the state advances by the golden-ratio increment and is mixed.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The generator of child `k` of run `seed`: independent of every other child's, so that a
    /// child can be replayed alone.
    pub fn for_child(seed: u64, k: u64) -> Rng {
        Rng::new(mix(seed ^ mix(k.wrapping_add(1).wrapping_mul(GAMMA))))
    }

    pub fn word(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift (the tiny bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.word() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
