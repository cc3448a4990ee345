//! `ChannelKind` and `ChannelError`, the channel routes' one error type with its HTTP status and code.

use super::*;

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

impl From<crate::store::StoreError> for ChannelError {
    fn from(error: crate::store::StoreError) -> Self {
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
