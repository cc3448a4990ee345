//! `POST /api/v1/chat`: one question or action per request, answered with the same `reply` the websocket sends.

use crate::app::AppState;
use crate::conversation;
use crate::error::ApiError;
use crate::settings::Limits;
use crate::store::Channel;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use bot::protocol::{ClientFrame, ErrorCode, FrameError, ServerFrame};
use bot::Input;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub fn router(limits: &Limits) -> Router<AppState> {
    // The widget may be embedded on the portal's own origin; the API carries no cookies, so any origin may call it.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(3600));
    Router::new()
        .route("/api/v1/chat", post(chat))
        .layer(DefaultBodyLimit::max(limits.max_message_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, limits.http_timeout))
        .layer(cors)
}

/// The response body: the session to continue with and the reply frame.
#[derive(Debug, Serialize)]
pub struct ChatResponse {
    pub session: String,
    pub reply: ServerFrame,
}

/// A parsed request body.
#[derive(Debug, PartialEq)]
struct ChatRequest {
    session: Option<String>,
    id: Option<String>,
    input: Input,
}

fn invalid(message: &str) -> ApiError {
    ApiError::Frame(FrameError::new(ErrorCode::InvalidField, message, None))
}

/// Reads `{"session"?, "text"}` or `{"session"?, "action", "args"?}`. The body is checked by the same parser as
/// websocket frames, so both transports refuse the same things with the same codes.
fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let malformed =
        || ApiError::Frame(FrameError::new(ErrorCode::MalformedFrame, "无法解析的请求：需要一个 JSON 对象", None));
    let value: Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    let Value::Object(mut obj) = value else { return Err(malformed()) };
    let session = match obj.remove("session") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(invalid("字段 session 应为字符串")),
    };
    let kind = match (obj.contains_key("text"), obj.contains_key("action")) {
        (true, false) => "message",
        (false, true) => "action",
        (true, true) => return Err(invalid("text 与 action 只能有一个")),
        (false, false) => return Err(invalid("缺少字段 text 或 action")),
    };
    if obj.contains_key("type") {
        return Err(invalid("HTTP 请求不需要字段 type"));
    }
    obj.insert("type".into(), Value::String(kind.into()));
    match ClientFrame::parse(&Value::Object(obj).to_string())? {
        ClientFrame::Message { id, text } => Ok(ChatRequest { session, id, input: Input::Text(text) }),
        ClientFrame::Action { id, action, args } => {
            Ok(ChatRequest { session, id, input: Input::Action { name: action, args } })
        }
        ClientFrame::Rate { .. } | ClientFrame::Ping => Err(invalid("缺少字段 text 或 action")),
    }
}

async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ChatResponse>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge
        } else {
            ApiError::Frame(FrameError::new(ErrorCode::MalformedFrame, "无法读取请求内容", None))
        }
    })?;
    let request = parse_request(&body)?;
    let login = state.auth.resolve_headers(&headers).await;
    let requested = request.session.as_deref().or(login.session());
    let session = conversation::open(&state, requested, login.user()).await?;
    let reply = conversation::turn(&state, &session, Channel::Http, request.input, request.id).await?;
    Ok(Json(ChatResponse { session: session.id.to_string(), reply: ServerFrame::Reply(reply) }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn code(body: &str) -> ErrorCode {
        parse_request(body.as_bytes()).unwrap_err().code()
    }

    #[test]
    fn text_and_action_bodies_parse() {
        let r = parse_request(r#"{"session":"s1","text":"补办校园卡"}"#.as_bytes()).unwrap();
        assert_eq!(r, ChatRequest { session: Some("s1".into()), id: None, input: Input::Text("补办校园卡".into()) });
        let r = parse_request(r#"{"action":"service.start","args":{"service":"x"}}"#.as_bytes()).unwrap();
        let mut args = Map::new();
        args.insert("service".into(), Value::String("x".into()));
        assert_eq!(r.input, Input::Action { name: "service.start".into(), args });
    }

    #[test]
    fn bad_bodies_get_stable_codes() {
        assert_eq!(code("not json"), ErrorCode::MalformedFrame);
        assert_eq!(code("[1,2]"), ErrorCode::MalformedFrame);
        assert_eq!(code("{}"), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"text":"a","action":"b"}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"session":5,"text":"a"}"#), ErrorCode::InvalidField);
        assert_eq!(code(r#"{"text":"   "}"#), ErrorCode::EmptyText);
        let long = serde_json::json!({"text": "好".repeat(2001)}).to_string();
        assert_eq!(code(&long), ErrorCode::TextTooLong);
    }
}
