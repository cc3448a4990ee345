//! The engine: turns one user input plus the session's state into a reply.

mod browse;
#[cfg(test)]
mod dialogue_tests;
mod followup;
mod replies;

use crate::campus::Campus;
use crate::cards;
use crate::portal;
use crate::protocol::{Card, Mode, Reply, Role, Suggestion, UserInfo};
use crate::state::{DialogueState, MorePage};
use intents::portal::PortalIntent;
use intents::{Intent, Recognizer};
use knowledge::retrieve::{Decision, RetrieveError, SearchResult};
use knowledge::{Audience, ItemKind, ItemRef, KnowledgeBase, Retriever};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the user did.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text(String),
    Action { name: String, args: Map<String, Value> },
}

/// One turn: the input, who sent it and which client frame it answers.
#[derive(Debug, Clone)]
pub struct Turn {
    pub input: Input,
    pub user: Option<UserInfo>,
    pub in_reply_to: Option<String>,
}

/// What the server logs about a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnLog {
    pub intent: String,
    pub mode: Mode,
    pub top_item: Option<String>,
    pub confidence: f32,
    /// The user's text must not be stored (it seemed to carry a password).
    pub redacted: bool,
}

/// The reply and its log line.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reply: Reply,
    pub log: TurnLog,
    /// The user asked for a person (转人工): the reply offers the contact card, which the server replaces with
    /// the live queue when its service desk is open (docs/handoff.md).
    pub handoff_requested: bool,
}

/// Who asks, as 热门问题 are kept apart: a logged-in user's role, or a guest. The question log records it, and
/// the welcome suggests what the asker's own audience asks most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AskerAudience {
    Student,
    Teacher,
    Staff,
    Guest,
}

impl AskerAudience {
    pub const ALL: [AskerAudience; 4] =
        [AskerAudience::Student, AskerAudience::Teacher, AskerAudience::Staff, AskerAudience::Guest];

    /// The audience of a turn's user (`None`: a guest).
    pub fn of(user: Option<&UserInfo>) -> AskerAudience {
        match user.map(|u| u.role) {
            Some(Role::Student) => AskerAudience::Student,
            Some(Role::Teacher) => AskerAudience::Teacher,
            Some(Role::Staff) => AskerAudience::Staff,
            None => AskerAudience::Guest,
        }
    }

    /// The stable name stored in the question log and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AskerAudience::Student => "student",
            AskerAudience::Teacher => "teacher",
            AskerAudience::Staff => "staff",
            AskerAudience::Guest => "guest",
        }
    }

    /// A stored or requested name: `student`, `teacher`, `staff`, `guest` (or 学生, 教师, 职工, 访客).
    pub fn parse(raw: &str) -> Option<AskerAudience> {
        match raw.trim() {
            "guest" | "访客" | "游客" => Some(AskerAudience::Guest),
            other => Role::parse(other).map(|role| match role {
                Role::Student => AskerAudience::Student,
                Role::Teacher => AskerAudience::Teacher,
                Role::Staff => AskerAudience::Staff,
            }),
        }
    }
}

/// 热门问题 from real traffic: across all askers and per audience. An audience without enough traffic of its
/// own has no (or an empty) list, and its askers get the overall one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Popular {
    pub overall: Vec<String>,
    pub by_audience: BTreeMap<AskerAudience, Vec<String>>,
}

impl Popular {
    /// What to suggest to this audience: its own list when it has one, else the overall one (maybe empty).
    pub fn for_audience(&self, audience: AskerAudience) -> &[String] {
        match self.by_audience.get(&audience) {
            Some(own) if !own.is_empty() => own,
            _ => &self.overall,
        }
    }
}

/// How many candidates a clarify offers.
const CLARIFY_CHOICES: usize = 3;
/// Runner-ups within this fused-score distance of a confident answer follow it as 相关 cards: the answer stays
/// first, and an asker whose words fit two items (the 网络报修 app and the FAQ on how to report) finds the other
/// in one tap instead of rephrasing.
const RELATED_MAX_GAP: f32 = 0.25;
/// At most this many 相关 cards follow an answer.
const RELATED_CARDS: usize = 2;

/// The dialogue engine. Cheap to share; all methods are synchronous CPU work, to be run off async workers.
pub struct Engine {
    kb: Arc<KnowledgeBase>,
    retriever: Arc<Retriever>,
    recognizer: Recognizer,
    /// Campus data for the portal dialogue; without it personal questions get a polite "not connected".
    campus: std::sync::RwLock<Option<Arc<dyn Campus>>>,
    /// 热门问题 from real traffic (set by the server); when present, the welcome suggests the asker's audience's.
    popular: std::sync::RwLock<Popular>,
}

/// A reply under construction.
struct Draft {
    mode: Mode,
    intent: String,
    confidence: f32,
    text: String,
    cards: Vec<Card>,
    suggestions: Vec<Suggestion>,
    top_item: Option<String>,
    handoff_requested: bool,
}

impl Draft {
    fn answer(intent: impl Into<String>, text: impl Into<String>) -> Draft {
        Draft {
            mode: Mode::Answer,
            intent: intent.into(),
            confidence: 1.0,
            text: text.into(),
            cards: Vec::new(),
            suggestions: Vec::new(),
            top_item: None,
            handoff_requested: false,
        }
    }
}

impl Draft {
    fn from_portal(a: portal::Answer) -> Draft {
        let confidence = if a.mode == Mode::Fallback { 0.0 } else { 1.0 };
        Draft {
            mode: a.mode,
            intent: a.intent,
            confidence,
            text: a.text,
            cards: a.cards,
            suggestions: a.suggestions,
            top_item: None,
            handoff_requested: false,
        }
    }
}

impl Engine {
    /// An engine over a built retriever (lexical only or hybrid).
    pub fn new(retriever: Arc<Retriever>) -> Engine {
        let kb = Arc::clone(retriever.knowledge());
        let recognizer = Recognizer::new(&kb);
        Engine {
            kb,
            retriever,
            recognizer,
            campus: std::sync::RwLock::new(None),
            popular: std::sync::RwLock::new(Popular::default()),
        }
    }

    /// An engine with lexical retrieval only (no embedding model).
    pub fn lexical(kb: Arc<KnowledgeBase>) -> Result<Engine, RetrieveError> {
        let retriever = Retriever::build(kb, None, knowledge::Tuning::default())?;
        Ok(Engine::new(Arc::new(retriever)))
    }

    pub fn knowledge(&self) -> &KnowledgeBase {
        &self.kb
    }

    pub fn retriever(&self) -> &Retriever {
        &self.retriever
    }

    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// The same engine answering personal questions from `campus`.
    pub fn with_campus(self, campus: Arc<dyn Campus>) -> Engine {
        self.set_campus(campus);
        self
    }

    /// Connects campus data to a running engine (the server does it once its database is open).
    pub fn set_campus(&self, campus: Arc<dyn Campus>) {
        if let Ok(mut slot) = self.campus.write() {
            *slot = Some(campus);
        }
    }

    pub fn campus(&self) -> Option<Arc<dyn Campus>> {
        self.campus.read().ok().and_then(|slot| slot.clone())
    }

    fn desk<'a>(&'a self, user: Option<&'a UserInfo>, campus: Option<&'a dyn Campus>) -> portal::Desk<'a> {
        portal::Desk { kb: &self.kb, campus, user, recognizer: &self.recognizer }
    }

    /// The welcome text and suggestions for a new connection.
    pub fn welcome(&self, user: Option<&UserInfo>) -> (String, Vec<Suggestion>) {
        let w = &self.kb.texts.welcome;
        let text = match user {
            Some(u) => format!("{}，{}", u.name, w.text),
            None => w.text.clone(),
        };
        let popular = self.popular_for(AskerAudience::of(user));
        if !popular.is_empty() {
            return (text, popular.iter().take(4).map(Suggestion::text).collect());
        }
        (text, w.suggestions.iter().map(Suggestion::text).collect())
    }

    /// Sets the 热门问题 the welcome suggests (empty lists: the authored suggestions).
    pub fn set_popular(&self, popular: Popular) {
        if let Ok(mut p) = self.popular.write() {
            *p = popular;
        }
    }

    /// The 热门问题 as set, overall and per audience.
    pub fn popular(&self) -> Popular {
        self.popular.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// The 热门问题 the welcome suggests to this audience: its own, else the overall ones (empty when unset).
    pub fn popular_for(&self, audience: AskerAudience) -> Vec<String> {
        self.popular.read().map(|p| p.for_audience(audience).to_vec()).unwrap_or_default()
    }

    /// Answers one turn, updating the session's state.
    pub fn respond(&self, state: &mut DialogueState, turn: Turn) -> Outcome {
        state.turns += 1;
        let campus = self.campus();
        let desk = self.desk(turn.user.as_ref(), campus.as_deref());
        // The last list's next page is kept for one turn: 更多 shows it, 好的 keeps it, anything else drops it.
        let pending_more = state.more.take();
        // Portal forms, portal buttons and messages that carry a password come before anything else.
        let (portal_first, reminder) = match &turn.input {
            Input::Text(text) => match portal::intercept_text(&desk, state, text) {
                portal::Intercept::Answer(a) => (Some(a), None),
                portal::Intercept::Pass { reminder } => (None, reminder),
            },
            Input::Action { name, args } => (desk.action(state, name, args), None),
        };
        let redacted = portal_first.as_ref().is_some_and(|a| a.redact);
        let mut draft = match portal_first {
            Some(answer) => Draft::from_portal(answer),
            None => match &turn.input {
                Input::Text(text) => self.on_text(state, text, turn.user.as_ref(), pending_more),
                Input::Action { name, args } => self.on_action(state, name, args),
            },
        };
        // A question asked in the middle of a form is answered, and the form waits.
        if let (Some(r), Some(_)) = (reminder, state.form.as_ref()) {
            draft.text = format!("{}\n\n{}", draft.text, r);
            draft.suggestions.retain(|s| s.label != "取消");
            draft.suggestions.push(Suggestion::text("取消"));
        }
        // A list with a 更多 button remembers its next page.
        if state.more.is_none() {
            if let Some(more) = draft.suggestions.iter().find(|s| s.action.as_deref() == Some("catalog.more")) {
                state.more =
                    Some(MorePage::Action { name: "catalog.more".into(), args: more.args.clone().unwrap_or_default() });
            }
        }
        // An app opened through the bot is 最近使用; one only favourited or listed is not.
        if draft.mode == Mode::Answer && !draft.intent.starts_with("portal.") {
            if let Some(card) = draft.cards.first() {
                desk.record_app_opened(card);
            }
        }
        let reply = Reply {
            id: format!("r_{}", uuid::Uuid::new_v4().simple()),
            in_reply_to: turn.in_reply_to,
            mode: draft.mode,
            intent: draft.intent,
            confidence: (draft.confidence * 1000.0).round() / 1000.0,
            text: draft.text,
            cards: draft.cards,
            suggestions: draft.suggestions,
            handoff: None,
        };
        let log = TurnLog {
            intent: reply.intent.clone(),
            mode: reply.mode,
            top_item: draft.top_item,
            confidence: reply.confidence,
            redacted,
        };
        Outcome { reply, log, handoff_requested: draft.handoff_requested }
    }

    fn on_text(
        &self,
        state: &mut DialogueState,
        text: &str,
        user: Option<&UserInfo>,
        pending_more: Option<MorePage>,
    ) -> Draft {
        // A question that waited for the login is answered when the user, now logged in, says they are back.
        if user.is_some() {
            if let Some(question) = state.pending_question.take() {
                if is_back_from_login(text) || self.recognizer.recognize(text) == Intent::Acknowledge {
                    return self.on_text(state, &question, user, pending_more);
                }
            }
        }
        let draft = self.on_text_now(state, text, user, pending_more);
        if user.is_none()
            && draft.cards.iter().any(|c| c.kind == crate::protocol::CardKind::Login)
            && draft.intent != "auth.login"
        {
            state.pending_question = Some(text.to_owned());
        }
        draft
    }

    fn on_text_now(
        &self,
        state: &mut DialogueState,
        text: &str,
        user: Option<&UserInfo>,
        pending_more: Option<MorePage>,
    ) -> Draft {
        if let Some(choice) = ordinal_choice(text) {
            if let Some(id) = state.offered.get(choice).cloned() {
                if let Some(item) = self.kb.by_id(&id) {
                    return self.answer_item(state, item, 1.0, "search.choice");
                }
            }
        }
        // Declined before any retrieval or personal-data lookup (intents::refusal).
        if let Some(kind) = intents::refusal::classify(text) {
            return self.refuse(kind);
        }
        match self.recognizer.recognize(text) {
            Intent::SmallTalk(kind) => self.small_talk(kind, state.turns),
            Intent::OutOfScope(why) => self.out_of_scope(&why),
            Intent::HumanHelp => self.human_help(),
            Intent::HumanAgent => Draft { handoff_requested: true, ..self.human_help() },
            Intent::Feedback => {
                let campus = self.campus();
                Draft::from_portal(
                    self.desk(user, campus.as_deref()).start_form(state, crate::campus::FeedbackKind::Feedback),
                )
            }
            Intent::Portal(p) => {
                // A guest's "my data" question, or anyone's how-to question that merely mentions personal data
                // (过渡余额是啥意思, 补办校园卡要带啥), is first a knowledge question: a confident guide beats a
                // login card.
                // A guest asks about feedback left here without logging in (a guide on feedback would not answer it).
                let guests_own = user.is_none() && matches!(p, PortalIntent::FeedbackStatus);
                if !guests_own && ((user.is_none() && portal_needs_login(&p)) || is_how_to(text)) {
                    if let Some(result) = self.run_search(text, user) {
                        if let (Decision::Answer, Some(top)) = (result.decision, result.candidates.first()) {
                            let mut d = self.answer_item(state, top.item, result.confidence, "search");
                            if user.is_none() {
                                d.suggestions.push(Suggestion::text("登录"));
                                // The guide comes first; the guest still learns that their own figures need a login.
                                if portal_needs_login(&p) {
                                    d.cards.push(portal::cards::login_card("查看个人数据"));
                                }
                            }
                            return d;
                        }
                    }
                }
                let campus = self.campus();
                match self.desk(user, campus.as_deref()).answer(state, p) {
                    Some(answer) => Draft::from_portal(answer),
                    None => self.search(state, text, user),
                }
            }
            Intent::Cancel => {
                state.offered.clear();
                let mut d = Draft::answer("dialog.cancel", "好的，已取消。还有什么可以帮您？");
                d.suggestions = self.default_suggestions();
                d
            }
            Intent::Acknowledge => self.acknowledge(state, pending_more),
            Intent::More => self.more(state, pending_more, user),
            Intent::Popular => self.popular_questions(user),
            Intent::FollowUp { field, subject } => self.follow_up(state, text, field, subject.as_deref(), user),
            Intent::Search => {
                if let Some(words) = browse::search_box_words(text) {
                    return self.grouped_search(state, &words, user);
                }
                // 那休学呢: the words between 那 and 呢 are the question.
                let core = browse::core_question(text);
                let text = core.as_deref().unwrap_or(text);
                if let Some(d) = self.bare_clarify(state, text, user) {
                    return d;
                }
                if let Some(d) = self.in_context(state, text, user) {
                    return d;
                }
                self.search(state, text, user)
            }
            Intent::Login => replies::login_reply(user),
            Intent::Logout => replies::logout_reply(user),
        }
    }

    fn on_action(&self, state: &mut DialogueState, name: &str, args: &Map<String, Value>) -> Draft {
        let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default();
        match name {
            "item.show" => match self.kb.by_id(arg("id")) {
                Some(item) => self.answer_item(state, item, 1.0, "item.show"),
                None => self.unknown_item(),
            },
            // The portal answers these for every service it knows.
            "service.start" | "service.rate" => self.unknown_item(),
            "help.contact" => self.human_help(),
            "help.agent" => Draft { handoff_requested: true, ..self.human_help() },
            _ => {
                let mut d = Draft::answer("action.unknown", "抱歉，这个操作暂不支持。");
                d.mode = Mode::Fallback;
                d.confidence = 0.0;
                d
            }
        }
    }

    fn unknown_item(&self) -> Draft {
        let mut d = self.fallback();
        d.text = "抱歉，没有找到这一项，它可能已下线。".into();
        d
    }

    fn default_suggestions(&self) -> Vec<Suggestion> {
        self.kb.texts.welcome.suggestions.iter().take(4).map(Suggestion::text).collect()
    }

    fn audience(&self, text: &str, user: Option<&UserInfo>) -> Option<Audience> {
        if let Some(u) = user {
            return Some(match u.role {
                Role::Student => Audience::Student,
                Role::Teacher | Role::Staff => Audience::Teacher,
            });
        }
        detect_audience(text)
    }

    fn run_search(&self, text: &str, user: Option<&UserInfo>) -> Option<SearchResult> {
        match self.retriever.search(text, self.audience(text, user)) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "search failed");
                None
            }
        }
    }

    fn search(&self, state: &mut DialogueState, text: &str, user: Option<&UserInfo>) -> Draft {
        let Some(result) = self.run_search(text, user) else { return self.fallback() };
        match result.decision {
            Decision::Answer => match result.candidates.first() {
                Some(top) => {
                    let item = self.app_for_role(text, top.item, user);
                    let mut d = self.answer_item(state, item, result.confidence, "search");
                    self.note_app_role(&mut d, item, user);
                    if item == top.item {
                        self.add_related(&mut d, &result);
                    }
                    d
                }
                None => self.fallback(),
            },
            Decision::Clarify => self.clarify(state, &result),
            Decision::NoMatch => self.fallback(),
        }
    }

    /// Appends 相关 cards for the runner-ups close to the answer (see [`RELATED_MAX_GAP`]).
    fn add_related(&self, d: &mut Draft, result: &SearchResult) {
        let Some(top) = result.candidates.first() else { return };
        if d.mode != Mode::Answer || d.cards.len() != 1 {
            return;
        }
        let related = result
            .candidates
            .iter()
            .skip(1)
            .take_while(|c| top.fused - c.fused <= RELATED_MAX_GAP)
            .take(RELATED_CARDS)
            .filter_map(|c| cards::related_card(&self.kb, c.item));
        d.cards.extend(related);
    }

    fn clarify(&self, state: &mut DialogueState, result: &SearchResult) -> Draft {
        let items: Vec<ItemRef> = result.candidates.iter().take(CLARIFY_CHOICES * 2).map(|c| c.item).collect();
        self.clarify_items(state, &items, "您想了解的是下面哪一项？请点选，或换个说法告诉我。", result.confidence)
    }

    fn answer_item(&self, state: &mut DialogueState, item: ItemRef, confidence: f32, intent_base: &str) -> Draft {
        let Some(card) = cards::item_card(&self.kb, item) else { return self.fallback() };
        let id = self.kb.item_id(item).to_owned();
        state.set_topic(&id);
        state.offered.clear();
        let (intent, text, suggestions) = match item.kind {
            ItemKind::Service => {
                let s = self.kb.service(item);
                let text = s.map_or_else(String::new, |s| format!("为您找到「{}」的办事指南：{}", s.name, s.summary));
                ("service.guide", text, s.map(cards::service_suggestions).unwrap_or_default())
            }
            ItemKind::App => {
                let a = self.kb.app(item);
                let text =
                    a.map_or_else(String::new, |a| format!("「{}」：{} 点击下方按钮打开。", a.name, a.description));
                ("app.open", text, Vec::new())
            }
            ItemKind::Faq => {
                let f = self.kb.faq(item);
                let text = f.map_or_else(String::new, |f| f.answer.clone());
                ("faq.answer", text, Vec::new())
            }
        };
        let intent = if intent_base == "search.choice" || intent_base == "item.show" { intent_base } else { intent };
        let mut d = Draft::answer(intent, text);
        d.confidence = confidence;
        d.cards.push(card);
        d.suggestions = suggestions;
        d.top_item = Some(id);
        d
    }
}

/// Portal requests that only make sense for a logged-in user.
fn portal_needs_login(p: &PortalIntent) -> bool {
    match p {
        PortalIntent::Personal { .. }
        | PortalIntent::Summary
        | PortalIntent::BindMail
        | PortalIntent::Affairs(_)
        | PortalIntent::AffairStatus { .. }
        | PortalIntent::Messages
        | PortalIntent::MarkAllRead
        | PortalIntent::Favorite { .. }
        | PortalIntent::Unfavorite { .. }
        | PortalIntent::Favorites
        | PortalIntent::Recent
        | PortalIntent::FeedbackStatus => true,
        PortalIntent::PasswordShared
        | PortalIntent::Catalog(_)
        | PortalIntent::News { .. }
        | PortalIntent::StartService { .. }
        | PortalIntent::Ticket
        | PortalIntent::Rate { .. } => false,
    }
}

/// "登录好了", "我登录了": back from the login page.
fn is_back_from_login(text: &str) -> bool {
    let t: String =
        text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '。' | '.' | '!' | '！' | '，' | ',')).collect();
    matches!(
        t.as_str(),
        "登录好了"
            | "登好了"
            | "登录了"
            | "我登录了"
            | "已登录"
            | "已经登录了"
            | "我已经登录了"
            | "登录成功"
            | "登录成功了"
            | "好了"
            | "登陆好了"
            | "登陆了"
            | "我登陆了"
            | "登上了"
            | "查吧"
            | "现在呢"
            | "现在可以了吗"
            | "继续"
    )
}

/// Words that ask how something works rather than for one's own data.
fn is_how_to(text: &str) -> bool {
    // "饭卡还有多少钱" asks for one's balance, not for a price.
    if ["还有多少", "还剩", "剩多少", "剩下多少"].iter().any(|m| text.contains(m)) {
        return false;
    }
    const MARKERS: &[&str] = &[
        "怎么",
        "如何",
        "为啥",
        "为什么",
        "什么意思",
        "啥意思",
        "是什么",
        "是啥",
        "要带",
        "带什么",
        "带啥",
        "在哪办",
        "去哪办",
        "多少钱",
        "流程",
        "手续",
        "能不能",
        "可以吗",
        "在哪看",
        "在哪查",
        "在哪里看",
        "在哪里查",
        "怎样",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

/// "第二个", "2", "选3": a pick among the offered candidates (0-based).
fn ordinal_choice(text: &str) -> Option<usize> {
    let t: String = text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '。' | '.' | '!' | '！')).collect();
    let t = t.trim_start_matches("选").trim_start_matches("第").trim_end_matches("个").trim_end_matches("项");
    match t {
        "1" | "一" | "１" => Some(0),
        "2" | "二" | "２" => Some(1),
        "3" | "三" | "３" => Some(2),
        _ => None,
    }
}

/// The asker's audience as their words reveal it, for guests.
pub fn detect_audience(text: &str) -> Option<Audience> {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["校友", "已毕业", "毕业多年", "毕业的学生", "前几年毕业", "往届"]) {
        Some(Audience::Alumnus)
    } else if has(&["校外", "访客", "外单位", "社会人员", "校外人员"]) {
        Some(Audience::Visitor)
    } else if has(&[
        "我是老师",
        "我是教师",
        "教职工",
        "本院教师",
        "我院",
        "教工",
        "作为教师",
        "作为老师",
        "我们学院老师",
    ]) {
        Some(Audience::Teacher)
    } else if has(&["我是学生", "本科生", "大一", "大二", "大三", "大四", "研一", "研二", "研三", "同学们", "学生"])
    {
        Some(Audience::Student)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
