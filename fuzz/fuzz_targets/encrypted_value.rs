//! py-hamt-compatible value encryption (`hamt_zarr::EncryptedValues`):
//! arbitrary stored bytes never panic the decoder and never authenticate
//! under a key that did not write them; an encrypted plaintext decrypts to
//! itself, and one flipped bit anywhere, a different header or a different
//! key makes decryption fail.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use hamt_zarr::{ENCRYPTION_OVERHEAD, EncryptedValues, ValueCodec};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    key: [u8; 32],
    header: Vec<u8>,
    stored: Vec<u8>,
    plain: Vec<u8>,
    flip_at: usize,
    flip_bit: u8,
}

fuzz_target!(|input: Input| {
    let codec = EncryptedValues::new(input.key, input.header.clone());
    // Bytes nobody encrypted under this key: a forgery if they decrypt.
    assert!(
        codec.decode("k", Bytes::from(input.stored.clone())).is_err(),
        "arbitrary bytes authenticated"
    );

    let stored = codec
        .encode("k", Bytes::from(input.plain.clone()))
        .expect("encrypt");
    assert_eq!(stored.len(), input.plain.len() + ENCRYPTION_OVERHEAD);
    let plain = codec.decode("k", stored.clone()).expect("decrypt our own value");
    assert_eq!(&plain[..], &input.plain[..]);

    let mut tampered = stored.to_vec();
    let at = input.flip_at % tampered.len();
    tampered[at] ^= 1 << (input.flip_bit % 8);
    assert!(codec.decode("k", Bytes::from(tampered)).is_err(), "flipped bit {at} accepted");

    for cut in [0, 1, ENCRYPTION_OVERHEAD - 1] {
        assert!(codec.decode("k", stored.slice(..cut.min(stored.len()))).is_err());
    }

    let mut other_header = input.header.clone();
    other_header.push(0);
    let wrong_header = EncryptedValues::new(input.key, other_header);
    assert!(wrong_header.decode("k", stored.clone()).is_err());
    let mut other_key = input.key;
    other_key[0] ^= 1;
    let wrong_key = EncryptedValues::new(other_key, input.header);
    assert!(wrong_key.decode("k", stored).is_err());
});
