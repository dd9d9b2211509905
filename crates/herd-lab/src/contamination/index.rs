//! The persistent corpus index: every distinct n-gram hash of a corpus, sorted, in one memory-mapped file.
//!
//! File layout (little-endian), version 1:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `HERDNGIX` |
//! | 8 | 4 | version (1) |
//! | 12 | 4 | n, the n-gram length in tokens |
//! | 16 | 4 | hash id (1: `hash::ngram_hash`) |
//! | 20 | 4 | reserved, 0 |
//! | 24 | 32 | tokenizer fingerprint (`tokenizer_fingerprint`) |
//! | 56 | 8 | documents |
//! | 64 | 8 | tokens |
//! | 72 | 8 | text bytes |
//! | 80 | 8 | count of hashes |
//! | 88 | 4 | length d of the description |
//! | 92 | d | description (UTF-8: tokenizer and corpus paths) |
//! | 92+d, padded to 8 | 8·count | the hashes, strictly ascending |
//!
//! Eight bytes per distinct n-gram (a corpus of 10^9 tokens makes at most an 8 GB
//! index). Membership is exact for hashes; a benchmark n-gram is found when its hash
//! is, with the collision odds given in `hash`. Building keeps at most the memory
//! budget of hashes and spills sorted runs to a temporary folder beside the output.

use super::hash::{NGRAM_HASH_ID, word};
use crate::error::LabError;
use herd_llama::tokenizer::Tokenizer;
use herd_tensor::mmap::{Mmap, map_readonly};
use sha2::{Digest, Sha256};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const MAGIC: &[u8; 8] = b"HERDNGIX";
const VERSION: u32 = 1;
const FIXED: usize = 92;
const MAX_DESCRIPTION: usize = 1 << 16;
/// Longest n-gram an index may declare.
pub const MAX_N: usize = 256;

/// The header of an index file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IndexHeader {
    pub n: u32,
    pub hash_id: u32,
    #[serde(serialize_with = "hex")]
    pub tokenizer: [u8; 32],
    pub documents: u64,
    pub tokens: u64,
    pub text_bytes: u64,
    pub count: u64,
    pub description: String,
}

fn hex<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

/// sha256 over (id, length, bytes) of every non-special token: two tokenizers with
/// the same fingerprint give the same ids for the same plain text as long as their
/// pre-tokenizers agree (Llama 3's tokenizer.model and tokenizer.json do).
pub fn tokenizer_fingerprint(tok: &Tokenizer) -> [u8; 32] {
    let mut h = Sha256::new();
    for id in 0..tok.vocab_size() as u32 {
        if !tok.is_special(id) {
            let b = tok.token_bytes(id);
            h.update(id.to_le_bytes());
            h.update((b.len() as u32).to_le_bytes());
            h.update(b);
        }
    }
    h.finalize().into()
}

/// Collects n-gram hashes from the workers and writes the index.
#[derive(Debug)]
pub struct IndexWriter {
    /// Hashes a worker holds before it spills a sorted run.
    cap: usize,
    dir: tempfile::TempDir,
    runs: Mutex<Vec<PathBuf>>,
    next: AtomicUsize,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |e| LabError::Io { path: path.to_path_buf(), err: e }
}

impl IndexWriter {
    /// A writer for `out`, holding about `memory_bytes` of hashes across `threads`
    /// workers; spilled runs go to a temporary folder beside `out`.
    pub fn new(out: &Path, memory_bytes: usize, threads: usize) -> Result<Self, LabError> {
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = tempfile::Builder::new().prefix(".herd-index-runs").tempdir_in(parent).map_err(io(parent))?;
        let cap = (memory_bytes / 8 / threads.max(1)).max(1024);
        Ok(IndexWriter { cap, dir, runs: Mutex::new(Vec::new()), next: AtomicUsize::new(0) })
    }

    /// Writes `hashes` out as a sorted run once they reach the budget.
    pub fn maybe_spill(&self, hashes: &mut Vec<u64>) -> Result<(), LabError> {
        if hashes.len() < self.cap {
            return Ok(());
        }
        hashes.sort_unstable();
        hashes.dedup();
        let path = self.dir.path().join(format!("run-{}", self.next.fetch_add(1, Ordering::Relaxed)));
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(io(&path))?);
        for h in hashes.iter() {
            w.write_all(&h.to_le_bytes()).map_err(io(&path))?;
        }
        w.flush().map_err(io(&path))?;
        hashes.clear();
        if let Ok(mut r) = self.runs.lock() {
            r.push(path);
        }
        Ok(())
    }

    /// Merges the spilled runs and the workers' remaining hashes into `out` (written
    /// to a temporary name, then renamed). `header.count` is filled in.
    pub fn finish(self, rest: Vec<Vec<u64>>, mut header: IndexHeader, out: &Path) -> Result<IndexHeader, LabError> {
        let runs = self.runs.into_inner().unwrap_or_default();
        let mut sources: Vec<Box<dyn Iterator<Item = Result<u64, LabError>>>> = Vec::new();
        for p in runs {
            let f = std::fs::File::open(&p).map_err(io(&p))?;
            sources.push(Box::new(RunReader { r: BufReader::with_capacity(1 << 20, f), path: p }));
        }
        for mut v in rest {
            v.sort_unstable();
            v.dedup();
            sources.push(Box::new(v.into_iter().map(Ok)));
        }
        let tmp = self.dir.path().join("index.tmp");
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(io(&tmp))?);
        header.count = 0;
        w.write_all(&encode_header(&header)?).map_err(io(&tmp))?;
        let mut last = None;
        merge(sources, |h| {
            if last != Some(h) {
                last = Some(h);
                header.count += 1;
                w.write_all(&h.to_le_bytes()).map_err(io(&tmp))?;
            }
            Ok(())
        })?;
        w.seek(SeekFrom::Start(0)).map_err(io(&tmp))?;
        w.write_all(&encode_header(&header)?).map_err(io(&tmp))?;
        w.flush().map_err(io(&tmp))?;
        drop(w);
        std::fs::rename(&tmp, out).map_err(io(out))?;
        Ok(header)
    }
}

/// A spilled run: little-endian u64s.
struct RunReader {
    r: BufReader<std::fs::File>,
    path: PathBuf,
}

impl Iterator for RunReader {
    type Item = Result<u64, LabError>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut b = [0u8; 8];
        match self.r.read_exact(&mut b) {
            Ok(()) => Some(Ok(u64::from_le_bytes(b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(e) => Some(Err(io(&self.path)(e))),
        }
    }
}

/// k-way merge of sorted sources, in ascending order (duplicates included).
fn merge(
    mut sources: Vec<Box<dyn Iterator<Item = Result<u64, LabError>>>>,
    mut out: impl FnMut(u64) -> Result<(), LabError>,
) -> Result<(), LabError> {
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(h) = s.next() {
            heap.push(Reverse((h?, i)));
        }
    }
    while let Some(Reverse((h, i))) = heap.pop() {
        out(h)?;
        if let Some(next) = sources.get_mut(i).and_then(Iterator::next) {
            heap.push(Reverse((next?, i)));
        }
    }
    Ok(())
}

fn encode_header(h: &IndexHeader) -> Result<Vec<u8>, LabError> {
    let d = h.description.as_bytes();
    if d.len() > MAX_DESCRIPTION {
        return Err(LabError::Invalid(format!("index description longer than {MAX_DESCRIPTION} bytes")));
    }
    let mut b = Vec::with_capacity(FIXED + d.len() + 8);
    b.extend_from_slice(MAGIC);
    for v in [VERSION, h.n, h.hash_id, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&h.tokenizer);
    for v in [h.documents, h.tokens, h.text_bytes, h.count] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&(d.len() as u32).to_le_bytes());
    b.extend_from_slice(d);
    b.resize(b.len().next_multiple_of(8), 0);
    Ok(b)
}

/// An index file, mapped and validated.
#[derive(Debug)]
pub struct CorpusIndex {
    pub header: IndexHeader,
    map: Mmap,
    data: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    (word(b, at) & 0xffff_ffff) as u32
}

impl CorpusIndex {
    /// Opens and checks an index: magic, version, hash id, n, sizes, and that the
    /// hashes are strictly ascending. A bad file is an error, never a panic.
    pub fn open(path: &Path) -> Result<Self, LabError> {
        let f = std::fs::File::open(path).map_err(io(path))?;
        let map = map_readonly(&f).map_err(io(path))?;
        let bad = |msg: String| LabError::Data { path: path.display().to_string(), line: 0, msg };
        let b: &[u8] = &map;
        if b.len() < FIXED + 8 || &b[..8] != MAGIC {
            return Err(bad("not a herd n-gram index (bad magic or too short)".into()));
        }
        let version = u32_at(b, 8);
        if version != VERSION {
            return Err(bad(format!("index version {version}, this herd reads version {VERSION}")));
        }
        let n = u32_at(b, 12);
        let hash_id = u32_at(b, 16);
        if n == 0 || n as usize > MAX_N || hash_id != NGRAM_HASH_ID {
            return Err(bad(format!("unsupported n {n} or hash id {hash_id}")));
        }
        let mut tokenizer = [0u8; 32];
        tokenizer.copy_from_slice(&b[24..56]);
        let (documents, tokens, text_bytes, count) = (word(b, 56), word(b, 64), word(b, 72), word(b, 80));
        let d = u32_at(b, 88) as usize;
        let desc = b.get(FIXED..FIXED + d).filter(|_| d <= MAX_DESCRIPTION);
        let desc = desc.ok_or_else(|| bad(format!("description of {d} bytes runs past the file")))?;
        let description = String::from_utf8(desc.to_vec()).map_err(|_| bad("description is not UTF-8".into()))?;
        let data = (FIXED + d).next_multiple_of(8);
        let body = (b.len() as u64).checked_sub(data as u64);
        if count.checked_mul(8) != body {
            return Err(bad(format!("header says {count} hashes, the file holds {} bytes of them", body.unwrap_or(0))));
        }
        let header = IndexHeader { n, hash_id, tokenizer, documents, tokens, text_bytes, count, description };
        let ix = CorpusIndex { header, map, data };
        if (1..count as usize).any(|i| ix.at(i - 1) >= ix.at(i)) {
            return Err(bad("hashes are not strictly ascending (a damaged file)".into()));
        }
        Ok(ix)
    }

    #[inline]
    fn at(&self, i: usize) -> u64 {
        word(&self.map, self.data + 8 * i)
    }

    /// Whether the corpus has an n-gram with hash `h`.
    pub fn contains(&self, h: u64) -> bool {
        let (mut lo, mut hi) = (0usize, self.header.count as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.at(mid).cmp(&h) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}
