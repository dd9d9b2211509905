//! GGUF header parsing: never panics; when it accepts a file, every tensor lies
//! inside it, and writing the metadata back out and parsing it again gives the same
//! metadata (round trip).
#![no_main]

use herd_llama::gguf::{GgufHeader, GgufWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = GgufHeader::parse(data) else { return };
    for t in &h.tensors {
        assert!(t.offset + t.size <= data.len(), "tensor {} escapes the file", t.name);
    }
    let mut w = GgufWriter::default();
    for (k, v) in &h.metadata {
        if k != "general.alignment" {
            w.kv(k, v.clone());
        }
    }
    let again = GgufHeader::parse(&w.to_bytes()).expect("herd's own output parses");
    for (k, v) in &again.metadata {
        // Compared through Debug so that NaN equals NaN; empty arrays lose their
        // element type on write, their value is still equal.
        assert_eq!(format!("{v:?}"), format!("{:?}", h.metadata.get(k).expect("key kept")), "key {k} changed");
    }
});
