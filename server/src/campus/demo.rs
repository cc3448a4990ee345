//! Campus data in the server's own database: the demo systems (一卡通, 工资, 校园网, 邮箱, 办件, 消息, seeded from
//! `data/demo/campus.toml`) and the bot's own records (★ favorites, 最近使用, 意见反馈 and 工单, ratings), which every
//! deployment keeps here whatever serves the campus systems.
//!
//! The trait methods are synchronous (the engine calls them from its blocking thread) and run the async queries with
//! `Handle::block_on`; they must never be called from an async task. The server's own async code uses the `*_async`
//! methods.

use bot::campus::{
    Affair, AffairKind, AffairStep, Affairs, CampusError, FeedbackDesk, FeedbackKind, FeedbackRecord, FeedbackStatus,
    Inbox, Mailbox, Message, NetworkAccount, NewFeedback, OneCard, PayItem, Payslip, PersonalData, ServiceRating,
    Shortcut, ShortcutKind, Shortcuts, Spending,
};
use bot::protocol::UserInfo;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::runtime::Handle;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A timestamp that orders 最近使用: the wall clock in milliseconds, but always later than the previous one this
/// process handed out, so "most recent first" holds when two uses fall in the same millisecond (equal stamps would
/// come back in insertion order) or the clock steps back.
fn ordered_now() -> String {
    static LAST_MS: AtomicI64 = AtomicI64::new(0);
    let wall = chrono::Utc::now().timestamp_millis();
    let mut previous = LAST_MS.load(Ordering::Relaxed);
    let stamp = loop {
        let next = wall.max(previous + 1);
        match LAST_MS.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => previous = seen,
        }
    };
    chrono::DateTime::from_timestamp_millis(stamp)
        .map_or_else(now, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn storage(e: impl std::fmt::Display) -> CampusError {
    CampusError::Storage(e.to_string())
}

/// Campus data and portal records in SQL (SQLite or PostgreSQL through `AnyPool`).
#[derive(Clone)]
pub struct SqlCampus {
    pool: AnyPool,
    handle: Handle,
    mail_binding_url: String,
}

impl SqlCampus {
    /// Must be called inside the runtime: the handle is what the blocking calls run their queries on.
    pub fn new(pool: AnyPool, mail_binding_url: String) -> SqlCampus {
        SqlCampus { pool, handle: Handle::current(), mail_binding_url }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn block<T>(&self, fut: impl Future<Output = Result<T, CampusError>>) -> Result<T, CampusError> {
        self.handle.block_on(fut)
    }

    fn affair_from_row(row: &AnyRow) -> Result<Affair, CampusError> {
        let kind: String = row.try_get("kind").map_err(storage)?;
        let steps_json: String = row.try_get("steps_json").map_err(storage)?;
        let steps: Vec<AffairStep> = serde_json::from_str(&steps_json).map_err(storage)?;
        Ok(Affair {
            id: row.try_get("id").map_err(storage)?,
            kind: AffairKind::parse(&kind).ok_or_else(|| storage(format!("unknown affair kind {kind}")))?,
            title: row.try_get("title").map_err(storage)?,
            service: row.try_get("service").map_err(storage)?,
            status: row.try_get("status").map_err(storage)?,
            updated_at: row.try_get("updated_at").map_err(storage)?,
            steps,
        })
    }

    fn feedback_from_row(row: &AnyRow) -> Result<FeedbackRecord, CampusError> {
        let kind: String = row.try_get("kind").map_err(storage)?;
        let status: String = row.try_get("status").map_err(storage)?;
        Ok(FeedbackRecord {
            id: row.try_get("id").map_err(storage)?,
            user_id: row.try_get("user_id").map_err(storage)?,
            kind: FeedbackKind::parse(&kind).ok_or_else(|| storage(format!("unknown feedback kind {kind}")))?,
            content: row.try_get("content").map_err(storage)?,
            contact: row.try_get("contact").map_err(storage)?,
            status: FeedbackStatus::parse(&status)
                .ok_or_else(|| storage(format!("unknown feedback status {status}")))?,
            answer: row.try_get("answer").map_err(storage)?,
            created_at: row.try_get("created_at").map_err(storage)?,
            updated_at: row.try_get("updated_at").map_err(storage)?,
        })
    }

    fn shortcut_from_row(row: &AnyRow) -> Result<Shortcut, CampusError> {
        let kind: String = row.try_get("kind").map_err(storage)?;
        Ok(Shortcut {
            kind: ShortcutKind::parse(&kind).ok_or_else(|| storage(format!("unknown shortcut kind {kind}")))?,
            item: row.try_get("item_id").map_err(storage)?,
            name: row.try_get("name").map_err(storage)?,
            url: row.try_get("url").map_err(storage)?,
        })
    }

    pub async fn one_card_async(&self, user_id: &str) -> Result<OneCard, CampusError> {
        let row = sqlx::query("SELECT balance_cents, transition_cents FROM campus_cards WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        let (balance_cents, transition_cents) = match row {
            Some(r) => (r.try_get("balance_cents").map_err(storage)?, r.try_get("transition_cents").map_err(storage)?),
            None => (0, 0),
        };
        let rows =
            sqlx::query("SELECT at, place, amount_cents FROM campus_spending WHERE user_id = $1 ORDER BY at DESC")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
        let recent = rows
            .iter()
            .map(|r| {
                Ok(Spending {
                    at: r.try_get("at").map_err(storage)?,
                    place: r.try_get("place").map_err(storage)?,
                    amount_cents: r.try_get("amount_cents").map_err(storage)?,
                })
            })
            .collect::<Result<_, CampusError>>()?;
        Ok(OneCard { balance_cents, transition_cents, recent })
    }

    pub async fn payslip_async(&self, user_id: &str) -> Result<Option<Payslip>, CampusError> {
        let row = sqlx::query(
            "SELECT month, gross_cents, deductions_cents, net_cents, items_json FROM campus_payslips WHERE user_id = $1 ORDER BY position DESC",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        let Some(r) = row else { return Ok(None) };
        let items_json: String = r.try_get("items_json").map_err(storage)?;
        let items: Vec<PayItem> = serde_json::from_str(&items_json).map_err(storage)?;
        Ok(Some(Payslip {
            month: r.try_get("month").map_err(storage)?,
            gross_cents: r.try_get("gross_cents").map_err(storage)?,
            deductions_cents: r.try_get("deductions_cents").map_err(storage)?,
            net_cents: r.try_get("net_cents").map_err(storage)?,
            items,
        }))
    }

    pub async fn network_async(&self, user_id: &str) -> Result<NetworkAccount, CampusError> {
        // An f64 on both databases, whatever width the column has (REAL is 4 bytes on PostgreSQL).
        let row = sqlx::query(
            "SELECT balance_cents, CAST(traffic_mb AS DOUBLE PRECISION) AS traffic_mb FROM campus_network WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage)?;
        match row {
            Some(r) => Ok(NetworkAccount {
                balance_cents: r.try_get("balance_cents").map_err(storage)?,
                traffic_mb: r.try_get("traffic_mb").map_err(storage)?,
            }),
            None => Ok(NetworkAccount { balance_cents: 0, traffic_mb: 0.0 }),
        }
    }

    pub async fn mailbox_async(&self, user_id: &str) -> Result<Mailbox, CampusError> {
        let row = sqlx::query("SELECT address, unread FROM campus_mail WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        let (address, unread): (Option<String>, i64) = match row {
            Some(r) => (r.try_get("address").map_err(storage)?, r.try_get("unread").map_err(storage)?),
            None => (None, 0),
        };
        Ok(Mailbox {
            bound: address.is_some(),
            address,
            unread: u32::try_from(unread).unwrap_or(0),
            binding_url: self.mail_binding_url.clone(),
        })
    }

    pub async fn affairs_async(&self, user_id: &str, kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        let rows = sqlx::query(
            "SELECT id, kind, title, service, status, steps_json, updated_at FROM campus_affairs WHERE user_id = $1 AND kind = $2 ORDER BY updated_at DESC",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(Self::affair_from_row).collect()
    }

    /// Adds (or replaces) a 办件 or task of a user.
    pub async fn put_affair(&self, user_id: &str, affair: &Affair) -> Result<(), CampusError> {
        let steps = serde_json::to_string(&affair.steps).map_err(storage)?;
        sqlx::query("DELETE FROM campus_affairs WHERE id = $1")
            .bind(&affair.id)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        sqlx::query(
            "INSERT INTO campus_affairs (id, user_id, kind, title, service, status, steps_json, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&affair.id)
        .bind(user_id)
        .bind(affair.kind.as_str())
        .bind(&affair.title)
        .bind(&affair.service)
        .bind(&affair.status)
        .bind(steps)
        .bind(&affair.updated_at)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    pub async fn messages_async(&self, user_id: &str) -> Result<Vec<Message>, CampusError> {
        let rows =
            sqlx::query("SELECT id, title, body, sender, sent_at, is_read FROM campus_messages WHERE user_id = $1 ORDER BY sent_at DESC")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
        rows.iter()
            .map(|r| {
                let read: i64 = r.try_get("is_read").map_err(storage)?;
                Ok(Message {
                    id: r.try_get("id").map_err(storage)?,
                    title: r.try_get("title").map_err(storage)?,
                    body: r.try_get("body").map_err(storage)?,
                    sender: r.try_get("sender").map_err(storage)?,
                    sent_at: r.try_get("sent_at").map_err(storage)?,
                    read: read != 0,
                })
            })
            .collect()
    }

    /// Adds a message for a user.
    pub async fn put_message(&self, user_id: &str, m: &Message) -> Result<(), CampusError> {
        sqlx::query("INSERT INTO campus_messages (id, user_id, title, body, sender, sent_at, is_read) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&m.id)
            .bind(user_id)
            .bind(&m.title)
            .bind(&m.body)
            .bind(&m.sender)
            .bind(&m.sent_at)
            .bind(i64::from(m.read))
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn mark_read_async(&self, user_id: &str, id: &str) -> Result<bool, CampusError> {
        let exists = sqlx::query("SELECT id FROM campus_messages WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?
            .is_some();
        if exists {
            sqlx::query("UPDATE campus_messages SET is_read = 1 WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(storage)?;
        }
        Ok(exists)
    }

    async fn mark_all_read_async(&self, user_id: &str) -> Result<usize, CampusError> {
        let done = sqlx::query("UPDATE campus_messages SET is_read = 1 WHERE user_id = $1 AND is_read = 0")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn favorites_async(&self, user_id: &str) -> Result<Vec<Shortcut>, CampusError> {
        let rows =
            sqlx::query("SELECT kind, item_id, name, url FROM portal_favorites WHERE user_id = $1 ORDER BY created_at")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(storage)?;
        rows.iter().map(Self::shortcut_from_row).collect()
    }

    async fn add_favorite_async(&self, user_id: &str, s: &Shortcut) -> Result<bool, CampusError> {
        let exists =
            sqlx::query("SELECT item_id FROM portal_favorites WHERE user_id = $1 AND kind = $2 AND item_id = $3")
                .bind(user_id)
                .bind(s.kind.as_str())
                .bind(&s.item)
                .fetch_optional(&self.pool)
                .await
                .map_err(storage)?
                .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query("INSERT INTO portal_favorites (user_id, kind, item_id, name, url, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(user_id)
            .bind(s.kind.as_str())
            .bind(&s.item)
            .bind(&s.name)
            .bind(&s.url)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(true)
    }

    async fn remove_favorite_async(&self, user_id: &str, kind: ShortcutKind, item: &str) -> Result<bool, CampusError> {
        let done = sqlx::query("DELETE FROM portal_favorites WHERE user_id = $1 AND kind = $2 AND item_id = $3")
            .bind(user_id)
            .bind(kind.as_str())
            .bind(item)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    async fn recent_async(&self, user_id: &str, limit: usize) -> Result<Vec<Shortcut>, CampusError> {
        let rows = sqlx::query(
            "SELECT kind, item_id, name, url FROM portal_recent WHERE user_id = $1 ORDER BY used_at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(Self::shortcut_from_row).collect()
    }

    async fn record_use_async(&self, user_id: &str, s: &Shortcut) -> Result<(), CampusError> {
        sqlx::query("DELETE FROM portal_recent WHERE user_id = $1 AND kind = $2 AND item_id = $3")
            .bind(user_id)
            .bind(s.kind.as_str())
            .bind(&s.item)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        sqlx::query(
            "INSERT INTO portal_recent (user_id, kind, item_id, name, url, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_id)
        .bind(s.kind.as_str())
        .bind(&s.item)
        .bind(&s.name)
        .bind(&s.url)
        .bind(ordered_now())
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(())
    }

    pub async fn submit_feedback_async(&self, user_id: &str, f: &NewFeedback) -> Result<FeedbackRecord, CampusError> {
        let prefix = match f.kind {
            FeedbackKind::Feedback => "FK",
            FeedbackKind::Ticket => "GD",
        };
        let stamp = chrono::Utc::now().format("%Y%m%d");
        let random = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{prefix}{stamp}{}", &random[..6]).to_uppercase();
        let at = now();
        sqlx::query(
            "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(f.kind.as_str())
        .bind(&f.content)
        .bind(&f.contact)
        .bind(FeedbackStatus::Submitted.as_str())
        .bind(&at)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        Ok(FeedbackRecord {
            id,
            user_id: user_id.to_owned(),
            kind: f.kind,
            content: f.content.clone(),
            contact: f.contact.clone(),
            status: FeedbackStatus::Submitted,
            answer: None,
            created_at: at.clone(),
            updated_at: at,
        })
    }

    pub async fn my_feedback_async(&self, user_id: &str) -> Result<Vec<FeedbackRecord>, CampusError> {
        let rows = sqlx::query("SELECT * FROM portal_feedback WHERE user_id = $1 ORDER BY created_at DESC")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?;
        rows.iter().map(Self::feedback_from_row).collect()
    }

    /// One feedback by its number, whoever wrote it (for the admin side).
    pub async fn feedback_by_id(&self, id: &str) -> Result<Option<FeedbackRecord>, CampusError> {
        let row = sqlx::query("SELECT * FROM portal_feedback WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(Self::feedback_from_row).transpose()
    }

    /// Records an answer and a status on a feedback; the updated record, or `None` when there is no such number.
    pub async fn answer_feedback(
        &self,
        id: &str,
        answer: &str,
        status: FeedbackStatus,
    ) -> Result<Option<FeedbackRecord>, CampusError> {
        let done = sqlx::query("UPDATE portal_feedback SET answer = $1, status = $2, updated_at = $3 WHERE id = $4")
            .bind(answer)
            .bind(status.as_str())
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.feedback_by_id(id).await
    }

    async fn rate_service_async(&self, user_id: &str, r: &ServiceRating) -> Result<(), CampusError> {
        sqlx::query("INSERT INTO portal_ratings (id, user_id, service_id, stars, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(format!("sr_{}", uuid::Uuid::new_v4().simple()))
            .bind(user_id)
            .bind(&r.service)
            .bind(i64::from(r.stars.clamp(1, 5)))
            .bind(&r.comment)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(storage)?;
        Ok(())
    }
}

impl PersonalData for SqlCampus {
    fn one_card(&self, user: &UserInfo) -> Result<OneCard, CampusError> {
        self.block(self.one_card_async(&user.id))
    }
    fn payslip(&self, user: &UserInfo) -> Result<Option<Payslip>, CampusError> {
        self.block(self.payslip_async(&user.id))
    }
    fn network(&self, user: &UserInfo) -> Result<NetworkAccount, CampusError> {
        self.block(self.network_async(&user.id))
    }
    fn mailbox(&self, user: &UserInfo) -> Result<Mailbox, CampusError> {
        self.block(self.mailbox_async(&user.id))
    }
}

impl Affairs for SqlCampus {
    fn affairs(&self, user: &UserInfo, kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        self.block(self.affairs_async(&user.id, kind))
    }
}

impl Inbox for SqlCampus {
    fn messages(&self, user: &UserInfo) -> Result<Vec<Message>, CampusError> {
        self.block(self.messages_async(&user.id))
    }
    fn mark_read(&self, user: &UserInfo, message: &str) -> Result<bool, CampusError> {
        self.block(self.mark_read_async(&user.id, message))
    }
    fn mark_all_read(&self, user: &UserInfo) -> Result<usize, CampusError> {
        self.block(self.mark_all_read_async(&user.id))
    }
}

impl Shortcuts for SqlCampus {
    fn favorites(&self, user: &UserInfo) -> Result<Vec<Shortcut>, CampusError> {
        self.block(self.favorites_async(&user.id))
    }
    fn add_favorite(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<bool, CampusError> {
        self.block(self.add_favorite_async(&user.id, shortcut))
    }
    fn remove_favorite(&self, user: &UserInfo, kind: ShortcutKind, item: &str) -> Result<bool, CampusError> {
        self.block(self.remove_favorite_async(&user.id, kind, item))
    }
    fn recent(&self, user: &UserInfo, limit: usize) -> Result<Vec<Shortcut>, CampusError> {
        self.block(self.recent_async(&user.id, limit))
    }
    fn record_use(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<(), CampusError> {
        self.block(self.record_use_async(&user.id, shortcut))
    }
}

impl FeedbackDesk for SqlCampus {
    fn submit_feedback(&self, user: &UserInfo, feedback: &NewFeedback) -> Result<FeedbackRecord, CampusError> {
        self.block(self.submit_feedback_async(&user.id, feedback))
    }
    fn my_feedback(&self, user: &UserInfo) -> Result<Vec<FeedbackRecord>, CampusError> {
        self.block(self.my_feedback_async(&user.id))
    }
    fn rate_service(&self, user: &UserInfo, rating: &ServiceRating) -> Result<(), CampusError> {
        self.block(self.rate_service_async(&user.id, rating))
    }
}

#[cfg(test)]
mod tests {
    use super::ordered_now;

    #[test]
    fn ordered_stamps_strictly_increase_even_within_one_millisecond() {
        let stamps: Vec<String> = (0..2000).map(|_| ordered_now()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "stamps must sort in the order they were taken");
    }
}
