//! WeCom 智能机器人 (AI bot) JSON callbacks: inbound messages and events, stream / template card replies, and Reply → markdown.
//!
//! Formats follow `spec/channels.md` §1b. The JSON travels encrypted with [`super::wecom_crypto::WecomCrypt`]
//! (receive id `""`); this module handles only the plaintext JSON.

use bot::protocol::{CardKind, Reply};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::truncate_to_bytes;
use super::wecom_render::{card_link, card_plain_lines, RenderOptions, TemplateCard};

/// Longest stream content WeCom accepts, in UTF-8 bytes.
pub const MAX_STREAM_CONTENT_BYTES: usize = 20480;
/// Longest feedback id, in bytes.
pub const MAX_FEEDBACK_ID_BYTES: usize = 256;
/// WeCom stops polling a stream 6 minutes after the user's message; we finish it a little earlier.
pub const STREAM_GIVE_UP_AFTER_SECS: u64 = 330;
/// Appended when a stream is finished early; the rest is delivered through `response_url`.
pub const STREAM_CONTINUED_LATER: &str = "（结果稍后推送）";

/// Why an AI bot callback body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AibotParseError {
    /// Not JSON, or not an object.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// A required field is missing.
    #[error("missing field {0}")]
    MissingField(&'static str),
}

/// Takes the ciphertext out of a JSON callback body: `{"encrypt": "…"}` (the AI bot), also accepting the
/// capitalised `Encrypt` of WeCom's JSON callback samples.
pub fn parse_encrypted_envelope(body: &str) -> Result<String, AibotParseError> {
    let value: Value = serde_json::from_str(body).map_err(|e| AibotParseError::Malformed(e.to_string()))?;
    ["encrypt", "Encrypt"]
        .iter()
        .find_map(|key| value.get(key).and_then(Value::as_str))
        .filter(|encrypt| !encrypt.is_empty())
        .map(str::to_owned)
        .ok_or(AibotParseError::MissingField("encrypt"))
}

/// Single or group chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    Single,
    Group,
}

/// Fields shared by every AI bot callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AibotHeader {
    /// Unique per callback; dedup on it (WeCom may call again on network errors).
    pub msgid: String,
    pub aibotid: String,
    /// Present in group chats only.
    pub chatid: Option<String>,
    pub chat_type: ChatType,
    pub from_userid: String,
    pub from_corpid: Option<String>,
    /// One-shot URL (valid 1 h) for an active reply.
    pub response_url: Option<String>,
    /// Seconds since the epoch, when sent (events carry it).
    pub create_time: Option<u64>,
}

/// One part of a `mixed` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixedItem {
    Text(String),
    /// An encrypted image URL (valid 5 minutes; decrypt the download with the bot's AES key).
    Image(String),
}

/// One option group chosen on an interactive template card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AibotSelectedItem {
    pub question_key: String,
    pub option_ids: Vec<String>,
}

/// A feedback verdict on one of our replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackVerdict {
    Accurate,
    Inaccurate,
    Cancelled,
    Unknown(i64),
}

/// AI bot events.
#[derive(Debug, Clone, PartialEq)]
pub enum AibotEvent {
    /// First entry of the day into the single chat: answer with a welcome within 5 s or lose it for the day.
    EnterChat,
    /// A card button or selection; answer within 5 s (e.g. with `update_template_card`).
    TemplateCard { card_type: String, event_key: String, task_id: String, selected_items: Vec<AibotSelectedItem> },
    /// The user rated a reply; only an empty reply is allowed.
    Feedback { id: String, verdict: FeedbackVerdict, content: Option<String>, inaccurate_reasons: Vec<i64> },
    /// Any other event type.
    Other { event_type: String },
}

/// The body of an AI bot callback.
#[derive(Debug, Clone, PartialEq)]
pub enum AibotInbound {
    /// Text; in groups it starts with the @mention.
    Text {
        content: String,
        quote: Option<Value>,
    },
    /// An encrypted image URL (single chat only).
    Image {
        url: String,
    },
    Mixed {
        items: Vec<MixedItem>,
    },
    /// Voice, already transcribed by WeCom.
    Voice {
        content: String,
    },
    /// An encrypted file URL (single chat only).
    File {
        url: String,
    },
    /// WeCom polls for more of stream `stream_id`; answer with everything so far.
    StreamRefresh {
        stream_id: String,
    },
    Event(AibotEvent),
    /// A message type we do not model.
    Other {
        msg_type: String,
    },
}

/// A parsed AI bot callback.
#[derive(Debug, Clone, PartialEq)]
pub struct AibotCallback {
    pub header: AibotHeader,
    pub body: AibotInbound,
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

fn string_at(value: &Value, path: &[&str]) -> String {
    str_at(value, path).unwrap_or_default().to_owned()
}

/// Accepts both `{"selected_item": [...]}` and a bare array, and both `{"option_id": [...]}` and a bare array.
fn parse_selected_items(value: Option<&Value>) -> Vec<AibotSelectedItem> {
    let list = match value {
        Some(Value::Array(items)) => items.as_slice(),
        Some(object) => object.get("selected_item").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default(),
        None => &[],
    };
    list.iter()
        .map(|item| {
            let ids = match item.get("option_ids") {
                Some(Value::Array(ids)) => ids.as_slice(),
                Some(object) => {
                    object.get("option_id").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
                }
                None => &[],
            };
            AibotSelectedItem {
                question_key: string_at(item, &["question_key"]),
                option_ids: ids.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            }
        })
        .collect()
}

fn parse_event(event: &Value) -> AibotEvent {
    let event_type = string_at(event, &["eventtype"]);
    match event_type.as_str() {
        "enter_chat" => AibotEvent::EnterChat,
        "template_card_event" => {
            let detail = event.get("template_card_event").unwrap_or(&Value::Null);
            AibotEvent::TemplateCard {
                card_type: string_at(detail, &["card_type"]),
                event_key: string_at(detail, &["event_key"]),
                task_id: string_at(detail, &["task_id"]),
                selected_items: parse_selected_items(detail.get("selected_items")),
            }
        }
        "feedback_event" => {
            let detail = event.get("feedback_event").unwrap_or(&Value::Null);
            let verdict = match detail.get("type").and_then(Value::as_i64) {
                Some(1) => FeedbackVerdict::Accurate,
                Some(2) => FeedbackVerdict::Inaccurate,
                Some(3) => FeedbackVerdict::Cancelled,
                other => FeedbackVerdict::Unknown(other.unwrap_or(0)),
            };
            AibotEvent::Feedback {
                id: string_at(detail, &["id"]),
                verdict,
                content: str_at(detail, &["content"]).filter(|c| !c.is_empty()).map(str::to_owned),
                inaccurate_reasons: detail
                    .get("inaccurate_reason_list")
                    .and_then(Value::as_array)
                    .map(|list| list.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default(),
            }
        }
        _ => AibotEvent::Other { event_type },
    }
}

impl AibotCallback {
    /// Parses the decrypted callback JSON.
    pub fn parse(json: &str) -> Result<AibotCallback, AibotParseError> {
        let value: Value = serde_json::from_str(json).map_err(|e| AibotParseError::Malformed(e.to_string()))?;
        if !value.is_object() {
            return Err(AibotParseError::Malformed("not an object".into()));
        }
        let msgid =
            str_at(&value, &["msgid"]).filter(|s| !s.is_empty()).ok_or(AibotParseError::MissingField("msgid"))?;
        let msg_type = str_at(&value, &["msgtype"]).ok_or(AibotParseError::MissingField("msgtype"))?;
        let header = AibotHeader {
            msgid: msgid.to_owned(),
            aibotid: string_at(&value, &["aibotid"]),
            chatid: str_at(&value, &["chatid"]).filter(|s| !s.is_empty()).map(str::to_owned),
            chat_type: if str_at(&value, &["chattype"]) == Some("group") { ChatType::Group } else { ChatType::Single },
            from_userid: string_at(&value, &["from", "userid"]),
            from_corpid: str_at(&value, &["from", "corpid"]).map(str::to_owned),
            response_url: str_at(&value, &["response_url"]).filter(|s| !s.is_empty()).map(str::to_owned),
            create_time: value.get("create_time").and_then(|t| t.as_u64().or_else(|| t.as_str()?.parse().ok())),
        };
        let body = match msg_type {
            "text" => AibotInbound::Text {
                content: string_at(&value, &["text", "content"]),
                quote: value.get("quote").cloned(),
            },
            "image" => AibotInbound::Image { url: string_at(&value, &["image", "url"]) },
            "voice" => AibotInbound::Voice { content: string_at(&value, &["voice", "content"]) },
            "file" => AibotInbound::File { url: string_at(&value, &["file", "url"]) },
            "mixed" => AibotInbound::Mixed {
                items: value
                    .get("mixed")
                    .and_then(|m| m.get("msg_item"))
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|item| match str_at(item, &["msgtype"]) {
                                Some("text") => Some(MixedItem::Text(string_at(item, &["text", "content"]))),
                                Some("image") => Some(MixedItem::Image(string_at(item, &["image", "url"]))),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "stream" => AibotInbound::StreamRefresh {
                stream_id: str_at(&value, &["stream", "id"])
                    .filter(|s| !s.is_empty())
                    .ok_or(AibotParseError::MissingField("stream.id"))?
                    .to_owned(),
            },
            "event" => AibotInbound::Event(parse_event(value.get("event").unwrap_or(&Value::Null))),
            other => AibotInbound::Other { msg_type: other.to_owned() },
        };
        Ok(AibotCallback { header, body })
    }

    /// The user's question as plain text, if this callback carries one (text, voice, or the text parts of mixed).
    pub fn question_text(&self) -> Option<String> {
        let text = match &self.body {
            AibotInbound::Text { content, .. } | AibotInbound::Voice { content } => content.clone(),
            AibotInbound::Mixed { items } => items
                .iter()
                .filter_map(|item| match item {
                    MixedItem::Text(text) => Some(text.as_str()),
                    MixedItem::Image(_) => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => return None,
        };
        // In groups the text starts with "@BotName "; the mention is not part of the question.
        let text = match self.header.chat_type {
            ChatType::Group if text.trim_start().starts_with('@') => {
                text.trim_start().split_once(char::is_whitespace).map(|(_, rest)| rest).unwrap_or("").to_owned()
            }
            _ => text,
        };
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

/// Content of a `text` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AibotText {
    pub content: String,
}

/// An image attached to the final stream reply (JPG/PNG, ≤ 10 MB; `md5` of the raw bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamImage {
    pub base64: String,
    pub md5: String,
}

/// One `msg_item` of a stream reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamItem {
    pub msgtype: String,
    pub image: StreamImage,
}

/// The `feedback` object: lets the user rate the reply; WeCom sends `feedback_event` with this id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRef {
    pub id: String,
}

/// The `stream` object: `content` is the **whole** text so far, not a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamBody {
    pub id: String,
    pub finish: bool,
    pub content: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub msg_item: Vec<StreamItem>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub feedback: Option<FeedbackRef>,
}

impl StreamBody {
    /// A stream frame; content is cut to 20480 bytes.
    pub fn new(id: &str, content_so_far: &str, finish: bool) -> StreamBody {
        StreamBody {
            id: id.to_owned(),
            finish,
            content: truncate_to_bytes(content_so_far, MAX_STREAM_CONTENT_BYTES),
            msg_item: Vec::new(),
            feedback: None,
        }
    }

    /// Adds a feedback id (only allowed on the first reply of a stream).
    pub fn with_feedback(mut self, feedback_id: &str) -> StreamBody {
        self.feedback = Some(FeedbackRef { id: truncate_to_bytes(feedback_id, MAX_FEEDBACK_ID_BYTES) });
        self
    }
}

/// A passive AI bot reply (plaintext JSON, to be sealed) — §1b.5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "msgtype", rename_all = "snake_case")]
pub enum AibotReply {
    /// Welcome text (answer to `enter_chat` only).
    Text { text: AibotText },
    /// The main path: stream frames until `finish`.
    Stream { stream: StreamBody },
    /// A template card.
    TemplateCard { template_card: TemplateCard },
    /// A stream plus a card (the card is sent once).
    StreamWithTemplateCard { stream: StreamBody, template_card: TemplateCard },
}

impl AibotReply {
    /// The plaintext JSON to seal; field order matches WeCom's samples.
    pub fn to_json(&self) -> String {
        // Serialising plain data structs with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The answer to a `template_card_event`: replaces the card for the listed users (task_id must match).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateTemplateCardReply {
    pub response_type: &'static str,
    pub userids: Vec<String>,
    pub template_card: TemplateCard,
}

impl UpdateTemplateCardReply {
    pub fn new(userids: Vec<String>, template_card: TemplateCard) -> UpdateTemplateCardReply {
        UpdateTemplateCardReply { response_type: "update_template_card", userids, template_card }
    }
}

/// The `markdown` body of an active reply via `response_url` (plain JSON, not encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AibotMarkdown {
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<FeedbackRef>,
}

/// An active reply posted once to a `response_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "msgtype", rename_all = "snake_case")]
pub enum AibotActiveReply {
    Markdown { markdown: AibotMarkdown },
    TemplateCard { template_card: TemplateCard },
}

/// Escapes text for the 智能机器人's markdown (CommonMark escapes): the characters that start links, images,
/// emphasis, code, headings, tables and strike-through are backslash-escaped, `<`, `>` and `&` written as entities
/// (no raw HTML, autolinks or entity tricks), so reply text that echoes a user's words, and admin-authored text,
/// show as typed and never become a disguised link. (`(`, `!` and `-` need no escape once `[` and `*` have one.)
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A link target for markdown: only safe `http(s)` URLs (`wecom_render::safe_link_url`), with the characters that
/// would end the link percent-encoded.
fn markdown_url(url: &str) -> Option<String> {
    let url = crate::channels::wecom_render::safe_link_url(url)?;
    Some(url.replace('(', "%28").replace(')', "%29").replace('[', "%5B").replace(']', "%5D"))
}

/// The whole reply as AI bot markdown: text, each card (title linked when it has a URL, details quoted), suggestions.
pub fn render_markdown(reply: &Reply, options: &RenderOptions) -> String {
    let mut blocks = Vec::new();
    if !reply.text.trim().is_empty() {
        blocks.push(escape_markdown(reply.text.trim()));
    }
    let cards = reply.cards.iter().flat_map(|card| {
        if card.kind == CardKind::List && !card.items.is_empty() {
            card.items.iter().collect::<Vec<_>>()
        } else {
            vec![card]
        }
    });
    for card in cards {
        let title = escape_markdown(&card.title);
        let link = match card_link(card) {
            Some((_, url)) => markdown_url(url),
            None if matches!(card.kind, CardKind::Login) => markdown_url(&options.fallback_url),
            None => None,
        };
        let heading = match link {
            Some(url) => format!("**[{title}]({url})**"),
            None => format!("**{title}**"),
        };
        let mut lines = vec![heading];
        lines.extend(card_plain_lines(card).into_iter().map(|line| format!("> {}", escape_markdown(&line))));
        blocks.push(lines.join("\n"));
    }
    let suggestions: Vec<String> = reply
        .suggestions
        .iter()
        .filter_map(|s| s.text.as_deref())
        .take(5)
        .map(|text| format!("- {}", escape_markdown(text)))
        .collect();
    if !suggestions.is_empty() {
        blocks.push(format!("您还可以问：\n{}", suggestions.join("\n")));
    }
    truncate_to_bytes(&blocks.join("\n\n"), MAX_STREAM_CONTENT_BYTES)
}

/// The progress of one stream we answer WeCom's polls with (§1b.5, our state machine):
/// the first frame carries the id, every frame the whole text so far, and we finish on our own at 5.5 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProgress {
    pub stream_id: String,
    /// Seconds since the epoch when the user's message arrived.
    pub started_at: u64,
    /// Everything produced so far.
    pub content: String,
    /// Whether the answer is complete.
    pub done: bool,
}

impl StreamProgress {
    /// A new stream with a placeholder text.
    pub fn start(stream_id: &str, started_at: u64, placeholder: &str) -> StreamProgress {
        StreamProgress { stream_id: stream_id.to_owned(), started_at, content: placeholder.to_owned(), done: false }
    }

    /// The frame to answer a poll with at `now`; `(frame, gave_up)` where `gave_up` means the rest must go via `response_url`.
    pub fn frame(&self, now: u64) -> (StreamBody, bool) {
        if self.done {
            return (StreamBody::new(&self.stream_id, &self.content, true), false);
        }
        if now.saturating_sub(self.started_at) >= STREAM_GIVE_UP_AFTER_SECS {
            let content = format!("{}\n{STREAM_CONTINUED_LATER}", self.content);
            return (StreamBody::new(&self.stream_id, &content, true), true);
        }
        (StreamBody::new(&self.stream_id, &self.content, false), false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use crate::channels::wecom_crypto::WecomCrypt;
    use crate::channels::wecom_render::{render_template_card, RenderOptions};
    use bot::protocol::{Card, CardAction, Mode, Suggestion};

    const D2_PLAINTEXT: &str = r#"{"msgid":"CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=","aibotid":"AIBOTID","chattype":"single","from":{"userid":"USERID"},"response_url":"RESPONSEURL","msgtype":"text","text":{"content":"hello robot"}}"#;

    #[test]
    fn the_d2_envelope_decrypts_into_the_callback() {
        let body = r#"{"encrypt":"sKqRbbiSUnDhFHOvPjtUMaItCdqvukwpS36WIdX7/qFHkK5W+nB0CsMrLB2ilWgVskgQc0slm4e6/6ZsO3tbosmUJSX/TKYsa32O/WZIfTdA+kpdtI8z7lcuwm64rf4ZJa2WgDix+z1+jty4I497rjvDYjC4gzwGljTOsCZ1ytpsVsQN/DLKkgn7hIrs1rKXBZBWcT5i5sSlHtlAUz5SM0RCDdub38F9Borp4R+fIoRSjLL9NeVinna2r/ORvPARJ8ZkPH/0xh0v92giZVX5TCq31JT5WKfIl7ROxEjAVLE="}"#;
        let encrypt = parse_encrypted_envelope(body).unwrap();
        let crypt = WecomCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "").unwrap();
        let plaintext = crypt
            .decrypt_verified("438e6e550a8425344c4f161d242c1c1c53f6b128", "1409659813", "1372623149", &encrypt)
            .unwrap();
        assert_eq!(plaintext, D2_PLAINTEXT);
        assert_eq!(parse_encrypted_envelope(r#"{"Encrypt":"abc","AgentID":218}"#).as_deref(), Ok("abc"));
        assert_eq!(parse_encrypted_envelope(r#"{"encrypt":""}"#), Err(AibotParseError::MissingField("encrypt")));
        assert!(matches!(parse_encrypted_envelope("<xml/>"), Err(AibotParseError::Malformed(_))));
    }

    #[test]
    fn the_d2_text_message_parses() {
        let callback = AibotCallback::parse(D2_PLAINTEXT).unwrap();
        assert_eq!(callback.header.msgid, "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=");
        assert_eq!(callback.header.chat_type, ChatType::Single);
        assert_eq!(callback.header.from_userid, "USERID");
        assert_eq!(callback.header.response_url.as_deref(), Some("RESPONSEURL"));
        assert_eq!(callback.body, AibotInbound::Text { content: "hello robot".into(), quote: None });
        assert_eq!(callback.question_text().as_deref(), Some("hello robot"));
    }

    #[test]
    fn the_documented_group_message_strips_the_mention() {
        let json = r#"{"msgid":"CAIQ16HMjQYY\/NGagIOAgAMgq4KM0AI=","aibotid":"AIBOTID","chatid":"CHATID","chattype":"group","from":{"userid":"USERID"},"response_url":"RESPONSEURL","msgtype":"text","text":{"content":"@RobotA hello robot"},"quote":{"msgtype":"text","text":{"content":"这是今日的测试情况"}}}"#;
        let callback = AibotCallback::parse(json).unwrap();
        assert_eq!(callback.header.chat_type, ChatType::Group);
        assert_eq!(callback.header.chatid.as_deref(), Some("CHATID"));
        assert_eq!(callback.question_text().as_deref(), Some("hello robot"));
        let AibotInbound::Text { quote: Some(quote), .. } = &callback.body else { panic!("expected a quote") };
        assert_eq!(quote["text"]["content"], "这是今日的测试情况");
    }

    #[test]
    fn stream_refresh_mixed_and_media_parse() {
        let refresh = r#"{"msgid":"CAIQz7/MjQYY/NGagIOAgAMgl8jK/gI=","aibotid":"AIBOTID","chatid":"CHATID","chattype":"group","from":{"userid":"USERID"},"msgtype":"stream","stream":{"id":"STREAMID"}}"#;
        assert_eq!(
            AibotCallback::parse(refresh).unwrap().body,
            AibotInbound::StreamRefresh { stream_id: "STREAMID".into() }
        );
        let mixed = r#"{"msgid":"m","msgtype":"mixed","from":{"userid":"u"},"mixed":{"msg_item":[{"msgtype":"text","text":{"content":"这张截图"}},{"msgtype":"image","image":{"url":"https://x/enc"}}]}}"#;
        let callback = AibotCallback::parse(mixed).unwrap();
        assert_eq!(
            callback.body,
            AibotInbound::Mixed {
                items: vec![MixedItem::Text("这张截图".into()), MixedItem::Image("https://x/enc".into())]
            }
        );
        assert_eq!(callback.question_text().as_deref(), Some("这张截图"));
        let voice = r#"{"msgid":"v","msgtype":"voice","from":{"userid":"u"},"voice":{"content":"怎么开在读证明"}}"#;
        assert_eq!(AibotCallback::parse(voice).unwrap().question_text().as_deref(), Some("怎么开在读证明"));
        let file = r#"{"msgid":"f","msgtype":"file","from":{"userid":"u"},"file":{"url":"https://x/f"}}"#;
        assert_eq!(AibotCallback::parse(file).unwrap().body, AibotInbound::File { url: "https://x/f".into() });
        let odd = r#"{"msgid":"o","msgtype":"location","from":{"userid":"u"}}"#;
        assert_eq!(AibotCallback::parse(odd).unwrap().body, AibotInbound::Other { msg_type: "location".into() });
    }

    #[test]
    fn events_parse() {
        let enter = r#"{"msgid":"e1","create_time":1700000000,"aibotid":"AIBOTID","from":{"corpid":"wpcorp","userid":"USERID"},"msgtype":"event","event":{"eventtype":"enter_chat"}}"#;
        let callback = AibotCallback::parse(enter).unwrap();
        assert_eq!(callback.body, AibotInbound::Event(AibotEvent::EnterChat));
        assert_eq!(
            (callback.header.create_time, callback.header.from_corpid.as_deref()),
            (Some(1700000000), Some("wpcorp"))
        );

        let card = r#"{"msgid":"e2","msgtype":"event","from":{"userid":"u"},"response_url":"https://r","event":{"eventtype":"template_card_event","template_card_event":{"card_type":"vote_interaction","event_key":"submit","task_id":"t1","selected_items":{"selected_item":[{"question_key":"q1","option_ids":{"option_id":["a","b"]}}]}}}}"#;
        assert_eq!(
            AibotCallback::parse(card).unwrap().body,
            AibotInbound::Event(AibotEvent::TemplateCard {
                card_type: "vote_interaction".into(),
                event_key: "submit".into(),
                task_id: "t1".into(),
                selected_items: vec![AibotSelectedItem {
                    question_key: "q1".into(),
                    option_ids: vec!["a".into(), "b".into()]
                }],
            })
        );

        let feedback = r#"{"msgid":"e3","msgtype":"event","from":{"userid":"u"},"event":{"eventtype":"feedback_event","feedback_event":{"id":"fb1","type":2,"content":"答非所问","inaccurate_reason_list":[2,4]}}}"#;
        assert_eq!(
            AibotCallback::parse(feedback).unwrap().body,
            AibotInbound::Event(AibotEvent::Feedback {
                id: "fb1".into(),
                verdict: FeedbackVerdict::Inaccurate,
                content: Some("答非所问".into()),
                inaccurate_reasons: vec![2, 4],
            })
        );
        let other = r#"{"msgid":"e4","msgtype":"event","from":{"userid":"u"},"event":{"eventtype":"new_thing"}}"#;
        assert_eq!(
            AibotCallback::parse(other).unwrap().body,
            AibotInbound::Event(AibotEvent::Other { event_type: "new_thing".into() })
        );
    }

    #[test]
    fn malformed_callbacks_are_typed_errors() {
        assert!(matches!(AibotCallback::parse("{oops"), Err(AibotParseError::Malformed(_))));
        assert!(matches!(AibotCallback::parse("[1]"), Err(AibotParseError::Malformed(_))));
        assert_eq!(AibotCallback::parse(r#"{"msgtype":"text"}"#), Err(AibotParseError::MissingField("msgid")));
        assert_eq!(AibotCallback::parse(r#"{"msgid":"x"}"#), Err(AibotParseError::MissingField("msgtype")));
        assert_eq!(
            AibotCallback::parse(r#"{"msgid":"x","msgtype":"stream","stream":{}}"#),
            Err(AibotParseError::MissingField("stream.id"))
        );
    }

    #[test]
    fn the_stream_reply_is_byte_identical_to_the_d3_vector() {
        let reply = AibotReply::Stream { stream: StreamBody::new("STREAMID", "正在查询…", false) };
        let json = reply.to_json();
        assert_eq!(json, r#"{"msgtype":"stream","stream":{"id":"STREAMID","finish":false,"content":"正在查询…"}}"#);
        let crypt = WecomCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "").unwrap();
        let sealed = crypt.seal_with_random(&json, 1409659813, "1372623149", b"0123456789abcdef").unwrap();
        assert_eq!(sealed.msg_signature, "68e6757c962d0d025821e3d49e2c7e019bd1a270");
    }

    #[test]
    fn stream_frames_carry_feedback_and_cap_content() {
        let body = StreamBody::new("s1", &"答".repeat(8000), false).with_feedback("fb-1");
        assert!(body.content.len() <= MAX_STREAM_CONTENT_BYTES);
        let json: Value = serde_json::from_str(&AibotReply::Stream { stream: body }.to_json()).unwrap();
        assert_eq!(json["stream"]["feedback"]["id"], "fb-1");
        let welcome = AibotReply::Text { text: AibotText { content: "你好，我是办事大厅助手".into() } }.to_json();
        assert_eq!(welcome, r#"{"msgtype":"text","text":{"content":"你好，我是办事大厅助手"}}"#);
    }

    #[test]
    fn template_card_replies_and_updates_serialise() {
        let card = Card::new(CardKind::News, "n1", "寒假通知");
        let crate::channels::wecom_render::WecomOutbound::TemplateCard { template_card } =
            render_template_card(&card, &RenderOptions::default(), "t1")
        else {
            panic!("expected a template card")
        };
        let json: Value =
            serde_json::from_str(&AibotReply::TemplateCard { template_card: template_card.clone() }.to_json()).unwrap();
        assert_eq!(json["msgtype"], "template_card");
        assert_eq!(json["template_card"]["main_title"]["title"], "寒假通知");
        let both = AibotReply::StreamWithTemplateCard {
            stream: StreamBody::new("s", "见下方卡片", true),
            template_card: template_card.clone(),
        };
        let json: Value = serde_json::from_str(&both.to_json()).unwrap();
        assert_eq!(
            (json["msgtype"].as_str(), json["stream"]["finish"].as_bool()),
            (Some("stream_with_template_card"), Some(true))
        );
        let update = serde_json::to_value(UpdateTemplateCardReply::new(vec!["u1".into()], template_card)).unwrap();
        assert_eq!(update["response_type"], "update_template_card");
        assert_eq!(update["userids"][0], "u1");
        let active = serde_json::to_value(AibotActiveReply::Markdown {
            markdown: AibotMarkdown { content: "**办结**".into(), feedback: None },
        })
        .unwrap();
        assert_eq!(active, serde_json::json!({"msgtype": "markdown", "markdown": {"content": "**办结**"}}));
    }

    #[test]
    fn replies_render_as_markdown() {
        let mut card = Card::new(CardKind::Service, "s1", "在读证明[本科]");
        card.subtitle = Some("教务处".into());
        card.actions =
            vec![CardAction::OpenUrl { label: "在线办理".into(), url: "https://ehall.example.edu.cn/s1".into() }];
        let mut login = Card::new(CardKind::Login, "login", "请先登录");
        login.body = Some("查询个人数据需要统一身份认证".into());
        let reply = Reply {
            id: "r".into(),
            in_reply_to: None,
            mode: Mode::Answer,
            intent: "service.guide".into(),
            confidence: 0.9,
            text: "为您找到：".into(),
            cards: vec![card, login],
            suggestions: vec![Suggestion::text("需要什么材料")],
            handoff: None,
        };
        let options =
            RenderOptions { fallback_url: "https://chat.example.edu.cn/cas/login".into(), ..RenderOptions::default() };
        assert_eq!(
            render_markdown(&reply, &options),
            "为您找到：\n\n**[在读证明\\[本科\\]](https://ehall.example.edu.cn/s1)**\n> 教务处\n\n**[请先登录](https://chat.example.edu.cn/cas/login)**\n> 查询个人数据需要统一身份认证\n\n您还可以问：\n- 需要什么材料"
        );
    }

    #[test]
    fn stream_progress_gives_up_at_five_and_a_half_minutes() {
        let mut progress = StreamProgress::start("s1", 1000, "正在思考…");
        assert_eq!(progress.frame(1010), (StreamBody::new("s1", "正在思考…", false), false));
        progress.content = "在读证明可在线申请".into();
        let (frame, gave_up) = progress.frame(1000 + STREAM_GIVE_UP_AFTER_SECS);
        assert!(frame.finish && gave_up);
        assert_eq!(frame.content, "在读证明可在线申请\n（结果稍后推送）");
        progress.done = true;
        assert_eq!(progress.frame(2000), (StreamBody::new("s1", "在读证明可在线申请", true), false));
    }
}
