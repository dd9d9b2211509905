//! The four-parameter sigmoid from negative log-likelihood to accuracy (step 2 of the
//! paper's forecast) and its least-squares fit by Levenberg–Marquardt.

use super::stats;
use serde::Serialize;

/// accuracy(nll) = floor + (ceiling − floor) / (1 + exp(slope·(nll − mid))).
/// With slope > 0 accuracy falls from `ceiling` towards `floor` as the NLL grows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sigmoid {
    pub floor: f64,
    pub ceiling: f64,
    pub mid: f64,
    pub slope: f64,
}

/// Which parameters are held at the given values rather than fitted (e.g. a floor at
/// the chance level of a multiple-choice benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fixed {
    pub floor: Option<f64>,
    pub ceiling: Option<f64>,
}

impl Fixed {
    pub fn free_parameters(&self) -> usize {
        2 + usize::from(self.floor.is_none()) + usize::from(self.ceiling.is_none())
    }
}

impl Sigmoid {
    pub fn at(&self, nll: f64) -> f64 {
        self.floor + (self.ceiling - self.floor) * logistic(-self.slope * (nll - self.mid))
    }

    fn to_vec(self) -> [f64; 4] {
        [self.floor, self.ceiling, self.mid, self.slope]
    }

    fn from_vec(v: [f64; 4]) -> Sigmoid {
        Sigmoid { floor: v[0], ceiling: v[1], mid: v[2], slope: v[3] }
    }

    /// The derivatives of `at(nll)` by (floor, ceiling, mid, slope).
    fn gradient(&self, nll: f64) -> [f64; 4] {
        let g = logistic(-self.slope * (nll - self.mid));
        let spread = self.ceiling - self.floor;
        let dg = g * (1.0 - g);
        [1.0 - g, g, spread * dg * self.slope, -spread * dg * (nll - self.mid)]
    }
}

fn logistic(z: f64) -> f64 {
    // Written per sign so that exp never overflows.
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

fn sse(s: &Sigmoid, x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (b - s.at(*a)).powi(2)).sum()
}

/// Fits the sigmoid to (nll, accuracy) points by least squares. Several starting points
/// (slopes and midpoints spread over the data) guard against the flat regions of a
/// sigmoid where a single start can stall. `None` when there are no more points than
/// free parameters or no start converges to finite values.
pub fn fit_sigmoid(x: &[f64], y: &[f64], fixed: Fixed) -> Option<Sigmoid> {
    if x.len() != y.len() || x.len() <= fixed.free_parameters() {
        return None;
    }
    let (xmin, xmax) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let (ymin, ymax) = y.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = (xmax - xmin).max(1e-6);
    let mut best: Option<(f64, Sigmoid)> = None;
    for mid_frac in [0.25, 0.5, 0.75] {
        for slope_mult in [2.0, 6.0, 15.0] {
            let start = Sigmoid {
                floor: fixed.floor.unwrap_or(ymin),
                ceiling: fixed.ceiling.unwrap_or(ymax),
                mid: xmin + mid_frac * span,
                slope: slope_mult / span,
            };
            if let Some(s) = levenberg_marquardt(start, x, y, fixed) {
                let e = sse(&s, x, y);
                if best.as_ref().is_none_or(|(b, _)| e < *b) {
                    best = Some((e, s));
                }
            }
        }
    }
    best.map(|(_, s)| s)
}

/// One Levenberg–Marquardt run from `start` (fixed parameters taken from `fixed`); for
/// bootstrap resamples, whose best fit lies near the full-data fit.
pub fn refit(start: Sigmoid, x: &[f64], y: &[f64], fixed: Fixed) -> Option<Sigmoid> {
    if x.len() != y.len() || x.len() <= fixed.free_parameters() {
        return None;
    }
    let start =
        Sigmoid { floor: fixed.floor.unwrap_or(start.floor), ceiling: fixed.ceiling.unwrap_or(start.ceiling), ..start };
    levenberg_marquardt(start, x, y, fixed)
}

/// Levenberg–Marquardt with Marquardt's diagonal scaling on the free parameters.
fn levenberg_marquardt(start: Sigmoid, x: &[f64], y: &[f64], fixed: Fixed) -> Option<Sigmoid> {
    let free: Vec<usize> =
        (0..4).filter(|&i| !(i == 0 && fixed.floor.is_some() || i == 1 && fixed.ceiling.is_some())).collect();
    let k = free.len();
    let mut cur = start;
    let mut err = sse(&cur, x, y);
    let mut lambda = 1e-3;
    for _ in 0..500 {
        let mut jtj = vec![0.0; k * k];
        let mut jtr = vec![0.0; k];
        for (xi, yi) in x.iter().zip(y) {
            let g = cur.gradient(*xi);
            let r = yi - cur.at(*xi);
            for (a, &pa) in free.iter().enumerate() {
                jtr[a] += g[pa] * r;
                for (b, &pb) in free.iter().enumerate() {
                    jtj[a * k + b] += g[pa] * g[pb];
                }
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut m = jtj.clone();
            for a in 0..k {
                m[a * k + a] += lambda * jtj[a * k + a].max(1e-12);
            }
            let Some(step) = stats::solve(m, jtr.clone()) else {
                lambda *= 10.0;
                continue;
            };
            let mut v = cur.to_vec();
            for (a, &pa) in free.iter().enumerate() {
                v[pa] += step[a];
            }
            // Accuracies are fractions: keep both asymptotes in [0, 1] (a projected step),
            // or a free ceiling drifts above 1 on resamples that lack the top points.
            v[0] = v[0].clamp(0.0, 1.0);
            v[1] = v[1].clamp(0.0, 1.0);
            let cand = Sigmoid::from_vec(v);
            let e = sse(&cand, x, y);
            if e.is_finite() && e < err {
                let rel = (err - e) / err.max(1e-300);
                cur = cand;
                err = e;
                lambda = (lambda / 10.0).max(1e-12);
                improved = rel > 1e-12;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    cur.to_vec().iter().all(|v| v.is_finite()).then_some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_sigmoid() {
        let truth = Sigmoid { floor: 0.25, ceiling: 0.95, mid: 1.0, slope: 6.0 };
        let x: Vec<f64> = (0..15).map(|i| 0.5 + 0.07 * i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| truth.at(*v)).collect();
        let s = fit_sigmoid(&x, &y, Fixed::default()).expect("fits");
        for (a, b) in s.to_vec().iter().zip(truth.to_vec()) {
            assert!((a - b).abs() < 1e-5, "{s:?}");
        }
    }

    #[test]
    fn fixed_floor_is_kept() {
        let truth = Sigmoid { floor: 0.25, ceiling: 0.9, mid: 1.2, slope: 4.0 };
        let x = [0.6, 0.8, 1.0, 1.2, 1.4, 1.7];
        let y: Vec<f64> = x.iter().map(|v| truth.at(*v) + 0.003 * (v * 37.0).sin()).collect();
        let s = fit_sigmoid(&x, &y, Fixed { floor: Some(0.25), ceiling: None }).expect("fits");
        assert_eq!(s.floor, 0.25);
        assert!((s.mid - 1.2).abs() < 0.05, "{s:?}");
        assert!(fit_sigmoid(&x[..3], &y[..3], Fixed::default()).is_none());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let s = Sigmoid { floor: 0.2, ceiling: 0.9, mid: 1.1, slope: 5.0 };
        let g = s.gradient(0.9);
        for i in 0..4 {
            let mut v = s.to_vec();
            v[i] += 1e-6;
            let fd = (Sigmoid::from_vec(v).at(0.9) - s.at(0.9)) / 1e-6;
            assert!((fd - g[i]).abs() < 1e-5, "{i}: {fd} vs {}", g[i]);
        }
    }
}
