//! The questions an admin has dealt with in the unanswered loop (`review_resolved`, one row per grouping key of
//! a question), behind [`ReviewStore`]: a resolved question is no longer listed for review.

use super::StoreError;
use sqlx::{AnyPool, Row};

/// Where the resolved questions live.
#[async_trait::async_trait]
pub trait ReviewStore: Send + Sync + 'static {
    /// The grouping keys of every resolved question.
    async fn resolved_keys(&self) -> Result<Vec<String>, StoreError>;
    /// Marks questions (by grouping key) resolved by `actor`, with the item they were attached to or started,
    /// in one transaction; resolving a key again replaces the earlier row.
    async fn mark_resolved(
        &self,
        keys: &[String],
        item_id: Option<&str>,
        actor: &str,
        at: &str,
    ) -> Result<(), StoreError>;
}

/// [`ReviewStore`] over the server's pool.
#[derive(Clone)]
pub struct SqlReview {
    pool: AnyPool,
}

impl SqlReview {
    pub fn new(pool: AnyPool) -> SqlReview {
        SqlReview { pool }
    }
}

#[async_trait::async_trait]
impl ReviewStore for SqlReview {
    async fn resolved_keys(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT text_key FROM review_resolved").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.try_get::<String, _>("text_key")).collect::<Result<_, _>>()?)
    }

    async fn mark_resolved(
        &self,
        keys: &[String],
        item_id: Option<&str>,
        actor: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            sqlx::query("DELETE FROM review_resolved WHERE text_key = $1").bind(key).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO review_resolved (text_key, item_id, resolved_by, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(item_id.map(str::to_owned))
            .bind(actor)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolving_a_key_again_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let store = SqlReview::new(sql.pool().clone());
        let keys = ["宿舍空调坏了".to_owned(), "图书馆几点关门".to_owned()];
        store.mark_resolved(&keys, Some("f-1"), "admin-1", "2026-12-01T00:00:00.000Z").await.unwrap();
        store.mark_resolved(&keys[..1], None, "admin-2", "2026-12-02T00:00:00.000Z").await.unwrap();
        let mut resolved = store.resolved_keys().await.unwrap();
        resolved.sort();
        let mut expected = keys.to_vec();
        expected.sort();
        assert_eq!(resolved, expected);
    }
}
