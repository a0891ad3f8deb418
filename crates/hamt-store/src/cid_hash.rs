//! A cheap hash for maps keyed by CIDs (or block keys made of them).

use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for CIDs, which are mostly a cryptographic digest: a few
/// multiply-rotate rounds over the bytes are enough to spread them, at a
/// fraction of `SipHash`'s cost (the `HashMap` default). Not for keys an
/// attacker picks freely: CIDs here are digests of the data.
#[derive(Default, Clone, Copy)]
pub struct CidHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl CidHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for CidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(tail));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`CidHasher`]s: the `S` of a `HashMap<Cid, _, CidHash>`.
pub type CidHash = BuildHasherDefault<CidHasher>;
