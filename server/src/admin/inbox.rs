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
use sqlx::Row;

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
    let rows = match q.status {
        Some(status) => {
            sqlx::query("SELECT * FROM portal_feedback WHERE status = $1 ORDER BY created_at DESC LIMIT $2")
                .bind(status.as_str())
                .bind(limit)
                .fetch_all(&ctx.pool)
                .await?
        }
        None => {
            sqlx::query("SELECT * FROM portal_feedback ORDER BY created_at DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&ctx.pool)
                .await?
        }
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(json!({
            "id": row.try_get::<String, _>("id")?,
            "user_id": row.try_get::<String, _>("user_id")?,
            "kind": row.try_get::<String, _>("kind")?,
            "content": row.try_get::<String, _>("content")?,
            "contact": row.try_get::<Option<String>, _>("contact")?,
            "status": row.try_get::<String, _>("status")?,
            "answer": row.try_get::<Option<String>, _>("answer")?,
            "created_at": row.try_get::<String, _>("created_at")?,
            "updated_at": row.try_get::<String, _>("updated_at")?,
        }));
    }
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
            let done = sqlx::query("UPDATE portal_feedback SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(req.status.as_str())
                .bind(now())
                .bind(&id)
                .execute(&ctx.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(AdminError::NotFound(format!("feedback {id}")));
            }
            false
        }
    };
    sqlx::query(
        "INSERT INTO admin_audit (id, actor, action, kind, item_id, before_json, after_json, created_at) \
         VALUES ($1, $2, $3, 'feedback', $4, NULL, $5, $6)",
    )
    .bind(format!("au_{}", uuid::Uuid::new_v4().simple()))
    .bind(&p.id)
    .bind(if notified { "answer" } else { "set_status" })
    .bind(&id)
    .bind(json!({"status": req.status.as_str(), "answer": answer}).to_string())
    .bind(now())
    .execute(&ctx.pool)
    .await?;
    Ok(Json(json!({ "id": id, "status": req.status.as_str(), "notified": notified })))
}
