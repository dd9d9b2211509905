//! A read-only byte string -> id table for BPE's hot lookups (open addressing, short keys stored inline).
//!
//! Encoding asks "is this byte string a token?" about once per input byte, and a third
//! of the answers are "no". The cost is memory latency, so the lookup must not chase a
//! pointer to a boxed key and call `memcmp` as a `HashMap<Box<[u8]>, u32>` does, and
//! what it touches should stay in cache:
//! - 2-byte keys (two in five lookups: BPE starts with every adjacent byte pair) index a
//!   direct 65,536-entry array;
//! - longer keys first ask a 128 KB Bloom filter, which turns away most "no"s without
//!   touching the tables;
//! - 3- and 4-byte keys (a third of lookups) live in their own tables of 8-byte slots
//!   (key and id side by side), 768 KB together for Llama 3;
//! - other keys up to 8 bytes are stored as their bytes packed into a `u64`, so a probe
//!   compares two integers; longer keys store a 64-bit hash and are confirmed against
//!   their bytes.

use super::bpe::ByteMap;

/// Keys up to this many bytes are stored inline.
const INLINE: usize = 8;

#[derive(Clone, Copy, Default, Debug)]
struct Slot {
    /// The packed bytes (tokens up to [`INLINE`] bytes) or a hash of them (longer tokens).
    key: u64,
    id: u32,
    /// Token length in bytes; 0 marks an empty slot (no token is empty).
    len: u32,
}

/// Fibonacci hashing: the multiply carries every key bit into the top `64 - shift` bits.
#[inline]
fn slot_index(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// Keys of one length (3 or 4 bytes): each slot is `key | id << 32`, [`FREE`] when empty.
#[derive(Debug, Default)]
struct SmallKeys {
    /// Power-of-two many slots, at most half full, linear probing.
    slots: Vec<u64>,
    shift: u32,
}

/// An empty slot: no token has id `u32::MAX` (ids are below the vocabulary size).
const FREE: u64 = u64::MAX;

impl SmallKeys {
    fn new(keys: &[(u32, u32)]) -> Self {
        let cap = (2 * keys.len()).max(16).next_power_of_two();
        let mut t = SmallKeys { slots: vec![FREE; cap], shift: 64 - cap.trailing_zeros() };
        for &(key, id) in keys {
            let mut i = slot_index(u64::from(key), t.shift);
            while t.slots[i] != FREE {
                i = (i + 1) & (cap - 1);
            }
            t.slots[i] = u64::from(key) | (u64::from(id) << 32);
        }
        t
    }

    #[inline]
    fn get(&self, key: u32) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = slot_index(u64::from(key), self.shift);
        loop {
            let s = *self.slots.get(i)?;
            if s as u32 == key && s != FREE {
                return Some((s >> 32) as u32);
            }
            if s == FREE {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

/// A blocked Bloom filter over the keys of 3 bytes and more (3 bits in one word per key,
/// 8 bits per key: about 3% false positives), so that most lookups of a pair that is no
/// token are answered from 128 KB (for Llama 3) that stay in cache.
#[derive(Debug, Default)]
struct Filter {
    /// Three bits per key, all in one word.
    words: Vec<u64>,
    shift: u32,
}

impl Filter {
    fn new(n_keys: usize) -> Self {
        let n = (n_keys / 8).max(64).next_power_of_two();
        Filter { words: vec![0; n], shift: 64 - n.trailing_zeros() }
    }

    #[inline]
    fn word_and_bits(&self, key: u64, len: usize) -> (usize, u64) {
        let mut h = (key ^ ((len as u64) << 58)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^= h >> 32;
        h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let bits = (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63)) | (1u64 << ((h >> 12) & 63));
        ((h >> self.shift) as usize, bits)
    }

    fn insert(&mut self, key: u64, len: usize) {
        let (w, bits) = self.word_and_bits(key, len);
        self.words[w] |= bits;
    }

    /// False: certainly not a key. True: probably one.
    #[inline]
    fn may_contain(&self, key: u64, len: usize) -> bool {
        let (w, bits) = self.word_and_bits(key, len);
        self.words.get(w).is_some_and(|&word| word & bits == bits)
    }
}

#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    /// Ids of the 2-byte tokens, indexed by `first | second << 8`; `u32::MAX`: none.
    two: Vec<u32>,
    filter: Filter,
    three: SmallKeys,
    four: SmallKeys,
    /// Every other key. Power-of-two many slots, at most half full, linear probing.
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: the slot index is the top bits of the mixed key.
    shift: u32,
    /// For a slot holding a long token: where its bytes start in `long_bytes`.
    long_at: Vec<usize>,
    long_bytes: Vec<u8>,
}

/// The first `len` (1..=8) bytes of `buf[start..]` as a zero-padded little-endian u64.
#[inline]
pub(crate) fn pack_at(buf: &[u8], start: usize, len: usize) -> u64 {
    debug_assert!((1..=INLINE).contains(&len));
    // One 8-byte load and a shift or mask whenever 8 bytes can be read around the key
    // (a variable-length copy would cost a `memcpy` call).
    let end = start + len;
    if let Some(w) = buf.get(start..start + 8) {
        load8(w) & (u64::MAX >> (64 - 8 * len))
    } else if end >= 8 {
        load8(&buf[end - 8..end]) >> (64 - 8 * len)
    } else {
        buf[start..end].iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b))
    }
}

#[inline]
fn load8(w: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(w);
    u64::from_le_bytes(b)
}

/// A 64-bit hash of a long key (FxHash over 8-byte words, then a full avalanche).
fn hash_long(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    let rest = words.remainder();
    let mut b = [0u8; 8];
    b[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    // splitmix64's finalizer: every input bit reaches every output bit.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The packed bytes of a key up to [`INLINE`] bytes, a hash of a longer one.
fn key_of(bytes: &[u8]) -> u64 {
    if bytes.len() <= INLINE { pack_at(bytes, 0, bytes.len()) } else { hash_long(bytes) }
}

impl TokenTable {
    pub fn new(map: &ByteMap) -> Self {
        let mut two = vec![u32::MAX; 1 << 16];
        let (mut three, mut four, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for (bytes, &id) in map {
            match bytes.len() {
                2 => two[pack_at(bytes, 0, 2) as usize] = id,
                3 => three.push((pack_at(bytes, 0, 3) as u32, id)),
                4 => four.push((pack_at(bytes, 0, 4) as u32, id)),
                _ => rest.push((bytes, id)),
            }
        }
        let cap = (2 * rest.len()).max(16).next_power_of_two();
        let mut filter = Filter::new(three.len() + four.len() + rest.len());
        for &(key, _) in three.iter() {
            filter.insert(u64::from(key), 3);
        }
        for &(key, _) in four.iter() {
            filter.insert(u64::from(key), 4);
        }
        for (bytes, _) in &rest {
            if bytes.len() > 2 {
                filter.insert(key_of(bytes), bytes.len());
            }
        }
        let mut t = TokenTable {
            two,
            filter,
            three: SmallKeys::new(&three),
            four: SmallKeys::new(&four),
            slots: vec![Slot::default(); cap],
            shift: 64 - cap.trailing_zeros(),
            long_at: vec![0; cap],
            long_bytes: Vec::new(),
        };
        for (bytes, id) in rest {
            if bytes.is_empty() || u32::try_from(bytes.len()).is_err() {
                continue;
            }
            let key = key_of(bytes);
            let mut i = t.index(key, bytes.len());
            while t.slots[i].len != 0 {
                i = (i + 1) & (cap - 1);
            }
            t.slots[i] = Slot { key, id, len: bytes.len() as u32 };
            if bytes.len() > INLINE {
                t.long_at[i] = t.long_bytes.len();
                t.long_bytes.extend_from_slice(bytes);
            }
        }
        t
    }

    #[inline]
    fn index(&self, key: u64, len: usize) -> usize {
        slot_index(key ^ (len as u64), self.shift)
    }

    /// The id of the token with exactly these bytes.
    #[inline]
    pub fn get(&self, bytes: &[u8]) -> Option<u32> {
        self.get_range(bytes, 0, bytes.len())
    }

    /// [`TokenTable::get`] of `buf[start..end]`; reading through `buf` lets short keys
    /// be packed with one 8-byte load past `end`.
    #[inline]
    pub fn get_range(&self, buf: &[u8], start: usize, end: usize) -> Option<u32> {
        let len = end - start;
        if len == 0 || self.slots.is_empty() {
            return None;
        }
        if len <= INLINE {
            let key = pack_at(buf, start, len);
            if len > 2 && !self.filter.may_contain(key, len) {
                return None;
            }
            return match len {
                2 => self.get_two(key as u8, (key >> 8) as u8),
                3 => self.three.get(key as u32),
                4 => self.four.get(key as u32),
                _ => self.get_packed(key, len),
            };
        }
        let bytes = &buf[start..end];
        let key = hash_long(bytes);
        if !self.filter.may_contain(key, len) {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.index(key, len);
        loop {
            let s = self.slots[i];
            if s.len == 0 {
                return None;
            }
            if s.key == key && s.len as usize == len {
                let at = self.long_at[i];
                if &self.long_bytes[at..at + len] == bytes {
                    return Some(s.id);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of the 2-byte token `[first, second]`.
    #[inline]
    pub fn get_two(&self, first: u8, second: u8) -> Option<u32> {
        self.two.get(usize::from(first) | usize::from(second) << 8).copied().filter(|&id| id != u32::MAX)
    }

    /// Lookup of a key of `len` (1, or 5..=8) bytes packed by [`pack_at`].
    #[inline]
    fn get_packed(&self, key: u64, len: usize) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.index(key, len);
        loop {
            let s = *self.slots.get(i)?;
            if s.key == key && s.len as usize == len {
                return Some(s.id);
            }
            if s.len == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let mut map = ByteMap::default();
        let keys: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"\0".to_vec(),
            b"\0\0".to_vec(),
            b"abc".to_vec(),
            b"\0\0\0".to_vec(),
            b"abcd".to_vec(),
            vec![0xff; 4],
            b"abcde".to_vec(),
            b"abcdefgh".to_vec(),
            b"abcdefghi".to_vec(),
            b"abcdefghij".to_vec(),
            vec![0xff; 40],
            "été".as_bytes().to_vec(),
        ];
        for (i, k) in keys.iter().enumerate() {
            map.insert(k.clone().into_boxed_slice(), i as u32);
        }
        let t = TokenTable::new(&map);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), Some(i as u32), "{k:?}");
            // The same key inside a longer buffer, packed with the 8-byte load.
            let mut buf = b"xy".to_vec();
            buf.extend_from_slice(k);
            buf.extend_from_slice(b"zzzzzzzzz");
            assert_eq!(t.get_range(&buf, 2, 2 + k.len()), Some(i as u32), "{k:?} in a buffer");
        }
        for miss in [
            &b""[..],
            b"b",
            b"ab",
            b"abd",
            b"\0a",
            b"\0\0\0\0",
            b"abce",
            &[0xff; 3],
            &[0xff; 5],
            b"abcdefg",
            b"abcdefghijk",
            &[0xff; 39],
            &[0xff; 41],
        ] {
            assert_eq!(t.get(miss), None, "{miss:?}");
        }
        assert_eq!(TokenTable::default().get(b"a"), None);
    }

    #[test]
    fn many_keys_probe_correctly() {
        let mut map = ByteMap::default();
        for i in 0..50_000u32 {
            let k = format!("{i}-{}", i.wrapping_mul(2_654_435_761));
            map.insert(k.into_bytes().into_boxed_slice(), i);
        }
        let t = TokenTable::new(&map);
        for (k, &id) in &map {
            assert_eq!(t.get(k), Some(id));
        }
        assert_eq!(t.get(b"50000-x"), None);
    }
}
