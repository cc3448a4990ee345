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
    /// Whether the step waiting has a 跳过 (the contact, a rating's comment).
    pub fn skippable(&self) -> bool {
        matches!(self, Form::Feedback { step: FeedbackStep::Contact, .. } | Form::Rating { stars: Some(_), .. })
    }

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
        FeedbackKind::Feedback => {
            "欢迎提出意见和建议！请用一条消息描述您遇到的问题或建议（例如想要的服务事项找不到、办事指南有误等）："
        }
        FeedbackKind::Ticket => "好的，我来帮您提交工单。请描述故障或需求：什么设备或系统、在哪里、出现了什么情况：",
    };
    let mut a = Answer::new(intent_of(kind, "start"), text);
    a.suggestions.push(cancel_suggestion());
    a
}

fn ask_contact(kind: FeedbackKind) -> Answer {
    let mut a = Answer::new(
        intent_of(kind, "contact"),
        "收到。方便留个联系方式吗？（手机号或邮箱，便于网信办联系您；不需要请回复“跳过”）",
    );
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
    let mut a = Answer::new(
        "service.rate.comment",
        format!("您给「{name}」打了{stars}星。还想说点什么吗？（直接回复评价内容，或回复“跳过”）"),
    );
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

/// What a form makes of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The form's own reply (the next question, a retry, the submission).
    Reply(Answer),
    /// The message is not for the form (a question): the engine answers it, the form waits with this reminder.
    Leave { reminder: String },
}

fn plain(text: &str) -> &str {
    text.trim().trim_end_matches(['。', '.', '!', '！', '~', '～'])
}

pub fn is_skip(text: &str) -> bool {
    matches!(
        plain(text),
        "跳过"
            | "不用"
            | "不需要"
            | "没有"
            | "无"
            | "不留"
            | "不用了"
            | "skip"
            | "不想留"
            | "不留了"
            | "算了不留"
            | "没有联系方式"
            | "不方便"
    )
}

fn is_yes(text: &str) -> bool {
    matches!(
        plain(text),
        "确认"
            | "确认提交"
            | "提交"
            | "提交吧"
            | "确定"
            | "好"
            | "好的"
            | "是"
            | "对"
            | "ok"
            | "OK"
            | "可以"
            | "没问题"
            | "嗯"
            | "行"
    )
}

fn is_edit(text: &str) -> bool {
    matches!(plain(text), "修改" | "重新填写" | "重填" | "改一下" | "我要修改" | "重写")
}

/// A mobile number, a landline (with or without area code) or an e-mail address: what a contact may be.
pub fn is_contact(text: &str) -> bool {
    let t: String =
        text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '-' | '－' | '(' | ')' | '（' | '）')).collect();
    let t = t
        .trim_start_matches("手机号")
        .trim_start_matches("手机")
        .trim_start_matches("电话")
        .trim_start_matches("邮箱")
        .trim_start_matches(['是', ':', '：']);
    let digits = t.strip_prefix("+86").unwrap_or(t);
    let all_digits = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    if all_digits && (digits.len() == 11 && digits.starts_with('1') || (7..=12).contains(&digits.len())) {
        return true;
    }
    match t.split_once('@') {
        Some((user, host)) => {
            !user.is_empty()
                && host.contains('.')
                && !host.starts_with('.')
                && !host.ends_with('.')
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | '+'))
        }
        None => false,
    }
}

/// Whether a message asks something rather than fills in a step: a question mark or question word, or what the
/// recognizer takes for another request (a personal query, login, help).
fn is_question(desk: &Desk<'_>, text: &str) -> bool {
    use intents::Intent;
    let t = text.trim();
    if t.contains('?') || t.contains('？') {
        return true;
    }
    const WORDS: &[&str] =
        &["怎么", "如何", "哪里", "在哪", "什么", "多少", "几点", "能不能", "可以吗", "是否", "为啥", "有没有", "吗"];
    if WORDS.iter().any(|w| t.contains(w)) {
        return true;
    }
    matches!(
        desk.recognizer.recognize(t),
        Intent::Portal(_) | Intent::Login | Intent::Logout | Intent::HumanHelp | Intent::HumanAgent | Intent::More
    )
}

/// Whether a message plainly starts another request (not something a feedback's content would say).
fn is_other_request(desk: &Desk<'_>, text: &str) -> bool {
    use intents::Intent;
    matches!(
        desk.recognizer.recognize(text),
        Intent::Portal(_)
            | Intent::Login
            | Intent::Logout
            | Intent::HumanHelp
            | Intent::HumanAgent
            | Intent::More
            | Intent::Acknowledge
    )
}

/// What a waiting form says after a question was answered.
fn reminder(form: &Form) -> String {
    match form {
        Form::Feedback { kind, step: FeedbackStep::Content, .. } => {
            format!("（您的{}还在填写中：请描述问题或建议，或回复“取消”。）", kind.label())
        }
        Form::Feedback { kind, step: FeedbackStep::Contact, .. } => {
            format!("（您的{}还没有提交：请留手机号或邮箱，或回复“跳过”“取消”。）", kind.label())
        }
        Form::Feedback { kind, step: FeedbackStep::Confirm, .. } => {
            format!("（您的{}还没有提交：回复“确认”提交，或“取消”放弃。）", kind.label())
        }
        Form::Rating { name, stars: None, .. } => {
            format!("（您对「{name}」的评价还没有完成：请回复1到5星，或“不评了”。）")
        }
        Form::Rating { name, stars: Some(_), .. } => {
            format!("（您对「{name}」的评价还没有提交：回复评价内容，或“跳过”直接提交。）")
        }
    }
}

/// A message while a form is open.
pub fn on_text(desk: &Desk<'_>, state: &mut DialogueState, form: Form, text: &str) -> Step {
    let text = text.trim();
    let leave = |form: &Form| Step::Leave { reminder: reminder(form) };
    let reply = Step::Reply;
    match form {
        Form::Feedback { kind, step: FeedbackStep::Content, .. } => {
            if is_yes(text) || is_skip(text) {
                return reply(ask_content(kind));
            }
            if is_other_request(desk, text) {
                return leave(&form);
            }
            if text.chars().count() < 2 {
                return reply(ask_content(kind));
            }
            let content: String = text.chars().take(MAX_CONTENT_CHARS).collect();
            state.form =
                Some(Form::Feedback { kind, step: FeedbackStep::Contact, content: Some(content), contact: None });
            reply(ask_contact(kind))
        }
        Form::Feedback { kind, step: FeedbackStep::Contact, ref content, .. } => {
            let contact = if is_skip(text) || is_yes(text) {
                None
            } else if is_contact(text) {
                Some(text.chars().take(MAX_CONTACT_CHARS).collect::<String>())
            } else if is_question(desk, text) || is_other_request(desk, text) {
                return leave(&form);
            } else {
                let mut a = ask_contact(kind);
                a.text = format!("这看起来不是手机号或邮箱。{}", a.text);
                return reply(a);
            };
            let content = content.clone().unwrap_or_default();
            let a = ask_confirm(kind, &content, contact.as_deref());
            state.form = Some(Form::Feedback { kind, step: FeedbackStep::Confirm, content: Some(content), contact });
            reply(a)
        }
        Form::Feedback { kind, step: FeedbackStep::Confirm, ref content, ref contact } => {
            if is_yes(text) {
                reply(submit_feedback(desk, state, kind, content.clone().unwrap_or_default(), contact.clone()))
            } else if is_edit(text) {
                reply(start_feedback(state, kind))
            } else if is_question(desk, text) || is_other_request(desk, text) {
                leave(&form)
            } else {
                let mut a = ask_confirm(kind, content.as_deref().unwrap_or_default(), contact.as_deref());
                a.text = format!("请回复“确认”提交、“修改”重新填写，或“取消”放弃。\n{}", a.text);
                reply(a)
            }
        }
        Form::Rating { ref service, ref name, stars: None } => match desk.recognizer.portal().stars_in(text) {
            Some(n) => {
                state.form = Some(Form::Rating { service: service.clone(), name: name.clone(), stars: Some(n) });
                reply(ask_comment(name, n))
            }
            None if is_question(desk, text) || is_other_request(desk, text) || text.chars().count() > 6 => leave(&form),
            None => {
                let mut a = ask_stars(name);
                a.text = format!("请回复1到5之间的星级，例如“5星”。{}", a.text);
                reply(a)
            }
        },
        Form::Rating { ref service, ref name, stars: Some(n) } => {
            if is_question(desk, text) || (is_other_request(desk, text) && !is_yes(text)) {
                return leave(&form);
            }
            let comment =
                (!is_skip(text) && !is_yes(text)).then(|| text.chars().take(MAX_CONTENT_CHARS).collect::<String>());
            reply(submit_rating(desk, state, service, name, n, comment))
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
    match on_text(desk, state, form, said) {
        Step::Reply(a) => Some(a),
        Step::Leave { .. } => None,
    }
}

fn submit_feedback(
    desk: &Desk<'_>,
    state: &mut DialogueState,
    kind: FeedbackKind,
    content: String,
    contact: Option<String>,
) -> Answer {
    let intent = intent_of(kind, "submitted");
    let (user, campus) = match desk.feedback_author(state, &intent, &format!("提交{}", kind.label())) {
        Ok(x) => x,
        Err(a) => return a,
    };
    match campus.submit_feedback(&user, &NewFeedback { kind, content, contact }) {
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

fn submit_rating(
    desk: &Desk<'_>,
    state: &mut DialogueState,
    service: &str,
    name: &str,
    stars: u8,
    comment: Option<String>,
) -> Answer {
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
