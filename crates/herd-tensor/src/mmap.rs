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
/// mapping asks for transparent huge pages (`MADV_HUGEPAGE`) and is faulted in whole
/// before the first token (`MADV_POPULATE_READ`, as llama.cpp's `MAP_POPULATE`).
/// Generation streams every weight once per token, and with 4 KiB pages each page is a
/// TLB miss and a page walk where the hardware prefetchers stop. On Linux with a file
/// system that caches files in large folios (ext4 and XFS on recent kernels), pages
/// faulted in through this mapping are read as 2 MiB folios and mapped as huge pages.
/// A file already cached in small folios keeps them, though, as one just written (by a
/// download or `herd quantize`: buffered writes make small folios) is; [`settle_huge`]
/// then drops the file's cached pages and reads them again, once, at load. Measured on
/// a 2-core Sapphire Rapids guest (Linux 6.18, ext4): 1B Q4_K_M generation 10.3 -> 12.9
/// tokens/s at 1 thread, 19.2 -> 24.5 at 2 with the advice; an 8B Q4_K_M file 74% in
/// huge pages (faulted in while generating) 3.8-4.1 tokens/s at 2 threads, all of it
/// 4.2-4.7; a just-copied one, none of it in huge pages, 4.42 and after the re-read
/// 4.53-4.66 (the re-read added 5-8 s to the load). No copy and no memory beyond the
/// mapping; `HERD_NO_HUGEPAGES=1` leaves all of this out. (Copying the weights into
/// anonymous huge pages gave the same speed and cost 3.5 s per GB of load time there.)
pub fn map_weights(file: &File) -> io::Result<Mmap> {
    let map = map_readonly(file)?;
    #[cfg(target_os = "linux")]
    if huge_pages_wanted() {
        settle_huge(file, &map);
    }
    Ok(map)
}

/// The huge-page advice and the fault-in for `map`, a mapping of all of `file`; when
/// less than nine tenths of it ends up mapped in huge pages, the cached pages are
/// dropped and read again, after a one-chunk probe when none was huge (a file system
/// without large folios, or a mapping the kernel did not align, would otherwise cost
/// a re-read of the whole file at every load for nothing). All of it is advice: a
/// kernel that says no leaves a plain mapping, and a page another process has mapped
/// stays cached as it is. A file larger than the memory available gets the advice
/// only: reading it all in at load would push its own first pages out again (and a
/// re-read would cost a second pass over a file that cannot stay cached anyway).
#[cfg(target_os = "linux")]
fn settle_huge(file: &File, map: &Mmap) {
    const HUGE: usize = 2 << 20;
    // A flag of the mapping: it stays through the unmapping and re-reading below.
    let _ = map.advise(memmap2::Advice::HugePage);
    let len = map.len();
    if available_memory().is_none_or(|avail| len > avail) {
        return;
    }
    let fault_in = |offset: usize, len: usize| {
        let _ = map.advise_range(memmap2::Advice::PopulateRead, offset, len);
    };
    // Unmaps the range's pages from this mapping, then drops them from the page cache.
    let drop_cached = |offset: usize, len: usize| {
        // SAFETY: `MADV_DONTNEED` on a read-only shared file mapping only unmaps pages:
        // the next read faults the same file bytes back in, so every slice of `map`
        // keeps its contents.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; it touches no memory of ours.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t, libc::POSIX_FADV_DONTNEED)
        };
    };
    fault_in(0, len);
    // The 2 MiB chunks a huge page can map (the kernel aligns a mapping this large).
    let hugeable = len / HUGE * HUGE;
    let Some(huge) = huge_mapped(map.as_ptr()) else { return };
    if hugeable == 0 || huge >= hugeable / 10 * 9 {
        return;
    }
    // Written back first: a file just written holds dirty pages, which stay cached.
    let _ = file.sync_data();
    if huge == 0 {
        let last = hugeable - HUGE;
        drop_cached(last, HUGE);
        fault_in(last, HUGE);
        if huge_mapped(map.as_ptr()) != Some(HUGE) {
            return;
        }
    }
    drop_cached(0, len);
    fault_in(0, len);
}

/// The kernel's estimate of the memory available to new work without swapping
/// (`MemAvailable` in `/proc/meminfo`, page cache it can drop included), in bytes.
#[cfg(target_os = "linux")]
fn available_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_bytes(info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?)
}

/// The bytes of a `/proc` field's value written as `"   1234 kB"`.
#[cfg(target_os = "linux")]
fn kib_bytes(value: &str) -> Option<usize> {
    value.trim().trim_end_matches("kB").trim().parse::<usize>().ok().map(|k| k * 1024)
}

/// Bytes of the mapping that starts at `start` mapped by huge pages (`FilePmdMapped`
/// in `/proc/self/smaps`), or `None` where that cannot be read.
#[cfg(target_os = "linux")]
fn huge_mapped(start: *const u8) -> Option<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let head = format!("{:x}-", start as usize);
    let vma = smaps.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
    // The mapping's fields run until the next mapping's address-range line.
    kib_bytes(
        vma.take_while(|l| l.split_whitespace().next().is_some_and(|k| k.ends_with(':')))
            .find_map(|l| l.strip_prefix("FilePmdMapped:"))?,
    )
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
            #[cfg(target_os = "linux")]
            {
                let huge = huge_mapped(hot.as_ptr()).expect("the mapping's smaps entry");
                assert!(huge <= len && huge.is_multiple_of(2 << 20), "{huge} of {len} bytes in huge pages");
            }
            std::fs::remove_file(&path).expect("remove");
        }
        std::fs::remove_dir(&dir).expect("remove dir");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_fields_are_read_from_the_right_entries() {
        let b = HugeWords::new(1 << 20).expect("map");
        // An anonymous mapping has a smaps entry, with no file pages in huge pages.
        assert_eq!(huge_mapped(b.as_slice().as_ptr() as *const u8), Some(0));
        // One byte in: no mapping starts there.
        assert_eq!(huge_mapped((b.as_slice().as_ptr() as *const u8).wrapping_add(1)), None);
        // The gate on reading a whole file in at load parses too.
        assert!(available_memory().is_some_and(|m| m > 0));
        assert_eq!(kib_bytes("   1234 kB"), Some(1234 * 1024));
    }
}
