//! The threads that compute the heavy reads' answers on a cache miss (load
//! from the database and render), one per core.
//!
//! Why not actix's blocking pool: glibc gives each thread an arena of its
//! own (up to 8 per core) and, with the server's 128 MiB trim threshold
//! (`bin/qaboard-server`, `tune_allocator`), every arena keeps the peak of
//! the work it served. On the blocking pool a miss ran on a different thread
//! each time, so over a run every arena came to hold one rendering's peak:
//! 107–140 MiB of RSS on SQLite's commits list at concurrency 8 under writes
//! (issue 16). On a fixed set of threads only their few arenas hold such
//! peaks, while ingestion keeps all of glibc's arenas (limiting arenas for
//! the whole process cost ingestion ~20 % CPU per request). Measured in
//! bench/README.md "Peak RSS and the list's version".
//!
//! At most one heavy read per core runs at a time anyway
//! (`AppState::heavy_reads`), so the threads never queue much work.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::{run_db, ApiError};

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the heavy-read threads; `None` when no thread could be
/// started (the jobs then run on actix's blocking pool).
static QUEUE: OnceLock<Option<Sender<Job>>> = OnceLock::new();

fn queue() -> Option<&'static Sender<Job>> {
    QUEUE
        .get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(2, |n| n.get());
            let (tx, rx) = channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let mut started = 0;
            for i in 0..n {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("heavy-read-{i}"))
                    .spawn(move || work(&rx));
                match spawned {
                    Ok(_) => started += 1,
                    Err(e) => log::warn!("no heavy-read thread {i}: {e}"),
                }
            }
            (started > 0).then_some(tx)
        })
        .as_ref()
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            // The sender lives in a static: never dropped while the process runs.
            Err(_) => return,
        }
    }
}

/// A job that panicked (answered 500, as actix's blocking pool does).
#[derive(Debug, thiserror::Error)]
#[error("a heavy read panicked")]
struct Panicked;

/// Runs `f` on one of the heavy-read threads and returns its result; on
/// actix's blocking pool if those threads could not be started. A panic in
/// `f` becomes [`ApiError::Internal`] and leaves the thread running.
pub(crate) async fn run_heavy<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let Some(queue) = queue() else {
        return run_db(f).await;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    if queue.send(job).is_err() {
        return Err(ApiError::Internal(Box::new(Panicked)));
    }
    match rx.await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => Err(ApiError::Internal(Box::new(Panicked))),
    }
}

/// Queues `f` on the heavy-read threads without waiting for it (on actix's
/// blocking pool if those threads could not be started): work after an
/// answer, such as the gzip copy of a cached answer. A panic in `f` is
/// logged and leaves the thread running.
pub(crate) fn spawn_heavy<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    let job: Job = Box::new(move || {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            log::error!("a background job of the heavy reads panicked");
        }
    });
    match queue() {
        Some(queue) => {
            // The receiver lives as long as the process: never refused.
            let _ = queue.send(job);
        }
        None => {
            drop(actix_web::rt::task::spawn_blocking(job));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_on_the_heavy_threads_and_survives_a_panic() {
        let name = run_heavy(|| Ok(std::thread::current().name().map(str::to_string)))
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("heavy-read-")));
        let e = run_heavy::<(), _>(|| panic!("boom")).await.unwrap_err();
        assert!(matches!(e, ApiError::Internal(_)), "{e:?}");
        // Every thread still serves jobs after the panic.
        for i in 0..8 {
            assert_eq!(run_heavy(move || Ok(i)).await.unwrap(), i);
        }
        let e = run_heavy::<(), _>(|| Err(ApiError::bad("no")))
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::BadRequest(_)), "{e:?}");
    }
}
