//! Optional second backend (cargo feature `rust-bert`): the same multilingual-e5-small weights
//! and tokenizer, computed by rust-bert's `BertModel` on libtorch. Its vectors match the candle
//! backend's, so it shares the model id and the passage cache.
//!
//! Build with `scripts/test-rust-bert`: it sets `LIBTORCH_USE_PYTORCH=1` and `LD_LIBRARY_PATH`, and
//! builds rust-bert 0.23 with the `download-libtorch` feature its manifest forces on tch removed
//! (see docs/retrieval.md, "The second backend").

use std::sync::Mutex;

use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use rust_bert::Activation;
use tch::{nn, Kind};
use tokenizers::Tokenizer;

use super::candle_e5::{e5_model_id, embed_grouped, load_tokenizer, tokenize, TokenBatch};
use super::{e5s1, l2_normalize, EmbedError, Embedder, ModelPaths, TextKind};

/// libtorch tensors are `Send` but not `Sync`, so the model sits behind a mutex; libtorch
/// parallelizes inside each call.
struct TorchModel {
    model: BertModel<BertEmbeddings>,
    _vars: nn::VarStore,
}

/// multilingual-e5-small on rust-bert / libtorch.
pub struct RustBertE5 {
    torch: Mutex<TorchModel>,
    tokenizer: Tokenizer,
    dim: usize,
    max_batch: usize,
    model_id: String,
}

impl RustBertE5 {
    /// Loads the E5S1 weights into a libtorch `VarStore`. `threads` sets libtorch's intra-op
    /// thread count, which is process-wide.
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Self, EmbedError> {
        let bytes =
            std::fs::read(&paths.weights).map_err(|source| EmbedError::Io { path: paths.weights.clone(), source })?;
        let model_id = e5_model_id(&bytes);
        let parsed = e5s1::parse(&bytes, &candle_core::Device::Cpu)
            .map_err(|source| EmbedError::Format { path: paths.weights.clone(), source })?;
        drop(bytes);
        let header = &parsed.config;
        let config = BertConfig {
            hidden_act: Activation::gelu,
            attention_probs_dropout_prob: 0.0,
            hidden_dropout_prob: 0.0,
            hidden_size: header.hidden_size as i64,
            initializer_range: 0.02,
            intermediate_size: header.intermediate_size as i64,
            max_position_embeddings: header.max_positions as i64,
            num_attention_heads: header.num_heads as i64,
            num_hidden_layers: header.num_layers as i64,
            type_vocab_size: header.type_vocab_size as i64,
            vocab_size: header.vocab_size as i64,
            output_attentions: Some(false),
            output_hidden_states: Some(false),
            is_decoder: Some(false),
            id2label: None,
            label2id: None,
        };
        tch::set_num_threads(threads.max(1) as i32);
        let vars = nn::VarStore::new(tch::Device::Cpu);
        let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(vars.root(), &config, false);
        tch::no_grad(|| -> Result<(), EmbedError> {
            for (name, mut variable) in vars.variables() {
                let source = parsed.tensors.get(&name).ok_or_else(|| EmbedError::Format {
                    path: paths.weights.clone(),
                    source: e5s1::E5s1Error::MissingTensor { name: name.clone() },
                })?;
                let values: Vec<f32> = source.flatten_all()?.to_vec1()?;
                let shape = variable.size();
                let tensor = tch::Tensor::f_from_slice(&values)?.f_reshape(&shape)?;
                variable.f_copy_(&tensor)?;
            }
            Ok(())
        })?;
        let tokenizer = load_tokenizer(&paths.tokenizer, header.pad_token_id, header.max_positions)?;
        Ok(Self {
            torch: Mutex::new(TorchModel { model, _vars: vars }),
            tokenizer,
            dim: header.hidden_size,
            max_batch: 32,
            model_id,
        })
    }

    fn embed_batch(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let TokenBatch { ids, mask, batch, seq_len } = tokenize(&self.tokenizer, texts, kind)?;
        let shape = [batch as i64, seq_len as i64];
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        let mask: Vec<i64> = mask.into_iter().map(i64::from).collect();
        let input_ids = tch::Tensor::f_from_slice(&ids)?.f_reshape(shape)?;
        let attention_mask = tch::Tensor::f_from_slice(&mask)?.f_reshape(shape)?;
        let torch = self.torch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let pooled = tch::no_grad(|| -> Result<tch::Tensor, EmbedError> {
            let output =
                torch.model.forward_t(Some(&input_ids), Some(&attention_mask), None, None, None, None, None, false)?;
            // Mean over real tokens only, as in the candle backend.
            let weights = attention_mask.f_to_kind(Kind::Float)?.f_unsqueeze(-1)?;
            let summed = output.hidden_state.f_mul(&weights)?.f_sum_dim_intlist(1, false, Kind::Float)?;
            let counts = weights.f_sum_dim_intlist(1, false, Kind::Float)?.f_clamp_min(1.0)?;
            Ok(summed.f_div(&counts)?)
        })?;
        drop(torch);
        let flat = Vec::<f32>::try_from(pooled.f_flatten(0, -1)?)?;
        let mut vectors: Vec<Vec<f32>> = flat.chunks(self.dim).map(<[f32]>::to_vec).collect();
        vectors.iter_mut().for_each(|v| l2_normalize(v));
        Ok(vectors)
    }
}

impl Embedder for RustBertE5 {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        embed_grouped(texts, self.max_batch, |group| self.embed_batch(group, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;
    use crate::embed::test_support::{real_model, repo_root};

    #[test]
    fn rust_bert_matches_candle() -> Result<(), EmbedError> {
        let Some(paths) = ModelPaths::find(&repo_root()) else {
            panic!("model files missing: run scripts/fetch-models first");
        };
        let torch = RustBertE5::load(&paths, 2)?;
        let candle = real_model();
        assert_eq!(torch.model_id(), candle.model_id());
        let texts = [
            "没钱交学费怎么办",
            "学费缓交和绿色通道",
            "校园卡丢失后如何挂失与补办",
            "一卡通丢了",
            "怎么打印成绩单",
            "如何打印中英文成绩单",
            "校园网连不上",
            "校园网无法连接的常见处理方法",
            "宿舍空调坏了找谁修",
            "研究生怎么申请出国交流",
            "请假条在哪里提交",
            "忘记统一身份认证密码",
            "奖学金评定办法和申请时间",
            "图书馆座位预约与违约规则",
            "教室借用申请",
            "毕业生离校手续办理清单",
            "How do I reset my password?",
            "在读证明开具与盖章",
            "",
            "网上办事服务大厅使用说明：登录方式、常用服务入口、办理进度查询以及常见问题解答",
        ];
        let mut lowest = f32::MAX;
        for kind in [TextKind::Query, TextKind::Passage] {
            let from_torch = torch.embed(&texts, kind)?;
            let from_candle = candle.embed(&texts, kind)?;
            assert_eq!(from_torch.len(), texts.len());
            for ((text, a), b) in texts.iter().zip(&from_torch).zip(&from_candle) {
                let cosine = dot(a, b);
                lowest = lowest.min(cosine);
                assert!(cosine >= 0.9999, "{kind:?} {text:?}: cosine {cosine}");
            }
        }
        println!("rust-bert vs candle: lowest cosine over {} vectors = {lowest:.7}", 2 * texts.len());
        Ok(())
    }
}
