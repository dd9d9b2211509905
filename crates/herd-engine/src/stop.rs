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
