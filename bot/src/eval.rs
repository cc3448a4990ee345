//! Scores the engine on a question set in-process, with the definitions of `shared/eval/evaluate.py`.

use crate::engine::{Engine, Input, Turn};
use crate::protocol::{CardKind, Mode};
use crate::state::DialogueState;
use serde::Deserialize;
use std::time::Instant;

/// What a case expects.
#[derive(Debug, Clone, Deserialize)]
pub struct Expect {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub also: Vec<String>,
}

/// One question of a set (one JSON line).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub q: String,
    pub expect: Expect,
}

/// Why a set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Parses a JSON-lines question set.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, EvalError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| EvalError::Line { line: i + 1, message: e.to_string() }))
        .collect()
}

/// What the reply did with a question, against what it should have done.
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

    /// How bad a miss is, for listing the worst first (0 for the right outcomes).
    pub fn severity(self) -> u8 {
        match self {
            Outcome::AnsweredWrong => 3,
            Outcome::RefusedWrongly => 2,
            Outcome::ClarifyWithoutItem => 1,
            _ => 0,
        }
    }
}

/// A question that was not answered as expected.
#[derive(Debug, Clone)]
pub struct Miss {
    pub question: String,
    pub expected: String,
    pub got: String,
    pub outcome: Outcome,
    pub confidence: f32,
}

/// Per-kind counts.
#[derive(Debug, Clone, Default)]
pub struct KindScore {
    pub kind: String,
    pub total: usize,
    pub ok: usize,
}

/// The summary of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub questions: usize,
    pub top1: f64,
    pub top3: f64,
    pub none: f64,
    pub wrong: f64,
    pub per_kind: Vec<KindScore>,
    pub misses: Vec<Miss>,
    /// How many questions ended in each outcome, in [`Outcome::ALL`] order.
    pub outcomes: Vec<(Outcome, usize)>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_mean_ms: f64,
}

const ITEM_KINDS: [CardKind; 3] = [CardKind::Service, CardKind::Faq, CardKind::App];

fn kind_name(k: CardKind) -> &'static str {
    match k {
        CardKind::Service => "service",
        CardKind::Faq => "faq",
        CardKind::App => "app",
        _ => "other",
    }
}

/// Asks every question in a new guest session and scores the replies.
pub fn evaluate(engine: &Engine, cases: &[Case]) -> Report {
    let (mut top1, mut top3, mut none_ok, mut wrong, mut n_items, mut n_none) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut kinds: Vec<KindScore> = Vec::new();
    let mut misses = Vec::new();
    let mut outcomes: Vec<(Outcome, usize)> = Outcome::ALL.iter().map(|&o| (o, 0)).collect();
    let mut count = |o: Outcome| {
        if let Some(e) = outcomes.iter_mut().find(|e| e.0 == o) {
            e.1 += 1;
        }
    };
    let mut lat = Vec::with_capacity(cases.len());
    for case in cases {
        let mut state = DialogueState::default();
        let t0 = Instant::now();
        let out =
            engine.respond(&mut state, Turn { input: Input::Text(case.q.clone()), user: None, in_reply_to: None });
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        let reply = out.reply;
        let cards: Vec<_> = reply.cards.iter().filter(|c| ITEM_KINDS.contains(&c.kind)).collect();
        let got = format!(
            "{:?}: {}",
            reply.mode,
            cards.iter().take(3).map(|c| format!("{}:{}", kind_name(c.kind), c.title)).collect::<Vec<_>>().join(", ")
        );
        let exp = &case.expect;
        let matches = |c: &&crate::protocol::Card| {
            (kind_name(c.kind) == exp.kind && Some(&c.title) == exp.name.as_ref()) || exp.also.contains(&c.title)
        };
        let ks = match kinds.iter_mut().position(|k| k.kind == exp.kind) {
            Some(i) => &mut kinds[i],
            None => {
                kinds.push(KindScore { kind: exp.kind.clone(), ..KindScore::default() });
                let last = kinds.len() - 1;
                &mut kinds[last]
            }
        };
        ks.total += 1;
        let expected = format!("{}:{}", exp.kind, exp.name.clone().unwrap_or_default());
        let confidence = reply.confidence;
        if exp.kind == "none" {
            n_none += 1;
            if reply.mode == Mode::Fallback || cards.is_empty() {
                none_ok += 1;
                ks.ok += 1;
                count(Outcome::RefusedRight);
            } else {
                let outcome =
                    if reply.mode == Mode::Answer { Outcome::AnsweredWrong } else { Outcome::ClarifyWithoutItem };
                if reply.mode == Mode::Answer {
                    wrong += 1;
                }
                count(outcome);
                misses.push(Miss { question: case.q.clone(), expected, got, outcome, confidence });
            }
            continue;
        }
        n_items += 1;
        let first = cards.first();
        let hit1 = reply.mode == Mode::Answer && first.is_some_and(matches);
        let hit3 = matches!(reply.mode, Mode::Answer | Mode::Clarify) && cards.iter().take(3).any(matches);
        top1 += usize::from(hit1);
        top3 += usize::from(hit3);
        if hit1 {
            ks.ok += 1;
        }
        if reply.mode == Mode::Answer && first.is_some_and(|c| !matches(c)) {
            wrong += 1;
        }
        let outcome = match reply.mode {
            _ if hit1 => Outcome::AnsweredRight,
            Mode::Answer if !cards.is_empty() => Outcome::AnsweredWrong,
            Mode::Clarify if hit3 => Outcome::ClarifyWithItem,
            Mode::Clarify => Outcome::ClarifyWithoutItem,
            _ => Outcome::RefusedWrongly,
        };
        count(outcome);
        if !hit1 {
            misses.push(Miss { question: case.q.clone(), expected, got, outcome, confidence });
        }
    }
    let pct = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    lat.sort_by(f64::total_cmp);
    let p = |x: f64| if lat.is_empty() { 0.0 } else { lat[((x * lat.len() as f64) as usize).min(lat.len() - 1)] };
    Report {
        questions: cases.len(),
        top1: pct(top1, n_items),
        top3: pct(top3, n_items),
        none: pct(none_ok, n_none),
        wrong: pct(wrong, cases.len()),
        per_kind: kinds,
        misses,
        outcomes,
        latency_p50_ms: p(0.5),
        latency_p99_ms: p(0.99),
        latency_mean_ms: if lat.is_empty() { 0.0 } else { lat.iter().sum::<f64>() / lat.len() as f64 },
    }
}
