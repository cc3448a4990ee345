//! Learns the decision model from the knowledge base itself: every authored similar question asked against the
//! index without it (leave-one-out), the authored situation questions (in scope, known item) and the authored
//! out-of-scope questions (to refuse). k-fold cross-validation, folds split by item, gives honest figures.

use crate::decide::{CvFigures, DecisionModel, Logistic, FEATURES};
use crate::lexical::Source;
use crate::model::{Audience, ItemRef};
use crate::retrieve::{latin_share, RetrieveError, Retriever};
use crate::tune::{rule_candidates, RuleCandidate};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Folds of the cross-validation.
pub const FOLDS: usize = 5;
/// Seed of the fold assignment.
pub const SEED: u64 = 20_261_203;
/// L2 penalty of the logistic models (on standardized features).
const L2: f64 = 1.0;
/// The default cost of a wrong answer, against 1 for a right one (see [`utility`]).
pub const WRONG_COST: f64 = 3.0;

/// What each outcome is worth when the thresholds are chosen (a declared cost, not fitted): a right answer 1, a
/// clarify holding the right item half of that, a wrong answer (or an out-of-scope question answered) costs three
/// times what a right one gains, a clarify of an out-of-scope question a little, and refusing costs nothing.
/// A probability threshold carries over between sets of different difficulty; a cap on the wrong rate would not.
pub fn utility(o: Outcome, in_scope: bool, wrong_cost: f64) -> f64 {
    match (o, in_scope) {
        (Outcome::AnsweredRight, _) => 1.0,
        (Outcome::ClarifyWithItem, _) => 0.5,
        (Outcome::AnsweredWrong, _) => -wrong_cost,
        (Outcome::ClarifyWithoutItem, false) => -0.5,
        (Outcome::RefusedRight, _) => 0.5,
        _ => 0.0,
    }
}

/// Where a training question comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// An authored similar question (data/questions/), asked with its own phrasing left out.
    Authored,
    /// A situation question (data/training/situations.toml).
    Situation,
    /// An out-of-scope question (data/training/out_of_scope.toml).
    OutOfScope,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Authored => "authored (leave-one-out)",
            Origin::Situation => "situations",
            Origin::OutOfScope => "out of scope",
        }
    }
}

/// One training question with what the retriever made of it.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub origin: Origin,
    /// The item asked for (`None`: to be refused).
    pub target: Option<ItemRef>,
    pub features: Vec<f32>,
    /// The target's place among the candidates.
    pub rank: Option<usize>,
    pub fold: usize,
    /// Whether the question is written mostly in Latin letters (the rule has its own bars for those).
    pub latin: bool,
    /// The candidates, kept for choosing the fixed rule's constants (`crate::tune`; empty when read from a dump).
    pub rule: Vec<RuleCandidate>,
}

impl Example {
    fn answer_label(&self) -> bool {
        self.target.is_some() && self.rank == Some(0)
    }
    fn scope_label(&self) -> bool {
        self.target.is_some() && self.rank.is_some_and(|r| r < 3)
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("search: {0}")]
    Search(#[from] RetrieveError),
    #[error("training needs the embedding model (dense ranking); it is not loaded")]
    NoDense,
    #[error("no training questions")]
    Empty,
}

#[derive(Deserialize)]
struct OutOfScopeFile {
    question: Vec<OutOfScopeQuestion>,
}

#[derive(Deserialize)]
struct OutOfScopeQuestion {
    text: String,
    #[allow(dead_code)]
    kind: String,
}

fn read(path: &Path) -> Result<String, TrainError> {
    std::fs::read_to_string(path).map_err(|source| TrainError::Read { path: path.to_owned(), source })
}

/// A small deterministic generator (xorshift64*), so that folds do not depend on a crate's algorithm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The training questions of `data_dir`, each searched and turned into features. `audience_of` guesses the
/// asker's audience from the text as the engine does.
pub fn build_examples(
    retriever: &Retriever,
    data_dir: &Path,
    audience_of: &dyn Fn(&str) -> Option<Audience>,
) -> Result<Vec<Example>, TrainError> {
    if !retriever.has_dense() {
        return Err(TrainError::NoDense);
    }
    let kb = retriever.knowledge();
    let mut asks: Vec<(String, Origin, Option<ItemRef>, Option<usize>)> = Vec::new();
    for (i, p) in retriever.phrasings().iter().enumerate() {
        if p.source == Source::Question {
            asks.push((p.text.clone(), Origin::Authored, Some(p.item), Some(i)));
        }
    }
    let spath = data_dir.join("training/situations.toml");
    let situations: BTreeMap<String, Vec<String>> = toml::from_str(&read(&spath)?)
        .map_err(|e| TrainError::Format { path: spath.clone(), message: e.message().to_owned() })?;
    for (id, questions) in situations {
        let Some(item) = kb.by_id(&id) else {
            return Err(TrainError::Format { path: spath, message: format!("unknown item id '{id}'") });
        };
        asks.extend(questions.into_iter().map(|q| (q, Origin::Situation, Some(item), None)));
    }
    let opath = data_dir.join("training/out_of_scope.toml");
    let oos: OutOfScopeFile = toml::from_str(&read(&opath)?)
        .map_err(|e| TrainError::Format { path: opath.clone(), message: e.message().to_owned() })?;
    asks.extend(oos.question.into_iter().map(|q| (q.text, Origin::OutOfScope, None, None)));
    // Folds by item: every question of one item falls in the same fold.
    let mut items: Vec<ItemRef> = asks.iter().filter_map(|a| a.2).collect();
    items.sort();
    items.dedup();
    let mut rng = Rng(SEED);
    rng.shuffle(&mut items);
    let fold_of: HashMap<ItemRef, usize> = items.iter().enumerate().map(|(i, &it)| (it, i % FOLDS)).collect();
    let mut oos_order: Vec<usize> = (0..asks.iter().filter(|a| a.2.is_none()).count()).collect();
    rng.shuffle(&mut oos_order);
    let mut oos_seen = 0usize;
    let mut out = Vec::with_capacity(asks.len());
    let related = kb.siblings();
    for (text, origin, target, excluded) in asks {
        let audience = audience_of(&text);
        let result = retriever.search_excluding(&text, audience, excluded)?;
        let features = retriever.features_of(&result, &text, audience, excluded);
        // The item asked for, or one the knowledge base links to it (a FAQ's service or app, a service's system),
        // counts as right, as eval's `also` does.
        let ok = |i: ItemRef| target.is_some_and(|t| i == t || related.get(&t).is_some_and(|r| r.contains(&i)));
        let rank = result.candidates.iter().position(|c| ok(c.item));
        let mismatch = |i: ItemRef| audience.is_some_and(|a| retriever.excludes(i, a));
        let siblings = |i: ItemRef| retriever.siblings_of(i).to_vec();
        let rule = rule_candidates(&result, &ok, &mismatch, &siblings);
        let latin = latin_share(&text) > 0.6;
        let fold = match target {
            Some(t) => fold_of.get(&t).copied().unwrap_or(0),
            None => {
                let f = oos_order.get(oos_seen).copied().unwrap_or(0) % FOLDS;
                oos_seen += 1;
                f
            }
        };
        out.push(Example { text, origin, target, features, rank, fold, latin, rule });
    }
    Ok(out)
}

/// Means and standard deviations of the features (a constant feature gets scale 1).
fn moments(rows: &[&Example]) -> (Vec<f64>, Vec<f64>) {
    let d = FEATURES.len();
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for r in rows {
        for (m, &x) in mean.iter_mut().zip(&r.features) {
            *m += f64::from(x) / n;
        }
    }
    let mut var = vec![0.0; d];
    for r in rows {
        for ((v, &x), m) in var.iter_mut().zip(&r.features).zip(&mean) {
            *v += (f64::from(x) - m).powi(2) / n;
        }
    }
    let scale = var.into_iter().map(|v: f64| if v > 1e-12 { v.sqrt() } else { 1.0 }).collect();
    (mean, scale)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (a is small and positive definite here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let p = a[col][col];
        if p.abs() < 1e-12 {
            continue;
        }
        for row in col + 1..n {
            let f = a[row][col] / p;
            if f != 0.0 {
                let (upper, lower) = a.split_at_mut(row);
                for (x, pivot_x) in lower[0][col..n].iter_mut().zip(&upper[col][col..n]) {
                    *x -= f * pivot_x;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = if a[row][row].abs() < 1e-12 { 0.0 } else { (b[row] - s) / a[row][row] };
    }
    x
}

/// Fits an L2-penalized logistic regression by Newton's method; `z` rows are standardized features.
pub fn fit_logistic(z: &[Vec<f64>], y: &[bool]) -> (f64, Vec<f64>) {
    let d = z.first().map_or(0, Vec::len);
    // Parameter 0 is the bias (not penalized), then the weights.
    let mut beta = vec![0.0; d + 1];
    for _ in 0..50 {
        let mut grad = vec![0.0; d + 1];
        let mut hess = vec![vec![0.0; d + 1]; d + 1];
        for (row, &label) in z.iter().zip(y) {
            let s = beta[0] + row.iter().zip(&beta[1..]).map(|(x, w)| x * w).sum::<f64>();
            let p = 1.0 / (1.0 + (-s).exp());
            let r = f64::from(u8::from(label)) - p;
            let w = (p * (1.0 - p)).max(1e-9);
            let x: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
            for i in 0..=d {
                grad[i] += r * x[i];
                for j in i..=d {
                    hess[i][j] += w * x[i] * x[j];
                }
            }
        }
        for i in 0..=d {
            // The lower triangle mirrors the upper one.
            #[allow(clippy::needless_range_loop)]
            for j in 0..i {
                hess[i][j] = hess[j][i];
            }
            if i > 0 {
                grad[i] -= L2 * beta[i];
                hess[i][i] += L2;
            }
        }
        let step = solve(hess, grad);
        let size: f64 = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
        for (b, s) in beta.iter_mut().zip(&step) {
            *b += s;
        }
        if size < 1e-9 {
            break;
        }
    }
    (beta[0], beta[1..].to_vec())
}

/// Out-of-fold probabilities (answer, scope) of one example.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub answer: f64,
    pub scope: f64,
}

fn standardize(rows: &[&Example], mean: &[f64], scale: &[f64]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|r| r.features.iter().zip(mean.iter().zip(scale)).map(|(&x, (m, s))| (f64::from(x) - m) / s).collect())
        .collect()
}

struct Fitted {
    mean: Vec<f64>,
    scale: Vec<f64>,
    answer: (f64, Vec<f64>),
    scope: (f64, Vec<f64>),
}

fn fit(rows: &[&Example]) -> Fitted {
    let (mean, scale) = moments(rows);
    let z = standardize(rows, &mean, &scale);
    let ya: Vec<bool> = rows.iter().map(|r| r.answer_label()).collect();
    let ys: Vec<bool> = rows.iter().map(|r| r.scope_label()).collect();
    Fitted { answer: fit_logistic(&z, &ya), scope: fit_logistic(&z, &ys), mean, scale }
}

fn probability(model: &(f64, Vec<f64>), z: &[f64]) -> f64 {
    Logistic { bias: model.0, weights: model.1.clone(), threshold: 0.0 }.probability(z)
}

/// Cross-validated probabilities for every example (models fitted without the example's fold).
pub fn cross_validate(examples: &[Example]) -> Vec<Scored> {
    let mut out = vec![Scored { answer: 0.0, scope: 0.0 }; examples.len()];
    for fold in 0..FOLDS {
        let train: Vec<&Example> = examples.iter().filter(|e| e.fold != fold).collect();
        let f = fit(&train);
        for (i, e) in examples.iter().enumerate().filter(|(_, e)| e.fold == fold) {
            let z = standardize(&[e], &f.mean, &f.scale).pop().unwrap_or_default();
            out[i] = Scored { answer: probability(&f.answer, &z), scope: probability(&f.scope, &z) };
        }
    }
    out
}

/// What the decision did with one question, against what it should have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    AnsweredRight,
    AnsweredWrong,
    ClarifyWithItem,
    ClarifyWithoutItem,
    RefusedRight,
    RefusedWrongly,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::AnsweredRight,
        Outcome::AnsweredWrong,
        Outcome::ClarifyWithItem,
        Outcome::ClarifyWithoutItem,
        Outcome::RefusedRight,
        Outcome::RefusedWrongly,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Outcome::AnsweredRight => "answered right",
            Outcome::AnsweredWrong => "answered wrong",
            Outcome::ClarifyWithItem => "clarify holding the right item",
            Outcome::ClarifyWithoutItem => "clarify without it",
            Outcome::RefusedRight => "refused right",
            Outcome::RefusedWrongly => "refused wrongly",
        }
    }
}

/// The outcome of one example under thresholds `(answer, scope)`.
pub fn outcome(e: &Example, s: Scored, answer_at: f64, scope_at: f64) -> Outcome {
    let in_scope = e.target.is_some();
    if s.answer >= answer_at {
        if e.answer_label() {
            Outcome::AnsweredRight
        } else {
            Outcome::AnsweredWrong
        }
    } else if s.scope >= scope_at {
        if e.scope_label() {
            Outcome::ClarifyWithItem
        } else {
            Outcome::ClarifyWithoutItem
        }
    } else if in_scope {
        Outcome::RefusedWrongly
    } else {
        Outcome::RefusedRight
    }
}

/// Eval's figures (top-1, top-3, none, wrong) of a set of outcomes.
pub fn figures(outcomes: &[(bool, Outcome)]) -> CvFigures {
    let n_in = outcomes.iter().filter(|o| o.0).count().max(1) as f64;
    let n_out = outcomes.iter().filter(|o| !o.0).count();
    let count = |f: &dyn Fn(&(bool, Outcome)) -> bool| outcomes.iter().filter(|o| f(o)).count() as f64;
    let top1 = count(&|o| o.1 == Outcome::AnsweredRight) / n_in;
    let top3 = count(&|o| matches!(o.1, Outcome::AnsweredRight | Outcome::ClarifyWithItem)) / n_in;
    let none = if n_out == 0 { 1.0 } else { count(&|o| !o.0 && o.1 == Outcome::RefusedRight) / n_out as f64 };
    let wrong = count(&|o| o.1 == Outcome::AnsweredWrong) / outcomes.len().max(1) as f64;
    CvFigures { folds: FOLDS, top1, top3, none, wrong }
}

/// Picks the thresholds (on a 0.01 grid) that maximize the summed [`utility`] of the cross-validated outcomes.
pub fn choose_thresholds(examples: &[Example], scored: &[Scored], wrong_cost: f64) -> (f64, f64) {
    let total = |a: f64, s: f64| -> f64 {
        examples.iter().zip(scored).map(|(e, &sc)| utility(outcome(e, sc, a, s), e.target.is_some(), wrong_cost)).sum()
    };
    let mut best = (f64::MIN, 0.5, 0.5);
    for a in (20..=99).map(|i| f64::from(i) / 100.0) {
        for s in (5..=95).map(|i| f64::from(i) / 100.0) {
            let u = total(a, s);
            if u > best.0 + 1e-9 {
                best = (u, a, s);
            }
        }
    }
    (best.1, best.2)
}

/// Reads back examples written by `ehall-bot train --dump` (features, rank, fold; the target is a placeholder).
pub fn examples_from_dump(text: &str) -> Result<Vec<Example>, String> {
    #[derive(Deserialize)]
    struct Line {
        text: String,
        origin: String,
        in_scope: bool,
        rank: Option<usize>,
        fold: usize,
        x: Vec<f32>,
    }
    let placeholder = ItemRef { kind: crate::model::ItemKind::Service, index: 0 };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let line: Line = serde_json::from_str(l).map_err(|e| e.to_string())?;
            let origin = [Origin::Authored, Origin::Situation, Origin::OutOfScope]
                .into_iter()
                .find(|o| o.label() == line.origin)
                .ok_or_else(|| format!("unknown origin {}", line.origin))?;
            if line.x.len() != FEATURES.len() {
                return Err("the dump's features differ from this build's".to_owned());
            }
            Ok(Example {
                text: line.text,
                origin,
                target: line.in_scope.then_some(placeholder),
                features: line.x,
                rank: line.rank,
                fold: line.fold,
                latin: false,
                rule: Vec::new(),
            })
        })
        .collect()
}

/// The result of a training run.
pub struct Trained {
    pub model: DecisionModel,
    pub examples: Vec<Example>,
    pub scored: Vec<Scored>,
}

/// Cross-validates, chooses the thresholds, and fits the final model on every example.
pub fn train(examples: Vec<Example>, embedder: &str, wrong_cost: f64) -> Result<Trained, TrainError> {
    if examples.is_empty() {
        return Err(TrainError::Empty);
    }
    let scored = cross_validate(&examples);
    let (answer_at, scope_at) = choose_thresholds(&examples, &scored, wrong_cost);
    let outcomes: Vec<(bool, Outcome)> =
        examples.iter().zip(&scored).map(|(e, &s)| (e.target.is_some(), outcome(e, s, answer_at, scope_at))).collect();
    let cv = figures(&outcomes);
    let all: Vec<&Example> = examples.iter().collect();
    let f = fit(&all);
    let model = DecisionModel {
        embedder: embedder.to_owned(),
        features: FEATURES.iter().map(|s| (*s).to_owned()).collect(),
        mean: f.mean,
        scale: f.scale,
        answer: Logistic { bias: f.answer.0, weights: f.answer.1, threshold: answer_at },
        scope: Logistic { bias: f.scope.0, weights: f.scope.1, threshold: scope_at },
        cv,
    };
    Ok(Trained { model, examples, scored })
}

/// The model as `data/model/decision.toml`, with a header saying how it was made (values rounded for diffs).
pub fn model_file(model: &DecisionModel, counts: &str) -> Result<String, toml::ser::Error> {
    let r = |x: f64| (x * 1e6).round() / 1e6;
    let mut m = model.clone();
    m.mean = m.mean.iter().map(|&x| r(x)).collect();
    m.scale = m.scale.iter().map(|&x| r(x)).collect();
    for l in [&mut m.answer, &mut m.scope] {
        l.bias = r(l.bias);
        l.weights = l.weights.iter().map(|&x| r(x)).collect();
        l.threshold = r(l.threshold);
    }
    m.cv = CvFigures {
        folds: m.cv.folds,
        top1: r(m.cv.top1),
        top3: r(m.cv.top3),
        none: r(m.cv.none),
        wrong: r(m.cv.wrong),
    };
    let body = toml::to_string(&m)?;
    Ok(format!(
        "# The learned answer / clarify / refuse decision (knowledge/src/decide.rs). Generated by `ehall-bot train`\n\
         # from data/questions (leave-one-out), data/training/situations.toml and data/training/out_of_scope.toml\n\
         # ({counts}); {FOLDS}-fold cross-validation by item, seed {SEED}. Never tuned on the dev set. Do not edit.\n\n{body}"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_separates_a_separable_feature() {
        let z: Vec<Vec<f64>> = (0..40).map(|i| vec![f64::from(i) / 10.0 - 2.0, 0.3]).collect();
        let y: Vec<bool> = (0..40).map(|i| i >= 20).collect();
        let (b, w) = fit_logistic(&z, &y);
        assert!(w[0] > 1.0, "weight {w:?}");
        let p = |x: f64| 1.0 / (1.0 + (-(b + w[0] * x + w[1] * 0.3)).exp());
        assert!(p(-1.5) < 0.2 && p(1.5) > 0.8);
    }

    #[test]
    fn solving_a_small_system_is_exact() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]);
        assert!((x[0] - 0.8).abs() < 1e-9 && (x[1] - 1.4).abs() < 1e-9, "{x:?}");
    }

    #[test]
    fn the_shuffle_is_reproducible() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        Rng(SEED).shuffle(&mut a);
        Rng(SEED).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..20).collect::<Vec<_>>());
    }
}
