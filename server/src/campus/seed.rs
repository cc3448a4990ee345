//! Reads `data/demo/campus.toml` and seeds the demo campus tables for each user who has no data there yet.

use super::demo::SqlCampus;
use super::PortalError;
use crate::store::campus::{CardRow, MailRow, NetworkRow, PayslipRow, SpendingRow};
use bot::campus::{Affair, AffairKind, AffairStep, Message, PayItem, Spending};
use serde::Deserialize;
use std::path::Path;

/// The demo file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCampus {
    pub mail_binding_url: String,
    #[serde(default)]
    pub user: Vec<DemoUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    pub id: String,
    pub onecard: DemoCard,
    pub network: DemoNetwork,
    pub mail: DemoMail,
    #[serde(default)]
    pub payslip: Vec<DemoPayslip>,
    #[serde(default)]
    pub affair: Vec<DemoAffair>,
    #[serde(default)]
    pub message: Vec<DemoMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCard {
    pub balance_cents: i64,
    pub transition_cents: i64,
    #[serde(default)]
    pub recent: Vec<Spending>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoNetwork {
    pub balance_cents: i64,
    pub traffic_mb: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoMail {
    #[serde(default)]
    pub address: Option<String>,
    pub unread: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPayslip {
    pub month: String,
    pub gross_cents: i64,
    pub deductions_cents: i64,
    pub net_cents: i64,
    #[serde(default)]
    pub items: Vec<PayItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAffair {
    pub id: String,
    pub kind: AffairKind,
    pub title: String,
    #[serde(default)]
    pub service: Option<String>,
    pub status: String,
    pub updated_at: String,
    #[serde(default)]
    pub steps: Vec<AffairStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoMessage {
    pub id: String,
    pub title: String,
    pub body: String,
    pub sender: String,
    pub sent_at: String,
    #[serde(default)]
    pub read: bool,
}

impl DemoCampus {
    pub fn read(path: &Path) -> Result<DemoCampus, PortalError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PortalError::Demo { path: path.to_owned(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| PortalError::Demo { path: path.to_owned(), message: e.message().to_owned() })
    }
}

/// Seeds every demo user who has no 一卡通 row yet; users seeded before keep their (possibly changed) data.
pub async fn seed(campus: &SqlCampus, demo: &DemoCampus) -> Result<usize, PortalError> {
    let store = campus.store();
    let mut seeded = 0;
    for u in &demo.user {
        if store.has_card(&u.id).await? {
            continue;
        }
        let card = CardRow { balance_cents: u.onecard.balance_cents, transition_cents: u.onecard.transition_cents };
        store.insert_card(&u.id, &card).await?;
        for (i, s) in u.onecard.recent.iter().enumerate() {
            let spending = SpendingRow { at: s.at.clone(), place: s.place.clone(), amount_cents: s.amount_cents };
            store.insert_spending(&format!("{}-sp{i}", u.id), &u.id, &spending).await?;
        }
        let network = NetworkRow { balance_cents: u.network.balance_cents, traffic_mb: u.network.traffic_mb };
        store.insert_network(&u.id, &network).await?;
        store.insert_mail(&u.id, &MailRow { address: u.mail.address.clone(), unread: u.mail.unread }).await?;
        for (i, p) in u.payslip.iter().enumerate() {
            let payslip = PayslipRow {
                month: p.month.clone(),
                gross_cents: p.gross_cents,
                deductions_cents: p.deductions_cents,
                net_cents: p.net_cents,
                items_json: serde_json::to_string(&p.items).map_err(|e| PortalError::Database(e.to_string()))?,
            };
            let position = i64::try_from(i).unwrap_or(0);
            store.insert_payslip(&format!("{}-pay{i}", u.id), &u.id, &payslip, position).await?;
        }
        for a in &u.affair {
            let affair = Affair {
                id: a.id.clone(),
                kind: a.kind,
                title: a.title.clone(),
                service: a.service.clone(),
                status: a.status.clone(),
                updated_at: a.updated_at.clone(),
                steps: a.steps.clone(),
            };
            campus.put_affair(&u.id, &affair).await.map_err(|e| PortalError::Database(e.to_string()))?;
        }
        for m in &u.message {
            let message = Message {
                id: m.id.clone(),
                title: m.title.clone(),
                body: m.body.clone(),
                sender: m.sender.clone(),
                sent_at: m.sent_at.clone(),
                read: m.read,
            };
            campus.put_message(&u.id, &message).await.map_err(|e| PortalError::Database(e.to_string()))?;
        }
        seeded += 1;
    }
    Ok(seeded)
}
