//! Stop strings over streamed text: text is released only once it can no longer be
//! the start of a stop string, so a stop string is never half-printed.

/// Tracks generated text against a set of stop strings.
#[derive(Debug, Clone, Default)]
pub struct StopStrings {
    stops: Vec<String>,
    pending: String,
}

/// What `push` found.
#[derive(Debug, Clone, PartialEq)]
pub enum StopCheck {
    /// Text safe to emit now.
    Continue(String),
    /// A stop string matched: the text before it, to emit, and then stop.
    Stop(String),
}

impl StopStrings {
    pub fn new(stops: Vec<String>) -> Self {
        StopStrings { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), pending: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopCheck {
        self.pending.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return StopCheck::Stop(out);
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        let mut hold = 0;
        for s in &self.stops {
            for (i, _) in s.char_indices().skip(1) {
                if self.pending.ends_with(&s[..i]) {
                    hold = hold.max(i);
                }
            }
        }
        let cut = self.pending.len() - hold;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        StopCheck::Continue(out)
    }

    /// The held-back text, when generation ends for another reason.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Generated token bytes to the text a caller sees: whole UTF-8 characters (see
/// `StreamDecoder`), with stop strings cut out.
#[derive(Debug, Clone, Default)]
pub struct TextOut {
    detok: crate::detok::StreamDecoder,
    stops: StopStrings,
}

impl TextOut {
    pub fn new(stop_strings: Vec<String>) -> Self {
        TextOut { detok: Default::default(), stops: StopStrings::new(stop_strings) }
    }

    /// The text to emit after `bytes`, and whether a stop string matched (generation
    /// ends; the stop string itself is not in the text).
    pub fn push(&mut self, bytes: &[u8]) -> (String, bool) {
        match self.stops.push(&self.detok.push(bytes)) {
            StopCheck::Continue(t) => (t, false),
            StopCheck::Stop(t) => (t, true),
        }
    }

    /// Whatever was held back, when generation ends without a stop string.
    pub fn finish(&mut self) -> String {
        let mut rest = self.detok.finish();
        rest = self.stops.push(&rest).into_text();
        rest.push_str(&self.stops.finish());
        rest
    }
}

impl StopCheck {
    fn into_text(self) -> String {
        match self {
            StopCheck::Continue(t) | StopCheck::Stop(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_string_split_across_pushes_is_never_emitted() {
        let mut s = StopStrings::new(vec!["END".into()]);
        assert_eq!(s.push("hello E"), StopCheck::Continue("hello ".into()));
        assert_eq!(s.push("N"), StopCheck::Continue("".into()));
        assert_eq!(s.push("D tail"), StopCheck::Stop("".into()));
    }

    #[test]
    fn false_start_is_released() {
        let mut s = StopStrings::new(vec!["END".into()]);
        assert_eq!(s.push("E"), StopCheck::Continue("".into()));
        assert_eq!(s.push("x"), StopCheck::Continue("Ex".into()));
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut s = StopStrings::new(vec!["bb".into(), "a".into()]);
        assert_eq!(s.push("xxbba"), StopCheck::Stop("xx".into()));
    }
}
