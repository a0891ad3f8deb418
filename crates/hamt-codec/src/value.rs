//! Values stored as DAG-CBOR (py-hamt's `values_are_bytes=False`).
//!
//! py-hamt encodes a non-bytes value with `dag_cbor.encode` and stores the
//! result as a raw block; these functions do the same with
//! `serde_ipld_dagcbor`, for any serde type (including `ipld_core::ipld::Ipld`).
//!
//! ```
//! let bytes = hamt_codec::value::encode(&vec![1u32, 2, 3]).unwrap();
//! assert_eq!(bytes, [0x83, 1, 2, 3]);
//! let back: Vec<u32> = hamt_codec::value::decode(&bytes).unwrap();
//! assert_eq!(back, [1, 2, 3]);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value could not be encoded to, or decoded from, DAG-CBOR.
#[derive(Debug, thiserror::Error)]
#[error("DAG-CBOR value: {0}")]
pub struct ValueError(String);

/// Encodes a value as canonical DAG-CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ValueError> {
    serde_ipld_dagcbor::to_vec(value).map_err(|e| ValueError(e.to_string()))
}

/// Decodes a DAG-CBOR value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ValueError> {
    serde_ipld_dagcbor::from_slice(bytes).map_err(|e| ValueError(e.to_string()))
}
