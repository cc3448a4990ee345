//! server crate.
