//! Turning logits into the next token: penalties, then top-k, top-p, min-p,
//! temperature and a seeded draw, in llama.cpp's default sampler-chain order.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// Sampling settings. Defaults follow llama.cpp's `common_params_sampling`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 (or below) means greedy.
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// 1.0 disables; applied to tokens among the last `penalty_last_n`.
    pub repeat_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub penalty_last_n: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0xC0FFEE,
        }
    }
}

impl SamplingParams {
    /// Rejects values that make no sense, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        let p = self;
        if !p.temperature.is_finite() {
            return Err("temperature must be a finite number".into());
        }
        if !(0.0..=1.0).contains(&p.top_p) {
            return Err(format!("top-p {} must be within 0..=1", p.top_p));
        }
        if !(0.0..=1.0).contains(&p.min_p) {
            return Err(format!("min-p {} must be within 0..=1", p.min_p));
        }
        if !(p.repeat_penalty.is_finite() && p.repeat_penalty > 0.0) {
            return Err(format!("repeat-penalty {} must be positive", p.repeat_penalty));
        }
        if !p.frequency_penalty.is_finite() || !p.presence_penalty.is_finite() {
            return Err("frequency/presence penalties must be finite".into());
        }
        Ok(())
    }
}

/// A sampler with its own seeded random stream (one per sequence).
#[derive(Debug, Clone)]
pub struct Sampler {
    pub params: SamplingParams,
    rng: StdRng,
    cand: Vec<(u32, f32)>,
    /// Probabilities of `cand`, reused across tokens.
    probs: Vec<f32>,
    counts: std::collections::HashMap<u32, u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler { params, rng, cand: Vec::new(), probs: Vec::new(), counts: Default::default() }
    }

    /// Applies repetition, frequency and presence penalties (llama.cpp
    /// `llama_sampler_penalties`): a positive logit is divided by the repeat penalty, a
    /// negative one multiplied; then `count * frequency + presence` is subtracted.
    pub fn apply_penalties(&mut self, logits: &mut [f32], history: &[u32]) {
        let p = &self.params;
        if p.repeat_penalty == 1.0 && p.frequency_penalty == 0.0 && p.presence_penalty == 0.0 {
            return;
        }
        self.counts.clear();
        let start = history.len().saturating_sub(p.penalty_last_n);
        for &t in &history[start..] {
            *self.counts.entry(t).or_default() += 1;
        }
        for (&t, &n) in &self.counts {
            let Some(l) = logits.get_mut(t as usize) else { continue };
            if *l <= 0.0 {
                *l *= p.repeat_penalty;
            } else {
                *l /= p.repeat_penalty;
            }
            *l -= n as f32 * p.frequency_penalty + p.presence_penalty;
        }
    }

    /// Picks the next token. `logits` is modified (penalties); `history` holds the
    /// prompt and generated tokens so far.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        self.apply_penalties(logits, history);
        let p = self.params;
        if p.temperature <= 0.0 {
            return argmax(logits);
        }
        self.cand.clear();
        self.cand.extend(logits.iter().enumerate().map(|(i, l)| (i as u32, *l)));
        // Sort descending by logit; ties broken by id for determinism.
        let k = if p.top_k == 0 { self.cand.len() } else { p.top_k.min(self.cand.len()) };
        let cmp = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if k < self.cand.len() {
            self.cand.select_nth_unstable_by(k - 1, cmp);
            self.cand.truncate(k);
        }
        self.cand.sort_by(cmp);
        // Softmax over the survivors (at temperature 1, as llama.cpp does for top-p).
        if p.top_p < 1.0 {
            softmax_into(&self.cand, 1.0, &mut self.probs);
            let mut cum = 0.0;
            let mut keep = self.probs.len();
            for (i, pr) in self.probs.iter().enumerate() {
                cum += pr;
                if cum >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.cand.truncate(keep.max(1));
        }
        if p.min_p > 0.0 && !self.cand.is_empty() {
            // Keep tokens whose probability is at least min_p times the top one's.
            let thresh = self.cand[0].1 + p.min_p.ln();
            let keep = self.cand.iter().take_while(|c| c.1 >= thresh).count();
            self.cand.truncate(keep.max(1));
        }
        softmax_into(&self.cand, p.temperature, &mut self.probs);
        let r: f64 = self.rng.random();
        let mut cum = 0.0;
        for (c, pr) in self.cand.iter().zip(&self.probs) {
            cum += *pr as f64;
            if r < cum {
                return c.0;
            }
        }
        self.cand.last().map_or(0, |c| c.0)
    }
}

/// The candidates' probabilities at `temp`, written into `out`.
fn softmax_into(c: &[(u32, f32)], temp: f32, out: &mut Vec<f32>) {
    let max = c.iter().map(|x| x.1).fold(f32::NEG_INFINITY, f32::max);
    out.clear();
    out.extend(c.iter().map(|x| ((x.1 - max) / temp).exp()));
    let s: f32 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= s);
}

/// Index of the largest logit; the lowest index wins ties (as llama.cpp's greedy).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, -1.0, 2.5]
    }

    #[test]
    fn greedy_takes_argmax() {
        let mut s = Sampler::new(SamplingParams { temperature: 0.0, ..Default::default() });
        assert_eq!(s.sample(&mut logits(), &[]), 1);
    }

    #[test]
    fn same_seed_same_tokens_different_seed_differs_somewhere() {
        let p = SamplingParams { temperature: 5.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..Default::default() };
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams { seed, ..p });
            (0..64).map(|_| s.sample(&mut logits(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn top_k_one_is_greedy_even_when_hot() {
        let mut s = Sampler::new(SamplingParams { temperature: 10.0, top_k: 1, ..Default::default() });
        for _ in 0..20 {
            assert_eq!(s.sample(&mut logits(), &[]), 1);
        }
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let p = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.5, ..Default::default() };
        let mut s = Sampler::new(p);
        for _ in 0..200 {
            let t = s.sample(&mut logits(), &[]);
            // p(4)/p(1) = e^-0.5 = 0.61 >= 0.5 kept; p(2)/p(1) = e^-1 = 0.37 dropped.
            assert!(t == 1 || t == 4, "got {t}");
        }
    }

    #[test]
    fn repeat_penalty_discourages_seen_tokens() {
        let mut s = Sampler::new(SamplingParams { temperature: 0.0, repeat_penalty: 2.0, ..Default::default() });
        // 3.0/2 = 1.5 < 2.5: token 4 wins once token 1 was seen.
        assert_eq!(s.sample(&mut logits(), &[1]), 4);
    }

    #[test]
    fn presence_and_frequency_penalties_subtract() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 0.0,
            frequency_penalty: 0.3,
            presence_penalty: 0.1,
            ..Default::default()
        });
        let mut l = logits();
        s.apply_penalties(&mut l, &[1, 1]);
        assert!((l[1] - (3.0 - 0.6 - 0.1)).abs() < 1e-6);
    }
}
