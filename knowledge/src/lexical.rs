//! The tantivy index of phrasings: segmented terms and character bigrams, searched with hand-built term queries.

use crate::analysis::Analyzer;
use crate::model::ItemRef;
use std::collections::{HashMap, HashSet};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{doc, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

/// What part of an item a phrasing comes from; decides its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The item's name (a FAQ's question).
    Name,
    /// An authored similar question.
    Question,
    /// The item's tags, joined.
    Tags,
    /// Descriptive text: summary, notes, answer, description.
    Body,
}

/// One indexed phrasing.
#[derive(Debug, Clone)]
pub struct Phrasing {
    pub item: ItemRef,
    pub source: Source,
    pub text: String,
}

/// Why the lexical index failed.
#[derive(Debug, thiserror::Error)]
pub enum LexicalError {
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

/// Weights of the parts of a query.
const BIGRAM_BOOST: f32 = 0.3;
const EXPANSION_BOOST: f32 = 0.4;

/// One item's best lexical match.
#[derive(Debug, Clone)]
pub struct LexicalHit {
    pub item: ItemRef,
    pub score: f32,
    /// Index into the phrasing list of the best-scoring phrasing.
    pub best_phrasing: usize,
    /// Share of the query's content terms that the best phrasing (or the item's body) contains.
    pub coverage: f32,
    pub matched_terms: Vec<String>,
}

struct Fields {
    ord: tantivy::schema::Field,
    terms: tantivy::schema::Field,
    grams: tantivy::schema::Field,
}

/// The in-memory index with the phrasings it was built from.
pub struct LexicalIndex {
    reader: IndexReader,
    fields: Fields,
    phrasings: Vec<Phrasing>,
    phrasing_terms: Vec<HashSet<String>>,
    body_of: HashMap<ItemRef, usize>,
    /// How many phrasings hold each term (the vocabulary).
    term_phrasings: HashMap<String, u32>,
}

impl LexicalIndex {
    /// Indexes every phrasing in RAM.
    pub fn build(analyzer: &Analyzer, phrasings: Vec<Phrasing>) -> Result<LexicalIndex, LexicalError> {
        let mut sb = Schema::builder();
        let indexing = TextFieldIndexing::default().set_tokenizer("ws").set_index_option(IndexRecordOption::WithFreqs);
        let text_opts = TextOptions::default().set_indexing_options(indexing);
        let ord = sb.add_u64_field("ord", NumericOptions::default().set_stored());
        let terms = sb.add_text_field("terms", text_opts.clone());
        let grams = sb.add_text_field("grams", text_opts);
        let index = Index::create_in_ram(sb.build());
        index.tokenizers().register("ws", TextAnalyzer::builder(WhitespaceTokenizer::default()).build());
        let mut writer = index.writer_with_num_threads(1, 30_000_000)?;
        let mut phrasing_terms: Vec<HashSet<String>> = Vec::with_capacity(phrasings.len());
        let mut body_of = HashMap::new();
        for (i, p) in phrasings.iter().enumerate() {
            let t = analyzer.terms(&p.text);
            let g = analyzer.bigrams(&p.text);
            writer.add_document(doc!(ord => i as u64, terms => t.join(" "), grams => g.join(" ")))?;
            phrasing_terms.push(t.into_iter().collect());
            if p.source == Source::Body {
                body_of.insert(p.item, i);
            }
        }
        writer.commit()?;
        let mut term_phrasings: HashMap<String, u32> = HashMap::new();
        for t in phrasing_terms.iter().flatten() {
            *term_phrasings.entry(t.clone()).or_default() += 1;
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(LexicalIndex {
            reader,
            fields: Fields { ord, terms, grams },
            phrasings,
            phrasing_terms,
            body_of,
            term_phrasings,
        })
    }

    pub fn phrasings(&self) -> &[Phrasing] {
        &self.phrasings
    }

    /// Whether some phrasing (other than `excluded`) holds the term.
    pub fn knows(&self, term: &str, excluded: Option<usize>) -> bool {
        let n = self.term_phrasings.get(term).copied().unwrap_or(0);
        let own = excluded.and_then(|i| self.phrasing_terms.get(i)).is_some_and(|t| t.contains(term));
        n > u32::from(own)
    }

    /// Ranks items for a query: per item, its best non-body phrasing plus a fraction of its body's score.
    /// `excluded` leaves one phrasing out of the results (leave-one-out training).
    pub fn search(
        &self,
        analyzer: &Analyzer,
        text: &str,
        limit: usize,
        excluded: Option<usize>,
    ) -> Result<Vec<LexicalHit>, LexicalError> {
        let terms = analyzer.terms(text);
        let grams = analyzer.bigrams(text);
        let expansions: Vec<String> = analyzer.expansions(text).into_iter().filter(|t| !terms.contains(t)).collect();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut seen = HashSet::new();
        for t in &terms {
            if seen.insert(("t", t.as_str())) {
                clauses.push((Occur::Should, term_query(self.fields.terms, t, 1.0)));
            }
        }
        for t in &expansions {
            if seen.insert(("t", t.as_str())) {
                clauses.push((Occur::Should, term_query(self.fields.terms, t, EXPANSION_BOOST)));
            }
        }
        for g in &grams {
            if seen.insert(("g", g.as_str())) {
                clauses.push((Occur::Should, term_query(self.fields.grams, g, BIGRAM_BOOST)));
            }
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(400).order_by_score())?;
        let mut best: HashMap<ItemRef, (f32, usize)> = HashMap::new();
        let mut body: HashMap<ItemRef, f32> = HashMap::new();
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(ord) = doc.get_first(self.fields.ord).and_then(|v| v.as_u64()) else { continue };
            let ord = ord as usize;
            if Some(ord) == excluded {
                continue;
            }
            let Some(p) = self.phrasings.get(ord) else { continue };
            if p.source == Source::Body {
                body.entry(p.item).or_insert(score);
                continue;
            }
            let e = best.entry(p.item).or_insert((score, ord));
            if score > e.0 {
                *e = (score, ord);
            }
        }
        // An item found only through its body still ranks, with no phrasing of its own.
        for item in body.keys() {
            best.entry(*item).or_insert((0.0, usize::MAX));
        }
        let unique_terms: Vec<&String> = {
            let mut v: Vec<&String> = terms.iter().collect();
            v.sort();
            v.dedup();
            v
        };
        let mut hits: Vec<LexicalHit> = best
            .into_iter()
            .map(|(item, (score, ord))| {
                let body_score = body.get(&item).copied().unwrap_or(0.0);
                let empty = HashSet::new();
                let own = self.phrasing_terms.get(ord).unwrap_or(&empty);
                let body_terms = self.body_of.get(&item).and_then(|&i| self.phrasing_terms.get(i)).unwrap_or(&empty);
                let matched: Vec<String> = unique_terms
                    .iter()
                    .filter(|t| own.contains(**t) || body_terms.contains(**t))
                    .map(|t| (*t).clone())
                    .collect();
                let coverage =
                    if unique_terms.is_empty() { 0.0 } else { matched.len() as f32 / unique_terms.len() as f32 };
                let best_phrasing = if ord == usize::MAX { self.body_of.get(&item).copied().unwrap_or(0) } else { ord };
                LexicalHit { item, score: score + 0.25 * body_score, best_phrasing, coverage, matched_terms: matched }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        hits.truncate(limit);
        Ok(hits)
    }

    /// Number of documents, for diagnostics.
    pub fn len(&self) -> usize {
        self.phrasings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phrasings.is_empty()
    }
}

fn term_query(field: tantivy::schema::Field, text: &str, boost: f32) -> Box<dyn Query> {
    let q = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs);
    if (boost - 1.0).abs() < f32::EPSILON {
        Box::new(q)
    } else {
        Box::new(BoostQuery::new(Box::new(q), boost))
    }
}
