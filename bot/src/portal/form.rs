//! Multi-turn forms of the portal: 意见反馈 and 工单 (what, optional contact, confirm) and service ratings (stars, an
//! optional comment). The form lives in `DialogueState`, so it survives a reconnect and a server restart.

use super::{cards, Answer, Desk};
use crate::campus::{FeedbackKind, NewFeedback, ServiceRating};
use crate::cards::args1;
use crate::protocol::{Mode, Suggestion};
use crate::state::DialogueState;
use knowledge::Service;
use serde::{Deserialize, Serialize};
use serde_json::Map;

/// Longest feedback text kept, in characters.
const MAX_CONTENT_CHARS: usize = 1000;
/// Longest contact kept, in characters.
const MAX_CONTACT_CHARS: usize = 60;

/// Which question a feedback form asks next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackStep {
    Content,
    Contact,
    Confirm,
}

/// A form in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum Form {
    Feedback {
        kind: FeedbackKind,
        step: FeedbackStep,
        #[serde(default)]
        content: Option<String>,
        #[serde(default)]
        contact: Option<String>,
    },
    /// Rating a service: `stars` is asked first, then an optional comment.
    Rating {
        service: String,
        name: String,
        #[serde(default)]
        stars: Option<u8>,
    },
}

impl Form {
    pub fn label(&self) -> &'static str {
        match self {
            Form::Feedback { kind, .. } => kind.label(),
            Form::Rating { .. } => "评价",
        }
    }
}

fn cancel_suggestion() -> Suggestion {
    Suggestion::text("取消")
}

fn intent_of(kind: FeedbackKind, what: &str) -> String {
    let base = match kind {
        FeedbackKind::Feedback => "feedback",
        FeedbackKind::Ticket => "ticket",
    };
    format!("{base}.{what}")
}

fn ask_content(kind: FeedbackKind) -> Answer {
    let text = match kind {
        FeedbackKind::Feedback => "欢迎提出意见和建议！请用一条消息描述您遇到的问题或建议（例如想要的服务事项找不到、办事指南有误等）：",
        FeedbackKind::Ticket => "好的，我来帮您提交工单。请描述故障或需求：什么设备或系统、在哪里、出现了什么情况：",
    };
    let mut a = Answer::new(intent_of(kind, "start"), text);
    a.suggestions.push(cancel_suggestion());
    a
}

fn ask_contact(kind: FeedbackKind) -> Answer {
    let mut a = Answer::new(intent_of(kind, "contact"), "收到。方便留个联系方式吗？（手机号或邮箱，便于网信办联系您；不需要请回复“跳过”）");
    a.suggestions = vec![Suggestion::action("跳过", "form.skip", Map::new()), cancel_suggestion()];
    a
}

fn ask_confirm(kind: FeedbackKind, content: &str, contact: Option<&str>) -> Answer {
    let text = format!(
        "请确认要提交的{}：\n内容：{}\n联系方式：{}\n回复“确认”提交，“修改”重新填写，或“取消”放弃。",
        kind.label(),
        content,
        contact.unwrap_or("未填写")
    );
    let mut a = Answer::new(intent_of(kind, "confirm"), text);
    a.suggestions = vec![
        Suggestion::action("确认提交", "form.confirm", Map::new()),
        Suggestion::action("修改", "form.edit", Map::new()),
        cancel_suggestion(),
    ];
    a
}

/// Starts a feedback or 工单 form.
pub fn start_feedback(state: &mut DialogueState, kind: FeedbackKind) -> Answer {
    state.form = Some(Form::Feedback { kind, step: FeedbackStep::Content, content: None, contact: None });
    ask_content(kind)
}

fn ask_stars(name: &str) -> Answer {
    let mut a = Answer::new("service.rate.stars", format!("请给「{name}」打分（1-5星）："));
    a.suggestions = (1..=5).rev().map(|n| Suggestion::text(format!("{n}星"))).collect();
    a.suggestions.push(cancel_suggestion());
    a
}

fn ask_comment(name: &str, stars: u8) -> Answer {
    let mut a =
        Answer::new("service.rate.comment", format!("您给「{name}」打了{stars}星。还想说点什么吗？（直接回复评价内容，或回复“跳过”）"));
    a.suggestions = vec![Suggestion::action("跳过", "form.skip", Map::new()), cancel_suggestion()];
    a
}

/// Starts rating a service, with the stars when the user already said them.
pub fn start_rating(state: &mut DialogueState, s: &Service, stars: Option<u8>) -> Answer {
    state.form = Some(Form::Rating { service: s.id.clone(), name: s.name.clone(), stars });
    match stars {
        Some(n) => ask_comment(&s.name, n),
        None => ask_stars(&s.name),
    }
}

fn is_skip(text: &str) -> bool {
    matches!(text.trim().trim_end_matches(['。', '.', '!', '！']), "跳过" | "不用" | "不需要" | "没有" | "无" | "不留" | "不用了" | "skip")
}

fn is_yes(text: &str) -> bool {
    matches!(
        text.trim().trim_end_matches(['。', '.', '!', '！']),
        "确认" | "确认提交" | "提交" | "确定" | "好" | "好的" | "是" | "对" | "ok" | "OK" | "可以"
    )
}

fn is_edit(text: &str) -> bool {
    matches!(text.trim(), "修改" | "重新填写" | "重填" | "改一下")
}

/// A message while a form is open.
pub fn on_text(desk: &Desk<'_>, state: &mut DialogueState, form: Form, text: &str) -> Answer {
    let text = text.trim();
    match form {
        Form::Feedback { kind, step: FeedbackStep::Content, .. } => {
            if text.chars().count() < 2 {
                return ask_content(kind);
            }
            let content: String = text.chars().take(MAX_CONTENT_CHARS).collect();
            state.form = Some(Form::Feedback { kind, step: FeedbackStep::Contact, content: Some(content), contact: None });
            ask_contact(kind)
        }
        Form::Feedback { kind, step: FeedbackStep::Contact, content, .. } => {
            let contact = (!is_skip(text)).then(|| text.chars().take(MAX_CONTACT_CHARS).collect::<String>());
            let content = content.unwrap_or_default();
            let a = ask_confirm(kind, &content, contact.as_deref());
            state.form = Some(Form::Feedback { kind, step: FeedbackStep::Confirm, content: Some(content), contact });
            a
        }
        Form::Feedback { kind, step: FeedbackStep::Confirm, content, contact } => {
            if is_yes(text) {
                submit_feedback(desk, state, kind, content.unwrap_or_default(), contact)
            } else if is_edit(text) {
                start_feedback(state, kind)
            } else {
                let mut a = ask_confirm(kind, content.as_deref().unwrap_or_default(), contact.as_deref());
                a.text = format!("请回复“确认”提交、“修改”重新填写，或“取消”放弃。\n{}", a.text);
                a
            }
        }
        Form::Rating { service, name, stars: None } => match desk.recognizer.portal().stars_in(text) {
            Some(n) => {
                state.form = Some(Form::Rating { service, name: name.clone(), stars: Some(n) });
                ask_comment(&name, n)
            }
            None => {
                let mut a = ask_stars(&name);
                a.text = format!("请回复1到5之间的星级，例如“5星”。{}", a.text);
                a
            }
        },
        Form::Rating { service, name, stars: Some(n) } => {
            let comment = (!is_skip(text)).then(|| text.chars().take(MAX_CONTENT_CHARS).collect::<String>());
            submit_rating(desk, state, &service, &name, n, comment)
        }
    }
}

/// A form button: 跳过, 确认提交, 修改.
pub fn on_action(desk: &Desk<'_>, state: &mut DialogueState, name: &str) -> Option<Answer> {
    let form = state.form.clone()?;
    let said = match name {
        "form.skip" => "跳过",
        "form.confirm" => "确认",
        "form.edit" => "修改",
        _ => return None,
    };
    Some(on_text(desk, state, form, said))
}

fn submit_feedback(desk: &Desk<'_>, state: &mut DialogueState, kind: FeedbackKind, content: String, contact: Option<String>) -> Answer {
    let intent = intent_of(kind, "submitted");
    let (user, campus) = match desk.signed_in(&intent, &format!("提交{}", kind.label())) {
        Ok(x) => x,
        Err(a) => return a,
    };
    match campus.submit_feedback(user, &NewFeedback { kind, content, contact }) {
        Ok(record) => {
            state.form = None;
            let text = format!(
                "已提交{}，编号{}。网信办会尽快处理，有答复时我会通知您；也可以随时问我“我的反馈处理了吗”。",
                kind.label(),
                record.id
            );
            let mut a = Answer::new(intent, text).card(cards::feedback_card(&record));
            a.suggestions.push(Suggestion::text("我的反馈处理了吗"));
            a
        }
        Err(e) => {
            let mut a = desk.unavailable(&intent, &e);
            a.text = format!("抱歉，{}暂时没有提交成功，您填写的内容还在，稍后回复“确认”可以再试。", kind.label());
            a.mode = Mode::Fallback;
            a
        }
    }
}

fn submit_rating(desk: &Desk<'_>, state: &mut DialogueState, service: &str, name: &str, stars: u8, comment: Option<String>) -> Answer {
    let intent = "service.rate.submitted";
    let (user, campus) = match desk.signed_in(intent, "评价服务") {
        Ok(x) => x,
        Err(a) => return a,
    };
    match campus.rate_service(user, &ServiceRating { service: service.to_owned(), stars, comment }) {
        Ok(()) => {
            state.form = None;
            let mut a = Answer::new(intent, format!("感谢您的评价！已记录您给「{name}」的{stars}星。"));
            a.suggestions.push(Suggestion::action("查看办事指南", "item.show", args1("id", service)));
            a
        }
        Err(e) => desk.unavailable(intent, &e),
    }
}
