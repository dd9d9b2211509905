//! The kernel thread pool: workers that stay hot across the many small parallel loops of
//! one forward pass (about ten per layer), and a caller that works alongside them.
//!
//! Why not rayon: every `install` from outside its pool goes through a shared injector
//! queue that allocates a block every 63 jobs (so a decode step was never free of heap
//! allocations), and a worker that finds no work parks after a short spin, so each of the
//! ~250 loops of a decode step paid a wake-up. Here a loop is one epoch: the caller
//! publishes the task function, opens a new epoch, runs tasks itself, then closes the
//! epoch and waits only for the workers that entered it. A worker that arrives after the
//! close (it was descheduled, or asleep) skips that epoch, so on an oversubscribed
//! machine the caller does not wait for a thread that has nothing left to do. Workers
//! spin for a while between epochs (the next loop of a step usually starts within
//! microseconds) and only then sleep on a condvar.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Spins before a worker sleeps: long enough to bridge the gaps between the loops of a
/// step (norms, RoPE, sampling), short enough not to burn a core between requests.
const SPIN_ROUNDS: u32 = 1 << 16;

type Task<'a> = dyn Fn(usize) + Sync + 'a;

struct Shared {
    /// The current loop's task, valid while its epoch is open and until every worker
    /// that entered it is done (the caller does not return before that).
    task: UnsafeCell<Option<*const Task<'static>>>,
    n_tasks: AtomicUsize,
    next: AtomicUsize,
    /// The epoch (high 32 bits), whether it is closed to late workers (bit 31), and how
    /// many workers entered it (low bits). One word, so entering and closing race safely.
    gate: AtomicU64,
    /// Workers that entered the current epoch and are done with it.
    done: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

// SAFETY: `task` is written only by the caller of `run` while no worker reads it (every
// worker that entered the previous epoch is done, and the closed epoch admits no more),
// and read by workers only between entering an open epoch (a successful CAS on `gate`,
// after the caller's Release store) and reporting done.
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

/// A fixed set of worker threads plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One `run` at a time: the protocol has a single task slot.
    running: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads())
    }
}

impl Pool {
    /// `threads` in all, the caller included (0: one per available core).
    pub fn new(threads: usize) -> Self {
        let threads =
            if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
        let shared = Arc::new(Shared {
            task: UnsafeCell::new(None),
            n_tasks: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            gate: AtomicU64::new(CLOSED),
            done: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .filter_map(|i| {
                let s = shared.clone();
                std::thread::Builder::new().name(format!("herd-mm-{i}")).spawn(move || worker(&s)).ok()
            })
            .collect();
        Pool { shared, workers, running: Mutex::new(()) }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(i)` for every `i` in `0..n` on the pool's threads and the caller's;
    /// returns when all are done. Tasks are handed out in index order.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        if self.workers.is_empty() || n == 1 {
            (0..n).for_each(f);
            return;
        }
        let _one = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let s = &*self.shared;
        // SAFETY: the previous epoch is closed and every worker that entered it is done
        // (we waited for that before returning), so none reads `task` now. The lifetime
        // is erased only while this call blocks, during which `f` outlives every use.
        unsafe {
            *s.task.get() = Some(std::mem::transmute::<*const Task<'_>, *const Task<'static>>(f as *const Task<'_>))
        };
        s.n_tasks.store(n, Ordering::Relaxed);
        s.next.store(0, Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        let epoch = (s.gate.load(Ordering::Relaxed) >> 32).wrapping_add(1);
        s.gate.store(epoch << 32, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
        run_tasks(s, f);
        let entered = (s.gate.fetch_or(CLOSED, Ordering::AcqRel) & ENTERED) as usize;
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < entered {
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                // A worker holding a task was descheduled: give it the core.
                std::thread::yield_now();
            }
        }
    }

    /// Splits `data` into `chunk`-sized pieces and runs `f(i, piece_i)` for each, in
    /// parallel (the last piece may be shorter).
    pub fn for_each_chunk_mut<T: Send>(&self, data: &mut [T], chunk: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
        let chunk = chunk.max(1);
        let len = data.len();
        let base = Disjoint(data.as_mut_ptr());
        self.run(len.div_ceil(chunk), &|i| {
            let start = i * chunk;
            let end = (start + chunk).min(len);
            // SAFETY: the ranges `start..end` of distinct `i` are disjoint and inside
            // `data`, which is exclusively borrowed for the whole call.
            let piece = unsafe { base.slice(start, end - start) };
            f(i, piece);
        });
    }
}

/// A raw pointer shared by parallel tasks, each of which writes a disjoint set of
/// elements (its own rows of the output for every token; its own tokens' quantized
/// activations).
pub(crate) struct Disjoint<T>(pub(crate) *mut T);
impl<T> Clone for Disjoint<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Disjoint<T> {}
// SAFETY: tasks touch disjoint indices, so sharing the pointer across threads cannot
// race; the buffer is exclusively borrowed for, and outlives, the parallel loop.
unsafe impl<T: Send> Send for Disjoint<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    /// # Safety
    /// `i` is in bounds of the buffer and no other task touches index `i` during the
    /// parallel loop.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn at(&self, i: usize) -> &mut T {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.0.add(i) }
    }

    /// Elements `start..start + len` (from the pointer itself, so the slice may span
    /// many elements).
    ///
    /// # Safety
    /// The range is in bounds of the buffer and no other task touches it during the
    /// parallel loop.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

fn run_tasks(s: &Shared, f: &Task<'_>) {
    let n = s.n_tasks.load(Ordering::Relaxed);
    loop {
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            return;
        }
        f(i);
    }
}

const CLOSED: u64 = 1 << 31;
const ENTERED: u64 = CLOSED - 1;

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        let Some(g) = wait_for_epoch(s, seen) else { return };
        seen = g >> 32;
        if g & CLOSED != 0 || s.gate.compare_exchange(g, g + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            // Closed, or another worker entered first: look again (a failed CAS on an
            // open epoch is retried by coming back with the same `seen - 1`).
            if g & CLOSED == 0 {
                seen = seen.wrapping_sub(1);
            }
            continue;
        }
        // SAFETY: this worker entered an open epoch, after the caller stored `task`
        // (Release store of `gate`, Acquire by the CAS), and the caller keeps it alive
        // until this worker reports done.
        if let Some(f) = unsafe { *s.task.get() } {
            // SAFETY: as above: the pointee is alive until this worker reports done.
            run_tasks(s, unsafe { &*f });
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

/// Waits for the gate to show an epoch other than `seen`: spins, then sleeps. `None`
/// on shutdown.
fn wait_for_epoch(s: &Shared, seen: u64) -> Option<u64> {
    for _ in 0..SPIN_ROUNDS {
        let g = s.gate.load(Ordering::Acquire);
        if g >> 32 != seen {
            return Some(g);
        }
        if s.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        std::hint::spin_loop();
    }
    let mut guard = s.lock.lock().unwrap_or_else(|p| p.into_inner());
    s.sleepers.fetch_add(1, Ordering::SeqCst);
    let out = loop {
        let g = s.gate.load(Ordering::SeqCst);
        if g >> 32 != seen {
            break Some(g);
        }
        if s.shutdown.load(Ordering::SeqCst) {
            break None;
        }
        guard = s.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
    };
    s.sleepers.fetch_sub(1, Ordering::SeqCst);
    out
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_across_many_loops() {
        for threads in [1, 2, 3, 5] {
            let pool = Pool::new(threads);
            for n in [0, 1, 2, 7, 64, 1000] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                for _ in 0..20 {
                    pool.run(n, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 20), "threads {threads}, n {n}");
            }
        }
    }

    #[test]
    fn chunks_are_disjoint_and_cover_the_slice() {
        let pool = Pool::new(3);
        let mut v = vec![0f32; 1003];
        pool.for_each_chunk_mut(&mut v, 10, &|i, piece| piece.iter_mut().for_each(|x| *x += i as f32 + 1.0));
        for (j, x) in v.iter().enumerate() {
            assert_eq!(*x, (j / 10) as f32 + 1.0);
        }
    }

    #[test]
    fn workers_wake_after_sleeping_and_pools_drop_cleanly() {
        let pool = Pool::new(2);
        let count = AtomicUsize::new(0);
        pool.run(8, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        // Long enough for the worker to give up spinning and sleep.
        std::thread::sleep(std::time::Duration::from_millis(200));
        pool.run(8, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 16);
        drop(pool);
    }
}
