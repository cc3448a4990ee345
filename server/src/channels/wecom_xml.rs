//! WeCom self-built app XML: the encrypted callback envelope, the decrypted inbound messages and events, passive replies and the dedup key.
//!
//! Formats follow `spec/channels.md` §1.3, §1.7 and §1.8. Parsing is tolerant (CDATA or plain text,
//! whitespace between elements, unknown elements kept in [`XmlFields`]); building always CDATA-wraps strings.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

use super::truncate_to_bytes;
use super::wecom_crypto::SealedReply;

/// Longest passive or active text content WeCom accepts, in bytes (longer text is cut by WeCom).
pub const MAX_TEXT_BYTES: usize = 2048;
/// Most articles we put in one news message (current docs say 1–8).
pub const MAX_NEWS_ARTICLES: usize = 8;
/// Longest news article title we send, in bytes.
pub const MAX_ARTICLE_TITLE_BYTES: usize = 128;
/// Longest news article description we send, in bytes.
pub const MAX_ARTICLE_DESCRIPTION_BYTES: usize = 512;

/// Why a WeCom XML document could not be read (maps to library code -40002).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WecomXmlError {
    /// The document is not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A required element is missing or empty.
    #[error("missing element {0}")]
    MissingField(&'static str),
    /// An element has a value of the wrong shape (e.g. a non-numeric CreateTime).
    #[error("invalid value for {field}: {value:?}")]
    InvalidField { field: &'static str, value: String },
}

impl WecomXmlError {
    /// The WXBizMsgCrypt library code for XML failures.
    pub fn code(&self) -> i32 {
        -40002
    }
}

/// The leaf elements of a WeCom XML document in document order, keyed by their path below the root
/// (e.g. `Content`, `ScanCodeInfo/ScanType`, `SelectedItems/SelectedItem/OptionIds/OptionId`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlFields {
    entries: Vec<(String, String)>,
}

impl XmlFields {
    /// Parses any WeCom XML document; the root element's name is not checked.
    pub fn parse(xml: &str) -> Result<XmlFields, WecomXmlError> {
        struct OpenElement {
            name: String,
            text: String,
            has_children: bool,
        }
        let mut reader = Reader::from_str(xml);
        reader.config_mut().trim_text(true);
        let mut stack: Vec<OpenElement> = Vec::new();
        let mut entries = Vec::new();
        let mut saw_root = false;
        let path_of = |stack: &[OpenElement], leaf: &str| {
            let mut parts: Vec<&str> = stack.iter().skip(1).map(|e| e.name.as_str()).collect();
            parts.push(leaf);
            parts.join("/")
        };
        loop {
            match reader.read_event() {
                Ok(Event::Start(start)) => {
                    if let Some(parent) = stack.last_mut() {
                        parent.has_children = true;
                    } else if saw_root {
                        return Err(WecomXmlError::Malformed("more than one root element".into()));
                    }
                    saw_root = true;
                    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    stack.push(OpenElement { name, text: String::new(), has_children: false });
                }
                Ok(Event::Empty(empty)) => {
                    let name = String::from_utf8_lossy(empty.local_name().as_ref()).into_owned();
                    match stack.last_mut() {
                        Some(parent) => parent.has_children = true,
                        None if saw_root => {
                            return Err(WecomXmlError::Malformed("more than one root element".into()));
                        }
                        None => {
                            saw_root = true;
                            continue;
                        }
                    }
                    entries.push((path_of(&stack, &name), String::new()));
                }
                Ok(Event::Text(text)) => {
                    let text = text.unescape().map_err(|e| WecomXmlError::Malformed(e.to_string()))?;
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&text);
                    }
                }
                Ok(Event::CData(cdata)) => {
                    let text = String::from_utf8(cdata.into_inner().into_owned())
                        .map_err(|_| WecomXmlError::Malformed("CDATA is not UTF-8".into()))?;
                    if let Some(open) = stack.last_mut() {
                        open.text.push_str(&text);
                    }
                }
                Ok(Event::End(_)) => {
                    let Some(closed) = stack.pop() else {
                        return Err(WecomXmlError::Malformed("unbalanced end tag".into()));
                    };
                    // The root itself is not a field; only leaves carry values.
                    if !stack.is_empty() && !closed.has_children {
                        let path = path_of(&stack, &closed.name);
                        entries.push((path, closed.text));
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => return Err(WecomXmlError::Malformed(e.to_string())),
            }
        }
        if !stack.is_empty() || !saw_root {
            return Err(WecomXmlError::Malformed("document ended early".into()));
        }
        Ok(XmlFields { entries })
    }

    /// The first value at `path`, trimmed; `None` if absent.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.entries.iter().find(|(p, _)| p == path).map(|(_, v)| v.trim())
    }

    /// The first non-empty value at `path`.
    pub fn non_empty(&self, path: &str) -> Option<&str> {
        self.get(path).filter(|v| !v.is_empty())
    }

    /// Every value at `path`, in document order.
    pub fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter(move |(p, _)| p == path).map(|(_, v)| v.trim())
    }

    /// All (path, value) pairs in document order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    fn required(&self, path: &'static str) -> Result<String, WecomXmlError> {
        self.non_empty(path).map(str::to_owned).ok_or(WecomXmlError::MissingField(path))
    }

    fn text(&self, path: &str) -> String {
        self.get(path).unwrap_or_default().to_owned()
    }
}

/// The outer POST body of a self-built app callback (§1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WecomEnvelope {
    /// The CorpID, when present.
    pub to_user_name: Option<String>,
    /// The app's AgentID, when present; use it to route several apps sharing one URL.
    pub agent_id: Option<String>,
    /// The Base64 ciphertext to verify and decrypt.
    pub encrypt: String,
}

impl WecomEnvelope {
    /// Parses `<xml><ToUserName/><AgentID/><Encrypt/></xml>`; `Encrypt` is required.
    pub fn parse(xml: &str) -> Result<WecomEnvelope, WecomXmlError> {
        let fields = XmlFields::parse(xml)?;
        Ok(WecomEnvelope {
            to_user_name: fields.non_empty("ToUserName").map(str::to_owned),
            agent_id: fields.non_empty("AgentID").map(str::to_owned),
            encrypt: fields.required("Encrypt")?,
        })
    }
}

/// Fields every decrypted inbound message or event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// The CorpID.
    pub to_user_name: String,
    /// The member's UserID (often the 学工号 at universities).
    pub from_user_name: String,
    /// Seconds since the epoch.
    pub create_time: u64,
    /// The app's AgentID (absent in some events).
    pub agent_id: Option<String>,
}

/// One option group chosen on an interactive template card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedItem {
    pub question_key: String,
    pub option_ids: Vec<String>,
}

/// The event kinds we act on; everything else lands in [`WecomEvent::Other`] (ack with 200 and ignore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WecomEvent {
    /// The member opened the app (a good moment for a welcome).
    EnterAgent,
    /// The app became visible to the member.
    Subscribe,
    /// The app is no longer visible to the member.
    Unsubscribe,
    /// A `click` menu button; `key` is the key set in menu/create.
    Click { key: String },
    /// A `view` menu button opened a URL.
    View { url: String },
    /// A location report.
    Location { latitude: String, longitude: String, precision: String },
    /// A scan-code menu button (`scancode_push` or `scancode_waitmsg`).
    ScanCode { wait_for_reply: bool, key: String, scan_type: String, scan_result: String },
    /// A button or selection on an interactive template card.
    TemplateCard {
        event_key: String,
        task_id: String,
        card_type: String,
        response_code: Option<String>,
        selected_items: Vec<SelectedItem>,
    },
    /// A right-top menu item of a template card.
    TemplateCardMenu { event_key: String, task_id: String, card_type: String, response_code: Option<String> },
    /// Any other event, by name.
    Other { event: String, event_key: Option<String> },
}

/// The body of a decrypted inbound message (§1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WecomInbound {
    Text {
        content: String,
    },
    Image {
        pic_url: String,
        media_id: String,
    },
    Voice {
        media_id: String,
        format: String,
    },
    Video {
        media_id: String,
        thumb_media_id: String,
    },
    /// `Location_X` is the latitude, `Location_Y` the longitude.
    Location {
        latitude: String,
        longitude: String,
        scale: String,
        label: String,
    },
    Link {
        title: String,
        description: String,
        url: String,
        pic_url: String,
    },
    Event(WecomEvent),
    /// A message type we do not model; the raw fields stay in [`WecomInboundMessage::fields`].
    Other {
        msg_type: String,
    },
}

/// A decrypted inbound message or event with its header and raw fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WecomInboundMessage {
    pub header: MessageHeader,
    /// `MsgId` of messages (a 64-bit integer kept as text); events have none.
    pub msg_id: Option<String>,
    pub body: WecomInbound,
    /// Every leaf element, for fields not modelled above.
    pub fields: XmlFields,
}

/// Event fields that, beyond the common ones, distinguish two events of the same member and second.
const EVENT_DEDUP_EXTRA_FIELDS: [&str; 6] =
    ["TaskId", "ResponseCode", "ChangeType", "BatchJob/JobId", "ApprovalInfo/SpNo", "ScanCodeInfo/ScanResult"];

impl WecomInboundMessage {
    /// Parses the decrypted inner XML of a self-built app callback.
    pub fn parse(xml: &str) -> Result<WecomInboundMessage, WecomXmlError> {
        let fields = XmlFields::parse(xml)?;
        let create_time_text = fields.required("CreateTime")?;
        let create_time = create_time_text
            .parse::<u64>()
            .map_err(|_| WecomXmlError::InvalidField { field: "CreateTime", value: create_time_text.clone() })?;
        let header = MessageHeader {
            to_user_name: fields.text("ToUserName"),
            from_user_name: fields.required("FromUserName")?,
            create_time,
            agent_id: fields.non_empty("AgentID").map(str::to_owned),
        };
        let msg_type = fields.required("MsgType")?;
        let body = match msg_type.to_ascii_lowercase().as_str() {
            "text" => WecomInbound::Text { content: fields.text("Content") },
            "image" => WecomInbound::Image { pic_url: fields.text("PicUrl"), media_id: fields.text("MediaId") },
            "voice" => WecomInbound::Voice { media_id: fields.text("MediaId"), format: fields.text("Format") },
            "video" => {
                WecomInbound::Video { media_id: fields.text("MediaId"), thumb_media_id: fields.text("ThumbMediaId") }
            }
            "location" => WecomInbound::Location {
                latitude: fields.text("Location_X"),
                longitude: fields.text("Location_Y"),
                scale: fields.text("Scale"),
                label: fields.text("Label"),
            },
            "link" => WecomInbound::Link {
                title: fields.text("Title"),
                description: fields.text("Description"),
                url: fields.text("Url"),
                pic_url: fields.text("PicUrl"),
            },
            "event" => WecomInbound::Event(parse_event(&fields)?),
            _ => WecomInbound::Other { msg_type },
        };
        let msg_id = fields.non_empty("MsgId").map(str::to_owned);
        Ok(WecomInboundMessage { header, msg_id, body, fields })
    }

    /// The retry-dedup key of §1.3: `AgentID|MsgId|FromUserName|CreateTime` for messages,
    /// `AgentID|FromUserName|CreateTime|Event|EventKey[|extra…]` for events (extras such as TaskId when present).
    pub fn dedup_key(&self) -> String {
        let agent = self.header.agent_id.as_deref().unwrap_or_default();
        let from = &self.header.from_user_name;
        let time = self.header.create_time;
        match (&self.body, &self.msg_id) {
            (WecomInbound::Event(_), _) | (_, None) => {
                let mut key = format!(
                    "{agent}|{from}|{time}|{}|{}",
                    self.fields.get("Event").unwrap_or_default(),
                    self.fields.get("EventKey").unwrap_or_default()
                );
                for extra in EVENT_DEDUP_EXTRA_FIELDS {
                    if let Some(value) = self.fields.non_empty(extra) {
                        key.push('|');
                        key.push_str(value);
                    }
                }
                key
            }
            (_, Some(msg_id)) => format!("{agent}|{msg_id}|{from}|{time}"),
        }
    }
}

fn parse_event(fields: &XmlFields) -> Result<WecomEvent, WecomXmlError> {
    let event = fields.required("Event")?;
    let event_key = fields.text("EventKey");
    let response_code = fields.non_empty("ResponseCode").map(str::to_owned);
    // WeCom sends lowercase names where 公众号 uses uppercase; compare case-insensitively.
    Ok(match event.to_ascii_lowercase().as_str() {
        "enter_agent" => WecomEvent::EnterAgent,
        "subscribe" => WecomEvent::Subscribe,
        "unsubscribe" => WecomEvent::Unsubscribe,
        "click" => WecomEvent::Click { key: event_key },
        "view" => WecomEvent::View { url: event_key },
        "location" => WecomEvent::Location {
            latitude: fields.text("Latitude"),
            longitude: fields.text("Longitude"),
            precision: fields.text("Precision"),
        },
        name @ ("scancode_push" | "scancode_waitmsg") => WecomEvent::ScanCode {
            wait_for_reply: name == "scancode_waitmsg",
            key: event_key,
            scan_type: fields.text("ScanCodeInfo/ScanType"),
            scan_result: fields.text("ScanCodeInfo/ScanResult"),
        },
        "template_card_event" => WecomEvent::TemplateCard {
            event_key,
            task_id: fields.text("TaskId"),
            card_type: fields.text("CardType"),
            response_code,
            selected_items: selected_items(fields),
        },
        "template_card_menu_event" => WecomEvent::TemplateCardMenu {
            event_key,
            task_id: fields.text("TaskId"),
            card_type: fields.text("CardType"),
            response_code,
        },
        _ => WecomEvent::Other { event, event_key: Some(event_key).filter(|k| !k.is_empty()) },
    })
}

/// Groups `SelectedItems/SelectedItem/{QuestionKey, OptionIds/OptionId}` by walking the fields in order.
fn selected_items(fields: &XmlFields) -> Vec<SelectedItem> {
    let mut items: Vec<SelectedItem> = Vec::new();
    for (path, value) in fields.entries() {
        match path.as_str() {
            "SelectedItems/SelectedItem/QuestionKey" => {
                items.push(SelectedItem { question_key: value.trim().to_owned(), option_ids: Vec::new() })
            }
            "SelectedItems/SelectedItem/OptionIds/OptionId" | "SelectedItems/SelectedItem/OptionId" => {
                if let Some(item) = items.last_mut() {
                    item.option_ids.push(value.trim().to_owned());
                }
            }
            _ => {}
        }
    }
    items
}

/// One article of a news (图文) message; serialises as the message/send JSON article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewsArticle {
    pub title: String,
    pub description: String,
    pub url: String,
    #[serde(rename = "picurl", skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
}

impl NewsArticle {
    /// An article with title and description cut to WeCom's byte limits.
    pub fn new(title: &str, description: &str, url: &str) -> NewsArticle {
        NewsArticle {
            title: truncate_to_bytes(title, MAX_ARTICLE_TITLE_BYTES),
            description: truncate_to_bytes(description, MAX_ARTICLE_DESCRIPTION_BYTES),
            url: url.to_owned(),
            pic_url: None,
        }
    }
}

/// A passive reply of a self-built app (§1.8): what may go into the callback's HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveReply {
    /// Text, cut to [`MAX_TEXT_BYTES`].
    Text { content: String },
    /// 1..=8 articles; extra articles are dropped.
    News { articles: Vec<NewsArticle> },
    /// An uploaded image.
    Image { media_id: String },
    /// Replaces the clicked template card button's label (answer to a `template_card_event`).
    UpdateButton { replace_name: String },
}

/// Wraps text in CDATA, splitting any `]]>` so the document stays well-formed.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

impl PassiveReply {
    /// The plaintext XML of this reply; `to_user` is the member (inbound FromUserName), `from_user` the CorpID.
    pub fn to_xml(&self, to_user: &str, from_user: &str, create_time: u64) -> String {
        let mut xml = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime>",
            cdata(to_user),
            cdata(from_user)
        );
        match self {
            PassiveReply::Text { content } => {
                xml.push_str(&format!(
                    "<MsgType>{}</MsgType><Content>{}</Content>",
                    cdata("text"),
                    cdata(&truncate_to_bytes(content, MAX_TEXT_BYTES))
                ));
            }
            PassiveReply::News { articles } => {
                let articles = &articles[..articles.len().min(MAX_NEWS_ARTICLES)];
                xml.push_str(&format!(
                    "<MsgType>{}</MsgType><ArticleCount>{}</ArticleCount><Articles>",
                    cdata("news"),
                    articles.len()
                ));
                for article in articles {
                    xml.push_str(&format!(
                        "<item><Title>{}</Title><Description>{}</Description><PicUrl>{}</PicUrl><Url>{}</Url></item>",
                        cdata(&article.title),
                        cdata(&article.description),
                        cdata(article.pic_url.as_deref().unwrap_or_default()),
                        cdata(&article.url)
                    ));
                }
                xml.push_str("</Articles>");
            }
            PassiveReply::Image { media_id } => {
                xml.push_str(&format!(
                    "<MsgType>{}</MsgType><Image><MediaId>{}</MediaId></Image>",
                    cdata("image"),
                    cdata(media_id)
                ));
            }
            PassiveReply::UpdateButton { replace_name } => {
                xml.push_str(&format!(
                    "<MsgType>{}</MsgType><Button><ReplaceName>{}</ReplaceName></Button>",
                    cdata("update_button"),
                    cdata(replace_name)
                ));
            }
        }
        xml.push_str("</xml>");
        xml
    }

    /// The plaintext XML answering `inbound` (addresses swapped).
    pub fn to_xml_for(&self, inbound: &MessageHeader, create_time: u64) -> String {
        self.to_xml(&inbound.from_user_name, &inbound.to_user_name, create_time)
    }
}

/// The encrypted passive-reply envelope of §1.4, to send as the callback's response body.
pub fn encrypted_reply_xml(sealed: &SealedReply) -> String {
    format!(
        "<xml>\n<Encrypt>{}</Encrypt>\n<MsgSignature>{}</MsgSignature>\n<TimeStamp>{}</TimeStamp>\n<Nonce>{}</Nonce>\n</xml>",
        cdata(&sealed.encrypt),
        cdata(&sealed.msg_signature),
        sealed.timestamp,
        cdata(&sealed.nonce)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use crate::channels::wecom_crypto::WecomCrypt;

    const A2_BODY: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>";

    #[test]
    fn the_a2_envelope_decrypts_into_a_text_message() {
        let envelope = WecomEnvelope::parse(A2_BODY).unwrap();
        assert_eq!(envelope.to_user_name.as_deref(), Some("wx5823bf96d3bd56c7"));
        assert_eq!(envelope.agent_id.as_deref(), Some("218"));
        let crypt =
            WecomCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7").unwrap();
        let inner = crypt
            .decrypt_verified("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", &envelope.encrypt)
            .unwrap();
        let message = WecomInboundMessage::parse(&inner).unwrap();
        assert_eq!(message.body, WecomInbound::Text { content: "hello".into() });
        assert_eq!(
            message.header,
            MessageHeader {
                to_user_name: "wx5823bf96d3bd56c7".into(),
                from_user_name: "mycreate".into(),
                create_time: 1409659813,
                agent_id: Some("218".into()),
            }
        );
        assert_eq!(message.msg_id.as_deref(), Some("4561255354251345929"));
        assert_eq!(message.dedup_key(), "218|4561255354251345929|mycreate|1409659813");
    }

    #[test]
    fn envelopes_without_encrypt_or_malformed_are_errors() {
        assert_eq!(
            WecomEnvelope::parse("<xml><ToUserName>x</ToUserName></xml>"),
            Err(WecomXmlError::MissingField("Encrypt"))
        );
        for bad in ["", "<xml><Encrypt>abc</xml>", "not xml at all", "<xml><Encrypt>a</Encrypt></xml><xml/>"] {
            let err = WecomEnvelope::parse(bad).unwrap_err();
            assert_eq!(err.code(), -40002, "{bad}");
        }
    }

    #[test]
    fn plain_text_values_and_whitespace_are_tolerated() {
        let xml = "<xml>\n  <ToUserName>wwcorp</ToUserName>\n  <FromUserName>20210001</FromUserName>\n  <CreateTime> 1348831860 </CreateTime>\n  <MsgType>text</MsgType>\n  <Content><![CDATA[怎么开在读证明？ a]]]]><![CDATA[>b &]]></Content>\n  <MsgId>1234567890123456</MsgId>\n  <AgentID>1</AgentID>\n</xml>";
        let message = WecomInboundMessage::parse(xml).unwrap();
        assert_eq!(message.body, WecomInbound::Text { content: "怎么开在读证明？ a]]>b &".into() });
        assert_eq!(message.header.create_time, 1348831860);
        assert_eq!(message.header.from_user_name, "20210001");
    }

    #[test]
    fn media_location_and_link_messages_parse() {
        let wrap = |inner: &str| {
            format!("<xml><ToUserName>c</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>{inner}<MsgId>9</MsgId><AgentID>1</AgentID></xml>")
        };
        let image = WecomInboundMessage::parse(&wrap(
            "<MsgType>image</MsgType><PicUrl>https://p/1.jpg</PicUrl><MediaId>m1</MediaId>",
        ))
        .unwrap();
        assert_eq!(image.body, WecomInbound::Image { pic_url: "https://p/1.jpg".into(), media_id: "m1".into() });
        let voice =
            WecomInboundMessage::parse(&wrap("<MsgType>voice</MsgType><MediaId>v</MediaId><Format>amr</Format>"))
                .unwrap();
        assert_eq!(voice.body, WecomInbound::Voice { media_id: "v".into(), format: "amr".into() });
        let location = WecomInboundMessage::parse(&wrap(
            "<MsgType>location</MsgType><Location_X>39.1</Location_X><Location_Y>117.2</Location_Y><Scale>15</Scale><Label>天津商业大学</Label>",
        ))
        .unwrap();
        assert_eq!(
            location.body,
            WecomInbound::Location {
                latitude: "39.1".into(),
                longitude: "117.2".into(),
                scale: "15".into(),
                label: "天津商业大学".into()
            }
        );
        let link = WecomInboundMessage::parse(&wrap(
            "<MsgType>link</MsgType><Title>t</Title><Description>d</Description><Url>https://u</Url><PicUrl>p</PicUrl>",
        ))
        .unwrap();
        assert!(matches!(link.body, WecomInbound::Link { ref url, .. } if url == "https://u"));
        let other = WecomInboundMessage::parse(&wrap("<MsgType>miniprogram_notice</MsgType>")).unwrap();
        assert_eq!(other.body, WecomInbound::Other { msg_type: "miniprogram_notice".into() });
    }

    #[test]
    fn enter_agent_and_click_events_parse_with_event_dedup_keys() {
        let enter = "<xml><ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[FromUser]]></FromUserName>\n<CreateTime>1408091189</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[enter_agent]]></Event>\n<EventKey><![CDATA[]]></EventKey>\n<AgentID>1</AgentID>\n</xml>";
        let message = WecomInboundMessage::parse(enter).unwrap();
        assert_eq!(message.body, WecomInbound::Event(WecomEvent::EnterAgent));
        assert_eq!(message.msg_id, None);
        assert_eq!(message.dedup_key(), "1|FromUser|1408091189|enter_agent|");

        let click = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n<FromUserName><![CDATA[FromUser]]></FromUserName>\n<CreateTime>123456789</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[CLICK]]></Event>\n<EventKey><![CDATA[EVENTKEY]]></EventKey>\n<AgentID>1</AgentID>\n</xml>";
        let message = WecomInboundMessage::parse(click).unwrap();
        assert_eq!(message.body, WecomInbound::Event(WecomEvent::Click { key: "EVENTKEY".into() }));
        assert_eq!(message.dedup_key(), "1|FromUser|123456789|CLICK|EVENTKEY");
    }

    #[test]
    fn template_card_events_keep_their_selections_and_task_in_the_key() {
        let xml = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[key111]]></EventKey><TaskId><![CDATA[taskid111]]></TaskId><CardType><![CDATA[vote_interaction]]></CardType><ResponseCode><![CDATA[ResponseCode]]></ResponseCode><AgentID>1</AgentID><SelectedItems><SelectedItem><QuestionKey><![CDATA[QuestionKey1]]></QuestionKey><OptionIds><OptionId><![CDATA[OptionId1]]></OptionId><OptionId><![CDATA[OptionId2]]></OptionId></OptionIds></SelectedItem><SelectedItem><QuestionKey><![CDATA[QuestionKey2]]></QuestionKey><OptionIds><OptionId><![CDATA[OptionId3]]></OptionId></OptionIds></SelectedItem></SelectedItems></xml>";
        let message = WecomInboundMessage::parse(xml).unwrap();
        assert_eq!(
            message.body,
            WecomInbound::Event(WecomEvent::TemplateCard {
                event_key: "key111".into(),
                task_id: "taskid111".into(),
                card_type: "vote_interaction".into(),
                response_code: Some("ResponseCode".into()),
                selected_items: vec![
                    SelectedItem {
                        question_key: "QuestionKey1".into(),
                        option_ids: vec!["OptionId1".into(), "OptionId2".into()]
                    },
                    SelectedItem { question_key: "QuestionKey2".into(), option_ids: vec!["OptionId3".into()] },
                ],
            })
        );
        assert_eq!(message.dedup_key(), "1|FromUser|123456789|template_card_event|key111|taskid111|ResponseCode");
    }

    #[test]
    fn unknown_and_scan_events_parse() {
        let wrap = |inner: &str| {
            format!("<xml><ToUserName>c</ToUserName><FromUserName>u</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType>{inner}<AgentID>2</AgentID></xml>")
        };
        let batch = WecomInboundMessage::parse(&wrap(
            "<Event>batch_job_result</Event><BatchJob><JobId>j1</JobId><JobType>sync_user</JobType></BatchJob>",
        ))
        .unwrap();
        assert_eq!(
            batch.body,
            WecomInbound::Event(WecomEvent::Other { event: "batch_job_result".into(), event_key: None })
        );
        assert_eq!(batch.dedup_key(), "2|u|5|batch_job_result||j1");
        let scan = WecomInboundMessage::parse(&wrap(
            "<Event>scancode_waitmsg</Event><EventKey>k</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>R</ScanResult></ScanCodeInfo>",
        ))
        .unwrap();
        assert_eq!(
            scan.body,
            WecomInbound::Event(WecomEvent::ScanCode {
                wait_for_reply: true,
                key: "k".into(),
                scan_type: "qrcode".into(),
                scan_result: "R".into()
            })
        );
        let location = WecomInboundMessage::parse(&wrap(
            "<Event>LOCATION</Event><Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>65</Precision>",
        ))
        .unwrap();
        assert!(matches!(location.body, WecomInbound::Event(WecomEvent::Location { .. })));
    }

    #[test]
    fn inner_messages_missing_required_fields_are_errors() {
        assert_eq!(
            WecomInboundMessage::parse("<xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>"),
            Err(WecomXmlError::MissingField("CreateTime"))
        );
        assert!(matches!(
            WecomInboundMessage::parse(
                "<xml><FromUserName>u</FromUserName><CreateTime>x</CreateTime><MsgType>text</MsgType></xml>"
            ),
            Err(WecomXmlError::InvalidField { field: "CreateTime", .. })
        ));
    }

    #[test]
    fn passive_text_reply_round_trips_and_is_truncated() {
        let header = MessageHeader {
            to_user_name: "wwcorp".into(),
            from_user_name: "20210001".into(),
            create_time: 1,
            agent_id: Some("1".into()),
        };
        let xml = PassiveReply::Text { content: "你好]]>再见".into() }.to_xml_for(&header, 1348831860);
        let fields = XmlFields::parse(&xml).unwrap();
        assert_eq!(fields.get("ToUserName"), Some("20210001"));
        assert_eq!(fields.get("FromUserName"), Some("wwcorp"));
        assert_eq!(fields.get("MsgType"), Some("text"));
        assert_eq!(fields.get("Content"), Some("你好]]>再见"));

        let long = PassiveReply::Text { content: "办".repeat(1000) }.to_xml("u", "c", 1);
        let content = XmlFields::parse(&long).unwrap().get("Content").unwrap().to_owned();
        assert!(content.len() <= MAX_TEXT_BYTES && content.ends_with('…'));
    }

    #[test]
    fn passive_news_reply_caps_articles_at_eight() {
        let articles =
            (0..10).map(|i| NewsArticle::new(&format!("服务{i}"), "说明", "https://ehall.example.edu.cn/")).collect();
        let xml = PassiveReply::News { articles }.to_xml("u", "c", 1);
        let fields = XmlFields::parse(&xml).unwrap();
        assert_eq!(fields.get("ArticleCount"), Some("8"));
        assert_eq!(fields.all("Articles/item/Title").count(), 8);
        assert_eq!(fields.all("Articles/item/Url").next(), Some("https://ehall.example.edu.cn/"));
    }

    #[test]
    fn image_and_update_button_replies_have_their_elements() {
        let image = XmlFields::parse(&PassiveReply::Image { media_id: "MEDIA".into() }.to_xml("u", "c", 1)).unwrap();
        assert_eq!(image.get("Image/MediaId"), Some("MEDIA"));
        let button =
            XmlFields::parse(&PassiveReply::UpdateButton { replace_name: "已提交".into() }.to_xml("u", "c", 1))
                .unwrap();
        assert_eq!((button.get("MsgType"), button.get("Button/ReplaceName")), (Some("update_button"), Some("已提交")));
    }

    #[test]
    fn the_encrypted_envelope_matches_the_template_and_decrypts() {
        let crypt =
            WecomCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7").unwrap();
        let plaintext =
            PassiveReply::Text { content: "收到".into() }.to_xml("mycreate", "wx5823bf96d3bd56c7", 1409659813);
        let sealed = crypt.seal(&plaintext, 1409659814, "1372623149").unwrap();
        let xml = encrypted_reply_xml(&sealed);
        assert!(xml.starts_with("<xml>\n<Encrypt><![CDATA["));
        assert!(xml.contains("<TimeStamp>1409659814</TimeStamp>"));
        let fields = XmlFields::parse(&xml).unwrap();
        let encrypt = fields.get("Encrypt").unwrap();
        assert_eq!(
            crypt.decrypt_verified(
                fields.get("MsgSignature").unwrap(),
                "1409659814",
                fields.get("Nonce").unwrap(),
                encrypt
            ),
            Ok(plaintext)
        );
    }
}
