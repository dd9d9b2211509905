//! `herd scaling` as other checks drive it: the `--json` interfaces of fit, predict and
//! forecast, the figures, and the errors for bad CSV files.

use std::path::Path;
use std::process::{Command, Output};

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// IsoFLOP runs whose minima follow tokens = 0.299·C^0.537, with a small deterministic
/// wobble on the losses (the same on every run, so the test is reproducible).
fn runs_csv() -> String {
    let mut s = String::from("loss,tokens,params,flops,name\n");
    for (b, c) in [1e19f64, 1e20, 1e21, 1e22].iter().enumerate() {
        let opt = 0.299f64.ln() + 0.537 * c.ln();
        for i in 0..6 {
            let x = opt - 1.0 + 0.4 * i as f64 + 0.1;
            let wobble = 0.002 * ((7 * b + 3 * i) as f64).sin();
            let tokens = x.exp();
            let loss = 2.0 + 8.0 * c.powf(-0.06) + 0.05 * (x - opt).powi(2) + wobble;
            s += &format!("{loss},{tokens},{},{c},run{b}-{i}\n", c / (6.0 * tokens));
        }
    }
    s
}

#[test]
fn scaling_fit_json_gives_alpha_and_a_and_writes_both_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("runs.csv");
    std::fs::write(&csv, runs_csv()).expect("write");
    let plots = dir.path().join("plots");
    let v = json(&herd(&["scaling", "fit", path(&csv), "--json", "--bootstrap", "200", "--plot-dir", path(&plots)]));
    let (alpha, a) = (v["alpha"].as_f64().expect("alpha"), v["A"].as_f64().expect("A"));
    assert!((alpha - 0.537).abs() < 0.01 && (a / 0.299 - 1.0).abs() < 0.3, "{v}");
    assert_eq!(v["budgets"].as_array().expect("budgets").len(), 4);
    assert!(v["alpha_ci"][0].as_f64().expect("ci") < v["alpha_ci"][1].as_f64().expect("ci"));
    for name in ["runs.isoflops.svg", "runs.powerlaw.svg"] {
        let svg = std::fs::read_to_string(plots.join(name)).expect("figure written");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}");
    }
}

#[test]
fn scaling_predict_json_at_the_llama3_flagship_budget() {
    // alpha 0.537, A 0.299 (Llama 3 paper, Figure 3 legend): 0.299·(3.8e25)^0.537 =
    // 16.29T tokens and C/(6D) = 388.7B parameters.
    let v = json(&herd(&["scaling", "predict", "--flops", "3.8e25", "--alpha", "0.537", "--a", "0.299", "--json"]));
    let (tokens, params) = (v["tokens"].as_f64().expect("tokens"), v["params"].as_f64().expect("params"));
    assert!((tokens / 16.2935e12 - 1.0).abs() < 1e-4, "{v}");
    assert!((params - 3.8e25 / (6.0 * tokens)).abs() < 1.0, "{v}");
    assert!((params / 388.70e9 - 1.0).abs() < 1e-4, "{v}");
    // Without a law, predict uses the same paper constants.
    let d = json(&herd(&["scaling", "predict", "--flops", "3.8e25", "--json"]));
    assert_eq!(d["tokens"], v["tokens"]);
    let rounded = json(&herd(&["scaling", "predict", "--flops", "3.8e25", "--alpha", "0.53", "--a", "0.29", "--json"]));
    assert!((rounded["tokens"].as_f64().expect("tokens") / 10.4637e12 - 1.0).abs() < 1e-4, "{rounded}");
}

#[test]
fn scaling_predict_reads_a_saved_fit_with_its_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("runs.csv");
    std::fs::write(&csv, runs_csv()).expect("write");
    let o = herd(&["scaling", "fit", path(&csv), "--json", "--bootstrap", "200", "--no-plots"]);
    let fit = json(&o);
    let saved = dir.path().join("fit.json");
    std::fs::write(&saved, &o.stdout).expect("write");
    let v = json(&herd(&["scaling", "predict", "--flops", "1e24", "--fit", path(&saved), "--json"]));
    let want = fit["A"].as_f64().expect("A") * 1e24f64.powf(fit["alpha"].as_f64().expect("alpha"));
    assert!((v["tokens"].as_f64().expect("tokens") / want - 1.0).abs() < 1e-9, "{v}");
    let ci = &v["tokens_ci"];
    assert!(ci[0].as_f64().expect("lo") < want && want < ci[1].as_f64().expect("hi"), "{v}");
    assert!(!dir.path().join("runs.isoflops.svg").exists(), "--no-plots wrote a figure");
}

#[test]
fn scaling_fit_explains_bad_csv_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("missing.csv", "flops,params,loss\n1e19,1e8,3\n", "missing column tokens"),
        ("two_runs.csv", "flops,params,tokens,loss\n1e19,1e8,1.6e10,3.1\n1e19,2e8,8e9,3.0\n", "at least 3 runs"),
        ("negative.csv", "flops,params,tokens,loss\n1e19,1e8,1.6e10,-3.1\n", "must be a positive number"),
        ("text.csv", "flops,params,tokens,loss\n1e19,big,1.6e10,3.1\n", "not a finite number"),
    ];
    for (name, text, want) in cases {
        let csv = dir.path().join(name);
        std::fs::write(&csv, text).expect("write");
        let o = herd(&["scaling", "fit", path(&csv), "--no-plots"]);
        assert!(!o.status.success(), "{name} was accepted");
        let e = stderr(&o);
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    // Errors on one row name its line.
    let e = stderr(&herd(&["scaling", "fit", path(&dir.path().join("negative.csv")), "--no-plots"]));
    assert!(e.contains("negative.csv:2:") && e.contains("`loss`"), "{e}");
}

#[test]
fn scaling_forecast_json_composes_the_two_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sigmoid = |nll: f64| 0.25 + 0.7 / (1.0 + (8.0 * (nll - 1.0)).exp());
    let mut csv = String::from("family,flops,nll,accuracy\n");
    for c in [1e19f64, 1e20, 1e21, 1e22] {
        let nll = 3.0 - 0.1 * c.log10();
        csv += &format!("scaling,{c},{nll},{}\n", sigmoid(nll));
    }
    for nll in [1.0, 0.9, 0.8] {
        csv += &format!("llama2,,{nll},{}\n", sigmoid(nll));
    }
    csv += "scaling,3.8e25,0.45,\n";
    let file = dir.path().join("arc.csv");
    std::fs::write(&file, csv).expect("write");
    let args = ["scaling", "forecast", path(&file), "--flops", "3.8e25", "--family", "scaling"];
    let v = json(&herd(&[&args[..], &["--max-fit-flops", "1e22", "--json", "--bootstrap", "100"]].concat()));
    let nll = 3.0 - 0.1 * 3.8e25f64.log10();
    assert!((v["nll"].as_f64().expect("nll") - nll).abs() < 1e-6, "{v}");
    assert!((v["accuracy"].as_f64().expect("accuracy") - sigmoid(nll)).abs() < 1e-3, "{v}");
    assert_eq!(v["step1_points"], 4);
    assert_eq!(v["step2_points"], 7);
    assert_eq!(v["held_out"].as_array().expect("held out").len(), 1);
    assert!(std::fs::read_to_string(dir.path().join("arc.forecast.svg")).expect("figure").contains("Step 2"));
}
