//! The dialogue engine: sessions, decisions and reply cards of the chat protocol.

pub mod campus;
pub mod cards;
pub mod engine;
pub mod eval;
pub mod explain;
pub mod portal;
pub mod protocol;
pub mod state;

pub use engine::{Engine, Input, Outcome, Turn, TurnLog};
pub use state::DialogueState;
