//! Campus data in the server's own database: the demo systems (一卡通, 工资, 校园网, 邮箱, 办件, 消息, seeded from
//! `data/demo/campus.toml`) and the bot's own records (★ favorites, 最近使用, 意见反馈 and 工单, ratings), which every
//! deployment keeps here whatever serves the campus systems. The rows are kept by `store::campus` and
//! `store::portal_records`; this module gives them their meaning.
//!
//! The trait methods are synchronous (the engine calls them from its blocking thread) and run the async queries with
//! `Handle::block_on`; they must never be called from an async task. The server's own async code uses the `*_async`
//! methods.

use crate::store::campus::{AffairRow, AnyPool, CampusStore, MessageRow, SqlCampusStore};
use crate::store::clock::{now, stamp};
use crate::store::portal_records::{FeedbackRow, NewFeedbackRow, RatingRow, ShortcutRow};
use crate::store::StoreError;
use bot::campus::{
    Affair, AffairKind, AffairStep, Affairs, CampusError, FeedbackDesk, FeedbackKind, FeedbackRecord, FeedbackStatus,
    Inbox, Mailbox, Message, NetworkAccount, NewFeedback, OneCard, PayItem, Payslip, PersonalData, ServiceRating,
    Shortcut, ShortcutKind, Shortcuts, Spending,
};
use bot::protocol::UserInfo;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::runtime::Handle;

/// A timestamp that orders 最近使用: the wall clock in milliseconds, but always later than the previous one this
/// process handed out, so "most recent first" holds when two uses fall in the same millisecond (equal stamps would
/// come back in insertion order) or the clock steps back.
fn ordered_now() -> String {
    static LAST_MS: AtomicI64 = AtomicI64::new(0);
    let wall = chrono::Utc::now().timestamp_millis();
    let mut previous = LAST_MS.load(Ordering::Relaxed);
    let next_stamp = loop {
        let next = wall.max(previous + 1);
        match LAST_MS.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => previous = seen,
        }
    };
    chrono::DateTime::from_timestamp_millis(next_stamp).map_or_else(now, stamp)
}

fn storage(e: impl std::fmt::Display) -> CampusError {
    CampusError::Storage(e.to_string())
}

impl From<StoreError> for CampusError {
    fn from(e: StoreError) -> Self {
        storage(e)
    }
}
/// Campus data and portal records in the server's database (SQLite or PostgreSQL), kept by a
/// [`CampusStore`]; this side gives the rows their meaning.
#[derive(Clone)]
pub struct SqlCampus {
    store: Arc<dyn CampusStore>,
    handle: Handle,
    mail_binding_url: String,
}

impl SqlCampus {
    /// Must be called inside the runtime: the handle is what the blocking calls run their queries on.
    pub fn new(pool: AnyPool, mail_binding_url: String) -> SqlCampus {
        SqlCampus { store: Arc::new(SqlCampusStore::new(pool)), handle: Handle::current(), mail_binding_url }
    }

    /// Where the rows are kept (the seeding and the portal's kept notices use it directly).
    pub fn store(&self) -> &dyn CampusStore {
        self.store.as_ref()
    }

    fn block<T>(&self, fut: impl Future<Output = Result<T, CampusError>>) -> Result<T, CampusError> {
        self.handle.block_on(fut)
    }

    fn affair_from_row(row: AffairRow) -> Result<Affair, CampusError> {
        let steps: Vec<AffairStep> = serde_json::from_str(&row.steps_json).map_err(storage)?;
        let kind = row.kind;
        Ok(Affair {
            id: row.id,
            kind: AffairKind::parse(&kind).ok_or_else(|| storage(format!("unknown affair kind {kind}")))?,
            title: row.title,
            service: row.service,
            status: row.status,
            updated_at: row.updated_at,
            steps,
        })
    }

    fn feedback_from_row(row: FeedbackRow) -> Result<FeedbackRecord, CampusError> {
        let (kind, status) = (row.kind, row.status);
        Ok(FeedbackRecord {
            id: row.id,
            user_id: row.user_id,
            kind: FeedbackKind::parse(&kind).ok_or_else(|| storage(format!("unknown feedback kind {kind}")))?,
            content: row.content,
            contact: row.contact,
            status: FeedbackStatus::parse(&status)
                .ok_or_else(|| storage(format!("unknown feedback status {status}")))?,
            answer: row.answer,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    fn shortcut_from_row(row: ShortcutRow) -> Result<Shortcut, CampusError> {
        let kind = row.kind;
        Ok(Shortcut {
            kind: ShortcutKind::parse(&kind).ok_or_else(|| storage(format!("unknown shortcut kind {kind}")))?,
            item: row.item_id,
            name: row.name,
            url: row.url,
        })
    }

    fn shortcut_row(s: &Shortcut) -> ShortcutRow {
        ShortcutRow {
            kind: s.kind.as_str().to_owned(),
            item_id: s.item.clone(),
            name: s.name.clone(),
            url: s.url.clone(),
        }
    }

    pub async fn one_card_async(&self, user_id: &str) -> Result<OneCard, CampusError> {
        let (balance_cents, transition_cents) =
            self.store.card(user_id).await?.map_or((0, 0), |c| (c.balance_cents, c.transition_cents));
        let recent = self
            .store
            .spending(user_id)
            .await?
            .into_iter()
            .map(|s| Spending { at: s.at, place: s.place, amount_cents: s.amount_cents })
            .collect();
        Ok(OneCard { balance_cents, transition_cents, recent })
    }

    pub async fn payslip_async(&self, user_id: &str) -> Result<Option<Payslip>, CampusError> {
        let Some(row) = self.store.latest_payslip(user_id).await? else { return Ok(None) };
        let items: Vec<PayItem> = serde_json::from_str(&row.items_json).map_err(storage)?;
        Ok(Some(Payslip {
            month: row.month,
            gross_cents: row.gross_cents,
            deductions_cents: row.deductions_cents,
            net_cents: row.net_cents,
            items,
        }))
    }

    pub async fn network_async(&self, user_id: &str) -> Result<NetworkAccount, CampusError> {
        Ok(match self.store.network(user_id).await? {
            Some(row) => NetworkAccount { balance_cents: row.balance_cents, traffic_mb: row.traffic_mb },
            None => NetworkAccount { balance_cents: 0, traffic_mb: 0.0 },
        })
    }

    pub async fn mailbox_async(&self, user_id: &str) -> Result<Mailbox, CampusError> {
        let (address, unread) = self.store.mail(user_id).await?.map_or((None, 0), |m| (m.address, m.unread));
        Ok(Mailbox {
            bound: address.is_some(),
            address,
            unread: u32::try_from(unread).unwrap_or(0),
            binding_url: self.mail_binding_url.clone(),
        })
    }

    pub async fn affairs_async(&self, user_id: &str, kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        self.store.affairs(user_id, kind.as_str()).await?.into_iter().map(Self::affair_from_row).collect()
    }

    /// Adds (or replaces) a 办件 or task of a user.
    pub async fn put_affair(&self, user_id: &str, affair: &Affair) -> Result<(), CampusError> {
        let row = AffairRow {
            id: affair.id.clone(),
            kind: affair.kind.as_str().to_owned(),
            title: affair.title.clone(),
            service: affair.service.clone(),
            status: affair.status.clone(),
            steps_json: serde_json::to_string(&affair.steps).map_err(storage)?,
            updated_at: affair.updated_at.clone(),
        };
        Ok(self.store.put_affair(user_id, &row).await?)
    }

    pub async fn messages_async(&self, user_id: &str) -> Result<Vec<Message>, CampusError> {
        let rows = self.store.messages(user_id).await?;
        Ok(rows
            .into_iter()
            .map(|m| Message {
                id: m.id,
                title: m.title,
                body: m.body,
                sender: m.sender,
                sent_at: m.sent_at,
                read: m.read,
            })
            .collect())
    }

    /// Adds a message for a user.
    pub async fn put_message(&self, user_id: &str, m: &Message) -> Result<(), CampusError> {
        let row = MessageRow {
            id: m.id.clone(),
            title: m.title.clone(),
            body: m.body.clone(),
            sender: m.sender.clone(),
            sent_at: m.sent_at.clone(),
            read: m.read,
        };
        Ok(self.store.put_message(user_id, &row).await?)
    }

    async fn mark_read_async(&self, user_id: &str, id: &str) -> Result<bool, CampusError> {
        Ok(self.store.mark_read(user_id, id).await?)
    }

    async fn mark_all_read_async(&self, user_id: &str) -> Result<usize, CampusError> {
        let marked = self.store.mark_all_read(user_id).await?;
        Ok(usize::try_from(marked).unwrap_or(usize::MAX))
    }

    async fn favorites_async(&self, user_id: &str) -> Result<Vec<Shortcut>, CampusError> {
        self.store.favorites(user_id).await?.into_iter().map(Self::shortcut_from_row).collect()
    }

    async fn add_favorite_async(&self, user_id: &str, s: &Shortcut) -> Result<bool, CampusError> {
        Ok(self.store.add_favorite(user_id, &Self::shortcut_row(s), &now()).await?)
    }

    async fn remove_favorite_async(&self, user_id: &str, kind: ShortcutKind, item: &str) -> Result<bool, CampusError> {
        Ok(self.store.remove_favorite(user_id, kind.as_str(), item).await?)
    }

    async fn recent_async(&self, user_id: &str, limit: usize) -> Result<Vec<Shortcut>, CampusError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store.recent(user_id, limit).await?.into_iter().map(Self::shortcut_from_row).collect()
    }

    async fn record_use_async(&self, user_id: &str, s: &Shortcut) -> Result<(), CampusError> {
        Ok(self.store.record_use(user_id, &Self::shortcut_row(s), &ordered_now()).await?)
    }

    pub async fn submit_feedback_async(&self, user_id: &str, f: &NewFeedback) -> Result<FeedbackRecord, CampusError> {
        let prefix = match f.kind {
            FeedbackKind::Feedback => "FK",
            FeedbackKind::Ticket => "GD",
        };
        let day = chrono::Utc::now().format("%Y%m%d");
        let random = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{prefix}{day}{}", &random[..6]).to_uppercase();
        let at = now();
        self.store
            .insert_feedback(&NewFeedbackRow {
                id: id.clone(),
                user_id: user_id.to_owned(),
                kind: f.kind.as_str().to_owned(),
                content: f.content.clone(),
                contact: f.contact.clone(),
                status: FeedbackStatus::Submitted.as_str().to_owned(),
                created_at: at.clone(),
            })
            .await?;
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
        self.store.feedback_of_user(user_id).await?.into_iter().map(Self::feedback_from_row).collect()
    }

    /// One feedback by its number, whoever wrote it (for the admin side).
    pub async fn feedback_by_id(&self, id: &str) -> Result<Option<FeedbackRecord>, CampusError> {
        self.store.feedback(id).await?.map(Self::feedback_from_row).transpose()
    }

    /// Records an answer and a status on a feedback; the updated record, or `None` when there is no such number.
    pub async fn answer_feedback(
        &self,
        id: &str,
        answer: &str,
        status: FeedbackStatus,
    ) -> Result<Option<FeedbackRecord>, CampusError> {
        if !self.store.answer_feedback(id, answer, status.as_str(), &now()).await? {
            return Ok(None);
        }
        self.feedback_by_id(id).await
    }

    async fn rate_service_async(&self, user_id: &str, r: &ServiceRating) -> Result<(), CampusError> {
        let rating = RatingRow {
            id: format!("sr_{}", uuid::Uuid::new_v4().simple()),
            user_id: user_id.to_owned(),
            service_id: r.service.clone(),
            stars: i64::from(r.stars.clamp(1, 5)),
            comment: r.comment.clone(),
            created_at: now(),
        };
        Ok(self.store.insert_rating(&rating).await?)
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
