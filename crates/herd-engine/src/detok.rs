//! Incremental detokenization: turns a stream of token bytes into text without ever emitting half a UTF-8 character.
//!
//! A token may end in the middle of a character (an emoji is often three byte tokens),
//! so bytes wait here until their character is complete. A sequence that can never
//! become valid is emitted as U+FFFD at once, so nothing is lost or stuck, and the
//! concatenation of everything emitted equals `String::from_utf8_lossy` of all the bytes.

/// Buffers at most one incomplete character (3 bytes) between calls.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` and returns all text that is now complete. An incomplete character
    /// at the end stays pending; invalid sequences become U+FFFD.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, tail) = rest.split_at(e.valid_up_to());
                    // `valid` was just checked by `from_utf8`; lossy conversion of valid
                    // UTF-8 copies it unchanged.
                    out.push_str(&String::from_utf8_lossy(valid));
                    match e.error_len() {
                        // Bytes that no continuation can fix: replace them and go on.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &tail[n..];
                        }
                        // A truncated character at the end: wait for more bytes.
                        None => {
                            rest = tail;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let drop = self.pending.len() - keep;
        self.pending.drain(..drop);
        out
    }

    /// Flushes whatever is pending (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }

    /// Bytes waiting for the rest of their character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = StreamDecoder::new();
        let mut out: Vec<String> = chunks.iter().map(|c| d.push(c)).collect();
        out.push(d.finish());
        out
    }

    #[test]
    fn emoji_split_over_tokens() {
        let e = "🎉".as_bytes(); // f0 9f 8e 89
        assert_eq!(stream(&[b"hi ", &e[..1], &e[1..3], &e[3..], b"!"]), ["hi ", "", "", "🎉", "!", ""]);
    }

    #[test]
    fn cjk_split_mid_character() {
        let s = "中文".as_bytes();
        assert_eq!(stream(&[&s[..2], &s[2..4], &s[4..]]), ["", "中", "文", ""]);
    }

    #[test]
    fn invalid_bytes_are_replaced_not_stuck() {
        assert_eq!(stream(&[b"a\xffb"]), ["a\u{FFFD}b", ""]);
        // A lead byte followed by a non-continuation can never complete.
        assert_eq!(stream(&[b"\xe4", b"x"]), ["", "\u{FFFD}x", ""]);
        // A truncated character at the very end is flushed lossily.
        assert_eq!(stream(&[b"ok\xf0\x9f"]), ["ok", "\u{FFFD}"]);
        // A lone continuation byte is invalid immediately.
        assert_eq!(stream(&[b"\x80"]), ["\u{FFFD}", ""]);
    }

    #[test]
    fn any_split_equals_lossy_decoding() {
        let samples: [&[u8]; 5] = [
            "héllo wörld 中文 🎉👍🏽".as_bytes(),
            b"\xf0\x9f\x8e\xe4\xb8\xad\xff\xc3(\xed\xa0\x80ok",
            b"\xe0\x80\x80\xf4\x90\x80\x80\xc0\xaf",
            b"",
            b"\xf0\x9f\x8e\x89\xf0\x9f",
        ];
        for bytes in samples {
            for a in 0..=bytes.len() {
                for b in a..=bytes.len() {
                    let parts = [&bytes[..a], &bytes[a..b], &bytes[b..]];
                    let got: String = stream(&parts).concat();
                    assert_eq!(got, String::from_utf8_lossy(bytes), "split {a} {b} of {bytes:?}");
                }
            }
        }
    }

    #[test]
    fn pending_stays_small() {
        let mut d = StreamDecoder::new();
        assert_eq!(d.push(b"abc\xe4\xb8"), "abc");
        assert_eq!(d.pending(), b"\xe4\xb8");
        assert_eq!(d.push(b"\xad"), "中");
        assert!(d.pending().is_empty());
    }
}
