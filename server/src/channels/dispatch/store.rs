//! The DB-backed channel stores: dedup keys, nonces, 智能机器人 streams and WeCom bindings.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// DB-backed stores
// ---------------------------------------------------------------------------------------------------------------

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    crate::channels::cpdaily::unix_now()
}

/// The fixed-format RFC 3339 UTC time of `secs` (compares correctly as text).
fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One 智能机器人 stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    pub content: String,
    /// The template card sent with the finished stream, as JSON.
    pub card_json: Option<String>,
    pub finished: bool,
    pub started_at: u64,
}

/// Dedup keys, nonces, recorded responses, streams and bindings in the server's database, so that every replica
/// sees them.
#[derive(Clone, Debug)]
pub struct ChannelStore {
    pool: AnyPool,
}

impl ChannelStore {
    pub fn new(pool: AnyPool) -> ChannelStore {
        ChannelStore { pool }
    }

    /// Claims `key` for `ttl_secs`: true when it was not live (new, or expired and taken over), false when it was.
    pub async fn claim(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, sqlx::Error> {
        let now_text = rfc3339(now);
        let expires = rfc3339(now.saturating_add(ttl_secs));
        let inserted = sqlx::query(
            "INSERT INTO channel_dedup (dedup_key, response, expires_at, created_at) VALUES ($1, NULL, $2, $3) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires.clone())
        .bind(now_text.clone())
        .execute(&self.pool)
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
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Forgets a claim (the delivery was refused, so its retry must be processed).
    pub async fn release(&self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM channel_dedup WHERE dedup_key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Records what a claimed key was answered with.
    pub async fn set_response(&self, key: &str, response: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE channel_dedup SET response = $2 WHERE dedup_key = $1")
            .bind(key)
            .bind(response)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The recorded response of a key: `None` if the key is unknown, `Some(None)` while it is being answered.
    pub async fn response(&self, key: &str) -> Result<Option<Option<String>>, sqlx::Error> {
        let row = sqlx::query("SELECT response FROM channel_dedup WHERE dedup_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get::<Option<String>, _>("response")).transpose()
    }

    /// Deletes expired keys and streams.
    pub async fn purge(&self, now: u64) -> Result<(), sqlx::Error> {
        let now = rfc3339(now);
        sqlx::query("DELETE FROM channel_dedup WHERE expires_at <= $1").bind(now.clone()).execute(&self.pool).await?;
        sqlx::query("DELETE FROM aibot_streams WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a stream with its placeholder.
    pub async fn create_stream(&self, stream_id: &str, placeholder: &str, now: u64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO aibot_streams (stream_id, content, card_json, finished, started_at, expires_at) \
             VALUES ($1, $2, NULL, 0, $3, $4)",
        )
        .bind(stream_id)
        .bind(placeholder)
        .bind(i64::try_from(now).unwrap_or(i64::MAX))
        .bind(rfc3339(now.saturating_add(AIBOT_STREAM_TTL_SECS)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a stream's whole answer and marks it finished.
    pub async fn finish_stream(
        &self,
        stream_id: &str,
        content: &str,
        card: Option<&TemplateCard>,
    ) -> Result<(), sqlx::Error> {
        let card_json = card.and_then(|c| serde_json::to_string(c).ok());
        sqlx::query("UPDATE aibot_streams SET content = $2, card_json = $3, finished = 1 WHERE stream_id = $1")
            .bind(stream_id)
            .bind(content)
            .bind(card_json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A stream's progress, if it exists.
    pub async fn stream(&self, stream_id: &str) -> Result<Option<StoredStream>, sqlx::Error> {
        let row =
            sqlx::query("SELECT content, card_json, finished, started_at FROM aibot_streams WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let card_json: Option<String> = row.try_get("card_json")?;
        Ok(Some(StoredStream {
            content: row.try_get("content")?,
            card_json,
            finished: row.try_get::<i64, _>("finished")? != 0,
            started_at: u64::try_from(row.try_get::<i64, _>("started_at")?).unwrap_or(0),
        }))
    }

    /// The campus user behind a WeCom UserID (or a 今日校园 学工号): the `wecom_bindings` row if any, then the
    /// `users` table of CAS logins for the name and role; else the id itself as a 学生 (documented default).
    pub async fn resolve_user(&self, channel_user_id: &str, use_bindings: bool) -> UserInfo {
        let mut id = channel_user_id.to_owned();
        let mut name: Option<String> = None;
        let mut role: Option<Role> = None;
        if use_bindings {
            let bound = sqlx::query("SELECT campus_id, name, role FROM wecom_bindings WHERE wecom_user_id = $1")
                .bind(channel_user_id)
                .fetch_optional(&self.pool)
                .await;
            match bound {
                Ok(Some(row)) => {
                    if let Ok(campus_id) = row.try_get::<String, _>("campus_id") {
                        id = campus_id;
                    }
                    name = row.try_get::<Option<String>, _>("name").ok().flatten();
                    role = row.try_get::<Option<String>, _>("role").ok().flatten().and_then(|r| Role::parse(&r));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read wecom_bindings"),
            }
        }
        // The users table belongs to CAS login; it may be absent in older databases, which only costs the name.
        let known =
            sqlx::query("SELECT name, role FROM users WHERE id = $1").bind(id.clone()).fetch_optional(&self.pool).await;
        if let Ok(Some(row)) = known {
            if name.is_none() {
                name = row.try_get::<String, _>("name").ok();
            }
            if role.is_none() {
                role = row.try_get::<String, _>("role").ok().and_then(|r| Role::parse(&r));
            }
        }
        UserInfo { name: name.unwrap_or_else(|| id.clone()), id, role: role.unwrap_or(Role::Student) }
    }
}

impl ChannelStore {
    /// The WeCom UserIDs of a campus user, for pushing them notices (the reverse of [`ChannelStore::resolve_user`]):
    /// the `wecom_bindings` rows bound to this campus id; without any, the campus id itself (UserID = 学工号), unless
    /// a row binds that UserID to another campus user, in which case none.
    pub async fn wecom_user_ids(&self, campus_id: &str) -> Result<Vec<String>, sqlx::Error> {
        let bound = sqlx::query("SELECT wecom_user_id FROM wecom_bindings WHERE campus_id = $1 ORDER BY wecom_user_id")
            .bind(campus_id)
            .fetch_all(&self.pool)
            .await?;
        if !bound.is_empty() {
            return bound.iter().map(|row| row.try_get::<String, _>("wecom_user_id")).collect();
        }
        let taken = sqlx::query("SELECT campus_id FROM wecom_bindings WHERE wecom_user_id = $1")
            .bind(campus_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(if taken.is_some() { Vec::new() } else { vec![campus_id.to_owned()] })
    }
}

impl SeenKeyStore for ChannelStore {
    fn insert_if_absent<'a>(
        &'a self,
        key: &'a str,
        ttl_secs: u64,
        now: u64,
    ) -> StoreFuture<'a, Result<bool, SeenStoreError>> {
        Box::pin(
            async move { self.claim(key, ttl_secs, now).await.map_err(|e| SeenStoreError::Backend(e.to_string())) },
        )
    }
}
