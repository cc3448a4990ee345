//! The HTTP/JSON connector to the campus systems (一卡通, 财务 payroll, 校园网, 邮箱, 办件, 消息), one base URL and
//! bearer token per system; the contract is `docs/connectors.md`. The bot's own records (favorites, 最近使用,
//! feedback, ratings) stay in the server's database: [`Connected`] puts the two together.
//!
//! Like the demo store, the trait methods block on the runtime handle and must only be called from blocking threads.

use super::config::{CampusSettings, CampusSystems, SystemEndpoint};
use super::demo::SqlCampus;
use bot::campus::{
    Affair, AffairKind, Affairs, CampusError, FeedbackDesk, FeedbackRecord, Inbox, Mailbox, Message, NetworkAccount,
    NewFeedback, OneCard, Payslip, PersonalData, ServiceRating, Shortcut, ShortcutKind, Shortcuts,
};
use bot::protocol::UserInfo;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::future::Future;
use tokio::runtime::Handle;

/// What the mail system says about a mailbox (the binding page is ours to know).
#[derive(Debug, Deserialize)]
struct MailStatus {
    bound: bool,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    unread: u32,
}

/// The answer to 全部已读.
#[derive(Debug, Deserialize)]
struct Marked {
    marked: usize,
}

/// The campus systems over HTTP.
#[derive(Clone)]
pub struct HttpCampus {
    systems: CampusSystems,
    client: reqwest::Client,
    handle: Handle,
    mail_binding_url: String,
}

/// Which system a call goes to, for the endpoint and the error.
#[derive(Debug, Clone, Copy)]
enum System {
    OneCard,
    Payroll,
    Network,
    Mail,
    Affairs,
    Messages,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::OneCard => "onecard",
            System::Payroll => "payroll",
            System::Network => "network",
            System::Mail => "mail",
            System::Affairs => "affairs",
            System::Messages => "messages",
        }
    }
}

impl HttpCampus {
    /// Must be called inside the runtime.
    pub fn new(settings: &CampusSettings) -> Result<HttpCampus, CampusError> {
        let client = reqwest::Client::builder().timeout(settings.timeout()).build().map_err(|e| {
            CampusError::Unavailable { system: "http", reason: format!("cannot build the HTTP client: {e}") }
        })?;
        Ok(HttpCampus {
            systems: settings.systems.clone(),
            client,
            handle: Handle::current(),
            mail_binding_url: settings
                .mail_binding_url
                .clone()
                .unwrap_or_else(|| "https://ehall.tjcu.edu.cn/".to_owned()),
        })
    }

    fn endpoint(&self, system: System) -> Result<&SystemEndpoint, CampusError> {
        let e = match system {
            System::OneCard => &self.systems.onecard,
            System::Payroll => &self.systems.payroll,
            System::Network => &self.systems.network,
            System::Mail => &self.systems.mail,
            System::Affairs => &self.systems.affairs,
            System::Messages => &self.systems.messages,
        };
        e.as_ref().ok_or(CampusError::Unavailable { system: system.name(), reason: "not configured".into() })
    }

    fn block<T>(&self, fut: impl Future<Output = Result<T, CampusError>>) -> Result<T, CampusError> {
        self.handle.block_on(fut)
    }

    /// Calls `{base}/users/{user}{path}`; `Ok(None)` on 404.
    async fn call<T: DeserializeOwned>(
        &self,
        system: System,
        method: Method,
        user: &str,
        path: &str,
    ) -> Result<Option<T>, CampusError> {
        let endpoint = self.endpoint(system)?;
        let url = format!("{}/users/{}{}", endpoint.base_url.trim_end_matches('/'), urlencoding::encode(user), path);
        let unavailable = |reason: String| CampusError::Unavailable { system: system.name(), reason };
        let response = self
            .client
            .request(method, &url)
            .bearer_auth(endpoint.token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if !s.is_success() => return Err(unavailable(format!("HTTP {s}"))),
            _ => {}
        }
        let body = response.bytes().await.map_err(|e| unavailable(e.without_url().to_string()))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| CampusError::Invalid { system: system.name(), reason: e.to_string() })
    }

    async fn get<T: DeserializeOwned>(&self, system: System, user: &str, path: &str) -> Result<T, CampusError> {
        self.call(system, Method::GET, user, path)
            .await?
            .ok_or(CampusError::Unavailable { system: system.name(), reason: "no such user".into() })
    }
}

impl PersonalData for HttpCampus {
    fn one_card(&self, user: &UserInfo) -> Result<OneCard, CampusError> {
        self.block(self.get(System::OneCard, &user.id, "/onecard"))
    }
    fn payslip(&self, user: &UserInfo) -> Result<Option<Payslip>, CampusError> {
        self.block(self.call(System::Payroll, Method::GET, &user.id, "/payslips/latest"))
    }
    fn network(&self, user: &UserInfo) -> Result<NetworkAccount, CampusError> {
        self.block(self.get(System::Network, &user.id, "/network"))
    }
    fn mailbox(&self, user: &UserInfo) -> Result<Mailbox, CampusError> {
        let status: MailStatus = self.block(self.get(System::Mail, &user.id, "/mailbox"))?;
        Ok(Mailbox {
            bound: status.bound,
            address: status.address,
            unread: status.unread,
            binding_url: self.mail_binding_url.clone(),
        })
    }
}

impl Affairs for HttpCampus {
    fn affairs(&self, user: &UserInfo, kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        let list: Vec<Affair> =
            self.block(self.get(System::Affairs, &user.id, &format!("/affairs?kind={}", kind.as_str())))?;
        // A system that ignores the filter must not show one list's items in another.
        Ok(list.into_iter().filter(|a| a.kind == kind).collect())
    }
}

impl Inbox for HttpCampus {
    fn messages(&self, user: &UserInfo) -> Result<Vec<Message>, CampusError> {
        self.block(self.get(System::Messages, &user.id, "/messages"))
    }
    fn mark_read(&self, user: &UserInfo, message: &str) -> Result<bool, CampusError> {
        let path = format!("/messages/{}/read", urlencoding::encode(message));
        let done: Option<serde_json::Value> = self.block(self.call(System::Messages, Method::POST, &user.id, &path))?;
        Ok(done.is_some())
    }
    fn mark_all_read(&self, user: &UserInfo) -> Result<usize, CampusError> {
        let marked: Marked = self.block(self.post_read_all(&user.id))?;
        Ok(marked.marked)
    }
}

impl HttpCampus {
    async fn post_read_all(&self, user: &str) -> Result<Marked, CampusError> {
        self.call(System::Messages, Method::POST, user, "/messages/read-all")
            .await?
            .ok_or(CampusError::Unavailable { system: "messages", reason: "no such user".into() })
    }
}

/// The campus systems over HTTP and the bot's own records in the database, as one [`bot::campus::Campus`].
#[derive(Clone)]
pub struct Connected {
    pub systems: HttpCampus,
    pub local: SqlCampus,
}

impl PersonalData for Connected {
    fn one_card(&self, user: &UserInfo) -> Result<OneCard, CampusError> {
        self.systems.one_card(user)
    }
    fn payslip(&self, user: &UserInfo) -> Result<Option<Payslip>, CampusError> {
        self.systems.payslip(user)
    }
    fn network(&self, user: &UserInfo) -> Result<NetworkAccount, CampusError> {
        self.systems.network(user)
    }
    fn mailbox(&self, user: &UserInfo) -> Result<Mailbox, CampusError> {
        self.systems.mailbox(user)
    }
}

impl Affairs for Connected {
    fn affairs(&self, user: &UserInfo, kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        self.systems.affairs(user, kind)
    }
}

impl Inbox for Connected {
    fn messages(&self, user: &UserInfo) -> Result<Vec<Message>, CampusError> {
        self.systems.messages(user)
    }
    fn mark_read(&self, user: &UserInfo, message: &str) -> Result<bool, CampusError> {
        self.systems.mark_read(user, message)
    }
    fn mark_all_read(&self, user: &UserInfo) -> Result<usize, CampusError> {
        self.systems.mark_all_read(user)
    }
}

impl Shortcuts for Connected {
    fn favorites(&self, user: &UserInfo) -> Result<Vec<Shortcut>, CampusError> {
        self.local.favorites(user)
    }
    fn add_favorite(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<bool, CampusError> {
        self.local.add_favorite(user, shortcut)
    }
    fn remove_favorite(&self, user: &UserInfo, kind: ShortcutKind, item: &str) -> Result<bool, CampusError> {
        self.local.remove_favorite(user, kind, item)
    }
    fn recent(&self, user: &UserInfo, limit: usize) -> Result<Vec<Shortcut>, CampusError> {
        self.local.recent(user, limit)
    }
    fn record_use(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<(), CampusError> {
        self.local.record_use(user, shortcut)
    }
}

impl FeedbackDesk for Connected {
    fn submit_feedback(&self, user: &UserInfo, feedback: &NewFeedback) -> Result<FeedbackRecord, CampusError> {
        self.local.submit_feedback(user, feedback)
    }
    fn my_feedback(&self, user: &UserInfo) -> Result<Vec<FeedbackRecord>, CampusError> {
        self.local.my_feedback(user)
    }
    fn rate_service(&self, user: &UserInfo, rating: &ServiceRating) -> Result<(), CampusError> {
        self.local.rate_service(user, rating)
    }
}
