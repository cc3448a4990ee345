//! The engine: turns one user input plus the session's state into a reply.

use crate::protocol::{Mode, Reply, Suggestion, UserInfo};
use crate::state::DialogueState;
use knowledge::KnowledgeBase;
use serde_json::{Map, Value};
use std::sync::Arc;

/// What the user did.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text(String),
    Action { name: String, args: Map<String, Value> },
}

/// One turn: the input, who sent it and which client frame it answers.
#[derive(Debug, Clone)]
pub struct Turn {
    pub input: Input,
    pub user: Option<UserInfo>,
    pub in_reply_to: Option<String>,
}

/// What the server logs about a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnLog {
    pub intent: String,
    pub mode: Mode,
    pub top_item: Option<String>,
    pub confidence: f32,
}

/// The reply and its log line.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reply: Reply,
    pub log: TurnLog,
}

/// The dialogue engine. Cheap to share; all methods are synchronous CPU work, to be run off async workers.
pub struct Engine {
    kb: Arc<KnowledgeBase>,
}

impl Engine {
    pub fn new(kb: Arc<KnowledgeBase>) -> Engine {
        Engine { kb }
    }

    pub fn knowledge(&self) -> &KnowledgeBase {
        &self.kb
    }

    /// The welcome text and suggestions for a new connection.
    pub fn welcome(&self, _user: Option<&UserInfo>) -> (String, Vec<Suggestion>) {
        let w = &self.kb.texts.welcome;
        (w.text.clone(), w.suggestions.iter().map(Suggestion::text).collect())
    }

    /// Answers one turn, updating the session's state.
    pub fn respond(&self, state: &mut DialogueState, turn: Turn) -> Outcome {
        state.turns += 1;
        let reply = Reply {
            id: format!("r_{}", uuid::Uuid::new_v4().simple()),
            in_reply_to: turn.in_reply_to,
            mode: Mode::Fallback,
            intent: "fallback".into(),
            confidence: 0.0,
            text: self.kb.texts.fallback.text.clone(),
            cards: Vec::new(),
            suggestions: Vec::new(),
        };
        let log = TurnLog { intent: reply.intent.clone(), mode: reply.mode, top_item: None, confidence: 0.0 };
        Outcome { reply, log }
    }
}
