//! The subcommands' bodies. Those that print take their output streams as arguments, so tests can read them.

pub mod ask;
pub mod check_data;
pub mod eval;
pub mod import_catalog;
pub mod serve;
pub mod train;
