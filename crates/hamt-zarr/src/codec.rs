//! How zarr values become HAMT values: verbatim, or encrypted like py-hamt's
//! `SimpleEncryptedZarrHAMTStore`.

use bytes::Bytes;
use chacha20poly1305::aead::{AeadInOut, Generate, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use crate::ZarrHamtError;

/// Bytes of the random nonce that starts every encrypted value.
pub const NONCE_LEN: usize = 24;
/// Bytes of the Poly1305 tag that follows the nonce.
pub const TAG_LEN: usize = 16;
/// Bytes an encrypted value adds to its plaintext.
pub const ENCRYPTION_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Turns the values zarr writes into the bytes the HAMT stores, and back.
///
/// [`PlainValues`] stores them verbatim (py-hamt's `ZarrHAMTStore`);
/// [`EncryptedValues`] encrypts each one (py-hamt's
/// `SimpleEncryptedZarrHAMTStore`).
pub trait ValueCodec: Send + Sync + 'static {
    /// The bytes to store for `value`, the value of `key`.
    fn encode(&self, key: &str, value: Bytes) -> Result<Bytes, ZarrHamtError>;

    /// The value of `key` from its stored bytes.
    fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes, ZarrHamtError>;

    /// Whether stored bytes are the value itself, so a byte range of a value
    /// can be read as the same range of its block, without reading the rest.
    fn is_verbatim(&self) -> bool;

    /// The length of the value of `key` whose stored bytes are `stored_len`
    /// long, known without decoding them.
    fn decoded_len(&self, key: &str, stored_len: u64) -> Result<u64, ZarrHamtError>;
}

/// Values stored verbatim: the layout of py-hamt's `ZarrHAMTStore`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainValues;

impl ValueCodec for PlainValues {
    fn encode(&self, _key: &str, value: Bytes) -> Result<Bytes, ZarrHamtError> {
        Ok(value)
    }

    fn decode(&self, _key: &str, stored: Bytes) -> Result<Bytes, ZarrHamtError> {
        Ok(stored)
    }

    fn is_verbatim(&self) -> bool {
        true
    }

    fn decoded_len(&self, _key: &str, stored_len: u64) -> Result<u64, ZarrHamtError> {
        Ok(stored_len)
    }
}

/// Every value (chunks and `zarr.json` metadata alike) encrypted with
/// XChaCha20-Poly1305, byte-compatible with py-hamt 3.6.0's
/// `SimpleEncryptedZarrHAMTStore`: a stored value is
/// `nonce (24 bytes) ‖ tag (16 bytes) ‖ ciphertext`, with a fresh random
/// nonce per write and the caller's header as associated data.
///
/// ```
/// use hamt_zarr::{EncryptedValues, ValueCodec};
/// let codec = EncryptedValues::new([7; 32], b"my-dataset".to_vec());
/// let stored = codec.encode("zarr.json", b"{}".to_vec().into())?;
/// assert_eq!(stored.len(), 2 + hamt_zarr::ENCRYPTION_OVERHEAD);
/// assert_eq!(&codec.decode("zarr.json", stored.clone())?[..], b"{}");
///
/// let wrong = EncryptedValues::new([8; 32], b"my-dataset".to_vec());
/// assert!(wrong.decode("zarr.json", stored).is_err());
/// # Ok::<(), hamt_zarr::ZarrHamtError>(())
/// ```
#[derive(Clone)]
pub struct EncryptedValues {
    cipher: XChaCha20Poly1305,
    header: Vec<u8>,
}

impl std::fmt::Debug for EncryptedValues {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedValues")
            .field("header", &String::from_utf8_lossy(&self.header))
            .finish_non_exhaustive()
    }
}

impl EncryptedValues {
    /// A codec with a 32-byte `key` and a `header` authenticated with every
    /// value (py-hamt's `encryption_key` and `header`).
    pub fn new(key: [u8; 32], header: impl Into<Vec<u8>>) -> Self {
        EncryptedValues {
            cipher: XChaCha20Poly1305::new(&key.into()),
            header: header.into(),
        }
    }
}

impl ValueCodec for EncryptedValues {
    fn encode(&self, key: &str, value: Bytes) -> Result<Bytes, ZarrHamtError> {
        let nonce = XNonce::try_generate().map_err(|e| ZarrHamtError::Random(e.to_string()))?;
        let mut out = Vec::with_capacity(ENCRYPTION_OVERHEAD + value.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&[0; TAG_LEN]);
        out.extend_from_slice(&value);
        let (head, body) = out.split_at_mut(ENCRYPTION_OVERHEAD);
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce, &self.header, body.into())
            .map_err(|_| ZarrHamtError::Encrypt {
                key: key.to_owned(),
            })?;
        head[NONCE_LEN..].copy_from_slice(&tag);
        Ok(out.into())
    }

    fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes, ZarrHamtError> {
        let failed = || ZarrHamtError::Decrypt {
            key: key.to_owned(),
        };
        if stored.len() < ENCRYPTION_OVERHEAD {
            return Err(failed());
        }
        let (nonce, rest) = stored.split_at(NONCE_LEN);
        let (tag, ciphertext) = rest.split_at(TAG_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| failed())?;
        let tag = Tag::try_from(tag).map_err(|_| failed())?;
        let mut plain = ciphertext.to_vec();
        self.cipher
            .decrypt_inout_detached(&nonce, &self.header, plain.as_mut_slice().into(), &tag)
            .map_err(|_| failed())?;
        Ok(plain.into())
    }

    fn is_verbatim(&self) -> bool {
        false
    }

    /// The plaintext is as long as the stored value less the nonce and tag;
    /// a stored value shorter than those cannot be one at all.
    fn decoded_len(&self, key: &str, stored_len: u64) -> Result<u64, ZarrHamtError> {
        stored_len
            .checked_sub(ENCRYPTION_OVERHEAD as u64)
            .ok_or_else(|| ZarrHamtError::Decrypt {
                key: key.to_owned(),
            })
    }
}
