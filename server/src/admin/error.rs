//! `AdminError`: every failure of the admin API, as `{"error": {"code", "message", "problems"?}}` with its status.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

/// One validation problem, naming the item and field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no valid admin token")]
    Unauthorized,
    #[error("not an admin")]
    Forbidden,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    /// The thing is in a state that does not allow the request (a handoff someone else took); the text says why.
    #[error("conflict: {0}")]
    StateConflict(String),
    #[error("invalid: {0:?}")]
    Invalid(Vec<Problem>),
    #[error("the admin API is not configured in this app")]
    Unavailable,
    /// No engine slot became free in time for a search (explain, the unanswered view).
    #[error("no engine slot free in time")]
    Overloaded,
    /// The request is not what the route reads (malformed JSON, a wrong content type, a bad query or path).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The database failed. Not `#[from]`: `handoff::admin` already turns a `StoreError` into `Internal` for its
    /// routes, so the admin modules map to this variant explicitly (`map_err(AdminError::Store)`).
    #[error(transparent)]
    Store(crate::store::StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    /// A single invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> AdminError {
        AdminError::Invalid(vec![Problem { item: None, field: Some(field.to_owned()), message: message.into() }])
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "请先登录".into()),
            AdminError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "需要管理员权限".into()),
            AdminError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("找不到：{what}")),
            AdminError::Conflict(what) => (StatusCode::CONFLICT, "conflict", format!("已存在：{what}")),
            AdminError::StateConflict(why) => (StatusCode::CONFLICT, "conflict", why.clone()),
            AdminError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "提交的内容有误".into()),
            AdminError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "管理功能未启用".into()),
            AdminError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "服务繁忙，请稍后再试".into()),
            AdminError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_request", "无法解析的请求".into()),
            AdminError::Store(_) | AdminError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "服务器内部错误，请稍后再试".into())
            }
        }
    }
}

impl From<crate::error::ApiError> for AdminError {
    fn from(e: crate::error::ApiError) -> Self {
        match e {
            crate::error::ApiError::Overloaded => AdminError::Overloaded,
            other => AdminError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            AdminError::Store(_) | AdminError::Internal(_) => {
                tracing::error!(error = %self, "admin request failed")
            }
            _ => tracing::debug!(error = %self, "admin request refused"),
        }
        crate::metrics::count_error(code);
        let mut body = json!({"code": code, "message": message});
        if let AdminError::Invalid(problems) = &self {
            body["problems"] = json!(problems);
            if let Some(field) = problems.iter().find_map(|p| p.field.clone()) {
                body["field"] = json!(field);
            }
        }
        (status, Json(json!({ "error": body }))).into_response()
    }
}

/// Middleware of the admin routes: a refusal made by an extractor (malformed JSON, a missing JSON content type, a
/// bad query or path, a body over the limit: axum answers those in plain text) is answered in the error shape
/// instead, with the same status and the extractor's reason as `detail`.
pub async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are one line; more is cut.
    let detail = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, message) = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "请求需要 Content-Type: application/json"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "请求内容过大"),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_field", "提交的内容有误"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "不支持的请求方法"),
        StatusCode::NOT_FOUND => ("not_found", "找不到"),
        _ => ("malformed_request", "无法解析的请求"),
    };
    crate::metrics::count_error(code);
    let mut shaped =
        (status, Json(json!({"error": {"code": code, "message": message, "detail": detail}}))).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}
