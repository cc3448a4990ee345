//! Group commit of turns: one writer per store logs the turns waiting in its queue in one transaction.
//!
//! Every turn saves the session's dialogue state and appends to the question log. Done one transaction per
//! turn, 32 concurrent askers on SQLite queue on its single write lock and each pays a commit; the retrieval
//! itself is well under a millisecond. Here the callers hand their turn to one writer task and wait for its
//! outcome: the writer takes everything that queued up while the previous commit ran (up to [`MAX_BATCH`]),
//! writes it in one transaction and then answers each caller. Nobody waits for a timer — a lone turn is committed
//! at once — and a reply is still sent only after its own turn is committed, so the durability guarantee is
//! unchanged. A turn refused by the owner guard is refused alone; a database error in a batch makes the writer
//! retry that batch one turn per transaction, so one bad turn never fails its neighbours.

use super::{QuestionRecord, SessionId, StoreError};
use sqlx::{AnyPool, Row};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Turns waiting for the writer. A full queue makes callers wait (backpressure) rather than grow memory.
const QUEUE_CAPACITY: usize = 1024;
/// Turns committed together at most; bounds how long one transaction holds SQLite's write lock.
const MAX_BATCH: usize = 128;

/// One turn to log, with everything already serialized so the writer only runs SQL.
#[derive(Debug)]
pub(super) struct TurnRow {
    pub session_id: SessionId,
    pub owner: Option<String>,
    pub state_json: String,
    pub question: QuestionRecord,
    pub asker: Option<&'static str>,
    /// The row's version the turn was computed on, when it was computed on a remembered state: the write then
    /// happens only if the row still has it.
    pub expected_version: Option<i64>,
    /// RFC 3339 time the turn was handed in, so the log keeps the askers' order, not the writer's.
    pub at: String,
}

struct Pending {
    row: TurnRow,
    done: oneshot::Sender<Result<i64, StoreError>>,
}

/// The handle to a store's turn writer; cloning the store shares it.
#[derive(Debug, Clone)]
pub(super) struct TurnWriter {
    queue: mpsc::Sender<Pending>,
    /// Transactions this writer ran, for tests; `/metrics` has the process-wide count.
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("session", &self.row.session_id.as_str()).finish_non_exhaustive()
    }
}

impl TurnWriter {
    /// Starts the writer on the current runtime; it ends when the last handle is dropped, after draining its queue.
    pub fn spawn(pool: AnyPool) -> TurnWriter {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, receiver, Arc::clone(&commits)));
        TurnWriter { queue, commits }
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Logs one turn and returns once it is committed (with the row's new version) or refused.
    pub async fn write(&self, row: TurnRow) -> Result<i64, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.queue.send(Pending { row, done }).await.map_err(|_| StoreError::WriterStopped)?;
        outcome.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: AnyPool, mut receiver: mpsc::Receiver<Pending>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        crate::metrics::count_group_commit(batch.len());
        commits.fetch_add(1, Ordering::Relaxed);
        commit(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Commits a batch and answers its callers; on a database error, retries each turn in its own transaction.
async fn commit(pool: &AnyPool, batch: Vec<Pending>) {
    let rows: Vec<&TurnRow> = batch.iter().map(|p| &p.row).collect();
    match write_together(pool, &rows).await {
        Ok(outcomes) => {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                // A caller that went away (its client disconnected) no longer needs the answer.
                let _ = pending.done.send(outcome);
            }
        }
        Err(error) if batch.len() > 1 => {
            tracing::warn!(%error, turns = batch.len(), "a group commit failed; retrying its turns one by one");
            for pending in batch {
                let outcome = match write_together(pool, &[&pending.row]).await {
                    Ok(mut outcomes) => outcomes.pop().unwrap_or(Err(StoreError::WriterStopped)),
                    Err(error) => Err(error),
                };
                let _ = pending.done.send(outcome);
            }
        }
        Err(error) => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.done.send(Err(error));
            }
        }
    }
}

/// Writes the turns in one transaction; the outer error is a database failure (nothing committed), the inner
/// results are each turn's own outcome: the row's new version, or why it was refused (and wrote nothing).
async fn write_together(pool: &AnyPool, rows: &[&TurnRow]) -> Result<Vec<Result<i64, StoreError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        let statement = if row.expected_version.is_some() { SAVE_IF_UNCHANGED } else { SAVE };
        let mut save = sqlx::query(statement)
            .bind(row.session_id.as_str())
            .bind(row.owner.clone())
            .bind(row.state_json.clone())
            .bind(row.at.clone());
        if let Some(version) = row.expected_version {
            save = save.bind(version);
        }
        let Some(saved) = save.fetch_optional(&mut *tx).await? else {
            outcomes.push(Err(if row.expected_version.is_some() { StoreError::Stale } else { StoreError::NotOwner }));
            continue;
        };
        let version: i64 = saved.try_get("version")?;
        let q = &row.question;
        sqlx::query(
            "INSERT INTO question_log \
             (id, session_id, channel, text, intent, mode, top_item, confidence, latency_ms, reply_id, created_at, audience) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(format!("q_{}", uuid::Uuid::new_v4().simple()))
        .bind(row.session_id.as_str())
        .bind(q.channel.as_str())
        .bind(q.text.clone())
        .bind(q.intent.clone())
        .bind(q.mode.as_str())
        .bind(q.top_item.clone())
        .bind(f64::from(q.confidence))
        .bind(i64::try_from(q.latency_ms).unwrap_or(i64::MAX))
        .bind(q.reply_id.clone())
        .bind(row.at.clone())
        .bind(row.asker.map(str::to_owned))
        .execute(&mut *tx)
        .await?;
        outcomes.push(Ok(version));
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The statement that saves a session's state, creating the row on its first turn, with `$extra` added to the
/// update's guard. The owner guard is in the statement itself: a login that bound the session between this turn's
/// read and its write makes the update match nothing, and the turn is refused instead of overwriting the user's
/// state.
macro_rules! save_session {
    ($extra:literal) => {
        concat!(
            "INSERT INTO sessions (id, user_id, state_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (id) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at, \
             version = sessions.version + 1 \
             WHERE (sessions.user_id = excluded.user_id OR (sessions.user_id IS NULL AND excluded.user_id IS NULL))",
            $extra,
            " RETURNING version"
        )
    };
}

const SAVE: &str = save_session!("");
/// [`SAVE`], and only if the row still has the version the turn was computed on (`$5`). A row the retention sweep
/// removed meanwhile is created afresh, as [`SAVE`] would.
const SAVE_IF_UNCHANGED: &str = save_session!(" AND sessions.version = $5");

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{connect, Channel, SessionStore};
    use bot::protocol::Mode;

    fn row(session: &SessionId, owner: Option<&str>, reply_id: &str) -> TurnRow {
        TurnRow {
            session_id: session.clone(),
            owner: owner.map(str::to_owned),
            state_json: "{}".into(),
            question: QuestionRecord {
                channel: Channel::Http,
                text: "校园卡丢了怎么办".into(),
                intent: "service.guide".into(),
                mode: Mode::Answer,
                top_item: None,
                confidence: 0.9,
                latency_ms: 1,
                reply_id: reply_id.into(),
            },
            asker: None,
            expected_version: None,
            at: "2026-12-04T00:00:00.000Z".into(),
        }
    }

    #[tokio::test]
    async fn one_bad_turn_in_a_batch_fails_alone_and_a_refused_one_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let (guest, owned) = (SessionId::generate(), SessionId::generate());
        store.log_turn_for_test(&owned, Some("2021001234"), "r_owned").await;
        let rows = vec![
            row(&guest, None, "r_1"),
            row(&owned, None, "r_refused"), // a guest writing a user's session
            row(&guest, None, "r_1"),       // reply id taken: a database error
            row(&guest, None, "r_2"),
        ];
        let (batch, outcomes): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .map(|row| {
                let (done, outcome) = oneshot::channel();
                (Pending { row, done }, outcome)
            })
            .unzip();
        commit(store.pool(), batch).await;
        let mut results = Vec::new();
        for outcome in outcomes {
            results.push(outcome.await.unwrap());
        }
        assert!(results[0].is_ok(), "{results:?}");
        assert!(matches!(results[1], Err(StoreError::NotOwner)), "{results:?}");
        assert!(matches!(results[2], Err(StoreError::Database(_))), "{results:?}");
        assert!(results[3].is_ok(), "{results:?}");
        assert!(store.reply_in_session("r_1", &guest).await.unwrap());
        assert!(store.reply_in_session("r_2", &guest).await.unwrap());
        assert!(!store.reply_in_session("r_refused", &owned).await.unwrap());
    }

    #[tokio::test]
    async fn concurrent_turns_are_all_committed_in_fewer_transactions_than_turns() {
        let dir = tempfile::tempdir().unwrap();
        let store = connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let sessions: Vec<SessionId> = (0..8).map(|_| SessionId::generate()).collect();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let (store, session) = (store.clone(), sessions[n % sessions.len()].clone());
            tasks.push(tokio::spawn(async move { store.turns.write(row(&session, None, &format!("r_{n}"))).await }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for n in 0..200 {
            assert!(store.reply_in_session(&format!("r_{n}"), &sessions[n % sessions.len()]).await.unwrap());
        }
        let commits = store.turns.commits();
        assert!((1..200).contains(&commits), "200 turns took {commits} transactions");
    }
}
