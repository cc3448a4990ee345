//! The feedback and 工单 inbox: list what users sent (`portal_feedback`, stored by the campus portal), set a
//! status, answer; an answer reaches its author as a `notice` through the portal's notice registry.

use super::error::AdminError;
use super::identity::{context, Admin};
use super::records::now;
use crate::app::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bot::campus::FeedbackStatus;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/feedback", get(list)).route("/api/v1/admin/feedback/{id}", post(update))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<FeedbackStatus>,
    limit: Option<i64>,
}

async fn list(_: Admin, State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let status = q.status.map(FeedbackStatus::as_str);
    let rows = ctx.stores.inbox.list(status, limit).await.map_err(AdminError::Store)?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "id": row.id,
                "user_id": row.user_id,
                "kind": row.kind,
                "content": row.content,
                "contact": row.contact,
                "status": row.status,
                "answer": row.answer,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// A status change, with an answer for the user when given.
#[derive(Debug, Deserialize)]
struct UpdateRequest {
    status: FeedbackStatus,
    answer: Option<String>,
}

async fn update(
    Admin(p): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<UpdateRequest>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let answer = req.answer.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let notified = match answer {
        Some(answer) => {
            let portal = state.portal.as_ref().ok_or(AdminError::Unavailable)?;
            portal
                .answer_feedback(&id, answer, req.status)
                .await
                .map_err(|e| AdminError::Internal(format!("answering feedback: {e}")))?
                .ok_or_else(|| AdminError::NotFound(format!("feedback {id}")))?;
            true
        }
        None => {
            let found =
                ctx.stores.inbox.set_status(&id, req.status.as_str(), &now()).await.map_err(AdminError::Store)?;
            if !found {
                return Err(AdminError::NotFound(format!("feedback {id}")));
            }
            false
        }
    };
    let action = if notified { "answer" } else { "set_status" };
    let after = json!({"status": req.status.as_str(), "answer": answer}).to_string();
    ctx.stores.inbox.audit(&p.id, action, &id, &after, &now()).await.map_err(AdminError::Store)?;
    Ok(Json(json!({ "id": id, "status": req.status.as_str(), "notified": notified })))
}
