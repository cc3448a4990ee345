//! Wires the replica events to the running app: when another replica changed the knowledge base, this process
//! rebuilds its engine from the database (the admin module's `boot_engine`, which reads `knowledge_items`) and
//! swaps it in.

use super::notify::{Events, KnowledgeHook};
use crate::app::{EngineHandle, Retrieval};
use sqlx::AnyPool;
use std::path::PathBuf;
use std::sync::Arc;

/// Registers the knowledge reload on `events`. Captures the engine handle, not the `AppState`, so that the
/// hook does not keep the events (and their listener) alive.
pub fn reload_engine_on_knowledge_events(
    events: &Events,
    engine: EngineHandle,
    pool: AnyPool,
    data_dir: PathBuf,
    retrieval: Retrieval,
) {
    let hook: KnowledgeHook = Arc::new(move || {
        let (engine, pool, data_dir, retrieval) = (engine.clone(), pool.clone(), data_dir.clone(), retrieval.clone());
        Box::pin(async move {
            let started = std::time::Instant::now();
            match crate::admin::boot_engine(&pool, &data_dir, &retrieval).await {
                Ok(fresh) => {
                    engine.replace(fresh);
                    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(elapsed_ms, "knowledge reloaded after another replica's change");
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reload the knowledge another replica changed")
                }
            }
        })
    });
    events.on_knowledge_changed(hook);
}

/// What a replica publishes on `ehall_notice` for a portal notice: the frame to push and, when the publishing
/// replica kept it for later (no local session took it), the kept row to mark delivered once a session here did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NoticePayload {
    pub frame: bot::protocol::ServerFrame,
    pub kept_id: Option<String>,
}

/// Registers delivery of other replicas' notices to this process's open sessions (the portal's `NoticeHub`).
/// A notice the publisher kept for later is marked delivered here once one of the user's sessions took it, so
/// that it is not shown again at their next login.
pub fn deliver_notices_from_replicas(events: &Events, hub: crate::campus::NoticeHub, pool: AnyPool) {
    let hook: super::notify::NoticeHook = Arc::new(move |notice: &super::notify::Notice| {
        let payload: NoticePayload = match serde_json::from_value(notice.payload.clone()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable notice from another replica");
                return;
            }
        };
        let delivered = hub.send(&notice.user_id, &payload.frame);
        if let (true, Some(id)) = (delivered > 0, payload.kept_id) {
            let pool = pool.clone();
            tokio::spawn(async move {
                let marked =
                    sqlx::query("UPDATE portal_notices SET delivered = 1 WHERE id = $1").bind(id).execute(&pool).await;
                if let Err(e) = marked {
                    tracing::warn!(error = %e, "cannot mark a notice delivered");
                }
            });
        }
    });
    events.on_notice(hook);
}
