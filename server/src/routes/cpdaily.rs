//! `POST /channels/cpdaily/webhook`: 今日校园 messages forwarded by the campus gateway (docs/channels.md §3.3) —
//! signed, fresh and single-use requests only; a retried event gets the answer its first delivery got.

use crate::app::AppState;
use crate::channels::cpdaily::{render_webhook_reply, CpdailyReplyBody, CpdailyWebhookReply};
use crate::channels::cpdaily::{
    CpdailyEventKind, CpdailyInboundEvent, SignedHeaders, IDEMPOTENCY_TTL_SECS, MAX_IDEMPOTENCY_KEY_LEN,
};
use crate::channels::dispatch::{
    channel_body_limit, text_over_limit, unix_now, wait_for_answer, ChannelError, ChannelKind, ChannelStore, Delivery,
    Job, SubmitError, TEXT_TOO_LONG_NOTICE,
};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bot::Input;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use tokio::sync::oneshot;

/// The webhook path (signed as is).
pub const WEBHOOK_PATH: &str = "/channels/cpdaily/webhook";

pub fn router(limits: &crate::settings::Limits) -> Router<AppState> {
    Router::new()
        .route(WEBHOOK_PATH, post(webhook))
        .layer(DefaultBodyLimit::max(channel_body_limit(limits.max_message_bytes)))
}

/// A response as recorded for an event id, so that a retried delivery gets it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedResponse {
    status: u16,
    body: String,
}

impl RecordedResponse {
    fn json(status: StatusCode, body: serde_json::Value) -> RecordedResponse {
        RecordedResponse { status: status.as_u16(), body: body.to_string() }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (status, [(header::CONTENT_TYPE, "application/json")], self.body).into_response()
    }
}

/// Waits for the first delivery of an event to record its answer (it is being answered right now).
async fn recorded(
    store: &ChannelStore,
    key: &str,
    patience: Duration,
) -> Result<Option<RecordedResponse>, ChannelError> {
    let give_up = tokio::time::Instant::now() + patience;
    loop {
        if let Some(Some(text)) = store.response(key).await? {
            return Ok(serde_json::from_str(&text).ok());
        }
        if tokio::time::Instant::now() >= give_up {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn webhook(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ChannelError> {
    let channels = state.channels.clone();
    let cpdaily = channels.cpdaily()?;
    let body = body?;
    let signed = SignedHeaders::from_header_map(&headers)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let verified = cpdaily.verifier.verify("POST", path, &signed, &body, unix_now()).await?;
    let event = CpdailyInboundEvent::parse(&body).map_err(|e| ChannelError::MalformedEvent(e.to_string()))?;
    if event.event_id.trim().is_empty() || event.event_id.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ChannelError::MalformedEvent("event_id must be 1-128 characters".into()));
    }
    let store = channels.store()?;
    let key = format!("cpdaily:event:{}:{}", verified.app_id, event.event_id);
    if !store.claim(&key, IDEMPOTENCY_TTL_SECS, unix_now()).await? {
        return Ok(match recorded(store, &key, cpdaily.reply_deadline).await? {
            Some(previous) => previous.into_response(),
            None => RecordedResponse::json(StatusCode::ACCEPTED, json!({"status": "processing"})).into_response(),
        });
    }
    let text = event.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let response = match (event.kind, text) {
        // Refused as on /ws: the user is told why; the text is neither answered nor stored.
        (CpdailyEventKind::Message, Some(text)) if text_over_limit(text) => {
            let refusal =
                CpdailyWebhookReply { reply: CpdailyReplyBody { text: TEXT_TOO_LONG_NOTICE.to_owned(), link: None } };
            RecordedResponse::json(StatusCode::OK, serde_json::to_value(refusal).unwrap_or_default())
        }
        (CpdailyEventKind::Message, Some(text)) => {
            let user = store.resolve_user(&event.from.xgh, false).await;
            let (answer_tx, answer_rx) = oneshot::channel();
            let job = Job {
                channel: ChannelKind::Cpdaily,
                channel_user: event.from.xgh.clone(),
                user,
                input: Input::Text(text.to_owned()),
                delivery: Delivery::CpdailyPush { xgh: event.from.xgh.clone() },
                answer: answer_tx,
            };
            if let Err(refused) = channels.submit(job) {
                store.release(&key).await?;
                return Err(match refused {
                    SubmitError::Full => ChannelError::Overloaded,
                    SubmitError::Closed => ChannelError::Internal("the channel worker is not running".into()),
                });
            }
            match wait_for_answer(answer_rx, cpdaily.reply_deadline).await {
                Some(reply) => {
                    let answer = serde_json::to_value(render_webhook_reply(&reply)).unwrap_or_default();
                    RecordedResponse::json(StatusCode::OK, answer)
                }
                // The answer follows as a push (docs/channels.md §3.3).
                None => RecordedResponse::json(StatusCode::ACCEPTED, json!({"status": "accepted"})),
            }
        }
        // Unknown types and empty messages are acknowledged and ignored (forward compatible).
        _ => RecordedResponse::json(StatusCode::ACCEPTED, json!({"status": "ignored"})),
    };
    let text = serde_json::to_string(&response).map_err(|e| ChannelError::Internal(e.to_string()))?;
    store.set_response(&key, &text).await?;
    Ok(response.into_response())
}
