//! The corpus pass: workers tokenize documents and look their n-grams up in the benchmark table (and/or collect them for an index).

use super::bench::{GramTable, HitSet};
use super::corpus::{self, Batch, CorpusSpec, Input};
use super::hash::ngram_hash;
use super::index::IndexWriter;
use super::prefilter::{Prefilter, faithful};
use crate::error::LabError;
use herd_llama::tokenizer::Tokenizer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

/// What the pass does with each document.
pub struct ScanOptions<'a> {
    pub tokenizer: &'a Tokenizer,
    pub n: usize,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Marks hits of these n-grams.
    pub table: Option<&'a GramTable>,
    /// Skips documents without an anchor (only without `index`).
    pub prefilter: Option<&'a Prefilter>,
    /// Collects every n-gram hash.
    pub index: Option<&'a IndexWriter>,
    /// Called from the reading thread with the input bytes read so far.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

impl std::fmt::Debug for ScanOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions").field("n", &self.n).field("threads", &self.threads).finish_non_exhaustive()
    }
}

/// Counts of one pass.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanStats {
    /// Documents (a long plain-text file is one, however many pieces it is read in).
    pub documents: u64,
    /// Bytes of text (UTF-8) seen; overlaps of plain-text pieces count twice.
    pub text_bytes: u64,
    /// Bytes of text tokenized (all of it unless the prefilter skipped documents).
    pub tokenized_bytes: u64,
    /// Tokens of the tokenized text (no BOS).
    pub tokens: u64,
    /// Bytes read from the inputs (compressed size for compressed files).
    pub input_bytes: u64,
    pub seconds: f64,
    pub threads: usize,
    /// Documents tokenized while the prefilter was skipping others whose tokens do not
    /// spell them byte for byte: any such document means the result may miss n-grams.
    pub unfaithful_documents: u64,
}

impl ScanStats {
    fn add(&mut self, o: &ScanStats) {
        self.documents += o.documents;
        self.text_bytes += o.text_bytes;
        self.tokenized_bytes += o.tokenized_bytes;
        self.tokens += o.tokens;
        self.unfaithful_documents += o.unfaithful_documents;
    }
}

/// What one worker accumulates.
struct Worker {
    stats: ScanStats,
    hits: HitSet,
    hashes: Vec<u64>,
}

/// Streams the corpus once. Returns the benchmark n-grams found (empty without a
/// table), the pass's counts, and the n-gram hashes still held by the workers (for
/// `IndexWriter::finish`).
pub fn scan(
    spec: &CorpusSpec,
    inputs: &[Input],
    o: &ScanOptions,
) -> Result<(HitSet, ScanStats, Vec<Vec<u64>>), LabError> {
    let t0 = std::time::Instant::now();
    let threads = o.threads.max(1);
    let (tx, rx) = mpsc::sync_channel::<Batch>(threads * 2);
    let rx = Mutex::new(rx);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<LabError>> = Mutex::new(None);
    let grams = o.table.map_or(0, GramTable::len);
    let mut input_bytes = 0u64;
    let workers: Vec<Worker> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut w = Worker { stats: ScanStats::default(), hits: HitSet::new(grams), hashes: Vec::new() };
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = next else { break };
                        if stop.load(Ordering::Relaxed) {
                            continue; // drain, so the reader never blocks on a full channel
                        }
                        // A panic (a bug) must not leave the reader blocked on a channel
                        // nobody drains: it becomes this pass's error.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            process(o, &spec.text_field, &batch, &mut w)
                        }));
                        let r = r.unwrap_or_else(|_| Err(LabError::Invalid("a corpus worker panicked".into())));
                        if let Err(e) = r {
                            stop.store(true, Ordering::Relaxed);
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                    w
                })
            })
            .collect();
        let mut sink = |b: Batch, done: u64| {
            input_bytes = done;
            (o.progress)(done);
            if stop.load(Ordering::Relaxed) {
                return Err(LabError::Invalid("stopped".into()));
            }
            tx.send(b).map_err(|_| LabError::Invalid("the workers stopped".into()))
        };
        let read = corpus::read_all(spec, inputs, &mut sink);
        drop(tx);
        let ws: Vec<Worker> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        if let Err(e) = read
            && let Ok(mut f) = failure.lock()
        {
            f.get_or_insert(e);
        }
        ws
    });
    // A worker's error comes first: the reader's "stopped" only follows from it.
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if workers.len() != threads {
        return Err(LabError::Invalid("a corpus worker thread stopped".into()));
    }
    let mut hits = HitSet::new(grams);
    let mut stats = ScanStats { threads, ..Default::default() };
    let mut rest = Vec::new();
    for w in workers {
        hits.union(&w.hits);
        stats.add(&w.stats);
        rest.push(w.hashes);
    }
    stats.input_bytes = input_bytes.max(corpus::total_bytes(inputs).unwrap_or(0));
    stats.seconds = t0.elapsed().as_secs_f64();
    Ok((hits, stats, rest))
}

fn process(o: &ScanOptions, field: &str, batch: &Batch, w: &mut Worker) -> Result<(), LabError> {
    match batch {
        Batch::Texts { texts, starts } => {
            w.stats.documents += *starts as u64;
            for t in texts {
                document(o, t, w)?;
            }
        }
        Batch::Lines { file, first_line, data } => {
            for (i, line) in data.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let text = parse_line(line, field).map_err(|msg| LabError::Data {
                    path: file.to_string(),
                    line: first_line + i,
                    msg,
                })?;
                w.stats.documents += 1;
                document(o, &text, w)?;
            }
        }
    }
    Ok(())
}

fn document(o: &ScanOptions, text: &str, w: &mut Worker) -> Result<(), LabError> {
    w.stats.text_bytes += text.len() as u64;
    // Faithfulness is checked while the prefilter skips documents: that is when the
    // result relies on it (checking every token costs about a sixth of the pass).
    let mut check = false;
    if let Some(p) = o.prefilter
        && p.is_active()
    {
        if !p.needs_tokens(text.as_bytes()) {
            return Ok(());
        }
        check = true;
    }
    let ids = o.tokenizer.encode(text, false);
    w.stats.tokenized_bytes += text.len() as u64;
    w.stats.tokens += ids.len() as u64;
    if check && !faithful(o.tokenizer, &ids, text.as_bytes()) {
        w.stats.unfaithful_documents += 1;
    }
    for win in ids.windows(o.n) {
        let h = ngram_hash(win);
        if let Some(t) = o.table
            && let Some(g) = t.find(h, win)
        {
            w.hits.set(g);
        }
        if o.index.is_some() {
            w.hashes.push(h);
        }
    }
    if let Some(ix) = o.index {
        ix.maybe_spill(&mut w.hashes)?;
    }
    Ok(())
}

/// The text of one JSONL line: the string field `field` of an object, or the line
/// itself when it is a JSON string. Other fields are skipped without being built.
fn parse_line(line: &[u8], field: &str) -> Result<String, String> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let text = TextOf(field).deserialize(&mut de).map_err(|e| format!("not a JSON object or string: {e}"))?;
    de.end().map_err(|e| format!("more than one JSON value on the line: {e}"))?;
    text.ok_or_else(|| format!("no string field {field:?} (choose the field with --text-field)"))
}

struct TextOf<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for TextOf<'_> {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextOf<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object or string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut out = None;
        while let Some(is_field) = m.next_key_seed(KeyIs(self.0))? {
            if is_field {
                out = Some(m.next_value::<String>()?);
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A map key, compared with the wanted field name without being allocated.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn lines_give_the_field_or_the_string() {
        assert_eq!(parse_line(br#"{"id": 1, "text": "a\nb", "meta": {"x": [1, "t"]}}"#, "text").as_deref(), Ok("a\nb"));
        assert_eq!(parse_line(br#""just text""#, "text").as_deref(), Ok("just text"));
        assert_eq!(parse_line(br#"{"content": "c"}"#, "content").as_deref(), Ok("c"));
        assert!(parse_line(br#"{"content": "c"}"#, "text").is_err_and(|e| e.contains("--text-field")));
        assert!(parse_line(br#"{"text": null}"#, "text").is_err());
        assert!(parse_line(br#"{"text": "a"} {"#, "text").is_err());
        assert!(parse_line(b"[1, 2]", "text").is_err());
    }
}
