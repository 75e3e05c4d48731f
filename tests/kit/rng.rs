//! A small deterministic PRNG (SplitMix64), so that generated fixtures are
//! the same on every run without pulling in a crate. Self-contained: the
//! benches include this file alone with
//! `#[path = "../tests/kit/rng.rs"] mod rng;`.

#![allow(dead_code)]

/// SplitMix64, seeded with the tuple field: `Rng(0x5eed)`.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + unit * (hi - lo)
    }

    /// A whole number in `[lo, hi)`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo)) as u32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.range(0.0, 1.0) < p
    }

    /// An index in `[0, n)`.
    pub fn pick(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `base` with up to `spread` relative noise either way.
    pub fn noisy(&mut self, base: f64, spread: f64) -> f64 {
        base * self.range(1.0 - spread, 1.0 + spread)
    }
}
