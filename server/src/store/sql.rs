//! The sqlx implementation of [`SessionStore`], over `AnyPool` so that one binary serves SQLite or PostgreSQL.
//!
//! Queries are checked at run time (`sqlx::query`, no offline macro data) and use `$n` placeholders, which both
//! databases accept. Timestamps are RFC 3339 UTC text with milliseconds, so they sort as text on either.

use super::group_commit::{TurnRow, TurnWriter};
use super::{QuestionRecord, Rating, SessionId, SessionStore, StoreError, StoredSession};
use bot::DialogueState;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database a URL names; the SQL is the same, only connection set-up and cross-process events differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a database URL (`sqlite:`, `postgres://` or `postgresql://`).
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Sessions, questions and ratings in a SQL database.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// The URL, kept for the LISTEN connection of PostgreSQL; may hold a password, so never printed.
    url: Arc<str>,
    /// The one writer of turns, shared by every clone (see [`super::group_commit`]).
    pub(super) turns: TurnWriter,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Connections per process. PostgreSQL allows 100 by default, so a handful of replicas fit; SQLite serializes
/// writers anyway and only readers gain from more.
const MAX_CONNECTIONS: u32 = 16;

/// Opens the database (creating a SQLite file and its folder when missing) and runs the migrations.
///
/// SQLite runs in WAL mode with `synchronous = NORMAL`: a committed transaction survives the process being
/// killed (it is in the WAL, handed to the OS), only a power cut can lose the last few, and commits need no
/// fsync each, which is what lets one node log thousands of turns a second.
pub async fn connect(database_url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(database_url).ok_or_else(|| StoreError::UnsupportedUrl)?;
    let url = prepare_sqlite(database_url)?;
    let mut options = AnyPoolOptions::new().max_connections(MAX_CONNECTIONS).acquire_timeout(Duration::from_secs(5));
    if backend == Backend::Sqlite {
        options = options.after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                Ok(())
            })
        });
    }
    let pool = options.connect(&url).await?;
    MIGRATOR.run(&pool).await?;
    let turns = TurnWriter::spawn(pool.clone());
    Ok(SqlStore { pool, backend, url: Arc::from(database_url), turns })
}

/// For a SQLite file URL: creates the folder and asks SQLite to create the file (`mode=rwc`) unless the URL
/// already says how to open it. Other URLs pass through unchanged.
fn prepare_sqlite(url: &str) -> Result<String, StoreError> {
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return Ok(url.to_owned());
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Ok(url.to_owned());
    }
    if let Some(parent) = PathBuf::from(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir { path: parent.to_owned(), source })?;
    }
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        return Ok(url.to_owned());
    }
    let sep = if query.is_empty() { "?" } else { "&" };
    let base = if url.ends_with('?') { url.trim_end_matches('?').to_owned() } else { url.to_owned() };
    Ok(format!("{base}{sep}mode=rwc"))
}

use super::clock::now;

impl SqlStore {
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL (for a second connection such as PostgreSQL's LISTEN); secret.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn session_from_row(row: &AnyRow) -> Result<StoredSession, StoreError> {
        let raw_id: String = row.try_get("id")?;
        let user_id: Option<String> = row.try_get("user_id")?;
        let state_json: String = row.try_get("state_json")?;
        let version: i64 = row.try_get("version")?;
        let id = SessionId::parse(&raw_id).unwrap_or_else(SessionId::generate);
        // A state written by an older engine that no longer parses is not worth failing the user for:
        // the dialogue restarts, the session (and its log) stays.
        let state = serde_json::from_str(&state_json).unwrap_or_else(|e| {
            tracing::warn!(session = %raw_id, error = %e, "stored dialogue state does not parse; starting afresh");
            DialogueState::default()
        });
        Ok(StoredSession { id, user_id, state, version })
    }

    /// Saves the state (creating the session on its first turn) and logs the turn through the group-committing
    /// writer, unless the session is owned by someone other than `owner`; `asker` is the asker's audience when known.
    #[tracing::instrument(skip_all, fields(session = %id, reply = %question.reply_id), err(level = "warn"))]
    async fn log_turn(
        &self,
        id: &SessionId,
        owner: Option<&str>,
        state: &DialogueState,
        question: &QuestionRecord,
        asker: Option<&'static str>,
        expected_version: Option<i64>,
    ) -> Result<i64, StoreError> {
        let row = TurnRow {
            session_id: id.clone(),
            owner: owner.map(str::to_owned),
            state_json: serde_json::to_string(state)?,
            question: question.clone(),
            asker,
            expected_version,
            at: now(),
        };
        self.turns.write(row).await
    }

    /// Creates a session owned by `owner` through one logged turn (test set-up).
    #[cfg(test)]
    pub(super) async fn log_turn_for_test(&self, id: &SessionId, owner: Option<&str>, reply_id: &str) {
        let question = QuestionRecord {
            channel: super::Channel::Http,
            text: "你好".into(),
            intent: "smalltalk".into(),
            mode: bot::protocol::Mode::Answer,
            top_item: None,
            confidence: 1.0,
            latency_ms: 0,
            reply_id: reply_id.into(),
        };
        let logged = self.log_turn(id, owner, &DialogueState::default(), &question, None, None).await;
        assert!(logged.is_ok(), "{logged:?}");
    }
}

#[async_trait::async_trait]
impl SessionStore for SqlStore {
    #[tracing::instrument(skip_all, fields(session = %id), err(level = "warn"))]
    async fn load(&self, id: &SessionId) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query("SELECT id, user_id, state_json, version FROM sessions WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::session_from_row).transpose()
    }

    #[tracing::instrument(skip_all, fields(session = %session.id), err(level = "warn"))]
    async fn create(&self, session: &StoredSession) -> Result<(), StoreError> {
        let state_json = serde_json::to_string(&session.state)?;
        let now = now();
        sqlx::query(
            "INSERT INTO sessions (id, user_id, state_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id.as_str())
        .bind(session.user_id.clone())
        .bind(state_json)
        .bind(now.clone())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_turn(
        &self,
        id: &SessionId,
        owner: Option<&str>,
        state: &DialogueState,
        question: &QuestionRecord,
    ) -> Result<(), StoreError> {
        self.log_turn(id, owner, state, question, None, None).await.map(|_version| ())
    }

    async fn record_turn_of(
        &self,
        id: &SessionId,
        owner: Option<&str>,
        state: &DialogueState,
        question: &QuestionRecord,
        asker: bot::engine::AskerAudience,
        expected_version: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.log_turn(id, owner, state, question, Some(asker.as_str()), expected_version).await
    }

    #[tracing::instrument(skip_all, fields(session = %id), err(level = "warn"))]
    async fn reply_in_session(&self, reply_id: &str, id: &SessionId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM question_log WHERE reply_id = $1 AND session_id = $2")
            .bind(reply_id)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    #[tracing::instrument(skip_all, fields(session = %id, reply = %rating.reply_id), err(level = "warn"))]
    async fn save_rating(&self, id: &SessionId, rating: &Rating) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ratings (reply_id, session_id, helpful, comment, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (reply_id) DO UPDATE SET helpful = excluded.helpful, comment = excluded.comment, \
             created_at = excluded.created_at",
        )
        .bind(rating.reply_id.clone())
        .bind(id.as_str())
        .bind(i32::from(rating.helpful))
        .bind(rating.comment.clone())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Channel;
    use bot::protocol::Mode;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.sqlite", dir.path().display());
        assert_eq!(prepare_sqlite(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.path().join("sub").is_dir());
        assert_eq!(prepare_sqlite("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert_eq!(prepare_sqlite("postgres://h/db").unwrap(), "postgres://h/db");
        let ro = format!("sqlite://{}/y.sqlite?mode=ro", dir.path().display());
        assert_eq!(prepare_sqlite(&ro).unwrap(), ro);
    }

    #[tokio::test]
    async fn a_session_round_trips_with_its_turns_and_ratings() {
        let dir = tempfile::tempdir().unwrap();
        let store = connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let id = SessionId::generate();
        assert_eq!(store.load(&id).await.unwrap(), None);
        let session = StoredSession { id: id.clone(), user_id: None, state: DialogueState::default(), version: 0 };
        store.create(&session).await.unwrap();
        let state = DialogueState { turns: 3, current_item: Some("svc-1".into()), ..DialogueState::default() };
        let q = QuestionRecord {
            channel: Channel::Http,
            text: "校园卡丢了怎么办".into(),
            intent: "service.guide".into(),
            mode: Mode::Answer,
            top_item: Some("svc-1".into()),
            confidence: 0.9,
            latency_ms: 12,
            reply_id: "r_1".into(),
        };
        store.record_turn(&id, None, &state, &q).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().state, state);
        // Another owner's write is refused and changes nothing.
        let other = DialogueState { turns: 9, ..DialogueState::default() };
        let refused = store
            .record_turn(&id, Some("2021001234"), &other, &QuestionRecord { reply_id: "r_2".into(), ..q.clone() })
            .await;
        assert!(matches!(refused, Err(StoreError::NotOwner)), "{refused:?}");
        assert_eq!(store.load(&id).await.unwrap().unwrap().state, state);
        assert!(!store.reply_in_session("r_2", &id).await.unwrap());
        // A first turn creates its session, owned by the asker.
        let fresh = SessionId::generate();
        store
            .record_turn(&fresh, Some("2021001234"), &state, &QuestionRecord { reply_id: "r_3".into(), ..q.clone() })
            .await
            .unwrap();
        assert_eq!(store.load(&fresh).await.unwrap().unwrap().user_id.as_deref(), Some("2021001234"));
        assert!(store.reply_in_session("r_1", &id).await.unwrap());
        assert!(!store.reply_in_session("r_1", &SessionId::generate()).await.unwrap());
        let rating = Rating { reply_id: "r_1".into(), helpful: false, comment: None };
        store.save_rating(&id, &rating).await.unwrap();
        let again = Rating { helpful: true, comment: Some("好".into()), ..rating };
        store.save_rating(&id, &again).await.unwrap();
        let row = sqlx::query("SELECT helpful, comment FROM ratings WHERE reply_id = 'r_1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(row.get::<i32, _>("helpful"), 1);
        assert_eq!(row.get::<Option<String>, _>("comment").as_deref(), Some("好"));
        store.ping().await.unwrap();
    }
}
