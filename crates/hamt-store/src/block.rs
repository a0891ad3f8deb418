use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm, block_cid, verify_block};

use crate::StoreError;

/// A block whose CID is known to match its bytes.
///
/// There are two ways to get one: hash bytes ([`Block::new`]) or check bytes
/// against a claimed CID ([`Block::verified`]). So a store handed a `Block`
/// never has to trust its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Bytes,
}

impl Block {
    /// Hashes `data` into a CIDv1 of `codec` with `hash`.
    ///
    /// ```
    /// use hamt_store::{Block, BlockCodec, HashAlgorithm};
    /// let block = Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, b"v".to_vec().into());
    /// assert!(block.cid().to_string().starts_with("bafkr4i"));
    /// ```
    pub fn new(codec: BlockCodec, hash: HashAlgorithm, data: Bytes) -> Self {
        Block {
            cid: block_cid(codec, hash, &data),
            data,
        }
    }

    /// Accepts `data` as the block `cid` only if it hashes to that CID.
    pub fn verified(cid: Cid, data: Bytes) -> Result<Self, StoreError> {
        verify_block(&cid, &data)?;
        Ok(Block { cid, data })
    }

    /// The block's CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The block's bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The CID and the bytes.
    pub fn into_parts(self) -> (Cid, Bytes) {
        (self.cid, self.data)
    }
}
