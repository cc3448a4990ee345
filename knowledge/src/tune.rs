//! Chooses the constants of fusion and of the fixed confidence rule ([`Tuning`]) on the knowledge base's own
//! training questions (the leave-one-out authored questions, the situation and the out-of-scope sets of
//! [`crate::train`]), never on the dev set: a grid over the fusion weights, coordinate ascent over the decision
//! thresholds, maximizing the declared [`utility`]; k-fold cross-validation by item gives the honest figures.

use crate::decide::CvFigures;
use crate::model::ItemRef;
use crate::retrieve::{fused_score, rule_decision, Decision, Normalization, RuleView, SearchResult, Tuning};
use crate::train::{figures, utility, Example, Origin, Outcome, FOLDS};
use serde::{Deserialize, Serialize};

/// What the tuner keeps of one candidate: enough to fuse it again under other weights.
#[derive(Debug, Clone)]
pub struct RuleCandidate {
    pub item: ItemRef,
    /// Its siblings in the knowledge base (the rule's lead is taken over the first candidate that is not one).
    pub siblings: Vec<ItemRef>,
    /// Whether it is the item asked for (or one the knowledge base links to it).
    pub ok: bool,
    /// The lexical score divided by the query's best (0 when absent).
    pub lexical: f32,
    /// The cosine rescaled between the worst and best of the dense top (0 when absent).
    pub dense: f32,
    pub cosine: Option<f32>,
    pub coverage: f32,
    pub audience_mismatch: bool,
}

/// The candidates of one search, as [`Retriever::search`](crate::Retriever::search) normalized them.
pub fn rule_candidates(
    result: &SearchResult,
    ok: &dyn Fn(ItemRef) -> bool,
    mismatch: &dyn Fn(ItemRef) -> bool,
    siblings: &dyn Fn(ItemRef) -> Vec<ItemRef>,
) -> Vec<RuleCandidate> {
    let scale = Normalization::of(result.candidates.iter());
    result
        .candidates
        .iter()
        .map(|c| RuleCandidate {
            item: c.item,
            siblings: siblings(c.item),
            ok: ok(c.item),
            lexical: scale.parts(c).0,
            dense: scale.parts(c).1,
            cosine: c.dense.map(|d| d.cosine),
            coverage: c.lexical.as_ref().map_or(0.0, |l| l.coverage),
            audience_mismatch: mismatch(c.item),
        })
        .collect()
}

/// One example under one fusion: whether the first (or one of the first three) candidates is right, and the view
/// the rule decides on.
#[derive(Debug, Clone, Copy)]
struct Fused {
    top_ok: bool,
    top3_ok: bool,
    in_scope: bool,
    latin: bool,
    view: RuleView,
}

fn fuse(e: &Example, lexical_weight: f32, penalty: f32) -> Option<Fused> {
    let mut scored: Vec<(f32, &RuleCandidate)> = e
        .rule
        .iter()
        .map(|c| (fused_score(c.lexical, c.dense, lexical_weight, c.audience_mismatch, penalty), c))
        .collect();
    // The retriever's order: fused score, then item.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    let (top_score, top) = *scored.first()?;
    let rival = scored.iter().skip(1).find(|(_, c)| !top.siblings.contains(&c.item));
    Some(Fused {
        top_ok: top.ok,
        top3_ok: scored.iter().take(3).any(|(_, c)| c.ok),
        in_scope: e.target.is_some(),
        latin: e.latin,
        view: RuleView {
            top_cosine: top.cosine.unwrap_or(0.0),
            best_cosine: e.rule.iter().filter_map(|c| c.cosine).fold(0.0f32, f32::max),
            coverage: top.coverage,
            margin: rival.map_or(top_score, |s| top_score - s.0),
        },
    })
}

fn outcome_of(f: &Fused, t: &Tuning) -> Outcome {
    match (rule_decision(f.view, f.latin, t).0, f.in_scope) {
        (Decision::Answer, _) if f.top_ok && f.in_scope => Outcome::AnsweredRight,
        (Decision::Answer, _) => Outcome::AnsweredWrong,
        (Decision::Clarify, true) if f.top3_ok => Outcome::ClarifyWithItem,
        (Decision::Clarify, _) => Outcome::ClarifyWithoutItem,
        (Decision::NoMatch, true) => Outcome::RefusedWrongly,
        (Decision::NoMatch, false) => Outcome::RefusedRight,
    }
}

fn total(cases: &[Fused], t: &Tuning, wrong_cost: f64) -> f64 {
    cases.iter().map(|f| utility(outcome_of(f, t), f.in_scope, wrong_cost)).sum()
}

/// The fusion weights tried (each with a coordinate ascent of the thresholds).
const LEXICAL_WEIGHTS: [f32; 5] = [0.3, 0.4, 0.5, 0.6, 0.7];
const AUDIENCE_PENALTIES: [f32; 4] = [0.7, 0.8, 0.9, 1.0];

/// One threshold of the rule and the grid it is searched on.
struct Axis {
    get: fn(&Tuning) -> f32,
    set: fn(&mut Tuning, f32),
    from: f32,
    to: f32,
    step: f32,
}

const AXES: [Axis; 7] = [
    Axis { get: |t| t.domain_cosine, set: |t, v| t.domain_cosine = v, from: 0.85, to: 0.95, step: 0.0025 },
    Axis { get: |t| t.domain_cosine_latin, set: |t, v| t.domain_cosine_latin = v, from: 0.83, to: 0.93, step: 0.005 },
    // Coverage never exceeds 1, so the top of this range turns the coverage path off.
    Axis { get: |t| t.domain_coverage, set: |t, v| t.domain_coverage = v, from: 0.2, to: 1.05, step: 0.05 },
    Axis { get: |t| t.coverage_slack, set: |t, v| t.coverage_slack = v, from: 0.0, to: 0.05, step: 0.005 },
    Axis { get: |t| t.answer_margin, set: |t, v| t.answer_margin = v, from: 0.0, to: 0.5, step: 0.01 },
    Axis { get: |t| t.clarify_cosine, set: |t, v| t.clarify_cosine = v, from: 0.83, to: 0.93, step: 0.0025 },
    Axis { get: |t| t.clarify_cosine_latin, set: |t, v| t.clarify_cosine_latin = v, from: 0.81, to: 0.91, step: 0.005 },
];

/// Coordinate ascent of the thresholds from `start` (ties keep the current value, so the result is stable).
fn ascend(cases: &[Fused], start: Tuning, wrong_cost: f64) -> (Tuning, f64) {
    let mut t = start;
    let mut best = total(cases, &t, wrong_cost);
    for _sweep in 0..8 {
        let before = best;
        for axis in &AXES {
            let steps = ((axis.to - axis.from) / axis.step).round() as usize;
            let mut chosen = (axis.get)(&t);
            for i in 0..=steps {
                let v = axis.from + axis.step * i as f32;
                let mut trial = t;
                (axis.set)(&mut trial, v);
                let u = total(cases, &trial, wrong_cost);
                if u > best + 1e-9 {
                    best = u;
                    chosen = v;
                }
            }
            (axis.set)(&mut t, chosen);
        }
        if best <= before + 1e-9 {
            break;
        }
    }
    (t, best)
}

/// The constants with the highest utility on `examples`, starting from [`Tuning::NEUTRAL`].
pub fn choose(examples: &[&Example], wrong_cost: f64) -> Tuning {
    let mut best: Option<(f64, Tuning)> = None;
    for &lw in &LEXICAL_WEIGHTS {
        for &penalty in &AUDIENCE_PENALTIES {
            let cases: Vec<Fused> = examples.iter().filter_map(|e| fuse(e, lw, penalty)).collect();
            let start = Tuning { lexical_weight: lw, audience_penalty: penalty, ..Tuning::NEUTRAL };
            let (t, u) = ascend(&cases, start, wrong_cost);
            if best.is_none_or(|(b, _)| u > b + 1e-9) {
                best = Some((u, t));
            }
        }
    }
    round(best.map_or(Tuning::NEUTRAL, |(_, t)| t))
}

/// Four decimals, so that the file diffs cleanly and a rebuild gives the same numbers.
fn round(t: Tuning) -> Tuning {
    let r = |x: f32| (x * 10_000.0).round() / 10_000.0;
    Tuning {
        lexical_weight: r(t.lexical_weight),
        audience_penalty: r(t.audience_penalty),
        domain_cosine: r(t.domain_cosine),
        domain_cosine_latin: r(t.domain_cosine_latin),
        domain_coverage: r(t.domain_coverage),
        coverage_slack: r(t.coverage_slack),
        answer_margin: r(t.answer_margin),
        clarify_cosine: r(t.clarify_cosine),
        clarify_cosine_latin: r(t.clarify_cosine_latin),
    }
}

/// The outcome of every example under `t` (examples without candidates are refused).
pub fn outcomes(examples: &[&Example], t: &Tuning) -> Vec<(Origin, bool, Outcome)> {
    examples
        .iter()
        .map(|e| {
            let o = match fuse(e, t.lexical_weight, t.audience_penalty) {
                Some(f) => outcome_of(&f, t),
                None if e.target.is_some() => Outcome::RefusedWrongly,
                None => Outcome::RefusedRight,
            };
            (e.origin, e.target.is_some(), o)
        })
        .collect()
}

/// Figures of one origin (or of all, with `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvRow {
    pub set: String,
    pub questions: usize,
    #[serde(flatten)]
    pub figures: CvFigures,
}

/// Rows per origin and for all, from outcomes.
pub fn rows(outcomes: &[(Origin, bool, Outcome)]) -> Vec<CvRow> {
    let mut out = Vec::new();
    let mut row = |set: &str, part: Vec<(bool, Outcome)>| {
        out.push(CvRow { set: set.to_owned(), questions: part.len(), figures: figures(&part) });
    };
    row("all", outcomes.iter().map(|o| (o.1, o.2)).collect());
    for origin in [Origin::Authored, Origin::Situation, Origin::OutOfScope] {
        row(origin.label(), outcomes.iter().filter(|o| o.0 == origin).map(|o| (o.1, o.2)).collect());
    }
    out
}

/// The result of tuning: the constants chosen on every example, and the cross-validated outcomes (each fold's
/// examples decided by the constants chosen on the other folds).
pub struct Tuned {
    pub tuning: Tuning,
    pub cv: Vec<(Origin, bool, Outcome)>,
    pub per_fold: Vec<Tuning>,
    /// The outcomes of the constants the server runs on ([`Tuning::default`]), on the same questions.
    pub shipped: Vec<(Origin, bool, Outcome)>,
}

/// Cross-validates the choice, then chooses on everything.
pub fn tune(examples: &[Example], wrong_cost: f64) -> Tuned {
    let mut cv = Vec::with_capacity(examples.len());
    let mut per_fold = Vec::with_capacity(FOLDS);
    for fold in 0..FOLDS {
        let train: Vec<&Example> = examples.iter().filter(|e| e.fold != fold).collect();
        let held: Vec<&Example> = examples.iter().filter(|e| e.fold == fold).collect();
        let t = choose(&train, wrong_cost);
        cv.extend(outcomes(&held, &t));
        per_fold.push(t);
    }
    let all: Vec<&Example> = examples.iter().collect();
    let shipped = outcomes(&all, &Tuning::default());
    Tuned { tuning: choose(&all, wrong_cost), cv, per_fold, shipped }
}

/// `data/model/tuning.toml`, with a header saying how it was made and the cross-validated figures.
pub fn tuning_file(tuned: &Tuned, embedder: &str, counts: &str) -> Result<String, toml::ser::Error> {
    #[derive(Serialize)]
    struct File<'a> {
        embedder: &'a str,
        tuning: toml::Table,
        cv: Vec<CvRow>,
    }
    // f32 → f64 would print 0.699999988079071 for 0.7: round each value again as f64.
    let mut tuning = toml::Table::try_from(tuned.tuning)?;
    for (_, value) in tuning.iter_mut() {
        if let toml::Value::Float(x) = value {
            *x = (*x * 1e4).round() / 1e4;
        }
    }
    let r = |x: f64| (x * 1e4).round() / 1e4;
    let cv = rows(&tuned.cv)
        .into_iter()
        .map(|mut row| {
            let f = &mut row.figures;
            (f.top1, f.top3, f.none, f.wrong) = (r(f.top1), r(f.top3), r(f.none), r(f.wrong));
            row
        })
        .collect();
    let body = toml::to_string(&File { embedder, tuning, cv })?;
    Ok(format!(
        "# The constants of fusion and of the fixed confidence rule (knowledge::retrieve::Tuning). Chosen by\n\
         # `ehall-bot train` (knowledge/src/tune.rs) on data/questions (leave-one-out), data/training/situations.toml\n\
         # and data/training/out_of_scope.toml ({counts}) by the declared utility of knowledge::train::utility;\n\
         # [[cv]]: {FOLDS}-fold cross-validation by item. Never tuned on the dev set. Do not edit.\n\n{body}"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::ItemKind;

    fn example(in_scope: bool, top_cos: f32, top_ok: bool, fold: usize) -> Example {
        let item = |i| ItemRef { kind: ItemKind::Service, index: i };
        Example {
            text: String::new(),
            origin: if in_scope { Origin::Authored } else { Origin::OutOfScope },
            target: in_scope.then_some(item(0)),
            features: Vec::new(),
            rank: None,
            fold,
            latin: false,
            rule: vec![
                RuleCandidate {
                    item: item(0),
                    siblings: Vec::new(),
                    ok: top_ok,
                    lexical: 1.0,
                    dense: 1.0,
                    cosine: Some(top_cos),
                    coverage: 0.5,
                    audience_mismatch: false,
                },
                RuleCandidate {
                    item: item(1),
                    siblings: Vec::new(),
                    ok: false,
                    lexical: 0.2,
                    dense: 0.2,
                    cosine: Some(top_cos - 0.03),
                    coverage: 0.1,
                    audience_mismatch: false,
                },
            ],
        }
    }

    #[test]
    fn the_domain_bar_lands_between_in_scope_and_out_of_scope_cosines() {
        let mut xs = Vec::new();
        for i in 0..40 {
            xs.push(example(true, 0.92 + 0.0005 * (i % 10) as f32, true, i % FOLDS));
            xs.push(example(false, 0.87 + 0.0005 * (i % 10) as f32, false, i % FOLDS));
        }
        let tuned = tune(&xs, 3.0);
        let t = tuned.tuning;
        assert!(t.domain_cosine > 0.875 && t.domain_cosine <= 0.92, "{t:?}");
        let all = rows(&tuned.cv).into_iter().next().unwrap();
        assert_eq!(all.figures.top1, 1.0);
        assert_eq!(all.figures.none, 1.0);
        assert_eq!(all.figures.wrong, 0.0);
    }

    #[test]
    fn the_bundled_tuning_parses() {
        let f = Tuning::parse(include_str!("../../data/model/tuning.toml")).unwrap();
        assert!(f.tuning.lexical_weight > 0.0 && f.tuning.lexical_weight < 1.0);
        assert_eq!(Tuning::bundled(), f.tuning);
        assert_ne!(f.tuning, Tuning::NEUTRAL, "data/model/tuning.toml is a placeholder; run `ehall-bot train`");
    }
}
