//! `GET|POST /channels/wecom/callback`: the WeCom self-built app (企业微信自建应用) — URL verification, and messages
//! answered passively within the deadline or later through `message/send`.

use crate::app::AppState;
use crate::channels::dispatch::{
    channel_body_limit, check_wecom_timestamp, empty_ok, plan_wecom_passive, text_over_limit, unix_now,
    wait_for_answer, ChannelError, ChannelKind, Delivery, Job, SubmitError, TEXT_ONLY_NOTICE, TEXT_TOO_LONG_NOTICE,
    WECOM_DEDUP_TTL_SECS,
};
use crate::channels::wecom_api::Recipients;
use crate::channels::wecom_render::decode_action_key;
use crate::channels::wecom_xml::{
    encrypted_reply_xml, PassiveReply, WecomEnvelope, WecomEvent, WecomInbound, WecomInboundMessage,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bot::Input;
use serde::Deserialize;
use tokio::sync::oneshot;

/// The callback path to enter in 应用 → 接收消息 → 设置API接收.
pub const CALLBACK_PATH: &str = "/channels/wecom/callback";

pub fn router(limits: &crate::settings::Limits) -> Router<AppState> {
    Router::new()
        .route(CALLBACK_PATH, get(verify_url).post(callback))
        .layer(DefaultBodyLimit::max(channel_body_limit(limits.max_message_bytes)))
}

/// The signature parameters of a callback URL (query-decoded exactly once by the extractor).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub msg_signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub echostr: Option<String>,
}

/// The three parameters every callback is signed with.
pub struct Signed<'a> {
    pub signature: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
}

impl CallbackQuery {
    pub fn signed(&self) -> Result<Signed<'_>, ChannelError> {
        Ok(Signed {
            signature: self.msg_signature.as_deref().ok_or(ChannelError::MissingParameter("msg_signature"))?,
            timestamp: self.timestamp.as_deref().ok_or(ChannelError::MissingParameter("timestamp"))?,
            nonce: self.nonce.as_deref().ok_or(ChannelError::MissingParameter("nonce"))?,
        })
    }
}

/// The echo of URL verification: the decrypted text exactly, nothing around it.
pub fn echo(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn verify_url(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ChannelError> {
    let wecom = state.channels.wecom()?;
    let signed = query.signed()?;
    let echostr = query.echostr.as_deref().ok_or(ChannelError::MissingParameter("echostr"))?;
    let text = wecom.crypt.verify_url(signed.signature, signed.timestamp, signed.nonce, echostr)?;
    Ok(echo(text))
}

/// What a decrypted message asks of the engine, if anything.
enum Ask {
    Engine(Input),
    Notice(&'static str),
    Nothing,
}

fn ask_of(message: &WecomInboundMessage) -> Ask {
    match &message.body {
        WecomInbound::Text { content } if text_over_limit(content.trim()) => Ask::Notice(TEXT_TOO_LONG_NOTICE),
        WecomInbound::Text { content } if !content.trim().is_empty() => {
            Ask::Engine(Input::Text(content.trim().to_owned()))
        }
        WecomInbound::Image { .. } | WecomInbound::Voice { .. } | WecomInbound::Video { .. } => {
            Ask::Notice(TEXT_ONLY_NOTICE)
        }
        // Buttons of our template cards carry the chat action they stand for.
        WecomInbound::Event(WecomEvent::TemplateCard { event_key, .. }) => match decode_action_key(event_key) {
            Some((name, args)) => Ask::Engine(Input::Action { name, args }),
            None => Ask::Nothing,
        },
        _ => Ask::Nothing,
    }
}

async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ChannelError> {
    let channels = state.channels.clone();
    let wecom = channels.wecom()?;
    let body = body?;
    let signed = query.signed()?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| ChannelError::Wecom(crate::channels::wecom_crypto::WecomCryptError::ParseXml))?;
    let envelope = WecomEnvelope::parse(body)
        .map_err(|_| ChannelError::Wecom(crate::channels::wecom_crypto::WecomCryptError::ParseXml))?;
    let plaintext =
        wecom.crypt.decrypt_verified(signed.signature, signed.timestamp, signed.nonce, &envelope.encrypt)?;
    // Checked once the signature proves the timestamp is WeCom's: a replay outside the window is refused.
    check_wecom_timestamp(signed.timestamp, unix_now())?;
    let message = WecomInboundMessage::parse(&plaintext)
        .map_err(|_| ChannelError::Wecom(crate::channels::wecom_crypto::WecomCryptError::ParseXml))?;
    let ask = ask_of(&message);
    if matches!(ask, Ask::Nothing) {
        return Ok(empty_ok());
    }
    let store = channels.store()?;
    let dedup_key = format!("wecom:{}", message.dedup_key());
    if !store.claim(&dedup_key, WECOM_DEDUP_TTL_SECS, unix_now()).await? {
        tracing::info!("a retried WeCom delivery is answered once: ignored");
        return Ok(empty_ok());
    }
    let passive_reply = |passive: &PassiveReply| -> Result<Response, ChannelError> {
        let now = unix_now();
        let plain = passive.to_xml_for(&message.header, now);
        let sealed = wecom.crypt.seal(&plain, now, signed.nonce)?;
        Ok(([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], encrypted_reply_xml(&sealed)).into_response())
    };
    let input = match ask {
        Ask::Engine(input) => input,
        Ask::Notice(text) => return passive_reply(&PassiveReply::Text { content: text.to_owned() }),
        Ask::Nothing => return Ok(empty_ok()),
    };
    let member = message.header.from_user_name.clone();
    let user = store.resolve_user(&member, true).await;
    let (answer_tx, answer_rx) = oneshot::channel();
    let job = Job {
        channel: ChannelKind::Wecom,
        channel_user: member.clone(),
        user,
        input,
        delivery: Delivery::WecomSend { user_id: member.clone() },
        answer: answer_tx,
    };
    if let Err(refused) = channels.submit(job) {
        // Forget the key so that WeCom's retry is processed.
        store.release(&dedup_key).await?;
        return Err(match refused {
            SubmitError::Full => ChannelError::Overloaded,
            SubmitError::Closed => ChannelError::Internal("the channel worker is not running".into()),
        });
    }
    let Some(reply) = wait_for_answer(answer_rx, wecom.passive_deadline).await else {
        // The worker sends the answer through message/send when it is ready.
        return Ok(empty_ok());
    };
    let (passive, before) = plan_wecom_passive(&reply, &channels.render_options);
    let Some(passive) = passive else {
        if let Some(api) = wecom.api.clone() {
            tokio::spawn(async move {
                if let Err(e) = api.send_all(&Recipients::user(&member), &before).await {
                    tracing::error!(error = %e, "cannot send the WeCom answer");
                }
            });
        }
        return Ok(empty_ok());
    };
    // WeCom takes one passive message: the card goes in the response, the text before it through message/send.
    if !before.is_empty() {
        match wecom.api.clone() {
            Some(api) => {
                tokio::spawn(async move {
                    if let Err(e) = api.send_all(&Recipients::user(&member), &before).await {
                        tracing::error!(error = %e, "cannot send the WeCom answer's text");
                    }
                });
            }
            None => tracing::debug!("message/send not configured: only the passive part of the answer is sent"),
        }
    }
    passive_reply(&passive)
}
