//! Assembles a retriever: the lexical index always, the dense one when the embedding model is installed.

use crate::embed::cache::{embed_passages_cached, VectorCache};
use crate::embed::queue::{QueryEmbedder, QueryEmbedderConfig};
use crate::embed::{load_default, EmbedError, Embedder, ModelPaths};
use crate::decide::DecisionModel;
use crate::load::KnowledgeBase;
use crate::retrieve::{QueryVectors, RetrieveError, Retriever, Tuning};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The loaded embedding model with its query queue; lives as long as the process, across knowledge reloads.
pub struct Semantic {
    embedder: Arc<dyn Embedder>,
    queries: Arc<QueryEmbedder>,
    timeout: Duration,
}

impl Semantic {
    /// Loads the model found under `root` (the folder holding `vendor/pypi`); `Ok(None)` when it is not installed.
    pub fn load(root: &Path, config: QueryEmbedderConfig, timeout: Duration) -> Result<Option<Semantic>, EmbedError> {
        let Some(paths) = ModelPaths::find(root) else { return Ok(None) };
        let embedder = load_default(&paths)?;
        Ok(Some(Semantic::from_embedder(embedder, config, timeout)?))
    }

    /// Wraps any embedder (tests use the hashing one).
    pub fn from_embedder(embedder: Arc<dyn Embedder>, config: QueryEmbedderConfig, timeout: Duration) -> Result<Semantic, EmbedError> {
        let queries = Arc::new(QueryEmbedder::new(Arc::clone(&embedder), config)?);
        Ok(Semantic { embedder, queries, timeout })
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
/// from the on-disk cache in `cache_dir` when present and are computed (and saved) otherwise.
pub fn build_retriever(
    kb: Arc<KnowledgeBase>,
    semantic: Option<&Semantic>,
    cache_dir: &Path,
    tuning: Tuning,
) -> Result<Retriever, RetrieveError> {
    let Some(sem) = semantic else { return Retriever::build(kb, None, tuning) };
    let mut cache = VectorCache::open(cache_dir, sem.embedder.model_id());
    let embedder = Arc::clone(&sem.embedder);
    let cache_cell = std::cell::RefCell::new(&mut cache);
    let embed = |texts: &[&str]| -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut guard = cache_cell.borrow_mut();
        let vectors = embed_passages_cached(embedder.as_ref(), &mut guard, texts)?;
        // Old vectors are pruned only when they far outnumber the live ones: several knowledge versions (and
        // test data sets) share one cache folder, and a recomputation costs minutes.
        if guard.len() > 4 * texts.len().max(1) {
            guard.retain_texts(texts);
        }
        if let Err(e) = guard.save() {
            tracing::warn!(error = %e, "could not save the passage vector cache");
        }
        Ok(vectors)
    };
    let queries: Arc<dyn QueryVectors> = Arc::new(QueuedQueries { queue: Arc::clone(&sem.queries), timeout: sem.timeout });
    let mut retriever = Retriever::build(kb, Some((queries, &embed)), tuning)?;
    // Not enabled by default: the learned model is far more timid than the fixed rules of `retrieve::decide` (on
    // the dev set top-1 0.40 against the CI floor 0.92; see data/model/decision.toml). EHALL_DECISION=learned
    // turns it on for evaluation.
    if std::env::var("EHALL_DECISION").as_deref() == Ok("learned") {
        retriever.set_decision(DecisionModel::bundled_for(sem.embedder.model_id()));
    }
    Ok(retriever)
}
