//! The threshold sweep as an SVG figure: contaminated share, estimated gain and subset scores against the threshold.

use super::BenchSummary;
use crate::svg::{Axis, Marker, Panel, Scale, Series, Style, ramp, render};

/// One figure for all benchmarks: the contaminated share per threshold; with
/// results, the estimated performance gain (points where significant, a band for the
/// 95% interval) and, for a single benchmark, the scores of the subsets.
pub fn sweep_svg(benches: &[BenchSummary], title: &str) -> String {
    let k = benches.len();
    let x = || Axis {
        label: "threshold T (fraction of contaminated tokens)".into(),
        scale: Scale::Linear,
        min: 0.0,
        max: 1.02,
    };
    let mut share = Panel {
        title: "examples contaminated at T".into(),
        x: x(),
        y: Axis { label: "contaminated (%)".into(), scale: Scale::Linear, min: 0.0, max: 102.0 },
        series: Vec::new(),
        notes: vec!["an example is contaminated when ≥ T of its tokens lie in a corpus n-gram".into()],
    };
    for (i, b) in benches.iter().enumerate() {
        share.series.push(line(Some(b.name.clone()), ramp(i, k), b.share_sweep.clone()));
    }
    let mut panels = vec![share];
    let scored: Vec<(usize, &BenchSummary)> = benches.iter().enumerate().filter(|(_, b)| b.results.is_some()).collect();
    if !scored.is_empty() {
        panels.push(gain_panel(&scored, k, x()));
    }
    if let [(_, b)] = scored[..] {
        panels.push(score_panel(b, x()));
    }
    render(title, &panels)
}

fn line(label: Option<String>, color: String, points: Vec<(f64, f64)>) -> Series {
    Series { label, color, style: Style::Line { width: 2.0, dashed: false }, points }
}

fn gain_panel(scored: &[(usize, &BenchSummary)], k: usize, x: Axis) -> Panel {
    let mut series = Vec::new();
    let mut ys = vec![0.0];
    for &(i, b) in scored {
        let Some(r) = &b.results else { continue };
        let pts = |f: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
            r.sweep.iter().filter_map(|s| Some((s.threshold, f(s.gain?, s.gain_ci95?) * 100.0))).collect()
        };
        let (lo, hi, mid) = (pts(&|g, w| g - w), pts(&|g, w| g + w), pts(&|g, _| g));
        ys.extend(lo.iter().chain(&hi).map(|p| p.1));
        let sig: Vec<(f64, f64)> =
            r.sweep.iter().filter(|s| s.significant).filter_map(|s| Some((s.threshold, s.gain? * 100.0))).collect();
        series.push(Series {
            label: None,
            color: format!("{}33", ramp(i, k)),
            style: Style::Band { upper: hi },
            points: lo,
        });
        series.push(line(Some(b.name.clone()), ramp(i, k), mid));
        series.push(Series {
            label: None,
            color: ramp(i, k),
            style: Style::Points { marker: Marker::Circle, radius: 4.0 },
            points: sig,
        });
    }
    Panel {
        title: "estimated performance gain".into(),
        x,
        y: Axis::covering("score(full) − score(clean) (points)", Scale::Linear, ys),
        series,
        notes: vec!["band: 95% interval; dots: significant (both subsets large enough)".into()],
    }
}

fn score_panel(b: &BenchSummary, x: Axis) -> Panel {
    let mut series = Vec::new();
    let mut ys = Vec::new();
    if let Some(r) = &b.results {
        let get = |f: &dyn Fn(&super::SplitRow) -> Option<f64>| -> Vec<(f64, f64)> {
            r.sweep.iter().filter_map(|s| Some((s.threshold, f(s)? * 100.0))).collect()
        };
        for (label, color, pts) in [
            ("full", "#333333", get(&|s| Some(s.score_full))),
            ("clean", "#1f77b4", get(&|s| s.score_clean)),
            ("contaminated", "#d62728", get(&|s| s.score_contaminated)),
        ] {
            ys.extend(pts.iter().map(|p| p.1));
            series.push(line(Some(label.into()), color.into(), pts));
        }
    }
    Panel {
        title: format!("{}: score by subset", b.name),
        x,
        y: Axis::covering("score (%)", Scale::Linear, ys),
        series,
        notes: Vec::new(),
    }
}
