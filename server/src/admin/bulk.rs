//! Bulk export and import of knowledge records as a spreadsheet (CSV, one kind per file), from the admin page.
//!
//! A record's body is flattened into columns: nested fields as `contact.phone`, lists as one line per entry in
//! one cell; `questions` holds the similar questions, `owner_department` the reviewing department. An import is
//! previewed first (what it creates and changes, and every problem, in the loader's own words, as check-data
//! gives them) and applied only when asked, through the same validated, audited change as an edit.

use super::error::{AdminError, Problem};
use super::identity::{context, Admin};
use super::records::{self, now, Record, RecordKind};
use super::Changed;
use crate::app::AppState;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/export", get(export)).route("/api/v1/admin/import", post(import))
}

/// The spreadsheet's own columns, after the body's.
const QUESTIONS: &str = "questions";
const OWNER: &str = "owner_department";
/// Fields that are lists even when a record leaves them empty.
const LIST_FIELDS: [&str; 4] = ["audience", "steps", "materials", "tags"];
/// Fields that are yes/no.
const BOOL_FIELDS: [&str; 1] = ["high_frequency"];
/// The most rows one import may carry.
const MAX_ROWS: usize = 5_000;

#[derive(Debug, Deserialize)]
struct KindQuery {
    kind: String,
    /// Apply the import (otherwise only a preview).
    #[serde(default)]
    apply: bool,
}

fn bulk_kind(raw: &str) -> Result<RecordKind, AdminError> {
    match RecordKind::parse(raw) {
        Some(kind) if kind.is_list() => Ok(kind),
        _ => Err(AdminError::field("kind", "可导入导出的类型：service、app、faq、department、news")),
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            let lines: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_owned(), lines.join("\n")));
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// The CSV of `rows` (with a BOM, so that spreadsheet programs read it as UTF-8).
fn to_csv(kind: RecordKind, rows: &[&Record]) -> Result<String, AdminError> {
    let flat: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            flatten("", &r.body, &mut out);
            out
        })
        .collect();
    let mut columns: Vec<String> = vec![kind.id_field().to_owned()];
    for (name, _) in flat.iter().flatten() {
        if !columns.contains(name) {
            columns.push(name.clone());
        }
    }
    if kind.has_questions() {
        columns.push(QUESTIONS.to_owned());
    }
    columns.push(OWNER.to_owned());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| AdminError::Internal(format!("cannot write the CSV: {e}"));
    writer.write_record(&columns).map_err(fail)?;
    for (r, cells) in rows.iter().zip(&flat) {
        let line: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                QUESTIONS => r.questions.join("\n"),
                OWNER => r.owner_department.clone().unwrap_or_default(),
                _ => cells.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default(),
            })
            .collect();
        writer.write_record(&line).map_err(fail)?;
    }
    let bytes = writer.into_inner().map_err(|e| AdminError::Internal(format!("cannot write the CSV: {e}")))?;
    Ok(format!("\u{feff}{}", String::from_utf8_lossy(&bytes)))
}

/// `GET /api/v1/admin/export?kind=faq`: the live records of a kind as CSV.
async fn export(_: Admin, State(state): State<AppState>, Query(q): Query<KindQuery>) -> Result<Response, AdminError> {
    let ctx = context(&state)?;
    let kind = bulk_kind(&q.kind)?;
    let all = records::load_all(ctx.stores.records.as_ref()).await?;
    let rows: Vec<&Record> = all.iter().filter(|r| r.kind == kind && !r.retired).collect();
    let csv = to_csv(kind, &rows)?;
    let disposition = format!("attachment; filename=\"ehall-{}.csv\"", kind.as_str());
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        csv,
    )
        .into_response())
}

/// One spreadsheet row read back: the body, similar questions and reviewing department.
#[derive(Debug, Clone)]
struct Row {
    line: usize,
    id: String,
    body: Value,
    questions: Option<Vec<String>>,
    owner: Option<String>,
}

fn lines(cell: &str) -> Vec<Value> {
    cell.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.to_owned())).collect()
}

/// Puts `cell` at the dotted `path` of `body`, typed like the field it replaces (a list, a yes/no, text).
fn put(
    body: &mut Map<String, Value>,
    path: &str,
    cell: &str,
    like: Option<&Value>,
    line: usize,
) -> Result<(), Problem> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    if let Some(rest) = rest {
        let inner = body.entry(head.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(inner) = inner else {
            return Err(Problem {
                item: None,
                field: Some(path.to_owned()),
                message: format!("第 {line} 行：{head} 不是一组字段"),
            });
        };
        return put(inner, rest, cell, like.and_then(|l| l.get(rest.split('.').next().unwrap_or(rest))), line);
    }
    let value = if matches!(like, Some(Value::Array(_))) || LIST_FIELDS.contains(&head) {
        Value::Array(lines(cell))
    } else if matches!(like, Some(Value::Bool(_))) || BOOL_FIELDS.contains(&head) {
        match cell.trim() {
            "true" | "是" | "1" | "TRUE" | "True" => Value::Bool(true),
            "false" | "否" | "0" | "" | "FALSE" | "False" => Value::Bool(false),
            other => {
                return Err(Problem {
                    item: None,
                    field: Some(path.to_owned()),
                    message: format!("第 {line} 行：{head} 应为 是/否（true/false），而不是「{other}」"),
                })
            }
        }
    } else if cell.trim().is_empty() && like.is_none() {
        // An empty cell of a field the record does not have: left out (optional fields stay absent).
        return Ok(());
    } else {
        Value::String(cell.trim().to_owned())
    };
    body.insert(head.to_owned(), value);
    Ok(())
}

/// Drops nested objects left empty by blank cells (an `online` without a system), as the data files would.
fn prune(body: &mut Map<String, Value>) {
    body.retain(|_, v| match v {
        Value::Object(inner) => {
            prune(inner);
            !inner.is_empty()
        }
        _ => true,
    });
}

/// Reads a CSV of `kind`: every row, or every problem (with its line).
fn read_rows(kind: RecordKind, text: &str, existing: &[Record]) -> Result<Vec<Row>, AdminError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| AdminError::field("file", format!("无法读取表头：{e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let id_field = kind.id_field();
    let Some(id_col) = headers.iter().position(|h| h == id_field) else {
        return Err(AdminError::field("file", format!("表头缺少 {id_field} 列")));
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        if rows.len() >= MAX_ROWS {
            return Err(AdminError::field("file", format!("一次最多导入 {MAX_ROWS} 行")));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems
                    .push(Problem { item: None, field: None, message: format!("第 {line} 行无法读取：{e}") });
                continue;
            }
        };
        let id = record.get(id_col).unwrap_or_default().trim().to_owned();
        if id.is_empty() {
            problems.push(Problem {
                item: None,
                field: Some(id_field.to_owned()),
                message: format!("第 {line} 行：{id_field} 必须填写"),
            });
            continue;
        }
        let before = existing.iter().find(|r| r.kind == kind && r.id == id);
        let mut body = before.map(|r| r.body.clone()).and_then(|b| b.as_object().cloned()).unwrap_or_default();
        let (mut questions, mut owner) = (None, None);
        for (header, cell) in headers.iter().zip(record.iter()) {
            match header.as_str() {
                QUESTIONS => {
                    questions = Some(cell.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
                }
                OWNER => owner = Some(cell.trim().to_owned()).filter(|o| !o.is_empty()),
                "" => {}
                path => {
                    let like = before.and_then(|r| path.split('.').try_fold(&r.body, |v, k| v.get(k)));
                    if let Err(p) = put(&mut body, path, cell, like, line) {
                        problems.push(Problem { item: Some(format!("{}:{id}", kind.as_str())), ..p });
                    }
                }
            }
        }
        prune(&mut body);
        rows.push(Row { line, id, body: Value::Object(body), questions, owner });
    }
    if let Some((a, b)) =
        rows.iter().enumerate().find_map(|(i, r)| rows[..i].iter().find(|x| x.id == r.id).map(|x| (x.line, r.line)))
    {
        problems.push(Problem {
            item: None,
            field: Some(id_field.to_owned()),
            message: format!("第 {a} 行与第 {b} 行的编号相同"),
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(AdminError::Invalid(problems))
    }
}

/// Applies `rows` to `all`: updates the records they name, creates the others; says what changed.
fn apply_rows(kind: RecordKind, rows: &[Row], all: &mut Vec<Record>, actor: &str) -> Vec<Changed> {
    let mut changed = Vec::new();
    let mut position = all.iter().filter(|r| r.kind == kind).map(|r| r.position + 1).max().unwrap_or(0);
    for row in rows {
        let at = now();
        if let Some(r) = all.iter_mut().find(|r| r.kind == kind && r.id == row.id) {
            let questions = row.questions.clone().unwrap_or_else(|| r.questions.clone());
            let owner = row.owner.clone().or_else(|| r.owner_department.clone());
            if r.body == row.body && r.questions == questions && r.owner_department == owner && !r.retired {
                continue;
            }
            r.body = row.body.clone();
            r.questions = questions;
            r.owner_department = owner;
            r.retired = false;
            r.updated_at = at;
            r.updated_by = actor.to_owned();
            changed.push(Changed { kind, id: row.id.clone(), action: "edit" });
        } else {
            let owner =
                row.owner.clone().or_else(|| row.body.get("department").and_then(Value::as_str).map(str::to_owned));
            all.push(Record {
                kind,
                id: row.id.clone(),
                body: row.body.clone(),
                questions: row.questions.clone().unwrap_or_default(),
                owner_department: owner,
                last_reviewed: at.clone(),
                retired: false,
                position,
                updated_at: at,
                updated_by: actor.to_owned(),
            });
            position += 1;
            changed.push(Changed { kind, id: row.id.clone(), action: "create" });
        }
    }
    changed
}

/// `POST /api/v1/admin/import?kind=faq[&apply=true]` with a CSV body: without `apply`, a preview of what the
/// import would create and change, validated as a whole like `check-data` (nothing stored); with it, the same,
/// applied, audited and put live.
async fn import(
    Admin(p): Admin,
    State(state): State<AppState>,
    Query(q): Query<KindQuery>,
    body: String,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let kind = bulk_kind(&q.kind)?;
    let existing = records::load_all(ctx.stores.records.as_ref()).await?;
    let rows = read_rows(kind, &body, &existing)?;
    let mut preview = existing.clone();
    let changed = apply_rows(kind, &rows, &mut preview, &p.id);
    let title = |id: &str| preview.iter().find(|r| r.kind == kind && r.id == id).map(Record::title).unwrap_or_default();
    let summary: Vec<Value> = changed
        .iter()
        .map(|c| {
            let before = existing.iter().find(|r| r.kind == kind && r.id == c.id);
            let after = preview.iter().find(|r| r.kind == kind && r.id == c.id);
            let fields: Vec<String> = match (before, after) {
                (Some(b), Some(a)) => {
                    let (mut fb, mut fa) = (Vec::new(), Vec::new());
                    flatten("", &b.body, &mut fb);
                    flatten("", &a.body, &mut fa);
                    let mut names: Vec<String> = fa.iter().chain(&fb).map(|(k, _)| k.clone()).collect();
                    names.sort();
                    names.dedup();
                    let mut diff: Vec<String> = names
                        .into_iter()
                        .filter(|k| fb.iter().find(|(x, _)| x == k) != fa.iter().find(|(x, _)| x == k))
                        .collect();
                    if b.questions != a.questions {
                        diff.push(QUESTIONS.to_owned());
                    }
                    if b.owner_department != a.owner_department {
                        diff.push(OWNER.to_owned());
                    }
                    diff
                }
                _ => Vec::new(),
            };
            json!({"id": c.id, "title": title(&c.id), "action": c.action, "fields": fields})
        })
        .collect();
    let unchanged = rows.len() - changed.len();
    if !q.apply {
        // Validated as a whole, as check-data would: the preview shows every problem before anything is stored.
        let set = records::to_set(&preview)?;
        tokio::task::spawn_blocking(move || records::build_knowledge(&set).map(|_| ()))
            .await
            .map_err(|e| AdminError::Internal(format!("validation task failed: {e}")))??;
        return Ok(Json(json!({"applied": false, "rows": rows.len(), "unchanged": unchanged, "changes": summary})));
    }
    let actor = p.id.clone();
    ctx.change(&actor, |all| Ok(apply_rows(kind, &rows, all, &actor))).await?;
    Ok(Json(
        json!({"applied": true, "rows": rows.len(), "unchanged": unchanged, "changes": summary, "version": ctx.version()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, body: Value) -> Record {
        Record {
            kind: RecordKind::Service,
            id: id.into(),
            body,
            questions: vec!["怎么办".into()],
            owner_department: Some("教务处".into()),
            last_reviewed: "2026-01-01T00:00:00.000Z".into(),
            retired: false,
            position: 0,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            updated_by: "A0001".into(),
        }
    }

    #[test]
    fn a_record_survives_the_round_trip_through_its_spreadsheet() {
        let body = json!({"id": "s-1", "name": "成绩单打印", "steps": ["登录", "打印"], "contact": {"phone": "022-1", "office": "A101"}, "high_frequency": true, "audience": ["学生"]});
        let r = record("s-1", body.clone());
        let csv = to_csv(RecordKind::Service, &[&r]).expect("a CSV");
        assert!(csv.starts_with('\u{feff}') && csv.contains("contact.phone"), "{csv}");
        let rows = read_rows(RecordKind::Service, &csv, &[]).expect("rows");
        assert_eq!(rows[0].body, body);
        assert_eq!(rows[0].questions.as_deref(), Some(&["怎么办".to_owned()][..]));
        assert_eq!(rows[0].owner.as_deref(), Some("教务处"));
        // Unchanged against the same record: nothing to apply.
        let mut all = vec![r];
        assert!(apply_rows(RecordKind::Service, &rows, &mut all, "A0001").is_empty());
    }

    #[test]
    fn bad_rows_are_named_by_their_line() {
        let csv = "id,name,high_frequency\n,无编号,true\ns-2,好,也许\ns-3,甲,是\ns-3,乙,否\n";
        let Err(AdminError::Invalid(problems)) = read_rows(RecordKind::Service, csv, &[]) else { panic!("refused") };
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.starts_with("第 2 行")), "{messages:?}");
        assert!(messages.iter().any(|m| m.starts_with("第 3 行") && m.contains("也许")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("第 4 行与第 5 行")), "{messages:?}");
    }
}
