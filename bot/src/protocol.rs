//! The chat protocol's frames, replies and cards (`docs/protocol.md`), shared by every transport and channel.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest user text accepted in one frame, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// A frame sent by a client, parsed once and then dispatched on.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Message { id: Option<String>, text: String },
    Action { id: Option<String>, action: String, args: Map<String, Value> },
    Rate { reply: String, helpful: bool, comment: Option<String> },
    Ping,
}

/// Why a client frame was refused; `code` is stable and documented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    pub in_reply_to: Option<String>,
}

/// Stable error codes of `error` frames and HTTP error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    MalformedFrame,
    /// The frame's `type` is missing or not one of the protocol's.
    UnknownType,
    /// A required field is missing or has the wrong type.
    InvalidField,
    /// The text is longer than [`MAX_TEXT_CHARS`].
    TextTooLong,
    /// The text is empty after trimming.
    EmptyText,
    /// Too many frames in a short time.
    RateLimited,
    /// The server is overloaded; retry shortly.
    Overloaded,
    /// The session or reply referred to does not exist.
    NotFound,
    /// The request needs a logged-in user.
    Unauthorized,
    /// Something failed on the server; details are in its log.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::EmptyText => "empty_text",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FrameError {
    pub fn new(code: ErrorCode, message: impl Into<String>, in_reply_to: Option<String>) -> Self {
        FrameError { code, message: message.into(), in_reply_to }
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, id: &Option<String>) -> Result<Option<String>, FrameError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FrameError::new(ErrorCode::InvalidField, format!("字段 {key} 应为字符串"), id.clone())),
    }
}

/// Checks user text: not empty, not over [`MAX_TEXT_CHARS`].
pub fn validate_text(text: &str, id: &Option<String>) -> Result<(), FrameError> {
    if text.trim().is_empty() {
        return Err(FrameError::new(ErrorCode::EmptyText, "消息内容不能为空", id.clone()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(FrameError::new(
            ErrorCode::TextTooLong,
            format!("消息过长：最多 {MAX_TEXT_CHARS} 个字符"),
            id.clone(),
        ));
    }
    Ok(())
}

impl ClientFrame {
    /// Parses one websocket text frame.
    pub fn parse(raw: &str) -> Result<ClientFrame, FrameError> {
        let value: Value = serde_json::from_str(raw)
            .map_err(|_| FrameError::new(ErrorCode::MalformedFrame, "无法解析的消息：需要一个 JSON 对象", None))?;
        let Value::Object(obj) = value else {
            return Err(FrameError::new(ErrorCode::MalformedFrame, "无法解析的消息：需要一个 JSON 对象", None));
        };
        // The id is read first so that every later error can point back at the frame.
        let id = match obj.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(FrameError::new(ErrorCode::UnknownType, "缺少消息类型 type", id)),
        };
        match kind {
            "message" => {
                let text = opt_string(&obj, "text", &id)?
                    .ok_or_else(|| FrameError::new(ErrorCode::InvalidField, "缺少字段 text", id.clone()))?;
                validate_text(&text, &id)?;
                Ok(ClientFrame::Message { id, text })
            }
            "action" => {
                let action = opt_string(&obj, "action", &id)?
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| FrameError::new(ErrorCode::InvalidField, "缺少字段 action", id.clone()))?;
                let args = match obj.get("args") {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(_) => {
                        return Err(FrameError::new(ErrorCode::InvalidField, "字段 args 应为对象", id));
                    }
                };
                Ok(ClientFrame::Action { id, action, args })
            }
            "rate" => {
                let reply = opt_string(&obj, "reply", &id)?
                    .ok_or_else(|| FrameError::new(ErrorCode::InvalidField, "缺少字段 reply", id.clone()))?;
                let helpful = match obj.get("helpful") {
                    Some(Value::Bool(b)) => *b,
                    _ => return Err(FrameError::new(ErrorCode::InvalidField, "字段 helpful 应为布尔值", id)),
                };
                let comment = opt_string(&obj, "comment", &id)?;
                if let Some(c) = &comment {
                    validate_text(c, &id).or_else(|e| if e.code == ErrorCode::EmptyText { Ok(()) } else { Err(e) })?;
                }
                Ok(ClientFrame::Rate { reply, helpful, comment })
            }
            "ping" => Ok(ClientFrame::Ping),
            other => Err(FrameError::new(ErrorCode::UnknownType, format!("未知的消息类型：{other}"), id)),
        }
    }
}

/// How sure the bot is about a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Answer,
    Clarify,
    Fallback,
}

impl Mode {
    /// The name as serialized, for logs, metrics and the question log.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Answer => "answer",
            Mode::Clarify => "clarify",
            Mode::Fallback => "fallback",
        }
    }
}

/// The user as the protocol shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Who a user is to the university; decides which services fit and which systems admit them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    #[serde(rename = "学生")]
    Student,
    #[serde(rename = "教师")]
    Teacher,
    #[serde(rename = "职工")]
    Staff,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Student => "学生",
            Role::Teacher => "教师",
            Role::Staff => "职工",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "学生" | "student" | "STUDENT" => Some(Role::Student),
            "教师" | "teacher" | "TEACHER" | "教职工" => Some(Role::Teacher),
            "职工" | "staff" | "STAFF" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// A quick reply under a reply: either text to send or an action to post back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub args: Option<Map<String, Value>>,
}

impl Suggestion {
    pub fn text(label: impl Into<String>) -> Self {
        let label = label.into();
        Suggestion { text: Some(label.clone()), label, action: None, args: None }
    }
    pub fn action(label: impl Into<String>, action: impl Into<String>, args: Map<String, Value>) -> Self {
        Suggestion { label: label.into(), text: None, action: Some(action.into()), args: Some(args) }
    }
}

/// The kinds of card of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardKind {
    Service,
    App,
    Faq,
    News,
    Task,
    Message,
    Account,
    Contact,
    Feedback,
    Login,
    List,
}

/// One labelled value on a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

impl Field {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Field { label: label.into(), value: value.into() }
    }
}

/// A button on a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CardAction {
    OpenUrl {
        label: String,
        url: String,
    },
    Action {
        label: String,
        action: String,
        #[serde(default)]
        args: Map<String, Value>,
    },
}

impl CardAction {
    pub fn label(&self) -> &str {
        match self {
            CardAction::OpenUrl { label, .. } | CardAction::Action { label, .. } => label,
        }
    }
}

/// A card of a reply or notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub kind: CardKind,
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subtitle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub actions: Vec<CardAction>,
    /// Members of a `list` card.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub items: Vec<Card>,
}

impl Card {
    pub fn new(kind: CardKind, id: impl Into<String>, title: impl Into<String>) -> Self {
        Card {
            kind,
            id: id.into(),
            title: title.into(),
            subtitle: None,
            body: None,
            fields: Vec::new(),
            actions: Vec::new(),
            items: Vec::new(),
        }
    }
    /// The value of the first field with this label.
    pub fn field(&self, label: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.label == label).map(|f| f.value.as_str())
    }
}

/// The answer to one client frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub in_reply_to: Option<String>,
    pub mode: Mode,
    pub intent: String,
    pub confidence: f32,
    pub text: String,
    pub cards: Vec<Card>,
    pub suggestions: Vec<Suggestion>,
    /// Where a handoff to a person stands, on the replies that start, relay or end one (docs/handoff.md).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handoff: Option<HandoffView>,
}

/// Where a conversation's handoff to a person stands, as the user's client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffStatus {
    /// In the queue; nobody has taken it yet.
    Waiting,
    /// A person is answering; the bot is silent.
    Active,
    /// Handed back to the bot (by the person or the user).
    Ended,
    /// Outside the service hours: a 工单 was filed instead.
    Closed,
    /// Nobody took it in time: a 工单 was filed instead.
    TimedOut,
}

impl HandoffStatus {
    /// Whether the bot stays silent and the user's words go to the person.
    pub fn is_open(self) -> bool {
        matches!(self, HandoffStatus::Waiting | HandoffStatus::Active)
    }
}

/// The `handoff` object of replies and notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffView {
    pub status: HandoffStatus,
    /// The name of the person answering, once one took the conversation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent: Option<String>,
    /// How many people wait ahead, when waiting.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub position: Option<u32>,
}

impl HandoffView {
    pub fn new(status: HandoffStatus) -> HandoffView {
        HandoffView { status, agent: None, position: None }
    }
}

/// Who wrote a notice, when it is a person's words rather than the system's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Speaker {
    pub kind: SpeakerKind,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerKind {
    /// A service-desk person answering a handed-off conversation.
    Agent,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        session: String,
        user: Option<UserInfo>,
        text: String,
        suggestions: Vec<Suggestion>,
    },
    Reply(Reply),
    Notice {
        text: String,
        cards: Vec<Card>,
        /// The person who wrote it (a handed-off conversation's agent); absent for the system's notices.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        from: Option<Speaker>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        handoff: Option<HandoffView>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        in_reply_to: Option<String>,
    },
    Pong,
}

impl ServerFrame {
    /// A system notice: text and cards, from no person, about no handoff.
    pub fn notice(text: impl Into<String>, cards: Vec<Card>) -> ServerFrame {
        ServerFrame::Notice { text: text.into(), cards, from: None, handoff: None }
    }
}

impl From<FrameError> for ServerFrame {
    fn from(e: FrameError) -> Self {
        ServerFrame::Error { code: e.code, message: e.message, in_reply_to: e.in_reply_to }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_message_frame_parses() {
        let f = ClientFrame::parse(r#"{"type":"message","id":"m1","text":"你好"}"#);
        assert_eq!(f, Ok(ClientFrame::Message { id: Some("m1".into()), text: "你好".into() }));
    }

    #[test]
    fn malformed_and_unknown_frames_get_stable_codes() {
        assert_eq!(ClientFrame::parse("{oops").unwrap_err().code, ErrorCode::MalformedFrame);
        assert_eq!(ClientFrame::parse("[1]").unwrap_err().code, ErrorCode::MalformedFrame);
        let e = ClientFrame::parse(r#"{"type":"dance","id":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.in_reply_to.as_deref()), (ErrorCode::UnknownType, Some("x")));
        assert_eq!(ClientFrame::parse(r#"{"type":"message"}"#).unwrap_err().code, ErrorCode::InvalidField);
    }

    #[test]
    fn over_long_text_is_refused() {
        let text = "好".repeat(MAX_TEXT_CHARS + 1);
        let raw = serde_json::json!({"type": "message", "text": text}).to_string();
        assert_eq!(ClientFrame::parse(&raw).unwrap_err().code, ErrorCode::TextTooLong);
    }

    #[test]
    fn server_frames_serialize_with_type_tags() {
        let v = serde_json::to_value(ServerFrame::Pong).unwrap();
        assert_eq!(v, serde_json::json!({"type": "pong"}));
        let e: ServerFrame = FrameError::new(ErrorCode::UnknownType, "x", None).into();
        assert_eq!(serde_json::to_value(e).unwrap()["code"], "unknown_type");
        let a = CardAction::OpenUrl { label: "在线办理".into(), url: "https://x".into() };
        assert_eq!(serde_json::to_value(a).unwrap()["type"], "open_url");
    }
}
