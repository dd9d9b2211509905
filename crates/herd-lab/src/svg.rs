//! A minimal SVG chart writer: panels with linear or log axes, tick labels, points,
//! lines, shaded bands and a legend.
//!
//! Hand-written instead of the `plotters` crate: three kinds of figures need a few
//! hundred lines of plain string building, while plotters (even SVG-only) adds a
//! dependency tree and build time to every build of the workspace.

use std::fmt::Write;

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// An axis: its label, scale and visible range.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    pub min: f64,
    pub max: f64,
}

/// Point markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Diamond,
    Square,
}

/// How a series is drawn.
#[derive(Debug, Clone)]
pub enum Style {
    Points {
        marker: Marker,
        radius: f64,
    },
    Line {
        width: f64,
        dashed: bool,
    },
    /// A shaded band between `points` (lower edge) and `upper`, sampled at the same x.
    Band {
        upper: Vec<(f64, f64)>,
    },
}

/// One thing drawn in a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend entry; None keeps it out of the legend.
    pub label: Option<String>,
    pub color: String,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
}

/// One chart: a title, two axes, its series and notes printed under it.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub notes: Vec<String>,
}

const PANEL_W: f64 = 800.0;
const PANEL_H: f64 = 500.0;
const TOP: f64 = 36.0;
// The plot area inside a panel; the legend sits to its right, notes below.
const PLOT_X: f64 = 78.0;
const PLOT_Y: f64 = 40.0;
const PLOT_W: f64 = 400.0;
const PLOT_H: f64 = 340.0;

impl Axis {
    /// An axis covering `values` with a small margin; non-positive values are ignored on
    /// a log axis.
    pub fn covering(label: &str, scale: Scale, values: impl IntoIterator<Item = f64>) -> Axis {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for v in values.into_iter().filter(|v| v.is_finite() && (scale == Scale::Linear || *v > 0.0)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = if scale == Scale::Log { (1.0, 10.0) } else { (0.0, 1.0) };
        }
        let (min, max) = match scale {
            Scale::Log => {
                let (a, b) = (lo.log10(), hi.log10());
                let pad = ((b - a) * 0.05).max(0.05);
                (10f64.powf(a - pad), 10f64.powf(b + pad))
            }
            Scale::Linear => {
                let pad = ((hi - lo) * 0.06).max(hi.abs().max(1e-9) * 0.01);
                (lo - pad, hi + pad)
            }
        };
        Axis { label: label.to_string(), scale, min, max }
    }

    /// The position of `v` along the axis, 0 at `min` and 1 at `max`.
    fn frac(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Log => (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10()),
            Scale::Linear => (v - self.min) / (self.max - self.min),
        }
    }

    /// Tick values with their labels (as SVG text content); minor ticks have none.
    fn ticks(&self) -> Vec<(f64, Option<String>)> {
        match self.scale {
            Scale::Log => log_ticks(self.min, self.max),
            Scale::Linear => linear_ticks(self.min, self.max),
        }
    }
}

fn log_ticks(min: f64, max: f64) -> Vec<(f64, Option<String>)> {
    let lo = min.log10().floor() as i32;
    let hi = max.log10().ceil() as i32;
    let decades = (hi - lo).max(1);
    let step = ((decades as f64) / 7.0).ceil().max(1.0) as i32;
    let mut out = Vec::new();
    for k in lo..=hi {
        let v = 10f64.powi(k);
        let label = ((k - lo) % step == 0).then(|| format!("10<tspan dy=\"-7\" font-size=\"10\">{k}</tspan>"));
        out.push((v, label));
        if decades <= 6 {
            for m in 2..10 {
                // Under two decades the 2× and 5× ticks are labelled too, or a short
                // axis would show one number.
                let lab = (decades <= 2 && (m == 2 || m == 5))
                    .then(|| format!("{m}·10<tspan dy=\"-7\" font-size=\"10\">{k}</tspan>"));
                out.push((m as f64 * v, lab));
            }
        }
    }
    out.into_iter().filter(|(v, _)| *v >= min * (1.0 - 1e-9) && *v <= max * (1.0 + 1e-9)).collect()
}

fn linear_ticks(min: f64, max: f64) -> Vec<(f64, Option<String>)> {
    let raw = (max - min) / 6.0;
    if raw <= 0.0 || !raw.is_finite() {
        return vec![(min, Some(fmt_num(min)))];
    }
    let e = raw.log10().floor() as i32;
    // The round step m·10^e (m = 1, 2, 5 or 10) nearest to a sixth of the range, in ratio.
    let m = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .min_by(|a: &f64, b: &f64| {
            (a * 10f64.powi(e) / raw).ln().abs().total_cmp(&(b * 10f64.powi(e) / raw).ln().abs())
        })
        .unwrap_or(1.0);
    // Tick k sits at k·m·10^e, computed as an integer over a power of ten so that labels
    // read 2.4 rather than 2.4000000000000004.
    let at = |k: f64| if e < 0 { k * m / 10f64.powi(-e) } else { k * m * 10f64.powi(e) };
    let step = at(1.0);
    let first = (min / step).ceil();
    let last = (max / step + 1e-9).floor();
    let mut out = Vec::new();
    let mut k = first;
    while k <= last {
        out.push((at(k), Some(fmt_num(at(k)))));
        k += 1.0;
    }
    out
}

/// A short decimal or scientific rendering of a number for labels.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return short_sci(v);
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `6e18`, `1.25e19`: scientific notation without trailing zeros.
pub fn short_sci(v: f64) -> String {
    let s = format!("{v:.3e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
        None => s,
    }
}

/// Escapes text for SVG content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Colour `i` of `n` along a viridis-like ramp (dark blue to yellow), so budgets read
/// from small to large the way the paper's figures colour them.
pub fn ramp(i: usize, n: usize) -> String {
    const STOPS: [(f64, f64, f64); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (220.0, 200.0, 30.0)];
    let t = if n <= 1 { 0.0 } else { i as f64 / (n - 1) as f64 } * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Renders the panels side by side under a figure title.
pub fn render(title: &str, panels: &[Panel]) -> String {
    let w = PANEL_W * panels.len().max(1) as f64;
    let h = TOP + PANEL_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ =
        writeln!(s, "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>", w / 2.0, esc(title));
    for (i, p) in panels.iter().enumerate() {
        panel(&mut s, p, i, PANEL_W * i as f64, TOP);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, p: &Panel, idx: usize, ox: f64, oy: f64) {
    let (x0, y0) = (ox + PLOT_X, oy + PLOT_Y);
    let px = |v: f64| x0 + p.x.frac(v) * PLOT_W;
    let py = |v: f64| y0 + (1.0 - p.y.frac(v)) * PLOT_H;
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
        x0 + PLOT_W / 2.0,
        oy + 22.0,
        esc(&p.title)
    );
    let _ = writeln!(
        s,
        "<clipPath id=\"plot{idx}\"><rect x=\"{x0}\" y=\"{y0}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\"/></clipPath>"
    );
    axes(s, p, x0, y0);
    let _ = writeln!(s, "<g clip-path=\"url(#plot{idx})\">");
    for series in &p.series {
        draw_series(s, series, &px, &py);
    }
    s.push_str("</g>\n");
    legend(s, p, x0 + PLOT_W + 14.0, y0 + 6.0);
    for (k, note) in p.notes.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{x0}\" y=\"{}\" font-size=\"12\">{}</text>",
            y0 + PLOT_H + 62.0 + 16.0 * k as f64,
            esc(note)
        );
    }
}

fn axes(s: &mut String, p: &Panel, x0: f64, y0: f64) {
    let _ = writeln!(
        s,
        "<rect x=\"{x0}\" y=\"{y0}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\" fill=\"none\" stroke=\"#333\"/>"
    );
    for (v, label) in p.x.ticks() {
        let x = x0 + p.x.frac(v) * PLOT_W;
        let len = if label.is_some() { 6.0 } else { 3.0 };
        let yb = y0 + PLOT_H;
        if label.is_some() {
            let _ = writeln!(s, "<line x1=\"{x:.2}\" y1=\"{y0}\" x2=\"{x:.2}\" y2=\"{yb}\" stroke=\"#eee\"/>");
        }
        let _ = writeln!(s, "<line x1=\"{x:.2}\" y1=\"{yb}\" x2=\"{x:.2}\" y2=\"{:.2}\" stroke=\"#333\"/>", yb - len);
        if let Some(l) = label {
            let _ = writeln!(s, "<text x=\"{x:.2}\" y=\"{:.2}\" text-anchor=\"middle\">{l}</text>", yb + 20.0);
        }
    }
    for (v, label) in p.y.ticks() {
        let y = y0 + (1.0 - p.y.frac(v)) * PLOT_H;
        let len = if label.is_some() { 6.0 } else { 3.0 };
        if label.is_some() {
            let _ =
                writeln!(s, "<line x1=\"{x0}\" y1=\"{y:.2}\" x2=\"{}\" y2=\"{y:.2}\" stroke=\"#eee\"/>", x0 + PLOT_W);
        }
        let _ = writeln!(s, "<line x1=\"{x0}\" y1=\"{y:.2}\" x2=\"{:.2}\" y2=\"{y:.2}\" stroke=\"#333\"/>", x0 + len);
        if let Some(l) = label {
            let _ = writeln!(s, "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{l}</text>", x0 - 6.0, y + 4.0);
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        x0 + PLOT_W / 2.0,
        y0 + PLOT_H + 42.0,
        esc(&p.x.label)
    );
    let (lx, ly) = (x0 - 58.0, y0 + PLOT_H / 2.0);
    let _ = writeln!(
        s,
        "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\" transform=\"rotate(-90 {lx} {ly})\">{}</text>",
        esc(&p.y.label)
    );
}

fn draw_series(s: &mut String, series: &Series, px: &dyn Fn(f64) -> f64, py: &dyn Fn(f64) -> f64) {
    let ok = |(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let c = esc(&series.color);
    match &series.style {
        Style::Points { marker, radius } => {
            for (x, y) in series.points.iter().filter(|p| ok(p)) {
                marker_svg(s, *marker, px(*x), py(*y), *radius, &c);
            }
        }
        Style::Line { width, dashed } => {
            let pts = path_points(series.points.iter().filter(|p| ok(p)).map(|(x, y)| (px(*x), py(*y))));
            let dash = if *dashed { " stroke-dasharray=\"6 4\"" } else { "" };
            let _ =
                writeln!(s, "<polyline points=\"{pts}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"{width}\"{dash}/>");
        }
        Style::Band { upper } => {
            let lower = series.points.iter().filter(|p| ok(p)).map(|(x, y)| (px(*x), py(*y)));
            let upper = upper.iter().rev().filter(|p| ok(p)).map(|(x, y)| (px(*x), py(*y)));
            let pts = path_points(lower.chain(upper));
            let _ = writeln!(s, "<polygon points=\"{pts}\" fill=\"{c}\" fill-opacity=\"0.18\" stroke=\"none\"/>");
        }
    }
}

fn marker_svg(s: &mut String, m: Marker, x: f64, y: f64, r: f64, c: &str) {
    let _ = match m {
        Marker::Circle => writeln!(
            s,
            "<circle cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"{r}\" fill=\"{c}\" stroke=\"white\" stroke-width=\"0.8\"/>"
        ),
        Marker::Square => writeln!(
            s,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{}\" height=\"{}\" fill=\"{c}\"/>",
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        Marker::Diamond => writeln!(
            s,
            "<polygon points=\"{:.2},{y:.2} {x:.2},{:.2} {:.2},{y:.2} {x:.2},{:.2}\" fill=\"{c}\" stroke=\"black\" stroke-width=\"0.8\"/>",
            x - r * 1.3,
            y - r * 1.3,
            x + r * 1.3,
            y + r * 1.3
        ),
    };
}

fn path_points(it: impl Iterator<Item = (f64, f64)>) -> String {
    it.map(|(x, y)| format!("{x:.2},{y:.2}")).collect::<Vec<_>>().join(" ")
}

fn legend(s: &mut String, p: &Panel, x: f64, y: f64) {
    let entries = p.series.iter().filter_map(|se| se.label.as_ref().map(|l| (l, se)));
    for (k, (label, se)) in entries.enumerate() {
        let ly = y + 18.0 * k as f64;
        let c = esc(&se.color);
        match &se.style {
            Style::Points { marker, .. } => marker_svg(s, *marker, x + 9.0, ly, 4.0, &c),
            Style::Line { width, dashed } => {
                let dash = if *dashed { " stroke-dasharray=\"6 4\"" } else { "" };
                let _ = writeln!(
                    s,
                    "<line x1=\"{x}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"{width}\"{dash}/>",
                    x + 18.0
                );
            }
            Style::Band { .. } => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{x}\" y=\"{}\" width=\"18\" height=\"10\" fill=\"{c}\" fill-opacity=\"0.25\"/>",
                    ly - 5.0
                );
            }
        }
        let _ = writeln!(s, "<text x=\"{}\" y=\"{:.2}\" font-size=\"11\">{}</text>", x + 24.0, ly + 4.0, esc(label));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_labels_decades_with_superscripts() {
        let t = log_ticks(5e18, 2e22);
        let labelled: Vec<f64> = t.iter().filter(|(_, l)| l.is_some()).map(|(v, _)| *v).collect();
        assert_eq!(labelled, vec![1e19, 1e20, 1e21, 1e22]);
        assert!(t.iter().any(|(v, l)| (*v - 2e19).abs() < 1e10 && l.is_none()));
        let short = log_ticks(1.5e19, 8e19);
        assert!(short.iter().any(|(v, l)| (*v - 5e19).abs() < 1e10 && l.is_some()), "{short:?}");
    }

    #[test]
    fn linear_ticks_are_round_numbers() {
        let t: Vec<f64> = linear_ticks(2.05, 3.42).into_iter().map(|(v, _)| v).collect();
        assert_eq!(t, vec![2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.4]);
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(short_sci(6e18), "6e18");
        assert_eq!(short_sci(1.25e19), "1.25e19");
    }

    #[test]
    fn rendering_escapes_text_and_closes_the_document() {
        let p = Panel {
            title: "a < b & c".into(),
            x: Axis::covering("x", Scale::Log, [1e19, 1e21]),
            y: Axis::covering("y", Scale::Linear, [1.0, 2.0]),
            series: vec![Series {
                label: Some("pts".into()),
                color: ramp(0, 3),
                style: Style::Points { marker: Marker::Circle, radius: 3.0 },
                points: vec![(1e20, 1.5)],
            }],
            notes: vec!["note".into()],
        };
        let svg = render("t", &[p]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt; b &amp; c") && svg.contains("<circle"));
        assert_eq!(ramp(0, 2), "#440154");
    }
}
