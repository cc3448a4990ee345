//! The question log (`question_log`, with each reply's 👍 / 👎 from `ratings`) as the admin side reads it: the
//! questions up for review, the newest questions, one session's dialogue, one question, and everything since a
//! day for analytics; behind [`QuestionLogReader`]. The turns themselves are written by the [`super::SessionStore`].

use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A question that fell back, was clarified or got a 👎.
#[derive(Debug, Clone, PartialEq)]
pub struct FlaggedQuestion {
    pub text: String,
    pub mode: String,
    pub created_at: String,
    /// The rating of its reply, when it was rated.
    pub helpful: Option<bool>,
}

/// One row of the question log's list.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedQuestionRow {
    pub id: String,
    pub channel: String,
    pub text: String,
    pub intent: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub confidence: f64,
    pub latency_ms: i64,
    pub created_at: String,
    pub helpful: Option<bool>,
}

/// One turn of a session's dialogue.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionTurn {
    pub id: String,
    pub channel: String,
    pub text: String,
    pub intent: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub created_at: String,
    /// Who asked (`AskerAudience::as_str`); `None` for turns logged before the audience was recorded.
    pub audience: Option<String>,
    pub helpful: Option<bool>,
}

/// One question as the explain view shows what was logged.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionOutcome {
    pub text: String,
    pub intent: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub confidence: f64,
    pub created_at: String,
}

/// One question as analytics counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionForStats {
    pub created_at: String,
    pub session_id: String,
    pub channel: String,
    pub text: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub latency_ms: i64,
    pub audience: Option<String>,
    pub helpful: Option<bool>,
}

/// The admin side's reads of the question log.
#[async_trait::async_trait]
pub trait QuestionLogReader: Send + Sync + 'static {
    /// Questions since `since` (oldest first) that did not get an answer, or whose answer got a 👎.
    async fn flagged_since(&self, since: &str) -> Result<Vec<FlaggedQuestion>, StoreError>;
    /// The newest `limit` questions, newest first.
    async fn newest(&self, limit: i64) -> Result<Vec<LoggedQuestionRow>, StoreError>;
    /// The session a logged question was asked in; `None` when there is no such question.
    async fn session_of(&self, question_id: &str) -> Result<Option<String>, StoreError>;
    /// The session's dialogue, oldest first (at most 500 turns).
    async fn session_turns(&self, session_id: &str) -> Result<Vec<SessionTurn>, StoreError>;
    async fn outcome(&self, question_id: &str) -> Result<Option<QuestionOutcome>, StoreError>;
    /// Every question since `since`.
    async fn since(&self, since: &str) -> Result<Vec<QuestionForStats>, StoreError>;
}

/// [`QuestionLogReader`] over the server's pool.
#[derive(Clone)]
pub struct SqlQuestionLog {
    pool: AnyPool,
}

impl SqlQuestionLog {
    pub fn new(pool: AnyPool) -> SqlQuestionLog {
        SqlQuestionLog { pool }
    }
}

/// `ratings.helpful` is an integer (0 or 1) on both databases.
fn helpful_of(row: &AnyRow) -> Result<Option<bool>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>("helpful")?.map(|h| h != 0))
}

#[async_trait::async_trait]
impl QuestionLogReader for SqlQuestionLog {
    async fn flagged_since(&self, since: &str) -> Result<Vec<FlaggedQuestion>, StoreError> {
        let rows = sqlx::query(
            "SELECT q.text AS text, q.mode AS mode, q.created_at AS created_at, r.helpful AS helpful \
             FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id \
             WHERE q.created_at >= $1 AND (q.mode <> 'answer' OR r.helpful = 0) ORDER BY q.created_at",
        )
        .bind(since.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let flagged = rows
            .iter()
            .map(|row| {
                Ok(FlaggedQuestion {
                    text: row.try_get("text")?,
                    mode: row.try_get("mode")?,
                    created_at: row.try_get("created_at")?,
                    helpful: helpful_of(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(flagged)
    }

    async fn newest(&self, limit: i64) -> Result<Vec<LoggedQuestionRow>, StoreError> {
        // REAL is 4 bytes on PostgreSQL, 8 on SQLite: the CAST makes it a double (an f64) on both.
        let rows = sqlx::query(
            "SELECT q.id AS id, q.channel AS channel, q.text AS text, q.intent AS intent, q.mode AS mode, q.top_item AS top_item, \
             CAST(q.confidence AS DOUBLE PRECISION) AS confidence, q.latency_ms AS latency_ms, q.created_at AS created_at, r.helpful AS helpful \
             FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id ORDER BY q.created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let newest = rows
            .iter()
            .map(|row| {
                Ok(LoggedQuestionRow {
                    id: row.try_get("id")?,
                    channel: row.try_get("channel")?,
                    text: row.try_get("text")?,
                    intent: row.try_get("intent")?,
                    mode: row.try_get("mode")?,
                    top_item: row.try_get("top_item")?,
                    confidence: row.try_get("confidence")?,
                    latency_ms: row.try_get("latency_ms")?,
                    created_at: row.try_get("created_at")?,
                    helpful: helpful_of(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(newest)
    }

    async fn session_of(&self, question_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT session_id FROM question_log WHERE id = $1")
            .bind(question_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("session_id")).transpose()?)
    }

    async fn session_turns(&self, session_id: &str) -> Result<Vec<SessionTurn>, StoreError> {
        let rows = sqlx::query(
            "SELECT q.id AS id, q.channel AS channel, q.text AS text, q.intent AS intent, q.mode AS mode, \
             q.top_item AS top_item, q.created_at AS created_at, q.audience AS audience, r.helpful AS helpful \
             FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id WHERE q.session_id = $1 \
             ORDER BY q.created_at, q.id LIMIT 500",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        let turns = rows
            .iter()
            .map(|row| {
                Ok(SessionTurn {
                    id: row.try_get("id")?,
                    channel: row.try_get("channel")?,
                    text: row.try_get("text")?,
                    intent: row.try_get("intent")?,
                    mode: row.try_get("mode")?,
                    top_item: row.try_get("top_item")?,
                    created_at: row.try_get("created_at")?,
                    audience: row.try_get("audience")?,
                    helpful: helpful_of(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(turns)
    }

    async fn outcome(&self, question_id: &str) -> Result<Option<QuestionOutcome>, StoreError> {
        // REAL is 4 bytes on PostgreSQL, 8 on SQLite: the CAST makes it a double (an f64) on both.
        let row = sqlx::query(
            "SELECT text, intent, mode, top_item, CAST(confidence AS DOUBLE PRECISION) AS confidence, created_at \
             FROM question_log WHERE id = $1",
        )
        .bind(question_id)
        .fetch_optional(&self.pool)
        .await?;
        let outcome = row
            .map(|row| {
                Ok::<_, sqlx::Error>(QuestionOutcome {
                    text: row.try_get("text")?,
                    intent: row.try_get("intent")?,
                    mode: row.try_get("mode")?,
                    top_item: row.try_get("top_item")?,
                    confidence: row.try_get("confidence")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .transpose()?;
        Ok(outcome)
    }

    async fn since(&self, since: &str) -> Result<Vec<QuestionForStats>, StoreError> {
        let rows = sqlx::query(
            "SELECT q.created_at AS created_at, q.session_id AS session_id, q.channel AS channel, q.text AS text, q.mode AS mode, q.top_item AS top_item, \
             q.latency_ms AS latency_ms, q.audience AS audience, r.helpful AS helpful \
             FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id WHERE q.created_at >= $1",
        )
        .bind(since.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let questions = rows
            .iter()
            .map(|row| {
                Ok(QuestionForStats {
                    created_at: row.try_get("created_at")?,
                    session_id: row.try_get("session_id")?,
                    channel: row.try_get("channel")?,
                    text: row.try_get("text")?,
                    mode: row.try_get("mode")?,
                    top_item: row.try_get("top_item")?,
                    latency_ms: row.try_get("latency_ms")?,
                    audience: row.try_get("audience")?,
                    helpful: helpful_of(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(questions)
    }
}
