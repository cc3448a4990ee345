//! Per-session dialogue state: what is being discussed and what the bot is waiting for.
//!
//! The dialogue is a small state machine over these parts: the topic (the item under discussion and the earlier
//! ones a user may return to), a pending form, and the last list (so that 更多 pages it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Earlier topics kept, the current one included.
pub const TOPICS_KEPT: usize = 6;

/// What the bot remembers between turns of one session; persisted as JSON by the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DialogueState {
    /// Id of the knowledge item under discussion (the last one answered).
    #[serde(default)]
    pub current_item: Option<String>,
    /// Ids of the candidates offered by the last `clarify`, best first.
    #[serde(default)]
    pub offered: Vec<String>,
    /// How many turns this session has had.
    #[serde(default)]
    pub turns: u32,
    /// A portal form in progress (意见反馈, 工单, a service rating); 取消 leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<crate::portal::Form>,
    /// The topics of this session, oldest first; the last is `current_item`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// What 更多 shows next: the rest of the last list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<MorePage>,
    /// A guest's question that needed a login (饭卡还有多少钱): answered once they are logged in and say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_question: Option<String>,
    /// A guest's own key for the feedback they leave (so that 反馈有回复了吗 finds it), made on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_key: Option<String>,
}

/// The next page of the last list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum MorePage {
    /// A portal list: the action (and its arguments) that its 更多 button sends.
    Action { name: String, args: Map<String, Value> },
    /// A clarify: the candidates not shown yet, best first.
    Items { ids: Vec<String> },
}

impl DialogueState {
    /// Makes `id` the topic under discussion, remembering the earlier ones.
    pub fn set_topic(&mut self, id: &str) {
        self.current_item = Some(id.to_owned());
        self.topics.retain(|t| t != id);
        self.topics.push(id.to_owned());
        if self.topics.len() > TOPICS_KEPT {
            let extra = self.topics.len() - TOPICS_KEPT;
            self.topics.drain(..extra);
        }
    }

    /// Earlier topics, most recent first, the current one excluded.
    pub fn earlier_topics(&self) -> impl Iterator<Item = &str> {
        let current = self.current_item.as_deref();
        self.topics.iter().rev().map(String::as_str).filter(move |t| Some(*t) != current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_remembered_most_recent_last_and_bounded() {
        let mut s = DialogueState::default();
        for id in ["a", "b", "c", "a"] {
            s.set_topic(id);
        }
        assert_eq!(s.current_item.as_deref(), Some("a"));
        assert_eq!(s.topics, ["b", "c", "a"]);
        assert_eq!(s.earlier_topics().collect::<Vec<_>>(), ["c", "b"]);
        for i in 0..10 {
            s.set_topic(&format!("x{i}"));
        }
        assert_eq!(s.topics.len(), TOPICS_KEPT);
    }

    #[test]
    fn an_old_state_without_the_new_parts_still_loads() {
        let s: DialogueState =
            serde_json::from_str(r#"{"current_item":"s1","offered":[],"turns":2}"#).unwrap_or_default();
        assert_eq!(s.current_item.as_deref(), Some("s1"));
        assert!(s.topics.is_empty() && s.more.is_none());
    }
}
