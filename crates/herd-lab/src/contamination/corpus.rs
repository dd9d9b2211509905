//! Corpus readers: JSONL, plain text and Parquet files (gzip or zstd compressed), folders and stdin, as batches.
//!
//! Reading runs on one thread and hands out batches of about 1 MiB; JSON parsing and
//! everything after it happen on the workers. Memory stays bounded by the batch size
//! and the channel depth, whatever the corpus size.

use crate::error::LabError;
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// Target size of one batch.
pub const BATCH_BYTES: usize = 1 << 20;
/// Plain-text files are cut into pieces of about this size.
pub const PIECE_BYTES: usize = 8 << 20;
/// Bytes of the previous piece repeated at the start of the next, so that n-grams
/// across the cut are seen (as long as n tokens span fewer bytes than this).
const OVERLAP_BYTES: usize = 16 << 10;
/// A JSONL line may not be longer than this.
const MAX_LINE_BYTES: usize = 1 << 30;

/// How a corpus file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// By extension (after `.gz`, `.zst`, `.zstd`): `.jsonl`, `.json`, `.ndjson` are
    /// JSONL, `.parquet` Parquet, anything else plain text. Standard input is JSONL
    /// when its first non-blank byte is `{` or `"`, plain text otherwise.
    Auto,
    Jsonl,
    Text,
    Parquet,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" => Ok(Format::Jsonl),
            "text" => Ok(Format::Text),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!("unknown format {s:?} (auto, jsonl, text, parquet)")),
        }
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Files, folders (walked recursively in sorted order, hidden entries skipped) and
    /// `-` for standard input.
    pub paths: Vec<PathBuf>,
    pub format: Format,
    /// The string field of a JSONL object, or the Parquet column, holding the text.
    pub text_field: String,
}

/// One input of the corpus.
#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    File { path: PathBuf, len: u64 },
}

/// The work handed to a worker.
#[derive(Debug)]
pub enum Batch {
    /// Whole JSONL lines (1-based `first_line`), parsed by the worker.
    Lines { file: Arc<str>, first_line: usize, data: Vec<u8> },
    /// Texts: `starts` of them begin a document, the others continue the document
    /// before them (pieces of one long plain-text file, which overlap).
    Texts { texts: Vec<String>, starts: usize },
}

impl Batch {
    pub fn bytes(&self) -> usize {
        match self {
            Batch::Lines { data, .. } => data.len(),
            Batch::Texts { texts, .. } => texts.iter().map(String::len).sum(),
        }
    }
}

/// Lists the inputs: folders are walked recursively, entries in byte order of their
/// names, names starting with `.` skipped.
pub fn list_inputs(spec: &CorpusSpec) -> Result<Vec<Input>, LabError> {
    let mut out = Vec::new();
    for p in &spec.paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
        } else {
            walk(p, &mut out)?;
        }
    }
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<Input>) -> Result<(), LabError> {
    let io = |e| LabError::Io { path: p.to_path_buf(), err: e };
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.is_dir() {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(p).map_err(io)? {
            let e = e.map_err(io)?;
            if !e.file_name().to_string_lossy().starts_with('.') {
                entries.push(e.path());
            }
        }
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(Input::File { path: p.to_path_buf(), len: meta.len() });
    }
    Ok(())
}

/// Total bytes of the files (None with standard input).
pub fn total_bytes(inputs: &[Input]) -> Option<u64> {
    inputs.iter().map(|i| if let Input::File { len, .. } = i { Some(*len) } else { None }).sum()
}

/// Counts bytes as they are read from a file, before decompression.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Reads every input in order and gives each batch to `sink` with the number of input
/// bytes consumed so far. `sink` returning an error stops the reading.
pub fn read_all(
    spec: &CorpusSpec,
    inputs: &[Input],
    sink: &mut dyn FnMut(Batch, u64) -> Result<(), LabError>,
) -> Result<(), LabError> {
    let done = Rc::new(Cell::new(0u64));
    for input in inputs {
        let (name, raw, path): (Arc<str>, Box<dyn Read>, Option<&Path>) = match input {
            Input::Stdin => ("<stdin>".into(), Box::new(std::io::stdin().lock()), None),
            Input::File { path, .. } => {
                let f = std::fs::File::open(path).map_err(|e| LabError::Io { path: path.clone(), err: e })?;
                (path.display().to_string().into(), Box::new(f), Some(path.as_path()))
            }
        };
        let base = done.get();
        let counted = Counting { inner: raw, count: Rc::new(Cell::new(0)) };
        let count = counted.count.clone();
        let mut emit = |b: Batch| sink(b, base + count.get());
        let ext_format = path.map_or(Format::Auto, format_of_name);
        let format = if spec.format == Format::Auto { ext_format } else { spec.format };
        if format == Format::Parquet {
            let p = path.ok_or_else(|| LabError::Invalid("Parquet cannot be read from standard input".into()))?;
            super::parquet_src::read(p, &spec.text_field, &mut emit)?;
        } else {
            let mut r = decompress(counted, &name)?;
            let format = if format == Format::Auto { sniff(&mut r, &name)? } else { format };
            match format {
                Format::Text => read_text(&mut r, &name, &mut emit)?,
                _ => read_lines(&mut r, &name, &mut emit)?,
            }
        }
        done.set(match input {
            Input::File { len, .. } => base + len,
            Input::Stdin => base + count.get(),
        });
    }
    Ok(())
}

/// The format an extension implies (Auto for standard input, decided by content).
fn format_of_name(p: &Path) -> Format {
    let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let name = ["gz", "zst", "zstd"]
        .iter()
        .find_map(|c| name.strip_suffix(&format!(".{c}")))
        .map(str::to_string)
        .unwrap_or(name);
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("jsonl" | "json" | "ndjson") => Format::Jsonl,
        Some("parquet") => Format::Parquet,
        _ => Format::Text,
    }
}

/// Wraps `r` in a gzip or zstd decoder when its first bytes are that format's magic.
fn decompress(r: impl Read + 'static, name: &str) -> Result<Box<dyn BufRead>, LabError> {
    let mut r = BufReader::with_capacity(256 << 10, r);
    let io = |e| LabError::Io { path: name.into(), err: e };
    let head = r.fill_buf().map_err(io)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(256 << 10, flate2::bufread::MultiGzDecoder::new(r))))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(r).map_err(io)?;
        Ok(Box::new(BufReader::with_capacity(256 << 10, d)))
    } else {
        Ok(Box::new(r))
    }
}

/// JSONL or plain text, from the first non-blank bytes (standard input).
fn sniff(r: &mut Box<dyn BufRead>, name: &str) -> Result<Format, LabError> {
    let head = r.fill_buf().map_err(|e| LabError::Io { path: name.into(), err: e })?;
    if head.starts_with(b"PAR1") {
        return Err(LabError::Invalid(format!("{name}: Parquet cannot be read from a stream; pass the file")));
    }
    Ok(match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'"') => Format::Jsonl,
        _ => Format::Text,
    })
}

/// Fills `buf[at..]` from `r` until full or at the end; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8], name: &str) -> Result<usize, LabError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(LabError::Io { path: name.into(), err: e }),
        }
    }
    Ok(got)
}

/// JSONL: batches of whole lines.
fn read_lines(
    r: &mut dyn Read,
    name: &Arc<str>,
    emit: &mut dyn FnMut(Batch) -> Result<(), LabError>,
) -> Result<(), LabError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut line = 1usize;
    loop {
        let old = buf.len();
        buf.resize(old + BATCH_BYTES, 0);
        let got = read_full(r, &mut buf[old..], name)?;
        buf.truncate(old + got);
        if got == 0 {
            if !buf.is_empty() {
                emit(Batch::Lines { file: name.clone(), first_line: line, data: buf })?;
            }
            return Ok(());
        }
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(p) => {
                let rest = buf.split_off(p + 1);
                let lines = buf.iter().filter(|&&b| b == b'\n').count();
                emit(Batch::Lines { file: name.clone(), first_line: line, data: buf })?;
                line += lines;
                buf = rest;
            }
            None if buf.len() > MAX_LINE_BYTES => {
                return Err(LabError::Data {
                    path: name.to_string(),
                    line,
                    msg: format!("a line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            None => {}
        }
    }
}

/// Whether a cut before `b[at]` is a pre-token boundary of byte-level BPE: the byte
/// before is a newline and the byte at `at` a visible ASCII character. No pattern of
/// the Llama 3 or GPT-2 pre-tokenizers matches across such a point, so the two sides
/// tokenize as they do in the whole text.
fn clean_cut(b: &[u8], at: usize) -> bool {
    at > 0 && b.get(at - 1) == Some(&b'\n') && b.get(at).is_some_and(u8::is_ascii_graphic)
}

/// The last clean cut in `b[lo..hi]`, if any.
fn last_cut(b: &[u8], lo: usize, hi: usize) -> Option<usize> {
    (lo.max(1)..hi.min(b.len())).rev().find(|&i| clean_cut(b, i))
}

/// Plain text: one document per file. Files larger than `PIECE_BYTES` go out in
/// pieces cut at clean cuts; each piece after the first starts with the text after an
/// earlier clean cut, `OVERLAP_BYTES` or more before its own, so every n-gram across
/// the cut lies whole in one piece. Text with no clean cut for `4 * PIECE_BYTES` is cut
/// at a character boundary without overlap (n-grams across that cut are not seen).
fn read_text(
    r: &mut dyn Read,
    name: &Arc<str>,
    emit: &mut dyn FnMut(Batch) -> Result<(), LabError>,
) -> Result<(), LabError> {
    let mut buf: Vec<u8> = Vec::new();
    // `buf[..fresh]` repeats the end of the previous piece.
    let mut fresh = 0usize;
    let mut first = true;
    loop {
        let old = buf.len();
        buf.resize(old + BATCH_BYTES.max((fresh + PIECE_BYTES).saturating_sub(old)), 0);
        let got = read_full(r, &mut buf[old..], name)?;
        buf.truncate(old + got);
        if got == 0 {
            if first || buf.len() > fresh {
                let text = String::from_utf8_lossy(&buf).into_owned();
                emit(Batch::Texts { texts: vec![text], starts: usize::from(first) })?;
            }
            return Ok(());
        }
        // Earlier bytes were searched before; only boundaries touching new bytes are new.
        let lo = (fresh + PIECE_BYTES / 2).max(old);
        let (cut, overlap) = match last_cut(&buf, lo, buf.len()) {
            Some(c) => (c, true),
            None if buf.len() >= fresh + 4 * PIECE_BYTES => (char_boundary(&buf), false),
            None => continue,
        };
        emit(Batch::Texts {
            texts: vec![String::from_utf8_lossy(&buf[..cut]).into_owned()],
            starts: usize::from(first),
        })?;
        first = false;
        let back = cut.saturating_sub(OVERLAP_BYTES);
        let keep = if overlap { last_cut(&buf, back.saturating_sub(1 << 20), back + 1).unwrap_or(cut) } else { cut };
        buf.drain(..keep);
        fresh = cut - keep;
    }
}

/// The last UTF-8 character boundary of `b` (so a cut there splits no character).
fn char_boundary(b: &[u8]) -> usize {
    (b.len().saturating_sub(4)..b.len()).rev().find(|&i| b[i] & 0xc0 != 0x80).unwrap_or(b.len())
}
