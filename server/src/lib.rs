//! The ehall-bot server: the CLI, the axum app (websocket and HTTP chat), persistence and channels.
//!
//! # Layout
//! - [`cli`] and [`commands`]: the `ehall-bot` subcommands; `main.rs` only parses and calls [`cli::Cli::run`].
//! - [`settings`]: typed, layered configuration.
//! - [`app`]: shared state, start-up and the serve loop, so tests can start the real app on port 0.
//! - [`routes`]: one module per HTTP surface, each with its own `router()`.
//! - [`conversation`]: session open/resume and engine turns, the same for every transport.
//! - [`store`]: the `SessionStore` trait and its sqlx implementation (migrations in `server/migrations/`).
//! - [`error`]: `ApiError`, the one error type clients see.
//! - [`channels`]: WeCom and 今日校园 formats and clients.
//! - [`handoff`]: the service desk: a conversation handed to a person (转人工), its queue and admin routes.
//! - [`auth`]: 统一身份认证 (CAS) login, signed login tokens and the built-in demo CAS server.

pub mod admin;
pub mod app;
pub mod auth;
pub mod campus;
pub mod channels;
pub mod cli;
pub mod commands;
pub mod conversation;
pub mod error;
pub mod handoff;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod store;
pub mod telemetry;

pub use app::{build_app, router, serve, App, AppState, EngineHandle, StartupError};
pub use settings::{Secret, Settings};
