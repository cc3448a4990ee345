//! The handoff queue's persistence: `handoffs` (one row per conversation handed to a person) and
//! `handoff_messages` (what the user and the person wrote meanwhile), behind [`HandoffStore`].
//!
//! Every state change is a conditional `UPDATE` (`… WHERE status = 'waiting'`, `… WHERE status <> 'closed'`), so
//! two admins taking the same conversation, or two replicas' sweepers timing it out, resolve to one winner.

use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// Where a handoff stands in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffState {
    Waiting,
    Active,
    Closed,
}

impl HandoffState {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffState::Waiting => "waiting",
            HandoffState::Active => "active",
            HandoffState::Closed => "closed",
        }
    }

    fn parse(raw: &str) -> HandoffState {
        match raw {
            "waiting" => HandoffState::Waiting,
            "active" => HandoffState::Active,
            _ => HandoffState::Closed,
        }
    }
}

/// Why a handoff ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The person handed the conversation back to the bot.
    Released,
    /// The user said 结束人工.
    UserEnded,
    /// The user closed every connection and did not come back in time.
    UserLeft,
    /// Nobody took it within the wait limit (a 工单 was filed).
    TimedOut,
    /// No message either way for the idle limit.
    Idle,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Released => "released",
            CloseReason::UserEnded => "user_ended",
            CloseReason::UserLeft => "user_left",
            CloseReason::TimedOut => "timed_out",
            CloseReason::Idle => "idle",
        }
    }

    fn parse(raw: &str) -> Option<CloseReason> {
        Some(match raw {
            "released" => CloseReason::Released,
            "user_ended" => CloseReason::UserEnded,
            "user_left" => CloseReason::UserLeft,
            "timed_out" => CloseReason::TimedOut,
            "idle" => CloseReason::Idle,
            _ => return None,
        })
    }
}

/// Who wrote a handoff message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    User,
    Agent,
    /// The desk's own lines (requested, taken, handed back).
    System,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Agent => "agent",
            Sender::System => "system",
        }
    }

    fn parse(raw: &str) -> Sender {
        match raw {
            "user" => Sender::User,
            "agent" => Sender::Agent,
            _ => Sender::System,
        }
    }
}

/// One handoff as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    pub id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// The channel the user asked on (`store::Channel::as_str`).
    pub channel: String,
    pub status: HandoffState,
    pub close_reason: Option<CloseReason>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// The 工单 filed when nobody took it in time.
    pub ticket_id: Option<String>,
    pub created_at: String,
    pub taken_at: Option<String>,
    pub closed_at: Option<String>,
    pub last_activity_at: String,
    /// When a replica last saw the user connected (or the user last wrote); a web user not seen for
    /// `user_gone_secs` has left.
    pub user_seen_at: String,
}

/// A handoff to open.
#[derive(Debug, Clone)]
pub struct NewHandoff {
    pub session_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub channel: String,
}

/// One message of a handoff.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffMessage {
    /// 1, 2, 3 … within the handoff.
    pub seq: i64,
    pub sender: Sender,
    pub name: Option<String>,
    pub text: String,
    pub created_at: String,
}

/// One turn of the session's dialogue with the bot, as the question log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedTurn {
    pub text: String,
    pub intent: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub created_at: String,
}

/// The outcome of an admin taking a handoff.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// Now (or already) the caller's.
    Yours(Handoff),
    /// Someone else has it, or it ended.
    Unavailable(Handoff),
    Missing,
}

/// The queue's storage.
#[async_trait::async_trait]
pub trait HandoffStore: Send + Sync + 'static {
    /// Opens a waiting handoff for the session, or returns the one already open (`false`: not new).
    async fn open(&self, new: &NewHandoff, at: &str) -> Result<(Handoff, bool), StoreError>;
    async fn get(&self, id: &str) -> Result<Option<Handoff>, StoreError>;
    /// The session's open (waiting or active) handoff.
    async fn open_for_session(&self, session_id: &str) -> Result<Option<Handoff>, StoreError>;
    /// Every open handoff: waiting first, oldest first, then active.
    async fn list_open(&self) -> Result<Vec<Handoff>, StoreError>;
    /// The most recently closed handoffs.
    async fn list_closed(&self, limit: i64) -> Result<Vec<Handoff>, StoreError>;
    /// How many wait ahead of a handoff created at `created_at`.
    async fn waiting_ahead(&self, created_at: &str, id: &str) -> Result<u32, StoreError>;
    /// An admin takes a waiting handoff; taking one's own again is a no-op.
    async fn take(&self, id: &str, agent_id: &str, agent_name: &str, at: &str) -> Result<Taken, StoreError>;
    /// Closes an open handoff; `None` when it was not open (someone else closed it first).
    async fn close(&self, id: &str, reason: CloseReason, at: &str) -> Result<Option<Handoff>, StoreError>;
    async fn set_ticket(&self, id: &str, ticket_id: &str) -> Result<(), StoreError>;
    /// Records that the user was seen connected at `at`.
    async fn seen_user(&self, id: &str, at: &str) -> Result<(), StoreError>;
    /// The latest message, for the queue's list.
    async fn last_message(&self, id: &str) -> Result<Option<HandoffMessage>, StoreError>;
    /// Appends a message (and counts it as activity).
    async fn add_message(
        &self,
        id: &str,
        sender: Sender,
        name: Option<&str>,
        text: &str,
        at: &str,
    ) -> Result<HandoffMessage, StoreError>;
    /// Messages with `seq` greater than `after`, in order.
    async fn messages_after(&self, id: &str, after: i64) -> Result<Vec<HandoffMessage>, StoreError>;
    /// The session's dialogue with the bot before `before`, oldest first, at most `limit` turns (the latest).
    async fn history(&self, session_id: &str, before: &str, limit: i64) -> Result<Vec<LoggedTurn>, StoreError>;
}

/// [`HandoffStore`] over the server's pool.
#[derive(Clone)]
pub struct SqlHandoffs {
    pool: AnyPool,
}

impl SqlHandoffs {
    pub fn new(pool: AnyPool) -> SqlHandoffs {
        SqlHandoffs { pool }
    }
}

const COLUMNS: &str = "id, session_id, user_id, user_name, channel, status, close_reason, agent_id, agent_name, \
    ticket_id, created_at, taken_at, closed_at, last_activity_at, user_seen_at";

fn handoff_of(row: &AnyRow) -> Result<Handoff, sqlx::Error> {
    Ok(Handoff {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        channel: row.try_get("channel")?,
        status: HandoffState::parse(&row.try_get::<String, _>("status")?),
        close_reason: row.try_get::<Option<String>, _>("close_reason")?.as_deref().and_then(CloseReason::parse),
        agent_id: row.try_get("agent_id")?,
        agent_name: row.try_get("agent_name")?,
        ticket_id: row.try_get("ticket_id")?,
        created_at: row.try_get("created_at")?,
        taken_at: row.try_get("taken_at")?,
        closed_at: row.try_get("closed_at")?,
        last_activity_at: row.try_get("last_activity_at")?,
        user_seen_at: row.try_get("user_seen_at")?,
    })
}

fn message_of(row: &AnyRow) -> Result<HandoffMessage, sqlx::Error> {
    Ok(HandoffMessage {
        seq: row.try_get("seq")?,
        sender: Sender::parse(&row.try_get::<String, _>("sender")?),
        name: row.try_get("name")?,
        text: row.try_get("text")?,
        created_at: row.try_get("created_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Tries of an insert that lost a race for its unique key (a message's `seq`, a session's one open handoff).
const INSERT_TRIES: usize = 5;

#[async_trait::async_trait]
impl HandoffStore for SqlHandoffs {
    async fn open(&self, new: &NewHandoff, at: &str) -> Result<(Handoff, bool), StoreError> {
        for _ in 0..INSERT_TRIES {
            if let Some(open) = self.open_for_session(&new.session_id).await? {
                return Ok((open, false));
            }
            let id = format!("ho_{}", uuid::Uuid::new_v4().simple());
            let inserted = sqlx::query(
                "INSERT INTO handoffs (id, session_id, user_id, user_name, channel, status, created_at, last_activity_at, \
                 user_seen_at) VALUES ($1, $2, $3, $4, $5, 'waiting', $6, $6, $6)",
            )
            .bind(&id)
            .bind(&new.session_id)
            .bind(&new.user_id)
            .bind(&new.user_name)
            .bind(&new.channel)
            .bind(at)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => {
                    let row = self.get(&id).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
                    return Ok((row, true));
                }
                // Another request of the same session opened one meanwhile: return that one.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Stale)
    }

    async fn get(&self, id: &str) -> Result<Option<Handoff>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(handoff_of).transpose()?)
    }

    async fn open_for_session(&self, session_id: &str) -> Result<Option<Handoff>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM handoffs WHERE session_id = $1 AND status <> 'closed'"))
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(handoff_of).transpose()?)
    }

    async fn list_open(&self) -> Result<Vec<Handoff>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE status <> 'closed' \
             ORDER BY CASE status WHEN 'waiting' THEN 0 ELSE 1 END, created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(handoff_of).collect::<Result<_, _>>()?)
    }

    async fn list_closed(&self, limit: i64) -> Result<Vec<Handoff>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE status = 'closed' ORDER BY closed_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(handoff_of).collect::<Result<_, _>>()?)
    }

    async fn waiting_ahead(&self, created_at: &str, id: &str) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM handoffs WHERE status = 'waiting' \
             AND (created_at < $1 OR (created_at = $1 AND id < $2))",
        )
        .bind(created_at)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(row.try_get::<i64, _>("n")?).unwrap_or(u32::MAX))
    }

    async fn take(&self, id: &str, agent_id: &str, agent_name: &str, at: &str) -> Result<Taken, StoreError> {
        sqlx::query(
            "UPDATE handoffs SET status = 'active', agent_id = $2, agent_name = $3, taken_at = $4, \
             last_activity_at = $4 WHERE id = $1 AND status = 'waiting'",
        )
        .bind(id)
        .bind(agent_id)
        .bind(agent_name)
        .bind(at)
        .execute(&self.pool)
        .await?;
        let Some(row) = self.get(id).await? else { return Ok(Taken::Missing) };
        let yours = row.status == HandoffState::Active && row.agent_id.as_deref() == Some(agent_id);
        Ok(if yours { Taken::Yours(row) } else { Taken::Unavailable(row) })
    }

    async fn close(&self, id: &str, reason: CloseReason, at: &str) -> Result<Option<Handoff>, StoreError> {
        let closed = sqlx::query(
            "UPDATE handoffs SET status = 'closed', close_reason = $2, closed_at = $3 WHERE id = $1 AND status <> 'closed'",
        )
        .bind(id)
        .bind(reason.as_str())
        .bind(at)
        .execute(&self.pool)
        .await?;
        if closed.rows_affected() == 0 {
            return Ok(None);
        }
        self.get(id).await
    }

    async fn set_ticket(&self, id: &str, ticket_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE handoffs SET ticket_id = $2 WHERE id = $1")
            .bind(id)
            .bind(ticket_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn seen_user(&self, id: &str, at: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE handoffs SET user_seen_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn last_message(&self, id: &str) -> Result<Option<HandoffMessage>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, sender, name, text, created_at FROM handoff_messages WHERE handoff_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(message_of).transpose()?)
    }

    async fn add_message(
        &self,
        id: &str,
        sender: Sender,
        name: Option<&str>,
        text: &str,
        at: &str,
    ) -> Result<HandoffMessage, StoreError> {
        for _ in 0..INSERT_TRIES {
            let next =
                sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM handoff_messages WHERE handoff_id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
            let seq: i64 = next.try_get("next")?;
            let inserted = sqlx::query(
                "INSERT INTO handoff_messages (handoff_id, seq, sender, name, text, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(seq)
            .bind(sender.as_str())
            .bind(name)
            .bind(text)
            .bind(at)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => {
                    // A user's own message also proves they are there.
                    let seen = if sender == Sender::User { ", user_seen_at = $2" } else { "" };
                    sqlx::query(&format!("UPDATE handoffs SET last_activity_at = $2{seen} WHERE id = $1"))
                        .bind(id)
                        .bind(at)
                        .execute(&self.pool)
                        .await?;
                    let name = name.map(str::to_owned);
                    return Ok(HandoffMessage { seq, sender, name, text: text.to_owned(), created_at: at.to_owned() });
                }
                // Two writers took the same number; the loser takes the next one.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Stale)
    }

    async fn messages_after(&self, id: &str, after: i64) -> Result<Vec<HandoffMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, sender, name, text, created_at FROM handoff_messages WHERE handoff_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(message_of).collect::<Result<_, _>>()?)
    }

    async fn history(&self, session_id: &str, before: &str, limit: i64) -> Result<Vec<LoggedTurn>, StoreError> {
        let rows = sqlx::query(
            "SELECT text, intent, mode, top_item, created_at FROM question_log WHERE session_id = $1 AND created_at <= $2 \
             ORDER BY created_at DESC LIMIT $3",
        )
        .bind(session_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut turns = rows
            .iter()
            .map(|row| {
                Ok(LoggedTurn {
                    text: row.try_get("text")?,
                    intent: row.try_get("intent")?,
                    mode: row.try_get("mode")?,
                    top_item: row.try_get("top_item")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        turns.reverse();
        Ok(turns)
    }
}
