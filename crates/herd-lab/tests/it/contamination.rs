//! Contamination analysis on corpora with planted overlaps (exact per-token marks in every
//! corpus format, streamed and through an index), the score split of a synthetic results
//! log, hostile index files, and the golden fixture of scripts/golden/contamination_ref.py.

use herd_lab::contamination::{
    self, Analysis, Benchmark, CorpusIndex, CorpusSource, CorpusSpec, Example, Format, Options, Scores, SummaryOptions,
    report,
};
use herd_llama::tokenizer::Tokenizer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn llama3() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        Tokenizer::from_tiktoken_file(&herd_llama::testdata::require("llama3/tokenizer.model")).expect("loads")
    })
}

// --- planted corpus ------------------------------------------------------------------------

/// English words that are one Llama 3 token each with a leading space, so a text
/// " w1 w2 ..." has exactly one token per word and marks can be written by word index.
fn words() -> &'static [String] {
    static W: OnceLock<Vec<String>> = OnceLock::new();
    W.get_or_init(|| {
        const CANDIDATES: &str = "time year people way day man thing woman life child world school state family \
            student group country problem hand part place case week company system program question work \
            government number night point home water room mother area money story fact month lot right study \
            book eye job word business issue side kind head house service friend father power hour game line \
            end member law car city community name president team minute idea kid body information back parent \
            face others level office door health person art war history party result change morning reason \
            research girl guy moment air teacher force education foot boy age policy music market sense nation \
            plan college interest death experience effect class control care field development role effort rate \
            heart drug show leader light voice wife police mind price report decision son view relationship town \
            road arm difference value building action model season society tax director position player record \
            paper space ground form event official matter center couple site project activity star table need \
            court oil situation cost industry figure street image phone data picture practice piece land product";
        let tok = llama3();
        let w: Vec<String> = CANDIDATES
            .split_whitespace()
            .filter(|w| tok.encode(&format!(" {w}"), false).len() == 1)
            .map(String::from)
            .collect();
        assert!(w.len() >= 150, "only {} one-token words", w.len());
        w
    })
}

/// `n` words drawn with a fixed LCG from stream `seed`: different seeds give unrelated
/// sequences (no shared 8-gram in practice; the tests check what they rely on).
fn seq(seed: u64, n: usize) -> Vec<String> {
    let w = words();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            w[(x >> 33) as usize % w.len()].clone()
        })
        .collect()
}

fn text(ws: &[String]) -> String {
    ws.iter().map(|w| format!(" {w}")).collect()
}

fn cat(parts: &[&[String]]) -> Vec<String> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

/// One planted case: an example, and what must be marked.
struct Case {
    id: &'static str,
    words: Vec<String>,
    spans: Vec<(usize, usize)>,
}

/// The benchmark and corpus documents of the planted test, and the expected marks.
fn planted() -> (Vec<Case>, Vec<String>) {
    let f = |s: u64| seq(1000 + s, 10); // filler between planted pieces
    let mut docs = Vec::new();
    let mut cases = Vec::new();

    let e = seq(1, 30); // an exact copy
    docs.push(text(&cat(&[&f(0), &e, &f(1)])));
    cases.push(Case { id: "exact", words: e, spans: vec![(0, 30)] });

    let e = seq(2, 30); // a partial copy: words 10..25
    docs.push(text(&cat(&[&f(2), &e[10..25], &f(3)])));
    cases.push(Case { id: "partial", words: e, spans: vec![(10, 25)] });

    let e = seq(3, 30); // 7-gram near misses: 7 words, and 8 words with the middle one changed
    docs.push(text(&cat(&[&f(4), &e[5..12], &f(5)])));
    let changed = cat(&[&e[15..19], &seq(77, 1), &e[20..24]]);
    docs.push(text(&cat(&[&f(6), &changed, &f(7)])));
    cases.push(Case { id: "near_miss", words: e, spans: vec![] });

    let e = seq(4, 20); // 12 words across two documents (6 + 6): no 8-gram in either
    docs.push(text(&cat(&[&f(8), &e[0..6]])));
    docs.push(text(&cat(&[&e[6..12], &f(9)])));
    cases.push(Case { id: "across_documents", words: e, spans: vec![] });

    let (a, b) = (seq(5, 10), seq(6, 10)); // an 8-gram across two benchmark examples
    docs.push(text(&cat(&[&f(10), &a[5..10], &b[0..3], &f(11)])));
    cases.push(Case { id: "across_examples_a", words: a, spans: vec![] });
    cases.push(Case { id: "across_examples_b", words: b, spans: vec![] });

    let e = seq(7, 30); // overlapping matches from two documents: a union
    docs.push(text(&cat(&[&f(12), &e[0..12], &f(13)])));
    docs.push(text(&cat(&[&e[8..20], &f(14)])));
    cases.push(Case { id: "union", words: e, spans: vec![(0, 20)] });

    let e = seq(8, 5); // shorter than n: never contaminated
    docs.push(text(&cat(&[&f(15), &e, &f(16)])));
    cases.push(Case { id: "short", words: e, spans: vec![] });

    cases.push(Case { id: "empty", words: vec![], spans: vec![] });

    let g = seq(9, 8); // one 8-gram twice in the example, exactly 8 words in the corpus
    let e = cat(&[&g, &seq(10, 6), &g]);
    docs.push(text(&cat(&[&f(17), &g, &f(18)])));
    cases.push(Case { id: "repeated", words: e, spans: vec![(0, 8), (14, 22)] });

    let e = seq(11, 40); // two separate copied runs
    docs.push(text(&cat(&[&f(19), &e[2..11], &f(20), &e[25..37], &f(21)])));
    cases.push(Case { id: "two_runs", words: e, spans: vec![(2, 11), (25, 37)] });

    let e = seq(12, 25); // clean
    cases.push(Case { id: "clean", words: e, spans: vec![] });
    (cases, docs)
}

fn bench_of(cases: &[Case]) -> Vec<Benchmark> {
    let examples =
        cases.iter().map(|c| Example { bench: 0, id: c.id.into(), text: text(&c.words), ids: Vec::new() }).collect();
    vec![Benchmark { name: "planted".into(), examples }]
}

fn options(spans: bool, prefilter: bool, save_index: Option<PathBuf>) -> Options<'static> {
    static NO_PROGRESS: fn(u64, Option<u64>) = |_, _| {};
    Options {
        tokenizer: llama3(),
        tokenizer_name: "llama3".into(),
        n: 8,
        threads: 2,
        prefilter,
        save_index,
        index_memory: 4096, // tiny: forces spilled runs and their merge
        spans,
        progress: &NO_PROGRESS,
    }
}

fn stream(paths: &[PathBuf], format: Format) -> CorpusSource {
    CorpusSource::Stream(CorpusSpec { paths: paths.to_vec(), format, text_field: "text".into() })
}

fn check_marks(a: &Analysis, cases: &[Case], what: &str) {
    assert_eq!(a.examples.len(), cases.len(), "{what}");
    for (r, c) in a.examples.iter().zip(cases) {
        assert_eq!(r.id, c.id, "{what}");
        assert_eq!(r.tokens, c.words.len(), "{what}: {}: one token per word", c.id);
        assert_eq!(r.spans.as_deref(), Some(&c.spans[..]), "{what}: {}", c.id);
        let k: usize = c.spans.iter().map(|(a, b)| b - a).sum();
        assert_eq!(r.contaminated_tokens, k, "{what}: {}", c.id);
        let f = if c.words.is_empty() { 0.0 } else { k as f64 / c.words.len() as f64 };
        assert_eq!(r.contaminated_fraction, f, "{what}: {}", c.id);
    }
}

fn write_jsonl(path: &Path, docs: &[String]) {
    let mut s = String::new();
    for d in docs {
        s.push_str(&serde_json::json!({"id": s.len(), "text": d, "meta": {"x": [1, 2]}}).to_string());
        s.push('\n');
    }
    std::fs::write(path, s).expect("write");
}

#[test]
fn planted_words_are_one_token_each() {
    let (cases, docs) = planted();
    for c in &cases {
        assert_eq!(llama3().encode(&text(&c.words), false).len(), c.words.len(), "{}", c.id);
    }
    for d in &docs {
        assert_eq!(llama3().encode(d, false).len(), d.split_whitespace().count());
    }
}

#[test]
fn planted_overlaps_give_exact_marks_in_every_format() {
    let (cases, docs) = planted();
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("corpus.jsonl");
    write_jsonl(&jsonl, &docs);
    let raw = std::fs::read(&jsonl).expect("read");
    let gz = dir.path().join("corpus.jsonl.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&raw).expect("gzip");
    std::fs::write(&gz, e.finish().expect("gzip")).expect("write");
    let zst = dir.path().join("corpus.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).expect("zstd")).expect("write");
    // A folder of plain-text files (one document each), read in sorted order, with a hidden
    // file that must be skipped and a nested folder.
    let txt = dir.path().join("txt");
    std::fs::create_dir_all(txt.join("sub")).expect("mkdir");
    for (i, d) in docs.iter().enumerate() {
        let p = if i % 3 == 0 { txt.join("sub").join(format!("{i:03}.txt")) } else { txt.join(format!("{i:03}.txt")) };
        std::fs::write(p, d).expect("write");
    }
    std::fs::write(txt.join(".hidden.txt"), text(&cases[11].words)).expect("write");
    let parquet = dir.path().join("corpus.parquet");
    write_parquet(&parquet, &docs);

    let runs: Vec<(&str, Vec<PathBuf>, Format)> = vec![
        ("jsonl", vec![jsonl.clone()], Format::Auto),
        ("gzip", vec![gz], Format::Auto),
        ("zstd", vec![zst], Format::Auto),
        ("folder of text files", vec![txt], Format::Auto),
        ("parquet", vec![parquet], Format::Auto),
        ("jsonl forced", vec![jsonl], Format::Jsonl),
    ];
    for (what, paths, format) in runs {
        for prefilter in [true, false] {
            let mut b = bench_of(&cases);
            let a = contamination::analyze(&mut b, &stream(&paths, format), &options(true, prefilter, None))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            check_marks(&a, &cases, &format!("{what}, prefilter {prefilter}"));
            assert_eq!(a.corpus.as_ref().map(|c| c.documents), Some(docs.len() as u64), "{what}");
        }
    }
}

fn write_parquet(path: &Path, docs: &[String]) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type("message doc { required int64 id; optional binary text (UTF8); }").expect("schema");
    let props = std::sync::Arc::new(WriterProperties::builder().set_max_row_group_row_count(Some(4)).build());
    let file = std::fs::File::create(path).expect("create");
    let mut w = SerializedFileWriter::new(file, std::sync::Arc::new(schema), props).expect("writer");
    // Row groups of 4 rows; a null text row in each group is skipped.
    for chunk in docs.chunks(3) {
        let mut rg = w.next_row_group().expect("row group");
        let mut c = rg.next_column().expect("col").expect("id column");
        let ids: Vec<i64> = (0..=chunk.len() as i64).collect();
        c.typed::<parquet::data_type::Int64Type>().write_batch(&ids, None, None).expect("ids");
        c.close().expect("close");
        let mut c = rg.next_column().expect("col").expect("text column");
        let vals: Vec<ByteArray> = chunk.iter().map(|d| ByteArray::from(d.as_str())).collect();
        let mut defs = vec![1i16; chunk.len()];
        defs.push(0);
        c.typed::<ByteArrayType>().write_batch(&vals, Some(&defs), None).expect("texts");
        c.close().expect("close");
        rg.close().expect("close");
    }
    w.close().expect("close");
}

#[test]
fn a_long_plain_text_file_is_one_document_read_in_overlapping_pieces() {
    // 20 MB of one-token words with the planted copies far apart: every piece cut falls
    // inside filler, and one copy is placed astride each likely cut region.
    let (cases, _) = planted();
    let filler = text(&seq(5000, 4000)) + "\n";
    let mut doc = String::new();
    let e = &cases[0].words;
    let mut k = 0u64;
    while doc.len() < 20 << 20 {
        doc.push_str(&filler);
        k += 1;
        if k.is_multiple_of(97) {
            // Lines start with a visible character after a newline: clean cuts everywhere.
            doc.push_str(&format!("x{}\n", text(e)));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("big.txt");
    std::fs::write(&p, &doc).expect("write");
    let mut b = bench_of(&cases[..1]);
    let a = contamination::analyze(&mut b, &stream(&[p], Format::Auto), &options(true, false, None)).expect("runs");
    assert_eq!(a.examples[0].spans.as_deref(), Some(&[(0usize, 30usize)][..]));
    assert_eq!(a.corpus.as_ref().map(|c| c.documents), Some(1));
}

#[test]
fn an_8gram_across_a_piece_cut_is_found() {
    // The first 8 MiB piece ends at its last clean cut (a newline, then a visible
    // character). Every filler line starts with "y", so there are clean cuts everywhere
    // for the overlap; the example's second line, starting with "x", is placed so that
    // its start is the last clean cut before 8 MiB and the example lies across the cut.
    let (cases, _) = planted();
    let e = &cases[0].words;
    // Eight tokens: three words, a newline, "x", three words: its only 8-gram spans the cut.
    let ex = format!("{}\nx{}", text(&e[..3]), text(&e[3..6]));
    let mine = format!("y{}\nx", text(&e[..3]));
    let x_at = (8 << 20) - 40; // "x" here; the rest of its line runs past 8 MiB
    let mut doc = String::new();
    let filler = format!("y{}\n", text(&seq(6000, 200)));
    while doc.len() + filler.len() + mine.len() + 64 < x_at {
        doc.push_str(&filler);
    }
    let pad = x_at + 1 - mine.len() - doc.len() - 2;
    doc.push_str(&format!("y{}\n", "a".repeat(pad)));
    doc.push_str(&mine);
    assert_eq!(doc.len(), x_at + 1, "x is the last byte so far");
    doc.push_str(&format!("{}\n", text(&e[3..])));
    while doc.len() < (10 << 20) {
        doc.push_str(&filler);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("cut.txt");
    std::fs::write(&p, &doc).expect("write");
    assert_eq!(llama3().encode(&ex, false).len(), 8);
    let mut b = vec![Benchmark {
        name: "cut".into(),
        examples: vec![Example { bench: 0, id: "astride".into(), text: ex, ids: Vec::new() }],
    }];
    let a = contamination::analyze(&mut b, &stream(&[p], Format::Text), &options(true, false, None)).expect("runs");
    assert_eq!(a.examples[0].contaminated_tokens, 8, "{:?}", a.examples[0]);
    assert_eq!(a.corpus.as_ref().map(|c| c.documents), Some(1));
}

#[test]
fn an_index_gives_the_same_marks_and_rejects_a_mismatch() {
    let (cases, docs) = planted();
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("corpus.jsonl");
    write_jsonl(&jsonl, &docs);
    let ix = dir.path().join("corpus.ngx");
    // Build the index while answering the benchmark, then answer it again from the index.
    let mut b = bench_of(&cases);
    let a = contamination::analyze(&mut b, &stream(&[jsonl], Format::Auto), &options(true, true, Some(ix.clone())))
        .expect("streams");
    check_marks(&a, &cases, "streamed while indexing");
    let h = &a.indexes[0];
    let tokens: usize = docs.iter().map(|d| d.split_whitespace().count()).sum();
    assert_eq!(h.tokens as usize, tokens);
    assert_eq!(h.documents as usize, docs.len());
    let mut b = bench_of(&cases);
    let a = contamination::analyze(&mut b, &CorpusSource::Indexes(vec![ix.clone()]), &options(true, true, None))
        .expect("from the index");
    check_marks(&a, &cases, "from the index");
    // Every distinct 8-gram of the corpus is there, and nothing else.
    let opened = CorpusIndex::open(&ix).expect("opens");
    let mut distinct = std::collections::HashSet::new();
    for d in &docs {
        let ids = llama3().encode(d, false);
        for w in ids.windows(8) {
            distinct.insert(contamination::hash::ngram_hash(w));
        }
    }
    assert_eq!(opened.header.count as usize, distinct.len());
    assert!(distinct.iter().all(|h| opened.contains(*h)));
    assert!(!opened.contains(contamination::hash::ngram_hash(&[1, 2, 3, 4, 5, 6, 7, 8])));
    // Another n is an error, not a silent empty result.
    let mut o = options(false, true, None);
    o.n = 7;
    let err = contamination::analyze(&mut bench_of(&cases), &CorpusSource::Indexes(vec![ix]), &o).expect_err("n");
    assert!(err.to_string().contains("8-grams"), "{err}");
}

#[test]
fn hostile_index_files_are_errors() {
    let (_, docs) = planted();
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("c.jsonl");
    write_jsonl(&jsonl, &docs[..3]);
    let ix = dir.path().join("c.ngx");
    contamination::analyze(&mut [], &stream(&[jsonl], Format::Auto), &options(false, true, Some(ix.clone())))
        .expect("builds");
    let good = std::fs::read(&ix).expect("read");
    assert!(CorpusIndex::open(&ix).is_ok());
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated header", good[..50].to_vec()),
        ("truncated body", good[..good.len() - 3].to_vec()),
        ("extra bytes", [&good[..], &[0u8; 8]].concat()),
    ];
    let mut patch = |what: &'static str, at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        cases.push((what, b));
    };
    patch("magic", 0, b"HERDNGIY");
    patch("version", 8, &2u32.to_le_bytes());
    patch("n = 0", 12, &0u32.to_le_bytes());
    patch("huge n", 12, &u32::MAX.to_le_bytes());
    patch("hash id", 16, &9u32.to_le_bytes());
    patch("count", 80, &u64::MAX.to_le_bytes());
    patch("description length", 88, &u32::MAX.to_le_bytes());
    let data = good.len() - 8 * u64::from_le_bytes(good[80..88].try_into().expect("8")) as usize;
    patch("unsorted", data, &u64::MAX.to_le_bytes());
    for (what, bytes) in cases {
        std::fs::write(&ix, &bytes).expect("write");
        let r = CorpusIndex::open(&ix);
        assert!(r.is_err(), "{what}: accepted");
    }
}

#[test]
fn corpus_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.jsonl");
    std::fs::write(&p, "{\"text\": \"fine\"}\n\n{\"content\": \"no text\"}\n").expect("write");
    let mut b = bench_of(&planted().0[..1]);
    let err =
        contamination::analyze(&mut b, &stream(std::slice::from_ref(&p), Format::Auto), &options(false, false, None))
            .expect_err("bad line");
    let msg = err.to_string();
    assert!(msg.contains("bad.jsonl:3:") && msg.contains("--text-field"), "{msg}");
    let missing = dir.path().join("nope.jsonl");
    let err = contamination::analyze(&mut b, &stream(&[missing], Format::Auto), &options(false, false, None))
        .expect_err("missing");
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
}

// --- the score split of a results log ------------------------------------------------------

#[test]
fn a_synthetic_results_log_gives_the_expected_gain() {
    // 20 examples: 8 fully contaminated (fraction 1), 4 half (0.5), 8 clean (0).
    // Scores: contaminated 1.0 each; half 1,1,0,0; clean five of eight 1.
    let mut ex = Vec::new();
    let mut scores = Scores::default();
    let fr = |i: usize| {
        if i < 8 {
            1.0
        } else if i < 12 {
            0.5
        } else {
            0.0
        }
    };
    let sc = |i: usize| match i {
        0..8 => 1.0,
        8 | 9 => 1.0,
        10 | 11 => 0.0,
        12..17 => 1.0,
        _ => 0.0,
    };
    for i in 0..20 {
        let id = format!("q{i}");
        let tokens = 10;
        let k = (fr(i) * 10.0) as usize;
        let mut marks = vec![false; tokens];
        marks[..k].fill(true);
        ex.push(report::ExampleReport::from_marks("toy", &id, &marks, false));
        scores.add("toy", &id, sc(i));
    }
    scores.add("other", "q0", 0.0); // another task is ignored once --task picks
    let refs: Vec<&report::ExampleReport> = ex.iter().collect();
    let o = SummaryOptions {
        threshold: Some(0.75),
        scores: Some(&scores),
        task: Some("toy"),
        min_subset: 4,
        grid: report::default_thresholds(),
    };
    let s = contamination::summarize("toy", &refs, &o).expect("summary");
    assert_eq!((s.contaminated, s.contaminated_pct), (8, 40.0));
    let r = s.results.as_ref().expect("results");
    assert_eq!((r.scored, r.unscored), (20, 0));
    let at = &r.at_threshold;
    // full = 15/20; clean = 12 examples with 7 ones (two half + five clean) = 7/12.
    let (full, clean) = (15.0 / 20.0, 7.0 / 12.0);
    assert!((at.score_full - full).abs() < 1e-12);
    assert!((at.score_clean.expect("clean") - clean).abs() < 1e-12);
    assert_eq!(at.score_contaminated, Some(1.0));
    assert!((at.gain.expect("gain") - (full - clean)).abs() < 1e-12);
    // 95% interval: 1.96 · share · sqrt(var_c/n_c + var_k/n_k); var_c = 0,
    // var_k = sample variance of 7 ones and 5 zeros = (7·5/12)/11.
    let var_k = (7.0 * 5.0 / 12.0) / 11.0;
    let ci = 1.96 * 0.4 * (var_k / 12.0f64).sqrt();
    assert!((at.gain_ci95.expect("ci") - ci).abs() < 1e-12);
    assert!(at.significant, "{at:?}");
    // At T = 0.5 the half-contaminated examples move: 12 contaminated (10 ones), 8 clean (5 ones).
    let half = r.sweep.iter().find(|x| x.threshold == 0.5).expect("0.5 in the grid");
    assert_eq!(half.contaminated, 12);
    assert!((half.gain.expect("gain") - (0.75 - 5.0 / 8.0)).abs() < 1e-12);
    // Without --threshold the paper's rule picks the largest significant gain: T in (0.5, 1]
    // (gain 0.1667) beats T <= 0.5 (0.125); ties go to the lowest threshold.
    let o = SummaryOptions { threshold: None, ..o };
    let s = contamination::summarize("toy", &refs, &o).expect("summary");
    assert_eq!(s.threshold, 0.55);
    assert_eq!(s.threshold_rule, contamination::ThresholdRule::LargestSignificantGain);
}

#[test]
fn results_logs_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("r.jsonl");
    std::fs::write(
        &p,
        "{\"task\": \"t\", \"id\": 1, \"score\": 1}\n{\"task\": \"t\", \"id\": \"2\", \"score\": 1.5}\n",
    )
    .expect("write");
    let e = Scores::read(&p).expect_err("score out of range");
    assert!(e.to_string().contains("r.jsonl:2:"), "{e}");
    std::fs::write(&p, "{\"task\": \"t\", \"id\": 1, \"score\": 1}\n{\"task\": \"t\", \"id\": 1, \"score\": 0}\n")
        .expect("write");
    let s = Scores::read(&p).expect("reads");
    assert_eq!(s.get("t", "1"), Some(0.5), "repeated samples average");
    assert!(s.task_for("bench", None).is_ok(), "the only task");
    assert!(s.task_for("bench", Some("u")).is_err());
}

// --- the golden fixture of the independent reference ----------------------------------------

#[test]
fn matches_the_tiktoken_reference_example_for_example() {
    let dir = herd_llama::testdata::fixtures().join("contamination");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json")).expect("json");
    for prefilter in [true, false] {
        let mut b = vec![contamination::read_bench_file(&dir.join("bench.jsonl"), 0).expect("bench")];
        let a = contamination::analyze(
            &mut b,
            &stream(&[dir.join("corpus.jsonl")], Format::Auto),
            &options(true, prefilter, None),
        )
        .expect("runs");
        let want = expected["examples"].as_array().expect("examples");
        assert_eq!(a.examples.len(), want.len());
        assert_eq!(a.grams as u64, expected["grams"].as_u64().expect("grams"));
        assert_eq!(a.grams_found as u64, expected["grams_found"].as_u64().expect("found"));
        for (got, w) in a.examples.iter().zip(want) {
            assert_eq!(got.id, w["id"].as_str().expect("id"));
            assert_eq!(got.tokens as u64, w["tokens"].as_u64().expect("tokens"), "{}", got.id);
            assert_eq!(got.contaminated_tokens as u64, w["contaminated_tokens"].as_u64().expect("k"), "{}", got.id);
            let spans: Vec<(usize, usize)> = serde_json::from_value(w["spans"].clone()).expect("spans");
            assert_eq!(got.spans.as_deref(), Some(&spans[..]), "{}", got.id);
        }
    }
}
