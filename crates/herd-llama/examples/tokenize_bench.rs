//! Encode throughput of the Llama 3 tokenizer, one thread; driven by scripts/bench/tokenizer_speed.sh.
//!
//! Usage: `tokenize_bench TOKENIZER_MODEL DOCS_JSONL IDS_OUT [RUNS]`
//!
//! Reads one JSON string per line of DOCS_JSONL, encodes every document with
//! `Tokenizer::encode(doc, false)` (plain text, as llama-models' `encode` without
//! specials and without BOS), once to warm up and then RUNS times (default 3), and prints
//! `docs=N bytes=B ids=I best_s=S runs_s=a,b,c`. Loading and parsing are not timed.
//! IDS_OUT receives, for the script's exactness check, every document's id count and ids
//! as little-endian u32: `count, ids..., count, ids...`.

use std::io::{BufRead, Write};
use std::time::Instant;

use herd_llama::tokenizer::Tokenizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 || args.len() > 5 {
        return Err("usage: tokenize_bench TOKENIZER_MODEL DOCS_JSONL IDS_OUT [RUNS]".into());
    }
    let runs: usize = args.get(4).map_or(Ok(3), |r| r.parse())?;
    let tok = Tokenizer::from_tiktoken_file(std::path::Path::new(&args[1]))?;
    let mut docs: Vec<String> = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&args[2])?).lines() {
        docs.push(serde_json::from_str(&line?)?);
    }
    let bytes: usize = docs.iter().map(String::len).sum();

    // The warm-up pass also yields the ids that are checked against tiktoken.
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3])?);
    let mut n_ids = 0usize;
    for doc in &docs {
        let ids = tok.encode(doc, false);
        n_ids += ids.len();
        out.write_all(&(ids.len() as u32).to_le_bytes())?;
        for id in ids {
            out.write_all(&id.to_le_bytes())?;
        }
    }
    out.flush()?;

    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let mut total = 0usize;
        for doc in &docs {
            // Keep the result observable so the work cannot be optimized away.
            total += std::hint::black_box(tok.encode(doc, false)).len();
        }
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(total, n_ids, "encoding is deterministic");
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let runs_s: Vec<String> = times.iter().map(|t| format!("{t:.4}")).collect();
    println!("docs={} bytes={bytes} ids={n_ids} best_s={best:.4} runs_s={}", docs.len(), runs_s.join(","));
    Ok(())
}
