//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: database reachable, engine loaded).

use crate::app::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let engine = state.engine.current();
    let kb = engine.knowledge();
    let knowledge = json!({"services": kb.services.len(), "apps": kb.apps.len(), "faqs": kb.faqs.len()});
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "database": "ok", "knowledge": knowledge}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": "unreachable", "knowledge": knowledge})),
            )
        }
    }
}
