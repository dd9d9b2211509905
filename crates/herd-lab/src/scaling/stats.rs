//! The small numerical kernels behind the fits: dense solves, least-squares lines and
//! parabolas (with leverages, for the residual bootstrap), and percentiles.

/// Solves the n×n system `a·x = b` (row-major `a`) by Gaussian elimination with partial
/// pivoting. `None` when the matrix is singular to working precision.
pub fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    if a.len() != n * n {
        return None;
    }
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        // A pivot this small relative to the matrix means the columns are dependent (e.g.
        // all runs of a budget at one token count): report it instead of dividing by noise.
        if a[pivot * n + col].abs() <= scale * 1e-13 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(col * n + k, pivot * n + k);
            }
            b.swap(col, pivot);
        }
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// An ordinary least-squares line `y = intercept + slope·x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub intercept: f64,
    pub slope: f64,
    /// Coefficient of determination of the fit.
    pub r2: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Fits a line by least squares; `None` with fewer than two distinct x.
pub fn fit_line(x: &[f64], y: &[f64]) -> Option<Line> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let mx = mean(x);
    let my = mean(y);
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    if sxx <= f64::EPSILON * mx.abs().max(1.0).powi(2) * n as f64 {
        return None;
    }
    let slope = sxy / sxx;
    let sse: f64 = x.iter().zip(y).map(|(a, b)| (b - my - slope * (a - mx)).powi(2)).sum();
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
    Some(Line { intercept: my - slope * mx, slope, r2 })
}

/// A least-squares parabola `y = c0 + c1·x + c2·x²`, fitted in centred and scaled
/// coordinates `u = (x − center)/scale` so that x = ln(tokens) ≈ 25 stays well conditioned.
#[derive(Debug, Clone, PartialEq)]
pub struct Parabola {
    center: f64,
    scale: f64,
    /// Coefficients in u: y = b[0] + b[1]·u + b[2]·u².
    b: [f64; 3],
    /// Fitted values at the input points.
    pub fitted: Vec<f64>,
    /// Leverages h_ii of the input points (diagonal of the hat matrix).
    pub leverage: Vec<f64>,
}

impl Parabola {
    /// Coefficients in the original x: `[c0, c1, c2]`.
    pub fn coefficients(&self) -> [f64; 3] {
        let (m, s, b) = (self.center, self.scale, self.b);
        [b[0] - b[1] * m / s + b[2] * m * m / (s * s), b[1] / s - 2.0 * b[2] * m / (s * s), b[2] / (s * s)]
    }

    pub fn at(&self, x: f64) -> f64 {
        let u = (x - self.center) / self.scale;
        self.b[0] + self.b[1] * u + self.b[2] * u * u
    }

    /// The vertex `(x, y)`; `None` unless the parabola opens upward (a true minimum).
    pub fn minimum(&self) -> Option<(f64, f64)> {
        let [b0, b1, b2] = self.b;
        if b2 <= 0.0 || !b2.is_finite() {
            return None;
        }
        let u = -b1 / (2.0 * b2);
        Some((self.center + self.scale * u, b0 - b1 * b1 / (4.0 * b2)))
    }
}

/// Fits a parabola by least squares; `None` with fewer than three distinct x.
pub fn fit_parabola(x: &[f64], y: &[f64]) -> Option<Parabola> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let center = mean(x);
    let scale = (x.iter().map(|v| (v - center).powi(2)).sum::<f64>() / n as f64).sqrt();
    if scale <= 1e-12 * center.abs().max(1.0) {
        return None;
    }
    let u: Vec<f64> = x.iter().map(|v| (v - center) / scale).collect();
    // Normal equations XᵀX·b = Xᵀy with rows (1, u, u²); fine in scaled coordinates.
    let mut xtx = vec![0.0; 9];
    let mut xty = vec![0.0; 3];
    for (ui, yi) in u.iter().zip(y) {
        let row = [1.0, *ui, ui * ui];
        for r in 0..3 {
            xty[r] += row[r] * yi;
            for c in 0..3 {
                xtx[r * 3 + c] += row[r] * row[c];
            }
        }
    }
    let b = solve(xtx.clone(), xty)?;
    let inv = inverse3(&xtx)?;
    let mut leverage = Vec::with_capacity(n);
    let mut fitted = Vec::with_capacity(n);
    for ui in &u {
        let row = [1.0, *ui, ui * ui];
        let mut h = 0.0;
        for r in 0..3 {
            for c in 0..3 {
                h += row[r] * inv[r * 3 + c] * row[c];
            }
        }
        leverage.push(h);
        fitted.push(b[0] + b[1] * ui + b[2] * ui * ui);
    }
    Some(Parabola { center, scale, b: [b[0], b[1], b[2]], fitted, leverage })
}

fn inverse3(m: &[f64]) -> Option<Vec<f64>> {
    let mut inv = vec![0.0; 9];
    for c in 0..3 {
        let mut e = vec![0.0; 3];
        e[c] = 1.0;
        let col = solve(m.to_vec(), e)?;
        for r in 0..3 {
            inv[r * 3 + c] = col[r];
        }
    }
    Some(inv)
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// The q-quantile (0 ≤ q ≤ 1) of `sorted` by linear interpolation between order
/// statistics (numpy's default), NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The central `level` percentile interval of the samples (e.g. level 0.95 gives the
/// 2.5th and 97.5th percentiles).
pub fn percentile_interval(samples: &[f64], level: f64) -> Option<[f64; 2]> {
    let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if s.len() < 2 {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some([quantile(&s, tail), quantile(&s, 1.0 - tail)])
}

/// The sample covariance of two equally long series.
pub fn covariance(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    if n < 2 || b.len() != n {
        return f64::NAN;
    }
    let (ma, mb) = (mean(a), mean(b));
    a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (n - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parabola_through_exact_points_has_the_true_vertex() {
        // y = 2 + 0.5·(x − 25)², sampled around x = 25 as ln(tokens) would be.
        let x: Vec<f64> = (0..7).map(|i| 23.5 + 0.5 * i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 + 0.5 * (v - 25.0).powi(2)).collect();
        let p = fit_parabola(&x, &y).expect("fits");
        let (xm, ym) = p.minimum().expect("opens upward");
        assert!((xm - 25.0).abs() < 1e-9 && (ym - 2.0).abs() < 1e-9, "{xm} {ym}");
        let c = p.coefficients();
        assert!((c[2] - 0.5).abs() < 1e-9 && (c[1] + 25.0).abs() < 1e-7, "{c:?}");
        // The leverages of a 3-parameter fit sum to 3.
        assert!((p.leverage.iter().sum::<f64>() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(fit_parabola(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(fit_parabola(&[1.0, 2.0], &[1.0, 2.0]).is_none());
        let down = fit_parabola(&[0.0, 1.0, 2.0], &[0.0, 1.0, 0.0]).expect("fits");
        assert!(down.minimum().is_none());
        assert!(fit_line(&[3.0, 3.0], &[1.0, 2.0]).is_none());
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0]).is_none());
    }

    #[test]
    fn line_and_quantiles() {
        let l = fit_line(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0]).expect("fits");
        assert!((l.slope - 2.0).abs() < 1e-12 && (l.intercept - 1.0).abs() < 1e-12 && (l.r2 - 1.0).abs() < 1e-12);
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.125), 1.5);
        assert_eq!(percentile_interval(&s, 0.5), Some([2.0, 4.0]));
    }
}
