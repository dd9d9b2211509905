//! Hugging Face tokenizer.json parsing: never panics, never allocates without bound,
//! and whatever it accepts encodes text into ids inside its vocabulary,
//! deterministically, and decodes them without panicking.
#![no_main]

use herd_llama::tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = Tokenizer::from_hf_json(data, None) else { return };
    let s = "Hello, world! 123 \u{1F600} \u{4E2D}\u{6587} <|eot_id|>";
    for special in [false, true] {
        let ids = t.encode(s, special);
        assert!(ids.iter().all(|&id| (id as usize) < t.vocab_size()), "id outside the vocabulary");
        assert_eq!(ids, t.encode(s, special), "encoding is not deterministic");
        let _ = t.decode(&ids);
    }
});
