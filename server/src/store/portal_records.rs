//! The portal's own records, which every deployment keeps in its database whatever serves the campus systems:
//! ★ favorites and 最近使用 (`portal_favorites`, `portal_recent`), 意见反馈 and 工单 (`portal_feedback`), service
//! ratings (`portal_ratings`), behind [`PortalRecordStore`]; and the notices kept for a user's next login
//! (`portal_notices`), behind [`KeptNoticeStore`].

use super::campus::SqlCampusStore;
use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A ★ favorite or a 最近使用 entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortcutRow {
    /// `bot::campus::ShortcutKind::as_str`.
    pub kind: String,
    pub item_id: String,
    pub name: String,
    pub url: Option<String>,
}

/// A feedback or 工单 as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRow {
    pub id: String,
    pub user_id: String,
    /// `bot::campus::FeedbackKind::as_str`.
    pub kind: String,
    pub content: String,
    pub contact: Option<String>,
    /// `bot::campus::FeedbackStatus::as_str`.
    pub status: String,
    pub answer: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A feedback or 工单 as submitted: not answered yet, and updated when created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedbackRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub content: String,
    pub contact: Option<String>,
    pub status: String,
    pub created_at: String,
}

/// A user's stars for a service.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    pub id: String,
    pub user_id: String,
    pub service_id: String,
    pub stars: i64,
    pub comment: Option<String>,
    pub created_at: String,
}

/// A notice kept for the user's next login.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptNoticeRow {
    pub id: String,
    pub text: String,
    /// The notice's cards, as JSON.
    pub cards_json: String,
}

/// The bot's own records of each user.
#[async_trait::async_trait]
pub trait PortalRecordStore: Send + Sync + 'static {
    /// The user's favorites, oldest first.
    async fn favorites(&self, user_id: &str) -> Result<Vec<ShortcutRow>, StoreError>;
    /// Adds a favorite; `false` (nothing written) when the user has it already.
    async fn add_favorite(&self, user_id: &str, favorite: &ShortcutRow, at: &str) -> Result<bool, StoreError>;
    /// `false` when the user had no such favorite.
    async fn remove_favorite(&self, user_id: &str, kind: &str, item_id: &str) -> Result<bool, StoreError>;
    /// The user's most recently used entries, latest first.
    async fn recent(&self, user_id: &str, limit: i64) -> Result<Vec<ShortcutRow>, StoreError>;
    /// Records a use at `at`, replacing the entry's earlier use.
    async fn record_use(&self, user_id: &str, used: &ShortcutRow, at: &str) -> Result<(), StoreError>;
    async fn insert_feedback(&self, feedback: &NewFeedbackRow) -> Result<(), StoreError>;
    /// The user's feedback, latest first.
    async fn feedback_of_user(&self, user_id: &str) -> Result<Vec<FeedbackRow>, StoreError>;
    /// One feedback by its number, whoever wrote it.
    async fn feedback(&self, id: &str) -> Result<Option<FeedbackRow>, StoreError>;
    /// Records an answer and a status; `false` when there is no feedback with this number.
    async fn answer_feedback(&self, id: &str, answer: &str, status: &str, at: &str) -> Result<bool, StoreError>;
    async fn insert_rating(&self, rating: &RatingRow) -> Result<(), StoreError>;
}

/// Notices kept for users who had no open connection.
#[async_trait::async_trait]
pub trait KeptNoticeStore: Send + Sync + 'static {
    /// Keeps a notice, undelivered, for the user's next login.
    async fn keep_notice(&self, user_id: &str, notice: &KeptNoticeRow, at: &str) -> Result<(), StoreError>;
    /// The user's undelivered notices, oldest first.
    async fn undelivered_notices(&self, user_id: &str) -> Result<Vec<KeptNoticeRow>, StoreError>;
    /// Marks a notice delivered; `false` when it was delivered already (another login or replica took it first).
    async fn take_notice(&self, id: &str) -> Result<bool, StoreError>;
}

fn shortcut_of(row: &AnyRow) -> Result<ShortcutRow, sqlx::Error> {
    Ok(ShortcutRow {
        kind: row.try_get("kind")?,
        item_id: row.try_get("item_id")?,
        name: row.try_get("name")?,
        url: row.try_get("url")?,
    })
}

/// A `portal_feedback` row (every column), for the portal and the admins' inbox alike.
pub(super) fn feedback_of(row: &AnyRow) -> Result<FeedbackRow, sqlx::Error> {
    Ok(FeedbackRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        content: row.try_get("content")?,
        contact: row.try_get("contact")?,
        status: row.try_get("status")?,
        answer: row.try_get("answer")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait::async_trait]
impl PortalRecordStore for SqlCampusStore {
    async fn favorites(&self, user_id: &str) -> Result<Vec<ShortcutRow>, StoreError> {
        let rows =
            sqlx::query("SELECT kind, item_id, name, url FROM portal_favorites WHERE user_id = $1 ORDER BY created_at")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(shortcut_of).collect::<Result<_, _>>()?)
    }

    async fn add_favorite(&self, user_id: &str, s: &ShortcutRow, at: &str) -> Result<bool, StoreError> {
        let exists =
            sqlx::query("SELECT item_id FROM portal_favorites WHERE user_id = $1 AND kind = $2 AND item_id = $3")
                .bind(user_id)
                .bind(&s.kind)
                .bind(&s.item_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query("INSERT INTO portal_favorites (user_id, kind, item_id, name, url, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(user_id)
            .bind(&s.kind)
            .bind(&s.item_id)
            .bind(&s.name)
            .bind(&s.url)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    async fn remove_favorite(&self, user_id: &str, kind: &str, item_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM portal_favorites WHERE user_id = $1 AND kind = $2 AND item_id = $3")
            .bind(user_id)
            .bind(kind)
            .bind(item_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn recent(&self, user_id: &str, limit: i64) -> Result<Vec<ShortcutRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, item_id, name, url FROM portal_recent WHERE user_id = $1 ORDER BY used_at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(shortcut_of).collect::<Result<_, _>>()?)
    }

    async fn record_use(&self, user_id: &str, s: &ShortcutRow, at: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM portal_recent WHERE user_id = $1 AND kind = $2 AND item_id = $3")
            .bind(user_id)
            .bind(&s.kind)
            .bind(&s.item_id)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO portal_recent (user_id, kind, item_id, name, url, used_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user_id)
        .bind(&s.kind)
        .bind(&s.item_id)
        .bind(&s.name)
        .bind(&s.url)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_feedback(&self, f: &NewFeedbackRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7)",
        )
        .bind(&f.id)
        .bind(&f.user_id)
        .bind(&f.kind)
        .bind(&f.content)
        .bind(&f.contact)
        .bind(&f.status)
        .bind(&f.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn feedback_of_user(&self, user_id: &str) -> Result<Vec<FeedbackRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM portal_feedback WHERE user_id = $1 ORDER BY created_at DESC")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(feedback_of).collect::<Result<_, _>>()?)
    }

    async fn feedback(&self, id: &str) -> Result<Option<FeedbackRow>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM portal_feedback WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(feedback_of).transpose()?)
    }

    async fn answer_feedback(&self, id: &str, answer: &str, status: &str, at: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE portal_feedback SET answer = $1, status = $2, updated_at = $3 WHERE id = $4")
            .bind(answer)
            .bind(status)
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_rating(&self, r: &RatingRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO portal_ratings (id, user_id, service_id, stars, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&r.id)
            .bind(&r.user_id)
            .bind(&r.service_id)
            .bind(r.stars)
            .bind(&r.comment)
            .bind(&r.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeptNoticeStore for SqlCampusStore {
    async fn keep_notice(&self, user_id: &str, notice: &KeptNoticeRow, at: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO portal_notices (id, user_id, text, cards_json, delivered, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
            .bind(&notice.id)
            .bind(user_id)
            .bind(&notice.text)
            .bind(&notice.cards_json)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn undelivered_notices(&self, user_id: &str) -> Result<Vec<KeptNoticeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, text, cards_json FROM portal_notices WHERE user_id = $1 AND delivered = 0 ORDER BY created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let notices = rows
            .iter()
            .map(|r| {
                Ok(KeptNoticeRow {
                    id: r.try_get("id")?,
                    text: r.try_get("text")?,
                    cards_json: r.try_get("cards_json")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(notices)
    }

    async fn take_notice(&self, id: &str) -> Result<bool, StoreError> {
        // Conditional, so that a notice is handed out once when two logins (or a replica's push) race for it.
        let taken = sqlx::query("UPDATE portal_notices SET delivered = 1 WHERE id = $1 AND delivered = 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(taken.rows_affected() == 1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqlCampusStore) {
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        (dir, SqlCampusStore::new(sql.pool().clone()))
    }

    #[tokio::test]
    async fn a_kept_notice_is_taken_once() {
        let (_dir, store) = store().await;
        let kept = KeptNoticeRow { id: "nt_1".into(), text: "您有一条新消息".into(), cards_json: "[]".into() };
        store.keep_notice("2021001234", &kept, "2026-12-01T08:00:00.000Z").await.unwrap();
        assert_eq!(store.undelivered_notices("2021001234").await.unwrap(), vec![kept]);
        assert!(store.take_notice("nt_1").await.unwrap());
        assert!(!store.take_notice("nt_1").await.unwrap(), "a second login must not get it again");
        assert!(store.undelivered_notices("2021001234").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_favorite_is_added_once_and_a_use_replaces_the_earlier_one() {
        let (_dir, store) = store().await;
        let card =
            ShortcutRow { kind: "service".into(), item_id: "svc-1".into(), name: "校园卡补办".into(), url: None };
        assert!(store.add_favorite("u1", &card, "2026-12-01T08:00:00.000Z").await.unwrap());
        assert!(!store.add_favorite("u1", &card, "2026-12-01T08:00:01.000Z").await.unwrap());
        assert_eq!(store.favorites("u1").await.unwrap(), vec![card.clone()]);
        assert!(store.remove_favorite("u1", "service", "svc-1").await.unwrap());
        assert!(!store.remove_favorite("u1", "service", "svc-1").await.unwrap());
        let other = ShortcutRow { item_id: "svc-2".into(), name: "成绩单".into(), ..card.clone() };
        store.record_use("u1", &card, "2026-12-01T08:00:00.000Z").await.unwrap();
        store.record_use("u1", &other, "2026-12-01T08:00:01.000Z").await.unwrap();
        store.record_use("u1", &card, "2026-12-01T08:00:02.000Z").await.unwrap();
        assert_eq!(store.recent("u1", 10).await.unwrap(), vec![card, other]);
    }
}
