//! The knowledge base: data files, normalization, the tantivy index, embeddings and hybrid retrieval.

pub mod embed;
pub mod import;
pub mod load;
pub mod model;

pub use load::{DataError, KnowledgeBase, LoadErrors};
pub use model::*;
