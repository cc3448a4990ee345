//! The retention sweep: logged questions (with their ratings) and idle guest sessions older than the configured
//! ages are deleted, and handoffs to a person (with their messages) closed as long ago, so what people typed is not kept longer than the service needs it (`docs/deployment.md`).

use crate::settings::Retention;
use sqlx::AnyPool;
use std::time::Duration;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub ratings: u64,
    pub questions: u64,
    pub sessions: u64,
    /// Closed handoffs to a person, with their messages.
    pub handoffs: u64,
}

fn days_ago(now: chrono::DateTime<chrono::Utc>, days: u32) -> String {
    super::clock::stamp(now - chrono::Duration::days(i64::from(days)))
}

/// Deletes, as of `now`: ratings and logged questions older than `question_log_days`; guest sessions unused for
/// `idle_guest_session_days`; guest sessions that never had a turn, after `empty_session_days`. Sessions still
/// referenced by a logged question stay (their log goes first, by age).
pub async fn sweep(
    pool: &AnyPool,
    retention: &Retention,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Swept, sqlx::Error> {
    let log_cutoff = days_ago(now, retention.question_log_days);
    let mut tx = pool.begin().await?;
    let ratings =
        sqlx::query("DELETE FROM ratings WHERE reply_id IN (SELECT reply_id FROM question_log WHERE created_at < $1)")
            .bind(log_cutoff.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query(
        "DELETE FROM handoff_messages WHERE handoff_id IN (SELECT id FROM handoffs WHERE status = 'closed' AND closed_at < $1)",
    )
    .bind(log_cutoff.clone())
    .execute(&mut *tx)
    .await?;
    let handoffs = sqlx::query("DELETE FROM handoffs WHERE status = 'closed' AND closed_at < $1")
        .bind(log_cutoff.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let questions = sqlx::query("DELETE FROM question_log WHERE created_at < $1")
        .bind(log_cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let unreferenced = "NOT EXISTS (SELECT 1 FROM question_log q WHERE q.session_id = sessions.id) \
                        AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.session_id = sessions.id)";
    let idle =
        sqlx::query(&format!("DELETE FROM sessions WHERE user_id IS NULL AND updated_at < $1 AND {unreferenced}"))
            .bind(days_ago(now, retention.idle_guest_session_days))
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let empty =
        sqlx::query(&format!("DELETE FROM sessions WHERE user_id IS NULL AND created_at < $1 AND {unreferenced}"))
            .bind(days_ago(now, retention.empty_session_days))
            .execute(&mut *tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    Ok(Swept { ratings, questions, sessions: idle + empty, handoffs })
}

/// Runs [`sweep`] now and then every `sweep_interval_secs`, for as long as the process lives; failures are logged
/// and retried at the next interval.
pub fn spawn(pool: AnyPool, retention: Retention) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(retention.sweep_interval_secs.max(60));
    tokio::spawn(async move {
        loop {
            match sweep(&pool, &retention, chrono::Utc::now()).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(
                    questions = swept.questions,
                    ratings = swept.ratings,
                    sessions = swept.sessions,
                    handoffs = swept.handoffs,
                    "retention sweep removed old rows"
                ),
                Ok(_) => tracing::debug!("retention sweep: nothing to remove"),
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; retrying at the next interval"),
            }
            tokio::time::sleep(interval).await;
        }
    })
}
