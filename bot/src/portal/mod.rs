//! The portal through dialogue: 个人数据, 事件跟踪, 消息通知, 直通车 (★ and 最近使用), 服务事项中心, 校内新闻, 在线办理,
//! 意见反馈 / 工单 forms and service ratings, for the session's own user only.
//!
//! Personal data is read only for the turn's logged-in user; a guest gets a `login` card, and an account id named in
//! the message that is not the user's own is refused. Nothing here trusts an id from the message.

pub mod cards;
mod catalog;
pub mod form;
mod intercept;
#[cfg(test)]
mod tests;

pub use intercept::{intercept_text, password_refused, Intercept};

use crate::campus::{AffairKind, Campus, CampusError, FeedbackKind, Shortcut, ShortcutKind};
use crate::cards::{args1, contact_card, service_card};
use crate::protocol::{Card, Mode, Role, Suggestion, UserInfo};
use crate::state::DialogueState;
use intents::portal::{AffairQuery, CatalogQuery, PersonalQuery};
use intents::{Intent, PortalIntent, Recognizer};
use knowledge::{Audience, ItemKind, KnowledgeBase, Service};
use serde_json::{Map, Value};

pub use form::Form;

/// Services on one page of a catalog list.
pub const PAGE_SIZE: usize = 8;
/// Entries shown of 最近使用.
const RECENT_SHOWN: usize = 8;

/// What the portal needs for one turn.
pub struct Desk<'a> {
    pub kb: &'a KnowledgeBase,
    pub campus: Option<&'a dyn Campus>,
    pub user: Option<&'a UserInfo>,
    pub recognizer: &'a Recognizer,
}

/// A portal reply, turned into the protocol's `reply` by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub mode: Mode,
    pub intent: String,
    pub text: String,
    pub cards: Vec<Card>,
    pub suggestions: Vec<Suggestion>,
    /// The user's text must not be stored (it seemed to hold a password).
    pub redact: bool,
}

impl Answer {
    pub fn new(intent: impl Into<String>, text: impl Into<String>) -> Answer {
        Answer {
            mode: Mode::Answer,
            intent: intent.into(),
            text: text.into(),
            cards: Vec::new(),
            suggestions: Vec::new(),
            redact: false,
        }
    }

    fn card(mut self, card: Card) -> Answer {
        self.cards.push(card);
        self
    }

    fn suggest(mut self, s: Suggestion) -> Answer {
        self.suggestions.push(s);
        self
    }
}

fn audience_of(role: Role) -> Audience {
    match role {
        Role::Student => Audience::Student,
        Role::Teacher | Role::Staff => Audience::Teacher,
    }
}

fn arg<'a>(args: &'a Map<String, Value>, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl<'a> Desk<'a> {
    /// The user and the campus, or the answer a guest (or a server without campus data) gets instead.
    pub(crate) fn signed_in(&self, intent: &str, why: &str) -> Result<(&'a UserInfo, &'a dyn Campus), Answer> {
        let Some(user) = self.user else {
            return Err(Answer::new(intent, format!("{why}需要先登录统一身份认证，登录后我就能帮您查看。"))
                .card(cards::login_card(why)));
        };
        let Some(campus) = self.campus else {
            let mut a = Answer::new(intent, "抱歉，个人数据服务暂未接入，请稍后再试，或直接登录办事大厅查看。");
            a.mode = Mode::Fallback;
            return Err(a);
        };
        Ok((user, campus))
    }

    pub(crate) fn unavailable(&self, intent: &str, e: &CampusError) -> Answer {
        tracing::warn!(error = %e, intent, "campus data unavailable");
        let mut a = Answer::new(intent, "抱歉，相关系统暂时无法访问，请稍后再试。如问题持续，可联系网信办。");
        a.mode = Mode::Fallback;
        a.cards.extend(self.wxb_contact());
        a
    }

    fn wxb_contact(&self) -> Option<Card> {
        self.kb.department("网信办").map(contact_card)
    }

    fn app_url(&self, name: &str) -> Option<&'a str> {
        self.kb.find(ItemKind::App, name).and_then(|r| self.kb.app(r)).map(|a| a.url.as_str())
    }

    /// Answers a recognized portal intent; `None` lets the engine search instead (a news title or a service
    /// that matches nothing).
    pub fn answer(&self, state: &mut DialogueState, intent: PortalIntent) -> Option<Answer> {
        let name = intent.name();
        let answer = match intent {
            PortalIntent::Personal { query, about } => self.personal(&name, query, about.as_deref()),
            PortalIntent::Summary => self.summary(&name),
            PortalIntent::BindMail => self.bind_mail(&name),
            PortalIntent::PasswordShared => password_refused(),
            PortalIntent::Affairs(q) => self.affairs(&name, q),
            PortalIntent::AffairStatus { subject } => self.affair_status(&name, &subject),
            PortalIntent::Messages => self.messages(&name),
            PortalIntent::MarkAllRead => self.mark_all_read(&name),
            PortalIntent::Favorite { target } if target.is_empty() => {
                match state.current_item.as_deref().and_then(|id| self.kb.by_id(id)).filter(|i| i.kind != ItemKind::Faq)
                {
                    Some(item) => self.favorite(&name, self.kb.item_id(item)),
                    None => Answer::new(&name, "请告诉我要收藏哪个应用或服务，例如“收藏教务系统”。")
                        .suggest(Suggestion::text("我的收藏")),
                }
            }
            PortalIntent::Favorite { target } => self.favorite(&name, &target),
            PortalIntent::Unfavorite { target } => self.unfavorite(&name, &target),
            PortalIntent::Favorites => self.favorites(&name),
            PortalIntent::Recent => self.recent(&name),
            PortalIntent::Catalog(q) => self.catalog(&q, 0),
            PortalIntent::News { words, notices } => return self.news(&name, words.as_deref(), notices),
            PortalIntent::StartService { subject } => {
                let service = self.find_service(&subject)?;
                self.start_service(state, service)
            }
            PortalIntent::FeedbackStatus => self.feedback_status(state, &name),
            PortalIntent::Ticket => self.start_form(state, FeedbackKind::Ticket),
            PortalIntent::Rate { subject, stars } => {
                let service = match subject {
                    Some(s) => self.find_service(&s),
                    None => self.topic_service(state),
                };
                match service {
                    Some(s) => self.start_rating(state, s, stars),
                    None => Answer::new(&name, "请告诉我要评价哪项服务，例如“评价学生助学金申请 5星”。"),
                }
            }
        };
        Some(answer)
    }

    /// Handles a portal button; `None` when the action is not the portal's.
    pub fn action(&self, state: &mut DialogueState, name: &str, args: &Map<String, Value>) -> Option<Answer> {
        let answer = match name {
            "message.read" => self.mark_read(arg(args, "id")),
            "messages.read_all" => self.mark_all_read("portal.messages.read_all"),
            "app.favorite" => {
                let target = if arg(args, "item").is_empty() { arg(args, "app") } else { arg(args, "item") };
                self.favorite("portal.favorite.add", target)
            }
            "app.unfavorite" => {
                let target = if arg(args, "item").is_empty() { arg(args, "app") } else { arg(args, "item") };
                self.unfavorite("portal.favorite.remove", target)
            }
            "service.start" => match self.kb.by_id(arg(args, "service")).and_then(|r| self.kb.service(r)) {
                Some(s) => self.start_service(state, s),
                None => return None,
            },
            "feedback.start" => self.start_form(state, FeedbackKind::Feedback),
            "ticket.start" => self.start_form(state, FeedbackKind::Ticket),
            "feedback.status" => self.feedback_status(state, "feedback.status"),
            "service.rate" => match self.kb.by_id(arg(args, "service")).and_then(|r| self.kb.service(r)) {
                Some(s) => {
                    let stars = args
                        .get("stars")
                        .and_then(Value::as_u64)
                        .and_then(|n| u8::try_from(n).ok())
                        .filter(|n| (1..=5).contains(n));
                    self.start_rating(state, s, stars)
                }
                None => return None,
            },
            "catalog.more" => {
                let offset = args.get("offset").and_then(Value::as_u64).map_or(0, |n| usize::try_from(n).unwrap_or(0));
                let value = arg(args, "value");
                let query = match arg(args, "by") {
                    "audience" => Audience::ALL.into_iter().find(|a| a.label() == value).map(CatalogQuery::Audience),
                    "department" => Some(CatalogQuery::Department(value.to_owned())),
                    "theme" => Some(CatalogQuery::Theme(value.to_owned())),
                    "frequent" => Some(CatalogQuery::Frequent),
                    "apps" => Some(CatalogQuery::Apps),
                    _ => None,
                }?;
                self.catalog(&query, offset)
            }
            "affair.show" => self.affair_show(arg(args, "id")),
            "form.skip" | "form.confirm" | "form.edit" => return form::on_action(self, state, name),
            _ => return None,
        };
        Some(answer)
    }

    fn personal(&self, intent: &str, query: PersonalQuery, about: Option<&str>) -> Answer {
        let why = match query {
            PersonalQuery::OneCard => "查询一卡通余额",
            PersonalQuery::Salary => "查询工资",
            PersonalQuery::Network => "查询校园网账户",
            PersonalQuery::Mail => "查看邮箱",
        };
        let (user, campus) = match self.signed_in(intent, why) {
            Ok(x) => x,
            Err(a) => return a,
        };
        if let Some(other) = about.filter(|id| !id.eq_ignore_ascii_case(&user.id)) {
            tracing::info!(user = %user.id, named = other, "refused a personal query about another account");
            let mut a =
                Answer::new(format!("{intent}.refused"), "抱歉，我只能查询您本人的信息，不能查询其他人的账户。");
            a.mode = Mode::Fallback;
            return a;
        }
        let result = match query {
            PersonalQuery::OneCard => campus.one_card(user).map(|c| {
                let text = format!(
                    "您的一卡通卡内余额{}，过渡余额{}。",
                    crate::campus::yuan(c.balance_cents),
                    crate::campus::yuan(c.transition_cents)
                );
                Answer::new(intent, text).card(cards::one_card_card(&c, self.app_url("一卡通")))
            }),
            PersonalQuery::Salary if user.role == Role::Student => Ok(Answer::new(
                intent,
                "学生没有工资信息。如需查询助学金、奖学金发放情况，可以问我“助学金发放”或联系学院辅导员。",
            )),
            PersonalQuery::Salary => campus.payslip(user).map(|slip| match slip {
                Some(s) => {
                    let text = format!(
                        "您{}份工资实发{}（应发{}，扣款{}）。",
                        s.month,
                        crate::campus::yuan(s.net_cents),
                        crate::campus::yuan(s.gross_cents),
                        crate::campus::yuan(s.deductions_cents)
                    );
                    Answer::new(intent, text).card(cards::payslip_card(&s, self.app_url("财务门户")))
                }
                None => Answer::new(intent, "暂时没有查到您的工资信息，如有疑问请联系财务处。"),
            }),
            PersonalQuery::Network => campus.network(user).map(|n| {
                let text = format!(
                    "您的校园网账户余额{}，流量余额{:.3}MB。",
                    crate::campus::yuan(n.balance_cents),
                    n.traffic_mb
                );
                Answer::new(intent, text).card(cards::network_card(&n, self.app_url("校园网自助服务")))
            }),
            PersonalQuery::Mail => campus.mailbox(user).map(|m| {
                let text = if !m.bound {
                    "您还没有绑定邮箱，点击下方“绑定邮箱”在个人数据中心完成绑定（密码只在绑定页面输入）。".to_owned()
                } else if m.unread == 0 {
                    "您的邮箱没有未读邮件。".to_owned()
                } else {
                    format!("您的邮箱有{}封未读邮件。", m.unread)
                };
                Answer::new(intent, text).card(cards::mailbox_card(&m, self.app_url("邮箱")))
            }),
        };
        result.unwrap_or_else(|e| self.unavailable(intent, &e))
    }

    /// 个人数据 / 我的大学: one card of the user's own figures; a system that does not answer is left out.
    fn summary(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看个人数据") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let mut card = Card::new(crate::protocol::CardKind::Account, "account:summary", "个人数据");
        card.subtitle = Some(format!("{}（{}）", user.name, user.role.label()));
        let yuan = crate::campus::yuan;
        if let Ok(c) = campus.one_card(user) {
            card.fields.push(crate::protocol::Field::new(
                "一卡通余额",
                format!("{}（过渡余额{}）", yuan(c.balance_cents), yuan(c.transition_cents)),
            ));
        }
        if user.role != Role::Student {
            if let Ok(Some(p)) = campus.payslip(user) {
                card.fields.push(crate::protocol::Field::new("工资", format!("{}实发{}", p.month, yuan(p.net_cents))));
            }
        }
        if let Ok(n) = campus.network(user) {
            card.fields.push(crate::protocol::Field::new(
                "校园网",
                format!("余额{}，流量{:.0}MB", yuan(n.balance_cents), n.traffic_mb),
            ));
        }
        if let Ok(m) = campus.mailbox(user) {
            let value = if m.bound { format!("{}封未读", m.unread) } else { "未绑定".to_owned() };
            card.fields.push(crate::protocol::Field::new("邮箱", value));
        }
        for kind in [AffairKind::Todo, AffairKind::Ongoing] {
            if let Ok(list) = campus.affairs(user, kind) {
                card.fields.push(crate::protocol::Field::new(kind.label(), format!("{}件", list.len())));
            }
        }
        if let Ok(list) = campus.messages(user) {
            card.fields.push(crate::protocol::Field::new(
                "未读消息",
                format!("{}条", list.iter().filter(|m| !m.read).count()),
            ));
        }
        if card.fields.is_empty() {
            return self.unavailable(
                intent,
                &CampusError::Unavailable { system: "personal", reason: "no system answered".into() },
            );
        }
        let mut a = Answer::new(intent, "这是您的个人数据概览：").card(card);
        a.suggestions = vec![Suggestion::text("我的待办"), Suggestion::text("我的消息"), Suggestion::text("饭卡余额")];
        a
    }

    fn bind_mail(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "绑定邮箱") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.mailbox(user) {
            Ok(m) => Answer::new(
                intent,
                "请点击下方按钮，在个人数据中心的绑定页面完成邮箱绑定。为了账号安全，请不要在对话中发送邮箱密码。",
            )
            .card(cards::bind_mail_card(&m)),
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn affairs(&self, intent: &str, query: AffairQuery) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看事件跟踪") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let kinds: Vec<AffairKind> = match query {
            AffairQuery::Ongoing => vec![AffairKind::Ongoing],
            AffairQuery::Completed => vec![AffairKind::Completed],
            AffairQuery::Todo => vec![AffairKind::Todo],
            AffairQuery::Done => vec![AffairKind::Done],
            AffairQuery::All => AffairKind::ALL.to_vec(),
        };
        let mut out = Answer::new(intent, String::new());
        let mut counts = Vec::new();
        for kind in kinds {
            let list = match campus.affairs(user, kind) {
                Ok(l) => l,
                Err(e) => return self.unavailable(intent, &e),
            };
            counts.push(format!("{}{}件", kind.label(), list.len()));
            let items: Vec<Card> = list.iter().map(|a| cards::affair_card(a, false)).collect();
            out.cards.push(cards::list_card(
                &format!("affairs:{}", kind.as_str()),
                &format!("{}（{}）", kind.label(), list.len()),
                None,
                items,
            ));
        }
        out.text = format!("您的{}。", counts.join("，"));
        out.suggestions =
            vec![Suggestion::text("我的待办"), Suggestion::text("进行中的办件"), Suggestion::text("已办任务")];
        out
    }

    fn all_affairs(&self, user: &UserInfo, campus: &dyn Campus) -> Result<Vec<crate::campus::Affair>, CampusError> {
        let mut all = Vec::new();
        for kind in AffairKind::ALL {
            all.extend(campus.affairs(user, kind)?);
        }
        Ok(all)
    }

    fn affair_status(&self, intent: &str, subject: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查询办件进度") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let all = match self.all_affairs(user, campus) {
            Ok(a) => a,
            Err(e) => return self.unavailable(intent, &e),
        };
        let key = subject.trim_end_matches("申请").trim_end_matches("的");
        let found = all.iter().filter(|a| a.title.contains(key) || key.contains(a.title.as_str())).max_by_key(|a| {
            // An item still moving is what "到哪一步了" asks about.
            (matches!(a.kind, AffairKind::Ongoing | AffairKind::Todo), a.updated_at.clone())
        });
        match found {
            Some(a) => {
                let current =
                    a.steps.iter().find(|s| s.state == crate::campus::StepState::Current).map(|s| s.name.clone());
                let text = match current {
                    Some(step) => format!("您的「{}」{}，当前在“{}”这一步。", a.title, a.status, step),
                    None => format!("您的「{}」{}。", a.title, a.status),
                };
                Answer::new(intent, text).card(cards::affair_card(a, true))
            }
            None => Answer::new(intent, format!("没有找到与「{subject}」有关的办件。可以看看您进行中的办件："))
                .suggest(Suggestion::text("进行中的办件"))
                .suggest(Suggestion::text("我的待办")),
        }
    }

    fn affair_show(&self, id: &str) -> Answer {
        let intent = "portal.affairs.status";
        let (user, campus) = match self.signed_in(intent, "查询办件进度") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match self.all_affairs(user, campus) {
            Ok(all) => match all.iter().find(|a| a.id == id) {
                Some(a) => {
                    Answer::new(intent, format!("「{}」的办理进度：", a.title)).card(cards::affair_card(a, true))
                }
                None => Answer::new(intent, "没有找到这个办件，它可能已被撤回。"),
            },
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn messages(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看消息通知") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.messages(user) {
            Ok(list) => {
                let unread = list.iter().filter(|m| !m.read).count();
                let text = match (list.len(), unread) {
                    (0, _) => "您还没有消息通知。".to_owned(),
                    (n, 0) => format!("您共有{n}条消息，都已读。"),
                    (n, u) => format!("您共有{n}条消息，其中{u}条未读。"),
                };
                let mut a = Answer::new(intent, text);
                a.cards = list.iter().take(10).map(cards::message_card).collect();
                if unread > 0 {
                    a.suggestions.push(Suggestion::action("全部已读", "messages.read_all", Map::new()));
                }
                a
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn mark_read(&self, id: &str) -> Answer {
        let intent = "portal.messages.read";
        let (user, campus) = match self.signed_in(intent, "查看消息通知") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.mark_read(user, id) {
            Ok(true) => Answer::new(intent, "已标为已读。").suggest(Suggestion::text("我的消息")),
            Ok(false) => Answer::new(intent, "没有找到这条消息。"),
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn mark_all_read(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看消息通知") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.mark_all_read(user) {
            Ok(0) => Answer::new(intent, "您没有未读消息。"),
            Ok(n) => Answer::new(intent, format!("已将{n}条消息全部标为已读。")),
            Err(e) => self.unavailable(intent, &e),
        }
    }

    /// The app or service a name means, preferring what the user's role may use ("教务系统" is the student or the
    /// teacher side by who asks).
    fn find_shortcut(&self, target: &str) -> Option<Shortcut> {
        let t = target.trim().trim_end_matches("吧").trim_end_matches("一下");
        if t.is_empty() {
            return None;
        }
        let audience = self.user.map(|u| audience_of(u.role));
        let fits = |list: &[Audience]| audience.is_none_or(|a| list.is_empty() || list.contains(&a));
        let mut apps: Vec<&knowledge::App> = self
            .kb
            .apps
            .iter()
            .filter(|a| a.id == t || a.name == t || a.name.contains(t) || t.contains(a.name.as_str()))
            .collect();
        apps.sort_by_key(|a| (a.name != t, !fits(&a.audience), a.name.len()));
        if let Some(a) = apps.first() {
            return Some(Shortcut {
                kind: ShortcutKind::App,
                item: a.id.clone(),
                name: a.name.clone(),
                url: Some(a.url.clone()),
            });
        }
        let s = self.find_service(t)?;
        Some(Shortcut {
            kind: ShortcutKind::Service,
            item: s.id.clone(),
            name: s.name.clone(),
            url: self.kb.online_url(s).map(str::to_owned),
        })
    }

    /// The service under discussion: the current item, or the service a FAQ under discussion is about.
    fn topic_service(&self, state: &DialogueState) -> Option<&'a Service> {
        let item = state.current_item.as_deref().and_then(|id| self.kb.by_id(id))?;
        if let Some(s) = self.kb.service(item) {
            return Some(s);
        }
        let name = self.kb.faq(item)?.related_service.as_deref()?;
        self.kb.find(ItemKind::Service, name).and_then(|r| self.kb.service(r))
    }

    fn find_service(&self, subject: &str) -> Option<&'a Service> {
        let t = subject.trim();
        if t.chars().count() < 2 {
            return None;
        }
        let mut found: Vec<&Service> = self
            .kb
            .services
            .iter()
            .filter(|s| s.id == t || s.name == t || s.name.contains(t) || t.contains(s.name.as_str()))
            .collect();
        found.sort_by_key(|s| (s.name != t, s.name.len()));
        found.first().copied()
    }

    fn favorite(&self, intent: &str, target: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "收藏应用") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let Some(shortcut) = self.find_shortcut(target) else {
            return Answer::new(intent, format!("没有找到名为「{target}」的应用或服务，换个名称试试？"))
                .suggest(Suggestion::text("我的收藏"));
        };
        match campus.add_favorite(user, &shortcut) {
            Ok(added) => {
                let text = if added {
                    format!("已收藏「{}」★", shortcut.name)
                } else {
                    format!("「{}」已经在您的收藏里了 ★", shortcut.name)
                };
                Answer::new(intent, text)
                    .card(cards::shortcut_card(&shortcut, true))
                    .suggest(Suggestion::text("我的收藏"))
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn unfavorite(&self, intent: &str, target: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "管理收藏") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let favorites = match campus.favorites(user) {
            Ok(f) => f,
            Err(e) => return self.unavailable(intent, &e),
        };
        // A favorite is removed by what the user sees in their list: its id or name first, then the name lookup.
        let chosen = favorites
            .iter()
            .find(|f| f.item == target || f.name == target)
            .or_else(|| favorites.iter().find(|f| f.name.contains(target)))
            .cloned()
            .or_else(|| self.find_shortcut(target));
        let Some(s) = chosen else {
            return Answer::new(intent, format!("您的收藏里没有「{target}」。")).suggest(Suggestion::text("我的收藏"));
        };
        match campus.remove_favorite(user, s.kind, &s.item) {
            Ok(true) => {
                Answer::new(intent, format!("已取消收藏「{}」。", s.name)).suggest(Suggestion::text("我的收藏"))
            }
            Ok(false) => {
                Answer::new(intent, format!("您的收藏里没有「{}」。", s.name)).suggest(Suggestion::text("我的收藏"))
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn favorites(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看收藏") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.favorites(user) {
            Ok(list) if list.is_empty() => {
                Answer::new(intent, "您还没有收藏应用。可以说“收藏教务系统”，或点应用卡片上的“收藏”。")
                    .suggest(Suggestion::text("收藏教务系统"))
            }
            Ok(list) => {
                let items = list.iter().map(|s| cards::shortcut_card(s, true)).collect();
                Answer::new(intent, format!("您收藏了{}个应用和服务：", list.len())).card(cards::list_card(
                    "favorites",
                    "我的收藏 ★",
                    None,
                    items,
                ))
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    fn recent(&self, intent: &str) -> Answer {
        let (user, campus) = match self.signed_in(intent, "查看最近使用") {
            Ok(x) => x,
            Err(a) => return a,
        };
        match campus.recent(user, RECENT_SHOWN) {
            Ok(list) if list.is_empty() => Answer::new(intent, "您最近还没有通过我打开过应用或服务。"),
            Ok(list) => {
                let items = list.iter().map(|s| cards::shortcut_card(s, false)).collect();
                Answer::new(intent, "您最近使用的应用和服务：").card(cards::list_card(
                    "recent",
                    "最近使用",
                    None,
                    items,
                ))
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    /// Records 最近使用 for an app or service the user opened through the bot; a failure is only logged.
    pub fn record_use(&self, shortcut: &Shortcut) {
        if let (Some(user), Some(campus)) = (self.user, self.campus) {
            if let Err(e) = campus.record_use(user, shortcut) {
                tracing::warn!(error = %e, "could not record a recently used item");
            }
        }
    }

    /// Records 最近使用 for the app a reply opens.
    pub fn record_app_opened(&self, card: &Card) {
        if card.kind != crate::protocol::CardKind::App {
            return;
        }
        if let Some(a) = self.kb.by_id(&card.id).and_then(|r| self.kb.app(r)) {
            self.record_use(&Shortcut {
                kind: ShortcutKind::App,
                item: a.id.clone(),
                name: a.name.clone(),
                url: Some(a.url.clone()),
            });
        }
    }

    /// 在线办理 of a service: a guest is asked to log in, a role the system does not admit is told why (未授权的访问)
    /// and who can help, everyone else gets the way in (and it is recorded as 最近使用).
    pub fn start_service(&self, state: &mut DialogueState, s: &Service) -> Answer {
        let intent = "service.start";
        state.current_item = Some(s.id.clone());
        let (Some(online), Some(url)) = (&s.online, self.kb.online_url(s)) else {
            return Answer::new(intent, format!("「{}」暂不支持在线办理，请到{}现场办理。", s.name, s.contact.office))
                .card(service_card(self.kb, s));
        };
        let Some(user) = self.user else {
            return Answer::new(
                intent,
                format!("「{}」需要登录后在{}在线办理。请先使用统一身份认证登录：", s.name, online.system),
            )
            .card(cards::login_card("在线办理"));
        };
        if let Some(required) = online.requires_role.filter(|r| *r != audience_of(user.role)) {
            let mut a = Answer::new(
                "service.start.unauthorized",
                format!(
                    "「{}」在{}办理，该系统只对{}开放。每个应用系统对账号有权限划分，您以{}身份进入会提示“未授权的访问”，说明此账号没有权限访问该系统。如确需办理，请联系网信办：",
                    s.name,
                    online.system,
                    required.label(),
                    user.role.label()
                ),
            );
            a.cards.extend(self.wxb_contact());
            return a;
        }
        self.record_use(&Shortcut {
            kind: ShortcutKind::Service,
            item: s.id.clone(),
            name: s.name.clone(),
            url: Some(url.to_owned()),
        });
        let mut a =
            Answer::new(intent, format!("可以在线办理「{}」，请点击下方“在线办理”进入{}。", s.name, online.system))
                .card(service_card(self.kb, s));
        a.suggestions.push(Suggestion::action("评价这项服务", "service.rate", args1("service", &s.id)));
        a
    }

    fn feedback_status(&self, state: &mut DialogueState, intent: &str) -> Answer {
        let (user, campus) = match (self.user, state.guest_key.is_some()) {
            (None, true) => match self.feedback_author(state, intent, "查询反馈进度") {
                Ok(x) => x,
                Err(a) => return a,
            },
            (None, false) => {
                return Answer::new(
                    intent,
                    "您在这次对话里还没有提交过意见反馈。登录后提交的反馈，请登录后查看处理进度：",
                )
                .card(cards::login_card("查询反馈进度"))
                .suggest(Suggestion::action("我要反馈", "feedback.start", Map::new()));
            }
            _ => match self.signed_in(intent, "查询反馈进度") {
                Ok((u, c)) => (u.clone(), c),
                Err(a) => return a,
            },
        };
        let user = &user;
        match campus.my_feedback(user) {
            Ok(list) if list.is_empty() => Answer::new(intent, "您还没有提交过意见反馈或工单。")
                .suggest(Suggestion::action("我要反馈", "feedback.start", Map::new())),
            Ok(list) => {
                let latest = &list[0];
                let text = match &latest.answer {
                    Some(answer) => {
                        format!("您最近的{}（{}）{}：{}", latest.kind.label(), latest.id, latest.status.label(), answer)
                    }
                    None => format!("您最近的{}（{}）{}。", latest.kind.label(), latest.id, latest.status.label()),
                };
                let mut a = Answer::new(intent, text);
                a.cards = list.iter().take(5).map(cards::feedback_card).collect();
                a
            }
            Err(e) => self.unavailable(intent, &e),
        }
    }

    pub fn start_form(&self, state: &mut DialogueState, kind: FeedbackKind) -> Answer {
        let intent = match kind {
            FeedbackKind::Feedback => "feedback.start",
            FeedbackKind::Ticket => "ticket.start",
        };
        // Anyone may leave 意见反馈 (a guest's contact is optional); a 工单 needs a login.
        if kind == FeedbackKind::Ticket {
            if let Err(mut a) = self.signed_in(intent, &format!("提交{}", kind.label())) {
                a.cards.extend(self.wxb_contact());
                return a;
            }
        }
        form::start_feedback(state, kind)
    }

    /// Who submits a feedback: the user, or a guest under the session's own guest key.
    pub(crate) fn feedback_author(
        &self,
        state: &mut DialogueState,
        intent: &str,
        why: &str,
    ) -> Result<(UserInfo, &'a dyn Campus), Answer> {
        if self.user.is_some() {
            return self.signed_in(intent, why).map(|(u, c)| (u.clone(), c));
        }
        let Some(campus) = self.campus else {
            let mut a = Answer::new(intent, "抱歉，意见反馈暂时无法提交，请稍后再试，或直接联系网信办：");
            a.mode = Mode::Fallback;
            a.cards.extend(self.wxb_contact());
            return Err(a);
        };
        let key = state.guest_key.get_or_insert_with(|| format!("guest-{}", uuid::Uuid::new_v4().simple())).clone();
        Ok((UserInfo { id: key, name: "游客".into(), role: Role::Student }, campus))
    }

    fn start_rating(&self, state: &mut DialogueState, s: &Service, stars: Option<u8>) -> Answer {
        if let Err(a) = self.signed_in("service.rate", "评价服务") {
            return a;
        }
        form::start_rating(state, s, stars)
    }
}
