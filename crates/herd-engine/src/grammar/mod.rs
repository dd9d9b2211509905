//! Constrained decoding for JSON: decides, byte by byte, whether a partial output can still
//! become a JSON document that matches a constraint (any object, or a JSON Schema).
//!
//! A schema is compiled once (`schema.rs`) into a graph of nodes. A `Matcher` walks that
//! graph with an explicit stack per "thread", so recursive schemas need no recursion here.
//! `anyOf` is nondeterministic: a value that may match several alternatives is followed by
//! one thread per alternative, threads that reject a byte die, identical ones are merged.
//! Every check is on bytes, because a token can end in the middle of a UTF-8 character.
//!
//! The matcher also avoids dead ends where it cheaply can (a closed set of keys or enum
//! strings is checked against each byte, even inside `\u` escapes), so a prefix it accepts
//! can almost always be completed.

mod schema;
#[cfg(test)]
mod tests;

use std::sync::Arc;

/// Index of a node in `Compiled::nodes`.
pub(crate) type NodeId = u32;

/// Containers (objects and arrays) open at once; deeper nesting is rejected.
const MAX_DEPTH: u8 = 64;
/// Live alternatives kept at once. Extra ones are dropped: the matcher stays sound (all it
/// accepts matches) but may then refuse a rare valid continuation.
const MAX_THREADS: usize = 64;

// The JSON types a schema node allows, as bits.
pub(crate) const T_NULL: u8 = 1;
pub(crate) const T_BOOL: u8 = 2;
pub(crate) const T_INT: u8 = 4;
pub(crate) const T_NUM: u8 = 8;
pub(crate) const T_STR: u8 = 16;
pub(crate) const T_ARR: u8 = 32;
pub(crate) const T_OBJ: u8 = 64;
pub(crate) const T_ALL: u8 = 127;

// Nodes every compiled constraint starts with.
pub(crate) const ANY: NodeId = 0;
pub(crate) const TRUE: NodeId = 1;
pub(crate) const FALSE: NodeId = 2;
pub(crate) const NULL: NodeId = 3;

/// One schema node.
#[derive(Debug)]
pub(crate) enum Node {
    /// A value of one of several types, each with its own constraints.
    Schema(Box<TypeSchema>),
    /// Exactly these bytes (true, false, null, or a number's canonical text from enum/const).
    Literal(Box<[u8]>),
    /// A string whose decoded content is one of these (sorted, distinct).
    StrEnum(Box<[Box<str>]>),
    /// Any of these nodes.
    AnyOf(Box<[NodeId]>),
    /// The node a `$ref` resolved to (a separate node so recursion can point at it early).
    Ref(NodeId),
    /// No value.
    Never,
}

/// The constraints of a `Node::Schema`, per type; those of types not in `types` are unused.
#[derive(Debug)]
pub(crate) struct TypeSchema {
    pub(crate) types: u8,
    /// String length in Unicode code points.
    pub(crate) min_len: u32,
    pub(crate) max_len: u32,
    /// Known property names, sorted by bytes so a prefix selects a contiguous range.
    pub(crate) names: Vec<Box<str>>,
    /// The schema of each name in `names`.
    pub(crate) props: Vec<NodeId>,
    /// Bit k: `names[k]` is required.
    pub(crate) required: u128,
    /// The schema of other keys; `None` forbids them.
    pub(crate) additional: Option<NodeId>,
    pub(crate) prefix: Vec<NodeId>,
    /// The schema of items after `prefix`; `None` forbids them.
    pub(crate) items: Option<NodeId>,
    pub(crate) min_items: u32,
    pub(crate) max_items: u32,
}

impl TypeSchema {
    pub(crate) fn new(types: u8) -> Self {
        TypeSchema {
            types,
            min_len: 0,
            max_len: u32::MAX,
            names: Vec::new(),
            props: Vec::new(),
            required: 0,
            additional: Some(ANY),
            prefix: Vec::new(),
            items: Some(ANY),
            min_items: 0,
            max_items: u32::MAX,
        }
    }

    fn item(&self, index: u32) -> Option<NodeId> {
        self.prefix.get(index as usize).copied().or(self.items)
    }

    fn can_add_item(&self, count: u32) -> bool {
        count < self.max_items && self.item(count).is_some()
    }

    /// Whether another key can still be written, given the known keys already seen.
    fn can_add_key(&self, seen: u128) -> bool {
        self.additional.is_some() || (0..self.names.len()).any(|k| seen & (1u128 << k) == 0)
    }
}

/// A compiled schema: nodes plus, per node, the concrete nodes (`Schema`, `Literal`,
/// `StrEnum`) it stands for once `AnyOf` and `Ref` are flattened.
#[derive(Debug)]
pub(crate) struct Compiled {
    nodes: Vec<Node>,
    alts: Vec<Box<[NodeId]>>,
    root: NodeId,
}

impl Compiled {
    /// The nodes every constraint starts with: ANY, TRUE, FALSE, NULL.
    pub(crate) fn base_nodes() -> Vec<Node> {
        vec![
            Node::Schema(Box::new(TypeSchema::new(T_ALL))),
            Node::Literal(Box::from(&b"true"[..])),
            Node::Literal(Box::from(&b"false"[..])),
            Node::Literal(Box::from(&b"null"[..])),
        ]
    }

    pub(crate) fn new(nodes: Vec<Node>, root: NodeId) -> Result<Self, String> {
        let alts = flatten_all(&nodes);
        if alts.get(root as usize).is_none_or(|a| a.is_empty()) {
            return Err("json_schema: the schema accepts no value".to_string());
        }
        Ok(Compiled { nodes, alts, root })
    }

    fn schema(&self, n: NodeId) -> Option<&TypeSchema> {
        match self.nodes.get(n as usize) {
            Some(Node::Schema(s)) => Some(s),
            _ => None,
        }
    }

    fn names(&self, n: NodeId) -> &[Box<str>] {
        match self.nodes.get(n as usize) {
            Some(Node::StrEnum(names)) => names,
            Some(Node::Schema(s)) => &s.names,
            _ => &[],
        }
    }

    fn literal(&self, n: NodeId) -> &[u8] {
        match self.nodes.get(n as usize) {
            Some(Node::Literal(bytes)) => bytes,
            _ => &[],
        }
    }
}

/// For each node, the concrete nodes it stands for (itself unless it is an `AnyOf` or a
/// `Ref`). A cycle of refs without a concrete node in between contributes nothing.
fn flatten_all(nodes: &[Node]) -> Vec<Box<[NodeId]>> {
    // visited[x] == n + 1: x was reached while flattening n (no clearing between nodes).
    let mut visited = vec![0usize; nodes.len()];
    let mut todo = Vec::new();
    let mut all = Vec::with_capacity(nodes.len());
    for (n, node) in nodes.iter().enumerate() {
        if !matches!(node, Node::AnyOf(_) | Node::Ref(_) | Node::Never) {
            all.push(Box::from([n as NodeId]));
            continue;
        }
        let mut out = Vec::new();
        todo.push(n as NodeId);
        while let Some(x) = todo.pop() {
            let Some(seen) = visited.get_mut(x as usize) else { continue };
            if std::mem::replace(seen, n + 1) == n + 1 {
                continue;
            }
            match &nodes[x as usize] {
                Node::AnyOf(alts) => todo.extend(alts.iter().rev()),
                Node::Ref(target) => todo.push(*target),
                Node::Never => {}
                _ => out.push(x),
            }
        }
        all.push(out.into());
    }
    all
}

/// A compiled constraint; cheap to clone and shareable between threads.
#[derive(Clone, Debug)]
pub struct JsonConstraint {
    inner: Arc<Compiled>,
}

impl JsonConstraint {
    /// Any JSON object (OpenAI's json_object mode: the top level must be an object).
    pub fn any_object() -> Self {
        let mut nodes = Compiled::base_nodes();
        nodes.push(Node::Schema(Box::new(TypeSchema::new(T_OBJ))));
        let root = (nodes.len() - 1) as NodeId;
        let alts = flatten_all(&nodes);
        JsonConstraint { inner: Arc::new(Compiled { nodes, alts, root }) }
    }

    /// From a JSON Schema; an unsupported or invalid schema is an Err naming the keyword
    /// and its JSON pointer path.
    pub fn from_schema(schema: &serde_json::Value) -> Result<Self, String> {
        Ok(JsonConstraint { inner: Arc::new(schema::compile(schema)?) })
    }

    /// A matcher at the start of the output.
    pub fn start(&self) -> Matcher {
        let root = Thread { stack: vec![Frame::Value(self.inner.root)], ws: 0, depth: 0 };
        Matcher { c: Arc::clone(&self.inner), threads: vec![root] }
    }
}

/// The state of a partial output.
#[derive(Clone, Debug)]
pub struct Matcher {
    c: Arc<Compiled>,
    /// Never empty: `advance` refuses bytes that would kill every thread.
    threads: Vec<Thread>,
}

impl Matcher {
    /// Feeds bytes; returns false and leaves the state unchanged if any byte is not allowed.
    pub fn advance(&mut self, bytes: &[u8]) -> bool {
        match self.run(bytes) {
            Some(threads) => {
                self.threads = threads;
                true
            }
            None => false,
        }
    }

    /// Whether `bytes` could be fed (no state change).
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        self.run(bytes).is_some()
    }

    /// The output so far is a complete value that matches (generation may end here).
    pub fn is_complete(&self) -> bool {
        self.threads.iter().any(Thread::is_complete)
    }

    /// Complete and no further byte is allowed: the engine must end now. (No byte at all
    /// may follow a complete top-level value, not even whitespace.)
    pub fn must_end(&self) -> bool {
        self.threads.iter().all(Thread::is_finished)
    }

    fn run(&self, bytes: &[u8]) -> Option<Vec<Thread>> {
        let mut cur = self.threads.clone();
        let mut next = Vec::with_capacity(cur.len());
        for &b in bytes {
            for t in cur.drain(..) {
                step(&self.c, t, b, &mut next);
            }
            if next.is_empty() {
                return None;
            }
            prune(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        Some(cur)
    }
}

/// Merges identical threads (alternatives that converged) and caps their number.
fn prune(threads: &mut Vec<Thread>) {
    if threads.len() > 1 {
        let mut i = 1;
        while i < threads.len() {
            if threads[..i].contains(&threads[i]) {
                threads.remove(i);
            } else {
                i += 1;
            }
        }
        threads.truncate(MAX_THREADS);
    }
}

/// One way of reading the output so far: a stack of open values, innermost last.
#[derive(Clone, Debug, PartialEq)]
struct Thread {
    /// Empty once the top-level value is complete.
    stack: Vec<Frame>,
    /// Length of the current run of insignificant whitespace.
    ws: u16,
    /// Open containers.
    depth: u8,
}

impl Thread {
    fn is_complete(&self) -> bool {
        match self.stack.as_slice() {
            [] => true,
            // A top-level number has no closing byte: it is complete whenever it parses.
            [Frame::Num { st, .. }] => st.is_terminal(),
            _ => false,
        }
    }

    /// Complete, and no byte can follow.
    fn is_finished(&self) -> bool {
        matches!(self.stack.as_slice(), [] | [Frame::Num { integer: true, st: Num::Zero }])
    }
}

/// The longest run of insignificant whitespace allowed at a nesting depth: a newline and
/// up to four columns of indentation per level, so pretty-printed output fits, while a
/// model can never spend unbounded tokens on whitespace.
fn ws_limit(depth: u8) -> u16 {
    8 + 4 * u16::from(depth)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// An open value.
#[derive(Clone, Debug, PartialEq)]
enum Frame {
    /// A value of this node is expected next (leading whitespace allowed).
    Value(NodeId),
    /// Inside a `Node::Literal`; `pos` bytes matched.
    Lit {
        node: NodeId,
        pos: u32,
    },
    Num {
        integer: bool,
        st: Num,
    },
    /// Inside a string value of a `Schema` (free text) or a `StrEnum` (one of its names).
    Str {
        node: NodeId,
        scan: Scan,
        text: Text,
    },
    Obj {
        node: NodeId,
        st: ObjSt,
        seen: u128,
        unknown: Vec<u64>,
    },
    Arr {
        node: NodeId,
        st: ArrSt,
        count: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Text {
    Free { chars: u32 },
    OneOf(NameRange),
}

#[derive(Clone, Debug, PartialEq)]
enum ObjSt {
    /// After `{`.
    Start,
    /// Inside a key.
    Key { scan: Scan, range: NameRange },
    /// After a key, before `:`; the value's node.
    Colon(NodeId),
    /// After a member value.
    Next,
    /// After `,`.
    Comma,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ArrSt {
    /// After `[`.
    Start,
    /// After an item.
    Next,
    /// After `,`.
    Comma,
}

/// Position in the number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    fn is_terminal(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }

    fn next(self, b: u8, integer: bool) -> Option<Num> {
        let digit = b.is_ascii_digit();
        match (self, b) {
            (Num::Minus, b'0') => Some(Num::Zero),
            (Num::Minus, b'1'..=b'9') => Some(Num::Int),
            (Num::Int, _) if digit => Some(Num::Int),
            (Num::Zero | Num::Int, b'.') if !integer => Some(Num::Dot),
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') if !integer => Some(Num::Exp),
            (Num::Dot | Num::Frac, _) if digit => Some(Num::Frac),
            (Num::Exp, b'+' | b'-') => Some(Num::ExpSign),
            (Num::Exp | Num::ExpSign | Num::ExpDigits, _) if digit => Some(Num::ExpDigits),
            _ => None,
        }
    }
}

/// Where a string scanner is inside one character of string content.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scan {
    Text,
    /// Inside a multi-byte UTF-8 character: `need` more bytes, the next in `lo..=hi`
    /// (narrower than 80..BF after some lead bytes, which rules out overlong forms and
    /// surrogates).
    Utf8 {
        need: u8,
        lo: u8,
        hi: u8,
    },
    /// After `\`.
    Escape,
    /// After `\u` and `n` hex digits making `unit`; `high` is the high surrogate before it
    /// (0 if none).
    Hex {
        n: u8,
        unit: u32,
        high: u32,
    },
    /// After a high surrogate escape, which must be followed by `\u` and a low one.
    LowBackslash {
        high: u32,
    },
    LowU {
        high: u32,
    },
}

/// What one byte did to a string.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Reject,
    /// The closing quote.
    Close,
    /// A content byte, as is.
    Raw {
        b: u8,
        starts_char: bool,
    },
    /// A backslash (which starts one character).
    EscStart,
    /// Inside an escape.
    Pending,
    /// An escape ended, decoding to this character.
    Char(char),
}

impl Scan {
    fn feed(&mut self, b: u8) -> Ev {
        let start = Ev::Raw { b, starts_char: true };
        match *self {
            Scan::Text => {
                let (need, lo, hi) = match b {
                    b'"' => return Ev::Close,
                    b'\\' => {
                        *self = Scan::Escape;
                        return Ev::EscStart;
                    }
                    0..=0x1F => return Ev::Reject,
                    0x20..=0x7F => return start,
                    0xC2..=0xDF => (1, 0x80, 0xBF),
                    0xE0 => (2, 0xA0, 0xBF),
                    0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                    0xED => (2, 0x80, 0x9F),
                    0xF0 => (3, 0x90, 0xBF),
                    0xF1..=0xF3 => (3, 0x80, 0xBF),
                    0xF4 => (3, 0x80, 0x8F),
                    _ => return Ev::Reject,
                };
                *self = Scan::Utf8 { need, lo, hi };
                start
            }
            Scan::Utf8 { need, lo, hi } => {
                if !(lo..=hi).contains(&b) {
                    return Ev::Reject;
                }
                *self = if need <= 1 { Scan::Text } else { Scan::Utf8 { need: need - 1, lo: 0x80, hi: 0xBF } };
                Ev::Raw { b, starts_char: false }
            }
            Scan::Escape => {
                let c = match b {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        *self = Scan::Hex { n: 0, unit: 0, high: 0 };
                        return Ev::Pending;
                    }
                    _ => return Ev::Reject,
                };
                *self = Scan::Text;
                Ev::Char(c)
            }
            Scan::Hex { n, unit, high } => {
                let Some(d) = (b as char).to_digit(16) else { return Ev::Reject };
                let (n, unit) = (n + 1, (unit << 4) | d);
                let (lo, hi) = unit_range(n, unit);
                // Reject as soon as no completion is a valid unit: a lone low surrogate
                // first, or anything but a low surrogate after a high one.
                let low = 0xDC00..=0xDFFF;
                let ok =
                    if high == 0 { !(low.contains(&lo) && low.contains(&hi)) } else { hi >= 0xDC00 && lo <= 0xDFFF };
                if !ok {
                    return Ev::Reject;
                }
                if n < 4 {
                    *self = Scan::Hex { n, unit, high };
                    return Ev::Pending;
                }
                let cp = if high != 0 {
                    0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                } else if (0xD800..=0xDBFF).contains(&unit) {
                    *self = Scan::LowBackslash { high: unit };
                    return Ev::Pending;
                } else {
                    unit
                };
                match char::from_u32(cp) {
                    Some(c) => {
                        *self = Scan::Text;
                        Ev::Char(c)
                    }
                    None => Ev::Reject,
                }
            }
            Scan::LowBackslash { high } if b == b'\\' => {
                *self = Scan::LowU { high };
                Ev::Pending
            }
            Scan::LowU { high } if b == b'u' => {
                *self = Scan::Hex { n: 0, unit: 0, high };
                Ev::Pending
            }
            Scan::LowBackslash { .. } | Scan::LowU { .. } => Ev::Reject,
        }
    }

    /// Inside an escape: whether it can still decode to `c`.
    fn could_decode(&self, c: char) -> bool {
        let cp = c as u32;
        // UTF-16 units of `c`: (cp, 0) in the BMP, else (high, low).
        let (u1, u2) = if cp >= 0x10000 { (0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + (cp & 0x3FF)) } else { (cp, 0) };
        match *self {
            Scan::Escape => true,
            Scan::Hex { n, unit, high: 0 } => {
                let (lo, hi) = unit_range(n, unit);
                (lo..=hi).contains(&u1)
            }
            Scan::Hex { n, unit, high } => {
                let (lo, hi) = unit_range(n, unit);
                u1 == high && (lo..=hi).contains(&u2)
            }
            Scan::LowBackslash { high } | Scan::LowU { high } => u1 == high,
            Scan::Text | Scan::Utf8 { .. } => false,
        }
    }
}

/// The UTF-16 units that `n` hex digits making `unit` can still become.
fn unit_range(n: u8, unit: u32) -> (u32, u32) {
    let span = 4 * u32::from(4u8.saturating_sub(n));
    let lo = unit << span;
    (lo, lo | ((1u32 << span) - 1))
}

/// Decoded string content matched against sorted names: those in `lo..hi` start with the
/// `pos` bytes so far. `hash` (FNV-1a of the bytes) tells apart keys outside the names.
#[derive(Clone, Copy, Debug, PartialEq)]
struct NameRange {
    lo: u32,
    hi: u32,
    pos: u32,
    hash: u64,
}

impl NameRange {
    fn new(names: &[Box<str>]) -> Self {
        NameRange { lo: 0, hi: names.len() as u32, pos: 0, hash: 0xcbf2_9ce4_8422_2325 }
    }

    fn feed(&mut self, names: &[Box<str>], b: u8) {
        let (lo, pos) = (self.lo as usize, self.pos as usize);
        let range = names.get(lo..self.hi as usize).unwrap_or(&[]);
        // Names sharing a prefix are sorted by their next byte (the prefix itself first).
        let at = |n: &str| n.as_bytes().get(pos).copied();
        self.lo = (lo + range.partition_point(|n| at(n) < Some(b))) as u32;
        self.hi = (lo + range.partition_point(|n| at(n) <= Some(b))) as u32;
        self.pos = self.pos.saturating_add(1);
        self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }

    /// Feeds the decoded bytes of a string event.
    fn feed_event(&mut self, names: &[Box<str>], ev: Ev) {
        match ev {
            Ev::Raw { b, .. } => self.feed(names, b),
            Ev::Char(c) => {
                for &b in c.encode_utf8(&mut [0; 4]).as_bytes() {
                    self.feed(names, b);
                }
            }
            _ => {}
        }
    }

    /// The name equal to the content so far (the shortest in range comes first).
    fn exact(&self, names: &[Box<str>]) -> Option<usize> {
        let k = self.lo as usize;
        (self.lo < self.hi && names.get(k).is_some_and(|n| n.len() == self.pos as usize)).then_some(k)
    }

    /// Whether some name passing `ok` can still be matched, given the scanner state after
    /// `ev` (inside an escape, the escape must be able to decode to the name's next char).
    fn viable(&self, names: &[Box<str>], scan: &Scan, ev: Ev, ok: impl Fn(usize) -> bool) -> bool {
        let pos = self.pos as usize;
        (self.lo as usize..self.hi as usize).any(|k| {
            ok(k)
                && match ev {
                    Ev::EscStart | Ev::Pending => names
                        .get(k)
                        .and_then(|n| n.get(pos..))
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(|c| scan.could_decode(c)),
                    _ => true,
                }
        })
    }
}

/// What a frame did with a byte.
enum Act {
    Reject,
    Consume,
    /// Pop the frame; the byte was its last (`consume`) or belongs to the parent.
    Pop {
        consume: bool,
    },
    /// Replace the top frame (the byte was consumed).
    Replace(Frame),
    /// Push a child value frame; the byte was consumed (`:`, `,`) or is its first byte.
    Push {
        frame: Frame,
        consume: bool,
    },
    /// The expected value is one of several alternatives: follow each.
    Fork(NodeId),
}

/// Feeds one byte to one thread, pushing the threads that survive into `out`.
fn step(c: &Compiled, mut t: Thread, b: u8, out: &mut Vec<Thread>) {
    loop {
        let Some(top) = t.stack.last_mut() else { return };
        let ws_here = matches!(top, Frame::Value(_) | Frame::Arr { .. })
            || matches!(top, Frame::Obj { st, .. } if !matches!(st, ObjSt::Key { .. }));
        if is_ws(b) && ws_here {
            if t.ws < ws_limit(t.depth) {
                t.ws += 1;
                out.push(t);
            }
            return;
        }
        t.ws = 0;
        let act = match top {
            Frame::Value(n) => value_start(c, *n, b, t.depth),
            Frame::Lit { node, pos } => {
                let lit = c.literal(*node);
                if lit.get(*pos as usize) != Some(&b) {
                    Act::Reject
                } else if *pos as usize + 1 == lit.len() {
                    Act::Pop { consume: true }
                } else {
                    *pos += 1;
                    Act::Consume
                }
            }
            Frame::Num { integer, st } => match st.next(b, *integer) {
                Some(next) => {
                    *st = next;
                    Act::Consume
                }
                // The number ended before this byte, which belongs to the parent.
                None if st.is_terminal() => Act::Pop { consume: false },
                None => Act::Reject,
            },
            Frame::Str { node, scan, text } => string_byte(c, *node, scan, text, b),
            Frame::Obj { node, st, seen, unknown } => match c.schema(*node) {
                Some(s) => object_byte(s, st, seen, unknown, b),
                None => Act::Reject,
            },
            Frame::Arr { node, st, count } => match c.schema(*node) {
                Some(s) => array_byte(s, st, count, b),
                None => Act::Reject,
            },
        };
        match act {
            Act::Reject => return,
            Act::Consume => break,
            Act::Pop { consume } => {
                if let Some(Frame::Obj { .. } | Frame::Arr { .. }) = t.stack.pop() {
                    t.depth = t.depth.saturating_sub(1);
                }
                if consume {
                    break;
                }
            }
            Act::Replace(frame) => {
                if let Frame::Obj { .. } | Frame::Arr { .. } = frame {
                    t.depth += 1;
                }
                t.stack.pop();
                t.stack.push(frame);
                break;
            }
            Act::Push { frame, consume } => {
                t.stack.push(frame);
                if consume {
                    break;
                }
            }
            Act::Fork(n) => {
                let alts = c.alts.get(n as usize).map_or(&[][..], |a| &a[..]);
                let Some((&last, rest)) = alts.split_last() else { return };
                for &alt in rest {
                    let mut u = t.clone();
                    u.stack.pop();
                    u.stack.push(Frame::Value(alt));
                    step(c, u, b, out);
                }
                t.stack.pop();
                t.stack.push(Frame::Value(last));
                // `last` is concrete, so the next turn of the loop does not fork again.
            }
        }
    }
    out.push(t);
}

/// The first byte of a value of node `n`.
fn value_start(c: &Compiled, n: NodeId, b: u8, depth: u8) -> Act {
    if c.alts.get(n as usize).is_none_or(|a| a.len() != 1 || a[0] != n) {
        return Act::Fork(n);
    }
    match c.nodes.get(n as usize) {
        Some(Node::Literal(lit)) => match lit.len() {
            _ if lit.first() != Some(&b) => Act::Reject,
            1 => Act::Pop { consume: true },
            _ => Act::Replace(Frame::Lit { node: n, pos: 1 }),
        },
        Some(Node::StrEnum(names)) if b == b'"' => {
            Act::Replace(Frame::Str { node: n, scan: Scan::Text, text: Text::OneOf(NameRange::new(names)) })
        }
        Some(Node::Schema(s)) => {
            let has = |t: u8| s.types & t != 0;
            let lit = |node: NodeId| Act::Replace(Frame::Lit { node, pos: 1 });
            match b {
                b'{' if has(T_OBJ) && depth < MAX_DEPTH => {
                    Act::Replace(Frame::Obj { node: n, st: ObjSt::Start, seen: 0, unknown: Vec::new() })
                }
                b'[' if has(T_ARR) && depth < MAX_DEPTH => {
                    Act::Replace(Frame::Arr { node: n, st: ArrSt::Start, count: 0 })
                }
                b'"' if has(T_STR) => {
                    Act::Replace(Frame::Str { node: n, scan: Scan::Text, text: Text::Free { chars: 0 } })
                }
                b'-' | b'0'..=b'9' if has(T_INT | T_NUM) => {
                    let st = match b {
                        b'-' => Num::Minus,
                        b'0' => Num::Zero,
                        _ => Num::Int,
                    };
                    Act::Replace(Frame::Num { integer: !has(T_NUM), st })
                }
                b't' if has(T_BOOL) => lit(TRUE),
                b'f' if has(T_BOOL) => lit(FALSE),
                b'n' if has(T_NULL) => lit(NULL),
                _ => Act::Reject,
            }
        }
        _ => Act::Reject,
    }
}

/// A byte inside a string value.
fn string_byte(c: &Compiled, node: NodeId, scan: &mut Scan, text: &mut Text, b: u8) -> Act {
    let ev = scan.feed(b);
    match (text, ev) {
        (_, Ev::Reject) => Act::Reject,
        (Text::Free { chars }, ev) => {
            let (min, max) = c.schema(node).map_or((0, u32::MAX), |s| (s.min_len, s.max_len));
            match ev {
                Ev::Close if *chars >= min => Act::Pop { consume: true },
                Ev::Close => Act::Reject,
                Ev::Raw { starts_char: true, .. } | Ev::EscStart if *chars >= max => Act::Reject,
                Ev::Raw { starts_char: true, .. } | Ev::EscStart => {
                    *chars += 1;
                    Act::Consume
                }
                _ => Act::Consume,
            }
        }
        (Text::OneOf(range), ev) => {
            let names = c.names(node);
            if let Ev::Close = ev {
                return if range.exact(names).is_some() { Act::Pop { consume: true } } else { Act::Reject };
            }
            range.feed_event(names, ev);
            if range.viable(names, scan, ev, |_| true) { Act::Consume } else { Act::Reject }
        }
    }
}

/// A byte inside an object (outside member values, which are frames of their own).
fn object_byte(s: &TypeSchema, st: &mut ObjSt, seen: &mut u128, unknown: &mut Vec<u64>, b: u8) -> Act {
    let done = s.required & !*seen == 0;
    match (&mut *st, b) {
        (ObjSt::Start | ObjSt::Comma, b'"') if s.can_add_key(*seen) => {
            *st = ObjSt::Key { scan: Scan::Text, range: NameRange::new(&s.names) };
        }
        (ObjSt::Start | ObjSt::Next, b'}') if done => return Act::Pop { consume: true },
        (ObjSt::Next, b',') if s.can_add_key(*seen) => *st = ObjSt::Comma,
        (ObjSt::Colon(value), b':') => {
            let frame = Frame::Value(*value);
            *st = ObjSt::Next;
            return Act::Push { frame, consume: true };
        }
        (ObjSt::Key { scan, range }, _) => {
            let ev = scan.feed(b);
            let unseen = |k: usize| *seen & (1u128 << k) == 0;
            match ev {
                Ev::Reject => return Act::Reject,
                Ev::Close => {
                    let value = match (range.exact(&s.names), s.additional) {
                        (Some(k), _) if unseen(k) => {
                            *seen |= 1u128 << k;
                            s.props.get(k).copied().unwrap_or(ANY)
                        }
                        // A duplicate key.
                        (Some(_), _) | (None, None) => return Act::Reject,
                        (None, Some(_)) if unknown.contains(&range.hash) => return Act::Reject,
                        (None, Some(additional)) => {
                            unknown.push(range.hash);
                            additional
                        }
                    };
                    *st = ObjSt::Colon(value);
                }
                ev => {
                    range.feed_event(&s.names, ev);
                    // With only known keys allowed, refuse a byte no unseen name continues.
                    if s.additional.is_none() && !range.viable(&s.names, scan, ev, unseen) {
                        return Act::Reject;
                    }
                }
            }
        }
        _ => return Act::Reject,
    }
    Act::Consume
}

/// A byte inside an array (outside items, which are frames of their own).
fn array_byte(s: &TypeSchema, st: &mut ArrSt, count: &mut u32, b: u8) -> Act {
    match (*st, b) {
        (ArrSt::Start, b']') if s.min_items == 0 => Act::Pop { consume: true },
        (ArrSt::Next, b']') if *count >= s.min_items => Act::Pop { consume: true },
        (ArrSt::Next, b',') if s.can_add_item(*count) => {
            *st = ArrSt::Comma;
            Act::Consume
        }
        // Anything else after `[` or `,` must start an item.
        (ArrSt::Start | ArrSt::Comma, _) if s.can_add_item(*count) => {
            let Some(item) = s.item(*count) else { return Act::Reject };
            *count += 1;
            *st = ArrSt::Next;
            Act::Push { frame: Frame::Value(item), consume: false }
        }
        _ => Act::Reject,
    }
}
