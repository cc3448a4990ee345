//! Export and import of the whole knowledge base in the format of `data/` (a ZIP of `services.toml`, `faqs.toml`,
//! …, `questions/*.toml`), from the admin page.
//!
//! An uploaded archive is the knowledge base as a whole: it is loaded by the same loader as `data/` (so its
//! problems read exactly as `check-data` prints them), compared with the stored records — what it creates,
//! changes and retires — and applied only when asked, through the same validated, audited change as an edit.

use super::error::{AdminError, Problem};
use super::identity::{context, Admin};
use super::records::{self, now, Record};
use super::Changed;
use crate::app::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use knowledge::load::files;
use knowledge::KnowledgeBase;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/export/data", get(export))
        .route("/api/v1/admin/import/data", post(import))
        .layer(DefaultBodyLimit::max(MAX_ARCHIVE_BYTES))
}

/// The largest archive accepted (the bundled `data/` zips to well under 1 MB).
const MAX_ARCHIVE_BYTES: usize = 16 * 1024 * 1024;
/// The most a single file may hold once unpacked, and all of them together (a guard against zip bombs).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// The most entries an archive may list.
const MAX_ENTRIES: usize = 256;
/// The files of `data/` the knowledge base is made of, at the top of the archive (the loader's own names).
const KNOWLEDGE_FILES: [&str; 8] = [
    files::SERVICES,
    files::APPS,
    files::FAQS,
    files::DEPARTMENTS,
    files::NEWS,
    files::LEXICON,
    files::SMALLTALK,
    files::SYSTEMS,
];
const QUESTIONS_DIR: &str = files::QUESTIONS_DIR;

#[derive(Debug, Deserialize)]
struct ApplyQuery {
    /// Apply the import (otherwise only a preview).
    #[serde(default)]
    apply: bool,
}

/// A fresh scratch folder, removed when dropped.
fn scratch() -> Result<tempfile::TempDir, AdminError> {
    tempfile::Builder::new()
        .prefix("ehall-bulk-")
        .tempdir()
        .map_err(|e| AdminError::Internal(format!("cannot create a scratch folder: {e}")))
}

fn internal(what: &str) -> impl Fn(std::io::Error) -> AdminError + '_ {
    move |e| AdminError::Internal(format!("{what}: {e}"))
}

/// The ZIP of a data folder: every file under `dir`, by its path relative to it.
fn zip_dir(dir: &Path) -> Result<Vec<u8>, AdminError> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let fail = |e: zip::result::ZipError| AdminError::Internal(format!("cannot write the archive: {e}"));
    let mut files = Vec::new();
    for name in KNOWLEDGE_FILES {
        files.push(name.to_owned());
    }
    let qdir = dir.join(QUESTIONS_DIR);
    let mut questions: Vec<String> = std::fs::read_dir(&qdir)
        .map_err(internal("cannot list the questions"))?
        .filter_map(Result::ok)
        .map(|e| format!("{QUESTIONS_DIR}/{}", e.file_name().to_string_lossy()))
        .collect();
    questions.sort();
    files.extend(questions);
    for name in files {
        let bytes = std::fs::read(dir.join(&name)).map_err(internal("cannot read an exported file"))?;
        writer.start_file(name, options).map_err(fail)?;
        writer.write_all(&bytes).map_err(internal("cannot write the archive"))?;
    }
    Ok(writer.finish().map_err(fail)?.into_inner())
}

/// `GET /api/v1/admin/export/data`: the live knowledge base as a ZIP in the format of `data/`.
async fn export(_: Admin, State(state): State<AppState>) -> Result<Response, AdminError> {
    let ctx = context(&state)?;
    let all = records::load_all(ctx.stores.records.as_ref()).await?;
    let set = records::to_set(&all)?;
    let bytes = tokio::task::spawn_blocking(move || {
        let folder = scratch()?;
        set.write_dir(folder.path()).map_err(|e| AdminError::Internal(e.to_string()))?;
        zip_dir(folder.path())
    })
    .await
    .map_err(|e| AdminError::Internal(format!("export task failed: {e}")))??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"ehall-data.zip\""),
        ],
        bytes,
    )
        .into_response())
}

fn archive_problem(message: impl Into<String>) -> AdminError {
    AdminError::field("file", message)
}

/// Where an archive entry belongs in the data folder, or `None` for a file the knowledge base is not made of
/// (the demo campus, training sets, the model: left alone and listed as ignored). One enclosing folder (an
/// archive of the `data` folder itself) is looked through.
fn entry_target(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if KNOWLEDGE_FILES.contains(&rest) {
        return Some(rest.to_owned());
    }
    let file = rest.strip_prefix("questions/")?;
    let safe = !file.is_empty()
        && file.ends_with(".toml")
        && file.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !file.starts_with('.');
    safe.then(|| format!("{QUESTIONS_DIR}/{file}"))
}

/// Unpacks the knowledge files of `archive` into `dir`; returns the entries it ignored.
fn unpack(archive: &[u8], dir: &Path) -> Result<Vec<String>, AdminError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| archive_problem(format!("不是有效的 ZIP 文件：{e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(archive_problem(format!("压缩包最多包含 {MAX_ENTRIES} 个文件")));
    }
    let bad_name = |e: zip::result::ZipError| archive_problem(format!("压缩包中的文件名无法读取：{e}"));
    let names: Vec<String> =
        zip.file_names().map(|n| n.map(|n| n.into_owned())).collect::<Result<_, _>>().map_err(bad_name)?;
    // An archive of the data folder itself holds `data/services.toml`: look through that one folder.
    let prefix = if names.iter().any(|n| KNOWLEDGE_FILES.contains(&n.as_str())) {
        String::new()
    } else {
        names
            .iter()
            .find_map(|n| {
                let (head, rest) = n.split_once('/')?;
                KNOWLEDGE_FILES.contains(&rest).then(|| format!("{head}/"))
            })
            .ok_or_else(|| {
                archive_problem("压缩包中没有知识库文件（services.toml、faqs.toml 等，即 data/ 目录的格式）")
            })?
    };
    std::fs::create_dir_all(dir.join(QUESTIONS_DIR)).map_err(internal("cannot create the questions folder"))?;
    let (mut ignored, mut total) = (Vec::new(), 0u64);
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| archive_problem(format!("无法读取压缩包中的文件：{e}")))?;
        let name = entry.name().map_err(bad_name)?.into_owned();
        if entry.is_dir() {
            continue;
        }
        let Some(target) = entry_target(&name, &prefix) else {
            ignored.push(name);
            continue;
        };
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| archive_problem(format!("无法解压 {name}：{e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(archive_problem(format!("{name} 解压后超过 {} MB", MAX_FILE_BYTES >> 20)));
        }
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(archive_problem(format!("压缩包解压后超过 {} MB", MAX_TOTAL_BYTES >> 20)));
        }
        std::fs::write(dir.join(&target), bytes).map_err(internal("cannot write an unpacked file"))?;
    }
    Ok(ignored)
}

/// Loads an unpacked folder with the loader of `data/`: its problems are the ones `check-data` prints.
fn load(dir: &Path) -> Result<KnowledgeBase, AdminError> {
    KnowledgeBase::load(dir).map_err(|errors| {
        AdminError::Invalid(
            errors
                .0
                .into_iter()
                .map(|e| {
                    let file = e.file.strip_prefix(dir).unwrap_or(&e.file).display().to_string();
                    Problem { item: e.item, field: e.field, message: format!("{file}：{}", e.message) }
                })
                .collect(),
        )
    })
}

/// Makes `all` the uploaded knowledge base: records it names are updated or created (keeping their reviewing
/// department and review date), live records it leaves out are retired. Says what changed.
fn merge(uploaded: Vec<Record>, all: &mut Vec<Record>, actor: &str) -> Vec<Changed> {
    let mut changed = Vec::new();
    let at = now();
    for new in &uploaded {
        match all.iter_mut().find(|r| r.kind == new.kind && r.id == new.id) {
            Some(r) => {
                if r.body == new.body && r.questions == new.questions && !r.retired {
                    continue;
                }
                r.body = new.body.clone();
                r.questions = new.questions.clone();
                r.position = new.position;
                r.retired = false;
                r.updated_at = at.clone();
                r.updated_by = actor.to_owned();
                changed.push(Changed { kind: r.kind, id: r.id.clone(), action: "edit" });
            }
            None => {
                all.push(Record { updated_at: at.clone(), updated_by: actor.to_owned(), ..new.clone() });
                changed.push(Changed { kind: new.kind, id: new.id.clone(), action: "create" });
            }
        }
    }
    for r in all.iter_mut().filter(|r| !r.retired) {
        if !uploaded.iter().any(|n| n.kind == r.kind && n.id == r.id) {
            r.retired = true;
            r.updated_at = at.clone();
            r.updated_by = actor.to_owned();
            changed.push(Changed { kind: r.kind, id: r.id.clone(), action: "retire" });
        }
    }
    changed
}

/// `POST /api/v1/admin/import/data[?apply=true]` with a ZIP body in the format of `data/`: without `apply`, a
/// preview of what the import creates, changes and retires, or every problem (nothing stored); with it, the
/// same, applied, audited and put live.
async fn import(
    Admin(p): Admin,
    State(state): State<AppState>,
    Query(q): Query<ApplyQuery>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    if body.is_empty() {
        return Err(archive_problem("请上传 data/ 格式的 ZIP 压缩包"));
    }
    let (uploaded, ignored) = tokio::task::spawn_blocking(move || {
        let folder = scratch()?;
        let ignored = unpack(&body, folder.path())?;
        let kb = load(folder.path())?;
        Ok::<_, AdminError>((records::records_of(&kb)?, ignored))
    })
    .await
    .map_err(|e| AdminError::Internal(format!("import task failed: {e}")))??;
    let existing = records::load_all(ctx.stores.records.as_ref()).await?;
    let mut preview = existing.clone();
    let changes = merge(uploaded.clone(), &mut preview, &p.id);
    let summary: Vec<Value> = changes
        .iter()
        .map(|c| {
            let title = preview.iter().find(|r| r.kind == c.kind && r.id == c.id).map(Record::title);
            json!({"kind": c.kind.as_str(), "id": c.id, "title": title.unwrap_or_default(), "action": c.action})
        })
        .collect();
    let unchanged = uploaded.len() - changes.iter().filter(|c| c.action != "retire").count();
    if !q.apply {
        return Ok(Json(json!({
            "applied": false, "records": uploaded.len(), "unchanged": unchanged, "changes": summary, "ignored": ignored
        })));
    }
    let actor = p.id.clone();
    ctx.change(&actor, |all| Ok(merge(uploaded, all, &actor))).await?;
    Ok(Json(json!({
        "applied": true, "records": summary.len() + unchanged, "unchanged": unchanged, "changes": summary,
        "ignored": ignored, "version": ctx.version()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
    }

    #[test]
    fn the_bundled_data_survives_its_archive() {
        let kb = KnowledgeBase::load(&data_dir()).expect("the bundled data loads");
        let set = knowledge::store::KnowledgeSet::from_knowledge(&kb);
        let out = scratch().expect("scratch");
        set.write_dir(out.path()).expect("written");
        let archive = zip_dir(out.path()).expect("zipped");
        let back = scratch().expect("scratch");
        assert!(unpack(&archive, back.path()).expect("unpacked").is_empty());
        let again = load(back.path()).expect("loads again");
        assert_eq!(knowledge::store::KnowledgeSet::from_knowledge(&again), set);
        // Unchanged against its own records: nothing to apply.
        let mut all = records::records_of(&kb).expect("records");
        assert!(merge(records::records_of(&again).expect("records"), &mut all, "A0001").is_empty());
    }

    #[test]
    fn only_knowledge_files_are_unpacked_and_one_enclosing_folder_is_looked_through() {
        assert_eq!(entry_target("data/faqs.toml", "data/").as_deref(), Some("faqs.toml"));
        assert_eq!(entry_target("data/questions/a-1.toml", "data/").as_deref(), Some("questions/a-1.toml"));
        assert_eq!(entry_target("data/../etc/passwd", "data/"), None);
        assert_eq!(entry_target("data/questions/../../x.toml", "data/"), None);
        assert_eq!(entry_target("data/training/situations.toml", "data/"), None);
        assert_eq!(entry_target("faqs.toml", "data/"), None);
    }

    #[test]
    fn an_archive_without_knowledge_files_is_refused_in_chinese() {
        let dir = scratch().expect("scratch");
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer.start_file("readme.txt", zip::write::SimpleFileOptions::default()).expect("entry");
        writer.write_all(b"hello").expect("written");
        let archive = writer.finish().expect("finished").into_inner();
        let Err(AdminError::Invalid(problems)) = unpack(&archive, dir.path()) else { panic!("refused") };
        assert!(problems[0].message.contains("没有知识库文件"), "{problems:?}");
        let Err(AdminError::Invalid(problems)) = unpack(b"not a zip", dir.path()) else { panic!("refused") };
        assert!(problems[0].message.contains("不是有效的 ZIP"), "{problems:?}");
    }
}
