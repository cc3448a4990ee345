//! Runs channel messages (WeCom self-built app, WeCom 智能机器人, 今日校园) through the same engine turns as the chat
//! routes: channel settings, the shared DB-backed stores (dedup keys, nonces, streams, bindings), user mapping, the
//! bounded job queue with its worker, per-channel rendering and the channel routes' one error type.
//!
//! A route verifies and decrypts a delivery, claims its dedup key, submits a [`Job`] and waits a short deadline
//! for the answer. When the answer comes in time the route answers in the HTTP response (a passive reply); when
//! it does not, the route answers at once and the worker delivers later: WeCom `message/send`, the 智能机器人
//! stream (polled by WeCom), or a 今日校园 push.

use crate::app::AppState;
use crate::conversation::{self, Session};
use crate::settings::{Secret, SettingsError};
use crate::store::{Channel, SessionId, StoredSession};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bot::protocol::{Card, CardAction, CardKind, Mode, Reply, Role, UserInfo};
use bot::{DialogueState, Input};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::cpdaily::{
    render_webhook_reply, CpdailyAuthError, CpdailyPushClient, CpdailyPushConfig, CpdailyVerifier, CpdailyWebhookReply,
    PushMessage, RetryPolicy, SeenKeyStore, SeenStoreError, StoreFuture,
};
use super::wecom_aibot::{render_markdown, AibotActiveReply, AibotMarkdown, AibotParseError};
use super::wecom_api::{Recipients, WecomApiClient, WecomApiConfig, DEFAULT_BASE_URL};
use super::wecom_crypto::{WecomCrypt, WecomCryptError};
use super::wecom_render::{
    render_reply, render_template_card, MultiCardStyle, RenderOptions, TemplateCard, WecomOutbound,
};
use super::wecom_xml::PassiveReply;

/// How far a WeCom callback's signed `timestamp` may be from our clock, either way; older or newer callbacks are
/// refused, so a captured callback can be replayed only within this window (and the dedup below covers it).
pub const WECOM_TIMESTAMP_WINDOW_SECS: u64 = 300;
/// WeCom's retries of one delivery (3 tries about 5 s apart) with slack.
const WECOM_RETRY_SLACK_SECS: u64 = 60;
/// How long WeCom dedup keys (MsgId) are kept: a callback first seen at the earliest its timestamp allows
/// (timestamp − window) is still fresh until timestamp + window, and WeCom's retries come after it.
pub const WECOM_DEDUP_TTL_SECS: u64 = 2 * WECOM_TIMESTAMP_WINDOW_SECS + WECOM_RETRY_SLACK_SECS;
/// How long a 智能机器人 stream can be polled (WeCom stops after 6 minutes).
pub const AIBOT_STREAM_TTL_SECS: u64 = 600;
/// Jobs waiting for the worker at most; beyond it deliveries are refused with 503 so that WeCom retries later.
pub const JOB_QUEUE_CAPACITY: usize = 256;
/// The placeholder of a 智能机器人 stream whose answer is not ready yet.
pub const STREAM_PLACEHOLDER: &str = "正在查询，请稍候…";
/// Said when a channel question could not be answered (engine busy or failing).
pub const APOLOGY_TEXT: &str = "抱歉，服务繁忙，暂时无法回答，请稍后再试。";
/// Said to WeCom members who send pictures, voice or files.
pub const TEXT_ONLY_NOTICE: &str = "目前只能回答文字提问，请直接输入您要办理的事项或问题。";
/// Said for a channel question over the chat protocol's text limit (`bot::protocol::MAX_TEXT_CHARS`, the same as
/// on `/ws`); such a text is neither run through the engine nor stored.
pub const TEXT_TOO_LONG_NOTICE: &str = "消息过长：最多 2000 个字符，请精简后再发送。";

/// Refuses a WeCom callback whose signed `timestamp` is not a number within [`WECOM_TIMESTAMP_WINDOW_SECS`] of `now`.
pub fn check_wecom_timestamp(timestamp: &str, now: u64) -> Result<(), ChannelError> {
    let sent: u64 = timestamp.parse().map_err(|_| ChannelError::StaleTimestamp)?;
    if sent.abs_diff(now) > WECOM_TIMESTAMP_WINDOW_SECS {
        return Err(ChannelError::StaleTimestamp);
    }
    Ok(())
}

/// Whether a channel question is over the chat protocol's text limit (counted in characters, as on `/ws`).
pub fn text_over_limit(text: &str) -> bool {
    text.chars().nth(bot::protocol::MAX_TEXT_CHARS).is_some()
}

/// The largest channel request body accepted: room for the longest accepted text once escaped (`\uXXXX`: 6
/// bytes a character), encrypted and Base64-encoded (4/3), inside its XML or JSON envelope.
pub fn channel_body_limit(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(4)
}

const DEFAULT_PASSIVE_DEADLINE_MS: u64 = 4000;
const DEFAULT_CPDAILY_DEADLINE_MS: u64 = 2500;
const DEFAULT_FALLBACK_URL: &str = "https://ehall.tjcu.edu.cn/";

mod error;
mod settings;
mod store;

pub use error::*;
pub use settings::*;
pub use store::*;

// ---------------------------------------------------------------------------------------------------------------
// Rendering: one Reply, one rendering per channel
// ---------------------------------------------------------------------------------------------------------------

/// The channels a reply is rendered for; the websocket and HTTP send the `Reply` JSON as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    /// The chat protocol's `reply` frame.
    WebJson,
    /// WeCom self-built app messages (`message/send` bodies).
    WecomApp,
    /// WeCom 智能机器人 stream content (markdown) and template card.
    WecomBot,
    /// 今日校园 webhook answer.
    Cpdaily,
}

/// One rendered reply.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Made once per reply and consumed at once; boxing buys nothing.
pub enum Rendered {
    WebJson(serde_json::Value),
    WecomApp(Vec<WecomOutbound>),
    WecomBot { markdown: String, card: Option<TemplateCard> },
    Cpdaily(CpdailyWebhookReply),
}

fn has_chat_actions(card: &Card) -> bool {
    card.actions.iter().any(|a| matches!(a, CardAction::Action { .. }))
}

/// The only card of a reply, with `list` cards expanded.
fn single_card(reply: &Reply) -> Option<&Card> {
    match reply.cards.as_slice() {
        [card] if card.kind == CardKind::List && card.items.len() == 1 => card.items.first(),
        [card] if card.kind != CardKind::List || card.items.is_empty() => Some(card),
        _ => None,
    }
}

/// WeCom app messages for active sending: as [`render_reply`], except that a single card with chat actions becomes
/// a `button_interaction` template card whose buttons come back as `template_card_event` actions.
pub fn render_wecom_active(reply: &Reply, options: &RenderOptions) -> Vec<WecomOutbound> {
    let mut messages = render_reply(reply, options);
    if let Some(card) = single_card(reply).filter(|card| has_chat_actions(card)) {
        if let Some(last) = messages.last_mut().filter(|m| m.msg_type() == "textcard") {
            *last = render_template_card(card, options, &reply.id);
        }
    }
    messages
}

/// The 智能机器人 rendering: the whole answer as markdown, plus the first card as a template card.
pub fn render_wecom_bot(reply: &Reply, options: &RenderOptions) -> (String, Option<TemplateCard>) {
    let markdown = render_markdown(reply, options);
    let card = reply.cards.first().and_then(|card| {
        let card = if card.kind == CardKind::List { card.items.first().unwrap_or(card) } else { card };
        match render_template_card(card, options, &reply.id) {
            WecomOutbound::TemplateCard { template_card } => Some(template_card),
            _ => None,
        }
    });
    (markdown, card)
}

/// Renders one reply for one channel.
pub fn render(reply: &Reply, rendering: Rendering, options: &RenderOptions) -> Rendered {
    match rendering {
        Rendering::WebJson => Rendered::WebJson(serde_json::to_value(reply).unwrap_or_default()),
        Rendering::WecomApp => Rendered::WecomApp(render_wecom_active(reply, options)),
        Rendering::WecomBot => {
            let (markdown, card) = render_wecom_bot(reply, options);
            Rendered::WecomBot { markdown, card }
        }
        Rendering::Cpdaily => Rendered::Cpdaily(render_webhook_reply(reply)),
    }
}

/// What a WeCom callback answers in time: the passive reply (one message, the last of the rendering, as text or
/// news) and the messages before it, which go out through `message/send`.
pub fn plan_wecom_passive(reply: &Reply, options: &RenderOptions) -> (Option<PassiveReply>, Vec<WecomOutbound>) {
    let mut messages = render_reply(reply, options);
    match messages.last().and_then(WecomOutbound::to_passive) {
        Some(passive) => {
            messages.pop();
            (Some(passive), messages)
        }
        None => (None, messages),
    }
}

/// A reply saying the question could not be answered now.
pub fn apology_reply() -> Reply {
    Reply {
        id: format!("r_{}", uuid::Uuid::new_v4().simple()),
        in_reply_to: None,
        mode: Mode::Fallback,
        intent: "channel.unavailable".to_owned(),
        confidence: 0.0,
        text: APOLOGY_TEXT.to_owned(),
        cards: Vec::new(),
        suggestions: Vec::new(),
        handoff: None,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Runtime: configured channels, the queue and its worker
// ---------------------------------------------------------------------------------------------------------------

/// The self-built app at run time.
pub struct WecomRuntime {
    pub crypt: WecomCrypt,
    pub corp_id: String,
    pub api: Option<Arc<WecomApiClient>>,
    pub passive_deadline: Duration,
}

/// The 智能机器人 at run time.
pub struct WecomBotRuntime {
    pub crypt: WecomCrypt,
    pub passive_deadline: Duration,
    /// Posts to `response_url`s (no token needed).
    pub responder: Arc<WecomApiClient>,
}

/// 今日校园 at run time.
pub struct CpdailyRuntime {
    pub app_id: String,
    pub verifier: CpdailyVerifier,
    pub push: Option<Arc<CpdailyPushClient>>,
    pub reply_deadline: Duration,
}

/// Where an answer goes when the route stopped waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// WeCom `message/send` to this member.
    WecomSend { user_id: String },
    /// The 智能机器人 stream (the worker always records the finished answer there).
    AibotStream { stream_id: String },
    /// A 智能机器人 `response_url` (template card clicks).
    AibotResponseUrl { url: String },
    /// A 今日校园 push to this 学工号.
    CpdailyPush { xgh: String },
}

/// One question for the engine.
#[derive(Debug)]
pub struct Job {
    pub channel: ChannelKind,
    /// The member as the channel names them (WeCom UserID, 学工号); the session is derived from it.
    pub channel_user: String,
    pub user: UserInfo,
    pub input: Input,
    pub delivery: Delivery,
    pub answer: oneshot::Sender<Reply>,
}

/// Why a job could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is full.
    Full,
    /// No worker is running (channels off or shutting down).
    Closed,
}

/// Why the channels could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    #[error("WeCom settings: {0}")]
    Wecom(#[from] WecomCryptError),
    #[error("WeCom API client: {0}")]
    WecomApi(#[from] super::wecom_api::WecomApiError),
    #[error("今日校园 push client: {0}")]
    CpdailyPush(#[from] super::cpdaily::CpdailyPushError),
}

/// The configured channels, shared by their routes (through `AppState`) and the worker.
pub struct Channels {
    pub wecom: Option<WecomRuntime>,
    pub wecom_bot: Option<WecomBotRuntime>,
    pub cpdaily: Option<CpdailyRuntime>,
    pub store: Option<ChannelStore>,
    pub render_options: RenderOptions,
    /// Portal notices to WeCom and 今日校园 (`channels::notices`), when either can send; the app registers it as
    /// an outlet of the portal.
    pub notices: Option<Arc<super::notices::ChannelNotices>>,
    jobs: Option<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("wecom", &self.wecom.is_some())
            .field("wecom_bot", &self.wecom_bot.is_some())
            .field("cpdaily", &self.cpdaily.is_some())
            .finish_non_exhaustive()
    }
}

/// What the worker needs besides the app state.
struct Deliverers {
    wecom_api: Option<Arc<WecomApiClient>>,
    aibot_responder: Option<Arc<WecomApiClient>>,
    cpdaily_push: Option<Arc<CpdailyPushClient>>,
    store: ChannelStore,
    render_options: RenderOptions,
}

impl Channels {
    /// No channel configured: every channel route answers 404 `channel_not_configured`.
    pub fn disabled() -> Channels {
        Channels {
            wecom: None,
            wecom_bot: None,
            cpdaily: None,
            store: None,
            render_options: RenderOptions::default(),
            notices: None,
            jobs: None,
        }
    }

    /// Sets up the configured channels and starts the worker (which stops when the server closes).
    /// `keys` holds the dedup keys, streams and bindings (the app passes its database pool).
    pub fn start(
        settings: &ChannelSettings,
        state: &AppState,
        keys: impl crate::store::channel_keys::ChannelKeyStore,
    ) -> Result<Channels, ChannelSetupError> {
        let store = ChannelStore::new(keys);
        let render_options = RenderOptions {
            fallback_url: settings.fallback_url.clone(),
            source_name: "网上服务大厅".to_owned(),
            multi_card_style: MultiCardStyle::News,
        };
        let wecom = match &settings.wecom {
            Some(s) => {
                let crypt = WecomCrypt::new(s.token.expose(), s.aes_key.expose(), &s.corp_id)?;
                let api = match (s.agent_id, &s.secret) {
                    (Some(agent_id), Some(secret)) => {
                        let mut config = WecomApiConfig::new(&s.corp_id, secret.expose(), agent_id);
                        config.base_url = s.api_base.clone();
                        Some(Arc::new(WecomApiClient::new(config)?))
                    }
                    _ => {
                        tracing::warn!(
                            "EHALL_WECOM_AGENT_ID / EHALL_WECOM_SECRET unset: late WeCom answers cannot be sent"
                        );
                        None
                    }
                };
                Some(WecomRuntime { crypt, corp_id: s.corp_id.clone(), api, passive_deadline: s.passive_deadline })
            }
            None => None,
        };
        let wecom_bot = match &settings.wecom_bot {
            Some(s) => Some(WecomBotRuntime {
                crypt: WecomCrypt::new(s.token.expose(), s.aes_key.expose(), "")?,
                passive_deadline: s.passive_deadline,
                responder: Arc::new(WecomApiClient::new(WecomApiConfig::new("", "", 0))?),
            }),
            None => None,
        };
        let cpdaily = match &settings.cpdaily {
            Some(s) => {
                let seen: Arc<dyn SeenKeyStore> = Arc::new(store.clone());
                let verifier = CpdailyVerifier::new([(s.app_id.clone(), s.secret.expose().as_bytes().to_vec())], seen);
                let push = match &s.push_url {
                    Some(url) => Some(Arc::new(CpdailyPushClient::new(CpdailyPushConfig {
                        gateway_url: url.clone(),
                        app_id: s.app_id.clone(),
                        secret: s.secret.expose().as_bytes().to_vec(),
                        request_timeout: Duration::from_secs(10),
                        retry: RetryPolicy::default(),
                    })?)),
                    None => None,
                };
                Some(CpdailyRuntime { app_id: s.app_id.clone(), verifier, push, reply_deadline: s.reply_deadline })
            }
            None => None,
        };
        let any = wecom.is_some() || wecom_bot.is_some() || cpdaily.is_some();
        let jobs = any.then(|| {
            let (sender, receiver) = mpsc::channel(JOB_QUEUE_CAPACITY);
            let deliverers = Deliverers {
                wecom_api: wecom.as_ref().and_then(|w| w.api.clone()),
                aibot_responder: wecom_bot.as_ref().map(|b| b.responder.clone()),
                cpdaily_push: cpdaily.as_ref().and_then(|c| c.push.clone()),
                store: store.clone(),
                render_options: render_options.clone(),
            };
            tokio::spawn(run_worker(state.clone(), Arc::new(deliverers), receiver));
            sender
        });
        let notices = super::notices::ChannelNotices::start(
            super::notices::NoticeSenders {
                wecom: wecom.as_ref().and_then(|w| w.api.clone()),
                cpdaily: cpdaily.as_ref().and_then(|c| c.push.clone()),
                store: store.clone(),
                render_options: render_options.clone(),
                retry: super::notices::NoticeRetry::default(),
            },
            state.closing.clone(),
        )
        .map(Arc::new);
        if any {
            tracing::info!(
                wecom = wecom.is_some(),
                wecom_bot = wecom_bot.is_some(),
                cpdaily = cpdaily.is_some(),
                "channels on"
            );
        }
        Ok(Channels { wecom, wecom_bot, cpdaily, store: Some(store), render_options, notices, jobs })
    }

    pub fn wecom(&self) -> Result<&WecomRuntime, ChannelError> {
        self.wecom.as_ref().ok_or(ChannelError::NotConfigured(ChannelKind::Wecom))
    }

    pub fn wecom_bot(&self) -> Result<&WecomBotRuntime, ChannelError> {
        self.wecom_bot.as_ref().ok_or(ChannelError::NotConfigured(ChannelKind::WecomBot))
    }

    pub fn cpdaily(&self) -> Result<&CpdailyRuntime, ChannelError> {
        self.cpdaily.as_ref().ok_or(ChannelError::NotConfigured(ChannelKind::Cpdaily))
    }

    /// The shared store (present whenever the app has a database).
    pub fn store(&self) -> Result<&ChannelStore, ChannelError> {
        self.store.as_ref().ok_or_else(|| ChannelError::Internal("channel store missing".into()))
    }

    /// Queues a job without waiting; a full queue is refused at once (the caller answers 503 so the sender retries).
    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        let Some(jobs) = &self.jobs else {
            return Err(SubmitError::Closed);
        };
        jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::Full,
            mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
        })
    }

    /// Sends a 今日校园 notice through the push client (outbound notices; e.g. a late answer).
    pub async fn push_notice(&self, message: &PushMessage) -> Result<(), ChannelError> {
        let push = self
            .cpdaily
            .as_ref()
            .and_then(|c| c.push.clone())
            .ok_or(ChannelError::NotConfigured(ChannelKind::Cpdaily))?;
        push.push(message).await.map(|_| ()).map_err(|e| ChannelError::Internal(e.to_string()))
    }
}

/// Waits up to `deadline` for the worker's answer. Once it gives up, the worker can no longer hand the answer over
/// (the receiver is closed first), so an answer is either returned here or delivered late, never both or neither.
pub async fn wait_for_answer(mut answer: oneshot::Receiver<Reply>, deadline: Duration) -> Option<Reply> {
    match tokio::time::timeout(deadline, &mut answer).await {
        Ok(Ok(reply)) => Some(reply),
        Ok(Err(_)) => None,
        Err(_) => {
            answer.close();
            answer.try_recv().ok()
        }
    }
}

/// The session of one channel member: a stable id derived from the channel, the member and their campus id, created
/// on first use.
pub async fn channel_session(
    state: &AppState,
    channel: ChannelKind,
    channel_user: &str,
    user: &UserInfo,
) -> Result<Session, crate::error::ApiError> {
    let prefix = match channel {
        ChannelKind::Wecom => "wecom",
        ChannelKind::WecomBot => "wecombot",
        ChannelKind::Cpdaily => "cpdaily",
    };
    // The campus id is part of the key: when a binding changes, the member starts a session as the new user
    // (a session's turns only carry the user it was created for).
    let digest = hex::encode(Sha256::digest(format!("{channel_user}|{}", user.id).as_bytes()));
    let raw = format!("{prefix}_{}", &digest[..40]);
    let id = SessionId::parse(&raw).unwrap_or_else(SessionId::generate);
    if state.store.load(&id).await?.is_some() {
        return Ok(Session::new(id, Some(user.clone()), true));
    }
    let stored =
        StoredSession { id: id.clone(), user_id: Some(user.id.clone()), state: DialogueState::default(), version: 0 };
    if let Err(e) = state.store.create(&stored).await {
        // Two first messages at once: the other one created it.
        if state.store.load(&id).await?.is_none() {
            return Err(e.into());
        }
    }
    Ok(Session::new(id, Some(user.clone()), false))
}

fn store_channel(channel: ChannelKind) -> Channel {
    match channel {
        ChannelKind::Wecom => Channel::Wecom,
        ChannelKind::WecomBot => Channel::WecomBot,
        ChannelKind::Cpdaily => Channel::Cpdaily,
    }
}

async fn answer_job(state: &AppState, job: &Job) -> Reply {
    let session = match channel_session(state, job.channel, &job.channel_user, &job.user).await {
        Ok(session) => session,
        Err(e) => {
            e.log();
            return apology_reply();
        }
    };
    match conversation::turn(state, &session, store_channel(job.channel), job.input.clone(), None).await {
        Ok(reply) => reply,
        Err(e) => {
            e.log();
            apology_reply()
        }
    }
}

/// The worker: takes jobs off the queue and runs each in its own task (engine turns are bounded by the app's turn
/// permits); stops when the server closes.
async fn run_worker(state: AppState, deliverers: Arc<Deliverers>, mut jobs: mpsc::Receiver<Job>) {
    let mut purge = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            () = state.closing.wait() => break,
            _ = purge.tick() => {
                if let Err(e) = deliverers.store.purge(unix_now()).await {
                    tracing::warn!(error = %e, "cannot purge expired channel keys");
                }
            }
            job = jobs.recv() => {
                let Some(job) = job else { break };
                let state = state.clone();
                let deliverers = deliverers.clone();
                tokio::spawn(async move { process_job(&state, &deliverers, job).await });
            }
        }
    }
}

async fn process_job(state: &AppState, deliverers: &Deliverers, job: Job) {
    let reply = answer_job(state, &job).await;
    if let Delivery::AibotStream { stream_id } = &job.delivery {
        let (markdown, card) = render_wecom_bot(&reply, &deliverers.render_options);
        if let Err(e) = deliverers.store.finish_stream(stream_id, &markdown, card.as_ref()).await {
            tracing::error!(error = %e, "cannot record the finished stream");
        }
    }
    let Job { delivery, answer, .. } = job;
    let Err(reply) = answer.send(reply) else { return };
    deliver_late(deliverers, delivery, reply).await;
}

/// Delivers an answer its route no longer waits for.
async fn deliver_late(deliverers: &Deliverers, delivery: Delivery, reply: Reply) {
    match delivery {
        Delivery::WecomSend { user_id } => {
            let Some(api) = &deliverers.wecom_api else {
                tracing::warn!("a late WeCom answer is dropped: message/send is not configured");
                return;
            };
            let messages = render_wecom_active(&reply, &deliverers.render_options);
            match api.send_all(&Recipients::user(&user_id), &messages).await {
                Ok(_) => tracing::info!(messages = messages.len(), "late WeCom answer sent"),
                Err(e) => tracing::error!(error = %e, "cannot send the WeCom answer"),
            }
        }
        // Already recorded in the stream, which WeCom polls.
        Delivery::AibotStream { .. } => {}
        Delivery::AibotResponseUrl { url } => {
            let Some(responder) = &deliverers.aibot_responder else {
                return;
            };
            let markdown = render_markdown(&reply, &deliverers.render_options);
            let active = AibotActiveReply::Markdown { markdown: AibotMarkdown { content: markdown, feedback: None } };
            if let Err(e) = responder.post_aibot_response(&url, &active).await {
                tracing::error!(error = %e, "cannot post the 智能机器人 answer to response_url");
            }
        }
        Delivery::CpdailyPush { xgh } => {
            let Some(push) = &deliverers.cpdaily_push else {
                tracing::warn!("a late 今日校园 answer is dropped: EHALL_CPDAILY_PUSH_URL is not set");
                return;
            };
            let rendered = render_webhook_reply(&reply);
            let message = PushMessage::to_xgh(
                vec![xgh],
                "办事大厅助手回复",
                &rendered.reply.text,
                rendered.reply.link.as_deref(),
            );
            if let Err(e) = push.push(&message).await {
                tracing::error!(error = %e, "cannot push the 今日校园 answer");
            }
        }
    }
}

/// A plain-text 200 with an empty body: WeCom's "received, no passive reply".
pub fn empty_ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "").into_response()
}

#[cfg(test)]
mod tests;
