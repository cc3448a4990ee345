//! The fast embedding backend: the int8 ONNX graph of multilingual-e5-small (built from the E5S1 weights by
//! `scripts/build-e5-onnx.py`) run by onnxruntime, which is loaded at run time from the PyPI wheel that
//! `scripts/fetch-models` installs. Same tokenizer and pooling as the candle backend.
//!
//! One onnxruntime session runs one forward pass at a time on one intra-op thread; the backend keeps one
//! session per core (sharing their prepacked weights), so concurrent callers each get a core, and a large
//! passage batch is split across all sessions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use ort::environment::Environment;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use super::candle_e5::{configure_tokenizer, embed_grouped, tokenize, TokenBatch, MAX_TOKENS};
use super::{l2_normalize, EmbedError, Embedder, TextKind};

/// Where the onnxruntime library and the int8 model live after `scripts/fetch-models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtPaths {
    pub library: PathBuf,
    pub model: PathBuf,
    pub tokenizer: PathBuf,
}

impl OrtPaths {
    /// `libonnxruntime.so` of the `onnxruntime==1.32.0` wheel, relative to the repository root.
    pub const LIBRARY_RELATIVE: &'static str = "vendor/onnx/site/onnxruntime/capi/libonnxruntime.so.1.32.0";
    /// The graph `scripts/build-e5-onnx.py` writes.
    pub const MODEL_RELATIVE: &'static str = "vendor/onnx/multilingual-e5-small-int8.onnx";

    /// The files under `root`; None when any is missing.
    pub fn find(root: &Path) -> Option<OrtPaths> {
        let paths = OrtPaths {
            library: root.join(Self::LIBRARY_RELATIVE),
            model: root.join(Self::MODEL_RELATIVE),
            tokenizer: root.join(super::ModelPaths::TOKENIZER_RELATIVE),
        };
        (paths.library.is_file() && paths.model.is_file() && paths.tokenizer.is_file()).then_some(paths)
    }
}

/// Tuning knobs for `OrtE5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtE5Options {
    /// Sessions, i.e. forward passes that can run at once; one per core serves best.
    pub sessions: usize,
    /// Threads one forward pass may use.
    pub intra_threads: usize,
    /// Texts per forward pass.
    pub max_batch: usize,
}

impl Default for OrtE5Options {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { sessions: cores.clamp(1, 8), intra_threads: 1, max_batch: 32 }
    }
}

/// multilingual-e5-small on onnxruntime (int8). Share it behind an `Arc`.
pub struct OrtE5 {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    tokenizer: Tokenizer,
    dim: usize,
    max_batch: usize,
    model_id: String,
}

/// Hidden size of multilingual-e5-small; checked against the graph's first output.
const DIM: usize = 384;
/// The pad token of the XLM-R vocabulary, used when `tokenizer.json` does not name `<pad>`.
const DEFAULT_PAD_ID: u32 = 1;

/// The process-wide onnxruntime environment; the library can be loaded only once per process.
fn environment(library: &Path) -> Result<&'static Environment, EmbedError> {
    static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let builder = ort::init_from(library).map_err(|e| format!("loading {}: {e}", library.display()))?;
            builder.with_name("ehall-e5").with_telemetry(false).build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| EmbedError::Ort(message.clone()))
}

fn ort_error(context: &'static str) -> impl Fn(ort::Error<ort::session::builder::SessionBuilder>) -> EmbedError {
    move |e| EmbedError::Ort(format!("{context}: {e}"))
}

impl OrtE5 {
    /// Loads the library, the model (one session per `options.sessions`) and the tokenizer.
    pub fn load(paths: &OrtPaths, options: OrtE5Options) -> Result<Self, EmbedError> {
        let (model, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| Tokenizer::from_file(&paths.tokenizer).map_err(EmbedError::Tokenizer));
            let model =
                std::fs::read(&paths.model).map_err(|source| EmbedError::Io { path: paths.model.clone(), source });
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|_| Err(EmbedError::Tokenizer("the thread reading tokenizer.json panicked".into())));
            (model, tokenizer)
        });
        let model = model?;
        let model_id = onnx_model_id(&model);
        let tokenizer = tokenizer?;
        let pad_id = tokenizer.token_to_id("<pad>").unwrap_or(DEFAULT_PAD_ID);
        let tokenizer = configure_tokenizer(tokenizer, pad_id, MAX_TOKENS)?;

        let environment = environment(&paths.library)?;
        let prepacked = PrepackedWeights::new();
        let mut sessions = Vec::new();
        for _ in 0..options.sessions.max(1) {
            let mut builder = Session::builder(environment)
                .map_err(|e| EmbedError::Ort(format!("session builder: {e}")))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(ort_error("optimization level"))?
                .with_intra_threads(options.intra_threads.max(1))
                .map_err(ort_error("intra-op threads"))?
                .with_inter_threads(1)
                .map_err(ort_error("inter-op threads"))?
                .with_prepacked_weights(&prepacked)
                .map_err(ort_error("prepacked weights"))?;
            let session = builder
                .commit_from_memory(&model)
                .map_err(|e| EmbedError::Ort(format!("loading {}: {e}", paths.model.display())))?;
            sessions.push(Mutex::new(session));
        }
        let backend = Self {
            sessions,
            next: AtomicUsize::new(0),
            tokenizer,
            dim: DIM,
            max_batch: options.max_batch.max(1),
            model_id,
        };
        // One tiny pass checks the graph's output shape before anyone relies on it.
        let probe = backend.embed_batch(0, &["ok"], TextKind::Query)?;
        if probe.first().map(Vec::len) != Some(DIM) {
            return Err(EmbedError::DimensionMismatch { expected: DIM, actual: probe.first().map_or(0, Vec::len) });
        }
        Ok(backend)
    }

    /// A free session if there is one, else the next one in turn (waiting for it).
    fn session(&self, preferred: usize) -> MutexGuard<'_, Session> {
        let count = self.sessions.len();
        for offset in 0..count {
            if let Ok(guard) = self.sessions[(preferred + offset) % count].try_lock() {
                return guard;
            }
        }
        let mutex = &self.sessions[preferred % count];
        mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn embed_batch(&self, preferred: usize, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let TokenBatch { ids, mask, batch, seq_len } = tokenize(&self.tokenizer, texts, kind)?;
        let shape = [batch as i64, seq_len as i64];
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        let mask: Vec<i64> = mask.into_iter().map(i64::from).collect();
        let run_error = |e: ort::Error| EmbedError::Ort(format!("inference: {e}"));
        let ids = Tensor::from_array((shape, ids)).map_err(run_error)?;
        let mask = Tensor::from_array((shape, mask)).map_err(run_error)?;
        let mut session = self.session(preferred);
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask]).map_err(run_error)?;
        let (out_shape, values) = outputs["embedding"].try_extract_tensor::<f32>().map_err(run_error)?;
        let dim = out_shape.get(1).copied().unwrap_or(0);
        if out_shape.len() != 2 || out_shape[0] != batch as i64 || dim <= 0 {
            return Err(EmbedError::CountMismatch {
                expected: batch,
                actual: out_shape.first().copied().unwrap_or(0) as usize,
            });
        }
        let mut vectors: Vec<Vec<f32>> = values.chunks_exact(dim as usize).map(<[f32]>::to_vec).collect();
        vectors.iter_mut().for_each(|v| l2_normalize(v));
        Ok(vectors)
    }
}

impl Embedder for OrtE5 {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn parallelism(&self) -> usize {
        self.sessions.len()
    }

    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let workers = self.sessions.len().min(texts.len().div_ceil(self.max_batch).max(1));
        if workers <= 1 {
            return embed_grouped(texts, self.max_batch, |group| self.embed_batch(start, group, kind));
        }
        // A large input is split into one contiguous share per session, each run on a thread of its own.
        let share = texts.len().div_ceil(workers);
        let results: Vec<Result<Vec<Vec<f32>>, EmbedError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(share)
                .enumerate()
                .map(|(index, chunk)| {
                    scope.spawn(move || {
                        embed_grouped(chunk, self.max_batch, |group| self.embed_batch(start + index, group, kind))
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().unwrap_or(Err(EmbedError::Panicked))).collect()
        });
        let mut vectors = Vec::with_capacity(texts.len());
        for result in results {
            vectors.extend(result?);
        }
        Ok(vectors)
    }
}

/// The cache key for the int8 graph: its vectors differ slightly from the 4-bit candle ones, so the two
/// backends keep separate passage caches.
fn onnx_model_id(model: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(model));
    format!("e5-small-int8:{}", &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;
    use crate::embed::test_support::{real_model, repo_root};

    /// The onnxruntime backend when its files are installed; None (and a note on stderr) otherwise, so only a
    /// machine that never ran `scripts/fetch-models` skips these tests.
    fn ort_model() -> Option<&'static OrtE5> {
        static MODEL: OnceLock<Option<OrtE5>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let Some(paths) = OrtPaths::find(&repo_root()) else {
                    eprintln!(
                        "SKIPPED: onnxruntime or the int8 graph not found under {} (run scripts/fetch-models)",
                        repo_root().join("vendor/onnx").display()
                    );
                    return None;
                };
                match OrtE5::load(&paths, OrtE5Options { sessions: 2, ..OrtE5Options::default() }) {
                    Ok(model) => Some(model),
                    Err(err) => panic!("the onnxruntime backend is installed but does not load: {err}"),
                }
            })
            .as_ref()
    }

    /// 30 Chinese questions from data/questions and 20 FAQ questions and answers from data/faqs.toml.
    fn sample_texts() -> Vec<(String, TextKind)> {
        let read = |name: &str| -> toml::Value {
            let path = repo_root().join("data").join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let has_cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        let mut questions = Vec::new();
        for file in ["questions/services-a.toml", "questions/faqs.toml", "questions/apps.toml"] {
            let table = read(file);
            let Some(table) = table.as_table() else { continue };
            for phrasings in table.values() {
                let strings = phrasings.as_array().into_iter().flatten().filter_map(|v| v.as_str());
                questions.extend(strings.filter(|s| has_cjk(s)).map(str::to_owned));
            }
        }
        assert!(questions.len() >= 30, "data/questions holds only {} Chinese phrasings", questions.len());
        // 30 phrasings spread evenly over the files.
        let step = questions.len() / 30;
        let mut texts: Vec<(String, TextKind)> =
            questions.into_iter().step_by(step).take(30).map(|q| (q, TextKind::Query)).collect();
        let faqs = read("faqs.toml");
        let entries = faqs.get("faq").and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for entry in entries.iter().take(10) {
            for field in ["question", "answer"] {
                if let Some(text) = entry.get(field).and_then(|v| v.as_str()) {
                    texts.push((text.to_owned(), TextKind::Passage));
                }
            }
        }
        texts
    }

    #[test]
    fn ort_vectors_match_candle() -> Result<(), EmbedError> {
        let Some(ort) = ort_model() else { return Ok(()) };
        let candle = real_model();
        let texts = sample_texts();
        assert_eq!(texts.len(), 50, "the sample should hold 50 texts");
        let mut worst = (1.0f32, String::new());
        let mut sum = 0.0f32;
        for kind in [TextKind::Query, TextKind::Passage] {
            let group: Vec<&str> = texts.iter().filter(|(_, k)| *k == kind).map(|(t, _)| t.as_str()).collect();
            let fast = ort.embed(&group, kind)?;
            let reference = candle.embed(&group, kind)?;
            for ((text, a), b) in group.iter().zip(&fast).zip(&reference) {
                assert_eq!(a.len(), 384);
                let cosine = dot(a, b);
                sum += cosine;
                if cosine < worst.0 {
                    worst = (cosine, (*text).to_owned());
                }
            }
        }
        eprintln!(
            "ort vs candle over {} texts: mean cosine {:.4}, worst {:.4} ({})",
            texts.len(),
            sum / texts.len() as f32,
            worst.0,
            worst.1
        );
        assert!(worst.0 >= 0.99, "cosine {:.4} < 0.99 for {}", worst.0, worst.1);
        Ok(())
    }

    #[test]
    fn ort_batches_and_singles_agree() -> Result<(), EmbedError> {
        let Some(ort) = ort_model() else { return Ok(()) };
        // Enough texts that `embed` splits them across both sessions.
        let texts: Vec<String> = (0..70).map(|i| format!("第{i}个问题：校园卡丢了怎么办")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batch = ort.embed(&refs, TextKind::Passage)?;
        assert_eq!(batch.len(), refs.len());
        for index in [0, 33, 69] {
            let single = ort.embed(&[refs[index]], TextKind::Passage)?;
            // Dynamic int8 quantization scales activations over the whole batch, so a batched vector differs from
            // the single one slightly (about 0.998 here), far less than it differs from any other text.
            let cosine = dot(&single[0], &batch[index]);
            assert!(cosine > 0.99, "{}: cosine {cosine}", refs[index]);
        }
        let norm = dot(&batch[5], &batch[5]);
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        Ok(())
    }
}
