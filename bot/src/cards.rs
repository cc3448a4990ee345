//! Builds protocol cards from knowledge items.

use crate::protocol::{Card, CardAction, CardKind, Field, Suggestion};
use knowledge::{App, Department, Faq, ItemKind, ItemRef, KnowledgeBase, News, Service};
use serde_json::{Map, Value};

/// Arguments map with one string entry.
pub fn args1(key: &str, value: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), Value::String(value.to_owned()));
    m
}

fn audience_text(list: &[knowledge::Audience]) -> String {
    list.iter().map(|a| a.label()).collect::<Vec<_>>().join("、")
}

/// A service's phone with its contact person, as one line.
pub fn service_phone(s: &Service) -> String {
    match &s.contact.person {
        Some(p) => format!("{}（{}）", s.contact.phone, p),
        None => s.contact.phone.clone(),
    }
}

/// A service's steps, numbered.
pub fn numbered_steps(s: &Service) -> String {
    s.steps.iter().enumerate().map(|(i, step)| format!("{}. {}", i + 1, step)).collect::<Vec<_>>().join("\n")
}

/// The 办事指南 card of a service.
pub fn service_card(kb: &KnowledgeBase, s: &Service) -> Card {
    let mut card = Card::new(CardKind::Service, &s.id, &s.name);
    card.subtitle = Some(format!("{} · {}", s.department, s.theme));
    card.body = Some(s.summary.clone());
    card.fields.push(Field::new("责任部门", &s.department));
    card.fields.push(Field::new("服务对象", audience_text(&s.audience)));
    card.fields.push(Field::new("服务主题", &s.theme));
    card.fields.push(Field::new("主要业务周期", &s.cycle));
    card.fields.push(Field::new("办理须知", &s.notes));
    if !s.steps.is_empty() {
        card.fields.push(Field::new("办理流程", numbered_steps(s)));
    }
    card.fields.push(Field::new("咨询电话", &s.contact.phone));
    if let Some(p) = &s.contact.person {
        card.fields.push(Field::new("联系人", p));
    }
    card.fields.push(Field::new("办理地点", &s.contact.office));
    if !s.materials.is_empty() {
        card.fields.push(Field::new("相关材料", s.materials.join("、")));
    }
    match (kb.online_url(s), &s.online) {
        (Some(url), Some(online)) => {
            card.fields.push(Field::new("在线办理", &online.system));
            card.actions.push(CardAction::OpenUrl { label: "在线办理".into(), url: url.to_owned() });
        }
        _ => card.fields.push(Field::new("在线办理", "暂不支持在线办理，请按办理地点现场办理")),
    }
    card
}

/// The card of a 直通车 app.
pub fn app_card(a: &App) -> Card {
    let mut card = Card::new(CardKind::App, &a.id, &a.name);
    card.subtitle = Some(a.category.clone());
    card.body = Some(a.description.clone());
    card.fields.push(Field::new("适用对象", audience_text(&a.audience)));
    card.actions.push(CardAction::OpenUrl { label: "打开".into(), url: a.url.clone() });
    card.actions.push(CardAction::Action {
        label: "收藏".into(),
        action: "app.favorite".into(),
        args: args1("app", &a.name),
    });
    card
}

/// The card of a 常见问题.
pub fn faq_card(kb: &KnowledgeBase, f: &Faq) -> Card {
    let mut card = Card::new(CardKind::Faq, &f.id, &f.question);
    card.body = Some(f.answer.clone());
    if let Some(name) = &f.related_service {
        if let Some(s) = kb.find(ItemKind::Service, name).and_then(|r| kb.service(r)) {
            card.actions.push(CardAction::Action {
                label: format!("查看：{}", s.name),
                action: "item.show".into(),
                args: args1("id", &s.id),
            });
        }
    }
    if let Some(name) = &f.related_app {
        if let Some(a) = kb.find(ItemKind::App, name).and_then(|r| kb.app(r)) {
            card.actions.push(CardAction::OpenUrl { label: format!("打开{}", a.name), url: a.url.clone() });
        }
    }
    card
}

/// The card of any retrievable item.
pub fn item_card(kb: &KnowledgeBase, item: ItemRef) -> Option<Card> {
    match item.kind {
        ItemKind::Service => kb.service(item).map(|s| service_card(kb, s)),
        ItemKind::App => kb.app(item).map(app_card),
        ItemKind::Faq => kb.faq(item).map(|f| faq_card(kb, f)),
    }
}

/// A short card for a clarify list: the title and one line, with a button that shows the full item.
pub fn brief_card(kb: &KnowledgeBase, item: ItemRef) -> Option<Card> {
    let mut card = item_card(kb, item)?;
    card.fields.clear();
    card.body = card.body.map(|b| truncate_chars(&b, 60));
    card.actions.retain(|a| matches!(a, crate::protocol::CardAction::OpenUrl { .. }));
    card.actions.insert(
        0,
        CardAction::Action {
            label: "就是这个".into(),
            action: "item.show".into(),
            args: args1("id", kb.item_id(item)),
        },
    );
    Some(card)
}

/// A short card shown after an answer for a close runner-up ("相关"), with a button that shows it in full.
pub fn related_card(kb: &KnowledgeBase, item: ItemRef) -> Option<Card> {
    let mut card = brief_card(kb, item)?;
    if let Some(CardAction::Action { label, .. }) = card.actions.first_mut() {
        *label = "查看".into();
    }
    card.subtitle = Some(match card.subtitle.take() {
        Some(s) if !s.is_empty() => format!("相关 · {s}"),
        _ => "相关".to_owned(),
    });
    Some(card)
}

/// The card of a department's contact details.
pub fn contact_card(d: &Department) -> Card {
    let mut card = Card::new(CardKind::Contact, format!("dept:{}", d.name), &d.name);
    card.fields.push(Field::new("电话", &d.phone));
    card.fields.push(Field::new("地点", &d.office));
    card.fields.push(Field::new("办公时间", &d.hours));
    card
}

/// A news or notice card.
pub fn news_card(n: &News) -> Card {
    let mut card = Card::new(CardKind::News, &n.id, &n.title);
    card.subtitle = Some(format!("{} · {}", n.date, n.category));
    card.body = Some(n.summary.clone());
    card
}

/// Suggestions under a service answer.
pub fn service_suggestions(s: &Service) -> Vec<Suggestion> {
    let mut out =
        vec![Suggestion::text("需要什么材料"), Suggestion::text("办理流程是什么"), Suggestion::text("电话多少")];
    if s.online.is_some() {
        out.push(Suggestion::action("在线办理", "service.start", args1("service", &s.id)));
    }
    out
}

/// Cuts a text to at most `n` characters, marking the cut.
pub fn truncate_chars(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n).collect();
        s.push('…');
        s
    }
}

/// Where the `login` card's button goes; the server adds the session id (when missing) and its own address.
pub const LOGIN_URL: &str = "/auth/login";
/// Where the logout button goes; completed by the server like [`LOGIN_URL`].
pub const LOGOUT_URL: &str = "/auth/logout";

fn with_session(path: &str, session: Option<&str>) -> String {
    // Session ids are `[A-Za-z0-9_-]`; anything else is left for the server to fill in.
    match session.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')) {
        Some(id) => format!("{path}?session={id}"),
        None => path.to_owned(),
    }
}

/// The 统一身份认证 login card: one `open_url` button to `/auth/login?session=<id>` (without a session when the
/// caller does not know it; the server then completes the link for the session the reply goes to).
pub fn login_card(session: Option<&str>) -> Card {
    let mut card = Card::new(CardKind::Login, "login", "统一身份认证登录");
    card.body = Some("使用统一身份认证账号（学工号）和密码登录后，可以查询您的个人数据、待办任务和办件进度。".into());
    card.actions.push(CardAction::OpenUrl { label: "登录".into(), url: with_session(LOGIN_URL, session) });
    card
}

/// The logout card of a logged-in user.
pub fn logout_card(session: Option<&str>) -> Card {
    let mut card = Card::new(CardKind::Login, "logout", "退出登录");
    card.body = Some("退出后将以游客身份继续对话，同时退出统一身份认证。".into());
    card.actions.push(CardAction::OpenUrl { label: "退出登录".into(), url: with_session(LOGOUT_URL, session) });
    card
}
