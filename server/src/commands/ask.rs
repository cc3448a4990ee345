//! `ehall-bot ask "问题"`: one question answered by the engine from the command line, no server or database.

use crate::app::{load_engine, Retrieval};
use crate::cli::{AskArgs, Status};
use crate::settings::{FileSettings, Overrides, Settings};
use bot::protocol::{validate_text, Card, CardAction, Reply, ServerFrame};
use bot::{DialogueState, Engine, Input, Turn};
use std::io::{self, Write};

pub fn run(args: &AskArgs, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    if let Err(e) = validate_text(&args.question, &None) {
        let _ = writeln!(err, "{}", e.message);
        return Status::Failure;
    }
    let engine = match build_engine(args) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = writeln!(err, "{e:#}");
            return Status::Failure;
        }
    };
    let mut state = DialogueState::default();
    let turn = Turn { input: Input::Text(args.question.clone()), user: None, in_reply_to: None };
    let reply = engine.respond(&mut state, turn).reply;
    let printed = if args.json { print_json(&reply, out) } else { print_readable(&reply, out) };
    if args.explain {
        let _ = writeln!(out, "\n{}", bot::explain::explain(&engine, &args.question));
    }
    match printed {
        Ok(()) => Status::Success,
        Err(e) => {
            let _ = writeln!(err, "cannot print the reply: {e}");
            Status::Failure
        }
    }
}

fn build_engine(args: &AskArgs) -> anyhow::Result<Engine> {
    engine_for(&args.data, &args.retrieval)
}

/// The same engine `serve` would build from these flags (semantic retrieval when the model is installed).
pub fn engine_for(data: &crate::cli::DataDirArg, retrieval: &crate::cli::RetrievalArgs) -> anyhow::Result<Engine> {
    let overrides = Overrides {
        data_dir: Some(data.data_dir.clone()),
        model_dir: retrieval.model_dir.clone(),
        vector_cache_dir: retrieval.vector_cache_dir.clone(),
        semantic: retrieval.semantic,
        ..Overrides::default()
    };
    let settings = Settings::layer(FileSettings::default(), overrides)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let engine = runtime.block_on(async {
        let retrieval = Retrieval::from_settings(&settings).await?;
        load_engine(&settings.data_dir, &retrieval).await
    })?;
    Ok(engine)
}

fn print_json(reply: &Reply, out: &mut dyn Write) -> io::Result<()> {
    let frame = ServerFrame::Reply(reply.clone());
    let json = serde_json::to_string_pretty(&frame).map_err(io::Error::other)?;
    writeln!(out, "{json}")
}

/// Plain text for a terminal: header line, text, cards with their fields and buttons, then suggestions.
pub fn print_readable(reply: &Reply, out: &mut dyn Write) -> io::Result<()> {
    let mode = reply.mode.as_str();
    writeln!(out, "[{mode}] {} ({:.2})", reply.intent, reply.confidence)?;
    writeln!(out, "{}", reply.text)?;
    for card in &reply.cards {
        writeln!(out)?;
        print_card(card, 0, out)?;
    }
    if !reply.suggestions.is_empty() {
        let labels: Vec<&str> = reply.suggestions.iter().map(|s| s.label.as_str()).collect();
        writeln!(out, "\n建议：{}", labels.join(" | "))?;
    }
    Ok(())
}

fn print_card(card: &Card, depth: usize, out: &mut dyn Write) -> io::Result<()> {
    let pad = "  ".repeat(depth);
    let kind = serde_json::to_value(card.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    writeln!(out, "{pad}■ {} [{kind} {}]", card.title, card.id)?;
    if let Some(subtitle) = &card.subtitle {
        writeln!(out, "{pad}  {subtitle}")?;
    }
    if let Some(body) = &card.body {
        for line in body.lines() {
            writeln!(out, "{pad}  {line}")?;
        }
    }
    for field in &card.fields {
        // Multi-line values (办理流程) keep their lines under the label.
        let mut lines = field.value.lines();
        writeln!(out, "{pad}  {}：{}", field.label, lines.next().unwrap_or_default())?;
        for line in lines {
            writeln!(out, "{pad}    {line}")?;
        }
    }
    for action in &card.actions {
        match action {
            CardAction::OpenUrl { label, url } => writeln!(out, "{pad}  → {label}: {url}")?,
            CardAction::Action { label, action, .. } => writeln!(out, "{pad}  → {label} ({action})")?,
        }
    }
    for item in &card.items {
        print_card(item, depth + 1, out)?;
    }
    Ok(())
}
