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
use sqlx::{AnyPool, Row};
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

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

/// The channel flags of `serve`; each reads its `EHALL_*` environment variable, so the environment alone
/// configures the channels. A channel is on when its required values are set.
#[derive(Clone, Default, clap::Args)]
pub struct ChannelArgs {
    /// WeCom CorpID (ww…), the receive id of the self-built app's callbacks.
    #[arg(long, env = "EHALL_WECOM_CORP_ID")]
    pub wecom_corp_id: Option<String>,
    /// WeCom AgentID of the self-built app (needed for message/send).
    #[arg(long, env = "EHALL_WECOM_AGENT_ID")]
    pub wecom_agent_id: Option<i64>,
    /// WeCom app Secret (needed for message/send).
    #[arg(long, env = "EHALL_WECOM_SECRET", hide_env_values = true)]
    pub wecom_secret: Option<String>,
    /// Callback Token of the self-built app.
    #[arg(long, env = "EHALL_WECOM_TOKEN", hide_env_values = true)]
    pub wecom_token: Option<String>,
    /// Callback EncodingAESKey (43 characters) of the self-built app.
    #[arg(long, env = "EHALL_WECOM_AES_KEY", hide_env_values = true)]
    pub wecom_aes_key: Option<String>,
    /// WeCom API base URL [default: https://qyapi.weixin.qq.com].
    #[arg(long, env = "EHALL_WECOM_API_BASE")]
    pub wecom_api_base: Option<String>,
    /// How long a WeCom callback waits for the answer before replying empty and sending it later [default: 4000].
    #[arg(long, env = "EHALL_WECOM_PASSIVE_DEADLINE_MS")]
    pub wecom_passive_deadline_ms: Option<u64>,
    /// Callback Token of the WeCom 智能机器人.
    #[arg(long, env = "EHALL_WECOM_BOT_TOKEN", hide_env_values = true)]
    pub wecom_bot_token: Option<String>,
    /// Callback EncodingAESKey of the WeCom 智能机器人.
    #[arg(long, env = "EHALL_WECOM_BOT_AES_KEY", hide_env_values = true)]
    pub wecom_bot_aes_key: Option<String>,
    /// The 今日校园 gateway's app id (X-App-Id, both directions).
    #[arg(long, env = "EHALL_CPDAILY_APP_ID")]
    pub cpdaily_app_id: Option<String>,
    /// The secret shared with the 今日校园 gateway (HMAC-SHA256).
    #[arg(long, env = "EHALL_CPDAILY_SECRET", hide_env_values = true)]
    pub cpdaily_secret: Option<String>,
    /// The 今日校园 gateway base URL for pushes (POST {url}/v1/messages); no pushes when unset.
    #[arg(long, env = "EHALL_CPDAILY_PUSH_URL")]
    pub cpdaily_push_url: Option<String>,
    /// Where cards without a link of their own point in WeCom [default: https://ehall.tjcu.edu.cn/].
    #[arg(long, env = "EHALL_CHANNEL_FALLBACK_URL")]
    pub channel_fallback_url: Option<String>,
}

impl std::fmt::Debug for ChannelArgs {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelArgs")
            .field("wecom_corp_id", &self.wecom_corp_id)
            .field("wecom_agent_id", &self.wecom_agent_id)
            .field("wecom_api_base", &self.wecom_api_base)
            .field("cpdaily_app_id", &self.cpdaily_app_id)
            .field("cpdaily_push_url", &self.cpdaily_push_url)
            .finish_non_exhaustive()
    }
}

/// The WeCom self-built app.
#[derive(Debug, Clone)]
pub struct WecomSettings {
    pub corp_id: String,
    pub token: Secret<String>,
    pub aes_key: Secret<String>,
    /// Both set: answers that miss the passive deadline go out through `message/send`.
    pub agent_id: Option<i64>,
    pub secret: Option<Secret<String>>,
    pub api_base: String,
    pub passive_deadline: Duration,
}

/// The WeCom 智能机器人 (receive id "").
#[derive(Debug, Clone)]
pub struct WecomBotSettings {
    pub token: Secret<String>,
    pub aes_key: Secret<String>,
    pub passive_deadline: Duration,
}

/// The 今日校园 gateway contract (docs/channels.md §3).
#[derive(Debug, Clone)]
pub struct CpdailySettings {
    pub app_id: String,
    pub secret: Secret<String>,
    pub push_url: Option<String>,
    pub reply_deadline: Duration,
}

/// Which channels are on and how they are reached; all off by default.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    pub wecom: Option<WecomSettings>,
    pub wecom_bot: Option<WecomBotSettings>,
    pub cpdaily: Option<CpdailySettings>,
    pub fallback_url: String,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            wecom: None,
            wecom_bot: None,
            cpdaily: None,
            fallback_url: DEFAULT_FALLBACK_URL.to_owned(),
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl ChannelSettings {
    /// Builds the settings from the flags; a channel given only some of its required values is an error.
    pub fn from_args(args: &ChannelArgs) -> Result<ChannelSettings, SettingsError> {
        let invalid = |key, message: &str| SettingsError::Invalid {
            key,
            message: message.to_owned(),
        };
        let mut settings = ChannelSettings::default();
        if let Some(url) = non_empty(&args.channel_fallback_url) {
            settings.fallback_url = url;
        }
        let wecom = (
            non_empty(&args.wecom_corp_id),
            non_empty(&args.wecom_token),
            non_empty(&args.wecom_aes_key),
        );
        settings.wecom = match wecom {
            (None, None, None) => None,
            (Some(corp_id), Some(token), Some(aes_key)) => {
                WecomCrypt::new(&token, &aes_key, &corp_id)
                    .map_err(|_| invalid("EHALL_WECOM_AES_KEY", "must be the 43-character EncodingAESKey"))?;
                Some(WecomSettings {
                    corp_id,
                    token: Secret::new(token),
                    aes_key: Secret::new(aes_key),
                    agent_id: args.wecom_agent_id,
                    secret: non_empty(&args.wecom_secret).map(Secret::new),
                    api_base: non_empty(&args.wecom_api_base).unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
                    passive_deadline: Duration::from_millis(
                        args.wecom_passive_deadline_ms.unwrap_or(DEFAULT_PASSIVE_DEADLINE_MS),
                    ),
                })
            }
            _ => {
                return Err(invalid(
                    "EHALL_WECOM_CORP_ID",
                    "the WeCom app needs EHALL_WECOM_CORP_ID, EHALL_WECOM_TOKEN and EHALL_WECOM_AES_KEY together",
                ))
            }
        };
        settings.wecom_bot = match (non_empty(&args.wecom_bot_token), non_empty(&args.wecom_bot_aes_key)) {
            (None, None) => None,
            (Some(token), Some(aes_key)) => {
                WecomCrypt::new(&token, &aes_key, "")
                    .map_err(|_| invalid("EHALL_WECOM_BOT_AES_KEY", "must be the 43-character EncodingAESKey"))?;
                Some(WecomBotSettings {
                    token: Secret::new(token),
                    aes_key: Secret::new(aes_key),
                    passive_deadline: Duration::from_millis(
                        args.wecom_passive_deadline_ms.unwrap_or(DEFAULT_PASSIVE_DEADLINE_MS),
                    ),
                })
            }
            _ => {
                return Err(invalid(
                    "EHALL_WECOM_BOT_TOKEN",
                    "the WeCom 智能机器人 needs EHALL_WECOM_BOT_TOKEN and EHALL_WECOM_BOT_AES_KEY together",
                ))
            }
        };
        settings.cpdaily = match (non_empty(&args.cpdaily_app_id), non_empty(&args.cpdaily_secret)) {
            (None, None) => None,
            (Some(app_id), Some(secret)) => Some(CpdailySettings {
                app_id,
                secret: Secret::new(secret),
                push_url: non_empty(&args.cpdaily_push_url),
                reply_deadline: Duration::from_millis(DEFAULT_CPDAILY_DEADLINE_MS),
            }),
            _ => {
                return Err(invalid(
                    "EHALL_CPDAILY_APP_ID",
                    "今日校园 needs EHALL_CPDAILY_APP_ID and EHALL_CPDAILY_SECRET together",
                ))
            }
        };
        Ok(settings)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/// The channels, as named in errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Wecom,
    WecomBot,
    Cpdaily,
}

impl ChannelKind {
    fn label(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "企业微信自建应用",
            ChannelKind::WecomBot => "企业微信智能机器人",
            ChannelKind::Cpdaily => "今日校园",
        }
    }

    fn env_hint(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "EHALL_WECOM_CORP_ID、EHALL_WECOM_TOKEN、EHALL_WECOM_AES_KEY",
            ChannelKind::WecomBot => "EHALL_WECOM_BOT_TOKEN、EHALL_WECOM_BOT_AES_KEY",
            ChannelKind::Cpdaily => "EHALL_CPDAILY_APP_ID、EHALL_CPDAILY_SECRET",
        }
    }
}

/// Every failure the channel routes answer with: `{"error": {"code", "message"}}` like the rest of the server, plus
/// `wecom_code` (the WXBizMsgCrypt library code) for WeCom crypto failures. Codes are stable.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The channel's settings are not given.
    #[error("{} is not configured", .0.label())]
    NotConfigured(ChannelKind),
    /// A query parameter the callback needs is missing.
    #[error("missing query parameter {0}")]
    MissingParameter(&'static str),
    /// Verification, decryption or parsing of a WeCom delivery failed.
    #[error("WeCom callback refused: {0}")]
    Wecom(#[from] WecomCryptError),
    /// A WeCom callback's timestamp is not within the accepted window (a replay, or a broken clock).
    #[error("WeCom callback timestamp outside the accepted window")]
    StaleTimestamp,
    /// A 今日校园 request failed verification.
    #[error("cpdaily request refused: {0}")]
    Cpdaily(#[from] CpdailyAuthError),
    /// A verified body that is not the expected JSON.
    #[error("malformed event: {0}")]
    MalformedEvent(String),
    /// The request body is over the channel body limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// The job queue is full; the sender should retry.
    #[error("channel queue is full")]
    Overloaded,
    /// A store or other server fault (logged, never shown).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<AibotParseError> for ChannelError {
    fn from(_: AibotParseError) -> Self {
        ChannelError::Wecom(WecomCryptError::ParseXml)
    }
}

impl From<axum::extract::rejection::BytesRejection> for ChannelError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ChannelError::BodyTooLarge
        } else {
            ChannelError::MalformedEvent("the body could not be read".into())
        }
    }
}

impl From<sqlx::Error> for ChannelError {
    fn from(error: sqlx::Error) -> Self {
        ChannelError::Internal(error.to_string())
    }
}

impl ChannelError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ChannelError::NotConfigured(_) => "channel_not_configured",
            ChannelError::MissingParameter(_) => "missing_parameter",
            ChannelError::Wecom(e) => match e {
                WecomCryptError::ValidateSignature => "wecom_bad_signature",
                WecomCryptError::ParseXml => "wecom_malformed_body",
                WecomCryptError::ValidateReceiveId => "wecom_receive_id_mismatch",
                WecomCryptError::DecryptAes => "wecom_decrypt_failed",
                WecomCryptError::IllegalBuffer => "wecom_illegal_buffer",
                WecomCryptError::DecodeBase64 => "wecom_bad_base64",
                WecomCryptError::IllegalAesKey
                | WecomCryptError::ComputeSignature
                | WecomCryptError::EncryptAes
                | WecomCryptError::EncodeBase64
                | WecomCryptError::GenReturnXml => "wecom_crypto_failed",
            },
            ChannelError::StaleTimestamp => "wecom_stale_timestamp",
            ChannelError::Cpdaily(e) => e.code(),
            ChannelError::MalformedEvent(_) => "malformed_event",
            ChannelError::BodyTooLarge => "body_too_large",
            ChannelError::Overloaded => "overloaded",
            ChannelError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ChannelError::NotConfigured(_) => StatusCode::NOT_FOUND,
            ChannelError::MissingParameter(_) | ChannelError::MalformedEvent(_) => StatusCode::BAD_REQUEST,
            ChannelError::Wecom(e) => match e {
                WecomCryptError::ValidateSignature | WecomCryptError::ValidateReceiveId => StatusCode::UNAUTHORIZED,
                WecomCryptError::ParseXml
                | WecomCryptError::DecryptAes
                | WecomCryptError::IllegalBuffer
                | WecomCryptError::DecodeBase64 => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ChannelError::StaleTimestamp => StatusCode::UNAUTHORIZED,
            ChannelError::Cpdaily(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ChannelError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ChannelError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ChannelError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller is told (Chinese, without internals).
    pub fn public_message(&self) -> String {
        match self {
            ChannelError::NotConfigured(kind) => {
                format!("{}渠道未配置（需要设置 {}）", kind.label(), kind.env_hint())
            }
            ChannelError::MissingParameter(name) => format!("缺少参数 {name}"),
            ChannelError::Wecom(e) => {
                let what = match e {
                    WecomCryptError::ValidateSignature => "签名校验失败",
                    WecomCryptError::ParseXml => "消息体无法解析",
                    WecomCryptError::ValidateReceiveId => "ReceiveId（CorpID）不匹配",
                    WecomCryptError::DecryptAes => "消息解密失败",
                    WecomCryptError::IllegalBuffer => "解密后的内容不合法",
                    WecomCryptError::DecodeBase64 => "密文不是合法的 Base64",
                    _ => "加解密失败",
                };
                format!("企业微信回调校验失败：{what}（{}）", e.code())
            }
            ChannelError::StaleTimestamp => {
                format!("企业微信回调校验失败：时间戳不在允许范围内（±{WECOM_TIMESTAMP_WINDOW_SECS} 秒）")
            }
            ChannelError::Cpdaily(e) => match e {
                CpdailyAuthError::MissingHeader(name) => format!("缺少请求头 {name}"),
                CpdailyAuthError::MalformedTimestamp => "时间戳格式不正确".to_owned(),
                CpdailyAuthError::MalformedNonce => "随机数格式不正确".to_owned(),
                CpdailyAuthError::MalformedIdempotencyKey => "幂等键格式不正确".to_owned(),
                CpdailyAuthError::UnknownApp => "未知的应用".to_owned(),
                CpdailyAuthError::StaleTimestamp { .. } => "请求时间戳已过期".to_owned(),
                CpdailyAuthError::BadSignature => "签名校验失败".to_owned(),
                CpdailyAuthError::ReplayedNonce => "重复的请求（随机数已使用）".to_owned(),
                CpdailyAuthError::Store(_) => "服务暂不可用，请稍后重试".to_owned(),
            },
            ChannelError::MalformedEvent(_) => "无法解析的事件内容".to_owned(),
            ChannelError::BodyTooLarge => "请求内容过大".to_owned(),
            ChannelError::Overloaded => "服务繁忙，请稍后再试".to_owned(),
            ChannelError::Internal(_) => "服务器内部错误，请稍后再试".to_owned(),
        }
    }
}

impl IntoResponse for ChannelError {
    fn into_response(self) -> Response {
        match &self {
            ChannelError::Internal(_) => tracing::error!(error = %self, "channel request failed"),
            ChannelError::Overloaded => tracing::warn!(error = %self, "channel request refused"),
            _ => tracing::debug!(error = %self, "channel request refused"),
        }
        let mut error = serde_json::json!({"code": self.code(), "message": self.public_message()});
        if let ChannelError::Wecom(e) = &self {
            error["wecom_code"] = serde_json::json!(e.code());
        }
        (self.status(), axum::Json(serde_json::json!({ "error": error }))).into_response()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// DB-backed stores
// ---------------------------------------------------------------------------------------------------------------

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    super::cpdaily::unix_now()
}

/// The fixed-format RFC 3339 UTC time of `secs` (compares correctly as text).
fn rfc3339(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One 智能机器人 stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    pub content: String,
    /// The template card sent with the finished stream, as JSON.
    pub card_json: Option<String>,
    pub finished: bool,
    pub started_at: u64,
}

/// Dedup keys, nonces, recorded responses, streams and bindings in the server's database, so that every replica
/// sees them.
#[derive(Clone, Debug)]
pub struct ChannelStore {
    pool: AnyPool,
}

impl ChannelStore {
    pub fn new(pool: AnyPool) -> ChannelStore {
        ChannelStore { pool }
    }

    /// Claims `key` for `ttl_secs`: true when it was not live (new, or expired and taken over), false when it was.
    pub async fn claim(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, sqlx::Error> {
        let now_text = rfc3339(now);
        let expires = rfc3339(now.saturating_add(ttl_secs));
        let inserted = sqlx::query(
            "INSERT INTO channel_dedup (dedup_key, response, expires_at, created_at) VALUES ($1, NULL, $2, $3) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires.clone())
        .bind(now_text.clone())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        // An expired row is taken over by exactly one claimant: the conditional update succeeds once.
        let taken = sqlx::query(
            "UPDATE channel_dedup SET response = NULL, expires_at = $2, created_at = $3 \
             WHERE dedup_key = $1 AND expires_at <= $3",
        )
        .bind(key)
        .bind(expires)
        .bind(now_text)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Forgets a claim (the delivery was refused, so its retry must be processed).
    pub async fn release(&self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM channel_dedup WHERE dedup_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what a claimed key was answered with.
    pub async fn set_response(&self, key: &str, response: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE channel_dedup SET response = $2 WHERE dedup_key = $1")
            .bind(key)
            .bind(response)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The recorded response of a key: `None` if the key is unknown, `Some(None)` while it is being answered.
    pub async fn response(&self, key: &str) -> Result<Option<Option<String>>, sqlx::Error> {
        let row = sqlx::query("SELECT response FROM channel_dedup WHERE dedup_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get::<Option<String>, _>("response")).transpose()
    }

    /// Deletes expired keys and streams.
    pub async fn purge(&self, now: u64) -> Result<(), sqlx::Error> {
        let now = rfc3339(now);
        sqlx::query("DELETE FROM channel_dedup WHERE expires_at <= $1")
            .bind(now.clone())
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM aibot_streams WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a stream with its placeholder.
    pub async fn create_stream(&self, stream_id: &str, placeholder: &str, now: u64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO aibot_streams (stream_id, content, card_json, finished, started_at, expires_at) \
             VALUES ($1, $2, NULL, 0, $3, $4)",
        )
        .bind(stream_id)
        .bind(placeholder)
        .bind(i64::try_from(now).unwrap_or(i64::MAX))
        .bind(rfc3339(now.saturating_add(AIBOT_STREAM_TTL_SECS)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a stream's whole answer and marks it finished.
    pub async fn finish_stream(
        &self,
        stream_id: &str,
        content: &str,
        card: Option<&TemplateCard>,
    ) -> Result<(), sqlx::Error> {
        let card_json = card.and_then(|c| serde_json::to_string(c).ok());
        sqlx::query("UPDATE aibot_streams SET content = $2, card_json = $3, finished = 1 WHERE stream_id = $1")
            .bind(stream_id)
            .bind(content)
            .bind(card_json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A stream's progress, if it exists.
    pub async fn stream(&self, stream_id: &str) -> Result<Option<StoredStream>, sqlx::Error> {
        let row =
            sqlx::query("SELECT content, card_json, finished, started_at FROM aibot_streams WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let card_json: Option<String> = row.try_get("card_json")?;
        Ok(Some(StoredStream {
            content: row.try_get("content")?,
            card_json,
            finished: row.try_get::<i64, _>("finished")? != 0,
            started_at: u64::try_from(row.try_get::<i64, _>("started_at")?).unwrap_or(0),
        }))
    }

    /// The campus user behind a WeCom UserID (or a 今日校园 学工号): the `wecom_bindings` row if any, then the
    /// `users` table of CAS logins for the name and role; else the id itself as a 学生 (documented default).
    pub async fn resolve_user(&self, channel_user_id: &str, use_bindings: bool) -> UserInfo {
        let mut id = channel_user_id.to_owned();
        let mut name: Option<String> = None;
        let mut role: Option<Role> = None;
        if use_bindings {
            let bound = sqlx::query("SELECT campus_id, name, role FROM wecom_bindings WHERE wecom_user_id = $1")
                .bind(channel_user_id)
                .fetch_optional(&self.pool)
                .await;
            match bound {
                Ok(Some(row)) => {
                    if let Ok(campus_id) = row.try_get::<String, _>("campus_id") {
                        id = campus_id;
                    }
                    name = row.try_get::<Option<String>, _>("name").ok().flatten();
                    role = row
                        .try_get::<Option<String>, _>("role")
                        .ok()
                        .flatten()
                        .and_then(|r| Role::parse(&r));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read wecom_bindings"),
            }
        }
        // The users table belongs to CAS login; it may be absent in older databases, which only costs the name.
        let known = sqlx::query("SELECT name, role FROM users WHERE id = $1")
            .bind(id.clone())
            .fetch_optional(&self.pool)
            .await;
        if let Ok(Some(row)) = known {
            if name.is_none() {
                name = row.try_get::<String, _>("name").ok();
            }
            if role.is_none() {
                role = row.try_get::<String, _>("role").ok().and_then(|r| Role::parse(&r));
            }
        }
        UserInfo {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            role: role.unwrap_or(Role::Student),
        }
    }
}

impl ChannelStore {
    /// The WeCom UserIDs of a campus user, for pushing them notices (the reverse of [`ChannelStore::resolve_user`]):
    /// the `wecom_bindings` rows bound to this campus id; without any, the campus id itself (UserID = 学工号), unless
    /// a row binds that UserID to another campus user, in which case none.
    pub async fn wecom_user_ids(&self, campus_id: &str) -> Result<Vec<String>, sqlx::Error> {
        let bound = sqlx::query("SELECT wecom_user_id FROM wecom_bindings WHERE campus_id = $1 ORDER BY wecom_user_id")
            .bind(campus_id)
            .fetch_all(&self.pool)
            .await?;
        if !bound.is_empty() {
            return bound.iter().map(|row| row.try_get::<String, _>("wecom_user_id")).collect();
        }
        let taken = sqlx::query("SELECT campus_id FROM wecom_bindings WHERE wecom_user_id = $1")
            .bind(campus_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(if taken.is_some() { Vec::new() } else { vec![campus_id.to_owned()] })
    }
}

impl SeenKeyStore for ChannelStore {
    fn insert_if_absent<'a>(
        &'a self,
        key: &'a str,
        ttl_secs: u64,
        now: u64,
    ) -> StoreFuture<'a, Result<bool, SeenStoreError>> {
        Box::pin(async move {
            self.claim(key, ttl_secs, now)
                .await
                .map_err(|e| SeenStoreError::Backend(e.to_string()))
        })
    }
}

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
    WecomBot {
        markdown: String,
        card: Option<TemplateCard>,
    },
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
        let card = if card.kind == CardKind::List {
            card.items.first().unwrap_or(card)
        } else {
            card
        };
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
    pub fn start(settings: &ChannelSettings, state: &AppState, pool: AnyPool) -> Result<Channels, ChannelSetupError> {
        let store = ChannelStore::new(pool);
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
                Some(WecomRuntime {
                    crypt,
                    corp_id: s.corp_id.clone(),
                    api,
                    passive_deadline: s.passive_deadline,
                })
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
                Some(CpdailyRuntime {
                    app_id: s.app_id.clone(),
                    verifier,
                    push,
                    reply_deadline: s.reply_deadline,
                })
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
        Ok(Channels {
            wecom,
            wecom_bot,
            cpdaily,
            store: Some(store),
            render_options,
            notices,
            jobs,
        })
    }

    pub fn wecom(&self) -> Result<&WecomRuntime, ChannelError> {
        self.wecom
            .as_ref()
            .ok_or(ChannelError::NotConfigured(ChannelKind::Wecom))
    }

    pub fn wecom_bot(&self) -> Result<&WecomBotRuntime, ChannelError> {
        self.wecom_bot
            .as_ref()
            .ok_or(ChannelError::NotConfigured(ChannelKind::WecomBot))
    }

    pub fn cpdaily(&self) -> Result<&CpdailyRuntime, ChannelError> {
        self.cpdaily
            .as_ref()
            .ok_or(ChannelError::NotConfigured(ChannelKind::Cpdaily))
    }

    /// The shared store (present whenever the app has a database).
    pub fn store(&self) -> Result<&ChannelStore, ChannelError> {
        self.store
            .as_ref()
            .ok_or_else(|| ChannelError::Internal("channel store missing".into()))
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
        push.push(message)
            .await
            .map(|_| ())
            .map_err(|e| ChannelError::Internal(e.to_string()))
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
        return Ok(Session {
            id,
            user: Some(user.clone()),
            resumed: true,
        });
    }
    let stored = StoredSession {
        id: id.clone(),
        user_id: Some(user.id.clone()),
        state: DialogueState::default(),
    };
    if let Err(e) = state.store.create(&stored).await {
        // Two first messages at once: the other one created it.
        if state.store.load(&id).await?.is_none() {
            return Err(e.into());
        }
    }
    Ok(Session {
        id,
        user: Some(user.clone()),
        resumed: false,
    })
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
        if let Err(e) = deliverers
            .store
            .finish_stream(stream_id, &markdown, card.as_ref())
            .await
        {
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
            let active = AibotActiveReply::Markdown {
                markdown: AibotMarkdown {
                    content: markdown,
                    feedback: None,
                },
            };
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
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "",
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use bot::protocol::{Field, Suggestion};

    fn reply_with(cards: Vec<Card>) -> Reply {
        Reply {
            id: "r_1".into(),
            in_reply_to: None,
            mode: Mode::Answer,
            intent: "service.guide".into(),
            confidence: 0.9,
            text: "为您找到：".into(),
            cards,
            suggestions: vec![Suggestion::text("需要什么材料")],
        }
    }

    const KINDS: [CardKind; 11] = [
        CardKind::Service,
        CardKind::App,
        CardKind::Faq,
        CardKind::News,
        CardKind::Task,
        CardKind::Message,
        CardKind::Account,
        CardKind::Contact,
        CardKind::Feedback,
        CardKind::Login,
        CardKind::List,
    ];

    fn card_of(kind: CardKind) -> Card {
        let mut card = Card::new(kind, "c1", "学生助学金申请");
        card.body = Some("家庭经济困难学生可申请。".into());
        card.fields = vec![Field::new("状态", "已受理")];
        card.actions = vec![CardAction::OpenUrl {
            label: "在线办理".into(),
            url: "https://xg.example.edu.cn/".into(),
        }];
        if kind == CardKind::List {
            card.items = vec![card_of(CardKind::Service)];
        }
        card
    }

    #[test]
    fn every_card_kind_renders_on_every_channel_with_its_link() {
        let options = RenderOptions::default();
        for kind in KINDS {
            let reply = reply_with(vec![card_of(kind)]);
            let Rendered::WebJson(json) = render(&reply, Rendering::WebJson, &options) else {
                panic!()
            };
            assert_eq!(json["cards"][0]["title"], "学生助学金申请", "{kind:?}");

            let Rendered::WecomApp(messages) = render(&reply, Rendering::WecomApp, &options) else {
                panic!()
            };
            let last = serde_json::to_value(messages.last().unwrap()).unwrap();
            assert_eq!(last["msgtype"], "textcard", "{kind:?}");
            assert_eq!(last["textcard"]["url"], "https://xg.example.edu.cn/", "{kind:?}");
            let (passive, before) = plan_wecom_passive(&reply, &options);
            assert!(matches!(passive, Some(PassiveReply::News { .. })), "{kind:?}");
            assert_eq!(before.len(), 1, "the intro text goes actively: {kind:?}");

            let Rendered::WecomBot { markdown, card } = render(&reply, Rendering::WecomBot, &options) else {
                panic!()
            };
            assert!(
                markdown.contains("[学生助学金申请](https://xg.example.edu.cn/)"),
                "{kind:?}: {markdown}"
            );
            let card = serde_json::to_value(card.unwrap()).unwrap();
            assert_eq!(card["card_action"]["url"], "https://xg.example.edu.cn/", "{kind:?}");

            let Rendered::Cpdaily(answer) = render(&reply, Rendering::Cpdaily, &options) else {
                panic!()
            };
            assert!(answer.reply.text.contains("学生助学金申请"), "{kind:?}");
            if kind != CardKind::List {
                assert_eq!(
                    answer.reply.link.as_deref(),
                    Some("https://xg.example.edu.cn/"),
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn a_card_with_chat_actions_goes_out_as_a_button_card() {
        let mut card = card_of(CardKind::Service);
        card.actions.push(CardAction::Action {
            label: "就是这个".into(),
            action: "item.show".into(),
            args: Default::default(),
        });
        let messages = render_wecom_active(&reply_with(vec![card]), &RenderOptions::default());
        let json = serde_json::to_value(messages.last().unwrap()).unwrap();
        assert_eq!(json["template_card"]["card_type"], "button_interaction");
        assert_eq!(json["template_card"]["button_list"][0]["key"], "item.show");
    }

    #[test]
    fn a_text_only_reply_is_a_passive_text() {
        let (passive, before) = plan_wecom_passive(&reply_with(vec![]), &RenderOptions::default());
        assert!(matches!(passive, Some(PassiveReply::Text { .. })));
        assert!(before.is_empty());
    }

    #[test]
    fn settings_need_the_whole_trio() {
        let partial = ChannelArgs {
            wecom_corp_id: Some("ww1".into()),
            ..ChannelArgs::default()
        };
        assert!(ChannelSettings::from_args(&partial).is_err());
        let bad_key = ChannelArgs {
            wecom_corp_id: Some("ww1".into()),
            wecom_token: Some("t".into()),
            wecom_aes_key: Some("short".into()),
            ..ChannelArgs::default()
        };
        assert!(ChannelSettings::from_args(&bad_key).is_err());
        let good = ChannelArgs {
            wecom_corp_id: Some("wx5823bf96d3bd56c7".into()),
            wecom_token: Some("QDG6eK".into()),
            wecom_aes_key: Some("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into()),
            wecom_secret: Some("hunter2".into()),
            ..ChannelArgs::default()
        };
        let settings = ChannelSettings::from_args(&good).unwrap();
        assert!(settings.wecom.is_some() && settings.cpdaily.is_none());
        assert!(!format!("{settings:?} {good:?}").contains("hunter2"));
        assert!(ChannelSettings::from_args(&ChannelArgs::default())
            .unwrap()
            .wecom
            .is_none());
    }

    #[test]
    fn crypto_errors_have_stable_codes_and_statuses() {
        let e = ChannelError::from(WecomCryptError::ValidateSignature);
        assert_eq!(
            (e.code(), e.status()),
            ("wecom_bad_signature", StatusCode::UNAUTHORIZED)
        );
        let e = ChannelError::from(WecomCryptError::DecryptAes);
        assert_eq!(
            (e.code(), e.status()),
            ("wecom_decrypt_failed", StatusCode::BAD_REQUEST)
        );
        let e = ChannelError::NotConfigured(ChannelKind::Wecom);
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert!(e.public_message().contains("EHALL_WECOM_TOKEN"));
    }

    #[tokio::test]
    async fn the_dedup_store_claims_once_and_takes_over_expired_keys() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/c.sqlite", dir.path().display()))
            .await
            .unwrap();
        let store = ChannelStore::new(sql.pool().clone());
        assert!(store.claim("k", 60, 1000).await.unwrap());
        assert!(!store.claim("k", 60, 1030).await.unwrap());
        assert_eq!(store.response("k").await.unwrap(), Some(None));
        store.set_response("k", "answer").await.unwrap();
        assert_eq!(store.response("k").await.unwrap(), Some(Some("answer".into())));
        assert!(
            store.claim("k", 60, 1061).await.unwrap(),
            "an expired key is claimed anew"
        );
        store.release("k").await.unwrap();
        assert_eq!(store.response("k").await.unwrap(), None);
        store.create_stream("st1", STREAM_PLACEHOLDER, 1000).await.unwrap();
        assert!(!store.stream("st1").await.unwrap().unwrap().finished);
        store.finish_stream("st1", "答案", None).await.unwrap();
        let stream = store.stream("st1").await.unwrap().unwrap();
        assert!(stream.finished && stream.content == "答案");
        let user = store.resolve_user("2021001234", true).await;
        assert_eq!((user.id.as_str(), user.role), ("2021001234", Role::Student));
    }

    #[tokio::test]
    async fn notices_go_to_the_bound_wecom_user_ids_or_the_campus_id() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/c.sqlite", dir.path().display()))
            .await
            .unwrap();
        let store = ChannelStore::new(sql.pool().clone());
        assert_eq!(store.wecom_user_ids("2021001234").await.unwrap(), ["2021001234"]);
        for (wecom, campus) in [("zhangsan", "2021001234"), ("zs-phone", "2021001234"), ("T2008001", "2021009999")] {
            sqlx::query("INSERT INTO wecom_bindings (wecom_user_id, campus_id, name, role, created_at) VALUES ($1, $2, NULL, NULL, '2026-11-28T00:00:00Z')")
                .bind(wecom)
                .bind(campus)
                .execute(sql.pool())
                .await
                .unwrap();
        }
        assert_eq!(store.wecom_user_ids("2021001234").await.unwrap(), ["zhangsan", "zs-phone"]);
        assert!(
            store.wecom_user_ids("T2008001").await.unwrap().is_empty(),
            "that UserID belongs to someone else"
        );
        assert_eq!(store.wecom_user_ids("2021009999").await.unwrap(), ["T2008001"]);
    }
}
