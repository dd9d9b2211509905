//! Safetensors headers: never panics; when accepted, every tensor's byte range lies
//! inside the buffer and matches its shape and dtype.
#![no_main]

use herd_llama::safetensors_dir::parse_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = parse_header(data) else { return };
    for (name, e) in entries {
        assert!(e.start <= e.end && e.end <= data.len(), "{name} escapes the buffer");
        let n: usize = e.shape.iter().product();
        assert_eq!(e.end - e.start, n * e.dtype.block_bytes(), "{name} size disagrees with its shape");
    }
});
