//! `ehall-bot eval FILE`: scores a question set in-process, as `shared/eval/evaluate.py` does over HTTP.

use crate::cli::{EvalArgs, Status};
use crate::commands::ask::engine_for;
use bot::eval::{evaluate, parse_cases, Report};
use std::io::Write;

fn summary_json(report: &Report, file: &str) -> serde_json::Value {
    let round = |x: f64| (x * 10_000.0).round() / 10_000.0;
    serde_json::json!({
        "set": file,
        "questions": report.questions,
        "top1": round(report.top1),
        "top3": round(report.top3),
        "none": round(report.none),
        "wrong": round(report.wrong),
        "outcomes": report.outcomes.iter().map(|(o, n)| serde_json::json!({"outcome": o.label(), "count": n})).collect::<Vec<_>>(),
        "per_kind": report.per_kind.iter().map(|k| serde_json::json!({"kind": k.kind, "ok": k.ok, "total": k.total})).collect::<Vec<_>>(),
        "latency_ms": {"p50": round(report.latency_p50_ms), "p99": round(report.latency_p99_ms), "mean": round(report.latency_mean_ms)},
    })
}

pub fn run(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "cannot read {}: {e}", args.file.display());
            return Status::Failure;
        }
    };
    let cases = match parse_cases(&text) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{}: {e}", args.file.display());
            return Status::Failure;
        }
    };
    let engine = match engine_for(&args.data, &args.retrieval) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "{e:#}");
            return Status::Failure;
        }
    };
    let report = evaluate(&engine, &cases);
    if args.show_misses && !args.json {
        for m in &report.misses {
            let _ = writeln!(out, "MISS  {}\n      expected {}\n      got      {}", m.question, m.expected, m.got);
        }
    }
    let mut fails = Vec::new();
    if let Some(min) = args.min_top1.filter(|&m| report.top1 < m) {
        fails.push(format!("top1 {:.4} < {min}", report.top1));
    }
    if let Some(min) = args.min_top3.filter(|&m| report.top3 < m) {
        fails.push(format!("top3 {:.4} < {min}", report.top3));
    }
    if let Some(min) = args.min_none.filter(|&m| report.none < m) {
        fails.push(format!("none {:.4} < {min}", report.none));
    }
    if let Some(max) = args.max_wrong.filter(|&m| report.wrong > m) {
        fails.push(format!("wrong {:.4} > {max}", report.wrong));
    }
    if !args.json {
        let _ = writeln!(out, "outcomes:");
        for (o, n) in &report.outcomes {
            let _ = writeln!(out, "  {:<32} {n}", o.label());
        }
        let mut worst: Vec<&bot::eval::Miss> = report.misses.iter().filter(|m| m.outcome.severity() > 0).collect();
        worst.sort_by(|a, b| {
            b.outcome.severity().cmp(&a.outcome.severity()).then(b.confidence.total_cmp(&a.confidence))
        });
        if !worst.is_empty() {
            let _ = writeln!(out, "worst misses:");
        }
        for m in worst.iter().take(args.worst) {
            let _ = writeln!(
                out,
                "  [{}] ({:.2}) {}\n      expected {}\n      got      {}",
                m.outcome.label(),
                m.confidence,
                m.question,
                m.expected,
                m.got
            );
        }
    }
    let summary = summary_json(&report, &args.file.display().to_string());
    let printed = if args.json { serde_json::to_string(&summary) } else { serde_json::to_string_pretty(&summary) };
    let _ = writeln!(out, "{}", printed.unwrap_or_default());
    if !args.json {
        let _ = writeln!(
            out,
            "{}",
            if fails.is_empty() { "PASS".to_owned() } else { format!("FAIL: {}", fails.join("; ")) }
        );
    }
    if fails.is_empty() {
        Status::Success
    } else {
        Status::Failure
    }
}
