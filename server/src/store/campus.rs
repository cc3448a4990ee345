//! The demo campus systems' persistence (一卡通 and its spending, 工资条, 校园网, 邮箱, 办件 and tasks, 消息通知:
//! the `campus_*` tables), behind [`CampusSystemsStore`]; and [`CampusStore`], everything the portal keeps, which
//! [`SqlCampusStore`] implements once over the server's pool.
//!
//! Rows mirror their columns: kinds stay the strings the tables hold and JSON columns stay text, so that what they
//! mean (and what an unreadable one is) is decided by the portal (`crate::campus`), not here.

use super::campus_seed::DemoSeedStore;
use super::portal_records::{KeptNoticeStore, PortalRecordStore};
use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The pool type, named here so that the portal can hand it on without depending on the database crate.
pub use sqlx::AnyPool;

/// A user's 一卡通 balances.
#[derive(Debug, Clone, PartialEq)]
pub struct CardRow {
    pub balance_cents: i64,
    pub transition_cents: i64,
}

/// One 一卡通 payment.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendingRow {
    pub at: String,
    pub place: String,
    pub amount_cents: i64,
}

/// One month's 工资条.
#[derive(Debug, Clone, PartialEq)]
pub struct PayslipRow {
    pub month: String,
    pub gross_cents: i64,
    pub deductions_cents: i64,
    pub net_cents: i64,
    /// The line items, as JSON.
    pub items_json: String,
}

/// A user's 校园网 account.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRow {
    pub balance_cents: i64,
    pub traffic_mb: f64,
}

/// A user's 邮箱; no address means not bound yet.
#[derive(Debug, Clone, PartialEq)]
pub struct MailRow {
    pub address: Option<String>,
    pub unread: i64,
}

/// One 办件 or task.
#[derive(Debug, Clone, PartialEq)]
pub struct AffairRow {
    pub id: String,
    /// `bot::campus::AffairKind::as_str`.
    pub kind: String,
    pub title: String,
    pub service: Option<String>,
    pub status: String,
    /// The steps, as JSON.
    pub steps_json: String,
    pub updated_at: String,
}

/// One 消息通知.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub sender: String,
    pub sent_at: String,
    pub read: bool,
}

/// The demo campus systems' data of each user.
#[async_trait::async_trait]
pub trait CampusSystemsStore: Send + Sync + 'static {
    async fn card(&self, user_id: &str) -> Result<Option<CardRow>, StoreError>;
    /// The user's 一卡通 payments, latest first.
    async fn spending(&self, user_id: &str) -> Result<Vec<SpendingRow>, StoreError>;
    /// The user's latest 工资条 (the last one seeded).
    async fn latest_payslip(&self, user_id: &str) -> Result<Option<PayslipRow>, StoreError>;
    async fn network(&self, user_id: &str) -> Result<Option<NetworkRow>, StoreError>;
    async fn mail(&self, user_id: &str) -> Result<Option<MailRow>, StoreError>;
    /// The user's 办件 (or tasks) of one kind, latest update first.
    async fn affairs(&self, user_id: &str, kind: &str) -> Result<Vec<AffairRow>, StoreError>;
    /// Adds a 办件 or task of a user, replacing the one with the same id.
    async fn put_affair(&self, user_id: &str, affair: &AffairRow) -> Result<(), StoreError>;
    /// The user's messages, latest first.
    async fn messages(&self, user_id: &str) -> Result<Vec<MessageRow>, StoreError>;
    async fn put_message(&self, user_id: &str, message: &MessageRow) -> Result<(), StoreError>;
    /// Marks one of the user's messages read; `false` when the user has no message with this id.
    async fn mark_read(&self, user_id: &str, message_id: &str) -> Result<bool, StoreError>;
    /// Marks every unread message of the user read; how many were unread.
    async fn mark_all_read(&self, user_id: &str) -> Result<u64, StoreError>;
}

/// Everything the portal keeps: the demo systems, their seeding, the bot's own records and kept notices.
pub trait CampusStore: CampusSystemsStore + DemoSeedStore + PortalRecordStore + KeptNoticeStore {}

impl<T: CampusSystemsStore + DemoSeedStore + PortalRecordStore + KeptNoticeStore> CampusStore for T {}

/// [`CampusStore`] over the server's pool (SQLite or PostgreSQL).
#[derive(Clone)]
pub struct SqlCampusStore {
    pub(super) pool: AnyPool,
}

impl SqlCampusStore {
    pub fn new(pool: AnyPool) -> SqlCampusStore {
        SqlCampusStore { pool }
    }
}

fn affair_of(row: &AnyRow) -> Result<AffairRow, sqlx::Error> {
    Ok(AffairRow {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        service: row.try_get("service")?,
        status: row.try_get("status")?,
        steps_json: row.try_get("steps_json")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn message_of(row: &AnyRow) -> Result<MessageRow, sqlx::Error> {
    Ok(MessageRow {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        sender: row.try_get("sender")?,
        sent_at: row.try_get("sent_at")?,
        // The column is an INTEGER 0/1.
        read: row.try_get::<i64, _>("is_read")? != 0,
    })
}

#[async_trait::async_trait]
impl CampusSystemsStore for SqlCampusStore {
    async fn card(&self, user_id: &str) -> Result<Option<CardRow>, StoreError> {
        let row = sqlx::query("SELECT balance_cents, transition_cents FROM campus_cards WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let card = row.map(|r| -> Result<CardRow, sqlx::Error> {
            Ok(CardRow { balance_cents: r.try_get("balance_cents")?, transition_cents: r.try_get("transition_cents")? })
        });
        Ok(card.transpose()?)
    }

    async fn spending(&self, user_id: &str) -> Result<Vec<SpendingRow>, StoreError> {
        let rows =
            sqlx::query("SELECT at, place, amount_cents FROM campus_spending WHERE user_id = $1 ORDER BY at DESC")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        let spending = rows
            .iter()
            .map(|r| {
                Ok(SpendingRow {
                    at: r.try_get("at")?,
                    place: r.try_get("place")?,
                    amount_cents: r.try_get("amount_cents")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(spending)
    }

    async fn latest_payslip(&self, user_id: &str) -> Result<Option<PayslipRow>, StoreError> {
        let row = sqlx::query(
            "SELECT month, gross_cents, deductions_cents, net_cents, items_json FROM campus_payslips WHERE user_id = $1 ORDER BY position DESC",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let payslip = row.map(|r| -> Result<PayslipRow, sqlx::Error> {
            Ok(PayslipRow {
                month: r.try_get("month")?,
                gross_cents: r.try_get("gross_cents")?,
                deductions_cents: r.try_get("deductions_cents")?,
                net_cents: r.try_get("net_cents")?,
                items_json: r.try_get("items_json")?,
            })
        });
        Ok(payslip.transpose()?)
    }

    async fn network(&self, user_id: &str) -> Result<Option<NetworkRow>, StoreError> {
        // An f64 on both databases, whatever width the column has (REAL is 4 bytes on PostgreSQL).
        let row = sqlx::query(
            "SELECT balance_cents, CAST(traffic_mb AS DOUBLE PRECISION) AS traffic_mb FROM campus_network WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let network = row.map(|r| -> Result<NetworkRow, sqlx::Error> {
            Ok(NetworkRow { balance_cents: r.try_get("balance_cents")?, traffic_mb: r.try_get("traffic_mb")? })
        });
        Ok(network.transpose()?)
    }

    async fn mail(&self, user_id: &str) -> Result<Option<MailRow>, StoreError> {
        let row = sqlx::query("SELECT address, unread FROM campus_mail WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let mail = row.map(|r| -> Result<MailRow, sqlx::Error> {
            Ok(MailRow { address: r.try_get("address")?, unread: r.try_get("unread")? })
        });
        Ok(mail.transpose()?)
    }

    async fn affairs(&self, user_id: &str, kind: &str) -> Result<Vec<AffairRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, title, service, status, steps_json, updated_at FROM campus_affairs WHERE user_id = $1 AND kind = $2 ORDER BY updated_at DESC",
        )
        .bind(user_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(affair_of).collect::<Result<_, _>>()?)
    }

    async fn put_affair(&self, user_id: &str, affair: &AffairRow) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM campus_affairs WHERE id = $1").bind(&affair.id).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO campus_affairs (id, user_id, kind, title, service, status, steps_json, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&affair.id)
        .bind(user_id)
        .bind(&affair.kind)
        .bind(&affair.title)
        .bind(&affair.service)
        .bind(&affair.status)
        .bind(&affair.steps_json)
        .bind(&affair.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn messages(&self, user_id: &str) -> Result<Vec<MessageRow>, StoreError> {
        let rows =
            sqlx::query("SELECT id, title, body, sender, sent_at, is_read FROM campus_messages WHERE user_id = $1 ORDER BY sent_at DESC")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(message_of).collect::<Result<_, _>>()?)
    }

    async fn put_message(&self, user_id: &str, m: &MessageRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO campus_messages (id, user_id, title, body, sender, sent_at, is_read) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&m.id)
            .bind(user_id)
            .bind(&m.title)
            .bind(&m.body)
            .bind(&m.sender)
            .bind(&m.sent_at)
            .bind(i64::from(m.read))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_read(&self, user_id: &str, message_id: &str) -> Result<bool, StoreError> {
        let exists = sqlx::query("SELECT id FROM campus_messages WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if exists {
            sqlx::query("UPDATE campus_messages SET is_read = 1 WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(message_id)
                .execute(&self.pool)
                .await?;
        }
        Ok(exists)
    }

    async fn mark_all_read(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE campus_messages SET is_read = 1 WHERE user_id = $1 AND is_read = 0")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_round_trip_and_are_marked_read() {
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let store = SqlCampusStore::new(sql.pool().clone());
        let message = MessageRow {
            id: "m1".into(),
            title: "选课通知".into(),
            body: "请于周五前完成选课。".into(),
            sender: "教务处".into(),
            sent_at: "2026-12-01T08:00:00.000Z".into(),
            read: false,
        };
        store.put_message("u1", &message).await.unwrap();
        assert_eq!(store.messages("u1").await.unwrap(), vec![message.clone()]);
        assert!(!store.mark_read("u2", "m1").await.unwrap(), "another user's message is not theirs to mark");
        assert_eq!(store.mark_all_read("u1").await.unwrap(), 1);
        assert_eq!(store.mark_all_read("u1").await.unwrap(), 0);
        assert_eq!(store.messages("u1").await.unwrap(), vec![MessageRow { read: true, ..message }]);
        assert!(store.mark_read("u1", "m1").await.unwrap());
    }
}
