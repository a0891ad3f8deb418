//! Nothing to build: the script exists so that the `[build-dependencies]`
//! in Cargo.toml take part in feature resolution. They pin the features of
//! RocksDB's build-time dependencies (bindgen's `proc-macro2` and `syn`) to
//! what the whole workspace turns on, so whichever crates a build selects,
//! RocksDB's C++ is built once per profile (`cargo xtask lint` checks it).

fn main() {}
