//! The SQL of login: binding a chat session to a user, unbinding it, and the users table.
//!
//! Portable SQL as in `store::sql` (`$n` placeholders, RFC 3339 UTC text timestamps), over the same pool.

use bot::protocol::UserInfo;
use bot::DialogueState;
use sqlx::{AnyPool, Row};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Who a session is bound to: `None` when the session does not exist, `Some(None)` for a guest's session.
pub async fn session_user(pool: &AnyPool, session: &str) -> Result<Option<Option<String>>, sqlx::Error> {
    let row = sqlx::query("SELECT user_id FROM sessions WHERE id = $1").bind(session).fetch_optional(pool).await?;
    row.map(|r| r.try_get::<Option<String>, _>("user_id")).transpose()
}

/// Binds a guest's session to `user_id`; false when the session is gone or already someone's.
pub async fn bind_guest_session(pool: &AnyPool, session: &str, user_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET user_id = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND user_id IS NULL",
    )
    .bind(user_id)
    .bind(now())
    .bind(session)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new, empty session bound to `user_id`.
pub async fn create_bound_session(pool: &AnyPool, session: &str, user_id: &str) -> Result<(), sqlx::Error> {
    let state = serde_json::to_string(&DialogueState::default()).unwrap_or_else(|_| "{}".to_owned());
    let now = now();
    sqlx::query("INSERT INTO sessions (id, user_id, state_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(session)
        .bind(user_id)
        .bind(state)
        .bind(now.clone())
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends a user's session (logout, or their token expired): unbound from `user_id` and its dialogue — topic,
/// pending forms, everything the user typed into them — reset, so that whoever resumes the id next (a guest on
/// the same browser) reads nothing of it. False when it was not bound to them.
pub async fn unbind_session(pool: &AnyPool, session: &str, user_id: &str) -> Result<bool, sqlx::Error> {
    let empty = serde_json::to_string(&DialogueState::default()).unwrap_or_else(|_| "{}".to_owned());
    let done = sqlx::query(
        "UPDATE sessions SET user_id = NULL, state_json = $1, updated_at = $2, version = version + 1 \
         WHERE id = $3 AND user_id = $4",
    )
    .bind(empty)
    .bind(now())
    .bind(session)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a login: the user's latest name, role and admin flag.
pub async fn upsert_user(pool: &AnyPool, user: &UserInfo, admin: bool) -> Result<(), sqlx::Error> {
    let now = now();
    sqlx::query(
        "INSERT INTO users (id, name, role, admin, first_login_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, admin = excluded.admin, \
         last_login_at = excluded.last_login_at",
    )
    .bind(user.id.clone())
    .bind(user.name.clone())
    .bind(user.role.label())
    .bind(i32::from(admin))
    .bind(now.clone())
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
