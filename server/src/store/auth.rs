//! Login's persistence: which user a chat session is bound to (`sessions.user_id`) and the `users` who logged
//! in through CAS, behind [`AuthStore`].
//!
//! Portable SQL as in `store::sql` (`$n` placeholders, RFC 3339 UTC text timestamps), over the same pool. Every
//! binding change is a conditional `UPDATE` that bumps `version`, so a turn computed on the session before a login
//! or logout does not overwrite it (see [`super::SessionStore::record_turn_of`]).

use super::StoreError;
use bot::protocol::UserInfo;
use bot::DialogueState;
use sqlx::{AnyPool, Row};

/// Who a stored session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOwner {
    /// Nobody has logged in on it.
    Guest,
    /// Bound to this user id.
    User(String),
}

/// The session bindings and the users table of login.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Who a session is bound to; `None` when the session does not exist.
    async fn session_owner(&self, session: &str) -> Result<Option<SessionOwner>, StoreError>;
    /// Binds a guest's session to `user_id`; false when the session is gone or already someone's.
    async fn bind_guest_session(&self, session: &str, user_id: &str) -> Result<bool, StoreError>;
    /// Stores a new, empty session bound to `user_id`.
    async fn create_bound_session(&self, session: &str, user_id: &str) -> Result<(), StoreError>;
    /// Ends a user's session (logout, or their token expired): unbound from `user_id` and its dialogue — topic,
    /// pending forms, everything the user typed into them — reset, so that whoever resumes the id next (a guest on
    /// the same browser) reads nothing of it. False when it was not bound to them.
    async fn unbind_session(&self, session: &str, user_id: &str) -> Result<bool, StoreError>;
    /// Records a login: the user's latest name, role and admin flag.
    async fn upsert_user(&self, user: &UserInfo, admin: bool) -> Result<(), StoreError>;
}

use super::clock::now;

/// The stored form of an empty dialogue.
fn empty_state_json() -> String {
    serde_json::to_string(&DialogueState::default()).unwrap_or_else(|_| "{}".to_owned())
}

/// [`AuthStore`] over the server's pool.
#[async_trait::async_trait]
impl AuthStore for AnyPool {
    async fn session_owner(&self, session: &str) -> Result<Option<SessionOwner>, StoreError> {
        let row = sqlx::query("SELECT user_id FROM sessions WHERE id = $1").bind(session).fetch_optional(self).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(match row.try_get::<Option<String>, _>("user_id")? {
            Some(user_id) => SessionOwner::User(user_id),
            None => SessionOwner::Guest,
        }))
    }

    async fn bind_guest_session(&self, session: &str, user_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET user_id = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND user_id IS NULL",
        )
        .bind(user_id)
        .bind(now())
        .bind(session)
        .execute(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_bound_session(&self, session: &str, user_id: &str) -> Result<(), StoreError> {
        let now = now();
        sqlx::query(
            "INSERT INTO sessions (id, user_id, state_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session)
        .bind(user_id)
        .bind(empty_state_json())
        .bind(now.clone())
        .bind(now)
        .execute(self)
        .await?;
        Ok(())
    }

    async fn unbind_session(&self, session: &str, user_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET user_id = NULL, state_json = $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND user_id = $4",
        )
        .bind(empty_state_json())
        .bind(now())
        .bind(session)
        .bind(user_id)
        .execute(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_user(&self, user: &UserInfo, admin: bool) -> Result<(), StoreError> {
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
        .execute(self)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use bot::protocol::Role;

    #[tokio::test]
    async fn a_session_is_bound_once_and_unbound_only_by_its_user() {
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/a.sqlite", dir.path().display())).await.unwrap();
        let pool = sql.pool().clone();
        assert_eq!(pool.session_owner("s_1").await.unwrap(), None);
        pool.create_bound_session("s_1", "2021001234").await.unwrap();
        assert_eq!(pool.session_owner("s_1").await.unwrap(), Some(SessionOwner::User("2021001234".into())));
        assert!(pool.create_bound_session("s_1", "T2008001").await.is_err(), "the id is taken");
        assert!(!pool.bind_guest_session("s_1", "T2008001").await.unwrap(), "not a guest's");
        assert!(!pool.unbind_session("s_1", "T2008001").await.unwrap(), "not theirs");
        assert!(pool.unbind_session("s_1", "2021001234").await.unwrap());
        assert_eq!(pool.session_owner("s_1").await.unwrap(), Some(SessionOwner::Guest));
        assert!(pool.bind_guest_session("s_1", "T2008001").await.unwrap());
        assert_eq!(pool.session_owner("s_1").await.unwrap(), Some(SessionOwner::User("T2008001".into())));
        let user = UserInfo { id: "T2008001".into(), name: "李老师".into(), role: Role::Teacher };
        pool.upsert_user(&user, false).await.unwrap();
        pool.upsert_user(&user, true).await.unwrap();
    }
}
