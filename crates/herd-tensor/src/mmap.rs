//! Read-only file mapping, the one `unsafe` step every model loader needs.

pub use memmap2::Mmap;
use std::fs::File;
use std::io;

/// Map a whole file read-only.
pub fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: memmap2 marks mapping unsafe because another process could truncate or
    // rewrite the file while it is mapped. herd only reads model files, treats their
    // bytes as untrusted (every read is bounds-checked against the length observed at
    // map time), and documents that model files must not be modified while in use.
    unsafe { Mmap::map(file) }
}

/// [`map_readonly`] for a model file whose weights every generated token reads: the
/// mapping asks for transparent huge pages (`MADV_HUGEPAGE`). Generation streams every
/// weight once per token, and with 4 KiB pages each page is a TLB miss and a page walk
/// where the hardware prefetchers stop. On Linux with a file system that caches files
/// in large folios (ext4 and XFS on recent kernels), the pages this mapping faults in
/// are read as 2 MiB folios and mapped as huge pages; a file already cached in small
/// folios (by another program's reads) keeps them until the kernel drops them, and is
/// then mapped as before. Measured on a 2-core Sapphire Rapids guest (Linux 6.18, ext4,
/// the file not cached before): 1B Q4_K_M generation 10.3 -> 12.9 tokens/s at 1
/// thread, 19.2 -> 24.5 at 2, with 723 MB of the 763 MB mapped as huge pages. No copy and
/// no memory beyond the mapping; `HERD_NO_HUGEPAGES=1` leaves the advice out. (Copying
/// the weights into anonymous huge pages measured no better there and cost 0.3-0.4 s
/// per GB of load time.)
pub fn map_weights(file: &File) -> io::Result<Mmap> {
    let map = map_readonly(file)?;
    #[cfg(target_os = "linux")]
    if huge_pages_wanted() {
        // Only advice: a kernel without huge pages for files says no, and the mapping
        // works as a plain one.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    Ok(map)
}

/// Whether mappings ask for huge pages: `HERD_NO_HUGEPAGES=1` leaves the advice out.
#[cfg(target_os = "linux")]
fn huge_pages_wanted() -> bool {
    std::env::var_os("HERD_NO_HUGEPAGES").is_none()
}

/// How a model file is mapped: as it is (`map_readonly`: reading a header, converting a
/// file once), or for inference, whose every token reads every weight (`map_weights`:
/// the same mapping with the huge-page advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    Plain,
    Inference,
}

impl Mapping {
    pub fn map(self, file: &File) -> io::Result<Mmap> {
        match self {
            Mapping::Plain => map_readonly(file),
            Mapping::Inference => map_weights(file),
        }
    }
}

/// A zeroed buffer of `u64` words in an anonymous mapping that asks for transparent
/// huge pages (`MADV_HUGEPAGE`), as the weights' mapping does: a streaming-read
/// benchmark over it measures what the decode kernels can reach. In 4 KiB pages, under
/// KVM, the page walks cost a third of the measured bandwidth on some hosts, and the
/// roofline of a generation reading its weights through huge pages came out above 100%.
#[derive(Debug)]
pub struct HugeWords {
    map: memmap2::MmapMut,
    words: usize,
}

impl HugeWords {
    pub fn new(words: usize) -> io::Result<HugeWords> {
        let bytes = words.checked_mul(8).ok_or_else(|| io::Error::other("buffer too large"))?;
        let map = memmap2::MmapOptions::new().len(bytes.max(8)).map_anon()?;
        #[cfg(target_os = "linux")]
        if huge_pages_wanted() {
            // Only advice, before any page is touched; a kernel without it says no.
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        Ok(HugeWords { map, words })
    }

    pub fn as_slice(&self) -> &[u64] {
        // SAFETY: the mapping is page-aligned (so aligned for u64), at least
        // `words * 8` bytes long, zero-filled (every bit pattern is a valid u64), and
        // borrowed for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr() as *const u64, self.words) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        // SAFETY: as `as_slice`, borrowed mutably and exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr() as *mut u64, self.words) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn huge_words_are_zeroed_and_writable() {
        for words in [0usize, 1, 513, (3 << 20) / 8 + 5] {
            let mut b = HugeWords::new(words).expect("map");
            assert_eq!(b.as_slice().len(), words);
            assert!(b.as_slice().iter().all(|&w| w == 0));
            b.as_mut_slice().iter_mut().enumerate().for_each(|(i, w)| *w = i as u64 * 3);
            assert!(b.as_slice().iter().enumerate().all(|(i, &w)| w == i as u64 * 3));
        }
    }

    /// Both mappings of a file hold exactly its bytes and length (the huge-page advice
    /// changes how pages are backed, never what they hold).
    #[test]
    fn weights_mapping_holds_the_file_bytes() {
        let dir = std::env::temp_dir().join(format!("herd-mmap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for len in [5usize, (4 << 20) + 4099] {
            let path = dir.join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
            std::fs::File::create(&path).and_then(|mut f| f.write_all(&bytes)).expect("write");
            let f = File::open(&path).expect("open");
            let plain = Mapping::Plain.map(&f).expect("map");
            let hot = Mapping::Inference.map(&f).expect("weights");
            assert_eq!((plain.len(), hot.len()), (len, len));
            assert!(hot[..] == bytes[..] && plain[..] == bytes[..], "len {len}");
            std::fs::remove_file(&path).expect("remove");
        }
    }
}
