//! Per-session dialogue state: what is being discussed and what the bot is waiting for.

use serde::{Deserialize, Serialize};

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
}
