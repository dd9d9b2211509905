//! Read-only file mapping, the one `unsafe` step every model loader needs.

pub use memmap2::Mmap;

/// Map a whole file read-only.
pub fn map_readonly(file: &std::fs::File) -> std::io::Result<Mmap> {
    // SAFETY: memmap2 marks mapping unsafe because another process could truncate or
    // rewrite the file while it is mapped. herd only reads model files, treats their
    // bytes as untrusted (every read is bounds-checked against the length observed at
    // map time), and documents that model files must not be modified while in use.
    unsafe { Mmap::map(file) }
}
