//! On-disk cache of passage vectors keyed by (model id, sha256 of the text), so restarts and
//! knowledge-base edits only embed the phrasings that are new or changed.
//!
//! File layout (little-endian): `"EVC1"`, u16 model-id length, model id, u32 dim, u64 count,
//! `count` × (32-byte text sha256, `dim` × f32), then the sha256 of everything before it. A file
//! that fails any check is discarded with a warning; it is only a cache.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder, TextKind};

const MAGIC: &[u8; 4] = b"EVC1";
const KEY_LEN: usize = 32;
/// Passages per forward pass when filling misses: big enough to amortize, small enough to keep
/// padding waste and latency spikes down.
const EMBED_BATCH: usize = 16;

type TextKey = [u8; KEY_LEN];

/// Passage vectors for one model, persisted in `<dir>/<model id>.vectors`.
#[derive(Debug)]
pub struct VectorCache {
    path: PathBuf,
    model_id: String,
    dim: Option<usize>,
    vectors: HashMap<TextKey, Vec<f32>>,
    dirty: bool,
}

impl VectorCache {
    /// Opens (or starts) the cache for `model_id` in `dir`. A missing file gives an empty cache;
    /// a corrupt or foreign one is ignored with a warning and overwritten on the next `save`.
    pub fn open(dir: &Path, model_id: &str) -> VectorCache {
        let path = dir.join(format!("{}.vectors", file_stem(model_id)));
        let mut cache =
            VectorCache { path, model_id: model_id.to_owned(), dim: None, vectors: HashMap::new(), dirty: false };
        match std::fs::read(&cache.path) {
            Ok(bytes) => match decode(&bytes, model_id) {
                Ok((dim, vectors)) => {
                    cache.dim = dim;
                    cache.vectors = vectors;
                }
                Err(reason) => tracing::warn!(
                    path = %cache.path.display(),
                    reason,
                    "discarding unreadable vector cache"
                ),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(
                path = %cache.path.display(),
                error = %err,
                "cannot read vector cache; starting empty"
            ),
        }
        cache
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Whether a vector for this exact passage text is cached.
    pub fn contains(&self, text: &str) -> bool {
        self.vectors.contains_key(&text_key(text))
    }

    /// The cached vector for this exact passage text.
    pub fn get(&self, text: &str) -> Option<Vec<f32>> {
        self.vectors.get(&text_key(text)).cloned()
    }

    /// Stores a vector. One cache holds one dimension; a vector of another length is ignored
    /// with a warning (it can only come from a different model).
    pub fn insert(&mut self, text: &str, vector: Vec<f32>) {
        match self.dim {
            Some(dim) if dim != vector.len() => {
                tracing::warn!(expected = dim, got = vector.len(), "vector cache: ignoring vector of wrong dimension");
                return;
            }
            Some(_) => {}
            None => self.dim = Some(vector.len()),
        }
        self.vectors.insert(text_key(text), vector);
        self.dirty = true;
    }

    /// Drops every vector whose text is not in `texts`, so the file doesn't grow forever as the
    /// knowledge base changes.
    pub fn retain_texts(&mut self, texts: &[&str]) {
        let keep: std::collections::HashSet<TextKey> = texts.iter().map(|t| text_key(t)).collect();
        let before = self.vectors.len();
        self.vectors.retain(|key, _| keep.contains(key));
        self.dirty |= self.vectors.len() != before;
    }

    /// Writes the cache if it changed: to a temporary file in the same directory, then renamed
    /// over the old one, so a crash never leaves a half-written cache behind.
    pub fn save(&mut self) -> Result<(), EmbedError> {
        if !self.dirty {
            return Ok(());
        }
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmbedError::Io { path, source }
        };
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let bytes = encode(&self.model_id, self.dim.unwrap_or(0), &self.vectors);
        let temp_path = self.path.with_extension(format!("vectors.tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temp_path)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            Ok(())
        };
        if let Err(source) = write() {
            let _ = std::fs::remove_file(&temp_path);
            return Err(EmbedError::Io { path: temp_path, source });
        }
        std::fs::rename(&temp_path, &self.path).map_err(|source| {
            let _ = std::fs::remove_file(&temp_path);
            EmbedError::Io { path: self.path.clone(), source }
        })?;
        self.dirty = false;
        Ok(())
    }
}

/// Passage vectors for `texts`, in order, embedding only the cache misses (in batches of 16) and
/// adding them to `cache`. The caller decides when to `save`.
pub fn embed_passages_cached(
    embedder: &dyn Embedder,
    cache: &mut VectorCache,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    embed_passages_with_progress(embedder, cache, texts, &mut |_, _| {})
}

/// Like [`embed_passages_cached`], calling `progress(done, missing)` after each batch of misses. Each call to the
/// embedder gets 16 passages per unit of `Embedder::parallelism`, so a backend with a session per core keeps every
/// core busy.
pub fn embed_passages_with_progress(
    embedder: &dyn Embedder,
    cache: &mut VectorCache,
    texts: &[&str],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut seen = std::collections::HashSet::new();
    let misses: Vec<&str> = texts.iter().copied().filter(|text| !cache.contains(text) && seen.insert(*text)).collect();
    let mut fresh: HashMap<&str, Vec<f32>> = HashMap::with_capacity(misses.len());
    let mut done = 0;
    for batch in misses.chunks(EMBED_BATCH * embedder.parallelism().max(1)) {
        let vectors = embedder.embed(batch, TextKind::Passage)?;
        if vectors.len() != batch.len() {
            return Err(EmbedError::CountMismatch { expected: batch.len(), actual: vectors.len() });
        }
        for (text, vector) in batch.iter().zip(vectors) {
            if vector.len() != embedder.dim() {
                return Err(EmbedError::DimensionMismatch { expected: embedder.dim(), actual: vector.len() });
            }
            cache.insert(text, vector.clone());
            fresh.insert(text, vector);
        }
        done += batch.len();
        progress(done, misses.len());
    }
    Ok(texts
        .iter()
        .map(|text| match fresh.get(text) {
            Some(vector) => vector.clone(),
            // Not a miss, so the cache has it.
            None => cache.get(text).unwrap_or_default(),
        })
        .collect())
}

/// How many of `texts` have no cached vector.
pub fn count_missing(cache: &VectorCache, texts: &[&str]) -> usize {
    let mut seen = std::collections::HashSet::new();
    texts.iter().filter(|text| !cache.contains(text) && seen.insert(**text)).count()
}

fn text_key(text: &str) -> TextKey {
    Sha256::digest(text.as_bytes()).into()
}

/// A file name derived from the model id; ids look like "e5-small-q4:1571fc982750".
fn file_stem(model_id: &str) -> String {
    model_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

fn encode(model_id: &str, dim: usize, vectors: &HashMap<TextKey, Vec<f32>>) -> Vec<u8> {
    let id = model_id.as_bytes();
    let id_len = id.len().min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(64 + vectors.len() * (KEY_LEN + dim * 4));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(id_len as u16).to_le_bytes());
    out.extend_from_slice(&id[..id_len]);
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.extend_from_slice(&(vectors.len() as u64).to_le_bytes());
    for (key, vector) in vectors {
        out.extend_from_slice(key);
        for value in vector {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

type Decoded = (Option<usize>, HashMap<TextKey, Vec<f32>>);

fn decode(bytes: &[u8], model_id: &str) -> Result<Decoded, &'static str> {
    let body_len = bytes.len().checked_sub(KEY_LEN).ok_or("file too short")?;
    let (body, checksum) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != checksum {
        return Err("checksum mismatch");
    }
    let mut rest = body;
    let mut take = |n: usize| -> Result<&[u8], &'static str> {
        if rest.len() < n {
            return Err("file truncated");
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    if take(4)? != MAGIC {
        return Err("bad magic");
    }
    let id_len = u16::from_le_bytes([take(1)?[0], take(1)?[0]]) as usize;
    if take(id_len)? != model_id.as_bytes() {
        return Err("written for another model");
    }
    let dim_bytes = take(4)?;
    let dim = u32::from_le_bytes([dim_bytes[0], dim_bytes[1], dim_bytes[2], dim_bytes[3]]) as usize;
    let mut count_bytes = [0u8; 8];
    count_bytes.copy_from_slice(take(8)?);
    let count = u64::from_le_bytes(count_bytes);
    let entry_len = KEY_LEN + dim * 4;
    let expected = (count as u128) * (entry_len as u128);
    if expected != rest.len() as u128 {
        return Err("entry count does not match file length");
    }
    let mut vectors = HashMap::with_capacity(count as usize);
    for entry in rest.chunks_exact(entry_len) {
        let (key, values) = entry.split_at(KEY_LEN);
        let mut text_key = [0u8; KEY_LEN];
        text_key.copy_from_slice(key);
        let vector = values.chunks_exact(4).map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        vectors.insert(text_key, vector);
    }
    Ok(((count > 0).then_some(dim), vectors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::test_support::real_model;
    use crate::embed::HashEmbedder;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts how many texts reach the inner embedder.
    struct CountingEmbedder {
        inner: HashEmbedder,
        embedded: AtomicUsize,
        calls: AtomicUsize,
    }

    impl Embedder for CountingEmbedder {
        fn model_id(&self) -> &str {
            self.inner.model_id()
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
            assert!(texts.len() <= EMBED_BATCH);
            self.embedded.fetch_add(texts.len(), Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.embed(texts, kind)
        }
    }

    #[test]
    fn round_trip_and_only_misses_are_embedded() -> Result<(), EmbedError> {
        let dir = tempfile::tempdir().map_err(|source| EmbedError::Io { path: "tempdir".into(), source })?;
        let embedder = CountingEmbedder {
            inner: HashEmbedder::default(),
            embedded: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        };
        let texts: Vec<String> = (0..40).map(|i| format!("第{i}条常见问题")).collect();
        let mut refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        refs.push(refs[0]); // a duplicate is embedded once

        let mut cache = VectorCache::open(dir.path(), embedder.model_id());
        assert!(cache.is_empty());
        let first = embed_passages_cached(&embedder, &mut cache, &refs)?;
        assert_eq!(first.len(), 41);
        assert_eq!(first[40], first[0]);
        assert_eq!(embedder.embedded.load(Ordering::SeqCst), 40);
        assert_eq!(embedder.calls.load(Ordering::SeqCst), 3);
        cache.save()?;

        let mut reopened = VectorCache::open(dir.path(), embedder.model_id());
        assert_eq!(reopened.len(), 40);
        assert_eq!(reopened.get(&texts[7]), Some(first[7].clone()));
        let again = embed_passages_cached(&embedder, &mut reopened, &["新问题", refs[3]])?;
        assert_eq!(embedder.embedded.load(Ordering::SeqCst), 41);
        assert_eq!(again[1], first[3]);

        // Another model id never sees these vectors.
        assert!(VectorCache::open(dir.path(), "other-model:000000000000").is_empty());
        Ok(())
    }

    #[test]
    fn corrupt_file_is_discarded_not_fatal() -> Result<(), EmbedError> {
        let dir = tempfile::tempdir().map_err(|source| EmbedError::Io { path: "tempdir".into(), source })?;
        let mut cache = VectorCache::open(dir.path(), "m:1");
        cache.insert("甲", vec![1.0, 0.0]);
        cache.insert("乙", vec![0.0, 1.0]);
        cache.save()?;
        let path = cache.path().to_path_buf();

        let mut bytes = std::fs::read(&path).map_err(|source| EmbedError::Io { path: path.clone(), source })?;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
        std::fs::write(&path, &bytes).map_err(|source| EmbedError::Io { path: path.clone(), source })?;
        assert!(VectorCache::open(dir.path(), "m:1").is_empty());

        std::fs::write(&path, b"EVC1").map_err(|source| EmbedError::Io { path: path.clone(), source })?;
        let mut reopened = VectorCache::open(dir.path(), "m:1");
        assert!(reopened.is_empty());
        reopened.insert("丙", vec![0.6, 0.8]);
        reopened.insert("丁", vec![1.0, 0.0, 0.0]); // wrong dimension: ignored
        reopened.save()?;
        let last = VectorCache::open(dir.path(), "m:1");
        assert_eq!(last.len(), 1);
        assert_eq!(last.get("丙"), Some(vec![0.6, 0.8]));
        // No temporary files left behind.
        let leftovers = std::fs::read_dir(dir.path())
            .map_err(|source| EmbedError::Io { path: dir.path().into(), source })?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
        Ok(())
    }

    #[test]
    fn real_model_cache_round_trip() -> Result<(), EmbedError> {
        let model = real_model();
        let dir = tempfile::tempdir().map_err(|source| EmbedError::Io { path: "tempdir".into(), source })?;
        let texts = ["学费缓交和绿色通道", "校园卡丢失后如何挂失与补办", "如何打印中英文成绩单"];
        let mut cache = VectorCache::open(dir.path(), model.model_id());
        let fresh = embed_passages_cached(model.as_ref(), &mut cache, &texts)?;
        cache.save()?;
        let reopened = VectorCache::open(dir.path(), model.model_id());
        for (text, vector) in texts.iter().zip(&fresh) {
            assert_eq!(reopened.get(text).as_ref(), Some(vector));
        }
        let direct = model.embed(&texts, TextKind::Passage)?;
        for (a, b) in direct.iter().zip(&fresh) {
            assert!(crate::embed::dot(a, b) > 0.9999);
        }
        Ok(())
    }
}
