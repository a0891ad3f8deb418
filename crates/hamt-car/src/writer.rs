//! Writing a CAR v1 stream.

use std::io::{self, Write};

use cid::Cid;
use ipld_core::ipld::Ipld;

use hamt_codec::varint;

/// Writes a CAR v1 stream: the header when created, then one section per
/// [`write_block`](CarWriter::write_block).
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    out: W,
}

impl<W: Write> CarWriter<W> {
    /// Starts a CAR with these roots (the header is written now).
    ///
    /// # Errors
    /// Writing to `out` failed.
    pub fn new(mut out: W, roots: &[Cid]) -> io::Result<Self> {
        let header = Ipld::Map(
            [
                (
                    "roots".to_owned(),
                    Ipld::List(roots.iter().copied().map(Ipld::Link).collect()),
                ),
                ("version".to_owned(), Ipld::Integer(1)),
            ]
            .into(),
        );
        let bytes = serde_ipld_dagcbor::to_vec(&header).map_err(io::Error::other)?;
        write_varint(&mut out, bytes.len() as u64)?;
        out.write_all(&bytes)?;
        Ok(CarWriter { out })
    }

    /// Appends one block. The writer does not check `data` against `cid`.
    ///
    /// # Errors
    /// Writing to the output failed.
    pub fn write_block(&mut self, cid: &Cid, data: &[u8]) -> io::Result<()> {
        let cid_bytes = cid.to_bytes();
        write_varint(&mut self.out, (cid_bytes.len() + data.len()) as u64)?;
        self.out.write_all(&cid_bytes)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// Flushing the output failed.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `value` as a (minimal) varint length prefix.
pub(crate) fn write_varint(out: &mut impl Write, value: u64) -> io::Result<()> {
    let (bytes, len) = varint::encode_array(value);
    out.write_all(&bytes[..len])
}
