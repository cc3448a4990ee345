//! The learned answer / clarify / refuse decision: features of both rankings and two logistic models over them.
//!
//! `answer` estimates the chance that the first candidate is the item asked for, `scope` the chance that the item
//! asked for is among the first three (zero for a question the bot should refuse). The retriever answers when
//! `answer` reaches its threshold, clarifies when `scope` reaches its own, and refuses otherwise. Parameters and
//! thresholds are learned by `ehall-bot train` (see [`crate::train`]) into `data/model/decision.toml`.

use crate::lexical::{LexicalIndex, Source};
use crate::load::KnowledgeBase;
use crate::model::{Audience, ItemKind};
use crate::normalize::normalize;
use crate::retrieve::{latin_share, Candidate, Decision};
use serde::{Deserialize, Serialize};

/// The model bundled with the binary (retrained by `ehall-bot train`, then rebuilt).
static BUNDLED: &str = include_str!("../../data/model/decision.toml");

/// Words that ask for a system, site or entry point rather than a procedure.
const SYSTEM_CUES: &[&str] = &[
    "系统",
    "平台",
    "网址",
    "链接",
    "登录",
    "登陆",
    "入口",
    "app",
    "网站",
    "官网",
    "网页",
    "客户端",
    "打不开",
    "进不去",
];
/// Words that ask for a procedure (a service's guide).
const PROCESS_CUES: &[&str] =
    &["怎么办", "流程", "材料", "要多久", "多久", "手续", "步骤", "办理", "申请", "怎么弄", "需要带", "咋办"];
/// Words of a short yes/no question, typical of FAQs.
const YES_NO_CUES: &[&str] =
    &["能不能", "可不可以", "可以吗", "能吗", "是不是", "会不会", "有没有", "算不算", "要不要"];

/// The names of the features, in order; a model whose list differs is not used.
pub const FEATURES: &[&str] = &[
    "fused_top",
    "fused_margin",
    "fused_margin3",
    "cos_top",
    "cos_best",
    "cos_margin",
    "cos_top_gap",
    "dense_first",
    "lexical_first",
    "agree",
    "lex_score",
    "lex_margin",
    "coverage",
    "coverage_margin",
    "unmatched",
    "terms",
    "unknown_share",
    "latin",
    "top_app",
    "top_faq",
    "cue_system",
    "cue_process",
    "cue_yes_no",
    "system_app",
    "process_service",
    "yes_no_faq",
    "audience_mismatch",
    "name_match",
    "length",
];

/// What the features are computed from, besides the candidates.
pub struct FeatureInput<'a> {
    pub kb: &'a KnowledgeBase,
    pub lexical: &'a LexicalIndex,
    pub text: &'a str,
    pub query_terms: &'a [String],
    pub audience: Option<Audience>,
    /// A phrasing left out of the index (training only): its terms do not count as known vocabulary.
    pub excluded: Option<usize>,
}

fn contains_any(norm: &str, cues: &[&str]) -> bool {
    cues.iter().any(|c| norm.contains(c))
}

fn flag(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The feature vector of one search (see [`FEATURES`]); all zeros but the query-side ones without candidates.
pub fn features(candidates: &[Candidate], input: &FeatureInput<'_>) -> Vec<f32> {
    let norm = normalize(input.text);
    let top = candidates.first();
    let fused = |i: usize| candidates.get(i).map_or(0.0, |c| c.fused);
    let mut cosines: Vec<f32> = candidates.iter().filter_map(|c| c.dense.map(|d| d.cosine)).collect();
    cosines.sort_by(|a, b| b.total_cmp(a));
    let cos_floor = cosines.last().copied().unwrap_or(0.0);
    let cos_best = cosines.first().copied().unwrap_or(0.0);
    let cos_second = cosines.get(1).copied().unwrap_or(cos_floor);
    let cos_top = top.and_then(|c| c.dense).map_or(cos_floor, |d| d.cosine);
    let mut lex: Vec<f32> = candidates.iter().filter_map(|c| c.lexical.as_ref().map(|l| l.score)).collect();
    lex.sort_by(|a, b| b.total_cmp(a));
    let lex_top = top.and_then(|c| c.lexical.as_ref()).map_or(0.0, |l| l.score);
    let lex_best = lex.first().copied().unwrap_or(0.0);
    let lex_second = lex.get(1).copied().unwrap_or(0.0);
    let lex_margin = if lex_best > 0.0 { (lex_top - lex_second).max(0.0) / lex_best } else { 0.0 };
    let dense_first = candidates.iter().filter(|c| c.dense_rank == Some(0)).map(|c| c.item).next();
    let lexical_first = candidates.iter().filter(|c| c.lexical_rank == Some(0)).map(|c| c.item).next();
    let coverage = top.and_then(|c| c.lexical.as_ref()).map_or(0.0, |l| l.coverage);
    let coverage_second = candidates.get(1).and_then(|c| c.lexical.as_ref()).map_or(0.0, |l| l.coverage);
    let mut unique: Vec<&String> = input.query_terms.iter().collect();
    unique.sort();
    unique.dedup();
    let matched = top.and_then(|c| c.lexical.as_ref()).map_or(0, |l| l.matched_terms.len());
    let unmatched = unique.len().saturating_sub(matched) as f32;
    let unknown = unique.iter().filter(|t| !input.lexical.knows(t, input.excluded)).count() as f32;
    let unknown_share = if unique.is_empty() { 1.0 } else { unknown / unique.len() as f32 };
    let kind = top.map(|c| c.item.kind);
    let (cue_system, cue_process, cue_yes_no) =
        (contains_any(&norm, SYSTEM_CUES), contains_any(&norm, PROCESS_CUES), contains_any(&norm, YES_NO_CUES));
    let audience_mismatch = match (input.audience, top) {
        (Some(a), Some(c)) => {
            let aud = input.kb.item_audience(c.item);
            !aud.is_empty() && !aud.contains(&a)
        }
        _ => false,
    };
    let name_match = top
        .and_then(|c| c.lexical.as_ref())
        .and_then(|l| input.lexical.phrasings().get(l.best_phrasing))
        .is_some_and(|p| p.source == Source::Name);
    vec![
        fused(0),
        fused(0) - fused(1),
        fused(0) - fused(2),
        cos_top,
        cos_best,
        cos_best - cos_second,
        cos_best - cos_top,
        flag(top.is_some() && dense_first == top.map(|c| c.item)),
        flag(top.is_some() && lexical_first == top.map(|c| c.item)),
        flag(dense_first.is_some() && dense_first == lexical_first),
        lex_top.ln_1p(),
        lex_margin,
        coverage,
        coverage - coverage_second,
        unmatched,
        (unique.len() as f32).ln_1p(),
        unknown_share,
        latin_share(input.text),
        flag(kind == Some(ItemKind::App)),
        flag(kind == Some(ItemKind::Faq)),
        flag(cue_system),
        flag(cue_process),
        flag(cue_yes_no),
        flag(cue_system && kind == Some(ItemKind::App)),
        flag(cue_process && kind == Some(ItemKind::Service)),
        flag(cue_yes_no && kind == Some(ItemKind::Faq)),
        flag(audience_mismatch),
        flag(name_match),
        (norm.chars().filter(|c| !c.is_whitespace()).count() as f32).ln_1p(),
    ]
}

/// One logistic model over standardized features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logistic {
    pub bias: f64,
    pub weights: Vec<f64>,
    /// The probability from which this model's outcome is chosen.
    pub threshold: f64,
}

impl Logistic {
    /// The probability for standardized features `z`.
    pub fn probability(&self, z: &[f64]) -> f64 {
        let s: f64 = self.bias + self.weights.iter().zip(z).map(|(w, x)| w * x).sum::<f64>();
        1.0 / (1.0 + (-s).exp())
    }
}

/// Cross-validation figures, kept with the model for the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CvFigures {
    pub folds: usize,
    pub top1: f64,
    pub top3: f64,
    pub none: f64,
    pub wrong: f64,
}

/// The learned decision, as `data/model/decision.toml` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionModel {
    /// The embedding model the features were computed with (its cosines have their own scale).
    pub embedder: String,
    pub features: Vec<String>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub answer: Logistic,
    pub scope: Logistic,
    #[serde(default)]
    pub cv: CvFigures,
}

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a decision model: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("the model's features differ from this build's; run `ehall-bot train`")]
    Features,
}

impl DecisionModel {
    /// Parses and checks a model file.
    pub fn parse(text: &str) -> Result<DecisionModel, ModelError> {
        let m: DecisionModel = toml::from_str(text)?;
        let n = FEATURES.len();
        let names_match = m.features.len() == n && m.features.iter().zip(FEATURES).all(|(a, b)| a == b);
        if !names_match
            || m.mean.len() != n
            || m.scale.len() != n
            || m.answer.weights.len() != n
            || m.scope.weights.len() != n
        {
            return Err(ModelError::Features);
        }
        Ok(m)
    }

    /// The bundled model when it was trained with this embedder (`None` otherwise, or when it is stale).
    pub fn bundled_for(embedder: &str) -> Option<DecisionModel> {
        match DecisionModel::parse(BUNDLED) {
            Ok(m) if m.embedder == embedder => Some(m),
            Ok(m) => {
                tracing::info!(trained = %m.embedder, loaded = %embedder, "decision model trained for another embedder; using the fixed rules");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "bundled decision model not usable; using the fixed rules");
                None
            }
        }
    }

    /// Standardized features.
    pub fn standardize(&self, x: &[f32]) -> Vec<f64> {
        x.iter().zip(self.mean.iter().zip(&self.scale)).map(|(&v, (m, s))| (f64::from(v) - m) / s).collect()
    }

    /// The decision and a readable confidence (≥ 0.6 for an answer, < 0.6 for a clarify, ≤ 0.3 for a refusal).
    pub fn decide(&self, x: &[f32]) -> (Decision, f32, f64, f64) {
        let z = self.standardize(x);
        let pa = self.answer.probability(&z);
        let ps = self.scope.probability(&z);
        let (decision, conf) = if pa >= self.answer.threshold {
            (Decision::Answer, (pa as f32).max(0.6))
        } else if ps >= self.scope.threshold {
            (Decision::Clarify, (pa as f32).min(0.59))
        } else {
            (Decision::NoMatch, (pa as f32).min(0.3))
        };
        (decision, conf, pa, ps)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(threshold_a: f64, threshold_s: f64) -> DecisionModel {
        let n = FEATURES.len();
        let mut w = vec![0.0; n];
        w[0] = 4.0;
        DecisionModel {
            embedder: "test".into(),
            features: FEATURES.iter().map(|s| (*s).to_owned()).collect(),
            mean: vec![0.5; n],
            scale: vec![1.0; n],
            answer: Logistic { bias: 0.0, weights: w.clone(), threshold: threshold_a },
            scope: Logistic { bias: 1.0, weights: w, threshold: threshold_s },
            cv: CvFigures::default(),
        }
    }

    #[test]
    fn a_model_round_trips_through_toml_and_decides_by_its_thresholds() {
        let m = model(0.7, 0.4);
        let back = DecisionModel::parse(&toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let mut x = vec![0.5f32; FEATURES.len()];
        x[0] = 1.0; // z = 0.5 * 4 = 2 → p ≈ 0.88
        assert_eq!(m.decide(&x).0, Decision::Answer);
        x[0] = 0.4; // answer p ≈ 0.40; scope p ≈ 0.65
        assert_eq!(m.decide(&x).0, Decision::Clarify);
        x[0] = -0.5; // scope p ≈ 0.05
        assert_eq!(m.decide(&x).0, Decision::NoMatch);
    }

    #[test]
    fn the_bundled_model_matches_this_builds_features() {
        let m = DecisionModel::parse(BUNDLED).expect("data/model/decision.toml is current; run `ehall-bot train`");
        assert!(
            m.answer.threshold > 0.0 && m.answer.threshold < 1.0 && m.scope.threshold > 0.0 && m.scope.threshold < 1.0
        );
    }

    #[test]
    fn a_model_with_other_features_is_refused() {
        let mut m = model(0.5, 0.5);
        m.features[0] = "something_else".into();
        assert!(matches!(DecisionModel::parse(&toml::to_string(&m).unwrap()), Err(ModelError::Features)));
    }
}
