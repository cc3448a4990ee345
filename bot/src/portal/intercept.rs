//! What the portal makes of a message before intent recognition: a form in progress, a password sent by mistake.

use super::*;

/// A message that seemed to hold a password: not echoed, not stored.
pub fn password_refused() -> Answer {
    let mut a = Answer::new(
        "portal.password_refused",
        "为了账号安全，请不要在对话中发送密码，我不会保存或使用它。绑定邮箱或修改密码请在对应页面操作；如果密码可能已泄露，请尽快通过统一身份认证修改密码。",
    );
    a.redact = true;
    a
}

/// What the portal makes of a message before intent recognition.
#[derive(Debug, Clone, PartialEq)]
pub enum Intercept {
    /// The portal answers (a form step, a refused password).
    Answer(Answer),
    /// The engine answers; with a `reminder` when a form waits for its next step meanwhile.
    Pass { reminder: Option<String> },
}

/// Runs before intent recognition: a form in progress takes the message (a cancel phrase leaves it, a question
/// is let through with the form kept), and a message that seems to carry a password is refused whatever else is
/// going on.
pub fn intercept_text(desk: &Desk<'_>, state: &mut DialogueState, text: &str) -> Intercept {
    if intents::portal::looks_like_password(text) {
        return Intercept::Answer(password_refused());
    }
    let Some(form) = state.form.clone() else { return Intercept::Pass { reminder: None } };
    // 不用了 at a step that can be skipped skips it; elsewhere it cancels.
    if desk.recognizer.recognize(text) == Intent::Cancel && !(form.skippable() && form::is_skip(text)) {
        state.form = None;
        let mut a = Answer::new("dialog.cancel", format!("好的，已取消{}，不会提交。还有什么可以帮您？", form.label()));
        a.suggestions = vec![Suggestion::text("常用服务"), Suggestion::text("服务事项中心")];
        return Intercept::Answer(a);
    }
    match form::on_text(desk, state, form, text) {
        form::Step::Reply(a) => Intercept::Answer(a),
        form::Step::Leave { reminder } => Intercept::Pass { reminder: Some(reminder) },
    }
}
