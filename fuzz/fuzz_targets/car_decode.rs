//! The CAR reader on arbitrary bytes: never a panic, every error's byte
//! offset inside the input, and the blocks of a CAR it reads to the end,
//! written back with `CarWriter`, read back as the same roots and blocks.
//! Sections have one spelling (minimal length varints, canonical CIDs), so
//! the written sections are byte for byte the input's; only the header may
//! be spelled differently (any DAG-CBOR map with `version` and `roots`).
#![no_main]

use hamt_car::{CarError, CarReader, CarWriter};
use libfuzzer_sys::fuzz_target;

/// The byte offset an error names, where it names one.
fn offset(error: &CarError) -> Option<u64> {
    match error {
        CarError::TruncatedPrefix { offset }
        | CarError::PrefixTooLong { offset }
        | CarError::NonMinimalPrefix { offset }
        | CarError::Truncated { offset, .. }
        | CarError::SectionTooLarge { offset, .. }
        | CarError::BadCid { offset, .. }
        | CarError::Io { offset, .. } => Some(*offset),
        _ => None,
    }
}

fn check_offset(error: &CarError, input_len: usize) {
    if let Some(at) = offset(error) {
        assert!(at <= input_len as u64, "{error} names byte {at} of {input_len}");
    }
    let _ = error.to_string();
}

fuzz_target!(|data: &[u8]| {
    let (mut reader, roots) = match CarReader::open(data) {
        Ok(opened) => opened,
        Err(e) => return check_offset(&e, data.len()),
    };
    let sections_start = usize::try_from(reader.offset()).expect("an offset inside the input");
    let mut blocks = Vec::new();
    loop {
        match reader.next_block() {
            Ok(Some(block)) => blocks.push(block),
            Ok(None) => break,
            Err(e) => return check_offset(&e, data.len()),
        }
    }
    assert_eq!(reader.offset(), data.len() as u64, "a clean end is the input's end");
    assert_eq!(reader.sections(), blocks.len() as u64);

    let mut writer = CarWriter::new(Vec::new(), &roots).expect("write to a Vec");
    for (cid, bytes) in &blocks {
        writer.write_block(cid, bytes).expect("write to a Vec");
    }
    let written = writer.finish().expect("write to a Vec");
    let (mut again, again_roots) = CarReader::open(&written[..]).expect("our own CAR reads");
    assert_eq!(again_roots, roots);
    let written_sections_start = usize::try_from(again.offset()).expect("an offset");
    assert_eq!(
        &written[written_sections_start..],
        &data[sections_start..],
        "sections written back differ from the input's"
    );
    for (cid, bytes) in &blocks {
        let (got_cid, got) = again.next_block().expect("our own CAR reads").expect("a block");
        assert_eq!((&got_cid, &got[..]), (cid, &bytes[..]));
    }
    assert!(again.next_block().expect("our own CAR reads").is_none());
});
