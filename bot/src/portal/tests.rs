//! Engine-level tests of the portal dialogue over the bundled knowledge base and an in-memory campus: who may see
//! what, the forms, 在线办理 role checks and 最近使用, with no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::campus::*;
use crate::protocol::{CardKind, Role, UserInfo};
use crate::{DialogueState, Engine, Input, Outcome, Turn};
use knowledge::KnowledgeBase;
use std::sync::{Arc, Mutex, OnceLock};

/// Campus data in memory; records what was written.
#[derive(Default)]
struct FakeCampus {
    feedback: Mutex<Vec<FeedbackRecord>>,
    recent: Mutex<Vec<(String, Shortcut)>>,
    asked_for: Mutex<Vec<String>>,
}

impl PersonalData for FakeCampus {
    fn one_card(&self, user: &UserInfo) -> Result<OneCard, CampusError> {
        self.asked_for.lock().unwrap().push(user.id.clone());
        Ok(OneCard { balance_cents: 12850, transition_cents: -5600, recent: Vec::new() })
    }
    fn payslip(&self, _user: &UserInfo) -> Result<Option<Payslip>, CampusError> {
        Ok(Some(Payslip {
            month: "2021年6月".into(),
            gross_cents: 100,
            deductions_cents: 10,
            net_cents: 90,
            items: Vec::new(),
        }))
    }
    fn network(&self, _user: &UserInfo) -> Result<NetworkAccount, CampusError> {
        Err(CampusError::Unavailable { system: "network", reason: "down".into() })
    }
    fn mailbox(&self, _user: &UserInfo) -> Result<Mailbox, CampusError> {
        Ok(Mailbox { bound: false, address: None, unread: 0, binding_url: "https://ehall.example/bind".into() })
    }
}

impl Affairs for FakeCampus {
    fn affairs(&self, _user: &UserInfo, _kind: AffairKind) -> Result<Vec<Affair>, CampusError> {
        Ok(Vec::new())
    }
}

impl Inbox for FakeCampus {
    fn messages(&self, _user: &UserInfo) -> Result<Vec<Message>, CampusError> {
        Ok(Vec::new())
    }
    fn mark_read(&self, _user: &UserInfo, _message: &str) -> Result<bool, CampusError> {
        Ok(false)
    }
    fn mark_all_read(&self, _user: &UserInfo) -> Result<usize, CampusError> {
        Ok(0)
    }
}

impl Shortcuts for FakeCampus {
    fn favorites(&self, _user: &UserInfo) -> Result<Vec<Shortcut>, CampusError> {
        Ok(Vec::new())
    }
    fn add_favorite(&self, _user: &UserInfo, _shortcut: &Shortcut) -> Result<bool, CampusError> {
        Ok(true)
    }
    fn remove_favorite(&self, _user: &UserInfo, _kind: ShortcutKind, _item: &str) -> Result<bool, CampusError> {
        Ok(false)
    }
    fn recent(&self, _user: &UserInfo, _limit: usize) -> Result<Vec<Shortcut>, CampusError> {
        Ok(Vec::new())
    }
    fn record_use(&self, user: &UserInfo, shortcut: &Shortcut) -> Result<(), CampusError> {
        self.recent.lock().unwrap().push((user.id.clone(), shortcut.clone()));
        Ok(())
    }
}

impl FeedbackDesk for FakeCampus {
    fn submit_feedback(&self, user: &UserInfo, f: &NewFeedback) -> Result<FeedbackRecord, CampusError> {
        let record = FeedbackRecord {
            id: "FK1".into(),
            user_id: user.id.clone(),
            kind: f.kind,
            content: f.content.clone(),
            contact: f.contact.clone(),
            status: FeedbackStatus::Submitted,
            answer: None,
            created_at: "now".into(),
            updated_at: "now".into(),
        };
        self.feedback.lock().unwrap().push(record.clone());
        Ok(record)
    }
    fn my_feedback(&self, _user: &UserInfo) -> Result<Vec<FeedbackRecord>, CampusError> {
        Ok(self.feedback.lock().unwrap().clone())
    }
    fn rate_service(&self, _user: &UserInfo, _rating: &ServiceRating) -> Result<(), CampusError> {
        Ok(())
    }
}

/// One engine over the bundled knowledge base for all tests (the index takes a moment to build).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
        let kb = KnowledgeBase::load(&dir).expect("the bundled knowledge base loads");
        Engine::lexical(Arc::new(kb)).expect("the index builds")
    })
}

fn user(id: &str, role: Role) -> UserInfo {
    UserInfo { id: id.into(), name: "测试".into(), role }
}

/// An engine connected to `campus`; tests run in parallel, so each gets its own (over the shared knowledge base).
fn with_campus(campus: Arc<FakeCampus>) -> Engine {
    let kb = Arc::clone(engine().retriever().knowledge());
    Engine::lexical(kb).expect("the index builds").with_campus(campus)
}

fn say(engine: &Engine, state: &mut DialogueState, who: Option<&UserInfo>, text: &str) -> Outcome {
    engine.respond(state, Turn { input: Input::Text(text.into()), user: who.cloned(), in_reply_to: None })
}

fn press(
    engine: &Engine,
    state: &mut DialogueState,
    who: Option<&UserInfo>,
    action: &str,
    args: serde_json::Value,
) -> Outcome {
    let args = args.as_object().cloned().unwrap_or_default();
    engine.respond(
        state,
        Turn { input: Input::Action { name: action.into(), args }, user: who.cloned(), in_reply_to: None },
    )
}

#[test]
fn guests_get_a_login_card_and_users_only_their_own_data() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let mut state = DialogueState::default();
    let out = say(&engine, &mut state, None, "饭卡还有多少钱");
    assert!(out.reply.cards.iter().any(|c| c.kind == CardKind::Login), "{:?}", out.reply);
    assert!(campus.asked_for.lock().unwrap().is_empty(), "a guest's question reads nothing");

    let student = user("2021001234", Role::Student);
    let out = say(&engine, &mut state, Some(&student), "饭卡还有多少钱");
    assert_eq!(out.reply.cards[0].field("卡内余额"), Some("128.50元"));
    let out = say(&engine, &mut state, Some(&student), "查一下T2008001的余额");
    assert!(out.reply.intent.ends_with(".refused"), "{:?}", out.reply);
    assert_eq!(*campus.asked_for.lock().unwrap(), vec!["2021001234".to_owned()]);
    let out = say(&engine, &mut state, Some(&student), "这个月工资");
    assert!(out.reply.text.contains("学生没有工资信息"));
    let out = say(&engine, &mut state, Some(&student), "校园网流量还剩多少");
    assert_eq!(out.reply.mode, crate::protocol::Mode::Fallback, "an unavailable system is a polite fallback");
}

#[test]
fn a_feedback_form_collects_confirms_and_submits_and_cancel_leaves_it() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let me = user("2021001234", Role::Student);
    let mut state = DialogueState::default();
    say(&engine, &mut state, Some(&me), "提个意见");
    assert!(state.form.is_some());
    say(&engine, &mut state, Some(&me), "取消");
    assert!(state.form.is_none());

    say(&engine, &mut state, Some(&me), "我要反馈");
    say(&engine, &mut state, Some(&me), "希望能在线办理宿舍调换");
    let out = say(&engine, &mut state, Some(&me), "我的密码是abc12345");
    assert!(out.log.redacted && !out.reply.text.contains("abc12345"), "a password is refused, the form stays");
    assert!(state.form.is_some());
    say(&engine, &mut state, Some(&me), "跳过");
    // The form survives being written and read back, as the server persists it.
    let mut state: DialogueState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let out = press(&engine, &mut state, Some(&me), "form.confirm", serde_json::json!({}));
    assert_eq!(out.reply.intent, "feedback.submitted");
    assert_eq!(out.reply.cards[0].kind, CardKind::Feedback);
    assert!(state.form.is_none());
    let stored = campus.feedback.lock().unwrap().clone();
    assert_eq!((stored[0].content.as_str(), stored[0].contact.as_deref()), ("希望能在线办理宿舍调换", None));
}

#[test]
fn online_handling_checks_the_role_and_records_recent_use() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let mut state = DialogueState::default();
    let teacher = user("T2008001", Role::Teacher);
    let out =
        press(&engine, &mut state, Some(&teacher), "service.start", serde_json::json!({"service": "s1-xg-grant"}));
    assert_eq!(out.reply.intent, "service.start.unauthorized");
    assert!(out.reply.cards.iter().any(|c| c.kind == CardKind::Contact));
    assert!(campus.recent.lock().unwrap().is_empty());

    let student = user("2021001234", Role::Student);
    let out =
        press(&engine, &mut state, Some(&student), "service.start", serde_json::json!({"service": "s1-xg-grant"}));
    assert_eq!(out.reply.cards[0].kind, CardKind::Service);
    let recent = campus.recent.lock().unwrap().clone();
    assert_eq!((recent[0].0.as_str(), recent[0].1.item.as_str()), ("2021001234", "s1-xg-grant"));
}

#[test]
fn knowledge_questions_still_go_to_search_with_a_campus_connected() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let student = user("2021001234", Role::Student);
    for q in ["助学金怎么申请", "校园网连不上", "忘记密码怎么办", "一卡通丢了怎么办"] {
        assert_eq!(engine.recognizer().recognize(q), intents::Intent::Search, "{q}");
        let mut state = DialogueState::default();
        let out = say(&engine, &mut state, Some(&student), q);
        assert!(!out.reply.intent.starts_with("portal."), "{q}: {:?}", out.reply);
    }
    assert!(campus.asked_for.lock().unwrap().is_empty(), "no campus data read for knowledge questions");
}

#[test]
fn a_guest_leaves_feedback_without_logging_in_and_only_a_phone_or_email_is_a_contact() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let mut state = DialogueState::default();
    let out = say(&engine, &mut state, None, "我要提意见");
    assert_eq!(out.reply.intent, "feedback.start", "{:?}", out.reply);
    say(&engine, &mut state, None, "希望办事大厅能加个夜间模式");
    let out = say(&engine, &mut state, None, "确认一下");
    assert_eq!(out.reply.intent, "feedback.contact", "not a contact: {:?}", out.reply);
    let out = say(&engine, &mut state, None, "助学金怎么申请？");
    assert!(out.reply.text.contains("还没有提交"), "a question is answered and the form waits: {:?}", out.reply);
    assert!(state.form.is_some());
    let out = say(&engine, &mut state, None, "138 1234 5678");
    assert_eq!(out.reply.intent, "feedback.confirm");
    let out = say(&engine, &mut state, None, "确认");
    assert_eq!(out.reply.intent, "feedback.submitted", "{:?}", out.reply);
    let stored = campus.feedback.lock().unwrap().clone();
    assert!(stored[0].user_id.starts_with("guest-"), "{:?}", stored[0]);
    assert_eq!(stored[0].contact.as_deref(), Some("138 1234 5678"));
    let out = say(&engine, &mut state, None, "反馈有回复了吗");
    assert_eq!(out.reply.intent, "feedback.status", "{:?}", out.reply);
    assert!(state.form.is_none(), "asking about feedback starts no form");
}

#[test]
fn every_form_step_hears_a_cancel_phrase() {
    let campus = Arc::new(FakeCampus::default());
    let engine = with_campus(Arc::clone(&campus));
    let me = user("2021001234", Role::Student);
    for (steps, cancel) in [
        (&["我要反馈"][..], "算了，不提交了"),
        (&["我要反馈", "系统太慢"][..], "不填了"),
        (&["我要反馈", "系统太慢", "跳过"][..], "我不想提交了"),
        (&["评价学生助学金申请"][..], "不评了"),
        (&["评价学生助学金申请", "5星"][..], "算了不评价了"),
    ] {
        let mut state = DialogueState::default();
        for s in steps {
            say(&engine, &mut state, Some(&me), s);
        }
        assert!(state.form.is_some(), "{steps:?}");
        let out = say(&engine, &mut state, Some(&me), cancel);
        assert_eq!(out.reply.intent, "dialog.cancel", "{steps:?} then {cancel}: {:?}", out.reply);
        assert!(state.form.is_none());
    }
    assert!(campus.feedback.lock().unwrap().is_empty(), "nothing was submitted");
}
