//! The figures of `herd scaling`, after the Llama 3 paper: IsoFLOP curves (Figure 2),
//! the compute-optimal power law (Figure 3) and the two-step forecast (Figure 4).

use super::fit::FitReport;
use super::forecast::{ForecastReport, ForecastRow, Role};
use super::{Budget, Runs};
use crate::LabError;
use crate::svg::{Axis, Marker, Panel, Scale, Series, Style, ramp, render, short_sci};

/// Figure 2: validation loss against training tokens, one parabola per budget, with
/// each parabola's minimum marked.
pub fn isoflop_svg(runs: &Runs, report: &FitReport) -> Result<String, LabError> {
    let budgets: Vec<Budget> = runs.budgets()?;
    let n = report.budgets.len();
    let mut series = Vec::new();
    for (i, (b, f)) in budgets.iter().zip(&report.budgets).enumerate() {
        let color = ramp(i, n);
        let (lo, hi) = ((f.tokens_range[0] / 1.15).ln(), (f.tokens_range[1] * 1.15).ln());
        let curve = (0..=80)
            .map(|k| {
                let x = lo + (hi - lo) * k as f64 / 80.0;
                (x.exp(), f.poly[0] + f.poly[1] * x + f.poly[2] * x * x)
            })
            .collect();
        series.push(line(None, &color, curve, 1.6, false));
        let pts = b.runs.iter().map(|r| (r.tokens, r.loss)).collect();
        series.push(points(Some(format!("{} FLOPs", short_sci(f.flops))), &color, pts, Marker::Circle, 3.5));
        series.push(points(None, &color, vec![(f.tokens_opt, f.loss_opt)], Marker::Diamond, 4.5));
    }
    series.push(points(Some("parabola minimum".into()), "#888888", Vec::new(), Marker::Diamond, 4.5));
    let x = Axis::covering("Training tokens", Scale::Log, runs.runs.iter().map(|r| r.tokens));
    let y = Axis::covering("Validation loss", Scale::Linear, runs.runs.iter().map(|r| r.loss));
    let panel = Panel {
        title: "IsoFLOP curves".into(),
        x,
        y,
        series,
        notes: vec![
            "Each curve: loss = c0 + c1·ln(D) + c2·ln(D)², fitted to the runs of one compute budget;".into(),
            "its minimum (diamond) is that budget's compute-optimal token count D.".into(),
            "Cf. the Llama 3 paper, Figure 2.".into(),
        ],
    };
    Ok(render(&format!("herd scaling fit: {}", runs.path), &[panel]))
}

/// Figure 3: compute-optimal tokens against compute, the fitted law, its bootstrap band
/// and the extrapolation to the target budget.
pub fn powerlaw_svg(report: &FitReport, source: &str) -> String {
    let law = report.law();
    let c_min = report.budgets.iter().map(|b| b.flops).fold(f64::INFINITY, f64::min) / 2.0;
    let c_data_max = report.budgets.iter().map(|b| b.flops).fold(0.0, f64::max);
    let c_max = report.target.as_ref().map_or(c_data_max * 10.0, |t| t.point.flops.max(c_data_max)) * 2.0;
    let grid: Vec<f64> = (0..=60).map(|k| (c_min.ln() + (c_max / c_min).ln() * k as f64 / 60.0).exp()).collect();
    let mut series = Vec::new();
    let band: Vec<(f64, [f64; 2])> =
        grid.iter().filter_map(|c| report.ln_tokens_interval(*c).map(|i| (*c, i))).collect();
    if !band.is_empty() {
        let label = format!("{:.0}% bootstrap band", report.ci_level * 100.0);
        let lower = band.iter().map(|(c, i)| (*c, i[0].exp())).collect();
        let upper = band.iter().map(|(c, i)| (*c, i[1].exp())).collect();
        series.push(Series {
            label: Some(label),
            color: "#1f77b4".into(),
            style: Style::Band { upper },
            points: lower,
        });
    }
    let fit_label = format!("N*(C) = {:.4}·C^{:.4}", law.a, law.alpha);
    series.push(line(Some(fit_label), "#1f77b4", grid.iter().map(|c| (*c, law.tokens(*c))).collect(), 1.8, false));
    let n = report.budgets.len();
    for (i, b) in report.budgets.iter().enumerate() {
        series.push(points(None, &ramp(i, n), vec![(b.flops, b.tokens_opt)], Marker::Circle, 5.0));
    }
    series.push(points(Some("IsoFLOP minima".into()), &ramp(n / 2, n), Vec::new(), Marker::Circle, 5.0));
    let mut notes = vec![interval_note("alpha", report.alpha, report.alpha_ci, report.ci_level)];
    notes.push(interval_note("A", report.a, report.a_ci, report.ci_level));
    if let Some(t) = &report.target {
        let label = format!(
            "{} FLOPs: {} tokens, {} params",
            short_sci(t.point.flops),
            count(t.point.tokens),
            count(t.point.params)
        );
        series.push(points(Some(label), "#d62728", vec![(t.point.flops, t.point.tokens)], Marker::Diamond, 6.0));
        if let (Some(tc), Some(pc)) = (t.tokens_ci, t.params_ci) {
            notes.push(format!(
                "at {}: tokens in [{}, {}], params (C/6D) in [{}, {}]",
                short_sci(t.point.flops),
                count(tc[0]),
                count(tc[1]),
                count(pc[0]),
                count(pc[1])
            ));
        }
    }
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect::<Vec<_>>();
    let panel = Panel {
        title: "Compute-optimal training tokens".into(),
        x: Axis::covering("Compute (FLOPs)", Scale::Log, grid.iter().copied()),
        y: Axis::covering("Training tokens", Scale::Log, ys),
        series,
        notes,
    };
    render(&format!("herd scaling fit: {source} (cf. Llama 3 paper, Figure 3)"), &[panel])
}

/// Figure 4: NLL against compute (step 1) beside accuracy against NLL (step 2).
pub fn forecast_svg(rows: &[ForecastRow], r: &ForecastReport, source: &str) -> String {
    let tagged: Vec<(&ForecastRow, Role)> = rows.iter().zip(r.roles.iter().copied()).collect();
    let panels = [step1_panel(&tagged, r), step2_panel(&tagged, r)];
    render(&format!("herd scaling forecast: {source} (cf. Llama 3 paper, Figure 4)"), &panels)
}

const TARGET_COLOR: &str = "#1f77b4";
const HELD_OUT_COLOR: &str = "#d62728";

fn step1_panel(rows: &[(&ForecastRow, Role)], r: &ForecastReport) -> Panel {
    let with_role = |role: Role| -> Vec<(f64, f64)> {
        rows.iter().filter(|(_, ro)| *ro == role).filter_map(|(x, _)| Some((x.flops?, x.nll))).collect()
    };
    let (fitted, held) = (with_role(Role::Fit), with_role(Role::HeldOut));
    let x = Axis::covering(
        "Pre-training compute (FLOPs)",
        Scale::Log,
        fitted.iter().chain(&held).map(|p| p.0).chain([r.target_flops]),
    );
    let grid: Vec<f64> = (0..=40).map(|k| (x.min.ln() + (x.max / x.min).ln() * k as f64 / 40.0).exp()).collect();
    let fit_line = grid.iter().map(|c| (*c, r.step1.nll_at(*c))).collect();
    let mut series = vec![line(Some("step 1: linear in log FLOPs".into()), TARGET_COLOR, fit_line, 1.6, false)];
    series.push(points(Some(format!("{} (fitted)", r.family)), TARGET_COLOR, fitted, Marker::Circle, 4.0));
    series.push(points(Some("forecast".into()), "#000000", vec![(r.target_flops, r.nll)], Marker::Diamond, 6.0));
    // Held-out models go last so that they are drawn over the forecast they test.
    if !held.is_empty() {
        series.push(points(Some("held out".into()), HELD_OUT_COLOR, held, Marker::Square, 4.0));
    }
    let ys: Vec<f64> =
        series.iter().flat_map(|s| s.points.iter().filter(|p| p.0 >= x.min && p.0 <= x.max).map(|p| p.1)).collect();
    Panel {
        title: "Step 1: NLL of the correct answer".into(),
        x,
        y: Axis::covering("Normalized NLL of the correct answer", Scale::Linear, ys),
        series,
        notes: vec![format!(
            "nll = {:.4} + ({:.4})·log10(C), R² = {:.4}",
            r.step1.intercept, r.step1.slope, r.step1.r2
        )],
    }
}

fn step2_panel(rows: &[(&ForecastRow, Role)], r: &ForecastReport) -> Panel {
    const OTHER: [&str; 5] = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
    let x = Axis::covering(
        "Normalized NLL of the correct answer",
        Scale::Linear,
        rows.iter().map(|(x, _)| x.nll).chain([r.nll]),
    );
    let grid: Vec<f64> = (0..=80).map(|k| x.min + (x.max - x.min) * k as f64 / 80.0).collect();
    let curve = grid.iter().map(|v| (*v, r.step2.at(*v))).collect();
    let mut series = vec![line(Some("step 2: sigmoid".into()), "#555555", curve, 1.6, false)];
    let acc = |keep: &dyn Fn(&ForecastRow, Role) -> bool| -> Vec<(f64, f64)> {
        rows.iter().filter(|(x, ro)| keep(x, *ro)).filter_map(|(x, _)| Some((x.nll, x.accuracy?))).collect()
    };
    series.push(points(Some(r.family.clone()), TARGET_COLOR, acc(&|_, ro| ro == Role::Fit), Marker::Circle, 4.0));
    let mut others: Vec<&str> =
        rows.iter().filter(|(_, ro)| *ro == Role::Other).map(|(x, _)| x.family.as_str()).collect();
    others.sort_unstable();
    others.dedup();
    for (i, fam) in others.iter().enumerate() {
        let pts = acc(&|x, _| x.family == *fam);
        series.push(points(Some(fam.to_string()), OTHER[i % OTHER.len()], pts, Marker::Circle, 4.0));
    }
    let label = format!("forecast at {}", short_sci(r.target_flops));
    series.push(points(Some(label), "#000000", vec![(r.nll, r.accuracy)], Marker::Diamond, 6.0));
    let held = acc(&|_, ro| ro == Role::HeldOut);
    if !held.is_empty() {
        series.push(points(Some("held out".into()), HELD_OUT_COLOR, held, Marker::Square, 4.0));
    }
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
    let mut notes = vec![interval_note("accuracy", r.accuracy, r.accuracy_ci, r.ci_level)];
    notes.push(format!(
        "accuracy = {:.3} + ({:.3} − {:.3}) / (1 + exp({:.3}·(nll − {:.3})))",
        r.step2.floor, r.step2.ceiling, r.step2.floor, r.step2.slope, r.step2.mid
    ));
    Panel { title: "Step 2: accuracy".into(), x, y: Axis::covering("Accuracy", Scale::Linear, ys), series, notes }
}

fn points(label: Option<String>, color: &str, pts: Vec<(f64, f64)>, marker: Marker, radius: f64) -> Series {
    Series { label, color: color.into(), style: Style::Points { marker, radius }, points: pts }
}

fn line(label: Option<String>, color: &str, pts: Vec<(f64, f64)>, width: f64, dashed: bool) -> Series {
    Series { label, color: color.into(), style: Style::Line { width, dashed }, points: pts }
}

fn interval_note(name: &str, v: f64, ci: Option<[f64; 2]>, level: f64) -> String {
    match ci {
        Some([lo, hi]) => format!("{name} = {v:.4} ({:.0}% CI {lo:.4} to {hi:.4})", level * 100.0),
        None => format!("{name} = {v:.4}   (no interval)"),
    }
}

/// A count with a K/M/B/T suffix: `16.29T`, `388.7B`.
pub fn count(v: f64) -> String {
    let (div, suffix) = match v.abs() {
        a if a >= 1e12 => (1e12, "T"),
        a if a >= 1e9 => (1e9, "B"),
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "K"),
        _ => (1.0, ""),
    };
    let x = v / div;
    let digits = if x.abs() >= 100.0 { 1 } else { 2 };
    format!("{x:.digits$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_like_the_paper() {
        assert_eq!(count(1.6294e13), "16.29T");
        assert_eq!(count(3.887e11), "388.7B");
        assert_eq!(count(7.0e7), "70.00M");
    }
}
