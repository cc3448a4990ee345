//! The service desk: a user who asks for a person (转人工) is queued during the desk's hours, an admin takes the
//! conversation and writes into it live, and the bot stays silent until the admin hands back, the user ends it or
//! leaves. Outside the hours, or when nobody takes it in time, the user gets the contact card and a 工单 with the
//! conversation attached (docs/handoff.md).
//!
//! The desk sits in front of the engine ([`HandoffDesk::intercept`], called by `conversation::turn` for every
//! channel) and behind it ([`HandoffDesk::request`], on a turn whose outcome asked for a person). Which sessions
//! have an open handoff is kept in memory and refreshed by the sweeper every second, so an ordinary turn costs a
//! map lookup, not a query. Live words reach the user through [`HandoffDesk::hub`] (this process's websockets of
//! the session) and, for WeCom and 今日校园, the portal's outlets. Stored user messages go through
//! `intents::pii::scrub`.

pub mod admin;
pub mod hours;
mod sweeper;

use crate::app::EngineHandle;
use crate::campus::{NoticeHub, Portal};
use crate::store::handoff::{
    CloseReason, Handoff, HandoffMessage, HandoffState, HandoffStore, LoggedTurn, NewHandoff, Sender, Taken,
};
use crate::store::{Channel, StoreError};
use bot::campus::{FeedbackKind, FeedbackRecord, NewFeedback};
use bot::portal::cards as portal_cards;
use bot::protocol::{Card, HandoffStatus, HandoffView, Mode, Reply, ServerFrame, Speaker, SpeakerKind, Suggestion};
use bot::Input;
use hours::HandoffSettings;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The most characters of one message either side may write.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Turns of the bot dialogue shown to the admin and attached to a 工单.
const HISTORY_TURNS: i64 = 30;
/// The most characters of conversation attached to a 工单.
const TICKET_CHARS: usize = 4000;

/// Why a desk action was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no handoff {0}")]
    NotFound(String),
    /// The handoff is not in a state that allows this (someone else has it, it ended); the text is for the admin.
    #[error("{0}")]
    Conflict(String),
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who acts on the desk's side.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub name: String,
}

/// The service desk of one process.
pub struct HandoffDesk {
    pub settings: HandoffSettings,
    store: Arc<dyn HandoffStore>,
    /// Live connections by session id: every websocket subscribes on connect.
    pub hub: NoticeHub,
    /// Sessions with an open handoff → its id, as of the last sweep or local change.
    open: RwLock<HashMap<String, String>>,
    portal: Option<Portal>,
    engine: EngineHandle,
}

use crate::store::clock::{now, stamp};

fn reply_id() -> String {
    format!("r_{}", uuid::Uuid::new_v4().simple())
}

/// Channels that can carry a person's live words: the websocket (and HTTP, whose sessions reconnect over it),
/// the WeCom app and 今日校园 (pushed). The 智能机器人 can only answer its own callbacks, so it keeps the card.
fn can_relay(channel: Channel) -> bool {
    !matches!(channel, Channel::WecomBot)
}

/// The handoff object of a handoff as the user's client sees it.
pub fn view_of(h: &Handoff) -> HandoffView {
    let status = match h.status {
        HandoffState::Waiting => HandoffStatus::Waiting,
        HandoffState::Active => HandoffStatus::Active,
        HandoffState::Closed if h.close_reason == Some(CloseReason::TimedOut) => HandoffStatus::TimedOut,
        HandoffState::Closed => HandoffStatus::Ended,
    };
    HandoffView { status, agent: h.agent_name.clone().filter(|_| status == HandoffStatus::Active), position: None }
}

fn end_suggestion() -> Vec<Suggestion> {
    vec![Suggestion::text("结束人工")]
}

impl HandoffDesk {
    pub fn new(
        settings: HandoffSettings,
        store: Arc<dyn HandoffStore>,
        portal: Option<Portal>,
        engine: EngineHandle,
    ) -> HandoffDesk {
        HandoffDesk { settings, store, hub: NoticeHub::default(), open: RwLock::default(), portal, engine }
    }

    pub fn store(&self) -> &dyn HandoffStore {
        self.store.as_ref()
    }

    /// Whether the session has an open handoff, as this process knows it (no query).
    pub fn is_open_session(&self, session_id: &str) -> bool {
        self.open.read().map(|m| m.contains_key(session_id)).unwrap_or(false)
    }

    fn mark_open(&self, h: &Handoff) {
        if let Ok(mut m) = self.open.write() {
            m.insert(h.session_id.clone(), h.id.clone());
        }
    }

    fn mark_closed(&self, session_id: &str) {
        if let Ok(mut m) = self.open.write() {
            m.remove(session_id);
        }
    }

    fn replace_open(&self, fresh: HashMap<String, String>) {
        if let Ok(mut m) = self.open.write() {
            *m = fresh;
        }
    }

    /// Sends a frame to the user: the session's websockets here, and WeCom / 今日校园 for a user of those.
    fn push(&self, h: &Handoff, frame: ServerFrame) {
        let delivered = self.hub.send(&h.session_id, &frame);
        let pushed_channel = h.channel == Channel::Wecom.as_str() || h.channel == Channel::Cpdaily.as_str();
        if let (true, Some(portal), Some(user_id), ServerFrame::Notice { text, cards, from, .. }) =
            (pushed_channel, &self.portal, &h.user_id, &frame)
        {
            let text = match from {
                Some(speaker) => format!("【人工客服 {}】{text}", speaker.name),
                None => text.clone(),
            };
            portal.offer_to_outlets(user_id, text, cards.clone());
        }
        tracing::debug!(handoff = %h.id, delivered, "handoff frame pushed");
    }

    fn status_notice(text: impl Into<String>, cards: Vec<Card>, view: HandoffView) -> ServerFrame {
        ServerFrame::Notice { text: text.into(), cards, from: None, handoff: Some(view) }
    }

    /// What a user whose session has an open handoff is told on (re)connecting.
    pub async fn on_connect(&self, session_id: &str) -> Option<ServerFrame> {
        if !self.is_open_session(session_id) {
            return None;
        }
        let h = self.store.open_for_session(session_id).await.ok().flatten()?;
        let text = match h.status {
            HandoffState::Waiting => "您仍在等待人工客服接入，请稍候；发送“结束人工”可回到机器人。".to_owned(),
            _ => format!("人工客服 {} 正在为您服务。", h.agent_name.as_deref().unwrap_or("")),
        };
        Some(Self::status_notice(text, Vec::new(), view_of(&h)))
    }

    /// Answers a turn of a session with an open handoff instead of the engine: the user's text goes to the person
    /// (or, when it says 结束人工, ends the handoff). `None`: not handed off, let the engine answer. Actions (card
    /// buttons) always go to the engine. A session whose handoff belongs to another user is not intercepted.
    pub async fn intercept(
        &self,
        session_id: &str,
        user_id: Option<&str>,
        input: &Input,
        in_reply_to: Option<&str>,
    ) -> Result<Option<Reply>, StoreError> {
        let Input::Text(text) = input else { return Ok(None) };
        if !self.is_open_session(session_id) {
            return Ok(None);
        }
        let Some(h) = self.store.open_for_session(session_id).await? else {
            self.mark_closed(session_id);
            return Ok(None);
        };
        if h.user_id.as_deref() != user_id {
            return Ok(None);
        }
        let at = now();
        let reply = |intent: &str, text: &str, view: HandoffView, suggestions: Vec<Suggestion>| Reply {
            id: reply_id(),
            in_reply_to: in_reply_to.map(str::to_owned),
            mode: Mode::Answer,
            intent: intent.to_owned(),
            confidence: 1.0,
            text: text.to_owned(),
            cards: Vec::new(),
            suggestions,
            handoff: Some(view),
        };
        if intents::handoff::is_leave_request(text) {
            if let Some(closed) = self.store.close(&h.id, CloseReason::UserEnded, &at).await? {
                self.store.add_message(&closed.id, Sender::System, None, "用户结束了人工服务", &at).await?;
            }
            self.mark_closed(session_id);
            let view = HandoffView::new(HandoffStatus::Ended);
            return Ok(Some(reply("handoff.ended", "已结束人工服务，机器人继续为您服务。", view, Vec::new())));
        }
        let stored = intents::pii::scrub(text).text;
        let stored: String = stored.chars().take(MAX_MESSAGE_CHARS).collect();
        self.store.add_message(&h.id, Sender::User, h.user_name.as_deref(), &stored, &at).await?;
        let relayed = match h.status {
            HandoffState::Active => "已转给人工客服",
            _ => "已转给人工客服，客服接入后会回复您",
        };
        Ok(Some(reply("handoff.relayed", relayed, view_of(&h), end_suggestion())))
    }

    /// Turns the engine's reply to a request for a person into the desk's: queued in hours, a 工单 outside them.
    /// The engine's reply (the contact card) stands when the desk is off or the channel cannot carry live words.
    pub async fn request(
        &self,
        session_id: &str,
        user: Option<&bot::protocol::UserInfo>,
        channel: Channel,
        mut reply: Reply,
    ) -> Reply {
        if !self.settings.enabled || !can_relay(channel) {
            return reply;
        }
        let answered = if self.settings.in_hours(chrono::Utc::now()) {
            self.queue(session_id, user, channel, &mut reply).await
        } else {
            self.after_hours(session_id, user, &mut reply).await
        };
        if let Err(e) = answered {
            // The contact card of the engine's reply still shows the way to a person.
            tracing::error!(error = %e, "the handoff request failed; answering with the contact card");
        }
        reply
    }

    async fn queue(
        &self,
        session_id: &str,
        user: Option<&bot::protocol::UserInfo>,
        channel: Channel,
        reply: &mut Reply,
    ) -> Result<(), StoreError> {
        let new = NewHandoff {
            session_id: session_id.to_owned(),
            user_id: user.map(|u| u.id.clone()),
            user_name: user.map(|u| u.name.clone()),
            channel: channel.as_str().to_owned(),
        };
        let at = now();
        let (h, created) = self.store.open(&new, &at).await?;
        self.mark_open(&h);
        let mut view = view_of(&h);
        if h.status == HandoffState::Active {
            let agent = h.agent_name.as_deref().unwrap_or("");
            reply.text = format!("人工客服 {agent} 正在为您服务，请直接描述您的问题。");
        } else {
            if created {
                self.store.add_message(&h.id, Sender::System, None, "用户请求人工服务", &at).await?;
            }
            let ahead = self.store.waiting_ahead(&h.created_at, &h.id).await?;
            view.position = Some(ahead);
            let queue = if ahead == 0 { String::new() } else { format!("前面还有 {ahead} 人在等待，") };
            reply.text =
                format!("正在为您转接人工客服，{queue}请稍候。客服接入后会在这里回复您；发送“结束人工”可回到机器人。");
        }
        reply.intent = if h.status == HandoffState::Active { "handoff.relayed" } else { "handoff.waiting" }.to_owned();
        reply.cards.clear();
        reply.suggestions = end_suggestion();
        reply.handoff = Some(view);
        Ok(())
    }

    async fn after_hours(
        &self,
        session_id: &str,
        user: Option<&bot::protocol::UserInfo>,
        reply: &mut Reply,
    ) -> Result<(), StoreError> {
        let hours = self.settings.describe();
        let transcript = self.transcript(session_id, &[]).await?;
        let owner = user.map_or_else(|| format!("guest:{session_id}"), |u| u.id.clone());
        let content = format!("用户在人工服务时间外请求人工服务。\n{transcript}");
        reply.intent = "handoff.closed".into();
        reply.handoff = Some(HandoffView::new(HandoffStatus::Closed));
        match self.file_ticket(&owner, content).await {
            Some(ticket) => {
                reply.text = format!(
                    "现在不是人工服务时间（{hours}）。已为您提交工单 {}，附上了本次对话，工作人员上班后会处理；急事请按下方方式联系。",
                    ticket.id
                );
                reply.cards.push(portal_cards::feedback_card(&ticket));
            }
            None => {
                reply.text = format!("现在不是人工服务时间（{hours}）。您可以按下方方式联系，或提交意见反馈。");
            }
        }
        Ok(())
    }

    /// Files a 工单 for the owner; `None` (logged) when the portal is missing or the write fails.
    async fn file_ticket(&self, owner: &str, content: String) -> Option<FeedbackRecord> {
        let portal = self.portal.as_ref()?;
        let content: String = content.chars().take(TICKET_CHARS).collect();
        let ticket = NewFeedback { kind: FeedbackKind::Ticket, content, contact: None };
        match portal.store.submit_feedback_async(owner, &ticket).await {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::error!(error = %e, "cannot file the handoff's 工单");
                None
            }
        }
    }

    /// The session's dialogue with the bot and the handoff's messages, as a 工单 carries them.
    async fn transcript(&self, session_id: &str, messages: &[HandoffMessage]) -> Result<String, StoreError> {
        let turns = self.store.history(session_id, &now(), HISTORY_TURNS).await?;
        let mut lines = vec!["对话记录：".to_owned()];
        for t in &turns {
            let text = t.text.strip_prefix("action:").map_or_else(|| t.text.clone(), |a| format!("（点击 {a}）"));
            lines.push(format!("用户：{text}（机器人：{}）", t.top_item.as_deref().unwrap_or(&t.intent)));
        }
        for m in messages {
            let who = match m.sender {
                Sender::User => "用户",
                Sender::Agent => "客服",
                Sender::System => "系统",
            };
            lines.push(format!("{who}：{}", m.text));
        }
        Ok(lines.join("\n"))
    }

    /// The bot dialogue before the handoff, for the admin.
    pub async fn history(&self, h: &Handoff) -> Result<Vec<LoggedTurn>, StoreError> {
        self.store.history(&h.session_id, &h.created_at, HISTORY_TURNS).await
    }

    /// Whether the user has a live connection here.
    pub fn user_online_here(&self, h: &Handoff) -> bool {
        self.hub.sessions(&h.session_id) > 0
    }

    /// An admin takes a waiting handoff; the user is told who answers.
    pub async fn take(&self, id: &str, agent: &Agent) -> Result<Handoff, DeskError> {
        let at = now();
        match self.store.take(id, &agent.id, &agent.name, &at).await? {
            Taken::Missing => Err(DeskError::NotFound(id.to_owned())),
            Taken::Unavailable(h) if h.status == HandoffState::Closed => {
                Err(DeskError::Conflict("这个对话已经结束".into()))
            }
            Taken::Unavailable(h) => {
                Err(DeskError::Conflict(format!("这个对话已由 {} 接入", h.agent_name.as_deref().unwrap_or("其他客服"))))
            }
            Taken::Yours(h) => {
                if h.taken_at.as_deref() == Some(at.as_str()) {
                    self.store.add_message(&h.id, Sender::System, None, &format!("{} 已接入", agent.name), &at).await?;
                    let text = format!("人工客服 {} 已接入，请直接描述您的问题。", agent.name);
                    self.push(&h, Self::status_notice(text, Vec::new(), view_of(&h)));
                }
                self.mark_open(&h);
                Ok(h)
            }
        }
    }

    /// The taking admin writes to the user.
    pub async fn agent_message(&self, id: &str, agent: &Agent, text: &str) -> Result<HandoffMessage, DeskError> {
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_MESSAGE_CHARS {
            return Err(DeskError::Invalid {
                field: "text",
                message: format!("消息需要 1–{MAX_MESSAGE_CHARS} 个字，现在是 {chars} 个"),
            });
        }
        let h = self.store.get(id).await?.ok_or_else(|| DeskError::NotFound(id.to_owned()))?;
        match h.status {
            HandoffState::Closed => return Err(DeskError::Conflict("这个对话已经结束".into())),
            HandoffState::Waiting => return Err(DeskError::Conflict("请先接入这个对话".into())),
            HandoffState::Active if h.agent_id.as_deref() != Some(agent.id.as_str()) => {
                return Err(DeskError::Conflict(format!(
                    "这个对话由 {} 服务中",
                    h.agent_name.as_deref().unwrap_or("其他客服")
                )))
            }
            HandoffState::Active => {}
        }
        let message = self.store.add_message(&h.id, Sender::Agent, Some(&agent.name), text, &now()).await?;
        let from = Speaker { kind: SpeakerKind::Agent, name: agent.name.clone() };
        self.push(
            &h,
            ServerFrame::Notice {
                text: text.to_owned(),
                cards: Vec::new(),
                from: Some(from),
                handoff: Some(view_of(&h)),
            },
        );
        Ok(message)
    }

    /// Hands the conversation back to the bot (any admin may, also for a waiting one).
    pub async fn release(&self, id: &str, agent: &Agent) -> Result<Handoff, DeskError> {
        let at = now();
        let Some(h) = self.store.close(id, CloseReason::Released, &at).await? else {
            return match self.store.get(id).await? {
                None => Err(DeskError::NotFound(id.to_owned())),
                Some(_) => Err(DeskError::Conflict("这个对话已经结束".into())),
            };
        };
        self.store
            .add_message(&h.id, Sender::System, None, &format!("{} 结束了人工服务，对话交还机器人", agent.name), &at)
            .await?;
        self.mark_closed(&h.session_id);
        let text = "人工客服已结束本次服务，机器人继续为您服务。";
        self.push(&h, Self::status_notice(text, Vec::new(), HandoffView::new(HandoffStatus::Ended)));
        Ok(h)
    }

    /// An item's title by its id, as the engine answering now knows it (the question log keeps ids).
    pub fn item_title(&self, id: &str) -> Option<String> {
        let engine = self.engine.current();
        let kb = engine.knowledge();
        kb.by_id(id).map(|item| kb.item_title(item).to_owned())
    }

    /// The service desk's contact card, from the engine answering now.
    fn contact_cards(&self) -> Vec<Card> {
        self.engine.current().service_desk_contact().into_iter().collect()
    }
}

/// Starts the sweeper of this desk; it ends when the desk is dropped.
pub fn spawn_sweeper(desk: &Arc<HandoffDesk>) {
    sweeper::spawn(Arc::downgrade(desk));
}
