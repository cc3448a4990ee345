//! The knowledge base's item types, exactly as they are written in `data/` (TOML) and read back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who a service or app is for (服务对象).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Audience {
    #[serde(rename = "学生")]
    Student,
    #[serde(rename = "教师")]
    Teacher,
    #[serde(rename = "校友")]
    Alumnus,
    #[serde(rename = "校外人员")]
    Visitor,
}

impl Audience {
    pub const ALL: [Audience; 4] = [Audience::Student, Audience::Teacher, Audience::Alumnus, Audience::Visitor];
    pub fn label(self) -> &'static str {
        match self {
            Audience::Student => "学生",
            Audience::Teacher => "教师",
            Audience::Alumnus => "校友",
            Audience::Visitor => "校外人员",
        }
    }
}

/// Where to ask about a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub phone: String,
    pub office: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

/// The system that 在线办理 opens, and the role it admits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Online {
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_role: Option<Audience>,
}

/// A 服务事项 with its 办事指南.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub department: String,
    pub theme: String,
    pub audience: Vec<Audience>,
    pub cycle: String,
    pub summary: String,
    pub notes: String,
    #[serde(default)]
    pub steps: Vec<String>,
    #[serde(default)]
    pub materials: Vec<String>,
    pub contact: Contact,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<Online>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub high_frequency: bool,
}

/// An application of 直通车.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub id: String,
    pub name: String,
    pub category: String,
    pub audience: Vec<Audience>,
    pub description: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_role: Option<Audience>,
}

/// A 常见问题 and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub id: String,
    pub question: String,
    pub answer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_app: Option<String>,
}

/// A 责任部门 and how to reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub name: String,
    pub phone: String,
    pub office: String,
    pub hours: String,
}

/// A 校内新闻 or 通知公告.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct News {
    pub id: String,
    pub title: String,
    pub category: String,
    pub date: String,
    pub summary: String,
}

/// The tokenizer's and normalizer's dictionary (`data/lexicon.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lexicon {
    /// Groups of equivalent terms; the first of each group is canonical.
    #[serde(default)]
    pub synonyms: Vec<Vec<String>>,
    /// Colloquial terms that also search for other, weaker terms.
    #[serde(default)]
    pub expansions: BTreeMap<String, Vec<String>>,
    /// Extra words for the segmenter's user dictionary.
    #[serde(default)]
    pub words: Vec<String>,
    /// Filler words stripped before search.
    #[serde(default)]
    pub fillers: Vec<String>,
    /// Names of other institutions: questions about them are out of scope.
    #[serde(default)]
    pub other_institutions: Vec<String>,
}

/// Kinds of small talk the bot answers without a knowledge item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmallTalkKind {
    Greeting,
    Thanks,
    Goodbye,
    Identity,
    Capabilities,
    Praise,
    Complaint,
    Laughter,
}

/// One kind of small talk: the messages that trigger it and the replies to pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallTalk {
    pub intent: SmallTalkKind,
    pub triggers: Vec<String>,
    pub replies: Vec<String>,
}

/// A text with optional quick suggestions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotText {
    pub text: String,
    #[serde(default)]
    pub suggestions: Vec<String>,
}

/// Words that mark a request as outside a campus service hall.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicWords {
    #[serde(default)]
    pub words: Vec<String>,
}

/// The bot's own texts (`data/smalltalk.toml`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotTexts {
    pub welcome: BotText,
    pub fallback: BotText,
    pub out_of_scope: BotText,
    #[serde(default)]
    pub smalltalk: Vec<SmallTalk>,
    #[serde(default)]
    pub out_of_scope_topics: TopicWords,
}

/// The kinds of item retrieval can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Service,
    App,
    Faq,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Service => "service",
            ItemKind::App => "app",
            ItemKind::Faq => "faq",
        }
    }
}

/// A reference to one retrievable item: its kind and its index in the knowledge base's list of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemRef {
    pub kind: ItemKind,
    pub index: u32,
}
