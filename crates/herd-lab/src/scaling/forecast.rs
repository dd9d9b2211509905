//! The Llama 3 paper's two-step downstream forecast (§3.2.1, Figure 4): a line from
//! log10 FLOPs to the normalized NLL of the correct answer, fitted on the target family's
//! small models, then a sigmoid from NLL to accuracy that may also use other families.

use super::sigmoid::{self, Fixed, Sigmoid};
use super::stats::{self, Line};
use super::table::Table;
use crate::LabError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One row of the forecast table `flops,nll,accuracy,family`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRow {
    pub line: usize,
    /// Pre-training FLOPs; may be empty for rows of other families.
    pub flops: Option<f64>,
    /// Normalized negative log-likelihood of the correct answer.
    pub nll: f64,
    /// Accuracy as a fraction in [0, 1]; empty when unknown.
    pub accuracy: Option<f64>,
    pub family: String,
}

/// What a row is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A target-family model within the fit range: step 1, and step 2 if it has an accuracy.
    Fit,
    /// Another family's model: step 2 only.
    Other,
    /// A target-family model above --max-fit-flops: shown and compared, never fitted.
    HeldOut,
}

#[derive(Debug, Clone)]
pub struct ForecastOptions {
    /// The compute to forecast at.
    pub target_flops: f64,
    /// The family whose small models define step 1 (None: the only family in the file).
    pub family: Option<String>,
    /// Target-family rows above this many FLOPs are held out (the paper fits ≤ 1e22).
    pub max_fit_flops: Option<f64>,
    pub fixed: Fixed,
    pub resamples: usize,
    pub seed: u64,
    pub level: f64,
}

/// A held-out model with what the forecast says for it.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub line: usize,
    pub flops: f64,
    pub nll: f64,
    pub accuracy: Option<f64>,
    pub predicted_nll: f64,
    pub predicted_accuracy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    pub family: String,
    pub target_flops: f64,
    /// Step 1: nll = intercept + slope·log10(FLOPs).
    pub step1: LineReport,
    /// Step 2: accuracy as a sigmoid of nll.
    pub step2: Sigmoid,
    pub step1_points: usize,
    pub step2_points: usize,
    pub nll: f64,
    pub accuracy: f64,
    pub nll_ci: Option<[f64; 2]>,
    pub accuracy_ci: Option<[f64; 2]>,
    pub ci_level: f64,
    pub resamples: usize,
    pub failed_resamples: usize,
    pub seed: u64,
    pub held_out: Vec<HeldOut>,
    pub warnings: Vec<String>,
    /// Each input row's role, in file order; for the plot.
    #[serde(skip)]
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LineReport {
    pub intercept: f64,
    pub slope: f64,
    pub r2: f64,
}

impl From<Line> for LineReport {
    fn from(l: Line) -> Self {
        LineReport { intercept: l.intercept, slope: l.slope, r2: l.r2 }
    }
}

impl LineReport {
    pub fn nll_at(&self, flops: f64) -> f64 {
        self.intercept + self.slope * flops.log10()
    }
}

/// Reads the forecast table: `flops`, `nll`, `accuracy` and `family` in any order.
pub fn read_forecast(path: &std::path::Path) -> Result<Vec<ForecastRow>, LabError> {
    forecast_rows(&Table::read(path)?)
}

/// Parses forecast CSV text; `path` names it in errors.
pub fn parse_forecast(text: &str, path: &str) -> Result<Vec<ForecastRow>, LabError> {
    forecast_rows(&Table::parse(text, path)?)
}

fn forecast_rows(t: &Table) -> Result<Vec<ForecastRow>, LabError> {
    let c = t.require(&["flops", "nll", "accuracy", "family"])?;
    let mut rows = Vec::with_capacity(t.rows.len());
    for row in &t.rows {
        let flops = t.maybe_number(row, c[0])?;
        if let Some(f) = flops.filter(|f| *f <= 0.0) {
            return Err(t.error(row.line, format!("column `flops` is {f}, but it must be positive (or empty)")));
        }
        let nll = t.number(row, c[1])?;
        if nll < 0.0 {
            return Err(t.error(row.line, format!("column `nll` is {nll}; a negative log-likelihood is never below 0")));
        }
        let accuracy = t.maybe_number(row, c[2])?;
        if let Some(a) = accuracy.filter(|a| !(0.0..=1.0).contains(a)) {
            return Err(t.error(
                row.line,
                format!("column `accuracy` is {a}; write it as a fraction in [0, 1] (e.g. 0.961 for 96.1%)"),
            ));
        }
        let family = row.fields[c[3]].trim().to_string();
        if family.is_empty() {
            return Err(
                t.error(row.line, "column `family` is empty; name the model family (e.g. scaling, llama2)".into())
            );
        }
        rows.push(ForecastRow { line: row.line, flops, nll, accuracy, family });
    }
    if rows.is_empty() {
        return Err(t.error(0, "the file has a header but no rows".into()));
    }
    Ok(rows)
}

/// Runs both steps, the bootstrap, and the comparison with held-out models.
pub fn forecast(rows: &[ForecastRow], path: &str, opts: &ForecastOptions) -> Result<ForecastReport, LabError> {
    check(opts)?;
    let family = target_family(rows, path, opts)?;
    let roles = assign_roles(rows, path, &family, opts)?;
    let s1: Vec<&ForecastRow> = rows.iter().zip(&roles).filter(|(_, r)| **r == Role::Fit).map(|(x, _)| x).collect();
    let s2: Vec<&ForecastRow> =
        rows.iter().zip(&roles).filter(|(x, r)| **r != Role::HeldOut && x.accuracy.is_some()).map(|(x, _)| x).collect();
    let line = fit_step1(&s1).ok_or_else(|| {
        LabError::Fit(format!(
            "{path}: step 1 needs at least 2 `{family}` rows at different FLOPs (within --max-fit-flops); found {}",
            s1.len()
        ))
    })?;
    let need = opts.fixed.free_parameters() + 1;
    let sig = fit_step2(&s2, opts.fixed, None).ok_or_else(|| {
        LabError::Fit(format!(
            "{path}: step 2 fits a sigmoid with {} free parameters and needs at least {need} rows with an accuracy \
             (found {}, and they must spread over NLL); add models or fix --floor/--ceiling",
            need - 1,
            s2.len()
        ))
    })?;
    let step1 = LineReport::from(line);
    let nll = step1.nll_at(opts.target_flops);
    let (samples, failed) = bootstrap(&s1, &s2, sig, opts);
    let nll_ci = stats::percentile_interval(&samples.iter().map(|s| s[0]).collect::<Vec<_>>(), opts.level);
    let accuracy_ci = stats::percentile_interval(&samples.iter().map(|s| s[1]).collect::<Vec<_>>(), opts.level);
    let held_out = rows
        .iter()
        .zip(&roles)
        .filter(|(_, r)| **r == Role::HeldOut)
        .filter_map(|(x, _)| {
            let f = x.flops?;
            let p = step1.nll_at(f);
            Some(HeldOut {
                line: x.line,
                flops: f,
                nll: x.nll,
                accuracy: x.accuracy,
                predicted_nll: p,
                predicted_accuracy: sig.at(p),
            })
        })
        .collect();
    let mut warnings = Vec::new();
    if step1.slope >= 0.0 {
        warnings.push(format!(
            "step 1: NLL rises with compute (slope {:.4} per decade); check the `nll` column",
            step1.slope
        ));
    }
    if failed * 10 > opts.resamples {
        warnings.push(format!("{failed} of {} bootstrap resamples could not be fitted", opts.resamples));
    }
    Ok(ForecastReport {
        family,
        target_flops: opts.target_flops,
        step1,
        step2: sig,
        step1_points: s1.len(),
        step2_points: s2.len(),
        nll,
        accuracy: sig.at(nll),
        nll_ci,
        accuracy_ci,
        ci_level: opts.level,
        resamples: opts.resamples,
        failed_resamples: failed,
        seed: opts.seed,
        held_out,
        warnings,
        roles,
    })
}

fn check(opts: &ForecastOptions) -> Result<(), LabError> {
    if !(opts.target_flops.is_finite() && opts.target_flops > 0.0) {
        return Err(LabError::Invalid(format!(
            "--flops must be a positive number of FLOPs, got {}",
            opts.target_flops
        )));
    }
    if !(opts.level > 0.0 && opts.level < 1.0) {
        return Err(LabError::Invalid(format!("the interval level must lie between 0 and 1, got {}", opts.level)));
    }
    Ok(())
}

fn target_family(rows: &[ForecastRow], path: &str, opts: &ForecastOptions) -> Result<String, LabError> {
    let mut families: Vec<&str> = rows.iter().map(|r| r.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    match &opts.family {
        Some(f) if families.contains(&f.as_str()) => Ok(f.clone()),
        Some(f) => Err(LabError::Invalid(format!(
            "{path}: no row has family `{f}`; the families are: {}",
            families.join(", ")
        ))),
        None if families.len() == 1 => Ok(families[0].to_string()),
        None => Err(LabError::Invalid(format!(
            "{path}: the file has several families ({}); say with --family which one step 1 fits",
            families.join(", ")
        ))),
    }
}

fn assign_roles(rows: &[ForecastRow], path: &str, family: &str, opts: &ForecastOptions) -> Result<Vec<Role>, LabError> {
    rows.iter()
        .map(|r| {
            if r.family != family {
                return Ok(Role::Other);
            }
            let f = r.flops.ok_or_else(|| LabError::Csv {
                path: path.to_string(),
                line: r.line,
                msg: format!("a `{family}` row needs `flops`: step 1 fits its NLL against compute"),
            })?;
            Ok(if opts.max_fit_flops.is_some_and(|m| f > m) { Role::HeldOut } else { Role::Fit })
        })
        .collect()
}

fn fit_step1(rows: &[&ForecastRow]) -> Option<Line> {
    let x: Vec<f64> = rows.iter().filter_map(|r| r.flops.map(f64::log10)).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.nll).collect();
    stats::fit_line(&x, &y)
}

/// Fits the sigmoid; with `start`, one Levenberg–Marquardt run from there (the bootstrap
/// starts each resample at the full-data fit), else the multi-start fit.
fn fit_step2(rows: &[&ForecastRow], fixed: Fixed, start: Option<Sigmoid>) -> Option<Sigmoid> {
    let x: Vec<f64> = rows.iter().map(|r| r.nll).collect();
    let y: Vec<f64> = rows.iter().filter_map(|r| r.accuracy).collect();
    match start {
        Some(s) => sigmoid::refit(s, &x, &y, fixed),
        None => sigmoid::fit_sigmoid(&x, &y, fixed),
    }
}

/// Case bootstrap of both steps: each resample redraws the step-1 rows and the step-2
/// rows with replacement, refits both, and predicts at the target. Returns the (nll,
/// accuracy) pairs and the number of resamples that could not be fitted.
fn bootstrap(s1: &[&ForecastRow], s2: &[&ForecastRow], sig: Sigmoid, opts: &ForecastOptions) -> (Vec<[f64; 2]>, usize) {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut out = Vec::with_capacity(opts.resamples);
    let mut failed = 0;
    for _ in 0..opts.resamples {
        let r1: Vec<&ForecastRow> = (0..s1.len()).map(|_| s1[rng.random_range(0..s1.len())]).collect();
        let r2: Vec<&ForecastRow> = (0..s2.len()).map(|_| s2[rng.random_range(0..s2.len())]).collect();
        let fitted = fit_step1(&r1).zip(fit_step2(&r2, opts.fixed, Some(sig)));
        match fitted {
            Some((l, s)) => {
                let nll = LineReport::from(l).nll_at(opts.target_flops);
                out.push([nll, s.at(nll)]);
            }
            None => failed += 1,
        }
    }
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<ForecastRow> {
        let truth = Sigmoid { floor: 0.25, ceiling: 0.97, mid: 1.0, slope: 8.0 };
        let nll = |f: f64| 3.0 - 0.1 * f.log10();
        let mut out = Vec::new();
        for (i, f) in [1e19, 3e19, 1e20, 3e20, 1e21, 3e21, 1e22].iter().enumerate() {
            let n = nll(*f);
            out.push(ForecastRow {
                line: i + 2,
                flops: Some(*f),
                nll: n,
                accuracy: Some(truth.at(n)),
                family: "scaling".into(),
            });
        }
        for (i, n) in [0.95, 0.85, 0.75].iter().enumerate() {
            out.push(ForecastRow {
                line: i + 9,
                flops: None,
                nll: *n,
                accuracy: Some(truth.at(*n)),
                family: "llama2".into(),
            });
        }
        out.push(ForecastRow {
            line: 12,
            flops: Some(3.8e25),
            nll: nll(3.8e25),
            accuracy: Some(0.9),
            family: "scaling".into(),
        });
        out
    }

    fn opts() -> ForecastOptions {
        ForecastOptions {
            target_flops: 3.8e25,
            family: Some("scaling".into()),
            max_fit_flops: Some(1e22),
            fixed: Fixed::default(),
            resamples: 100,
            seed: 1,
            level: 0.9,
        }
    }

    #[test]
    fn noise_free_two_steps_recover_the_truth() {
        let r = forecast(&rows(), "f.csv", &opts()).expect("forecasts");
        assert_eq!(r.step1_points, 7);
        assert_eq!(r.step2_points, 10);
        assert!((r.step1.slope + 0.1).abs() < 1e-9);
        let n = 3.0 - 0.1 * 3.8e25f64.log10();
        assert!((r.nll - n).abs() < 1e-9);
        let want = Sigmoid { floor: 0.25, ceiling: 0.97, mid: 1.0, slope: 8.0 }.at(n);
        assert!((r.accuracy - want).abs() < 1e-4, "{} vs {want}", r.accuracy);
        assert_eq!(r.held_out.len(), 1);
        assert_eq!(r.roles.iter().filter(|x| **x == Role::HeldOut).count(), 1);
    }

    #[test]
    fn several_families_need_a_choice() {
        let e = forecast(&rows(), "f.csv", &ForecastOptions { family: None, ..opts() }).expect_err("ambiguous");
        assert!(e.to_string().contains("--family"), "{e}");
    }

    #[test]
    fn bad_rows_are_explained() {
        let e = parse_forecast("flops,nll,accuracy,family\n1e20,0.9,96.1,scaling\n", "f.csv").expect_err("percent");
        assert!(e.to_string().starts_with("f.csv:2:") && e.to_string().contains("0.961"), "{e}");
        let e = parse_forecast("flops,nll,family\n1e20,0.9,scaling\n", "f.csv").expect_err("missing");
        assert!(e.to_string().contains("accuracy"), "{e}");
    }
}
