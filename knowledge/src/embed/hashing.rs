//! A deterministic, model-free `Embedder`: character unigrams and bigrams hashed into a small
//! vector. It stands in for the real model in unit tests and in builds without model files; texts
//! that share characters get similar vectors, which is enough to exercise retrieval plumbing.

use super::{l2_normalize, EmbedError, Embedder, TextKind};

/// Feature-hashing embedder over character uni- and bigrams.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    model_id: String,
}

impl HashEmbedder {
    pub const DEFAULT_DIM: usize = 256;

    /// An embedder producing `dim`-dimensional vectors (at least 1).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        Self { dim, model_id: format!("hash-char-bigram-v1:{dim}") }
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dim];
        let mut add = |feature: &[char], weight: f32| {
            let hash = fnv1a(feature);
            let bucket = (hash % self.dim as u64) as usize;
            // A hash-derived sign keeps unrelated collisions from always adding up.
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign * weight;
        };
        // Boundary markers make every text, even an empty one, produce at least one feature.
        let chars: Vec<char> = std::iter::once('\u{2}')
            .chain(text.chars().flat_map(char::to_lowercase).filter(|c| !c.is_whitespace()))
            .chain(std::iter::once('\u{3}'))
            .collect();
        for c in &chars[1..chars.len() - 1] {
            add(std::slice::from_ref(c), 1.0);
        }
        for pair in chars.windows(2) {
            add(pair, 1.0);
        }
        l2_normalize(&mut vector);
        vector
    }
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self::new(Self::DEFAULT_DIM)
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    /// The kind is ignored: queries and passages share one space, as lexical overlap is symmetric.
    fn embed(&self, texts: &[&str], _kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| self.embed_one(text)).collect())
    }
}

fn fnv1a(chars: &[char]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for c in chars {
        for byte in (*c as u32).to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;

    #[test]
    fn deterministic_unit_vectors() -> Result<(), EmbedError> {
        let embedder = HashEmbedder::default();
        let texts = ["一卡通丢了", "", "Campus Card"];
        let first = embedder.embed(&texts, TextKind::Query)?;
        let second = embedder.embed(&texts, TextKind::Passage)?;
        assert_eq!(first, second);
        for vector in &first {
            assert_eq!(vector.len(), 256);
            assert!((dot(vector, vector) - 1.0).abs() < 1e-5);
        }
        Ok(())
    }

    #[test]
    fn shared_characters_mean_higher_similarity() -> Result<(), EmbedError> {
        let embedder = HashEmbedder::new(512);
        let v = embedder.embed(&["校园卡丢了怎么办", "校园卡丢失挂失", "打印成绩单"], TextKind::Passage)?;
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]));
        Ok(())
    }
}
