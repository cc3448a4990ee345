//! The HTTP surface: each module exports its own `router()`, merged here with the shared layers.

pub mod assets;
pub mod chat;
pub mod cpdaily;
pub mod health;
pub mod wecom;
pub mod wecom_bot;
pub mod ws;

use crate::app::AppState;
use axum::Router;
use tower_http::trace::TraceLayer;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(chat::router(&state.limits))
        .merge(ws::router())
        .merge(wecom::router(&state.limits))
        .merge(wecom_bot::router(&state.limits))
        .merge(cpdaily::router(&state.limits))
        .merge(crate::auth::router(state.auth.demo().is_some()))
        .merge(crate::auth::embed_login::router())
        .merge(crate::admin::router())
        .merge(crate::metrics::router())
        .merge(crate::openapi::router())
        .layer(axum::middleware::from_fn_with_state(state.budgets.clone(), crate::limits::limit_per_ip))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
