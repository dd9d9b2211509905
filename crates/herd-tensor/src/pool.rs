//! The kernel thread pool: workers that stay hot across the many small parallel loops of
//! one forward pass (about ten per layer), and a caller that works alongside them.
//!
//! Why not rayon: every `install` from outside its pool goes through a shared injector
//! queue that allocates a block every 63 jobs (so a decode step was never free of heap
//! allocations), and a worker that finds no work parks after a short spin, so each of the
//! ~250 loops of a decode step paid a wake-up. Here a loop is one epoch: the caller
//! publishes the task function, bumps the epoch, runs tasks itself, and waits until every
//! worker has checked in. Workers spin for a while between epochs (the next loop of the
//! step usually starts within microseconds) and only then sleep on a condvar.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Spins before a worker sleeps: long enough to bridge the gaps between the loops of a
/// step (norms, RoPE, sampling), short enough not to burn a core between requests.
const SPIN_ROUNDS: u32 = 1 << 16;

type Task<'a> = dyn Fn(usize) + Sync + 'a;

struct Shared {
    /// The current loop's task, valid from the epoch bump until every worker has checked
    /// in for that epoch (the caller does not return before that).
    task: UnsafeCell<Option<*const Task<'static>>>,
    n_tasks: AtomicUsize,
    next: AtomicUsize,
    epoch: AtomicU64,
    /// Workers done with the current epoch.
    checked_in: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    shutdown: AtomicBool,
}

// SAFETY: `task` is written only by the caller of `run` while no worker reads it (all
// workers have checked in for the previous epoch and wait for the next one), and read
// by workers only between the epoch bump (Release/Acquire on `epoch`) and their check-in.
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
            epoch: AtomicU64::new(0),
            checked_in: AtomicUsize::new(0),
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
        // SAFETY: every worker has checked in for the previous epoch (we waited for it
        // below before returning), so none reads `task` now. The lifetime is erased
        // only for the time this call blocks, during which `f` outlives every use.
        unsafe {
            *s.task.get() = Some(std::mem::transmute::<*const Task<'_>, *const Task<'static>>(f as *const Task<'_>))
        };
        s.n_tasks.store(n, Ordering::Relaxed);
        s.next.store(0, Ordering::Relaxed);
        s.checked_in.store(0, Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
        run_tasks(s, f);
        let mut spins = 0u32;
        while s.checked_in.load(Ordering::Acquire) < self.workers.len() {
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Splits `data` into `chunk`-sized pieces and runs `f(i, piece_i)` for each, in
    /// parallel (the last piece may be shorter).
    pub fn for_each_chunk_mut(&self, data: &mut [f32], chunk: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let chunk = chunk.max(1);
        let len = data.len();
        let base = SendPtr(data.as_mut_ptr());
        self.run(len.div_ceil(chunk), &|i| {
            let start = i * chunk;
            let end = (start + chunk).min(len);
            // SAFETY: the ranges `start..end` of distinct `i` are disjoint and inside
            // `data`, which is exclusively borrowed for the whole call.
            let piece = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
            f(i, piece);
        });
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint sub-slices of one exclusive borrow to tasks.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
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

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        let Some(epoch) = wait_for_epoch(s, seen) else { return };
        seen = epoch;
        // SAFETY: the epoch was bumped (Acquire above pairs with the caller's SeqCst
        // bump) after `task` was written, and the caller keeps it alive until this
        // worker checks in.
        if let Some(f) = unsafe { *s.task.get() } {
            // SAFETY: as above: the pointee is alive until this worker checks in.
            run_tasks(s, unsafe { &*f });
        }
        s.checked_in.fetch_add(1, Ordering::Release);
    }
}

/// Waits for an epoch after `seen`: spins, then sleeps. `None` on shutdown.
fn wait_for_epoch(s: &Shared, seen: u64) -> Option<u64> {
    for _ in 0..SPIN_ROUNDS {
        let e = s.epoch.load(Ordering::Acquire);
        if e != seen {
            return Some(e);
        }
        if s.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        std::hint::spin_loop();
    }
    let mut g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
    s.sleepers.fetch_add(1, Ordering::SeqCst);
    let out = loop {
        let e = s.epoch.load(Ordering::SeqCst);
        if e != seen {
            break Some(e);
        }
        if s.shutdown.load(Ordering::SeqCst) {
            break None;
        }
        g = s.wake.wait(g).unwrap_or_else(|p| p.into_inner());
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
