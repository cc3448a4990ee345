//! The dialogue's transitions over the bundled knowledge base (lexical retrieval, no campus): field follow-ups,
//! the topic and its return, control words, the last list's pages and bare words.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::protocol::{Mode, Role, UserInfo};
use crate::state::MorePage;
use crate::{DialogueState, Engine, Input, Outcome, Turn};
use knowledge::KnowledgeBase;
use std::sync::{Arc, OnceLock};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        let kb = KnowledgeBase::load(&dir).expect("the bundled knowledge base loads");
        Engine::lexical(Arc::new(kb)).expect("the index builds")
    })
}

fn say_as(state: &mut DialogueState, who: Option<&UserInfo>, text: &str) -> Outcome {
    engine().respond(state, Turn { input: Input::Text(text.into()), user: who.cloned(), in_reply_to: None })
}

fn say(state: &mut DialogueState, text: &str) -> Outcome {
    say_as(state, None, text)
}

fn show(state: &mut DialogueState, id: &str) -> Outcome {
    let args = crate::cards::args1("id", id);
    engine()
        .respond(state, Turn { input: Input::Action { name: "item.show".into(), args }, user: None, in_reply_to: None })
}

fn labels(out: &Outcome) -> Vec<String> {
    out.reply.cards.first().map(|c| c.fields.iter().map(|f| f.label.clone()).collect()).unwrap_or_default()
}

#[test]
fn a_field_follow_up_answers_that_field_only_about_the_topic() {
    let mut state = DialogueState::default();
    let out = show(&mut state, "s1-xg-grant");
    assert_eq!(out.reply.cards[0].title, "学生助学金申请");
    for (ask, intent, fields) in [
        ("找哪个老师", "service.field.contact", vec!["联系人", "咨询电话"]),
        ("联系人是谁", "service.field.contact", vec!["联系人", "咨询电话"]),
        ("谁能申请", "service.field.audience", vec!["服务对象"]),
        ("几点上班", "service.field.hours", vec!["办公时间"]),
        ("要钱吗", "service.field.cost", vec!["收费"]),
        ("能网上办吗", "service.field.online", vec!["在线办理"]),
        ("要多久", "service.field.duration", vec!["办理时限"]),
    ] {
        let out = say(&mut state, ask);
        assert_eq!(out.reply.intent, intent, "{ask}: {:?}", out.reply);
        assert_eq!(out.reply.cards[0].title, "学生助学金申请", "{ask}");
        assert_eq!(labels(&out), fields, "{ask}");
    }
}

#[test]
fn a_faq_topic_answers_with_its_service_and_an_earlier_topic_comes_back() {
    let mut state = DialogueState::default();
    let faq =
        engine().knowledge().faqs.iter().find(|f| f.question == "一卡通补办需要带什么，去哪里办？").unwrap().id.clone();
    show(&mut state, &faq);
    let out = say(&mut state, "电话多少");
    assert_eq!(out.reply.cards[0].title, "一卡通挂失与补办", "{:?}", out.reply);
    assert!(out.reply.text.contains("26584116"));
    show(&mut state, "s1-jw-exam-deferral");
    let out = say(&mut state, "回到一卡通，要钱吗");
    assert_eq!(out.reply.cards[0].title, "一卡通挂失与补办", "{:?}", out.reply);
    assert!(out.reply.text.contains("20元"), "{}", out.reply.text);
    let out = say(&mut state, "缓考截止时间呢");
    assert_eq!(out.reply.cards[0].title, "缓考申请", "{:?}", out.reply);
}

#[test]
fn control_words_are_acknowledged_and_more_pages_the_last_list() {
    let mut state = DialogueState::default();
    for word in ["确认", "好的", "嗯", "跳过"] {
        let out = say(&mut state, word);
        assert_eq!(out.reply.intent, "dialog.ack", "{word}");
        assert!(out.reply.cards.is_empty(), "{word}");
    }
    let out = say(&mut state, "更多");
    assert_eq!(out.reply.intent, "dialog.more");
    let out = say(&mut state, "学生能办哪些事");
    assert!(matches!(state.more, Some(MorePage::Action { .. })), "{:?}", out.reply);
    let first = out.reply.cards[0].items[0].title.clone();
    let out = say(&mut state, "下一页");
    assert_eq!(out.reply.intent, "portal.catalog");
    assert_ne!(out.reply.cards[0].items[0].title, first, "the next page");
    show(&mut state, "s1-xg-grant");
    assert!(state.more.is_none(), "an answer drops the old list");
}

#[test]
fn a_bare_word_gets_a_clarify_for_the_askers_audience() {
    let student = UserInfo { id: "2021001234".into(), name: "测试".into(), role: Role::Student };
    let teacher = UserInfo { id: "T2008001".into(), name: "测试".into(), role: Role::Teacher };
    let mut state = DialogueState::default();
    let out = say_as(&mut state, Some(&student), "证明");
    assert_eq!(out.reply.mode, Mode::Clarify);
    assert!(!out.reply.cards.iter().any(|c| c.title == "在职证明开具"), "{:?}", out.reply.cards);
    let out = say_as(&mut state, Some(&student), "更多");
    assert_eq!(out.reply.mode, Mode::Clarify);
    let mut state = DialogueState::default();
    let out = say_as(&mut state, Some(&teacher), "证明");
    assert_eq!(out.reply.mode, Mode::Clarify);
    assert!(!out.reply.cards.iter().any(|c| c.title == "打印中英文在读证明"), "{:?}", out.reply.cards);
    let mut state = DialogueState::default();
    let out = say(&mut state, "一卡通");
    assert!(!out.reply.text.starts_with("和「"), "an item's own name is no bare word: {}", out.reply.text);
}
