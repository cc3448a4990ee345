//! Assembles a retriever: the lexical index always, the dense one when the embedding model is installed. Passage
//! vectors missing from the cache are embedded with progress in the log; in background mode (the server's) the
//! retriever is built lexical-only meanwhile and the `on_vectors_ready` hooks run once the vectors are cached.

use crate::decide::DecisionModel;
use crate::embed::cache::{count_missing, embed_passages_with_progress, VectorCache};
use crate::embed::queue::{QueryEmbedder, QueryEmbedderConfig};
use crate::embed::{load_backend, Backend, EmbedError, Embedder};
use crate::load::KnowledgeBase;
use crate::retrieve::{QueryVectors, RetrieveError, Retriever, Tuning};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Runs when a background embedding of passage vectors has finished and saved them.
pub type ReadyHook = Arc<dyn Fn() + Send + Sync>;

/// The background passage embedding: whether it is wanted, whether one runs, and who to tell when it ends.
#[derive(Default)]
struct Warmup {
    background: bool,
    running: bool,
    hooks: Vec<ReadyHook>,
    /// A background embedding finished before any hook was registered; the first hook runs at once.
    finished_unseen: bool,
}

/// The loaded embedding model with its query queue; lives as long as the process, across knowledge reloads.
pub struct Semantic {
    embedder: Arc<dyn Embedder>,
    queries: Arc<QueryEmbedder>,
    timeout: Duration,
    warmup: Arc<Mutex<Warmup>>,
    learned_decision: AtomicBool,
}

impl Semantic {
    /// Loads the model found under `root` (the folder holding `vendor/`): the onnxruntime backend when installed,
    /// else candle, unless `backend` names one; `Ok(None)` when it is not installed.
    pub fn load(
        root: &Path,
        backend: Backend,
        config: QueryEmbedderConfig,
        timeout: Duration,
    ) -> Result<Option<Semantic>, EmbedError> {
        let Some(embedder) = load_backend(root, backend)? else { return Ok(None) };
        Ok(Some(Semantic::from_embedder(embedder, config, timeout)?))
    }

    /// Wraps any embedder (tests use the hashing one).
    pub fn from_embedder(
        embedder: Arc<dyn Embedder>,
        config: QueryEmbedderConfig,
        timeout: Duration,
    ) -> Result<Semantic, EmbedError> {
        let queries = Arc::new(QueryEmbedder::new(Arc::clone(&embedder), config)?);
        Ok(Semantic { embedder, queries, timeout, warmup: Arc::default(), learned_decision: AtomicBool::new(false) })
    }

    /// Whether retrievers built on this model decide with the learned model of `data/model/decision.toml`
    /// instead of the fixed rule (off by default; see docs/retrieval.md).
    pub fn use_learned_decision(&self, on: bool) {
        self.learned_decision.store(on, Ordering::Relaxed);
    }

    /// In background mode, `build_retriever` does not wait for missing passage vectors: it returns a lexical-only
    /// retriever, embeds them on a thread of its own and then runs the `on_vectors_ready` hooks (which should
    /// build the retriever again). Off by default: the caller then waits until the hybrid retriever is built.
    pub fn set_background_embedding(&self, on: bool) {
        lock(&self.warmup).background = on;
    }

    /// Registers a hook run (on the embedding thread) each time a background passage embedding has finished.
    pub fn on_vectors_ready(&self, hook: ReadyHook) {
        let run_now = {
            let mut warmup = lock(&self.warmup);
            warmup.hooks.push(Arc::clone(&hook));
            std::mem::take(&mut warmup.finished_unseen)
        };
        if run_now {
            hook();
        }
    }

    pub fn model_id(&self) -> &str {
        self.embedder.model_id()
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn queries(&self) -> &Arc<QueryEmbedder> {
        &self.queries
    }
}

struct QueuedQueries {
    queue: Arc<QueryEmbedder>,
    timeout: Duration,
}

impl QueryVectors for QueuedQueries {
    fn query_vector(&self, text: &str) -> Result<Arc<Vec<f32>>, EmbedError> {
        self.queue.embed_query(text, self.timeout)
    }
}

/// Where passage vectors are cached between runs.
#[derive(Debug, Clone)]
pub struct VectorCacheDir(pub PathBuf);

/// Builds a retriever over `kb`: hybrid when `semantic` is given, lexical only otherwise. Passage vectors come
/// from the on-disk cache in `cache_dir` when present and are computed (and saved) otherwise; in background mode
/// (`Semantic::set_background_embedding`) missing vectors make this return a lexical-only retriever at once.
pub fn build_retriever(
    kb: Arc<KnowledgeBase>,
    semantic: Option<&Semantic>,
    cache_dir: &Path,
    tuning: Tuning,
) -> Result<Retriever, RetrieveError> {
    let Some(sem) = semantic else { return Retriever::build(kb, None, tuning) };
    let mut cache = VectorCache::open(cache_dir, sem.embedder.model_id());
    let background = lock(&sem.warmup).background;
    let deferred = std::cell::Cell::new(false);
    let cache_cell = std::cell::RefCell::new(&mut cache);
    let embed = |texts: &[&str]| -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut guard = cache_cell.borrow_mut();
        if background && count_missing(&guard, texts) > 0 {
            start_background_embedding(sem, cache_dir, texts);
            deferred.set(true);
            return Err(EmbedError::Deferred);
        }
        let vectors = embed_logged(sem.embedder.as_ref(), &mut guard, texts)?;
        prune_and_save(&mut guard, texts);
        Ok(vectors)
    };
    let queries: Arc<dyn QueryVectors> =
        Arc::new(QueuedQueries { queue: Arc::clone(&sem.queries), timeout: sem.timeout });
    let mut retriever = match Retriever::build(Arc::clone(&kb), Some((queries, &embed)), tuning) {
        Err(RetrieveError::Embed(EmbedError::Deferred)) if deferred.get() => {
            tracing::info!("answering with lexical retrieval until the passage vectors are ready");
            Retriever::build(kb, None, tuning)
        }
        other => other,
    }?;
    // Not enabled by default: on our own data its cross-validated figures are below the fixed rule's, and it is
    // far more timid (docs/retrieval.md).
    if sem.learned_decision.load(Ordering::Relaxed) {
        retriever.set_decision(DecisionModel::bundled_for(sem.embedder.model_id()));
    }
    Ok(retriever)
}

/// Embeds the passages missing from `cache`, logging progress about every 10%.
fn embed_logged(embedder: &dyn Embedder, cache: &mut VectorCache, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let missing = count_missing(cache, texts);
    if missing > 0 {
        tracing::info!(
            missing,
            passages = texts.len(),
            model = embedder.model_id(),
            "embedding passages not in the vector cache"
        );
    }
    let started = Instant::now();
    let mut next_percent = 10;
    let vectors = embed_passages_with_progress(embedder, cache, texts, &mut |done, total| {
        let percent = done * 100 / total.max(1);
        if percent >= next_percent {
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(done, total, percent, elapsed_ms, "embedding passages");
            next_percent = (percent / 10 + 1) * 10;
        }
    })?;
    if missing > 0 {
        tracing::info!(
            missing,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "passage vectors ready"
        );
    }
    Ok(vectors)
}

/// Prunes old vectors when they far outnumber the live ones, then saves. Several knowledge versions (and test data
/// sets) share one cache folder, and a recomputation costs minutes.
fn prune_and_save(cache: &mut VectorCache, texts: &[&str]) {
    if cache.len() > 4 * texts.len().max(1) {
        cache.retain_texts(texts);
    }
    if let Err(e) = cache.save() {
        tracing::warn!(error = %e, "could not save the passage vector cache");
    }
}

/// Embeds `texts` into the cache on a thread of its own, then runs the ready hooks; at most one runs at a time
/// (a build that finds vectors missing while one runs just waits for its hooks).
fn start_background_embedding(sem: &Semantic, cache_dir: &Path, texts: &[&str]) {
    {
        let mut warmup = lock(&sem.warmup);
        if warmup.running {
            return;
        }
        warmup.running = true;
    }
    let embedder = Arc::clone(&sem.embedder);
    let warmup = Arc::clone(&sem.warmup);
    let cache_dir = cache_dir.to_owned();
    let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    let spawned = std::thread::Builder::new().name("passage-embed".into()).spawn(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut cache = VectorCache::open(&cache_dir, embedder.model_id());
        let outcome = embed_logged(embedder.as_ref(), &mut cache, &refs);
        if outcome.is_ok() {
            prune_and_save(&mut cache, &refs);
        }
        let hooks = {
            let mut state = lock(&warmup);
            state.running = false;
            state.finished_unseen = outcome.is_ok() && state.hooks.is_empty();
            state.hooks.clone()
        };
        match outcome {
            Ok(_) => hooks.iter().for_each(|hook| hook()),
            Err(e) => tracing::error!(error = %e, "embedding the passages failed: answers stay lexical"),
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the passage embedding thread: answers stay lexical");
        lock(&sem.warmup).running = false;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashEmbedder;

    #[test]
    fn background_mode_answers_lexically_until_the_vectors_are_cached() -> Result<(), Box<dyn std::error::Error>> {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        let kb = Arc::new(KnowledgeBase::load(&data).map_err(|e| format!("{e:?}"))?);
        let cache = tempfile::tempdir()?;
        let semantic = Semantic::from_embedder(
            Arc::new(HashEmbedder::default()),
            QueryEmbedderConfig::default(),
            Duration::from_secs(5),
        )?;
        semantic.set_background_embedding(true);

        let first = build_retriever(Arc::clone(&kb), Some(&semantic), cache.path(), Tuning::default())?;
        assert!(!first.has_dense(), "with no cached vectors the first retriever is lexical");
        // Registered after the embedding may already have finished: the hook still runs.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(4);
        semantic.on_vectors_ready(Arc::new(move || {
            let _ = ready_tx.try_send(());
        }));
        ready_rx.recv_timeout(Duration::from_secs(60))?;

        let second = build_retriever(kb, Some(&semantic), cache.path(), Tuning::default())?;
        assert!(second.has_dense(), "once the vectors are cached the retriever is hybrid");
        Ok(())
    }
}
