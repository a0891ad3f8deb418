//! A one-part `multipart/form-data` body, by hand: the part always carries
//! `Content-Type: application/octet-stream` (js-ipfs rejects parts without
//! one), and no MIME-guessing dependency is needed.

use std::hash::{BuildHasher, RandomState};

use bytes::{Bytes, BytesMut};

/// A multipart body holding `data` as the `file` part, and its content type.
pub(crate) fn file_body(data: &[u8]) -> (Bytes, String) {
    let boundary = boundary_not_in(data);
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"block\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut body = BytesMut::with_capacity(head.len() + data.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(tail.as_bytes());
    (
        body.freeze(),
        format!("multipart/form-data; boundary={boundary}"),
    )
}

/// A random boundary that does not occur in `data` (almost always the first try).
fn boundary_not_in(data: &[u8]) -> String {
    loop {
        let random = RandomState::new().hash_one(data.len());
        let boundary = format!("hamt-kubo-{random:016x}");
        if !data
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
        {
            return boundary;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_one_typed_part() {
        let (body, content_type) = file_body(b"abc");
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("Content-Type: application/octet-stream\r\n\r\nabc\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
