//! The keys and values every benchmark and comparison uses, in one place
//! (the Python side of the comparisons has the same generators in
//! `benches/workload.py`), and the peak-memory reading the import examples
//! print.
//!
//! ```
//! use hamt_bench_data::{chunk_key, chunk_value, incompressible};
//! assert_eq!(chunk_key(1_234_567), "temp/c/123/45/67");
//! assert_eq!(chunk_value(1).len(), 64);
//! assert_eq!(incompressible(9, 1000).len(), 1000);
//! ```

/// Key `i` as zarr v3 names a chunk of a 3-D array:
/// `temp/c/{i / 10000}/{i / 100 % 100}/{i % 100}`.
pub fn chunk_key(i: u64) -> String {
    format!("temp/c/{}/{}/{}", i / 10_000, (i / 100) % 100, i % 100)
}

/// Value `i` of the W1/W2 workloads: its 4 little-endian bytes, 16 times
/// (64 bytes), as `struct.pack("<I", i) * 16` on the Python side.
pub fn chunk_value(i: u32) -> Vec<u8> {
    i.to_le_bytes().repeat(16)
}

/// `len` pseudo-random bytes for value `i` (xorshift64, seeded by `i`):
/// incompressible, like compressed zarr chunks, and the same on every run.
pub fn incompressible(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The process's peak resident set size so far (`VmHWM`), in MiB; Linux only.
#[allow(clippy::cast_precision_loss)]
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_as_the_python_side_makes_them() {
        assert_eq!(&chunk_value(0x0102_0304)[..4], &[4, 3, 2, 1]);
        assert_ne!(incompressible(1, 64), incompressible(2, 64));
        assert_eq!(incompressible(1, 64), incompressible(1, 64));
    }
}
