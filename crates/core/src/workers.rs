//! Runs one frame's encode jobs on the capture thread plus helper threads started for that
//! frame.
//!
//! Not rayon: a rayon worker that runs out of work spins through a few dozen `sched_yield`
//! rounds before it sleeps, and at 60 frames a second on two cores that idle spinning was about
//! 8% of the CPU of a full-screen JPEG capture (perf, `npm run bench`). A scoped helper thread
//! costs tens of microseconds to start and never spins; a frame with one changed stripe (a
//! caret) starts none.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The number of threads a frame's jobs may use, the capture thread included.
pub fn parallelism() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on every job, on up to `threads` threads (the calling one included), and returns
/// the results in the order of `jobs`. Jobs are claimed one at a time, first to last, so the
/// top of the screen goes out first and uneven jobs balance themselves. A panic in `f`
/// propagates to the caller once every thread has stopped.
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
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            // Without a helper (no threads left) the calling thread simply does more of the work.
            let _ = std::thread::Builder::new()
                .name("stripecast-encode".into())
                .spawn_scoped(scope, work);
        }
        work();
    });
    done.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn uses_several_threads_but_never_more_than_asked() {
        let ids = Mutex::new(HashSet::<ThreadId>::new());
        run((0..64).collect::<Vec<u32>>(), 3, |_| {
            ids.lock().unwrap().insert(std::thread::current().id());
            std::thread::sleep(std::time::Duration::from_millis(2));
        });
        let n = ids.lock().unwrap().len();
        assert!((2..=3).contains(&n), "{n} threads");
    }

    #[test]
    fn one_job_runs_on_the_calling_thread() {
        let me = std::thread::current().id();
        let out = run(vec![()], 8, |_| std::thread::current().id());
        assert_eq!(out, vec![me]);
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
