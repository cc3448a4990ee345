//! Campus data behind traits: 一卡通, 工资, 校园网, 邮箱, 办件 and tasks, 消息通知, ★ favorites, 最近使用, 意见反馈 and
//! 工单, service ratings. The server implements them (demo tables or HTTP connectors); the engine calls them from its
//! blocking thread, always for the session's own user.

use crate::protocol::UserInfo;
use serde::{Deserialize, Serialize};

/// Money in 分 (hundredths of a yuan), so that sums stay exact.
pub type Cents = i64;

/// Formats an amount as the portal shows it: "128.50元", "-56.00元".
pub fn yuan(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}元", abs / 100, abs % 100)
}

/// Why campus data could not be had; the user sees a polite sentence, the log sees this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampusError {
    /// The system holding the data did not answer, or answered with an error.
    #[error("the campus system {system} is unavailable: {reason}")]
    Unavailable { system: &'static str, reason: String },
    /// The system answered with something we cannot read.
    #[error("the campus system {system} answered unreadably: {reason}")]
    Invalid { system: &'static str, reason: String },
    /// The database behind the demo data or the local records failed.
    #[error("campus storage failed: {0}")]
    Storage(String),
}

/// One 一卡通 payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spending {
    /// RFC 3339 or `YYYY-MM-DD HH:MM`, as the system gives it.
    pub at: String,
    pub place: String,
    pub amount_cents: Cents,
}

/// 一卡通: 卡内余额, 过渡余额 (money paid in but not yet on the card) and recent spending, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneCard {
    pub balance_cents: Cents,
    pub transition_cents: Cents,
    #[serde(default)]
    pub recent: Vec<Spending>,
}

/// One line of a payslip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayItem {
    pub label: String,
    pub amount_cents: Cents,
}

/// The latest payslip (工资条).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payslip {
    /// "2021年6月".
    pub month: String,
    pub gross_cents: Cents,
    pub deductions_cents: Cents,
    pub net_cents: Cents,
    #[serde(default)]
    pub items: Vec<PayItem>,
}

/// 我的校园网: 账户余额 and 流量余额.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkAccount {
    pub balance_cents: Cents,
    pub traffic_mb: f64,
}

/// 邮箱: whether one is bound, and its unread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub bound: bool,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub unread: u32,
    /// The portal page where a mailbox is bound (the password is typed there, never in chat).
    pub binding_url: String,
}

/// Which list of 事件跟踪 an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AffairKind {
    /// 进行中办件: started by the user, not finished.
    Ongoing,
    /// 已完成办件.
    Completed,
    /// 待办任务: waiting for the user to act.
    Todo,
    /// 已办任务: acted on by the user.
    Done,
}

impl AffairKind {
    pub const ALL: [AffairKind; 4] = [AffairKind::Ongoing, AffairKind::Completed, AffairKind::Todo, AffairKind::Done];

    pub fn label(self) -> &'static str {
        match self {
            AffairKind::Ongoing => "进行中办件",
            AffairKind::Completed => "已完成办件",
            AffairKind::Todo => "待办任务",
            AffairKind::Done => "已办任务",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AffairKind::Ongoing => "ongoing",
            AffairKind::Completed => "completed",
            AffairKind::Todo => "todo",
            AffairKind::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<AffairKind> {
        AffairKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where one step of a 办件 stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Done,
    Current,
    Pending,
    Rejected,
}

impl StepState {
    pub fn label(self) -> &'static str {
        match self {
            StepState::Done => "已完成",
            StepState::Current => "进行中",
            StepState::Pending => "未开始",
            StepState::Rejected => "未通过",
        }
    }
}

/// One step of a 办件 (学生申请, 辅导员审核, 学院审核 …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffairStep {
    pub name: String,
    pub state: StepState,
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
}

/// A 办件 or task of 事件跟踪.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affair {
    pub id: String,
    pub kind: AffairKind,
    pub title: String,
    /// The service (knowledge id) it was started from, when known.
    #[serde(default)]
    pub service: Option<String>,
    /// "审核中", "已通过", "待处理" …
    pub status: String,
    pub updated_at: String,
    #[serde(default)]
    pub steps: Vec<AffairStep>,
}

/// A 消息通知.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub title: String,
    pub body: String,
    pub sender: String,
    pub sent_at: String,
    pub read: bool,
}

/// What a shortcut opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortcutKind {
    /// A 直通车 app.
    App,
    /// A service's 在线办理.
    Service,
}

impl ShortcutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShortcutKind::App => "app",
            ShortcutKind::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<ShortcutKind> {
        match s {
            "app" => Some(ShortcutKind::App),
            "service" => Some(ShortcutKind::Service),
            _ => None,
        }
    }
}

/// A ★ favorite or a 最近使用 entry: a knowledge item that opens something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortcut {
    pub kind: ShortcutKind,
    /// The knowledge item's id.
    pub item: String,
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// 意见反馈 or 工单.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Feedback,
    Ticket,
}

impl FeedbackKind {
    pub fn label(self) -> &'static str {
        match self {
            FeedbackKind::Feedback => "意见反馈",
            FeedbackKind::Ticket => "工单",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Feedback => "feedback",
            FeedbackKind::Ticket => "ticket",
        }
    }

    pub fn parse(s: &str) -> Option<FeedbackKind> {
        match s {
            "feedback" => Some(FeedbackKind::Feedback),
            "ticket" => Some(FeedbackKind::Ticket),
            _ => None,
        }
    }
}

/// Where a feedback or 工单 stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackStatus {
    /// 已提交, not yet looked at.
    Submitted,
    /// 处理中.
    Processing,
    /// 已答复.
    Answered,
    /// 已关闭.
    Closed,
}

impl FeedbackStatus {
    pub fn label(self) -> &'static str {
        match self {
            FeedbackStatus::Submitted => "已提交，等待处理",
            FeedbackStatus::Processing => "处理中",
            FeedbackStatus::Answered => "已答复",
            FeedbackStatus::Closed => "已关闭",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackStatus::Submitted => "submitted",
            FeedbackStatus::Processing => "processing",
            FeedbackStatus::Answered => "answered",
            FeedbackStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<FeedbackStatus> {
        [FeedbackStatus::Submitted, FeedbackStatus::Processing, FeedbackStatus::Answered, FeedbackStatus::Closed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A feedback or 工单 as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFeedback {
    pub kind: FeedbackKind,
    pub content: String,
    #[serde(default)]
    pub contact: Option<String>,
}

/// A stored feedback or 工单 with its number and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// The number the user quotes: "FK…" or "GD…".
    pub id: String,
    pub user_id: String,
    pub kind: FeedbackKind,
    pub content: String,
    #[serde(default)]
    pub contact: Option<String>,
    pub status: FeedbackStatus,
    #[serde(default)]
    pub answer: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A service rating: 1–5 stars and an optional comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRating {
    pub service: String,
    pub stars: u8,
    #[serde(default)]
    pub comment: Option<String>,
}

/// 个人数据: figures from 一卡通, 财务 (工资), 校园网 and 邮箱.
pub trait PersonalData: Send + Sync {
    fn one_card(&self, user: &UserInfo) -> Result<OneCard, CampusError>;
    /// The latest payslip; `None` when the user has none (students, new staff).
    fn payslip(&self, user: &UserInfo) -> Result<Option<Payslip>, CampusError>;
    fn network(&self, user: &UserInfo) -> Result<NetworkAccount, CampusError>;
    fn mailbox(&self, user: &UserInfo) -> Result<Mailbox, CampusError>;
}

/// 事件跟踪: the user's 办件 and tasks.
pub trait Affairs: Send + Sync {
    /// The user's items of one list, most recently updated first.
    fn affairs(&self, user: &UserInfo, kind: AffairKind) -> Result<Vec<Affair>, CampusError>;
}

/// 消息通知.
pub trait Inbox: Send + Sync {
    /// The user's messages, newest first.
    fn messages(&self, user: &UserInfo) -> Result<Vec<Message>, CampusError>;
    /// Marks one of the user's messages read; `false` when the user has no such message.
    fn mark_read(&self, user: &UserInfo, message: &str) -> Result<bool, CampusError>;
    /// Marks all of the user's messages read; how many were unread.
    fn mark_all_read(&self, user: &UserInfo) -> Result<usize, CampusError>;
}

/// 直通车: ★ favorites and 最近使用.
pub trait Shortcuts: Send + Sync {
    fn favorites(&self, user: &UserInfo) -> Result<Vec<Shortcut>, CampusError>;
    /// Adds a favorite; `false` when it was one already.
    fn add_favorite(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<bool, CampusError>;
    /// Removes a favorite; `false` when it was not one.
    fn remove_favorite(&self, user: &UserInfo, kind: ShortcutKind, item: &str) -> Result<bool, CampusError>;
    /// Most recent first, at most `limit`.
    fn recent(&self, user: &UserInfo, limit: usize) -> Result<Vec<Shortcut>, CampusError>;
    /// Records that the user opened this through the bot.
    fn record_use(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<(), CampusError>;
}

/// 意见反馈, 工单 and service ratings.
pub trait FeedbackDesk: Send + Sync {
    fn submit_feedback(&self, user: &UserInfo, feedback: &NewFeedback) -> Result<FeedbackRecord, CampusError>;
    /// The user's feedback and 工单, newest first.
    fn my_feedback(&self, user: &UserInfo) -> Result<Vec<FeedbackRecord>, CampusError>;
    fn rate_service(&self, user: &UserInfo, rating: &ServiceRating) -> Result<(), CampusError>;
}

/// Everything the portal dialogue needs; implemented by anything that implements the parts.
pub trait Campus: PersonalData + Affairs + Inbox + Shortcuts + FeedbackDesk {}

impl<T: PersonalData + Affairs + Inbox + Shortcuts + FeedbackDesk> Campus for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_as_yuan() {
        assert_eq!(yuan(12850), "128.50元");
        assert_eq!(yuan(-5600), "-56.00元");
        assert_eq!(yuan(5), "0.05元");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in AffairKind::ALL {
            assert_eq!(AffairKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(FeedbackStatus::parse("answered"), Some(FeedbackStatus::Answered));
        assert_eq!(ShortcutKind::parse("app"), Some(ShortcutKind::App));
    }
}
