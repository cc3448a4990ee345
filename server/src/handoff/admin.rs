//! `/api/v1/admin/handoffs…`: the live queue for admins: list, open one (with the bot dialogue before it), take,
//! write, hand back (docs/handoff.md).

use super::{Agent, DeskError, HandoffDesk};
use crate::admin::error::AdminError;
use crate::admin::identity::Admin;
use crate::app::AppState;
use crate::store::handoff::{Handoff, HandoffMessage, HandoffState, LoggedTurn};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Closed handoffs listed by `?status=closed`.
const CLOSED_LISTED: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/handoffs", get(list))
        .route("/api/v1/admin/handoffs/{id}", get(show))
        .route("/api/v1/admin/handoffs/{id}/messages", get(messages).post(write))
        .route("/api/v1/admin/handoffs/{id}/take", post(take))
        .route("/api/v1/admin/handoffs/{id}/release", post(release))
}

impl From<DeskError> for AdminError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NotFound(id) => AdminError::NotFound(format!("人工服务对话 {id}")),
            DeskError::Conflict(why) => AdminError::StateConflict(why),
            DeskError::Invalid { field, message } => AdminError::field(field, message),
            DeskError::Store(e) => AdminError::Internal(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        AdminError::Internal(e.to_string())
    }
}

fn desk(state: &AppState) -> Result<Arc<HandoffDesk>, AdminError> {
    state.handoff.clone().ok_or(AdminError::Unavailable)
}

fn agent(Admin(p): &Admin) -> Agent {
    let name = if p.name.trim().is_empty() { p.id.clone() } else { p.name.clone() };
    Agent { id: p.id.clone(), name }
}

fn handoff_json(desk: &HandoffDesk, h: &Handoff, last: Option<&HandoffMessage>) -> Value {
    let person = |id: &Option<String>, name: &Option<String>| {
        id.as_ref().map(|id| json!({"id": id, "name": name.clone().unwrap_or_else(|| id.clone())}))
    };
    let online = desk.user_online_here(h) || super::sweeper::seen_recently(&h.user_seen_at);
    json!({
        "id": h.id,
        "session": h.session_id,
        "channel": h.channel,
        "user": person(&h.user_id, &h.user_name),
        "status": h.status.as_str(),
        "close_reason": h.close_reason.map(|r| r.as_str()),
        "agent": person(&h.agent_id, &h.agent_name),
        "ticket": h.ticket_id,
        "created_at": h.created_at,
        "taken_at": h.taken_at,
        "closed_at": h.closed_at,
        "last_message": last.map(|m| m.text.as_str()),
        "user_online": h.status != HandoffState::Closed && online,
    })
}

fn message_json(m: &HandoffMessage) -> Value {
    json!({"seq": m.seq, "from": m.sender.as_str(), "name": m.name, "text": m.text, "created_at": m.created_at})
}

fn turn_json(desk: &HandoffDesk, t: &LoggedTurn) -> Value {
    let title = t.top_item.as_deref().map(|id| desk.item_title(id).unwrap_or_else(|| id.to_owned()));
    json!({"text": t.text, "intent": t.intent, "mode": t.mode, "item": t.top_item, "item_title": title, "created_at": t.created_at})
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(_: Admin, State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let rows = match q.status.as_deref() {
        None | Some("open") => desk.store().list_open().await?,
        Some("closed") => desk.store().list_closed(CLOSED_LISTED).await?,
        Some(_) => return Err(AdminError::field("status", "status 只能是 open 或 closed")),
    };
    let mut items = Vec::with_capacity(rows.len());
    for h in &rows {
        let last = desk.store().last_message(&h.id).await?;
        items.push(handoff_json(&desk, h, last.as_ref()));
    }
    let waiting = rows.iter().filter(|h| h.status == HandoffState::Waiting).count();
    Ok(Json(json!({ "waiting": waiting, "items": items })))
}

async fn load(desk: &HandoffDesk, id: &str) -> Result<Handoff, AdminError> {
    desk.store().get(id).await?.ok_or_else(|| AdminError::NotFound(format!("人工服务对话 {id}")))
}

async fn show(_: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let h = load(&desk, &id).await?;
    let history = desk.history(&h).await?;
    let messages = desk.store().messages_after(&h.id, 0).await?;
    Ok(Json(json!({
        "handoff": handoff_json(&desk, &h, messages.last()),
        "history": history.iter().map(|t| turn_json(&desk, t)).collect::<Vec<_>>(),
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
struct AfterQuery {
    after: Option<i64>,
}

async fn messages(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AfterQuery>,
) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let h = load(&desk, &id).await?;
    let messages = desk.store().messages_after(&h.id, q.after.unwrap_or(0)).await?;
    Ok(Json(json!({
        "status": h.status.as_str(),
        "handoff": handoff_json(&desk, &h, messages.last()),
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

async fn take(admin: Admin, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let h = desk.take(&id, &agent(&admin)).await?;
    Ok(Json(json!({ "handoff": handoff_json(&desk, &h, None) })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    text: String,
}

async fn write(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<WriteBody>,
) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let message = desk.agent_message(&id, &agent(&admin), &body.text).await?;
    Ok(Json(json!({ "message": message_json(&message) })))
}

async fn release(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let desk = desk(&state)?;
    let h = desk.release(&id, &agent(&admin)).await?;
    Ok(Json(json!({ "handoff": handoff_json(&desk, &h, None) })))
}
