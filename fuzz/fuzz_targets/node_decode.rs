//! Decoding a node from arbitrary bytes never panics, and the bucket limit
//! only ever turns an accepted node into a `BucketTooLarge` error.
#![no_main]

use hamt_codec::{DecodeErrorKind, Node};
use hamt_fuzz::check_node_invariants;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loose = Node::decode(data, usize::MAX);
    if let Err(e) = &loose {
        assert!(
            e.offset <= data.len(),
            "error offset {} past the input",
            e.offset
        );
        // Rendering the error must not panic either.
        let _ = e.to_string();
    }
    for max in [0, 1, 4, 1024] {
        let strict = Node::decode(data, max);
        match (&loose, &strict) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b);
                check_node_invariants(b, max);
            }
            (Ok(_), Err(e)) => assert!(
                matches!(e.kind, DecodeErrorKind::BucketTooLarge { .. }),
                "max {max} rejects an accepted node with {e}"
            ),
            (Err(_), Ok(_)) => panic!("max {max} accepts a node usize::MAX rejects"),
            (Err(_), Err(_)) => {}
        }
    }
});
