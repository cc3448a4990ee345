//! `AdminError`: every failure of the admin API, as `{"error": {"code", "message", "problems"?}}` with its status.

use axum::http::StatusCode;
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
    #[error("invalid: {0:?}")]
    Invalid(Vec<Problem>),
    #[error("the admin API is not configured in this app")]
    Unavailable,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    /// A single invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> AdminError {
        AdminError::Invalid(vec![Problem {
            item: None,
            field: Some(field.to_owned()),
            message: message.into(),
        }])
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            AdminError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "请先登录".into())
            }
            AdminError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "需要管理员权限".into()),
            AdminError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("找不到：{what}"),
            ),
            AdminError::Conflict(what) => {
                (StatusCode::CONFLICT, "conflict", format!("已存在：{what}"))
            }
            AdminError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "提交的内容有误".into(),
            ),
            AdminError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "管理功能未启用".into(),
            ),
            AdminError::Database(_) | AdminError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "服务器内部错误，请稍后再试".into(),
            ),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            AdminError::Database(_) | AdminError::Internal(_) => {
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
