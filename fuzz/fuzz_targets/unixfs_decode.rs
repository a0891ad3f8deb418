//! dag-pb and UnixFS decoders on arbitrary bytes: never a panic; what they
//! accept re-encodes to bytes that decode to the same value and re-encode
//! unchanged (the decoders are lenient about varint form and field order
//! where go-merkledag is, so the input itself need not be canonical);
//! `dag_pb_links` agrees with `PbNode`; and reading the bytes as the root
//! block of a UnixFS file (`file_size`, `read_file`) is an error or the
//! file's inline bytes, never a panic.
#![no_main]

use bytes::Bytes;
use futures::executor::block_on;
use hamt_codec::{BlockCodec, HashAlgorithm};
use hamt_store::{Block, BlockStore, ByteRange, MemoryStore};
use hamt_unixfs::{DataType, PbNode, UnixfsData, dag_pb_links, file_size, read_file};
use libfuzzer_sys::fuzz_target;

fn check_unixfs(bytes: &Bytes) -> Option<UnixfsData> {
    let data = UnixfsData::decode(bytes).ok()?;
    let encoded = Bytes::from(data.encode());
    let again = UnixfsData::decode(&encoded).expect("re-encoded UnixFS data must decode");
    assert_eq!(again, data);
    assert_eq!(again.encode(), encoded);
    Some(data)
}

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    check_unixfs(&bytes);

    let node = PbNode::decode(&bytes);
    let links = dag_pb_links(&bytes);
    match (&node, &links) {
        (Ok(node), Ok(links)) => {
            let cids: Vec<_> = node.links.iter().map(|l| l.cid).collect();
            assert_eq!(&cids, links);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("PbNode::decode and dag_pb_links disagree"),
    }
    let Ok(node) = node else { return };
    let encoded = Bytes::from(node.encode());
    let again = PbNode::decode(&encoded).expect("re-encoded dag-pb must decode");
    assert_eq!(again, node);
    assert_eq!(again.encode(), encoded);
    let unixfs = node.data.as_ref().and_then(check_unixfs);

    // The bytes as the root of a UnixFS file, alone in a store.
    block_on(async {
        let store = MemoryStore::new();
        let block = Block::new(BlockCodec::DagPb, HashAlgorithm::Blake3, bytes.clone());
        let root = *block.cid();
        store.put_block(block).await.expect("put");
        let size = file_size(&store, &root).await;
        let full = read_file(&store, &root, ByteRange::Full).await;
        let is_file = unixfs
            .as_ref()
            .is_some_and(|u| matches!(u.data_type, DataType::File | DataType::Raw));
        if let Ok(size) = &size {
            assert!(is_file, "file_size accepted a node that is not a file");
            let inline = unixfs
                .as_ref()
                .and_then(|u| u.data.as_ref())
                .map_or(0, Bytes::len);
            assert!(*size >= inline as u64);
        }
        if let Ok(full) = &full {
            assert_eq!(Some(full.len() as u64), size.as_ref().ok().copied());
            if node.links.is_empty() {
                let inline = unixfs
                    .as_ref()
                    .and_then(|u| u.data.clone())
                    .unwrap_or_default();
                assert_eq!(full, &inline);
            }
        }
        for range in [
            ByteRange::Suffix(3),
            ByteRange::From(1),
            ByteRange::Slice {
                offset: 2,
                length: 5,
            },
        ] {
            let part = read_file(&store, &root, range).await;
            if let (Ok(part), Ok(full)) = (&part, &full) {
                let want = range.to_index_range(full.len());
                assert_eq!(part, &full.slice(want));
            }
        }
    });
});
