//! The compute-optimal power law N*(C) = A·C^α (training tokens) and what it predicts:
//! tokens, and parameters through C ≈ 6·N·D.

use crate::LabError;
use serde::{Deserialize, Serialize};

/// FLOPs per parameter per training token (forward + backward), the usual C ≈ 6·N·D.
pub const FLOPS_PER_PARAM_TOKEN: f64 = 6.0;

/// Optimal training tokens as a function of compute: `tokens = A·C^alpha`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    pub alpha: f64,
    #[serde(rename = "A")]
    pub a: f64,
}

/// What a law says for one compute budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    pub flops: f64,
    /// Compute-optimal training tokens, A·C^α.
    pub tokens: f64,
    /// The matching parameter count, C / (6·tokens).
    pub params: f64,
    pub tokens_per_param: f64,
}

impl PowerLaw {
    /// The unrounded fit in the legend of the Llama 3 paper's Figure 3. At 3.8e25 FLOPs it
    /// gives 16.29T tokens and C/(6D) = 388.7B parameters.
    pub const LLAMA3_FIGURE3: PowerLaw = PowerLaw { alpha: 0.537, a: 0.299 };
    /// The rounded constants of the paper's text, (α, A) = (0.53, 0.29). They give only
    /// 10.46T tokens at 3.8e25 FLOPs: d ln D / d α = ln C ≈ 58.9, so rounding α down by
    /// 0.007 divides D by e^(0.007·58.9) = 1.51, and A by 0.299/0.29 = 1.03 more.
    pub const LLAMA3_TEXT: PowerLaw = PowerLaw { alpha: 0.53, a: 0.29 };

    /// A law from user values, checked to be finite with A > 0.
    pub fn new(alpha: f64, a: f64) -> Result<PowerLaw, LabError> {
        if !alpha.is_finite() || !a.is_finite() || a <= 0.0 {
            return Err(LabError::Invalid(format!(
                "the power law needs a finite alpha and a positive A (got alpha = {alpha}, A = {a})"
            )));
        }
        Ok(PowerLaw { alpha, a })
    }

    /// ln of the optimal tokens at `flops`, computed in log space so that a budget of
    /// 1e30 does not overflow an intermediate C^α.
    pub fn ln_tokens(&self, flops: f64) -> f64 {
        self.a.ln() + self.alpha * flops.ln()
    }

    pub fn tokens(&self, flops: f64) -> f64 {
        self.ln_tokens(flops).exp()
    }

    /// The parameter count that spends `flops` on the optimal tokens: C / (6·D).
    pub fn params(&self, flops: f64) -> f64 {
        flops / (FLOPS_PER_PARAM_TOKEN * self.tokens(flops))
    }

    /// The parameter law implied by C ≈ 6·N·D: N*(C) = coefficient·C^exponent with
    /// coefficient 1/(6A) and exponent 1 − α.
    pub fn params_law(&self) -> (f64, f64) {
        (1.0 / (FLOPS_PER_PARAM_TOKEN * self.a), 1.0 - self.alpha)
    }

    /// Tokens and parameters at a budget, which must be a positive number of FLOPs.
    pub fn predict(&self, flops: f64) -> Result<Prediction, LabError> {
        if !flops.is_finite() || flops <= 0.0 {
            return Err(LabError::Invalid(format!(
                "the compute budget must be a positive number of FLOPs, got {flops}"
            )));
        }
        let tokens = self.tokens(flops);
        let params = self.params(flops);
        Ok(Prediction { flops, tokens, params, tokens_per_param: tokens / params })
    }
}

/// The interval of ln(tokens) at `flops` for a law whose (ln A, α) has covariance `cov`,
/// by the normal approximation: ln D = ln A + α·ln C is linear in both, so its variance
/// is var(ln A) + 2·ln C·cov + ln C²·var(α). Returns token bounds `[lo, hi]`.
pub fn tokens_interval(law: &PowerLaw, cov: &[[f64; 2]; 2], flops: f64, level: f64) -> Option<[f64; 2]> {
    let lc = flops.ln();
    let var = cov[0][0] + 2.0 * lc * cov[0][1] + lc * lc * cov[1][1];
    if !var.is_finite() || var < 0.0 {
        return None;
    }
    let z = normal_quantile(0.5 + level / 2.0);
    let mid = law.ln_tokens(flops);
    Some([(mid - z * var.sqrt()).exp(), (mid + z * var.sqrt()).exp()])
}

/// The standard normal quantile (Acklam's rational approximation, relative error
/// below 1.2e-9), enough for interval half-widths.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -39.69683028665376,
        220.9460984245205,
        -275.9285104469687,
        138.357751867269,
        -30.66479806614716,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
    const C: [f64; 6] = [
        -0.007784894002430293,
        -0.3223964580411365,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_figure3_constants_at_the_flagship_budget() {
        // Llama 3 paper §3.2.1 / Figure 3: (α, A) = (0.537, 0.299) at 3.8e25 FLOPs.
        let p = PowerLaw::LLAMA3_FIGURE3.predict(3.8e25).expect("valid");
        assert!((p.tokens / 1.6294e13 - 1.0).abs() < 1e-3, "{}", p.tokens);
        assert!((p.params / 3.887e11 - 1.0).abs() < 1e-3, "{}", p.params);
        let r = PowerLaw::LLAMA3_TEXT.predict(3.8e25).expect("valid");
        assert!((r.tokens / 1.0464e13 - 1.0).abs() < 1e-3, "{}", r.tokens);
    }

    #[test]
    fn params_law_is_consistent_with_six_n_d() {
        let law = PowerLaw::new(0.5, 0.3).expect("valid");
        let (g, e) = law.params_law();
        let c: f64 = 1e22;
        assert!((g * c.powf(e) / law.params(c) - 1.0).abs() < 1e-12);
        assert!(PowerLaw::new(0.5, 0.0).is_err());
        assert!(law.predict(-1.0).is_err());
    }

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.005) + 2.5758293035489).abs() < 1e-8);
    }
}
