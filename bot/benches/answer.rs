//! Per-question latency of the whole engine in-process: lexical only and hybrid (needs `scripts/fetch-models`),
//! p50/p99 over questions taken from the knowledge base's own similar questions, plus query embedding alone.

use bot::{DialogueState, Engine, Input, Turn};
use knowledge::setup::{build_retriever, Semantic};
use knowledge::{KnowledgeBase, Tuning};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(samples[((q * samples.len() as f64) as usize).min(samples.len() - 1)]);
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    (at(0.5), at(0.99), mean)
}

fn run(label: &str, engine: &Engine, questions: &[String]) {
    let mut samples = Vec::with_capacity(questions.len());
    for q in questions {
        let mut state = DialogueState::default();
        let t0 = Instant::now();
        let out = engine.respond(&mut state, Turn { input: Input::Text(q.clone()), user: None, in_reply_to: None });
        samples.push(t0.elapsed());
        std::hint::black_box(out);
    }
    let (p50, p99, mean) = percentiles(samples);
    println!("{label:<28} n={:<5} p50 {p50:>8.3} ms   p99 {p99:>8.3} ms   mean {mean:>8.3} ms", questions.len());
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let kb = match KnowledgeBase::load(&root.join("data")) {
        Ok(kb) => Arc::new(kb),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // One unseen-by-cache question per item: the second authored phrasing, lightly varied so the query
    // vector cache never hits.
    let questions: Vec<String> =
        kb.items().filter_map(|i| kb.questions.get(&i).and_then(|q| q.get(1)).map(|q| format!("{q}？"))).collect();
    let lexical = match build_retriever(Arc::clone(&kb), None, Path::new("/nonexistent"), Tuning::default()) {
        Ok(r) => Engine::new(Arc::new(r)),
        Err(e) => {
            eprintln!("lexical index: {e}");
            std::process::exit(1);
        }
    };
    run("lexical only", &lexical, &questions);
    let semantic =
        match Semantic::load(&root, knowledge::embed::Backend::Auto, Default::default(), Duration::from_secs(10)) {
            Ok(Some(s)) => s,
            Ok(None) => {
                println!("hybrid: skipped, the model is not installed (run scripts/fetch-models)");
                return;
            }
            Err(e) => {
                eprintln!("model: {e}");
                std::process::exit(1);
            }
        };
    let t0 = Instant::now();
    let hybrid = match build_retriever(Arc::clone(&kb), Some(&semantic), &root.join("var/vectors"), Tuning::default()) {
        Ok(r) => Engine::new(Arc::new(r)),
        Err(e) => {
            eprintln!("hybrid index: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "hybrid index built in {:.2} s (passage vectors from var/vectors when cached)",
        t0.elapsed().as_secs_f64()
    );
    let mut embed_only = Vec::new();
    for q in questions.iter().take(100) {
        let t0 = Instant::now();
        let v = semantic.embedder().embed(&[q.as_str()], knowledge::embed::TextKind::Query);
        embed_only.push(t0.elapsed());
        std::hint::black_box(v.ok());
    }
    let (p50, p99, mean) = percentiles(embed_only);
    println!(
        "{:<28} n={:<5} p50 {p50:>8.3} ms   p99 {p99:>8.3} ms   mean {mean:>8.3} ms",
        "query embedding alone", 100
    );
    run("hybrid (cold query cache)", &hybrid, &questions);
    run("hybrid (warm query cache)", &hybrid, &questions);
}
