//! The feedback and 工单 inbox as admins work it: listing `portal_feedback` (the rows the campus portal stores),
//! setting a status, and the `admin_audit` line of every status change or answer; behind [`FeedbackInbox`].

use super::admin_records::{append_audit, NewAuditLine};
use super::portal_records::feedback_of;
pub use super::portal_records::FeedbackRow;
use super::StoreError;
use sqlx::AnyPool;

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
        Ok(rows.iter().map(feedback_of).collect::<Result<_, _>>()?)
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
        let line = NewAuditLine {
            actor: actor.to_owned(),
            action: action.to_owned(),
            kind: "feedback".to_owned(),
            item_id: feedback_id.to_owned(),
            before_json: None,
            after_json: Some(after_json.to_owned()),
            created_at: at.to_owned(),
        };
        Ok(append_audit(&self.pool, &line).await?)
    }
}
