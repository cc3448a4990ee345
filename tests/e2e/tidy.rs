//! The house rules a test can check, over the source tree: every Rust module opens with a `//!` line, no source
//! file exceeds 800 lines, sqlx is named only under `server/src/store/`, and only the server's settings read the
//! environment (ARCHITECTURE.md states these; this keeps them true).

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project's own sources: Rust under the crates' `src/`, `benches/` and `tests/`, and the served scripts.
fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> =
        ["bot", "knowledge", "intents", "server", "tests", "fuzz"].iter().map(|d| repo().join(d)).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "node_modules" | "target" | "corpus" | "artifacts") {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") || name.ends_with(".js") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap_or(path).to_string_lossy().into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_rust_module_opens_with_a_doc_line() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !read(p).trim_start().starts_with("//!"))
        .map(|p| relative(&p))
        .collect();
    assert!(missing.is_empty(), "modules without a //! line: {missing:?}");
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .map(|p| (read(&p).lines().count(), p))
        .filter(|(n, _)| *n > MAX_LINES)
        .map(|(n, p)| format!("{} ({n})", relative(&p)))
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

/// A log filter naming the crate (`sqlx=warn`) is not a use of it; a path or an import is.
#[test]
fn only_the_store_names_sqlx() {
    let store = repo().join("server/src/store");
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|p| p.starts_with(repo().join("server/src")) && !p.starts_with(&store))
        .filter(|p| {
            let text = read(p);
            text.contains("sqlx::") || text.contains("use sqlx")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(outside.is_empty(), "sqlx outside server/src/store/: {outside:?}");
}

#[test]
fn only_the_settings_read_the_environment() {
    let settings = repo().join("server/src/settings.rs");
    let libraries = ["bot/src", "knowledge/src", "intents/src", "server/src"].map(|d| repo().join(d));
    let readers: Vec<String> = sources()
        .into_iter()
        .filter(|p| libraries.iter().any(|l| p.starts_with(l)) && *p != settings)
        .filter(|p| {
            let text = read(p);
            text.contains("env::var(") || text.contains("env::var_os(") || text.contains("env::vars(")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(readers.is_empty(), "read the environment outside server/src/settings.rs: {readers:?}");
}
