//! The feedback and 工单 inbox as admins work it: listing `portal_feedback` (the rows the campus portal stores),
//! setting a status, and the `admin_audit` line of every status change or answer; behind [`FeedbackInbox`].

use super::StoreError;
use sqlx::{AnyPool, Row};

/// One `portal_feedback` row.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub content: String,
    pub contact: Option<String>,
    pub status: String,
    pub answer: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The inbox's storage, as admins use it.
#[async_trait::async_trait]
pub trait FeedbackInbox: Send + Sync + 'static {
    /// The newest `limit` items, of one status (`FeedbackStatus::as_str`) when given.
    async fn list(&self, status: Option<&str>, limit: i64) -> Result<Vec<FeedbackRow>, StoreError>;
    /// Sets an item's status; `false` when there is no such item.
    async fn set_status(&self, id: &str, status: &str, at: &str) -> Result<bool, StoreError>;
    /// Appends the audit line of an admin's status change or answer; `after_json` says what was set.
    async fn audit(
        &self,
        actor: &str,
        action: &str,
        feedback_id: &str,
        after_json: &str,
        at: &str,
    ) -> Result<(), StoreError>;
}

/// [`FeedbackInbox`] over the server's pool.
#[derive(Clone)]
pub struct SqlFeedbackInbox {
    pool: AnyPool,
}

impl SqlFeedbackInbox {
    pub fn new(pool: AnyPool) -> SqlFeedbackInbox {
        SqlFeedbackInbox { pool }
    }
}

#[async_trait::async_trait]
impl FeedbackInbox for SqlFeedbackInbox {
    async fn list(&self, status: Option<&str>, limit: i64) -> Result<Vec<FeedbackRow>, StoreError> {
        let rows = match status {
            Some(status) => {
                sqlx::query("SELECT * FROM portal_feedback WHERE status = $1 ORDER BY created_at DESC LIMIT $2")
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM portal_feedback ORDER BY created_at DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let items = rows
            .iter()
            .map(|row| {
                Ok(FeedbackRow {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    kind: row.try_get("kind")?,
                    content: row.try_get("content")?,
                    contact: row.try_get("contact")?,
                    status: row.try_get("status")?,
                    answer: row.try_get("answer")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(items)
    }

    async fn set_status(&self, id: &str, status: &str, at: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE portal_feedback SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status)
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        feedback_id: &str,
        after_json: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_audit (id, actor, action, kind, item_id, before_json, after_json, created_at) \
             VALUES ($1, $2, $3, 'feedback', $4, NULL, $5, $6)",
        )
        .bind(format!("au_{}", uuid::Uuid::new_v4().simple()))
        .bind(actor)
        .bind(action)
        .bind(feedback_id)
        .bind(after_json)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
