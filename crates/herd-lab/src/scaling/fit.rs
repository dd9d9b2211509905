//! The IsoFLOP method of the Llama 3 paper: a parabola of loss against ln(tokens) per
//! budget, its minimum as the compute-optimal point, a log-log line through the minima
//! for N*(C) = A·C^α, and bootstrap intervals for α, A and predictions.

use super::law::{FLOPS_PER_PARAM_TOKEN, PowerLaw, Prediction};
use super::stats::{self, Parabola};
use super::{Budget, Runs};
use crate::LabError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// How to fit: bootstrap size, seed, interval level, and an optional budget to predict.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Bootstrap resamples (0: no intervals).
    pub resamples: usize,
    /// Seed of the bootstrap's random generator: the same seed gives the same intervals.
    pub seed: u64,
    /// Central interval level, e.g. 0.95.
    pub level: f64,
    /// A budget to extrapolate to, with its interval (e.g. 3.8e25).
    pub target_flops: Option<f64>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { resamples: 1000, seed: 0, level: 0.95, target_flops: None }
    }
}

/// The parabola and minimum of one budget.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetFit {
    pub flops: f64,
    pub runs: usize,
    /// Compute-optimal tokens: the parabola's minimum.
    pub tokens_opt: f64,
    /// The matching parameters, C / (6·tokens_opt).
    pub params_opt: f64,
    /// The parabola's value at its minimum.
    pub loss_opt: f64,
    /// loss = poly[0] + poly[1]·ln(tokens) + poly[2]·ln(tokens)².
    pub poly: [f64; 3],
    /// The smallest and largest token counts run at this budget.
    pub tokens_range: [f64; 2],
    /// Whether the minimum lies inside `tokens_range` (outside, it is an extrapolation).
    pub inside: bool,
}

/// How the intervals were made.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapInfo {
    pub method: &'static str,
    pub resamples: usize,
    /// Resamples dropped because some budget's parabola lost its minimum.
    pub failed: usize,
    pub seed: u64,
}

/// A prediction at the target budget with intervals.
#[derive(Debug, Clone, Serialize)]
pub struct TargetPrediction {
    #[serde(flatten)]
    pub point: Prediction,
    pub tokens_ci: Option<[f64; 2]>,
    pub params_ci: Option<[f64; 2]>,
}

/// Everything `herd scaling fit` reports.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// Exponent of N*(C) = A·C^α, optimal training tokens against FLOPs.
    pub alpha: f64,
    #[serde(rename = "A")]
    pub a: f64,
    pub alpha_ci: Option<[f64; 2]>,
    #[serde(rename = "A_ci")]
    pub a_ci: Option<[f64; 2]>,
    pub ci_level: f64,
    /// Covariance of (ln A, α) over the bootstrap, for intervals at any budget.
    pub cov_log_a_alpha: Option<[[f64; 2]; 2]>,
    /// The parameter law from C ≈ 6·N·D: N*(C) = coefficient·C^exponent.
    pub params_law: ParamsLaw,
    /// R² of the log-log line through the minima.
    pub r2: f64,
    pub budgets: Vec<BudgetFit>,
    pub bootstrap: BootstrapInfo,
    pub target: Option<TargetPrediction>,
    pub warnings: Vec<String>,
    /// The bootstrap's (α, ln A) pairs, for bands on the plot; not serialized.
    #[serde(skip)]
    pub samples: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamsLaw {
    pub coefficient: f64,
    pub exponent: f64,
}

impl FitReport {
    pub fn law(&self) -> PowerLaw {
        PowerLaw { alpha: self.alpha, a: self.a }
    }

    /// The bootstrap interval of ln(tokens) at `flops`, from the saved samples.
    pub fn ln_tokens_interval(&self, flops: f64) -> Option<[f64; 2]> {
        let lc = flops.ln();
        let v: Vec<f64> = self.samples.iter().map(|[alpha, ln_a]| ln_a + alpha * lc).collect();
        stats::percentile_interval(&v, self.ci_level)
    }
}

/// One budget as the bootstrap needs it: ln C, ln(tokens), fitted losses.
struct Design {
    ln_c: f64,
    x: Vec<f64>,
    fitted: Vec<f64>,
}

/// Fits the IsoFLOP parabolas, the power law and the bootstrap intervals.
pub fn fit(runs: &Runs, opts: &FitOptions) -> Result<FitReport, LabError> {
    check_options(opts)?;
    let budgets = runs.budgets()?;
    if budgets.len() < 2 {
        return Err(LabError::Fit(format!(
            "{}: all runs belong to one budget ({:.3e} FLOPs); the power law needs minima at 2 or more budgets \
             (3 or more for a meaningful confidence interval)",
            runs.path, budgets[0].flops
        )));
    }
    let mut fits = Vec::with_capacity(budgets.len());
    let mut designs = Vec::with_capacity(budgets.len());
    let mut residuals = Vec::new();
    for b in &budgets {
        let (bf, p) = fit_budget(b, &runs.path)?;
        residuals.extend(scaled_residuals(b, &p));
        designs.push(Design {
            ln_c: b.flops.ln(),
            x: b.runs.iter().map(|r| r.tokens.ln()).collect(),
            fitted: p.fitted,
        });
        fits.push(bf);
    }
    let flops: Vec<f64> = fits.iter().map(|f| f.flops).collect();
    let tokens: Vec<f64> = fits.iter().map(|f| f.tokens_opt).collect();
    let (law, r2) = power_law(&flops, &tokens)?;
    let mut warnings = runs.consistency_warnings();
    warnings.extend(fits.iter().filter(|f| !f.inside).map(|f| {
        format!(
            "budget {:.3e}: the minimum ({:.3e} tokens) lies outside the runs' range [{:.3e}, {:.3e}], so it is \
             extrapolated; add runs beyond it",
            f.flops, f.tokens_opt, f.tokens_range[0], f.tokens_range[1]
        )
    }));
    let (samples, failed) = bootstrap(&designs, &residuals, opts);
    if opts.resamples > 0 && residuals.is_empty() {
        warnings.push(
            "every budget has exactly 3 runs, so each parabola fits exactly and leaves no residual to resample: \
             no confidence intervals (run 5 or more models per budget)"
                .into(),
        );
    } else if failed * 10 > opts.resamples {
        warnings.push(format!(
            "{failed} of {} bootstrap resamples lost a budget's minimum; the intervals rest on the rest and are \
             optimistic (add runs on both sides of each minimum)",
            opts.resamples
        ));
    }
    let (coefficient, exponent) = law.params_law();
    let mut report = FitReport {
        alpha: law.alpha,
        a: law.a,
        alpha_ci: None,
        a_ci: None,
        ci_level: opts.level,
        cov_log_a_alpha: None,
        params_law: ParamsLaw { coefficient, exponent },
        r2,
        budgets: fits,
        bootstrap: BootstrapInfo { method: "pooled residual", resamples: opts.resamples, failed, seed: opts.seed },
        target: None,
        warnings,
        samples,
    };
    summarize(&mut report, opts)?;
    Ok(report)
}

/// Fits N*(C) = A·C^α by least squares on (ln C, ln tokens), as the paper does through
/// its IsoFLOP minima; also usable on published (FLOPs, tokens) tables. Returns the law
/// and the R² of the log-log line.
pub fn power_law(flops: &[f64], tokens: &[f64]) -> Result<(PowerLaw, f64), LabError> {
    if flops.len() != tokens.len() || flops.iter().chain(tokens).any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(LabError::Invalid("the power law needs pairs of positive FLOPs and tokens".into()));
    }
    let ln_c: Vec<f64> = flops.iter().map(|c| c.ln()).collect();
    let ln_d: Vec<f64> = tokens.iter().map(|d| d.ln()).collect();
    let line = stats::fit_line(&ln_c, &ln_d)
        .ok_or_else(|| LabError::Fit("the power law needs optimal points at 2 or more different budgets".into()))?;
    Ok((PowerLaw { alpha: line.slope, a: line.intercept.exp() }, line.r2))
}

fn check_options(opts: &FitOptions) -> Result<(), LabError> {
    if !(opts.level > 0.0 && opts.level < 1.0) {
        return Err(LabError::Invalid(format!(
            "the interval level must lie between 0 and 1, e.g. 0.95; got {}",
            opts.level
        )));
    }
    Ok(())
}

fn fit_budget(b: &Budget, path: &str) -> Result<(BudgetFit, Parabola), LabError> {
    let x: Vec<f64> = b.runs.iter().map(|r| r.tokens.ln()).collect();
    let y: Vec<f64> = b.runs.iter().map(|r| r.loss).collect();
    let p = stats::fit_parabola(&x, &y).ok_or_else(|| {
        LabError::Fit(format!("{path}: budget {:.3e}: the runs do not determine a parabola", b.flops))
    })?;
    let (x_min, loss_opt) = p.minimum().ok_or_else(|| {
        LabError::Fit(format!(
            "{path}: budget {:.3e} FLOPs: the parabola of loss against ln(tokens) opens downward, so it has no \
             minimum; the runs probably lie on one side of the optimum: add runs with fewer and with more tokens",
            b.flops
        ))
    })?;
    let tokens_opt = x_min.exp();
    let range = [b.runs[0].tokens, b.runs[b.runs.len() - 1].tokens];
    let fit = BudgetFit {
        flops: b.flops,
        runs: b.runs.len(),
        tokens_opt,
        params_opt: b.flops / (FLOPS_PER_PARAM_TOKEN * tokens_opt),
        loss_opt,
        poly: p.coefficients(),
        tokens_range: range,
        inside: tokens_opt >= range[0] && tokens_opt <= range[1],
    };
    Ok((fit, p))
}

/// Residuals divided by sqrt(1 − leverage), so that resampled noise has the variance of
/// the real noise rather than the smaller variance of fitted residuals. Points with
/// leverage 1 (a budget of exactly 3 runs) carry no information about noise.
fn scaled_residuals(b: &Budget, p: &Parabola) -> Vec<f64> {
    b.runs
        .iter()
        .zip(p.fitted.iter().zip(&p.leverage))
        .filter(|(_, (_, h))| **h < 1.0 - 1e-9)
        .map(|(r, (f, h))| (r.loss - f) / (1.0 - h).sqrt())
        .collect()
}

/// Pooled residual bootstrap. The token grid of an IsoFLOP sweep is chosen by the
/// experimenter, so it stays fixed; the noise is in the losses. Each resample adds
/// residuals drawn from all budgets (pooled, so a budget of 3 runs still gets noise) to
/// the fitted parabolas, refits every parabola and the line through the minima.
/// Returns the (α, ln A) pairs and the number of resamples dropped.
fn bootstrap(designs: &[Design], residuals: &[f64], opts: &FitOptions) -> (Vec<[f64; 2]>, usize) {
    if residuals.is_empty() || opts.resamples == 0 {
        return (Vec::new(), 0);
    }
    let m = stats::mean(residuals);
    let centred: Vec<f64> = residuals.iter().map(|r| r - m).collect();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut samples = Vec::with_capacity(opts.resamples);
    let mut failed = 0;
    let ln_c: Vec<f64> = designs.iter().map(|d| d.ln_c).collect();
    for _ in 0..opts.resamples {
        let minima: Option<Vec<f64>> = designs
            .iter()
            .map(|d| {
                let y: Vec<f64> = d.fitted.iter().map(|f| f + centred[rng.random_range(0..centred.len())]).collect();
                stats::fit_parabola(&d.x, &y).and_then(|p| p.minimum()).map(|(x, _)| x)
            })
            .collect();
        match minima.and_then(|ln_d| stats::fit_line(&ln_c, &ln_d)) {
            Some(l) => samples.push([l.slope, l.intercept]),
            None => failed += 1,
        }
    }
    (samples, failed)
}

/// Fills in the intervals, the covariance and the target prediction.
fn summarize(r: &mut FitReport, opts: &FitOptions) -> Result<(), LabError> {
    let alphas: Vec<f64> = r.samples.iter().map(|s| s[0]).collect();
    let ln_as: Vec<f64> = r.samples.iter().map(|s| s[1]).collect();
    if r.samples.len() >= 2 {
        r.alpha_ci = stats::percentile_interval(&alphas, opts.level);
        r.a_ci = stats::percentile_interval(&ln_as, opts.level).map(|[lo, hi]| [lo.exp(), hi.exp()]);
        let (va, vl, c) = (
            stats::covariance(&alphas, &alphas),
            stats::covariance(&ln_as, &ln_as),
            stats::covariance(&ln_as, &alphas),
        );
        r.cov_log_a_alpha = Some([[vl, c], [c, va]]);
    }
    if let Some(flops) = opts.target_flops {
        let point = r.law().predict(flops)?;
        let tokens_ci = r.ln_tokens_interval(flops).map(|[lo, hi]| [lo.exp(), hi.exp()]);
        // More tokens means fewer parameters at a fixed budget: the bounds swap.
        let params_ci =
            tokens_ci.map(|[lo, hi]| [flops / (FLOPS_PER_PARAM_TOKEN * hi), flops / (FLOPS_PER_PARAM_TOKEN * lo)]);
        r.target = Some(TargetPrediction { point, tokens_ci, params_ci });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact parabolas around a known law: the fit must return the law itself.
    fn exact_runs(law: PowerLaw, budgets: &[f64], n: usize) -> Runs {
        let mut runs = Vec::new();
        for &c in budgets {
            let opt = law.ln_tokens(c);
            for i in 0..n {
                let x = opt - 1.0 + 2.0 * i as f64 / (n - 1) as f64 + 0.1;
                let tokens = x.exp();
                runs.push(super::super::Run {
                    line: runs.len() + 2,
                    flops: c,
                    params: c / (6.0 * tokens),
                    tokens,
                    loss: 2.0 + 0.05 * (x - opt).powi(2),
                });
            }
        }
        Runs { path: "exact.csv".into(), runs }
    }

    #[test]
    fn exact_isoflop_curves_give_back_the_law() {
        let truth = PowerLaw::LLAMA3_FIGURE3;
        let runs = exact_runs(truth, &[6e18, 1e19, 3e19, 1e20, 1e21, 1e22], 5);
        let opts = FitOptions { resamples: 50, target_flops: Some(3.8e25), ..FitOptions::default() };
        let r = fit(&runs, &opts).expect("fits");
        assert!((r.alpha - truth.alpha).abs() < 1e-9, "{}", r.alpha);
        assert!((r.a / truth.a - 1.0).abs() < 1e-7, "{}", r.a);
        assert!(r.budgets.iter().all(|b| b.inside));
        let t = r.target.expect("target");
        assert!((t.point.tokens / 1.6294e13 - 1.0).abs() < 1e-3);
        // Noise-free data: the residuals are zero, so every resample is the fit itself.
        let ci = r.alpha_ci.expect("ci");
        assert!((ci[1] - ci[0]).abs() < 1e-9, "{ci:?}");
    }

    #[test]
    fn three_runs_per_budget_fit_but_have_no_interval() {
        let runs = exact_runs(PowerLaw::LLAMA3_FIGURE3, &[1e19, 1e20, 1e21], 3);
        let r = fit(&runs, &FitOptions::default()).expect("fits");
        assert!(r.alpha_ci.is_none());
        assert!(r.warnings.iter().any(|w| w.contains("exactly 3 runs")), "{:?}", r.warnings);
    }

    #[test]
    fn a_downward_parabola_is_an_error_that_says_what_to_add() {
        let mut runs = exact_runs(PowerLaw::LLAMA3_FIGURE3, &[1e19, 1e20], 4);
        for r in runs.runs.iter_mut().take(4) {
            r.loss = 3.0 - 0.1 * (r.tokens.ln() - 20.0).powi(2);
        }
        let e = fit(&runs, &FitOptions::default()).expect_err("no minimum").to_string();
        assert!(e.contains("opens downward") && e.contains("add runs"), "{e}");
    }

    #[test]
    fn one_budget_is_not_enough() {
        let runs = exact_runs(PowerLaw::LLAMA3_FIGURE3, &[1e19], 4);
        let e = fit(&runs, &FitOptions::default()).expect_err("one budget").to_string();
        assert!(e.contains("2 or more budgets"), "{e}");
    }
}
