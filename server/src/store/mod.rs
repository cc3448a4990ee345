//! Persistence behind one trait: sessions and their dialogue state, the question log and ratings.
//!
//! A session belongs to its owner (a user id, or nobody for a guest). Every write of a turn is guarded by that
//! owner, so a connection that is not the owner can neither read (checked by the caller) nor overwrite it.

pub mod admin;
pub mod admin_records;
pub mod auth;
pub mod campus;
pub mod campus_seed;
pub mod channel_keys;
pub mod clock;
mod group_commit;
pub mod handoff;
pub mod inbox;
pub mod notify;
pub mod portal_records;
pub mod question_log;
pub mod replicas;
pub mod retention;
pub mod review;
mod sql;

pub use sql::{connect, Backend, SqlStore};

use bot::protocol::Mode;
use bot::DialogueState;
use std::fmt;

/// A session id: 1–64 characters of `A-Z a-z 0-9 _ -`, so that it is safe in URLs, logs and SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub const MAX_LEN: usize = 64;

    /// A fresh, unguessable id.
    pub fn generate() -> SessionId {
        SessionId(format!("s_{}", uuid::Uuid::new_v4().simple()))
    }

    /// Accepts a client-supplied id when it has the allowed shape.
    pub fn parse(raw: &str) -> Option<SessionId> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| SessionId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The transport or channel a question came in on, as the question log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WebSocket,
    Http,
    /// The WeCom self-built app.
    Wecom,
    /// The WeCom 智能机器人.
    WecomBot,
    /// 今日校园.
    Cpdaily,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebSocket => "ws",
            Channel::Http => "http",
            Channel::Wecom => "wecom",
            Channel::WecomBot => "wecom_bot",
            Channel::Cpdaily => "cpdaily",
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub id: SessionId,
    pub user_id: Option<String>,
    pub state: DialogueState,
    /// Bumped by every write of the row; a turn computed on a remembered state commits only if it is unchanged.
    pub version: i64,
}

/// One answered turn, for the question log.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionRecord {
    pub channel: Channel,
    /// The user's text, or `action:NAME` for a postback.
    pub text: String,
    pub intent: String,
    pub mode: Mode,
    pub top_item: Option<String>,
    pub confidence: f32,
    pub latency_ms: u64,
    pub reply_id: String,
}

/// A 👍 / 👎 on one reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub reply_id: String,
    pub helpful: bool,
    pub comment: Option<String>,
}

/// Why the store failed; none of this is shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("the database URL must start with sqlite:, postgres:// or postgresql://")]
    UnsupportedUrl,
    #[error("cannot serialize the dialogue state: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The session is bound to someone other than the one writing the turn (a login bound it meanwhile).
    #[error("the session belongs to another user")]
    NotOwner,
    /// The row changed since the version the turn was computed on (another replica, a login or a logout wrote
    /// it); nothing was written and the turn must be recomputed on the stored state.
    #[error("the session changed since it was read")]
    Stale,
    /// The turn writer is gone (the process is shutting down).
    #[error("the turn writer has stopped")]
    WriterStopped,
}

/// Where sessions, the question log and ratings live. `SqlStore` is the one implementation; the trait keeps the
/// routes independent of the database and lets tests swap the backend.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session with this id, if it exists.
    async fn load(&self, id: &SessionId) -> Result<Option<StoredSession>, StoreError>;
    /// Stores a new session.
    async fn create(&self, session: &StoredSession) -> Result<(), StoreError>;
    /// Saves the state after a turn and logs the turn, atomically, creating the session on its first turn (owned
    /// by `owner`: a user id, or `None` for a guest). Refused with [`StoreError::NotOwner`], writing nothing, when
    /// the session exists with another owner. The asker's audience is left unknown.
    async fn record_turn(
        &self,
        id: &SessionId,
        owner: Option<&str>,
        state: &DialogueState,
        question: &QuestionRecord,
    ) -> Result<(), StoreError>;
    /// Like [`SessionStore::record_turn`], also logging who asked (student, teacher, staff or guest), by which
    /// the 热门问题 are kept apart. With `expected_version`, the turn commits only when the row still has that
    /// version (else [`StoreError::Stale`], writing nothing). Returns the row's new version.
    async fn record_turn_of(
        &self,
        id: &SessionId,
        owner: Option<&str>,
        state: &DialogueState,
        question: &QuestionRecord,
        asker: bot::engine::AskerAudience,
        expected_version: Option<i64>,
    ) -> Result<i64, StoreError>;
    /// Whether this reply was sent in this session.
    async fn reply_in_session(&self, reply_id: &str, id: &SessionId) -> Result<bool, StoreError>;
    /// Stores a rating; rating the same reply again replaces the earlier one.
    async fn save_rating(&self, id: &SessionId, rating: &Rating) -> Result<(), StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_with_odd_characters_or_length_are_refused() {
        assert_eq!(SessionId::parse(""), None);
        assert_eq!(SessionId::parse("a b"), None);
        assert_eq!(SessionId::parse("x';--"), None);
        assert_eq!(SessionId::parse(&"a".repeat(65)), None);
        assert!(SessionId::parse("web-123_ab").is_some());
    }
}
