//! Cards of the portal dialogue: 个人数据 (`account`), 办件 (`task`), 消息 (`message`), 反馈 (`feedback`), lists and
//! the login request.

use crate::campus::{
    yuan, Affair, FeedbackRecord, Mailbox, Message, NetworkAccount, OneCard, Payslip, Shortcut, ShortcutKind,
};
use crate::cards::{args1, truncate_chars};
use crate::protocol::{Card, CardAction, CardKind, Field};
use knowledge::Service;
use serde_json::{Map, Value};

/// Where the login card leads when no other login URL is known (the server's CAS login route).
pub const LOGIN_PATH: &str = "/auth/login";

/// Asks a guest to log in with 统一身份认证.
pub fn login_card(why: &str) -> Card {
    let mut card = Card::new(CardKind::Login, "login", "请先登录");
    card.body = Some(format!(
        "{why}需要先登录。请使用统一身份认证账号登录后再问我；账号和密码只在统一身份认证页面输入，不要发在对话里。"
    ));
    card.actions.push(CardAction::OpenUrl { label: "统一身份认证登录".into(), url: LOGIN_PATH.into() });
    card
}

fn open_action(label: &str, url: Option<&str>) -> Option<CardAction> {
    url.map(|u| CardAction::OpenUrl { label: label.into(), url: u.to_owned() })
}

/// 一卡通: 卡内余额, 过渡余额 and recent spending.
pub fn one_card_card(card: &OneCard, app_url: Option<&str>) -> Card {
    let mut c = Card::new(CardKind::Account, "account:onecard", "一卡通");
    c.fields.push(Field::new("卡内余额", yuan(card.balance_cents)));
    c.fields.push(Field::new("过渡余额", yuan(card.transition_cents)));
    if !card.recent.is_empty() {
        let lines: Vec<String> =
            card.recent.iter().take(5).map(|s| format!("{} {} {}", s.at, s.place, yuan(s.amount_cents))).collect();
        c.fields.push(Field::new("最近消费", lines.join("\n")));
    }
    c.actions.extend(open_action("打开一卡通", app_url));
    c
}

/// The latest payslip.
pub fn payslip_card(slip: &Payslip, app_url: Option<&str>) -> Card {
    let mut c = Card::new(CardKind::Account, "account:salary", "工资");
    c.subtitle = Some(format!("{}份工资", slip.month));
    c.fields.push(Field::new("应发", yuan(slip.gross_cents)));
    c.fields.push(Field::new("扣款", yuan(slip.deductions_cents)));
    c.fields.push(Field::new("实发", yuan(slip.net_cents)));
    for item in &slip.items {
        c.fields.push(Field::new(&item.label, yuan(item.amount_cents)));
    }
    c.actions.extend(open_action("打开财务门户", app_url));
    c
}

/// 我的校园网.
pub fn network_card(account: &NetworkAccount, app_url: Option<&str>) -> Card {
    let mut c = Card::new(CardKind::Account, "account:network", "我的校园网");
    c.fields.push(Field::new("账户余额", yuan(account.balance_cents)));
    c.fields.push(Field::new("流量余额", format!("{:.3}MB", account.traffic_mb)));
    c.actions.extend(open_action("打开校园网自助服务", app_url));
    c
}

/// 邮箱: unread count when bound, else the way to bind one.
pub fn mailbox_card(mail: &Mailbox, app_url: Option<&str>) -> Card {
    let mut c = Card::new(CardKind::Account, "account:mail", "邮箱");
    if mail.bound {
        if let Some(a) = &mail.address {
            c.fields.push(Field::new("邮箱账号", a));
        }
        c.fields.push(Field::new("未读邮件", format!("{}封", mail.unread)));
        c.actions.extend(open_action("打开邮箱", app_url));
    } else {
        c.body = Some("您还没有绑定邮箱。".into());
        c.fields.push(Field::new("状态", "未绑定"));
        c.actions.push(CardAction::OpenUrl { label: "绑定邮箱".into(), url: mail.binding_url.clone() });
    }
    c
}

/// Where a mailbox is bound: the password is typed on that page only.
pub fn bind_mail_card(mail: &Mailbox) -> Card {
    let mut c = Card::new(CardKind::Account, "account:mail-binding", "绑定邮箱");
    c.body =
        Some("在个人数据中心的绑定页面输入邮箱账号（后缀 tjcu.edu.cn）和邮箱密码完成绑定；密码只在该页面输入，请勿发送到对话中。".into());
    c.fields.push(Field::new("状态", if mail.bound { "已绑定" } else { "未绑定" }));
    if let Some(a) = mail.address.as_ref().filter(|_| mail.bound) {
        c.fields.push(Field::new("邮箱账号", a));
    }
    c.actions.push(CardAction::OpenUrl { label: "去绑定邮箱".into(), url: mail.binding_url.clone() });
    c
}

/// A 办件 or task; with `steps`, each step is a field.
pub fn affair_card(a: &Affair, steps: bool) -> Card {
    let mut c = Card::new(CardKind::Task, format!("affair:{}", a.id), &a.title);
    c.subtitle = Some(format!("{} · {}", a.kind.label(), a.status));
    c.fields.push(Field::new("状态", &a.status));
    c.fields.push(Field::new("更新时间", &a.updated_at));
    if steps {
        for (i, s) in a.steps.iter().enumerate() {
            let mut value = s.state.label().to_owned();
            if let Some(by) = &s.by {
                value.push_str(&format!("（{by}）"));
            }
            if let Some(at) = &s.at {
                value.push_str(&format!(" {at}"));
            }
            c.fields.push(Field::new(format!("{}. {}", i + 1, s.name), value));
        }
    } else if !a.steps.is_empty() {
        c.actions.push(CardAction::Action {
            label: "查看进度".into(),
            action: "affair.show".into(),
            args: args1("id", &a.id),
        });
    }
    c
}

/// A 消息通知, with 标为已读 while unread.
pub fn message_card(m: &Message) -> Card {
    let mut c = Card::new(CardKind::Message, format!("message:{}", m.id), &m.title);
    c.subtitle = Some(format!("{} · {}{}", m.sender, m.sent_at, if m.read { "" } else { " · 未读" }));
    c.body = Some(m.body.clone());
    c.fields.push(Field::new("状态", if m.read { "已读" } else { "未读" }));
    if !m.read {
        c.actions.push(CardAction::Action {
            label: "标为已读".into(),
            action: "message.read".into(),
            args: args1("id", &m.id),
        });
    }
    c
}

/// The receipt or status of a feedback or 工单.
pub fn feedback_card(f: &FeedbackRecord) -> Card {
    let mut c = Card::new(CardKind::Feedback, format!("feedback:{}", f.id), format!("{} {}", f.kind.label(), f.id));
    c.subtitle = Some(f.status.label().to_owned());
    c.body = Some(truncate_chars(&f.content, 200));
    c.fields.push(Field::new("编号", &f.id));
    c.fields.push(Field::new("状态", f.status.label()));
    c.fields.push(Field::new("提交时间", &f.created_at));
    if let Some(contact) = &f.contact {
        c.fields.push(Field::new("联系方式", contact));
    }
    if let Some(answer) = &f.answer {
        c.fields.push(Field::new("答复", answer));
    }
    c
}

/// A favorite or recently used entry.
pub fn shortcut_card(s: &Shortcut, favorite: bool) -> Card {
    let kind = match s.kind {
        ShortcutKind::App => CardKind::App,
        ShortcutKind::Service => CardKind::Service,
    };
    let mut c = Card::new(kind, &s.item, &s.name);
    if favorite {
        c.subtitle = Some("★ 已收藏".into());
    }
    if let Some(url) = &s.url {
        let label = if s.kind == ShortcutKind::App { "打开" } else { "在线办理" };
        c.actions.push(CardAction::OpenUrl { label: label.into(), url: url.clone() });
    }
    if favorite {
        c.actions.push(CardAction::Action {
            label: "取消收藏".into(),
            action: "app.unfavorite".into(),
            args: args1("item", &s.item),
        });
    }
    c
}

/// A short service entry of a catalog list.
pub fn service_entry(s: &Service) -> Card {
    let mut c = Card::new(CardKind::Service, &s.id, &s.name);
    c.subtitle = Some(format!("{} · {}", s.department, s.theme));
    c.body = Some(truncate_chars(&s.summary, 60));
    c.actions.push(CardAction::Action {
        label: "办事指南".into(),
        action: "item.show".into(),
        args: args1("id", &s.id),
    });
    if s.online.is_some() {
        c.actions.push(CardAction::Action {
            label: "在线办理".into(),
            action: "service.start".into(),
            args: args1("service", &s.id),
        });
    }
    c
}

/// A `list` card around its members.
pub fn list_card(id: &str, title: &str, subtitle: Option<String>, items: Vec<Card>) -> Card {
    let mut c = Card::new(CardKind::List, id, title);
    c.subtitle = subtitle;
    c.items = items;
    c
}

/// Arguments of the 更多 action of a catalog page.
pub fn more_args(by: &str, value: &str, offset: usize) -> Map<String, Value> {
    let mut m = args1("by", by);
    m.insert("value".into(), Value::String(value.to_owned()));
    m.insert("offset".into(), Value::from(offset));
    m
}
