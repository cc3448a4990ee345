//! Query embedding off the async runtime: dedicated worker threads fed by a bounded queue, with an
//! LRU cache of recent query vectors. A full queue is reported at once (`Overloaded`) rather than
//! letting latency pile up; a late answer becomes `Timeout`.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::{EmbedError, Embedder, TextKind};

type QueryVector = Arc<Vec<f32>>;
type VectorLru = Mutex<LruCache<String, QueryVector>>;

/// Sizing of a `QueryEmbedder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEmbedderConfig {
    /// Worker threads; each runs one embedding at a time. 0 means as many as the embedder can run at
    /// once (`Embedder::parallelism`: one per core for onnxruntime, one for candle, whose single forward
    /// pass already uses both cores of a 2-core box).
    pub workers: usize,
    /// Requests that may wait for a worker before new ones are refused with `Overloaded`.
    pub queue_capacity: usize,
    /// Query vectors remembered by exact text.
    pub lru_capacity: usize,
}

impl Default for QueryEmbedderConfig {
    fn default() -> Self {
        Self { workers: 0, queue_capacity: 64, lru_capacity: 4096 }
    }
}

struct Job {
    text: String,
    /// After this instant nobody waits for the answer, so the worker skips the job.
    deadline: Instant,
    reply: SyncSender<Result<QueryVector, EmbedError>>,
}

/// Embeds user queries on dedicated threads. Blocking: async callers should call `embed_query`
/// from `spawn_blocking` (or use `cached` first, which never blocks on the model).
pub struct QueryEmbedder {
    embedder: Arc<dyn Embedder>,
    sender: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    lru: Arc<VectorLru>,
    shutting_down: Arc<AtomicBool>,
}

impl QueryEmbedder {
    pub fn new(embedder: Arc<dyn Embedder>, config: QueryEmbedderConfig) -> Result<Self, EmbedError> {
        // `sync_channel(0)` would be a rendezvous channel and refuse everything while the worker
        // is busy; one slot is the smallest real queue.
        let (sender, receiver) = mpsc::sync_channel::<Job>(config.queue_capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let capacity = NonZeroUsize::new(config.lru_capacity).unwrap_or(NonZeroUsize::MIN);
        let lru = Arc::new(Mutex::new(LruCache::new(capacity)));
        let shutting_down = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let workers_wanted = if config.workers == 0 { embedder.parallelism() } else { config.workers };
        for index in 0..workers_wanted.max(1) {
            let worker = Worker {
                embedder: Arc::clone(&embedder),
                receiver: Arc::clone(&receiver),
                lru: Arc::clone(&lru),
                shutting_down: Arc::clone(&shutting_down),
            };
            let handle = std::thread::Builder::new()
                .name(format!("query-embed-{index}"))
                .spawn(move || worker.run())
                .map_err(EmbedError::Spawn)?;
            workers.push(handle);
        }
        Ok(Self { embedder, sender: Some(sender), workers, lru, shutting_down })
    }

    /// The wrapped embedder (e.g. for its `model_id` and `dim`).
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The cached vector for `text`, if any, without touching the queue.
    pub fn cached(&self, text: &str) -> Option<QueryVector> {
        lock(&self.lru).get(text).cloned()
    }

    /// The L2-normalized query vector for `text` (with the "query: " prefix applied by the
    /// embedder). Cache hits return the same `Arc`. Fails fast with `Overloaded` when the queue is
    /// full and with `Timeout` when no answer arrives within `timeout`.
    pub fn embed_query(&self, text: &str, timeout: Duration) -> Result<QueryVector, EmbedError> {
        if let Some(hit) = self.cached(text) {
            return Ok(hit);
        }
        let sender = self.sender.as_ref().ok_or(EmbedError::WorkerGone)?;
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job { text: text.to_owned(), deadline: Instant::now() + timeout, reply };
        match sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(EmbedError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(EmbedError::WorkerGone),
        }
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(EmbedError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(EmbedError::WorkerGone),
        }
    }
}

impl Drop for QueryEmbedder {
    /// Stops accepting work, lets workers drop whatever is still queued, and joins them; at most
    /// one in-flight embedding per worker is waited for.
    fn drop(&mut self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.sender.take();
        for handle in self.workers.drain(..) {
            if handle.join().is_err() {
                tracing::warn!("query embedding worker ended with a panic");
            }
        }
    }
}

struct Worker {
    embedder: Arc<dyn Embedder>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    lru: Arc<VectorLru>,
    shutting_down: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        loop {
            // Hold the receiver lock only while taking one job, so other workers can take the next.
            let job = match lock(&self.receiver).recv() {
                Ok(job) => job,
                Err(_) => return, // every sender is gone: shut down
            };
            if self.shutting_down.load(Ordering::SeqCst) {
                let _ = job.reply.try_send(Err(EmbedError::WorkerGone));
                continue;
            }
            if Instant::now() >= job.deadline {
                continue; // the caller has already given up; don't spend CPU on it
            }
            let result = self.embed(&job.text);
            // The caller may have timed out and dropped its receiver; that's fine.
            let _ = job.reply.try_send(result);
        }
    }

    fn embed(&self, text: &str) -> Result<QueryVector, EmbedError> {
        // A duplicate request may have been answered while this one waited in the queue.
        if let Some(hit) = lock(&self.lru).get(text).cloned() {
            return Ok(hit);
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.embedder.embed(&[text], TextKind::Query)));
        let mut vectors = match outcome {
            Ok(result) => result?,
            Err(_) => return Err(EmbedError::Panicked),
        };
        if vectors.len() != 1 {
            return Err(EmbedError::CountMismatch { expected: 1, actual: vectors.len() });
        }
        let vector = Arc::new(vectors.swap_remove(0));
        // Cached even if the caller timed out, so a retry is instant.
        lock(&self.lru).put(text.to_owned(), Arc::clone(&vector));
        Ok(vector)
    }
}

/// Locks a mutex, recovering from poisoning: the guarded data (a cache or a receiver) stays
/// consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::test_support::real_model;
    use crate::embed::HashEmbedder;

    /// Blocks inside `embed` until the test opens the gate, reporting when it has started.
    struct GatedEmbedder {
        inner: HashEmbedder,
        started: Mutex<SyncSender<()>>,
        gate: Mutex<Receiver<()>>,
    }

    impl Embedder for GatedEmbedder {
        fn model_id(&self) -> &str {
            "gated"
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
            let _ = lock(&self.started).try_send(());
            let _ = lock(&self.gate).recv_timeout(Duration::from_secs(10));
            self.inner.embed(texts, kind)
        }
    }

    #[test]
    fn full_queue_is_overloaded_immediately() -> Result<(), EmbedError> {
        let (started_tx, started_rx) = mpsc::sync_channel(16);
        let (gate_tx, gate_rx) = mpsc::sync_channel(16);
        let embedder = Arc::new(GatedEmbedder {
            inner: HashEmbedder::default(),
            started: Mutex::new(started_tx),
            gate: Mutex::new(gate_rx),
        });
        let config = QueryEmbedderConfig { workers: 1, queue_capacity: 1, lru_capacity: 8 };
        let queue = Arc::new(QueryEmbedder::new(embedder, config)?);

        // First request occupies the worker (a long timeout keeps its job alive).
        let busy = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || queue.embed_query("第一个", Duration::from_secs(20)))
        };
        started_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| EmbedError::Timeout)?;
        // Second fills the single queue slot and times out waiting.
        let queued = queue.embed_query("第二个", Duration::from_millis(50));
        assert!(matches!(queued, Err(EmbedError::Timeout)), "{queued:?}");
        // Third finds the queue full and is refused without waiting.
        let started = Instant::now();
        let refused = queue.embed_query("第三个", Duration::from_secs(5));
        assert!(matches!(refused, Err(EmbedError::Overloaded)), "{refused:?}");
        assert!(started.elapsed() < Duration::from_millis(500));

        for _ in 0..4 {
            let _ = gate_tx.try_send(());
        }
        let first = busy.join().map_err(|_| EmbedError::Panicked)??;
        assert_eq!(first.len(), HashEmbedder::DEFAULT_DIM);
        // The expired second job was skipped, the first one is cached.
        assert!(queue.cached("第一个").is_some());
        Ok(())
    }

    #[test]
    fn drop_joins_workers_promptly() -> Result<(), EmbedError> {
        let queue = QueryEmbedder::new(
            Arc::new(HashEmbedder::default()),
            QueryEmbedderConfig { workers: 2, ..Default::default() },
        )?;
        queue.embed_query("你好", Duration::from_secs(5))?;
        let started = Instant::now();
        drop(queue);
        assert!(started.elapsed() < Duration::from_secs(2));
        Ok(())
    }

    #[test]
    fn real_model_lru_hit_returns_same_vector() -> Result<(), EmbedError> {
        let queue = QueryEmbedder::new(real_model(), QueryEmbedderConfig::default())?;
        let first = queue.embed_query("一卡通丢了怎么办", Duration::from_secs(30))?;
        let second = queue.embed_query("一卡通丢了怎么办", Duration::from_millis(1))?;
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.len(), 384);
        let direct = real_model().embed(&["一卡通丢了怎么办"], TextKind::Query)?;
        assert!(crate::embed::dot(&direct[0], &first) > 0.9999);
        Ok(())
    }
}
