//! Why the engine answered what it did: the recognized intent, both rankings, the fused scores and the decision.

use crate::engine::{detect_audience, Engine};
use knowledge::lexical::Source;
use std::fmt::Write;

/// How many candidates the explanation lists.
const SHOWN: usize = 8;

fn source_label(s: Source) -> &'static str {
    match s {
        Source::Name => "name",
        Source::Question => "question",
        Source::Tags => "tags",
        Source::Body => "body",
    }
}

/// A readable report for `ehall-bot ask --explain` and the admin page.
pub fn explain(engine: &Engine, text: &str) -> String {
    let mut out = String::new();
    let intent = engine.recognizer().recognize(text);
    let _ = writeln!(out, "question: {text}");
    let _ = writeln!(out, "normalized: {}", knowledge::normalize::normalize(text));
    let _ = writeln!(out, "intent: {} ({intent:?})", intent.name());
    let audience = detect_audience(text);
    let _ = writeln!(out, "audience from the words: {}", audience.map_or("none", |a| a.label()));
    let retriever = engine.retriever();
    let kb = engine.knowledge();
    let result = match retriever.search(text, audience) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(out, "search failed: {e}");
            return out;
        }
    };
    let _ = writeln!(out, "lexical terms: {}", result.query_terms.join(" "));
    let _ = writeln!(out, "bigrams: {}", retriever.analyzer().bigrams(text).join(" "));
    let expansions = retriever.analyzer().expansions(text);
    if !expansions.is_empty() {
        let _ = writeln!(out, "expansion terms: {}", expansions.join(" "));
    }
    let _ = writeln!(
        out,
        "dense ranking: {}",
        if result.dense_used {
            "used".to_owned()
        } else {
            format!("not used ({})", result.dense_error.as_deref().unwrap_or("no model loaded"))
        }
    );
    let _ = writeln!(out, "decision: {:?}, confidence {:.3}", result.decision, result.confidence);
    let _ = writeln!(out, "candidates (fused score, lexical rank/score/coverage, dense rank/cosine):");
    for (i, c) in result.candidates.iter().take(SHOWN).enumerate() {
        let lex = c.lexical.as_ref().map_or("-".to_owned(), |l| {
            format!(
                "#{} {:.2} cov {:.2} [{}]",
                c.lexical_rank.map_or(0, |r| r + 1),
                l.score,
                l.coverage,
                l.matched_terms.join(" ")
            )
        });
        let dense =
            c.dense.map_or("-".to_owned(), |d| format!("#{} {:.4}", c.dense_rank.map_or(0, |r| r + 1), d.cosine));
        let _ = writeln!(out, "{:>2}. {:.3}  {}:{}", i + 1, c.fused, c.item.kind.as_str(), kb.item_title(c.item));
        let _ = writeln!(out, "      lexical {lex}");
        if let Some(p) = c.lexical.as_ref().and_then(|l| retriever.phrasing(l.best_phrasing)) {
            let _ = writeln!(
                out,
                "        best phrasing ({}): {}",
                source_label(p.source),
                crate::cards::truncate_chars(&p.text, 40)
            );
        }
        let _ = writeln!(out, "      dense   {dense}");
        if let Some(p) = c.dense.and_then(|d| retriever.phrasing(d.best_phrasing)) {
            let _ = writeln!(
                out,
                "        best phrasing ({}): {}",
                source_label(p.source),
                crate::cards::truncate_chars(&p.text, 40)
            );
        }
    }
    out
}
