//! The writes that seed a demo user's campus systems (一卡通 and its spending, 校园网, 邮箱, 工资条) from
//! `data/demo/campus.toml`, behind [`DemoSeedStore`]; their 办件 and messages go through
//! [`super::campus::CampusSystemsStore`] like any later ones.

use super::campus::{CardRow, MailRow, NetworkRow, PayslipRow, SpendingRow, SqlCampusStore};
use super::StoreError;

/// Seeding the demo systems, one user at a time.
#[async_trait::async_trait]
pub trait DemoSeedStore: Send + Sync + 'static {
    /// Whether the user has a 一卡通 row, which marks a user seeded before.
    async fn has_card(&self, user_id: &str) -> Result<bool, StoreError>;
    async fn insert_card(&self, user_id: &str, card: &CardRow) -> Result<(), StoreError>;
    async fn insert_spending(&self, id: &str, user_id: &str, spending: &SpendingRow) -> Result<(), StoreError>;
    async fn insert_network(&self, user_id: &str, network: &NetworkRow) -> Result<(), StoreError>;
    async fn insert_mail(&self, user_id: &str, mail: &MailRow) -> Result<(), StoreError>;
    /// A 工资条; the one with the highest `position` is the latest.
    async fn insert_payslip(
        &self,
        id: &str,
        user_id: &str,
        payslip: &PayslipRow,
        position: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl DemoSeedStore for SqlCampusStore {
    async fn has_card(&self, user_id: &str) -> Result<bool, StoreError> {
        let present = sqlx::query("SELECT user_id FROM campus_cards WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(present.is_some())
    }

    async fn insert_card(&self, user_id: &str, card: &CardRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO campus_cards (user_id, balance_cents, transition_cents) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(card.balance_cents)
            .bind(card.transition_cents)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_spending(&self, id: &str, user_id: &str, spending: &SpendingRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO campus_spending (id, user_id, at, place, amount_cents) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(user_id)
            .bind(&spending.at)
            .bind(&spending.place)
            .bind(spending.amount_cents)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_network(&self, user_id: &str, network: &NetworkRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO campus_network (user_id, balance_cents, traffic_mb) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(network.balance_cents)
            .bind(network.traffic_mb)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_mail(&self, user_id: &str, mail: &MailRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO campus_mail (user_id, address, unread) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(&mail.address)
            .bind(mail.unread)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_payslip(
        &self,
        id: &str,
        user_id: &str,
        payslip: &PayslipRow,
        position: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO campus_payslips (id, user_id, month, gross_cents, deductions_cents, net_cents, items_json, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(user_id)
        .bind(&payslip.month)
        .bind(payslip.gross_cents)
        .bind(payslip.deductions_cents)
        .bind(payslip.net_cents)
        .bind(&payslip.items_json)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
