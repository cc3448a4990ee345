//! The channels' shared state: dedup keys with their recorded responses (`channel_dedup`), 智能机器人 streams
//! (`aibot_streams`) and the WeCom bindings (`wecom_bindings`, read with the `users` of CAS logins), behind
//! [`ChannelKeyStore`].
//!
//! It lives in the database rather than in memory so that every replica sees the same keys: a WeCom retry that
//! lands on another replica is still recognised, and a stream started on one replica can be polled on another.
//! Expiry times are fixed-format RFC 3339 UTC text, which compares correctly as text on SQLite and PostgreSQL.

use super::StoreError;
use sqlx::{AnyPool, Row};

/// One 智能机器人 stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    pub content: String,
    /// The template card sent with the finished stream, as JSON.
    pub card_json: Option<String>,
    pub finished: bool,
    pub started_at: u64,
}

/// A `wecom_bindings` row: the campus user a WeCom UserID stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WecomBinding {
    pub campus_id: String,
    pub name: Option<String>,
    /// The role's label as stored (`学生`, `教师`, …); parsed by the caller.
    pub role: Option<String>,
}

/// What the `users` table of CAS logins knows of a campus user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    pub name: Option<String>,
    /// The role's label as stored; parsed by the caller.
    pub role: Option<String>,
}

/// The channels' dedup keys, streams and bindings. Times are seconds since the epoch.
#[async_trait::async_trait]
pub trait ChannelKeyStore: Send + Sync + 'static {
    /// Claims `key` for `ttl_secs`: true when it was not live (new, or expired and taken over), false when it was.
    async fn claim(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError>;
    /// Forgets a claim.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
    /// Records what a claimed key was answered with.
    async fn set_response(&self, key: &str, response: &str) -> Result<(), StoreError>;
    /// The recorded response of a key: `None` if the key is unknown, `Some(None)` while it is being answered.
    async fn response(&self, key: &str) -> Result<Option<Option<String>>, StoreError>;
    /// Deletes the keys and streams expired at `now`.
    async fn purge(&self, now: u64) -> Result<(), StoreError>;
    /// Starts an unfinished stream showing `placeholder`, kept until `expires_at`.
    async fn create_stream(
        &self,
        stream_id: &str,
        placeholder: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError>;
    /// Stores a stream's whole answer (and its card as JSON) and marks it finished.
    async fn finish_stream(&self, stream_id: &str, content: &str, card_json: Option<&str>) -> Result<(), StoreError>;
    /// A stream's progress, if it exists.
    async fn stream(&self, stream_id: &str) -> Result<Option<StoredStream>, StoreError>;
    /// The binding of a WeCom UserID (or a 今日校园 学工号), if any.
    async fn binding(&self, wecom_user_id: &str) -> Result<Option<WecomBinding>, StoreError>;
    /// The user's row in the `users` table of CAS logins, if they ever logged in.
    async fn known_user(&self, campus_id: &str) -> Result<Option<KnownUser>, StoreError>;
    /// The WeCom UserIDs of a campus user: the UserIDs bound to this campus id, in order; without any, the campus
    /// id itself (UserID = 学工号), unless a binding gives that UserID to another campus user, in which case none.
    async fn wecom_user_ids(&self, campus_id: &str) -> Result<Vec<String>, StoreError>;
}

/// The fixed-format RFC 3339 UTC time of `secs` (compares correctly as text).
fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// [`ChannelKeyStore`] over the server's pool.
#[async_trait::async_trait]
impl ChannelKeyStore for AnyPool {
    async fn claim(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        let now_text = rfc3339(now);
        let expires = rfc3339(now.saturating_add(ttl_secs));
        let inserted = sqlx::query(
            "INSERT INTO channel_dedup (dedup_key, response, expires_at, created_at) VALUES ($1, NULL, $2, $3) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires.clone())
        .bind(now_text.clone())
        .execute(self)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        // An expired row is taken over by exactly one claimant: the conditional update succeeds once.
        let taken = sqlx::query(
            "UPDATE channel_dedup SET response = NULL, expires_at = $2, created_at = $3 \
             WHERE dedup_key = $1 AND expires_at <= $3",
        )
        .bind(key)
        .bind(expires)
        .bind(now_text)
        .execute(self)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM channel_dedup WHERE dedup_key = $1").bind(key).execute(self).await?;
        Ok(())
    }

    async fn set_response(&self, key: &str, response: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE channel_dedup SET response = $2 WHERE dedup_key = $1")
            .bind(key)
            .bind(response)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn response(&self, key: &str) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query("SELECT response FROM channel_dedup WHERE dedup_key = $1")
            .bind(key)
            .fetch_optional(self)
            .await?;
        Ok(row.map(|row| row.try_get::<Option<String>, _>("response")).transpose()?)
    }

    async fn purge(&self, now: u64) -> Result<(), StoreError> {
        let now = rfc3339(now);
        sqlx::query("DELETE FROM channel_dedup WHERE expires_at <= $1").bind(now.clone()).execute(self).await?;
        sqlx::query("DELETE FROM aibot_streams WHERE expires_at <= $1").bind(now).execute(self).await?;
        Ok(())
    }

    async fn create_stream(
        &self,
        stream_id: &str,
        placeholder: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO aibot_streams (stream_id, content, card_json, finished, started_at, expires_at) \
             VALUES ($1, $2, NULL, 0, $3, $4)",
        )
        .bind(stream_id)
        .bind(placeholder)
        .bind(i64::try_from(now).unwrap_or(i64::MAX))
        .bind(rfc3339(expires_at))
        .execute(self)
        .await?;
        Ok(())
    }

    async fn finish_stream(&self, stream_id: &str, content: &str, card_json: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE aibot_streams SET content = $2, card_json = $3, finished = 1 WHERE stream_id = $1")
            .bind(stream_id)
            .bind(content)
            .bind(card_json)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn stream(&self, stream_id: &str) -> Result<Option<StoredStream>, StoreError> {
        let row =
            sqlx::query("SELECT content, card_json, finished, started_at FROM aibot_streams WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_optional(self)
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredStream {
            content: row.try_get("content")?,
            card_json: row.try_get("card_json")?,
            finished: row.try_get::<i64, _>("finished")? != 0,
            started_at: u64::try_from(row.try_get::<i64, _>("started_at")?).unwrap_or(0),
        }))
    }

    async fn binding(&self, wecom_user_id: &str) -> Result<Option<WecomBinding>, StoreError> {
        let row = sqlx::query("SELECT campus_id, name, role FROM wecom_bindings WHERE wecom_user_id = $1")
            .bind(wecom_user_id)
            .fetch_optional(self)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(WecomBinding {
            campus_id: row.try_get("campus_id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
        }))
    }

    async fn known_user(&self, campus_id: &str) -> Result<Option<KnownUser>, StoreError> {
        let row =
            sqlx::query("SELECT name, role FROM users WHERE id = $1").bind(campus_id).fetch_optional(self).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(KnownUser { name: row.try_get("name")?, role: row.try_get("role")? }))
    }

    async fn wecom_user_ids(&self, campus_id: &str) -> Result<Vec<String>, StoreError> {
        let bound = sqlx::query("SELECT wecom_user_id FROM wecom_bindings WHERE campus_id = $1 ORDER BY wecom_user_id")
            .bind(campus_id)
            .fetch_all(self)
            .await?;
        if !bound.is_empty() {
            return Ok(bound.iter().map(|row| row.try_get::<String, _>("wecom_user_id")).collect::<Result<_, _>>()?);
        }
        let taken = sqlx::query("SELECT campus_id FROM wecom_bindings WHERE wecom_user_id = $1")
            .bind(campus_id)
            .fetch_optional(self)
            .await?;
        Ok(if taken.is_some() { Vec::new() } else { vec![campus_id.to_owned()] })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;

    async fn pool(dir: &tempfile::TempDir) -> AnyPool {
        let sql = crate::store::connect(&format!("sqlite://{}/c.sqlite", dir.path().display())).await.unwrap();
        sql.pool().clone()
    }

    #[tokio::test]
    async fn notices_go_to_the_bound_wecom_user_ids_or_the_campus_id() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        assert_eq!(pool.wecom_user_ids("2021001234").await.unwrap(), ["2021001234"]);
        for (wecom, campus) in [("zhangsan", "2021001234"), ("zs-phone", "2021001234"), ("T2008001", "2021009999")] {
            sqlx::query(
                "INSERT INTO wecom_bindings (wecom_user_id, campus_id, name, role, created_at) \
                 VALUES ($1, $2, NULL, NULL, '2026-11-28T00:00:00Z')",
            )
            .bind(wecom)
            .bind(campus)
            .execute(&pool)
            .await
            .unwrap();
        }
        assert_eq!(pool.wecom_user_ids("2021001234").await.unwrap(), ["zhangsan", "zs-phone"]);
        assert!(pool.wecom_user_ids("T2008001").await.unwrap().is_empty(), "that UserID belongs to someone else");
        assert_eq!(pool.wecom_user_ids("2021009999").await.unwrap(), ["T2008001"]);
        let binding = pool.binding("zhangsan").await.unwrap().unwrap();
        assert_eq!((binding.campus_id.as_str(), binding.name, binding.role), ("2021001234", None, None));
        assert_eq!(pool.binding("nobody").await.unwrap(), None);
        assert_eq!(pool.known_user("2021001234").await.unwrap(), None);
    }
}
