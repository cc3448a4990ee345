//! `ApiError`: every failure a client can see, with its stable code, HTTP status and Chinese message.
//!
//! The websocket turns it into an `error` frame, HTTP into `{"error": {"code", "message"}}`. Internal details
//! (database errors, panics) are logged here and never sent.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bot::protocol::{ErrorCode, FrameError, ServerFrame};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The client sent something the protocol refuses.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The HTTP body is larger than the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// No engine slot became free in time.
    #[error("no engine slot free in time")]
    Overloaded,
    /// Every websocket slot is taken.
    #[error("too many open websockets")]
    TooManyConnections,
    /// The engine did not answer in time.
    #[error("engine turn timed out")]
    EngineTimeout,
    /// A login bound this session to a user after the connection opened as someone else (a guest): the
    /// connection may not read or write it any more.
    #[error("the session was taken over by a login")]
    SessionTaken,
    /// The session asked more turns than its budget allows.
    #[error("too many turns in this session")]
    SessionBusy,
    /// The rated reply was not sent in this session.
    #[error("unknown reply {0}")]
    UnknownReply(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen (a panicked engine turn, say).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Frame(e) => e.code,
            ApiError::BodyTooLarge => ErrorCode::TextTooLong,
            ApiError::Overloaded | ApiError::EngineTimeout | ApiError::TooManyConnections => ErrorCode::Overloaded,
            ApiError::UnknownReply(_) => ErrorCode::NotFound,
            ApiError::SessionTaken => ErrorCode::Unauthorized,
            ApiError::SessionBusy => ErrorCode::RateLimited,
            ApiError::Store(_) | ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code())
    }

    /// What the user is told.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Frame(e) => e.message.clone(),
            ApiError::BodyTooLarge => "请求内容过大".to_owned(),
            ApiError::Overloaded | ApiError::EngineTimeout | ApiError::TooManyConnections => {
                "服务繁忙，请稍后再试".to_owned()
            }
            ApiError::UnknownReply(_) => "找不到要评价的回复".to_owned(),
            ApiError::SessionTaken => "这个对话已由登录的用户继续，本连接已无权查看，请刷新页面开始新的对话".to_owned(),
            ApiError::SessionBusy => "这个对话的提问太频繁，请稍后再试".to_owned(),
            ApiError::Store(_) | ApiError::Internal(_) => "服务器内部错误，请稍后再试".to_owned(),
        }
    }

    fn in_reply_to(&self) -> Option<String> {
        match self {
            ApiError::Frame(e) => e.in_reply_to.clone(),
            _ => None,
        }
    }

    /// Logs what went wrong at a level that fits: server faults as errors, client mistakes as debug.
    pub fn log(&self) {
        crate::metrics::count_error(self.code().as_str());
        match self {
            ApiError::Store(_) | ApiError::Internal(_) => tracing::error!(error = %self, "request failed"),
            ApiError::Overloaded | ApiError::EngineTimeout | ApiError::TooManyConnections => {
                tracing::warn!(error = %self, "request refused")
            }
            _ => tracing::debug!(error = %self, "client error"),
        }
    }

    /// The websocket `error` frame; `in_reply_to` names the client frame when the error itself does not.
    pub fn to_frame(&self, in_reply_to: Option<String>) -> ServerFrame {
        ServerFrame::Error {
            code: self.code(),
            message: self.public_message(),
            in_reply_to: self.in_reply_to().or(in_reply_to),
        }
    }
}

/// The HTTP status that goes with each stable code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::MalformedFrame | ErrorCode::UnknownType => StatusCode::BAD_REQUEST,
        ErrorCode::InvalidField | ErrorCode::EmptyText => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::TextTooLong => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = json!({"error": {"code": self.code(), "message": self.public_message()}});
        (self.status(), axum::Json(body)).into_response()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_are_not_shown() {
        let e = ApiError::Internal("panic at engine.rs:42".into());
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(!e.public_message().contains("engine.rs"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn frame_errors_keep_their_code_and_frame_id() {
        let e = ApiError::from(FrameError::new(ErrorCode::TextTooLong, "太长", Some("m1".into())));
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let frame = serde_json::to_value(e.to_frame(None)).unwrap();
        assert_eq!(frame, json!({"type": "error", "code": "text_too_long", "message": "太长", "in_reply_to": "m1"}));
    }
}
