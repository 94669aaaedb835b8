//! A fixed number of workers taking job indices in order: the concurrency of a phase is exactly
//! the number of workers, each of which keeps one keep-alive connection busy.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Result, anyhow};
use tokio::time::Instant;

pub(crate) struct Pooled<T> {
    /// (job index, result), in no particular order.
    pub results: Vec<(usize, T)>,
    /// True when the deadline or the stop flag ended the phase before every job had started.
    pub cut_short: bool,
}

/// Runs jobs `0..n` on `concurrency` workers. No job starts after `deadline` or once `stop` is
/// set (a job may set it to abort the phase); jobs already running finish.
pub(crate) async fn run<T, F, Fut>(
    n: usize,
    concurrency: usize,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    job: F,
) -> Result<Pooled<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1)) {
        let (job, next, stop, cut) = (job.clone(), next.clone(), stop.clone(), cut.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    cut.store(true, Ordering::Relaxed);
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                out.push((i, job(i).await));
            }
            out
        }));
    }
    let mut results = Vec::with_capacity(n);
    for w in workers {
        results.extend(w.await.map_err(|e| anyhow!("a load worker failed: {e}"))?);
    }
    let cut_short = cut.load(Ordering::Relaxed) && results.len() < n;
    Ok(Pooled { results, cut_short })
}
