//! The engine's canned replies: small talk, out of scope and refusals, the way to a person, the fallback, login
//! and logout.

use super::{Draft, Engine};
use crate::cards;
use crate::protocol::{Card, Mode, Suggestion, UserInfo};
use intents::{Intent, OutOfScope};
use knowledge::SmallTalkKind;
use serde_json::Map;

impl Engine {
    pub(super) fn small_talk(&self, kind: SmallTalkKind, turn: u32) -> Draft {
        let replies =
            self.kb.texts.smalltalk.iter().find(|s| s.intent == kind).map(|s| s.replies.as_slice()).unwrap_or(&[]);
        let text = if replies.is_empty() {
            self.kb.texts.welcome.text.clone()
        } else {
            replies[turn as usize % replies.len()].clone()
        };
        let mut d = Draft::answer(Intent::SmallTalk(kind).name(), text);
        d.suggestions = self.default_suggestions();
        d
    }

    pub(super) fn out_of_scope(&self, why: &OutOfScope) -> Draft {
        let mut d = self.fallback();
        d.intent = "out_of_scope".into();
        d.text = match why {
            OutOfScope::OtherInstitution(name) => {
                format!("我是天津商业大学网上办事服务大厅的助手，只能解答本校的办事问题，关于「{name}」的事项请咨询对方学校。")
            }
            OutOfScope::Improper => {
                "抱歉，这个请求我不能办理。如有成绩或个人信息方面的问题，请通过正规渠道咨询相关部门。".into()
            }
            OutOfScope::Topic(_) => self.kb.texts.out_of_scope.text.clone(),
            OutOfScope::Task => {
                "抱歉，写作、翻译、订票、编程这类事情不在办事大厅的服务范围内，我只能帮您查找和办理学校的服务事项。"
                    .into()
            }
        };
        d
    }

    /// A polite refusal with its reason, no cards, and the 意见反馈 / 人工 buttons.
    pub(super) fn refuse(&self, kind: intents::refusal::RefusalKind) -> Draft {
        let mut d = self.fallback();
        d.intent = format!("out_of_scope.{}", kind.name());
        d.text = kind.reason().to_owned();
        d.cards.clear();
        d
    }

    /// The service desk's contact card (网信办, the hall's operators), for whoever must offer a way to a person.
    pub fn service_desk_contact(&self) -> Option<Card> {
        self.kb.department("网信办").map(cards::contact_card)
    }

    pub(super) fn human_help(&self) -> Draft {
        let mut d = Draft::answer(
            "help.contact",
            "需要人工帮助可以联系网信办（办事大厅运维），也可以提交意见反馈，我们会尽快处理：",
        );
        d.cards.extend(self.service_desk_contact());
        d.suggestions = vec![Suggestion::action("意见反馈", "feedback.start", Map::new())];
        d
    }

    pub(super) fn fallback(&self) -> Draft {
        let mut d = Draft::answer("fallback", self.kb.texts.fallback.text.clone());
        d.mode = Mode::Fallback;
        d.confidence = 0.0;
        d.cards.extend(self.service_desk_contact());
        d.suggestions = vec![
            Suggestion::action("意见反馈", "feedback.start", Map::new()),
            Suggestion::action("联系人工", "help.agent", Map::new()),
        ];
        d.suggestions.extend(self.kb.texts.fallback.suggestions.iter().map(Suggestion::text));
        d
    }
}

/// 登录: the login card for a guest, who they are for a logged-in user.
pub(super) fn login_reply(user: Option<&UserInfo>) -> Draft {
    match user {
        None => {
            let mut d = Draft::answer(
                "auth.login",
                "请点击下方“登录”按钮，使用统一身份认证账号登录。登录完成后回到这里即可继续对话。",
            );
            d.cards.push(cards::login_card(None));
            d
        }
        Some(u) => {
            let text = format!(
                "您已登录为{}（{}，{}），可以直接查询您的个人数据、待办和办件进度。",
                u.name,
                u.role.label(),
                u.id
            );
            let mut d = Draft::answer("auth.login", text);
            d.suggestions = vec![Suggestion::text("退出登录")];
            d
        }
    }
}

/// 退出登录: the logout card for a logged-in user.
pub(super) fn logout_reply(user: Option<&UserInfo>) -> Draft {
    match user {
        Some(u) => {
            let mut d = Draft::answer("auth.logout", format!("{}，点击下方按钮即可退出登录。", u.name));
            d.cards.push(cards::logout_card(None));
            d
        }
        None => {
            let mut d = Draft::answer("auth.logout", "您当前没有登录，正以游客身份使用。如需登录，请点击下方按钮。");
            d.cards.push(cards::login_card(None));
            d
        }
    }
}
