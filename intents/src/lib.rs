//! intents crate.
