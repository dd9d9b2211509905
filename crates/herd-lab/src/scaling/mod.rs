//! Scaling laws as the Llama 3 paper uses them (§3.2.1): IsoFLOP parabolas and their
//! minima, the compute-optimal power law with bootstrap intervals, the two-step
//! downstream forecast, and SVG figures like the paper's Figures 2–4.
//!
//! This file reads and validates the IsoFLOP runs table (`flops,params,tokens,loss`);
//! the fitting lives in [`fit`], the law and its predictions in [`law`], the forecast
//! in [`forecast`], the figures in [`plot`].

pub mod fit;
pub mod forecast;
pub mod law;
pub mod plot;
pub mod sigmoid;
pub mod stats;
pub mod table;

pub use fit::{BudgetFit, FitOptions, FitReport, fit, power_law};
pub use forecast::{ForecastOptions, ForecastReport, ForecastRow, forecast, read_forecast};
pub use law::{PowerLaw, Prediction};

use crate::LabError;
use table::Table;

/// Runs whose `flops` agree within this relative tolerance form one budget, so a column
/// of per-run 6·N·D values (which differ in the last digits) still groups as intended.
pub const BUDGET_TOLERANCE: f64 = 0.01;

/// One training run of an IsoFLOP sweep: one row of the runs table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// The 1-based line in the CSV file.
    pub line: usize,
    /// The run's compute budget in FLOPs (the IsoFLOP curve it belongs to).
    pub flops: f64,
    /// Model parameters.
    pub params: f64,
    /// Training tokens.
    pub tokens: f64,
    /// Validation loss at the end of training.
    pub loss: f64,
}

/// A validated runs table: every value positive and finite.
#[derive(Debug, Clone)]
pub struct Runs {
    /// The file name used in messages.
    pub path: String,
    pub runs: Vec<Run>,
}

/// The runs of one compute budget, sorted by tokens.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The budget in FLOPs (the geometric mean of its runs' `flops`).
    pub flops: f64,
    pub runs: Vec<Run>,
}

impl Runs {
    /// Reads RUNS.csv: a header naming `flops`, `params`, `tokens` and `loss` in any
    /// order (other columns are ignored), then one run per line.
    pub fn read(path: &std::path::Path) -> Result<Runs, LabError> {
        Runs::from_table(&Table::read(path)?)
    }

    /// Parses CSV text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Runs, LabError> {
        Runs::from_table(&Table::parse(text, path)?)
    }

    fn from_table(t: &Table) -> Result<Runs, LabError> {
        let cols = t.require(&["flops", "params", "tokens", "loss"])?;
        let mut runs = Vec::with_capacity(t.rows.len());
        for row in &t.rows {
            runs.push(Run {
                line: row.line,
                flops: t.positive(row, cols[0])?,
                params: t.positive(row, cols[1])?,
                tokens: t.positive(row, cols[2])?,
                loss: t.positive(row, cols[3])?,
            });
        }
        if runs.is_empty() {
            return Err(t.error(0, "the file has a header but no runs".into()));
        }
        Ok(Runs { path: t.path.clone(), runs })
    }

    /// Groups the runs by budget (ascending) and checks that each budget can carry a
    /// parabola: at least 3 runs at 3 different token counts.
    pub fn budgets(&self) -> Result<Vec<Budget>, LabError> {
        let mut sorted = self.runs.clone();
        sorted.sort_by(|a, b| a.flops.total_cmp(&b.flops));
        let mut groups: Vec<Vec<Run>> = Vec::new();
        for r in sorted {
            match groups.last_mut() {
                Some(g) if (r.flops / g[0].flops - 1.0).abs() <= BUDGET_TOLERANCE => g.push(r),
                _ => groups.push(vec![r]),
            }
        }
        groups.into_iter().map(|g| self.budget(g)).collect()
    }

    fn budget(&self, mut runs: Vec<Run>) -> Result<Budget, LabError> {
        runs.sort_by(|a, b| a.tokens.total_cmp(&b.tokens).then(a.line.cmp(&b.line)));
        let flops = (runs.iter().map(|r| r.flops.ln()).sum::<f64>() / runs.len() as f64).exp();
        let mut line_nos: Vec<usize> = runs.iter().map(|r| r.line).collect();
        line_nos.sort_unstable();
        let lines = line_nos.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
        let mut distinct = runs.iter().map(|r| r.tokens).collect::<Vec<_>>();
        distinct.dedup_by(|a, b| (*a / *b - 1.0).abs() < 1e-9);
        if runs.len() < 3 || distinct.len() < 3 {
            return Err(LabError::Csv {
                path: self.path.clone(),
                line: 0,
                msg: format!(
                    "the budget {flops:.3e} FLOPs has {} run{} at {} token count{} (line{} {lines}); a parabola \
                     needs at least 3 runs with different token counts per budget: add runs to it or delete its rows",
                    runs.len(),
                    plural(runs.len()),
                    distinct.len(),
                    plural(distinct.len()),
                    plural(runs.len()),
                ),
            });
        }
        Ok(Budget { flops, runs })
    }

    /// Notes about rows whose 6·params·tokens is far (over 2×) from their `flops`: the
    /// fit still uses `flops` as the budget, but such a row is often a typo.
    pub fn consistency_warnings(&self) -> Vec<String> {
        let off: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| {
                let ratio = 6.0 * r.params * r.tokens / r.flops;
                !(0.5..=2.0).contains(&ratio)
            })
            .collect();
        let mut out: Vec<String> = off
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "{}:{}: 6·params·tokens = {:.3e} is far from flops = {:.3e}; the fit uses flops as the budget \
                     and tokens on the x axis (check this row for a typo)",
                    self.path,
                    r.line,
                    6.0 * r.params * r.tokens,
                    r.flops
                )
            })
            .collect();
        if off.len() > 3 {
            out.push(format!("{} more rows with 6·params·tokens far from flops", off.len() - 3));
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_into_budgets_within_one_percent() {
        let csv = "flops,params,tokens,loss\n1e19,1e8,1.6e10,3.1\n1.004e19,2e8,8.3e9,3.0\n1e19,4e8,4.1e9,3.05\n\
                   3e19,1e8,5e10,2.9\n3e19,2e8,2.5e10,2.8\n3e19,4e8,1.25e10,2.85\n";
        let runs = Runs::parse(csv, "r.csv").expect("valid");
        let b = runs.budgets().expect("groups");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].runs.len(), 3);
        assert!(b[0].runs.windows(2).all(|w| w[0].tokens <= w[1].tokens));
        assert!(runs.consistency_warnings().is_empty());
    }

    #[test]
    fn a_budget_with_two_runs_is_an_error_naming_its_lines() {
        let csv = "flops,params,tokens,loss\n1e19,1e8,1.6e10,3.1\n1e19,2e8,8.3e9,3.0\n";
        let e = Runs::parse(csv, "r.csv").expect("valid").budgets().expect_err("too few").to_string();
        assert!(
            e.contains("r.csv") && e.contains("1.000e19") && e.contains("lines 2, 3") && e.contains("at least 3"),
            "{e}"
        );
    }

    #[test]
    fn non_positive_values_are_rejected_with_their_line() {
        let e = Runs::parse("flops,params,tokens,loss\n1e19,1e8,0,3\n", "r.csv").expect_err("zero").to_string();
        assert!(e.starts_with("r.csv:2:") && e.contains("`tokens`") && e.contains("positive"), "{e}");
    }

    #[test]
    fn far_off_rows_are_flagged() {
        let csv = "flops,params,tokens,loss\n1e19,1e8,1.6e12,3.1\n";
        let w = Runs::parse(csv, "r.csv").expect("valid").consistency_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("r.csv:2:"), "{w:?}");
    }
}
