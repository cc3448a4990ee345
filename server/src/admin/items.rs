//! Knowledge records over HTTP: list, search, read, create, edit, retire, restore and mark reviewed; the
//! freshness list and the audit trail.

use super::error::AdminError;
use super::identity::{context, Admin};
use super::records::{self, now, Record, RecordKind};
use super::Changed;
use crate::app::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/me", get(me))
        .route("/api/v1/admin/items", get(list))
        .route("/api/v1/admin/items/{kind}", post(create))
        .route("/api/v1/admin/items/{kind}/{id}", get(read).put(edit).delete(retire))
        .route("/api/v1/admin/items/{kind}/{id}/restore", post(restore))
        .route("/api/v1/admin/items/{kind}/{id}/reviewed", post(reviewed))
        .route("/api/v1/admin/stale", get(stale))
        .route("/api/v1/admin/audit", get(audit))
}

async fn me(Admin(p): Admin) -> Json<Value> {
    Json(json!(p))
}

fn kind_of(raw: &str) -> Result<RecordKind, AdminError> {
    RecordKind::parse(raw).ok_or_else(|| AdminError::NotFound(format!("kind '{raw}'")))
}

/// A list row: enough to show and pick.
fn summary(r: &Record) -> Value {
    json!({
        "kind": r.kind, "id": r.id, "title": r.title(), "owner_department": r.owner_department,
        "last_reviewed": r.last_reviewed, "retired": r.retired, "updated_at": r.updated_at,
        "updated_by": r.updated_by, "questions": r.questions.len(),
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    kind: Option<String>,
    q: Option<String>,
    #[serde(default)]
    retired: bool,
}

async fn list(_: Admin, State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let kind = q.kind.as_deref().map(kind_of).transpose()?;
    let needle = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let all = records::load_all(ctx.stores.records.as_ref()).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|r| kind.is_none_or(|k| r.kind == k))
        .filter(|r| q.retired || !r.retired)
        .filter(|r| {
            needle.as_ref().is_none_or(|n| {
                r.id.to_lowercase().contains(n)
                    || r.body.to_string().to_lowercase().contains(n)
                    || r.questions.iter().any(|x| x.to_lowercase().contains(n))
            })
        })
        .map(summary)
        .collect();
    Ok(Json(json!({ "total": items.len(), "items": items })))
}

async fn read(
    _: Admin,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Record>, AdminError> {
    let ctx = context(&state)?;
    let kind = kind_of(&kind)?;
    records::load_one(ctx.stores.records.as_ref(), kind, &id)
        .await?
        .map(Json)
        .ok_or(AdminError::NotFound(format!("{}:{id}", kind.as_str())))
}

/// A create or edit: the record's body exactly as its `data/` entry, its similar questions and its owner.
#[derive(Debug, Deserialize)]
pub struct EditRequest {
    pub body: Value,
    pub questions: Option<Vec<String>>,
    pub owner_department: Option<String>,
}

fn clean_questions(kind: RecordKind, questions: Option<Vec<String>>) -> Result<Option<Vec<String>>, AdminError> {
    let Some(list) = questions else {
        return Ok(None);
    };
    if !kind.has_questions() && !list.is_empty() {
        return Err(AdminError::field("questions", format!("{} 不能有相似问题", kind.as_str())));
    }
    let mut out: Vec<String> = Vec::new();
    for q in list {
        let q = q.trim().to_owned();
        if q.is_empty() {
            return Err(AdminError::field("questions", "相似问题不能为空"));
        }
        if !out.contains(&q) {
            out.push(q);
        }
    }
    Ok(Some(out))
}

/// The id a body declares (its `id`, or a department's `name`).
fn body_id(kind: RecordKind, body: &Value) -> Result<String, AdminError> {
    if !body.is_object() {
        return Err(AdminError::field("body", "必须是一个 JSON 对象"));
    }
    if !kind.is_list() {
        return Ok(records::SINGLE_ID.to_owned());
    }
    let field = kind.id_field();
    match body.get(field).and_then(Value::as_str).map(str::trim) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(AdminError::field(field, "必须填写")),
    }
}

async fn create(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Json(req): Json<EditRequest>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let ctx = context(&state)?;
    let kind = kind_of(&kind)?;
    if !kind.is_list() {
        return Err(AdminError::Conflict(format!("{} 只有一条记录，请修改它", kind.as_str())));
    }
    let id = body_id(kind, &req.body)?;
    let questions = clean_questions(kind, req.questions)?.unwrap_or_default();
    let actor = p.id.clone();
    let saved = ctx
        .change(&actor, |all| {
            if all.iter().any(|r| r.kind == kind && r.id == id) {
                return Err(AdminError::Conflict(format!("{}:{id}", kind.as_str())));
            }
            let position = all.iter().filter(|r| r.kind == kind).map(|r| r.position + 1).max().unwrap_or(0);
            let owner =
                req.owner_department.or_else(|| req.body.get("department").and_then(Value::as_str).map(str::to_owned));
            let at = now();
            all.push(Record {
                kind,
                id: id.clone(),
                body: req.body,
                questions,
                owner_department: owner,
                last_reviewed: at.clone(),
                retired: false,
                position,
                updated_at: at,
                updated_by: actor.clone(),
            });
            Ok(vec![Changed { kind, id: id.clone(), action: "create" }])
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "saved": saved, "live": true, "version": ctx.version() }))))
}

async fn edit(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    Json(req): Json<EditRequest>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let kind = kind_of(&kind)?;
    let declared = body_id(kind, &req.body)?;
    if declared != id {
        return Err(AdminError::field(
            kind.id_field(),
            format!("不能修改编号（地址中为 '{id}'，内容中为 '{declared}'）"),
        ));
    }
    let questions = clean_questions(kind, req.questions)?;
    let actor = p.id.clone();
    let saved = ctx
        .change(&actor, |all| {
            let r = all
                .iter_mut()
                .find(|r| r.kind == kind && r.id == id)
                .ok_or_else(|| AdminError::NotFound(format!("{}:{id}", kind.as_str())))?;
            r.body = req.body;
            if let Some(q) = questions {
                r.questions = q;
            }
            if let Some(owner) = req.owner_department {
                r.owner_department = Some(owner).filter(|o| !o.trim().is_empty());
            }
            let at = now();
            // An edit is a review: the editor has just looked at the item.
            r.last_reviewed = at.clone();
            r.updated_at = at;
            r.updated_by = actor.clone();
            Ok(vec![Changed { kind, id: id.clone(), action: "edit" }])
        })
        .await?;
    Ok(Json(json!({ "saved": saved, "live": true, "version": ctx.version() })))
}

async fn set_retired(
    state: &AppState,
    actor: &str,
    kind: &str,
    id: &str,
    retired: bool,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(state)?;
    let kind = kind_of(kind)?;
    if !kind.is_list() {
        return Err(AdminError::Conflict(format!("{} 不能下线", kind.as_str())));
    }
    let saved = ctx
        .change(actor, |all| {
            let r = all
                .iter_mut()
                .find(|r| r.kind == kind && r.id == id)
                .ok_or_else(|| AdminError::NotFound(format!("{}:{id}", kind.as_str())))?;
            r.retired = retired;
            r.updated_at = now();
            r.updated_by = actor.to_owned();
            Ok(vec![Changed { kind, id: id.to_owned(), action: if retired { "retire" } else { "restore" } }])
        })
        .await?;
    Ok(Json(json!({ "saved": saved, "live": true, "version": ctx.version() })))
}

async fn retire(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    set_retired(&state, &p.id, &kind, &id, true).await
}

async fn restore(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    set_retired(&state, &p.id, &kind, &id, false).await
}

async fn reviewed(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let kind = kind_of(&kind)?;
    let saved = ctx
        .change(&p.id, |all| {
            let r = all
                .iter_mut()
                .find(|r| r.kind == kind && r.id == id)
                .ok_or_else(|| AdminError::NotFound(format!("{}:{id}", kind.as_str())))?;
            r.last_reviewed = now();
            Ok(vec![Changed { kind, id: id.clone(), action: "review" }])
        })
        .await?;
    Ok(Json(json!({ "saved": saved })))
}

/// The longest look-back `/api/v1/admin/stale` accepts, in days.
const MAX_STALE_DAYS: i64 = 36_500;

#[derive(Debug, Deserialize)]
struct StaleQuery {
    days: Option<i64>,
    department: Option<String>,
}

/// Items (services, apps, FAQs) not reviewed for `days` (default: the configured threshold). An admin bound to a
/// department sees only that department's items.
async fn stale(
    Admin(p): Admin,
    State(state): State<AppState>,
    Query(q): Query<StaleQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let days = q.days.unwrap_or(ctx.stale_after_days).max(0);
    // chrono panics on a cutoff outside the dates it can represent; a century back is already "everything".
    if days > MAX_STALE_DAYS {
        return Err(AdminError::field("days", format!("天数应在 0 到 {MAX_STALE_DAYS} 之间")));
    }
    let cutoff = records::days_ago(days);
    let department = p.department.clone().or(q.department);
    let all = records::load_all(ctx.stores.records.as_ref()).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|r| r.kind.has_questions() && !r.retired && r.last_reviewed < cutoff)
        .filter(|r| department.as_ref().is_none_or(|d| r.owner_department.as_ref() == Some(d)))
        .map(summary)
        .collect();
    Ok(Json(json!({ "days": days, "department": department, "total": items.len(), "items": items })))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
    item: Option<String>,
}

async fn audit(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = ctx.stores.records.audit_trail(q.item.as_deref(), limit).await.map_err(AdminError::Store)?;
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str::<Value>(&s).ok()).unwrap_or(Value::Null);
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "id": row.id,
                "actor": row.actor,
                "action": row.action,
                "kind": row.kind,
                "item_id": row.item_id,
                "before": parse(row.before_json),
                "after": parse(row.after_json),
                "created_at": row.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
