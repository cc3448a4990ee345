//! The knowledge base: data files, normalization, the tantivy index, embeddings and hybrid retrieval.

pub mod analysis;
pub mod decide;
pub mod embed;
pub mod import;
pub mod lexical;
pub mod load;
pub mod model;
pub mod normalize;
pub mod retrieve;
pub mod setup;
pub mod store;
pub mod train;
pub mod tune;

pub use load::{DataError, KnowledgeBase, LoadErrors};
pub use model::*;
pub use retrieve::{Candidate, Decision, Retriever, SearchResult, Tuning};
