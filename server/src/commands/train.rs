//! `ehall-bot train`: learns the answer / clarify / refuse decision from the knowledge base and prints its
//! k-fold cross-validation figures (knowledge::train); writes `data/model/decision.toml`; chooses the fixed
//! rule's constants the same way (knowledge::tune) and writes `data/model/tuning.toml`.

use crate::app::Retrieval;
use crate::cli::{Status, TrainArgs};
use crate::settings::{FileSettings, Overrides, Settings};
use knowledge::train::{
    build_examples, examples_from_dump, model_file, outcome, train, Example, Origin, Outcome, Scored, Trained,
};
use knowledge::KnowledgeBase;
use std::io::Write;
use std::sync::Arc;

fn retriever(args: &TrainArgs) -> anyhow::Result<(knowledge::Retriever, String)> {
    let overrides = Overrides {
        data_dir: Some(args.data.data_dir.clone()),
        model_dir: args.retrieval.model_dir.clone(),
        vector_cache_dir: args.retrieval.vector_cache_dir.clone(),
        semantic: Some(true),
        ..Overrides::default()
    };
    let settings = Settings::layer(FileSettings::default(), overrides)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let retrieval = runtime.block_on(Retrieval::from_settings(&settings))?;
    let Some(semantic) = retrieval.semantic.as_deref() else {
        anyhow::bail!("training needs the embedding model; install it with scripts/fetch-models");
    };
    let kb = KnowledgeBase::load(&settings.data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = knowledge::setup::build_retriever(
        Arc::new(kb),
        Some(semantic),
        &retrieval.vector_cache_dir,
        knowledge::Tuning::default(),
    )?;
    Ok((r, semantic.model_id().to_owned()))
}

fn print_block(out: &mut dyn Write, title: &str, rows: &[(&Example, Scored)], answer_at: f64, scope_at: f64) {
    let outcomes: Vec<(bool, Outcome)> =
        rows.iter().map(|(e, s)| (e.target.is_some(), outcome(e, *s, answer_at, scope_at))).collect();
    let f = knowledge::train::figures(&outcomes);
    let _ = writeln!(
        out,
        "{title:<26} n={:<5} top1 {:.3}  top3 {:.3}  none {:.3}  wrong {:.3}",
        rows.len(),
        f.top1,
        f.top3,
        f.none,
        f.wrong
    );
    let counts: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| (o, outcomes.iter().filter(|x| x.1 == *o).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| format!("{}: {n}", o.label()))
        .collect();
    let _ = writeln!(out, "{:<26} {}", "", counts.join(", "));
}

pub fn run(args: &TrainArgs, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    if let Some(path) = &args.from_dump {
        // Analysis only: re-fits from dumped features and writes nothing.
        let parsed = std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| examples_from_dump(&t));
        return match parsed.and_then(|x| train(x, "dump", args.wrong_cost).map_err(|e| e.to_string())) {
            Ok(t) => {
                report(out, &t, None, args.show_misses);
                Status::Success
            }
            Err(e) => {
                let _ = writeln!(err, "{}: {e}", path.display());
                Status::Failure
            }
        };
    }
    let (retriever, embedder) = match retriever(args) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{e:#}");
            return Status::Failure;
        }
    };
    let started = std::time::Instant::now();
    let examples = match build_examples(&retriever, &args.data.data_dir, &bot::engine::detect_audience) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return Status::Failure;
        }
    };
    let _ = writeln!(out, "searched {} training questions in {:.1}s", examples.len(), started.elapsed().as_secs_f64());
    if let Some(path) = &args.dump {
        let lines: Vec<String> = examples
            .iter()
            .map(|e| {
                serde_json::json!({"text": e.text, "origin": e.origin.label(), "in_scope": e.target.is_some(), "rank": e.rank, "fold": e.fold, "x": e.features})
                    .to_string()
            })
            .collect();
        if let Err(e) = std::fs::write(path, lines.join("\n")) {
            let _ = writeln!(err, "cannot write {}: {e}", path.display());
        }
    }
    let trained = match train(examples, &embedder, args.wrong_cost) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return Status::Failure;
        }
    };
    let counts = report(out, &trained, Some(&retriever), args.show_misses);
    let started = std::time::Instant::now();
    let tuned = knowledge::tune::tune(&trained.examples, args.wrong_cost);
    report_tuning(out, &tuned, started.elapsed().as_secs_f64());
    if args.dry_run {
        return Status::Success;
    }
    let tuning_path = args.data.data_dir.join("model/tuning.toml");
    match knowledge::tune::tuning_file(&tuned, &embedder, &counts) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&tuning_path, text) {
                let _ = writeln!(err, "cannot write {}: {e}", tuning_path.display());
                return Status::Failure;
            }
            let _ = writeln!(out, "wrote {}", tuning_path.display());
        }
        Err(e) => {
            let _ = writeln!(err, "cannot write the tuning: {e}");
            return Status::Failure;
        }
    }
    let m = &trained.model;
    let path = args.out.clone().unwrap_or_else(|| args.data.data_dir.join("model/decision.toml"));
    let text = match model_file(m, &counts) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "cannot write the model: {e}");
            return Status::Failure;
        }
    };
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(&path, text) {
        Ok(()) => {
            let _ = writeln!(out, "wrote {} (rebuild to bundle it)", path.display());
            Status::Success
        }
        Err(e) => {
            let _ = writeln!(err, "cannot write {}: {e}", path.display());
            Status::Failure
        }
    }
}

/// Prints the chosen constants of the fixed rule, their spread over the folds and the cross-validated figures.
fn report_tuning(out: &mut dyn Write, tuned: &knowledge::tune::Tuned, seconds: f64) {
    let _ = writeln!(out, "fixed rule (knowledge::Tuning), chosen in {seconds:.1}s: {:?}", tuned.tuning);
    for (fold, t) in tuned.per_fold.iter().enumerate() {
        let _ = writeln!(out, "  chosen without fold {fold}: {t:?}");
    }
    let _ = writeln!(
        out,
        "fixed rule, {}-fold cross-validation (each fold decided by the others' constants):",
        tuned.per_fold.len()
    );
    print_rows(out, &tuned.cv);
    let _ = writeln!(out, "the rule the server runs on (Tuning::default(), dev-chosen), on the same questions:");
    print_rows(out, &tuned.shipped);
}

fn print_rows(out: &mut dyn Write, outcomes: &[(Origin, bool, Outcome)]) {
    for row in knowledge::tune::rows(outcomes) {
        let f = &row.figures;
        let _ = writeln!(
            out,
            "  {:<26} n={:<5} top1 {:.3}  top3 {:.3}  none {:.3}  wrong {:.3}",
            row.set, row.questions, f.top1, f.top3, f.none, f.wrong
        );
    }
}

/// Prints the thresholds, the cross-validation figures and outcomes per origin, the largest weights and the worst
/// misses; returns the example counts for the model file's header.
fn report(
    out: &mut dyn Write,
    trained: &Trained,
    retriever: Option<&knowledge::Retriever>,
    show_misses: usize,
) -> String {
    let m = &trained.model;
    let (a, s) = (m.answer.threshold, m.scope.threshold);
    let _ = writeln!(out, "thresholds: answer p ≥ {a:.2}, clarify p ≥ {s:.2}");
    let _ = writeln!(out, "{}-fold cross-validation (folds by item):", m.cv.folds);
    let rows: Vec<(&Example, Scored)> = trained.examples.iter().zip(trained.scored.iter().copied()).collect();
    let _ = writeln!(out, "answer threshold trade-off (clarify threshold kept):");
    for a2 in [0.5, 0.6, 0.7, 0.8, 0.9] {
        let o: Vec<(bool, Outcome)> = rows.iter().map(|(e, sc)| (e.target.is_some(), outcome(e, *sc, a2, s))).collect();
        let f = knowledge::train::figures(&o);
        let _ = writeln!(
            out,
            "  answer p ≥ {a2:.2}: top1 {:.3} top3 {:.3} none {:.3} wrong {:.3}",
            f.top1, f.top3, f.none, f.wrong
        );
    }
    print_block(out, "all", &rows, a, s);
    let mut counts = Vec::new();
    for origin in [Origin::Authored, Origin::Situation, Origin::OutOfScope] {
        let part: Vec<(&Example, Scored)> = rows.iter().filter(|(e, _)| e.origin == origin).copied().collect();
        counts.push(format!("{} {}", part.len(), origin.label()));
        print_block(out, origin.label(), &part, a, s);
    }
    let mut weights: Vec<(&String, f64, f64)> = m
        .features
        .iter()
        .zip(m.answer.weights.iter().zip(&m.scope.weights))
        .map(|(n, (wa, ws))| (n, *wa, *ws))
        .collect();
    weights.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    let _ = writeln!(out, "largest answer weights (answer / scope):");
    for (name, wa, ws) in weights.iter().take(10) {
        let _ = writeln!(out, "  {name:<18} {wa:+.3} / {ws:+.3}");
    }
    if show_misses > 0 {
        let _ = writeln!(out, "worst cross-validated misses:");
        let mut misses: Vec<(&Example, Scored, Outcome)> = rows
            .iter()
            .map(|(e, sc)| (*e, *sc, outcome(e, *sc, a, s)))
            .filter(|(_, _, o)| {
                matches!(o, Outcome::AnsweredWrong | Outcome::RefusedWrongly | Outcome::ClarifyWithoutItem)
            })
            .collect();
        misses.sort_by(|x, y| y.1.answer.total_cmp(&x.1.answer));
        for (e, sc, o) in misses.iter().take(show_misses) {
            let target = match (e.target, retriever) {
                (Some(t), Some(r)) => r.knowledge().item_title(t),
                _ => "-",
            };
            let _ = writeln!(
                out,
                "  {:<30} p={:.2}/{:.2} rank={:?} want {target}  「{}」",
                o.label(),
                sc.answer,
                sc.scope,
                e.rank,
                e.text
            );
        }
    }
    counts.join(", ")
}
