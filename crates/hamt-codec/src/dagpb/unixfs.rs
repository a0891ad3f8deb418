//! The UnixFS `Data` message carried in a dag-pb node's data field.

use bytes::Bytes;

use super::wire::{self as pb, Reader};
use super::{DecodeError, DecodeErrorKind};

const WHAT: &str = "UnixFS data";

/// The UnixFS node type (`Data.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// `Raw` (0): bytes of a file, in old non-raw-leaf DAGs.
    Raw,
    /// `Directory` (1).
    Directory,
    /// `File` (2): a file or a piece of one.
    File,
    /// `Metadata` (3).
    Metadata,
    /// `Symlink` (4).
    Symlink,
    /// `HAMTShard` (5): a sharded directory.
    HamtShard,
}

impl DataType {
    /// The protobuf enum value.
    pub const fn code(self) -> u64 {
        match self {
            DataType::Raw => 0,
            DataType::Directory => 1,
            DataType::File => 2,
            DataType::Metadata => 3,
            DataType::Symlink => 4,
            DataType::HamtShard => 5,
        }
    }

    /// The type for a protobuf enum value, if it is one.
    pub const fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return None,
        })
    }
}

/// A UnixFS `Data` message, limited to the fields files use (`hashType`,
/// `fanout`, `mode` and `mtime` are skipped when decoding and never written).
///
/// ```
/// use hamt_codec::dagpb::{DataType, UnixfsData};
/// let data = UnixfsData { data_type: DataType::File, data: None, filesize: Some(3), blocksizes: vec![1, 2] };
/// let bytes = data.encode();
/// assert_eq!(bytes, [0x08, 0x02, 0x18, 0x03, 0x20, 0x01, 0x20, 0x02]);
/// assert_eq!(UnixfsData::decode(&bytes.into()).unwrap(), data);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixfsData {
    /// `Type` (field 1).
    pub data_type: DataType,
    /// `Data` (field 2): file bytes held in this node itself.
    pub data: Option<Bytes>,
    /// `filesize` (field 3): bytes of the file under this node.
    pub filesize: Option<u64>,
    /// `blocksizes` (field 4): file bytes under each link, in link order.
    pub blocksizes: Vec<u64>,
}

impl UnixfsData {
    /// The bytes go-unixfs writes: fields in number order, `blocksizes` not packed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 5 * self.blocksizes.len());
        pb::put_uint(&mut out, 1, self.data_type.code());
        if let Some(data) = &self.data {
            pb::put_bytes(&mut out, 2, data);
        }
        if let Some(filesize) = self.filesize {
            pb::put_uint(&mut out, 3, filesize);
        }
        for &size in &self.blocksizes {
            pb::put_uint(&mut out, 4, size);
        }
        out
    }

    /// Decodes a `Data` message (any field order; packed or unpacked
    /// `blocksizes`; unknown fields skipped). Allocation is bounded by the input size.
    pub fn decode(bytes: &Bytes) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes, WHAT);
        let mut data_type = None;
        let mut out = UnixfsData {
            data_type: DataType::Raw,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
        };
        while !reader.is_done() {
            let at = reader.offset();
            let (field, wire_type) = reader.key()?;
            let wrong = || DecodeErrorKind::WrongWireType { field, wire_type };
            match (field, wire_type) {
                (1, pb::VARINT) => data_type = Some(reader.varint()?),
                (2, pb::LEN) => out.data = Some(bytes.slice_ref(reader.bytes()?)),
                (3, pb::VARINT) => out.filesize = Some(reader.varint()?),
                (4, pb::VARINT) => out.blocksizes.push(reader.varint()?),
                (4, pb::LEN) => read_packed(&mut reader, &mut out.blocksizes)?,
                (1..=4, _) => return Err(reader.error_at(at, wrong())),
                _ => reader.skip(field, wire_type)?,
            }
        }
        out.data_type = data_type
            .and_then(DataType::from_code)
            .ok_or_else(|| reader.error_at(0, DecodeErrorKind::InvalidType))?;
        Ok(out)
    }
}

fn read_packed(reader: &mut Reader<'_>, into: &mut Vec<u64>) -> Result<(), DecodeError> {
    let start = reader.offset();
    let body = reader.bytes()?;
    let mut packed = Reader::new(body, WHAT);
    while !packed.is_done() {
        into.push(packed.varint().map_err(|mut e| {
            e.offset += start;
            e
        })?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocksizes_are_accepted() {
        let bytes = Bytes::from_static(&[0x08, 0x02, 0x22, 0x02, 0x01, 0x02, 0x28, 0x00]);
        let data = UnixfsData::decode(&bytes).unwrap();
        assert_eq!(data.blocksizes, [1, 2]);
        assert_eq!(data.data_type, DataType::File);
    }

    #[test]
    fn missing_or_unknown_type_is_rejected() {
        let err = UnixfsData::decode(&Bytes::from_static(&[0x18, 0x01])).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::InvalidType);
        let err = UnixfsData::decode(&Bytes::from_static(&[0x08, 0x09])).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::InvalidType);
        let err = UnixfsData::decode(&Bytes::from_static(&[0x0a, 0x00])).unwrap_err();
        assert!(matches!(
            err.kind,
            DecodeErrorKind::WrongWireType { field: 1, .. }
        ));
    }
}
