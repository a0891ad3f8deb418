//! An array's chunk grid and its shard index: which shard and slot hold the
//! CID of a chunk, by C-order (row-major) arithmetic.

use hamt_codec::Cid;

use crate::error::ShardedError;

/// One zarr array's chunk grid and the CIDs of its shards (py-hamt's
/// `ArrayIndex`): chunk `c` (coordinates in the chunk grid) has linear
/// index `Σ_d c_d · Π_{e>d} chunks_per_dim_e`, and lives in shard
/// `linear / chunks_per_shard` at slot `linear % chunks_per_shard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayIndex {
    shape: Vec<u64>,
    chunk_shape: Vec<u64>,
    chunks_per_dim: Vec<u64>,
    total_chunks: u64,
    chunks_per_shard: u64,
    /// One per shard: its CID, or `None` while it holds no chunk (never written).
    pub(crate) shard_cids: Vec<Option<Cid>>,
}

/// The most chunks one shard may hold: a shard of 2^20 links is a 41 MiB
/// block, and a manifest claiming more is refused before anything is
/// allocated for it (py-hamt's default is 6,250).
pub const MAX_CHUNKS_PER_SHARD: u64 = 1 << 20;

/// The most shards one array's index may have: its shard list is held in
/// memory (py-hamt holds it as a Python list), so a `zarr.json` claiming a
/// larger grid is refused before anything is allocated for it. 2^22 shards
/// of py-hamt's default 6,250 chunks are 26 billion chunks.
pub const MAX_SHARDS_PER_ARRAY: u64 = 1 << 22;

/// Checks a shard size.
pub(crate) fn check_chunks_per_shard(chunks_per_shard: u64) -> Result<(), ShardedError> {
    if chunks_per_shard == 0 {
        return Err(ShardedError::Geometry(
            "chunks_per_shard must be a positive integer.".into(),
        ));
    }
    if chunks_per_shard > MAX_CHUNKS_PER_SHARD {
        return Err(ShardedError::Geometry(format!(
            "chunks_per_shard {chunks_per_shard} is over the limit of {MAX_CHUNKS_PER_SHARD}"
        )));
    }
    Ok(())
}

/// Why chunk coordinates are not in an array's grid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordsError {
    /// Another number of coordinates than the array has dimensions.
    #[error("the chunk has {found} coordinates; the array has {expected} dimensions")]
    Rank {
        /// The array's rank.
        expected: usize,
        /// Coordinates given.
        found: usize,
    },
    /// A coordinate past the grid's end.
    #[error(
        "chunk coordinate {coord} at dimension {dim} is out of bounds for dimension size {size}"
    )]
    OutOfBounds {
        /// The dimension.
        dim: usize,
        /// The coordinate.
        coord: u64,
        /// Chunks along that dimension.
        size: u64,
    },
}

/// Where a chunk's CID lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSlot {
    /// The shard's number in the array's index.
    pub shard: u64,
    /// The entry's number in the shard.
    pub slot: u64,
}

impl ArrayIndex {
    /// A new index with no shard written, after py-hamt's `ArrayIndex.new`.
    pub fn new(
        shape: Vec<u64>,
        chunk_shape: Vec<u64>,
        chunks_per_shard: u64,
    ) -> Result<Self, ShardedError> {
        let mut index = Self::checked(shape, chunk_shape, chunks_per_shard, Vec::new())?;
        index.shard_cids = vec![None; index.num_shards_usize()?];
        Ok(index)
    }

    /// An index read from a manifest: its shard list must have one entry
    /// per shard the geometry has.
    pub fn with_shards(
        shape: Vec<u64>,
        chunk_shape: Vec<u64>,
        chunks_per_shard: u64,
        shard_cids: Vec<Option<Cid>>,
    ) -> Result<Self, ShardedError> {
        let index = Self::checked(shape, chunk_shape, chunks_per_shard, shard_cids)?;
        if index.shard_cids.len() as u64 != index.num_shards() {
            return Err(ShardedError::Manifest(format!(
                "Inconsistent number of shards. Expected {}, found {}.",
                index.num_shards(),
                index.shard_cids.len()
            )));
        }
        Ok(index)
    }

    /// An index of this geometry, checked and with its grid derived, holding
    /// `shard_cids` as they are.
    fn checked(
        shape: Vec<u64>,
        chunk_shape: Vec<u64>,
        chunks_per_shard: u64,
        shard_cids: Vec<Option<Cid>>,
    ) -> Result<Self, ShardedError> {
        let mut index = ArrayIndex {
            shape,
            chunk_shape,
            chunks_per_dim: Vec::new(),
            total_chunks: 0,
            chunks_per_shard,
            shard_cids,
        };
        index.recompute()?;
        Ok(index)
    }

    /// Checks the geometry (py-hamt's `_validate_geometry`) and derives the grid.
    fn recompute(&mut self) -> Result<(), ShardedError> {
        check_chunks_per_shard(self.chunks_per_shard)?;
        if self.shape.len() != self.chunk_shape.len() {
            return Err(ShardedError::Geometry(
                "array_shape and chunk_shape must have the same rank.".into(),
            ));
        }
        if self.chunk_shape.contains(&0) {
            return Err(ShardedError::Geometry(
                "All chunk_shape dimensions must be positive.".into(),
            ));
        }
        self.chunks_per_dim = self
            .shape
            .iter()
            .zip(&self.chunk_shape)
            .map(|(s, c)| s.div_ceil(*c))
            .collect();
        self.total_chunks = self
            .chunks_per_dim
            .iter()
            .try_fold(1u64, |acc, n| acc.checked_mul(*n))
            .ok_or_else(|| {
                ShardedError::Geometry("the chunk grid has more than 2^64 chunks".into())
            })?;
        if self.num_shards() > MAX_SHARDS_PER_ARRAY {
            return Err(ShardedError::Geometry(format!(
                "an array of shape {:?} in chunks of {:?} needs {} shards of {}, over the limit of {MAX_SHARDS_PER_ARRAY}",
                self.shape,
                self.chunk_shape,
                self.num_shards(),
                self.chunks_per_shard
            )));
        }
        Ok(())
    }

    /// The array's shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The chunk shape.
    pub fn chunk_shape(&self) -> &[u64] {
        &self.chunk_shape
    }

    /// Chunks along each dimension (`ceil(shape / chunk)`).
    pub fn chunks_per_dim(&self) -> &[u64] {
        &self.chunks_per_dim
    }

    /// Chunks in the whole grid.
    pub fn total_chunks(&self) -> u64 {
        self.total_chunks
    }

    /// Chunk CIDs per shard.
    pub fn chunks_per_shard(&self) -> u64 {
        self.chunks_per_shard
    }

    /// Shards the grid needs (the last one may cover fewer chunks, but is
    /// stored full length).
    pub fn num_shards(&self) -> u64 {
        self.total_chunks.div_ceil(self.chunks_per_shard)
    }

    fn num_shards_usize(&self) -> Result<usize, ShardedError> {
        usize::try_from(self.num_shards())
            .map_err(|_| ShardedError::Geometry("too many shards for this platform".into()))
    }

    /// The CIDs of the shards (`None`: not written).
    pub fn shard_cids(&self) -> &[Option<Cid>] {
        &self.shard_cids
    }

    /// The CID of shard `shard`, if written.
    pub fn shard_cid(&self, shard: u64) -> Option<Cid> {
        usize::try_from(shard)
            .ok()
            .and_then(|i| self.shard_cids.get(i).copied().flatten())
    }

    /// The linear (C-order) index of the chunk at `coords`, checked against the grid.
    pub fn linear_index(&self, coords: &[u64]) -> Result<u64, CoordsError> {
        if coords.len() != self.chunks_per_dim.len() {
            return Err(CoordsError::Rank {
                expected: self.chunks_per_dim.len(),
                found: coords.len(),
            });
        }
        let mut linear = 0u64;
        for (dim, (&c, &n)) in coords.iter().zip(&self.chunks_per_dim).enumerate() {
            if c >= n {
                return Err(CoordsError::OutOfBounds {
                    dim,
                    coord: c,
                    size: n,
                });
            }
            // c < n and the product of all n fits u64, so this cannot overflow.
            linear = linear * n + c;
        }
        Ok(linear)
    }

    /// The shard and slot of the chunk with linear index `linear`.
    pub fn slot_of(&self, linear: u64) -> ShardSlot {
        ShardSlot {
            shard: linear / self.chunks_per_shard,
            slot: linear % self.chunks_per_shard,
        }
    }

    /// The chunk coordinates of linear index `linear` (py-hamt's `_coords_from_linear_index`).
    pub fn coords_of(&self, linear: u64) -> Vec<u64> {
        let mut coords = vec![0; self.chunks_per_dim.len()];
        let mut rest = linear;
        for (coord, &n) in coords.iter_mut().zip(&self.chunks_per_dim).rev() {
            // A dimension of zero chunks has no valid coordinate; 0 keeps it total.
            if n > 0 {
                *coord = rest % n;
                rest /= n;
            }
        }
        coords
    }

    /// Grows or shrinks the grid to `shape` (same rank), keeping the shard
    /// list's prefix (py-hamt's `ArrayIndex.resize`): shards past the new
    /// end are dropped, new ones start unwritten.
    pub(crate) fn resize(&mut self, shape: Vec<u64>) -> Result<(), ShardedError> {
        if shape.len() != self.shape.len() {
            return Err(ShardedError::Geometry(
                "New shape must have the same number of dimensions as the old shape.".into(),
            ));
        }
        let old = std::mem::replace(&mut self.shape, shape);
        if let Err(error) = self.recompute() {
            self.shape = old;
            self.recompute()?;
            return Err(error);
        }
        let shards = self.num_shards_usize()?;
        self.shard_cids.resize(shards, None);
        Ok(())
    }

    /// Whether a resize to `shape` only appends along the first dimension,
    /// so every existing chunk keeps its linear index (py-hamt's fast path).
    pub(crate) fn is_leading_growth(&self, shape: &[u64]) -> bool {
        !self.shape.is_empty()
            && shape.len() == self.shape.len()
            && shape[0] >= self.shape[0]
            && shape[1..] == self.shape[1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_order_arithmetic() {
        // 10 x 7 array in 3 x 2 chunks: a 4 x 4 grid, 16 chunks, 3 per shard.
        let index = ArrayIndex::new(vec![10, 7], vec![3, 2], 3).unwrap();
        assert_eq!(index.chunks_per_dim(), [4, 4]);
        assert_eq!(index.total_chunks(), 16);
        assert_eq!(index.num_shards(), 6);
        assert_eq!(index.linear_index(&[2, 1]).unwrap(), 9);
        assert_eq!(index.slot_of(9), ShardSlot { shard: 3, slot: 0 });
        assert_eq!(index.coords_of(9), [2, 1]);
        for linear in 0..16 {
            assert_eq!(
                index.linear_index(&index.coords_of(linear)).unwrap(),
                linear
            );
        }
        assert!(matches!(
            index.linear_index(&[4, 0]),
            Err(CoordsError::OutOfBounds {
                dim: 0,
                coord: 4,
                size: 4
            })
        ));
        assert!(index.linear_index(&[1]).is_err());
    }

    #[test]
    fn bad_geometry_is_refused() {
        assert!(ArrayIndex::new(vec![4], vec![0], 2).is_err());
        assert!(ArrayIndex::new(vec![4], vec![2, 2], 2).is_err());
        assert!(ArrayIndex::new(vec![4], vec![2], 0).is_err());
        assert!(ArrayIndex::new(vec![u64::MAX, u64::MAX], vec![1, 1], 2).is_err());
        assert!(ArrayIndex::with_shards(vec![4], vec![2], 1, vec![None]).is_err());
        // An empty array has no chunks and no shards.
        let empty = ArrayIndex::new(vec![0, 5], vec![2, 2], 4).unwrap();
        assert_eq!((empty.total_chunks(), empty.num_shards()), (0, 0));
    }

    #[test]
    fn resizing_keeps_the_prefix() {
        let mut index = ArrayIndex::new(vec![4], vec![1], 2).unwrap();
        index.shard_cids[0] = Some(hamt_codec::block_cid(
            hamt_codec::BlockCodec::DagCbor,
            hamt_codec::HashAlgorithm::Blake3,
            b"s",
        ));
        assert!(index.is_leading_growth(&[9]));
        index.resize(vec![9]).unwrap();
        assert_eq!(index.shard_cids().len(), 5);
        assert!(index.shard_cid(0).is_some());
        index.resize(vec![1]).unwrap();
        assert_eq!(index.shard_cids().len(), 1);
        assert!(index.resize(vec![1, 1]).is_err());
    }
}
