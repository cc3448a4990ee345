//! `GET|POST /channels/wecom-bot/callback`: the WeCom 智能机器人 (AI bot, API mode) — URL verification, questions
//! answered as `stream` replies (the whole text so far, `finish` at the end; WeCom polls with stream refresh
//! callbacks) with the first card as a template card, and template card clicks run as chat actions.

use crate::app::AppState;
use crate::channels::dispatch::{
    channel_body_limit, check_wecom_timestamp, empty_ok, render_wecom_bot, text_over_limit, unix_now, wait_for_answer,
    ChannelError, ChannelKind, ChannelStore, Delivery, Job, SubmitError, STREAM_PLACEHOLDER, TEXT_TOO_LONG_NOTICE,
    WECOM_DEDUP_TTL_SECS,
};
use crate::channels::wecom_aibot::{
    parse_encrypted_envelope, AibotCallback, AibotEvent, AibotInbound, AibotReply, AibotText, StreamBody,
    StreamProgress,
};
use crate::channels::wecom_crypto::WecomCrypt;
use crate::channels::wecom_render::decode_action_key;
use crate::routes::wecom::{echo, CallbackQuery};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bot::Input;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The callback path of the 智能机器人.
pub const CALLBACK_PATH: &str = "/channels/wecom-bot/callback";
/// Said on the first entry of the day into the single chat.
pub const WELCOME_TEXT: &str = "您好，我是天津商业大学网上办事服务大厅助手，可以帮您查找办事指南、应用入口和常见问题。";
/// Said when WeCom polls a stream we no longer know.
pub const STREAM_EXPIRED_TEXT: &str = "抱歉，这个回答已过期，请重新提问。";

pub fn router(limits: &crate::settings::Limits) -> Router<AppState> {
    Router::new()
        .route(CALLBACK_PATH, get(verify_url).post(callback))
        .layer(DefaultBodyLimit::max(channel_body_limit(limits.max_message_bytes)))
}

async fn verify_url(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ChannelError> {
    let bot = state.channels.wecom_bot()?;
    let signed = query.signed()?;
    let echostr = query.echostr.as_deref().ok_or(ChannelError::MissingParameter("echostr"))?;
    Ok(echo(bot.crypt.verify_url(signed.signature, signed.timestamp, signed.nonce, echostr)?))
}

/// Seals a plaintext JSON reply into the encrypted JSON envelope.
fn sealed(crypt: &WecomCrypt, plaintext: &str, nonce: &str) -> Result<Response, ChannelError> {
    let reply = crypt.seal(plaintext, unix_now(), nonce)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], reply.to_json()).into_response())
}

/// The plaintext answering a poll of `stream_id`: the whole text so far, with the card once finished.
async fn stream_frame(store: &ChannelStore, stream_id: &str) -> Result<String, ChannelError> {
    let Some(stream) = store.stream(stream_id).await? else {
        return Ok(AibotReply::Stream { stream: StreamBody::new(stream_id, STREAM_EXPIRED_TEXT, true) }.to_json());
    };
    let progress = StreamProgress {
        stream_id: stream_id.to_owned(),
        started_at: stream.started_at,
        content: stream.content,
        done: stream.finished,
    };
    let (frame, _gave_up) = progress.frame(unix_now());
    let card = stream.card_json.filter(|_| frame.finish).and_then(|json| serde_json::from_str::<Value>(&json).ok());
    Ok(match card {
        // The stored card is JSON already; the envelope is assembled as JSON to carry it unchanged.
        Some(card) => {
            json!({"msgtype": "stream_with_template_card", "stream": frame, "template_card": card}).to_string()
        }
        None => AibotReply::Stream { stream: frame }.to_json(),
    })
}

async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ChannelError> {
    let channels = state.channels.clone();
    let bot = channels.wecom_bot()?;
    let body = body?;
    let signed = query.signed()?;
    let body = std::str::from_utf8(&body).map_err(|_| ChannelError::MalformedEvent("body is not UTF-8".into()))?;
    let encrypt = parse_encrypted_envelope(body)?;
    let plaintext = bot.crypt.decrypt_verified(signed.signature, signed.timestamp, signed.nonce, &encrypt)?;
    // Checked once the signature proves the timestamp is WeCom's: a replay outside the window is refused.
    check_wecom_timestamp(signed.timestamp, unix_now())?;
    let callback = AibotCallback::parse(&plaintext)?;
    let store = channels.store()?;
    let member = callback.header.from_userid.clone();
    match &callback.body {
        AibotInbound::StreamRefresh { stream_id } => {
            let frame = stream_frame(store, stream_id).await?;
            sealed(&bot.crypt, &frame, signed.nonce)
        }
        AibotInbound::Event(AibotEvent::EnterChat) => {
            let welcome = AibotReply::Text { text: AibotText { content: WELCOME_TEXT.to_owned() } };
            sealed(&bot.crypt, &welcome.to_json(), signed.nonce)
        }
        AibotInbound::Event(AibotEvent::TemplateCard { event_key, .. }) => {
            // A card click is answered through its response_url; the callback itself is acknowledged empty.
            let (Some((name, args)), Some(url)) = (decode_action_key(event_key), callback.header.response_url.clone())
            else {
                return Ok(empty_ok());
            };
            if !store.claim(&format!("aibot:{}", callback.header.msgid), WECOM_DEDUP_TTL_SECS, unix_now()).await? {
                return Ok(empty_ok());
            }
            let user = store.resolve_user(&member, true).await;
            let (answer, _) = oneshot::channel();
            let job = Job {
                channel: ChannelKind::WecomBot,
                channel_user: member,
                user,
                input: Input::Action { name, args },
                delivery: Delivery::AibotResponseUrl { url },
                answer,
            };
            channels.submit(job).map_err(submit_error)?;
            Ok(empty_ok())
        }
        AibotInbound::Event(_)
        | AibotInbound::Other { .. }
        | AibotInbound::Image { .. }
        | AibotInbound::File { .. } => Ok(empty_ok()),
        AibotInbound::Text { .. } | AibotInbound::Voice { .. } | AibotInbound::Mixed { .. } => {
            let Some(question) = callback.question_text() else {
                return Ok(empty_ok());
            };
            if text_over_limit(&question) {
                // Refused as on /ws: a finished stream saying why, nothing run or stored.
                let stream_id = format!("st_{}", uuid::Uuid::new_v4().simple());
                let refusal = AibotReply::Stream { stream: StreamBody::new(&stream_id, TEXT_TOO_LONG_NOTICE, true) };
                return sealed(&bot.crypt, &refusal.to_json(), signed.nonce);
            }
            let dedup_key = format!("aibot:{}", callback.header.msgid);
            let now = unix_now();
            if !store.claim(&dedup_key, WECOM_DEDUP_TTL_SECS, now).await? {
                // A repeated callback gets the stream its first delivery started.
                return match store.response(&dedup_key).await?.flatten() {
                    Some(stream_id) => sealed(&bot.crypt, &stream_frame(store, &stream_id).await?, signed.nonce),
                    None => Ok(empty_ok()),
                };
            }
            let stream_id = format!("st_{}", uuid::Uuid::new_v4().simple());
            store.create_stream(&stream_id, STREAM_PLACEHOLDER, now).await?;
            store.set_response(&dedup_key, &stream_id).await?;
            let user = store.resolve_user(&member, true).await;
            let (answer_tx, answer_rx) = oneshot::channel();
            let job = Job {
                channel: ChannelKind::WecomBot,
                channel_user: member,
                user,
                input: Input::Text(question),
                delivery: Delivery::AibotStream { stream_id: stream_id.clone() },
                answer: answer_tx,
            };
            if let Err(refused) = channels.submit(job) {
                store.release(&dedup_key).await?;
                return Err(submit_error(refused));
            }
            let frame = match wait_for_answer(answer_rx, bot.passive_deadline).await {
                Some(reply) => {
                    let (markdown, card) = render_wecom_bot(&reply, &channels.render_options);
                    let stream = StreamBody::new(&stream_id, &markdown, true);
                    match card {
                        Some(template_card) => AibotReply::StreamWithTemplateCard { stream, template_card }.to_json(),
                        None => AibotReply::Stream { stream }.to_json(),
                    }
                }
                None => AibotReply::Stream { stream: StreamBody::new(&stream_id, STREAM_PLACEHOLDER, false) }.to_json(),
            };
            sealed(&bot.crypt, &frame, signed.nonce)
        }
    }
}

fn submit_error(refused: SubmitError) -> ChannelError {
    match refused {
        SubmitError::Full => ChannelError::Overloaded,
        SubmitError::Closed => ChannelError::Internal("the channel worker is not running".into()),
    }
}
