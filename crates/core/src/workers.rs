//! Runs one frame's encode jobs on the calling thread plus idle helper threads.
//!
//! Not rayon: a rayon worker that runs out of work spins through a few dozen `sched_yield`
//! rounds before it sleeps, and at 60 frames a second on two cores that idle spinning was about
//! 8% of the CPU of a full-screen JPEG capture (perf, `npm run bench`). Our helpers never spin:
//! they sleep on a condition variable until a frame has work for them. Nor one thread started
//! per frame (what this module did first): a new thread waited 1.6 ms for a core at the median
//! and 4-5 ms at p99 on a busy 2-core machine (striped H.264 video), which went straight into
//! the latency; waking a sleeping helper is quicker. A frame with one changed stripe (a caret)
//! wakes none.
//!
//! The helpers are shared by every capture of the process (as many as the machine has cores,
//! less one: the calling thread always works too, so a frame never waits for a helper to be
//! free, and concurrent captures simply get fewer of them).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

/// The number of threads a frame's jobs may use, the calling thread included.
pub fn parallelism() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every job, on up to `threads` threads (the calling one included), and returns
/// the results in the order of `jobs`. Jobs are claimed one at a time, first to last, so the
/// top of the screen goes out first and uneven jobs balance themselves. A panic in `f`
/// propagates to the caller once every thread has stopped working on the jobs.
pub fn run<J: Send, R: Send>(jobs: Vec<J>, threads: usize, f: impl Fn(J) -> R + Sync) -> Vec<R> {
    let n = jobs.len();
    let helpers = threads.min(n).saturating_sub(1);
    if helpers == 0 {
        return jobs.into_iter().map(f).collect();
    }
    let pending: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let done: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        let job = lock(&pending[i]).take().expect("each job is claimed once");
        let result = f(job);
        *lock(&done[i]) = Some(result);
    };
    Helpers::get().share(helpers, &work);
    done.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `work` closure of some caller's stack frame, lifetime erased so helper threads can hold it.
/// Sound because [`Helpers::share`] does not return (nor unwind) before every helper that took
/// it is done with it, and none can take it after.
#[derive(Clone, Copy)]
struct Work(*const (dyn Fn() + Sync + 'static));
// SAFETY: the closure is `Sync`, and see above for its lifetime.
unsafe impl Send for Work {}

struct Shared {
    id: u64,
    work: Work,
    /// Helpers still allowed to join.
    open: usize,
    /// Helpers working on it now.
    active: usize,
    panic: Option<Box<dyn Any + Send>>,
}

#[derive(Default)]
struct Board {
    next_id: u64,
    shared: Vec<Shared>,
}

struct Helpers {
    board: Mutex<Board>,
    /// Helpers wait here for work.
    posted: Condvar,
    /// Callers wait here for their helpers to finish.
    finished: Condvar,
}

impl Helpers {
    fn get() -> &'static Helpers {
        static HELPERS: OnceLock<&'static Helpers> = OnceLock::new();
        HELPERS.get_or_init(|| {
            let helpers: &'static Helpers = Box::leak(Box::new(Helpers {
                board: Mutex::new(Board::default()),
                posted: Condvar::new(),
                finished: Condvar::new(),
            }));
            for _ in 1..parallelism() {
                // Without a helper (no threads left) callers simply do all their work themselves.
                let _ = std::thread::Builder::new()
                    .name("stripecast-encode".into())
                    .spawn(move || helpers.serve());
            }
            helpers
        })
    }

    /// Runs `work` on the calling thread and on up to `helpers` idle helpers at once; returns
    /// when all of them have returned from it.
    fn share(&'static self, helpers: usize, work: &(dyn Fn() + Sync)) {
        // Nothing to post (a frame with one changed stripe): no board lock, no wait.
        if helpers == 0 {
            return work();
        }
        // SAFETY: lifetime erasure only; see `Work`. `Finish` below waits for the helpers even
        // when `work` panics on this thread.
        let erased = Work(unsafe {
            std::mem::transmute::<*const (dyn Fn() + Sync + '_), *const (dyn Fn() + Sync + 'static)>(
                work,
            )
        });
        let id = {
            let mut board = lock(&self.board);
            let id = board.next_id;
            board.next_id += 1;
            board.shared.push(Shared {
                id,
                work: erased,
                open: helpers,
                active: 0,
                panic: None,
            });
            id
        };
        for _ in 0..helpers {
            self.posted.notify_one();
        }
        let finish = Finish { helpers: self, id };
        work();
        if let Some(panic) = finish.wait() {
            std::panic::resume_unwind(panic);
        }
    }

    /// A helper's life: take a share of whatever work is posted, sleep when there is none.
    fn serve(&self) {
        let mut board = lock(&self.board);
        loop {
            let Some(s) = board.shared.iter_mut().find(|s| s.open > 0) else {
                board = self.posted.wait(board).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            s.open -= 1;
            s.active += 1;
            let (id, work) = (s.id, s.work);
            drop(board);
            // SAFETY: the caller of `share` waits for `active` to drop back before returning.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*work.0)() }));
            board = lock(&self.board);
            let s = board
                .shared
                .iter_mut()
                .find(|s| s.id == id)
                .expect("kept until its helpers finish");
            s.active -= 1;
            if let Err(panic) = outcome {
                s.panic.get_or_insert(panic);
            }
            if s.active == 0 {
                self.finished.notify_all();
            }
        }
    }
}

/// Closes a posted share to further helpers and waits for those that joined; also on unwind.
struct Finish {
    helpers: &'static Helpers,
    id: u64,
}

impl Finish {
    fn wait(self) -> Option<Box<dyn Any + Send>> {
        let panic = self.close_and_wait();
        std::mem::forget(self);
        panic
    }

    fn close_and_wait(&self) -> Option<Box<dyn Any + Send>> {
        let h = self.helpers;
        let mut board = lock(&h.board);
        let at = |b: &Board| {
            b.shared
                .iter()
                .position(|s| s.id == self.id)
                .expect("posted")
        };
        let i = at(&board);
        board.shared[i].open = 0;
        while board.shared[at(&board)].active > 0 {
            board = h.finished.wait(board).unwrap_or_else(|e| e.into_inner());
        }
        let i = at(&board);
        board.shared.swap_remove(i).panic
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // Unwinding from `work` on the calling thread: the helpers' panic, if any, is dropped.
        let _ = self.close_and_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::thread::ThreadId;

    #[test]
    fn results_keep_the_order_of_the_jobs() {
        for threads in [1, 2, 3, 8] {
            let out = run((0..100u64).collect(), threads, |j| j * j);
            assert_eq!(out, (0..100u64).map(|j| j * j).collect::<Vec<_>>());
        }
    }

    #[test]
    fn jobs_may_borrow_mutably_from_the_caller() {
        let mut state = [0u32; 16];
        let jobs: Vec<&mut u32> = state.iter_mut().collect();
        run(jobs, 4, |s| *s += 7);
        assert!(state.iter().all(|&s| s == 7));
    }

    /// Most threads seen working on one `run` of 32 sleeping jobs, over a few tries (the
    /// helpers are shared with whatever other tests run meanwhile, so one try may find them
    /// busy).
    fn threads_used(threads: usize) -> usize {
        let mut most = 0;
        for _ in 0..20 {
            let ids = Mutex::new(HashSet::<ThreadId>::new());
            run((0..32).collect::<Vec<u32>>(), threads, |_| {
                ids.lock().unwrap().insert(std::thread::current().id());
                std::thread::sleep(std::time::Duration::from_millis(2));
            });
            most = most.max(ids.into_inner().unwrap().len());
            if most == threads.min(parallelism()) {
                break;
            }
        }
        most
    }

    #[test]
    fn uses_several_threads_but_never_more_than_asked() {
        let n = threads_used(3);
        assert!((2.min(parallelism())..=3).contains(&n), "{n} threads");
        assert_eq!(threads_used(1), 1);
    }

    #[test]
    fn one_job_runs_on_the_calling_thread() {
        let me = std::thread::current().id();
        let out = run(vec![()], 8, |_| std::thread::current().id());
        assert_eq!(out, vec![me]);
    }

    #[test]
    fn concurrent_callers_share_the_helpers() {
        let callers: Vec<_> = (0..4u64)
            .map(|c| {
                std::thread::spawn(move || {
                    for round in 0..50u64 {
                        let jobs: Vec<u64> = (0..16).map(|j| c * 1000 + round * 16 + j).collect();
                        let want: Vec<u64> = jobs.iter().map(|j| j * 3).collect();
                        assert_eq!(run(jobs, 4, |j| j * 3), want);
                    }
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
    }

    #[test]
    fn a_job_may_run_jobs_of_its_own() {
        let out = run((0..8u32).collect(), 3, |j| {
            run((0..8u32).collect(), 3, move |k| j * 8 + k)
                .into_iter()
                .sum::<u32>()
        });
        let want: Vec<u32> = (0..8).map(|j| (0..8).map(|k| j * 8 + k).sum()).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn helpers_keep_working_after_a_job_panicked() {
        for _ in 0..3 {
            let r = std::panic::catch_unwind(|| {
                run((0..16).collect::<Vec<u32>>(), 2, |j| {
                    if j % 5 == 4 {
                        panic!("job {j}");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                })
            });
            assert!(r.is_err());
        }
        assert_eq!(threads_used(2), parallelism().min(2));
    }

    #[test]
    #[should_panic]
    fn a_panicking_job_reaches_the_caller() {
        run((0..10).collect::<Vec<u32>>(), 2, |j| {
            if j == 5 {
                panic!("job 5");
            }
        });
    }
}
