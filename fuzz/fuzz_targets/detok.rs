//! Streaming detokenization: for any bytes split at any points, the concatenated
//! output equals the lossy UTF-8 decoding of the whole, and every piece is valid
//! UTF-8 by construction (it is a String).
#![no_main]

use herd_engine::detok::StreamDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cuts, bytes)) = data.split_first() else { return };
    let mut d = StreamDecoder::new();
    let mut out = String::new();
    let step = (cuts as usize % 7) + 1;
    for chunk in bytes.chunks(step) {
        out.push_str(&d.push(chunk));
    }
    out.push_str(&d.finish());
    assert_eq!(out, String::from_utf8_lossy(bytes));
});
