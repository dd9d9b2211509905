//! `herd scaling`: fit, apply and forecast with compute-optimal scaling laws, as in the
//! Llama 3 paper (§3.2.1, Figures 2–4). The science is in `herd_lab::scaling`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use herd_lab::scaling::fit::FitReport;
use herd_lab::scaling::forecast::ForecastReport;
use herd_lab::scaling::law::tokens_interval;
use herd_lab::scaling::plot::{count, forecast_svg, isoflop_svg, powerlaw_svg};
use herd_lab::scaling::sigmoid::Fixed;
use herd_lab::scaling::{FitOptions, ForecastOptions, PowerLaw, Runs, fit, forecast, read_forecast};
use herd_lab::svg::short_sci;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ScalingArgs {
    #[command(subcommand)]
    pub cmd: ScalingCmd,
}

#[derive(Subcommand, Debug)]
pub enum ScalingCmd {
    /// Fit IsoFLOP curves and the compute-optimal power law N*(C) = A·C^alpha.
    ///
    /// RUNS.csv has one training run per line under a header naming the columns
    /// `flops,params,tokens,loss` in any order (other columns are ignored; lines starting
    /// with # are comments):
    ///   flops   the run's compute budget in FLOPs; runs agreeing within 1% form one budget
    ///   params  the model's parameter count
    ///   tokens  training tokens
    ///   loss    validation loss at the end of training
    /// Each budget needs at least 3 runs at different token counts (5 or more for
    /// confidence intervals), and every value must be a positive number.
    ///
    /// Method (Llama 3 paper §3.2.1): per budget, a second-degree polynomial of loss
    /// against ln(tokens); its minimum is the budget's compute-optimal token count. A
    /// least-squares line through (ln C, ln tokens) of the minima gives N*(C) = A·C^alpha
    /// in tokens; parameters follow from C ≈ 6·N·D as N = C/(6·N*(C)). Intervals come
    /// from a pooled residual bootstrap: the token grid stays fixed, the parabolas' residuals
    /// are redrawn, and everything is refitted, with a seeded generator.
    ///
    /// Writes two SVG figures like the paper's Figures 2 and 3 (RUNS.isoflops.svg and
    /// RUNS.powerlaw.svg) next to RUNS.csv, or into --plot-dir.
    #[command(verbatim_doc_comment)]
    Fit(FitArgs),
    /// Compute-optimal tokens and parameters at a compute budget.
    ///
    /// tokens = A·C^alpha and params = C / (6·tokens). The law comes from --alpha and --a,
    /// from a fit saved with `herd scaling fit RUNS.csv --json > fit.json` (--fit, which
    /// also gives an interval), or by default from the Llama 3 paper's Figure 3 legend,
    /// alpha = 0.537, A = 0.299: at 3.8e25 FLOPs that is 16.29T tokens and 388.7B
    /// parameters (C/6D). The paper quotes 402B on 16.55T, which is within the rounding
    /// of alpha (0.53727 gives 16.55T) but is not C/(6D) at 3.8e25. The rounded 0.53 and
    /// 0.29 of the paper's text give only 10.46T: D moves by e^(Δalpha·ln C) and
    /// ln(3.8e25) = 58.9, so 0.007 less alpha divides D by 1.51.
    #[command(verbatim_doc_comment)]
    Predict(PredictArgs),
    /// Forecast benchmark accuracy at a compute budget in the paper's two steps.
    ///
    /// DATA.csv has one model per line under a header naming `flops,nll,accuracy,family`
    /// in any order (other columns are ignored):
    ///   flops     pre-training FLOPs (may be empty for rows of other families)
    ///   nll       normalized negative log-likelihood of the correct answer (per character)
    ///   accuracy  benchmark accuracy as a fraction in [0, 1], or empty if unknown
    ///   family    the model family, e.g. `scaling` for your scaling-law models, `llama2`
    ///
    /// Step 1 fits nll = a + b·log10(FLOPs) on the --family rows (up to --max-fit-flops;
    /// the paper used its scaling-law models up to 1e22). Step 2 fits a sigmoid
    /// accuracy = floor + (ceiling − floor)/(1 + exp(slope·(nll − mid))) on every row with
    /// an accuracy, other families included (the paper adds the Llama 2 models). The
    /// forecast composes the two at --flops. --family rows above --max-fit-flops are held
    /// out: shown on the plot and compared with the forecast, never fitted. Intervals
    /// come from a seeded case bootstrap of both steps. Writes DATA.forecast.svg, like the
    /// paper's Figure 4.
    #[command(verbatim_doc_comment)]
    Forecast(ForecastArgs),
}

/// Where and whether to write figures.
#[derive(Args, Debug)]
pub struct PlotOpts {
    /// Folder for the SVG figures (default: the input file's folder).
    #[arg(long, value_name = "DIR")]
    pub plot_dir: Option<PathBuf>,
    /// Do not write figures.
    #[arg(long)]
    pub no_plots: bool,
}

/// Bootstrap settings.
#[derive(Args, Debug)]
pub struct BootOpts {
    /// Bootstrap resamples for the intervals (0: none).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap: the same seed gives the same intervals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Interval level.
    #[arg(long, default_value_t = 0.95, value_name = "LEVEL")]
    pub ci: f64,
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// The runs table (header: flops,params,tokens,loss).
    #[arg(value_name = "RUNS.csv")]
    pub runs: PathBuf,
    /// Also predict tokens and parameters, with intervals, at this many FLOPs (e.g. 3.8e25).
    #[arg(long, value_name = "FLOPS")]
    pub target_flops: Option<f64>,
    /// Print one JSON object: {"alpha", "A", "alpha_ci", "A_ci", "budgets", ...}; save it
    /// for `herd scaling predict --fit`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub boot: BootOpts,
    #[command(flatten)]
    pub plots: PlotOpts,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The compute budget in FLOPs, e.g. 3.8e25.
    #[arg(long, value_name = "FLOPS")]
    pub flops: f64,
    /// The law's exponent alpha (with --a).
    #[arg(long, requires = "a", conflicts_with = "fit", allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// The law's coefficient A (with --alpha).
    #[arg(long = "a", visible_alias = "A", requires = "alpha", conflicts_with = "fit")]
    pub a: Option<f64>,
    /// A fit saved by `herd scaling fit --json`.
    #[arg(long, value_name = "fit.json")]
    pub fit: Option<PathBuf>,
    /// Interval level when --fit carries the bootstrap covariance.
    #[arg(long, default_value_t = 0.95, value_name = "LEVEL")]
    pub ci: f64,
    /// Print one JSON object: {"flops", "tokens", "params", "tokens_per_param", "alpha", "A", ...}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ForecastArgs {
    /// The models table (header: flops,nll,accuracy,family).
    #[arg(value_name = "DATA.csv")]
    pub data: PathBuf,
    /// The compute to forecast at, in FLOPs.
    #[arg(long, value_name = "FLOPS")]
    pub flops: f64,
    /// The family whose models define step 1 (default: the only family in the file).
    #[arg(long)]
    pub family: Option<String>,
    /// Hold out --family rows above this many FLOPs (the paper fitted up to 1e22).
    #[arg(long, value_name = "FLOPS")]
    pub max_fit_flops: Option<f64>,
    /// Fix the sigmoid's lower asymptote, e.g. the chance accuracy 0.25 of 4-way multiple choice.
    #[arg(long)]
    pub floor: Option<f64>,
    /// Fix the sigmoid's upper asymptote, e.g. 1.
    #[arg(long)]
    pub ceiling: Option<f64>,
    /// Print one JSON object: {"nll", "accuracy", "nll_ci", "accuracy_ci", "step1", "step2", ...}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub boot: BootOpts,
    #[command(flatten)]
    pub plots: PlotOpts,
}

pub fn scaling(a: ScalingArgs) -> Result<()> {
    match a.cmd {
        ScalingCmd::Fit(f) => fit_cmd(f),
        ScalingCmd::Predict(p) => predict_cmd(p),
        ScalingCmd::Forecast(f) => forecast_cmd(f),
    }
}

fn fit_cmd(a: FitArgs) -> Result<()> {
    let runs = Runs::read(&a.runs)?;
    let opts =
        FitOptions { resamples: a.boot.bootstrap, seed: a.boot.seed, level: a.boot.ci, target_flops: a.target_flops };
    let report = fit(&runs, &opts)?;
    let plots = if a.plots.no_plots {
        Vec::new()
    } else {
        let iso = plot_path(&a.runs, a.plots.plot_dir.as_deref(), "isoflops")?;
        write(&iso, &isoflop_svg(&runs, &report)?)?;
        let law = plot_path(&a.runs, a.plots.plot_dir.as_deref(), "powerlaw")?;
        write(&law, &powerlaw_svg(&report, &runs.path))?;
        vec![iso, law]
    };
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["plots"] = json!(plots.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
        println!("{v}");
    } else {
        print_fit(&report, &runs.path, &plots);
    }
    Ok(())
}

fn print_fit(r: &FitReport, path: &str, plots: &[PathBuf]) {
    let n_runs: usize = r.budgets.iter().map(|b| b.runs).sum();
    println!("{path}: {} budgets, {n_runs} runs", r.budgets.len());
    println!("{:>10}  {:>4}  {:>14}  {:>14}  {:>10}", "budget", "runs", "optimal tokens", "params (C/6D)", "min loss");
    for b in &r.budgets {
        let mark = if b.inside { "" } else { "  (outside the runs' range)" };
        println!(
            "{:>10}  {:>4}  {:>14}  {:>14}  {:>10.4}{mark}",
            short_sci(b.flops),
            b.runs,
            count(b.tokens_opt),
            count(b.params_opt),
            b.loss_opt
        );
    }
    let level = r.ci_level * 100.0;
    println!("compute-optimal tokens N*(C) = A·C^alpha (log-log R² {:.5}):", r.r2);
    println!("  alpha = {:.4}{}", r.alpha, ci_text(r.alpha_ci, level, 4));
    println!("  A     = {:.4}{}", r.a, ci_text(r.a_ci, level, 4));
    println!("  params N*(C) = {:.4}·C^{:.4} (from C ≈ 6·N·D)", r.params_law.coefficient, r.params_law.exponent);
    println!(
        "  bootstrap: {} resamples ({}), seed {}, {} dropped",
        r.bootstrap.resamples, r.bootstrap.method, r.bootstrap.seed, r.bootstrap.failed
    );
    if let Some(t) = &r.target {
        println!(
            "at {} FLOPs: {} tokens{}, {} params{}",
            short_sci(t.point.flops),
            count(t.point.tokens),
            count_ci(t.tokens_ci, level),
            count(t.point.params),
            count_ci(t.params_ci, level)
        );
    }
    for w in &r.warnings {
        eprintln!("herd: warning: {w}");
    }
    for p in plots {
        println!("wrote {}", p.display());
    }
}

/// The saved-fit fields predict needs; everything else in fit.json is ignored.
#[derive(serde::Deserialize)]
struct SavedFit {
    alpha: f64,
    #[serde(rename = "A")]
    a: f64,
    #[serde(default)]
    cov_log_a_alpha: Option<[[f64; 2]; 2]>,
}

fn predict_cmd(a: PredictArgs) -> Result<()> {
    let (law, cov, source) = match (&a.fit, a.alpha, a.a) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            let saved: SavedFit = serde_json::from_str(&text).with_context(|| {
                format!("{}: expected the JSON of `herd scaling fit --json` (with \"alpha\" and \"A\")", path.display())
            })?;
            (PowerLaw::new(saved.alpha, saved.a)?, saved.cov_log_a_alpha, path.display().to_string())
        }
        (None, Some(alpha), Some(coef)) => (PowerLaw::new(alpha, coef)?, None, "--alpha/--a".to_string()),
        (None, None, None) => (PowerLaw::LLAMA3_FIGURE3, None, "Llama 3 paper, Figure 3 legend".to_string()),
        _ => bail!("give both --alpha and --a, or --fit fit.json, or neither (for the paper's 0.537 and 0.299)"),
    };
    if !(a.ci > 0.0 && a.ci < 1.0) {
        bail!("--ci must lie between 0 and 1, e.g. 0.95; got {}", a.ci);
    }
    let p = law.predict(a.flops)?;
    let tokens_ci = cov.and_then(|c| tokens_interval(&law, &c, a.flops, a.ci));
    let params_ci = tokens_ci.map(|[lo, hi]| [a.flops / (6.0 * hi), a.flops / (6.0 * lo)]);
    if a.json {
        let mut v = serde_json::to_value(p)?;
        v["alpha"] = json!(law.alpha);
        v["A"] = json!(law.a);
        v["law"] = json!(source);
        if let (Some(t), Some(n)) = (tokens_ci, params_ci) {
            v["tokens_ci"] = json!(t);
            v["params_ci"] = json!(n);
            v["ci_level"] = json!(a.ci);
        }
        println!("{v}");
    } else {
        let level = a.ci * 100.0;
        println!("law: N*(C) = {}·C^{} ({source})", law.a, law.alpha);
        println!("at {} FLOPs:", short_sci(a.flops));
        println!("  tokens  {:.4e} ({}){}", p.tokens, count(p.tokens), count_ci(tokens_ci, level));
        println!("  params  {:.4e} ({}){}  = C / (6·tokens)", p.params, count(p.params), count_ci(params_ci, level));
        println!("  {:.1} tokens per parameter", p.tokens_per_param);
    }
    Ok(())
}

fn forecast_cmd(a: ForecastArgs) -> Result<()> {
    let rows = read_forecast(&a.data)?;
    let path = a.data.display().to_string();
    let opts = ForecastOptions {
        target_flops: a.flops,
        family: a.family.clone(),
        max_fit_flops: a.max_fit_flops,
        fixed: Fixed { floor: a.floor, ceiling: a.ceiling },
        resamples: a.boot.bootstrap,
        seed: a.boot.seed,
        level: a.boot.ci,
    };
    let r = forecast(&rows, &path, &opts)?;
    let plot = if a.plots.no_plots {
        None
    } else {
        let p = plot_path(&a.data, a.plots.plot_dir.as_deref(), "forecast")?;
        write(&p, &forecast_svg(&rows, &r, &path))?;
        Some(p)
    };
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["plots"] = json!(plot.iter().map(|p| p.display().to_string()).collect::<Vec<_>>());
        println!("{v}");
    } else {
        print_forecast(&r, plot.as_deref());
    }
    Ok(())
}

fn print_forecast(r: &ForecastReport, plot: Option<&Path>) {
    let level = r.ci_level * 100.0;
    let s1 = r.step1;
    println!(
        "step 1 ({} `{}` models): nll = {:.4} + ({:.4})·log10(C), R² {:.4}",
        r.step1_points, r.family, s1.intercept, s1.slope, s1.r2
    );
    let s2 = r.step2;
    println!(
        "step 2 ({} models): accuracy = {:.4} + ({:.4} − {:.4})/(1 + exp({:.4}·(nll − {:.4})))",
        r.step2_points, s2.floor, s2.ceiling, s2.floor, s2.slope, s2.mid
    );
    println!("forecast at {} FLOPs:", short_sci(r.target_flops));
    println!("  nll      {:.4}{}", r.nll, ci_text(r.nll_ci, level, 4));
    println!("  accuracy {:.4}{}", r.accuracy, ci_text(r.accuracy_ci, level, 4));
    for h in &r.held_out {
        let acc = h.accuracy.map_or("unknown".to_string(), |x| format!("{x:.4}"));
        println!(
            "held out (line {}, {} FLOPs): accuracy {acc}, forecast {:.4}; nll {:.4}, forecast {:.4}",
            h.line,
            short_sci(h.flops),
            h.predicted_accuracy,
            h.nll,
            h.predicted_nll
        );
    }
    for w in &r.warnings {
        eprintln!("herd: warning: {w}");
    }
    if let Some(p) = plot {
        println!("wrote {}", p.display());
    }
}

fn ci_text(ci: Option<[f64; 2]>, level: f64, digits: usize) -> String {
    ci.map_or(String::new(), |[lo, hi]| format!("   {level:.0}% CI [{lo:.digits$}, {hi:.digits$}]"))
}

fn count_ci(ci: Option<[f64; 2]>, level: f64) -> String {
    ci.map_or(String::new(), |[lo, hi]| format!(" ({level:.0}% CI {} to {})", count(lo), count(hi)))
}

/// `DIR/STEM.KIND.svg`, DIR defaulting to the input's folder.
fn plot_path(input: &Path, dir: Option<&Path>, kind: &str) -> Result<PathBuf> {
    let stem = input.file_stem().map_or("scaling".into(), |s| s.to_string_lossy().into_owned());
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.to_path_buf()
        }
        None => input.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    Ok(dir.join(format!("{stem}.{kind}.svg")))
}

fn write(path: &Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}
